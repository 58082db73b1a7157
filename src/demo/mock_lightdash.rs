//! An in-process mock of the Lightdash API, for the `demo` command, the integration tests and
//! the benchmarks. I/O: binds `127.0.0.1:0` and serves HTTP/1 on a spawned task.
//!
//! It serves a [`LightdashContent`] that callers may edit between cycles
//! ([`MockLightdashHandle::update`]), in the shapes real Lightdash sends (see
//! `shared/reference/lightdash-api.md`):
//! - envelopes `{status:"ok",results}` and `{status:"error",error:{statusCode,name,message}}`,
//!   the `Lightdash-Version` header on every response;
//! - listings of projects, spaces, dashboards (with `tileTypes`) and charts;
//! - content as code on the old (`/charts/code`) and new (`/code/charts`) routes: `ids` as a
//!   repeated key holding uuids or slugs, `missingIds`, `offset` = next start, slugs instead of
//!   uuids, `tileSlug`-keyed filter `tileTargets`;
//! - the legacy `GET /saved/{id}` and `GET /dashboards/{id}`; the latter records a view, as
//!   Lightdash does, so tests can prove unchanged dashboards are never fetched;
//! - the SPA fallback: an unknown `GET` answers 200 with HTML.
//!
//! Fault injection ([`Fault`], per [`Route`]) and request recording ([`RecordedRequest`]) let
//! tests exercise retries, fallbacks and fail-safes without a real server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::demo::content::{ChartContent, DashboardContent, LightdashContent, ProjectContent};
use crate::lightdash::types::{ProjectType, SpaceSummary, TileType};

/// The organisation every mock item belongs to (content carries no organisation).
pub const ORGANIZATION_UUID: &str = "172a2270-000f-42be-9c68-c4752c23ae51";

/// Which content-as-code routes the mock offers, to exercise the client's route probing and
/// its fallback to the legacy per-item routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsCodeMode {
    /// Only `/code/charts` and `/code/dashboards` (a server past the 2026-08 removal).
    NewRoutes,
    /// Only `/charts/code` and `/dashboards/code` (0.1471-era servers).
    OldRoutes,
    /// Both generations (current servers).
    Both,
    /// The routes exist but the token lacks the developer role: 403 `ForbiddenError`.
    Forbidden,
    /// Neither route exists (0.1366-era servers): both answer the SPA HTML with 200.
    Absent,
}

/// Which generation of Lightdash the mock plays, for what it lists and which newer routes
/// exist (see `shared/reference/lightdash-api.md`, 2026-11 update).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Generation {
    /// Late-2026 servers: SQL-runner charts listed in `/charts` with `source: "sql"` and
    /// served as code (`/code/sqlCharts`, `/sqlCharts/code`); spaces carry
    /// `inheritParentPermissions` and the resolved `inheritsFromOrgOrProject`; `verification`
    /// in listings and as code, the verification list, the trash, parameters.
    #[default]
    Newest,
    /// Older servers: SQL charts only as `sql_chart` tiles (and `GET /sqlRunner/saved/{uuid}`),
    /// spaces with `isPrivate` only, no verification, no trash route (the SPA answers), no
    /// SQL charts as code, no parameters.
    Older,
}

/// How the mock behaves; `..Default::default()` keeps tests short.
#[derive(Debug, Clone)]
pub struct MockLightdashOptions {
    /// The token accepted after `ApiKey ` or `Bearer `.
    pub token: String,
    /// Which as-code routes exist.
    pub as_code: AsCodeMode,
    /// Items per as-code page (`MAX_DOWNLOADS_AS_CODE`, 100 on real servers).
    pub page_size: usize,
    /// Reported by `/health` and the `Lightdash-Version` header.
    pub version: String,
    /// `siteUrl` reported by `/health`; `None` means the mock's own URL.
    pub site_url: Option<String>,
    /// Which generation of server to play.
    pub generation: Generation,
}

impl Default for MockLightdashOptions {
    fn default() -> Self {
        Self {
            token: "demo-lightdash-token".into(),
            as_code: AsCodeMode::Both,
            page_size: 100,
            version: "0.2036.1".into(),
            site_url: None,
            generation: Generation::Newest,
        }
    }
}

/// The routes the mock knows, for fault injection and request counting. Both as-code
/// generations map to the same route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /api/v1/health`.
    Health,
    /// `GET /api/v1/org/projects`.
    Projects,
    /// `GET /api/v1/projects/{p}/spaces`.
    Spaces,
    /// `GET /api/v1/projects/{p}/dashboards`.
    Dashboards,
    /// `GET /api/v1/projects/{p}/charts`.
    Charts,
    /// `GET /api/v1/projects/{p}/charts/code` or `/code/charts`.
    ChartsCode,
    /// `GET /api/v1/projects/{p}/dashboards/code` or `/code/dashboards`.
    DashboardsCode,
    /// `GET /api/v1/projects/{p}/explores/{name}`.
    Explore,
    /// `GET /api/v1/saved/{uuid}`.
    LegacyChart,
    /// `GET /api/v1/dashboards/{uuid}` (records a view).
    LegacyDashboard,
    /// `GET /api/v1/projects/{p}/sqlCharts/code` or `/code/sqlCharts`.
    SqlChartsCode,
    /// `GET /api/v1/projects/{p}/sqlRunner/saved/{uuid}` or `.../saved/slug/{slug}`.
    SqlChart,
    /// `GET /api/v2/content/deleted?projectUuids=…` (the trash).
    DeletedContent,
    /// `GET /api/v1/projects/{p}/content-verification`.
    ContentVerification,
    /// `GET /api/v1/projects/{p}`.
    Project,
    /// `GET /api/v2/projects/{p}/parameters` (parameter definitions).
    Parameters,
}

/// What an injected fault does to a request on its route. Faults act before authentication,
/// like a proxy or ingress in front of Lightdash would.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer this status with the JSON error envelope.
    Status(u16),
    /// Answer this status (e.g. 429 or 503) with the JSON error envelope and `Retry-After`
    /// (delta seconds or an HTTP date, sent verbatim).
    RetryAfter {
        /// HTTP status.
        status: u16,
        /// `Retry-After` value.
        after: String,
    },
    /// Answer 200 with the SPA's HTML, as when a route does not exist.
    Html200,
    /// Answer the normal response with its JSON body cut in half.
    TruncatedJson,
    /// Answer the normal response with its list emptied (`results: []`, or an empty as-code
    /// page with `total: 0`; other results become `{}`), as a permission glitch would.
    EmptyList,
    /// Answer normally after this delay (tokio time, so paused-clock tests stay fast).
    Delay(Duration),
    /// Never answer (until the mock shuts down), to exercise client timeouts.
    Hang,
}

/// One request the mock received, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, ...
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string (`""` when none).
    pub query: String,
    /// The route it matched, `None` for unknown routes.
    pub route: Option<Route>,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

impl RecordedRequest {
    /// Values of a query parameter, decoded, in order (e.g. every `ids`).
    pub fn query_values(&self, key: &str) -> Vec<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .collect()
    }
}

/// A probabilistic fault: each request on the route (or on any route) fails with probability
/// `rate`, with one of `faults` picked uniformly. The draws come from the mock's seeded RNG
/// (see [`MockLightdashHandle::set_fault_rate`]), so a run is reproducible for a given seed and
/// request order.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRate {
    /// Probability in `[0, 1]` that a request gets a fault.
    pub rate: f64,
    /// The faults to pick from (uniformly).
    pub faults: Vec<Fault>,
}

#[derive(Debug)]
struct ActiveFault {
    route: Route,
    fault: Fault,
    remaining: Option<usize>,
}

/// Rate faults per route (`None`: any route) and the seeded RNG they draw from.
type RateFaults = (Vec<(Option<Route>, FaultRate)>, fastrand::Rng);

struct Shared {
    content: Mutex<LightdashContent>,
    options: Mutex<MockLightdashOptions>,
    url: String,
    faults: Mutex<Vec<ActiveFault>>,
    /// Probabilistic faults per route (`None`: any route), and the RNG they draw from.
    rate_faults: Mutex<RateFaults>,
    /// Fields replaced in the as-code item of a chart or dashboard, keyed by its uuid.
    item_overrides: Mutex<HashMap<String, Map<String, Value>>>,
    /// Fields replaced in the listing item (projects, spaces, dashboards, charts) of a uuid.
    listing_overrides: Mutex<HashMap<String, Map<String, Value>>>,
    /// Uuids listed a second time, right after the first copy, with these fields replaced.
    listing_duplicates: Mutex<HashMap<String, Map<String, Value>>>,
    requests: Mutex<Vec<RecordedRequest>>,
    shutdown: watch::Receiver<bool>,
}

/// Locks a mock's state. The state is plain data that stays consistent even if a test's
/// closure panicked while holding the lock, so a poisoned lock is simply taken over.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts mock Lightdash servers.
pub struct MockLightdash;

impl MockLightdash {
    /// Binds `127.0.0.1:0` and serves `content` until the handle is dropped or shut down.
    pub async fn start(
        content: LightdashContent,
        options: MockLightdashOptions,
    ) -> std::io::Result<MockLightdashHandle> {
        let bound = super::server::bind().await?;
        let shared = Arc::new(Shared {
            content: Mutex::new(content),
            options: Mutex::new(options),
            url: bound.url.clone(),
            faults: Mutex::new(Vec::new()),
            rate_faults: Mutex::new((Vec::new(), fastrand::Rng::with_seed(0))),
            item_overrides: Mutex::new(HashMap::new()),
            listing_overrides: Mutex::new(HashMap::new()),
            listing_duplicates: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            shutdown: bound.stop.clone(),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        Ok(MockLightdashHandle {
            server: bound.serve(app, "mock Lightdash"),
            shared,
        })
    }
}

/// Controls a running mock Lightdash. Dropping it stops the server.
pub struct MockLightdashHandle {
    server: super::server::Running,
    shared: Arc<Shared>,
}

impl MockLightdashHandle {
    /// Base URL, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Edits the served content; the next request sees the change.
    pub fn update<R>(&self, f: impl FnOnce(&mut LightdashContent) -> R) -> R {
        f(&mut lock(&self.shared.content))
    }

    /// A copy of the served content (e.g. to read view counts).
    pub fn content(&self) -> LightdashContent {
        lock(&self.shared.content).clone()
    }

    /// Changes the options of the running mock (e.g. the as-code mode, to simulate an
    /// upgrade or a role change between cycles).
    pub fn update_options(&self, f: impl FnOnce(&mut MockLightdashOptions)) {
        f(&mut lock(&self.shared.options))
    }

    /// Injects `fault` on `route` for the next `times` requests (`None`: until cleared),
    /// replacing any fault already set on that route.
    pub fn set_fault(&self, route: Route, fault: Fault, times: Option<usize>) {
        let mut faults = lock(&self.shared.faults);
        faults.retain(|f| f.route != route);
        if times != Some(0) {
            faults.push(ActiveFault {
                route,
                fault,
                remaining: times,
            });
        }
    }

    /// Makes requests on `route` (`None`: every route) fail at random: with probability
    /// `fault.rate`, one of `fault.faults`. Replaces any rate fault on the same route and
    /// reseeds the mock's RNG with `seed`. Counted faults set with
    /// [`set_fault`](Self::set_fault) take precedence.
    pub fn set_fault_rate(&self, route: Option<Route>, fault: FaultRate, seed: u64) {
        let mut rates = lock(&self.shared.rate_faults);
        rates.0.retain(|(r, _)| *r != route);
        rates.1 = fastrand::Rng::with_seed(seed);
        if fault.rate > 0.0 && !fault.faults.is_empty() {
            rates.0.push((route, fault));
        }
    }

    /// Replaces `field` with `value` in the content-as-code item of the chart or dashboard
    /// `uuid` (e.g. `metricQuery: "oops"`), to serve one malformed item among good ones.
    pub fn set_item_override(&self, uuid: &str, field: &str, value: Value) {
        lock(&self.shared.item_overrides)
            .entry(uuid.to_owned())
            .or_default()
            .insert(field.to_owned(), value);
    }

    /// Removes every item override (as-code and listing) and listing duplicate.
    pub fn clear_item_overrides(&self) {
        lock(&self.shared.item_overrides).clear();
        lock(&self.shared.listing_overrides).clear();
        lock(&self.shared.listing_duplicates).clear();
    }

    /// Replaces `field` with `value` in the listing item of `uuid` (a project, space,
    /// dashboard or chart), e.g. `views: "many"`, to serve one malformed listing item.
    pub fn set_listing_override(&self, uuid: &str, field: &str, value: Value) {
        lock(&self.shared.listing_overrides)
            .entry(uuid.to_owned())
            .or_default()
            .insert(field.to_owned(), value);
    }

    /// Lists `uuid` twice: a second copy, right after the first, with `field` set to `value`
    /// (field reports: a listing with the same uuid twice).
    pub fn set_listing_duplicate(&self, uuid: &str, field: &str, value: Value) {
        lock(&self.shared.listing_duplicates)
            .entry(uuid.to_owned())
            .or_default()
            .insert(field.to_owned(), value);
    }

    /// Removes every injected fault, counted or probabilistic.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
        lock(&self.shared.rate_faults).0.clear();
    }

    /// Every request received since the start or the last [`clear_requests`](Self::clear_requests).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// How many recorded requests hit `route`.
    pub fn count(&self, route: Route) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.route == Some(route))
            .count()
    }

    /// Stops the server: hanging requests end, open connections close.
    pub fn shutdown(&self) {
        self.server.stop();
    }
}

impl std::fmt::Debug for MockLightdashHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockLightdashHandle")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

/// A route matched from the path, with its parameters.
#[derive(Debug)]
struct Matched {
    route: Route,
    project: String,
    id: String,
    /// `/code/charts` rather than `/charts/code`.
    new_generation: bool,
}

fn classify(method: &Method, path: &str) -> Option<Matched> {
    if method != Method::GET {
        return None;
    }
    if let Some(p) = path
        .strip_prefix("/api/v2/projects/")
        .and_then(|r| r.trim_end_matches('/').strip_suffix("/parameters"))
        .filter(|p| !p.contains('/'))
    {
        return Some(Matched {
            route: Route::Parameters,
            project: p.to_owned(),
            id: String::new(),
            new_generation: true,
        });
    }
    if path.trim_end_matches('/') == "/api/v2/content/deleted" {
        return Some(Matched {
            route: Route::DeletedContent,
            project: String::new(),
            id: String::new(),
            new_generation: true,
        });
    }
    let rest = path.strip_prefix("/api/v1/")?;
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let m = |route, project: &str, id: &str, new_generation| {
        Some(Matched {
            route,
            project: project.to_owned(),
            id: id.to_owned(),
            new_generation,
        })
    };
    match segments.as_slice() {
        ["health"] => m(Route::Health, "", "", false),
        ["org", "projects"] => m(Route::Projects, "", "", false),
        ["projects", p, "spaces"] => m(Route::Spaces, p, "", false),
        ["projects", p, "dashboards"] => m(Route::Dashboards, p, "", false),
        ["projects", p, "charts"] => m(Route::Charts, p, "", false),
        ["projects", p, "charts", "code"] => m(Route::ChartsCode, p, "", false),
        ["projects", p, "code", "charts"] => m(Route::ChartsCode, p, "", true),
        ["projects", p, "dashboards", "code"] => m(Route::DashboardsCode, p, "", false),
        ["projects", p, "code", "dashboards"] => m(Route::DashboardsCode, p, "", true),
        ["projects", p, "explores", name] => m(Route::Explore, p, name, false),
        ["projects", p, "sqlCharts", "code"] => m(Route::SqlChartsCode, p, "", false),
        ["projects", p, "code", "sqlCharts"] => m(Route::SqlChartsCode, p, "", true),
        ["projects", p, "sqlRunner", "saved", id] => m(Route::SqlChart, p, id, false),
        ["projects", p, "sqlRunner", "saved", "slug", slug] => m(Route::SqlChart, p, slug, true),
        ["projects", p, "content-verification"] => m(Route::ContentVerification, p, "", false),
        ["projects", p] => m(Route::Project, p, "", false),
        ["saved", id] => m(Route::LegacyChart, "", id, false),
        ["dashboards", id] => m(Route::LegacyDashboard, "", id, false),
        _ => None,
    }
}

/// A response before faults that rewrite bodies are applied.
enum Reply {
    Json(StatusCode, Value),
    Html,
}

/// The HTML Lightdash's SPA fallback serves for any unknown GET.
const SPA_HTML: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\" />\
<title>Lightdash</title><script type=\"module\" crossorigin src=\"/assets/index-5b2c1f0e.js\"></script></head>\n\
<body><noscript>You need to enable JavaScript to run this app.</noscript><div id=\"root\"></div></body>\n</html>\n";

fn error_name(status: u16) -> &'static str {
    match status {
        400 => "ParameterError",
        401 => "AuthorizationError",
        403 => "ForbiddenError",
        404 => "NotFoundError",
        429 => "TooManyRequestsError",
        500..=599 => "UnexpectedServerError",
        _ => "LightdashError",
    }
}

fn error(status: u16, message: &str) -> Reply {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Reply::Json(
        code,
        json!({
            "status": "error",
            "error": {
                "statusCode": code.as_u16(),
                "name": error_name(code.as_u16()),
                "message": message,
                "data": {},
            }
        }),
    )
}

fn ok(results: Value) -> Reply {
    Reply::Json(StatusCode::OK, json!({"status": "ok", "results": results}))
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let matched = classify(&method, &path);
    let route = matched.as_ref().map(|m| m.route);
    let authorization = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    lock(&shared.requests).push(RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        route,
        authorization: authorization.clone(),
        at: Instant::now(),
    });
    let version = lock(&shared.options).version.clone();
    let fault = route.and_then(|r| take_fault(&shared, r));

    let early = match &fault {
        Some(Fault::Hang) => {
            let mut stop = shared.shutdown.clone();
            let _ = stop.wait_for(|stopped| *stopped).await;
            Some(error(503, "mock Lightdash is shutting down"))
        }
        Some(Fault::Delay(delay)) => {
            let mut stop = shared.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(*delay) => None,
                _ = stop.wait_for(|stopped| *stopped) => Some(error(503, "mock Lightdash is shutting down")),
            }
        }
        Some(Fault::Status(status)) => Some(error(*status, "injected fault")),
        Some(Fault::RetryAfter { status, .. }) => Some(error(*status, "injected fault")),
        Some(Fault::Html200) => Some(Reply::Html),
        _ => None,
    };
    let reply = match early {
        Some(reply) => reply,
        None => match (&method, matched) {
            (_, Some(matched)) => dispatch(&shared, &matched, &query, authorization.as_deref()),
            (&Method::GET, None) => Reply::Html,
            (_, None) => {
                let mut response =
                    (StatusCode::NOT_FOUND, format!("Cannot {method} {path}\n")).into_response();
                set_version(&mut response, &version);
                return response;
            }
        },
    };
    let mut response = match (reply, &fault) {
        (Reply::Html, _) => {
            ([(CONTENT_TYPE, "text/html; charset=UTF-8")], SPA_HTML).into_response()
        }
        (Reply::Json(status, body), Some(Fault::TruncatedJson)) => {
            let text = body.to_string();
            // Cut on a char boundary so the body stays valid UTF-8 but not valid JSON.
            let mut cut = text.len() / 2;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            (
                status,
                [(CONTENT_TYPE, "application/json; charset=utf-8")],
                text[..cut].to_owned(),
            )
                .into_response()
        }
        (Reply::Json(status, mut body), fault) => {
            if fault == &Some(Fault::EmptyList) {
                empty_results(&mut body);
            }
            integral_numbers(&mut body);
            (status, axum::Json(body)).into_response()
        }
    };
    if let Some(Fault::RetryAfter { after, .. }) = &fault
        && let Ok(value) = HeaderValue::from_str(after)
    {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    set_version(&mut response, &version);
    response
}

fn set_version(response: &mut Response, version: &str) {
    if let Ok(value) = HeaderValue::from_str(version) {
        response.headers_mut().insert("Lightdash-Version", value);
    }
}

/// Takes the fault for `route`, if any, counting down its remaining uses.
fn take_fault(shared: &Shared, route: Route) -> Option<Fault> {
    let mut faults = lock(&shared.faults);
    let Some(index) = faults.iter().position(|f| f.route == route) else {
        drop(faults);
        return take_rate_fault(shared, route);
    };
    let active = &mut faults[index];
    let fault = active.fault.clone();
    if let Some(remaining) = &mut active.remaining {
        *remaining = remaining.saturating_sub(1);
        if *remaining == 0 {
            faults.remove(index);
        }
    }
    Some(fault)
}

/// Draws a probabilistic fault for `route`: its own rate fault first, else the any-route one.
fn take_rate_fault(shared: &Shared, route: Route) -> Option<Fault> {
    let mut guard = lock(&shared.rate_faults);
    let (rates, rng) = &mut *guard;
    let rate = rates
        .iter()
        .find(|(r, _)| *r == Some(route))
        .or_else(|| rates.iter().find(|(r, _)| r.is_none()))
        .map(|(_, f)| f.clone())?;
    if rng.f64() < rate.rate {
        Some(rate.faults[rng.usize(..rate.faults.len())].clone())
    } else {
        None
    }
}

fn empty_results(body: &mut Value) {
    let Some(results) = body.get_mut("results") else {
        return;
    };
    match results {
        Value::Array(items) => items.clear(),
        Value::Object(page) if page.contains_key("total") => {
            for key in ["charts", "dashboards", "missingIds"] {
                if page.contains_key(key) {
                    page.insert(key.into(), json!([]));
                }
            }
            page.insert("total".into(), json!(0));
            page.insert("offset".into(), json!(0));
        }
        other => *other = json!({}),
    }
}

/// Writes whole floats as integers: our types hold tile coordinates and bin counts as `f64`,
/// but Lightdash sends `12`, not `12.0`.
fn integral_numbers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *value = json!(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// The token after `ApiKey ` or `Bearer `, if it is the configured one.
fn authorized(authorization: Option<&str>, token: &str) -> bool {
    authorization
        .and_then(|h| {
            h.strip_prefix("ApiKey ")
                .or_else(|| h.strip_prefix("Bearer "))
        })
        .is_some_and(|t| t == token)
}

fn dispatch(shared: &Shared, matched: &Matched, query: &str, authorization: Option<&str>) -> Reply {
    let generation = lock(&shared.options).generation;
    match dispatch_any(shared, matched, query, authorization) {
        Reply::Json(status, mut body) if generation == Generation::Older => {
            strip_newer_fields(&mut body);
            Reply::Json(status, body)
        }
        reply => reply,
    }
}

/// Older servers know nothing of verification or parameters: drop them wherever they are.
fn strip_newer_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("verification");
            map.remove("parameters");
            map.values_mut().for_each(strip_newer_fields);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_newer_fields),
        _ => {}
    }
}

fn dispatch_any(
    shared: &Shared,
    matched: &Matched,
    query: &str,
    authorization: Option<&str>,
) -> Reply {
    let options = lock(&shared.options).clone();
    let is_authenticated = authorized(authorization, &options.token);
    if matched.route == Route::Health {
        return ok(json!({
            "healthy": true,
            "mode": "default",
            "version": options.version,
            "siteUrl": options.site_url.clone().unwrap_or_else(|| shared.url.clone()),
            "isAuthenticated": is_authenticated,
            "requiresOrgRegistration": false,
            "latest": {"version": options.version},
        }));
    }
    // A route this server version lacks is an unknown route: the SPA answers first.
    if !route_exists(&options, matched) {
        return Reply::Html;
    }
    if authorization.is_none() {
        return error(401, "Failed to authorize user");
    }
    if !is_authenticated {
        return error(401, "Personal access token is not recognised");
    }
    let mut content = lock(&shared.content);
    let generation = options.generation;
    let listing = |items: Value| ok(tamper_listing(shared, items));
    if matched.route == Route::Projects {
        return listing(projects(&content));
    }
    if matched.route == Route::DeletedContent {
        return deleted_content(&content, query);
    }
    if matched.route == Route::LegacyChart {
        return match legacy_chart(&content, &matched.id) {
            Some(chart) => ok(chart),
            None => error(404, "Saved chart not found"),
        };
    }
    if matched.route == Route::LegacyDashboard {
        return match legacy_dashboard(&mut content, &matched.id) {
            Some(dashboard) => ok(dashboard),
            None => error(404, "Dashboard not found"),
        };
    }
    let Some(project) = content.project(&matched.project) else {
        return error(404, &format!("Cannot find project {}", matched.project));
    };
    match matched.route {
        Route::Project => ok(project_object(project)),
        Route::Spaces => listing(spaces(project, generation)),
        Route::Dashboards => listing(dashboard_list(project, generation)),
        Route::Charts => listing(chart_list(project, generation)),
        Route::ContentVerification => ok(verified_list(project)),
        // `Record<name, LightdashProjectParameter>` (`ParametersController.getParameters`).
        Route::Parameters => ok(json!(project.parameters)),
        Route::SqlChart => match find_sql_chart(project, matched) {
            Some(chart) => ok(sql_chart_get(project, chart)),
            None => error(404, "Saved sql chart not found"),
        },
        Route::SqlChartsCode => {
            if options.as_code == AsCodeMode::Forbidden {
                return error(403, "You are not allowed to download sql charts");
            }
            sql_charts_as_code_page(project, query, options.page_size)
        }
        Route::Explore => match project.explore(&matched.id) {
            Some(_) => ok(explore(project, &matched.id)),
            None => error(404, &format!("Explore \"{}\" does not exist.", matched.id)),
        },
        Route::ChartsCode | Route::DashboardsCode => {
            let charts = matched.route == Route::ChartsCode;
            if options.as_code == AsCodeMode::Forbidden {
                let what = if charts { "charts" } else { "dashboards" };
                return error(403, &format!("You are not allowed to download {what}"));
            }
            let overrides = lock(&shared.item_overrides).clone();
            as_code_page(
                project,
                charts,
                matched.new_generation,
                query,
                options.page_size,
                &overrides,
            )
        }
        // Handled above.
        Route::Health
        | Route::Projects
        | Route::LegacyChart
        | Route::LegacyDashboard
        | Route::DeletedContent => error(500, "unreachable route"),
    }
}

/// Applies listing overrides and duplicates to a listing (an array of objects keyed by
/// `uuid`, or `projectUuid` for projects).
fn tamper_listing(shared: &Shared, items: Value) -> Value {
    let overrides = lock(&shared.listing_overrides).clone();
    let duplicates = lock(&shared.listing_duplicates).clone();
    let Value::Array(items) = items else {
        return items;
    };
    if overrides.is_empty() && duplicates.is_empty() {
        return Value::Array(items);
    }
    let mut out = Vec::with_capacity(items.len());
    for mut item in items {
        let uuid = item
            .get("uuid")
            .or_else(|| item.get("projectUuid"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if let (Some(fields), Value::Object(map)) = (overrides.get(&uuid), &mut item) {
            map.extend(fields.clone());
        }
        let copy = duplicates.get(&uuid).map(|fields| {
            let mut copy = item.clone();
            if let Value::Object(map) = &mut copy {
                map.extend(fields.clone());
            }
            copy
        });
        out.push(item);
        out.extend(copy);
    }
    Value::Array(out)
}

/// Whether this server generation and as-code mode have the route at all.
fn route_exists(options: &MockLightdashOptions, matched: &Matched) -> bool {
    let newer_only = matches!(
        matched.route,
        Route::SqlChartsCode
            | Route::DeletedContent
            | Route::ContentVerification
            | Route::Parameters
    );
    if newer_only && options.generation == Generation::Older {
        return false;
    }
    if !matches!(
        matched.route,
        Route::ChartsCode | Route::DashboardsCode | Route::SqlChartsCode
    ) {
        return true;
    }
    match options.as_code {
        AsCodeMode::Both | AsCodeMode::Forbidden => true,
        AsCodeMode::NewRoutes => matched.new_generation,
        AsCodeMode::OldRoutes => !matched.new_generation,
        AsCodeMode::Absent => false,
    }
}

/// `GET /api/v1/projects/{p}` (a reduced `Project`).
fn project_object(project: &ProjectContent) -> Value {
    json!({
        "projectUuid": project.project.project_uuid,
        "organizationUuid": ORGANIZATION_UUID,
        "name": project.project.name,
        "type": project.project.project_type,
    })
}

/// The SQL chart a `sqlRunner/saved/...` request names: by uuid, or by slug on the by-slug
/// route (which `new_generation` marks for this route).
fn find_sql_chart<'a>(project: &'a ProjectContent, matched: &Matched) -> Option<&'a ChartContent> {
    project.charts.iter().find(|c| {
        c.summary.is_sql()
            && if matched.new_generation {
                c.summary.slug.as_deref() == Some(matched.id.as_str())
            } else {
                c.summary.uuid == matched.id
            }
    })
}

/// Serializes a value of our own types; they always serialize to an object.
fn to_object<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn projects(content: &LightdashContent) -> Value {
    let upstream = content
        .default_project()
        .map(|p| p.project.project_uuid.clone());
    Value::Array(
        content
            .projects
            .iter()
            .map(|p| {
                let mut item = to_object(&p.project);
                let preview = p.project.project_type == ProjectType::Preview;
                item.insert("createdByUserUuid".into(), Value::Null);
                item.insert(
                    "upstreamProjectUuid".into(),
                    if preview {
                        json!(upstream)
                    } else {
                        Value::Null
                    },
                );
                item.insert("warehouseType".into(), json!("postgres"));
                item.insert("requireUserCredentials".into(), json!(false));
                Value::Object(item)
            })
            .collect(),
    )
}

fn first_viewed_at(views: u64, updated_at: &Option<String>) -> Value {
    // Content keeps no view timestamps; the last edit is a plausible stand-in.
    if views > 0 {
        json!(updated_at)
    } else {
        Value::Null
    }
}

/// Lightdash's own resolution (`SpacePermissionModel.getInheritanceChains`, cited in
/// `sync::privacy`): walk up while spaces inherit; open when the walk ends at a root that
/// inherits. Kept separate from `sync::privacy` so the mock is an independent oracle.
fn inherits_from_org_or_project(project: &ProjectContent, space: &SpaceSummary) -> bool {
    let inherit = |s: &SpaceSummary| s.inherit_parent_permissions.unwrap_or(!s.is_private);
    let mut current = space;
    for _ in 0..64 {
        if !inherit(current) {
            return false;
        }
        match current
            .parent_space_uuid
            .as_deref()
            .and_then(|p| project.space(p))
        {
            Some(parent) => current = parent,
            None => return current.parent_space_uuid.is_none(),
        }
    }
    false
}

fn spaces(project: &ProjectContent, generation: Generation) -> Value {
    let project_uuid = &project.project.project_uuid;
    Value::Array(
        project
            .spaces
            .iter()
            .map(|space| {
                let mut item = to_object(space);
                let in_space = |uuid: &str| uuid == space.uuid;
                let dashboards = project
                    .dashboards
                    .iter()
                    .filter(|d| in_space(&d.summary.space_uuid))
                    .count();
                let charts = project
                    .charts
                    .iter()
                    .filter(|c| {
                        in_space(&c.summary.space_uuid) && c.summary.dashboard_uuid.is_none()
                    })
                    .count();
                let children = project
                    .spaces
                    .iter()
                    .filter(|s| s.parent_space_uuid.as_deref() == Some(space.uuid.as_str()))
                    .count();
                item.insert("projectUuid".into(), json!(project_uuid));
                item.insert("organizationUuid".into(), json!(ORGANIZATION_UUID));
                item.insert("dashboardCount".into(), json!(dashboards));
                item.insert("chartCount".into(), json!(charts));
                item.insert("childSpaceCount".into(), json!(children));
                // Newer servers (`packages/common/src/types/space.ts`): a space inherits its
                // parent's access (a root: the project's) unless it is restricted.
                match generation {
                    Generation::Newest => {
                        item.insert(
                            "inheritParentPermissions".into(),
                            json!(
                                space
                                    .inherit_parent_permissions
                                    .unwrap_or(!space.is_private)
                            ),
                        );
                        item.insert(
                            "inheritsFromOrgOrProject".into(),
                            json!(inherits_from_org_or_project(project, space)),
                        );
                    }
                    Generation::Older => {
                        item.remove("inheritParentPermissions");
                        item.remove("inheritsFromOrgOrProject");
                    }
                }
                item.insert("pinnedListUuid".into(), Value::Null);
                item.insert("pinnedListOrder".into(), Value::Null);
                item.insert("access".into(), json!([]));
                Value::Object(item)
            })
            .collect(),
    )
}

fn dashboard_list(project: &ProjectContent, generation: Generation) -> Value {
    Value::Array(
        project
            .dashboards
            .iter()
            .map(|d| {
                let s = &d.summary;
                let mut item = to_object(s);
                let mut tile_types: Vec<&str> = Vec::new();
                for tile in &d.details.tiles {
                    if !tile_types.contains(&tile.tile_type.as_str()) {
                        tile_types.push(tile.tile_type.as_str());
                    }
                }
                item.insert("projectUuid".into(), json!(project.project.project_uuid));
                item.insert("organizationUuid".into(), json!(ORGANIZATION_UUID));
                item.insert(
                    "firstViewedAt".into(),
                    first_viewed_at(s.views, &s.updated_at),
                );
                item.insert("pinnedListUuid".into(), Value::Null);
                item.insert("pinnedListOrder".into(), Value::Null);
                item.insert("validationErrors".into(), json!([]));
                // `DashboardBasicDetails.verification` (newest `dashboard.ts`).
                match generation {
                    Generation::Newest => {
                        item.insert("verification".into(), json!(s.verification));
                    }
                    Generation::Older => {
                        item.remove("verification");
                    }
                }
                item.remove("inheritsFromOrgOrProject");
                item.insert("tileTypes".into(), json!(tile_types));
                Value::Object(item)
            })
            .collect(),
    )
}

fn space_name(project: &ProjectContent, space_uuid: &str) -> Value {
    json!(project.space(space_uuid).map(|s| s.name.clone()))
}

fn chart_list(project: &ProjectContent, generation: Generation) -> Value {
    Value::Array(
        project
            .charts
            .iter()
            // Older servers list explore charts only; SQL charts show only as tiles.
            .filter(|c| generation == Generation::Newest || !c.summary.is_sql())
            .map(|c| {
                let s = &c.summary;
                let mut item = to_object(s);
                item.remove("inheritsFromOrgOrProject");
                if generation == Generation::Older {
                    item.remove("verification");
                }
                item.insert("projectUuid".into(), json!(project.project.project_uuid));
                item.insert("organizationUuid".into(), json!(ORGANIZATION_UUID));
                item.insert("spaceName".into(), space_name(project, &s.space_uuid));
                item.insert(
                    "firstViewedAt".into(),
                    first_viewed_at(s.views, &s.updated_at),
                );
                item.insert("pinnedListUuid".into(), Value::Null);
                item.insert("pinnedListOrder".into(), Value::Null);
                item.insert("validationErrors".into(), json!([]));
                Value::Object(item)
            })
            .collect(),
    )
}

fn explore(project: &ProjectContent, name: &str) -> Value {
    let Some(explore) = project.explore(name) else {
        return Value::Null;
    };
    let mut out = to_object(explore);
    let base = explore
        .base_table
        .clone()
        .unwrap_or_else(|| explore.name.clone());
    let joined: Vec<Value> = explore
        .tables
        .keys()
        .filter(|t| **t != base)
        .map(|t| {
            json!({
                "table": t,
                "sqlOn": format!("${{{base}.{t}_id}} = ${{{t}.{t}_id}}"),
                "compiledSqlOn": format!("(\"{base}\".{t}_id) = (\"{t}\".{t}_id)"),
                "type": "left",
            })
        })
        .collect();
    out.insert("tags".into(), json!([]));
    out.insert("joinedTables".into(), json!(joined));
    out.insert("targetDatabase".into(), json!("postgres"));
    if let Some(Value::Object(tables)) = out.get_mut("tables") {
        for (table_name, table) in tables.iter_mut() {
            let Value::Object(table) = table else {
                continue;
            };
            let label = table.get("label").cloned().unwrap_or(Value::Null);
            table.insert("database".into(), json!("jaffle_shop"));
            table.insert("schema".into(), json!("jaffle"));
            table.insert(
                "sqlTable".into(),
                json!(format!("\"jaffle_shop\".\"jaffle\".\"{table_name}\"")),
            );
            for (kind, field_type) in [("dimensions", "dimension"), ("metrics", "metric")] {
                let Some(Value::Object(fields)) = table.get_mut(kind) else {
                    continue;
                };
                for (index, field) in fields.values_mut().enumerate() {
                    let Value::Object(field) = field else {
                        continue;
                    };
                    field.retain(|_, v| !v.is_null());
                    let name = field
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let sql = format!("${{TABLE}}.{name}");
                    field.insert("fieldType".into(), json!(field_type));
                    field.insert("sql".into(), json!(sql));
                    field.insert("index".into(), json!(index));
                    field.insert("groups".into(), json!([]));
                    field.entry("tableLabel").or_insert_with(|| label.clone());
                }
            }
        }
    }
    Value::Object(out)
}

/// A uuid-shaped id derived from `seed`: Lightdash gives every filter rule and group an id
/// that our types do not keep, and the mock must answer the same bytes every time.
fn derived_uuid(seed: &str) -> String {
    let hex = blake3::hash(seed.as_bytes()).to_hex();
    let h = hex.as_str();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Adds an `id` to every filter group and rule of a chart's `metricQuery.filters`.
fn add_filter_ids(node: &mut Value, seed: &str) {
    let Value::Object(map) = node else { return };
    map.entry("id").or_insert_with(|| json!(derived_uuid(seed)));
    for key in ["and", "or"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            for (i, child) in children.iter_mut().enumerate() {
                add_filter_ids(child, &format!("{seed}/{key}{i}"));
            }
        }
    }
}

/// The chart's details merged with its summary, which is authoritative for metadata.
fn chart_object(chart: &ChartContent) -> Map<String, Value> {
    let s = &chart.summary;
    let mut out = to_object(&chart.details);
    out.insert("uuid".into(), json!(s.uuid));
    out.insert("slug".into(), json!(s.slug));
    out.insert("name".into(), json!(s.name));
    out.insert("description".into(), json!(s.description));
    out.insert("updatedAt".into(), json!(s.updated_at));
    out.insert("dashboardUuid".into(), json!(s.dashboard_uuid));
    // `verification` in as-code payloads and detail GETs (newest `contentAsCode/charts.ts`).
    out.insert("verification".into(), json!(s.verification));
    if let Some(Value::Object(query)) = out.get_mut("metricQuery")
        && let Some(Value::Object(filters)) = query.get_mut("filters")
    {
        for (family, tree) in filters.iter_mut() {
            add_filter_ids(tree, &format!("{}/{family}", s.uuid));
        }
    }
    let q = &chart.details.metric_query;
    let column_order: Vec<&str> = q
        .dimensions
        .iter()
        .chain(&q.metrics)
        .map(String::as_str)
        .chain(q.table_calculations.iter().map(|t| t.name.as_str()))
        .collect();
    out.insert("tableConfig".into(), json!({"columnOrder": column_order}));
    out
}

/// The trash of the projects named in `projectUuids`, paged by `page` (1-based) and
/// `pageSize` (`KnexPaginatedData`, `packages/common/src/types/knex-paginate.ts`; items
/// `DeletedContentSummary`, `packages/common/src/types/softDelete.ts`).
fn deleted_content(content: &LightdashContent, query: &str) -> Reply {
    let mut projects = Vec::new();
    let (mut page, mut page_size) = (1usize, 10usize);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "projectUuids" => projects.push(value.into_owned()),
            "page" => page = value.parse().unwrap_or(1).max(1),
            "pageSize" => page_size = value.parse().unwrap_or(10).max(1),
            _ => {}
        }
    }
    let items: Vec<Value> = content
        .projects
        .iter()
        .filter(|p| projects.contains(&p.project.project_uuid))
        .flat_map(|p| {
            p.trash.iter().map(move |t| {
                let mut item = to_object(t);
                let name = p
                    .trashed_charts
                    .iter()
                    .find(|c| c.summary.uuid == t.uuid)
                    .map(|c| (&c.summary.name, &c.summary.space_uuid))
                    .or_else(|| {
                        p.trashed_dashboards
                            .iter()
                            .find(|d| d.summary.uuid == t.uuid)
                            .map(|d| (&d.summary.name, &d.summary.space_uuid))
                    });
                if let Some((name, space)) = name {
                    item.insert("name".into(), json!(name));
                    item.insert("spaceUuid".into(), json!(space));
                    item.insert("spaceName".into(), space_name(p, space));
                }
                item.insert("description".into(), Value::Null);
                item.insert("organizationUuid".into(), json!(ORGANIZATION_UUID));
                Value::Object(item)
            })
        })
        .collect();
    let total = items.len();
    let pages = total.div_ceil(page_size);
    let data: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .collect();
    ok(json!({
        "data": data,
        "pagination": {"page": page, "pageSize": page_size, "totalResults": total, "totalPageCount": pages},
    }))
}

/// `GET /projects/{p}/content-verification`: `VerifiedContentListItem[]`
/// (`packages/common/src/types/contentVerification.ts`).
fn verified_list(project: &ProjectContent) -> Value {
    let charts = project.charts.iter().filter_map(|c| {
        let v = c.summary.verification.as_ref()?;
        Some(json!({
            "uuid": derived_uuid(&format!("verification/{}", c.summary.uuid)),
            "contentUuid": c.summary.uuid,
            "contentType": "chart",
            "name": c.summary.name,
            "description": c.summary.description,
            "spaceUuid": c.summary.space_uuid,
            "spaceName": space_name(project, &c.summary.space_uuid),
            "views": c.summary.views,
            "lastUpdatedAt": c.summary.updated_at,
            "slug": c.summary.slug,
            "chartKind": c.summary.chart_kind,
            "exploreName": c.details.explore_name(),
            "verifiedBy": v.verified_by,
            "verifiedAt": v.verified_at,
        }))
    });
    let dashboards = project.dashboards.iter().filter_map(|d| {
        let v = d.summary.verification.as_ref()?;
        Some(json!({
            "uuid": derived_uuid(&format!("verification/{}", d.summary.uuid)),
            "contentUuid": d.summary.uuid,
            "contentType": "dashboard",
            "name": d.summary.name,
            "description": d.summary.description,
            "spaceUuid": d.summary.space_uuid,
            "spaceName": space_name(project, &d.summary.space_uuid),
            "views": d.summary.views,
            "lastUpdatedAt": d.summary.updated_at,
            "verifiedBy": v.verified_by,
            "verifiedAt": v.verified_at,
        }))
    });
    Value::Array(charts.chain(dashboards).collect())
}

/// `GET /projects/{p}/sqlRunner/saved/{uuid}`: `SqlChart` (`packages/common/src/types/sqlRunner.ts`).
fn sql_chart_get(project: &ProjectContent, chart: &ChartContent) -> Value {
    let s = &chart.summary;
    let d = &chart.details;
    let space = project.space(&s.space_uuid);
    let dashboard = s
        .dashboard_uuid
        .as_deref()
        .and_then(|u| project.dashboard(u))
        .map(|d| json!({"uuid": d.summary.uuid, "name": d.summary.name}));
    json!({
        "savedSqlUuid": s.uuid,
        "name": s.name,
        "description": s.description,
        "slug": s.slug,
        "sql": d.sql,
        "limit": d.limit.unwrap_or(500),
        "config": d.config,
        "chartKind": s.chart_kind.as_ref().or(d.chart_kind.as_ref()),
        "createdAt": s.updated_at,
        "createdBy": s.updated_by_user,
        "lastUpdatedAt": s.updated_at,
        "lastUpdatedBy": s.updated_by_user,
        "space": {"uuid": s.space_uuid, "name": space.map(|x| x.name.clone()), "isPrivate": space.is_some_and(|x| x.is_private)},
        "dashboard": dashboard,
        "project": {"projectUuid": project.project.project_uuid},
        "organization": {"organizationUuid": ORGANIZATION_UUID},
        "views": s.views,
        "firstViewedAt": first_viewed_at(s.views, &s.updated_at),
        "lastViewedAt": first_viewed_at(s.views, &s.updated_at),
    })
}

/// SQL charts as code (`ApiSqlChartAsCodeListResponse`, `SqlChartAsCode` in
/// `packages/common/src/types/contentAsCode/charts.ts`; real file:
/// `lightdash-demo-saas/lightdash/charts/avg-days-in-sales-cycle.sql.yml`): slug identity,
/// `ids` as uuids or slugs, paged like the other kinds.
fn sql_charts_as_code_page(project: &ProjectContent, query: &str, page_size: usize) -> Reply {
    let mut ids: Option<Vec<String>> = None;
    let mut offset = 0usize;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "ids" => ids.get_or_insert_with(Vec::new).push(value.into_owned()),
            "offset" => offset = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    let sql: Vec<&ChartContent> = project
        .charts
        .iter()
        .filter(|c| c.summary.is_sql())
        .collect();
    let mut missing = Vec::new();
    let selected: Vec<&ChartContent> = match &ids {
        None => sql.clone(),
        Some(ids) => {
            for id in ids {
                if !sql
                    .iter()
                    .any(|c| &c.summary.uuid == id || c.summary.slug.as_deref() == Some(id))
                {
                    missing.push(id.clone());
                }
            }
            sql.iter()
                .copied()
                .filter(|c| {
                    ids.iter()
                        .any(|id| &c.summary.uuid == id || c.summary.slug.as_deref() == Some(id))
                })
                .collect()
        }
    };
    let total = selected.len();
    let start = offset.min(total);
    let end = start.saturating_add(page_size.max(1)).min(total);
    let items: Vec<Value> = selected[start..end]
        .iter()
        .map(|c| {
            let s = &c.summary;
            json!({
                "name": s.name,
                "description": s.description,
                "slug": s.slug,
                "sql": c.details.sql,
                "limit": c.details.limit.unwrap_or(500),
                "config": c.details.config,
                "chartKind": s.chart_kind.as_ref().or(c.details.chart_kind.as_ref()),
                "version": 1,
                "contentType": "sql_chart",
                "spaceSlug": project.space_slug(&s.space_uuid),
                "updatedAt": s.updated_at,
            })
        })
        .collect();
    ok(json!({
        "sqlCharts": items,
        "missingIds": missing,
        "spaces": [],
        "total": total,
        "offset": end,
    }))
}

fn find_chart<'a>(
    content: &'a LightdashContent,
    id: &str,
) -> Option<(&'a ProjectContent, &'a ChartContent)> {
    content.projects.iter().find_map(|p| {
        p.charts
            .iter()
            .find(|c| {
                !c.summary.is_sql()
                    && (c.summary.uuid == id || c.summary.slug.as_deref() == Some(id))
            })
            .map(|c| (p, c))
    })
}

fn legacy_chart(content: &LightdashContent, id: &str) -> Option<Value> {
    let (project, chart) = find_chart(content, id)?;
    let s = &chart.summary;
    let mut out = chart_object(chart);
    out.remove("spaceSlug");
    out.remove("dashboardSlug");
    let space = project.space(&s.space_uuid);
    out.insert("projectUuid".into(), json!(project.project.project_uuid));
    out.insert("organizationUuid".into(), json!(ORGANIZATION_UUID));
    out.insert("spaceUuid".into(), json!(s.space_uuid));
    out.insert("spaceName".into(), space_name(project, &s.space_uuid));
    out.insert("dashboardName".into(), json!(s.dashboard_name));
    out.insert("updatedByUser".into(), json!(s.updated_by_user));
    out.insert("pinnedListUuid".into(), Value::Null);
    out.insert("pinnedListOrder".into(), Value::Null);
    out.insert(
        "isPrivate".into(),
        json!(space.is_some_and(|s| s.is_private)),
    );
    out.insert("access".into(), json!([]));
    out.insert(
        "colorPalette".into(),
        json!([
            "#5470c6", "#fc8452", "#91cc75", "#fac858", "#ee6666", "#73c0de"
        ]),
    );
    Some(Value::Object(out))
}

/// The dashboard's details merged with its summary, tiles and filters in the legacy shape.
fn dashboard_object(project: &ProjectContent, dashboard: &DashboardContent) -> Map<String, Value> {
    let s = &dashboard.summary;
    let mut out = to_object(&dashboard.details);
    out.insert("uuid".into(), json!(s.uuid));
    out.insert("slug".into(), json!(s.slug));
    out.insert("name".into(), json!(s.name));
    out.insert("description".into(), json!(s.description));
    out.insert("updatedAt".into(), json!(s.updated_at));
    out.insert("updatedByUser".into(), json!(s.updated_by_user));
    out.insert("verification".into(), json!(s.verification));
    out.remove("spaceSlug");
    let tiles: Vec<Value> = dashboard
        .details
        .tiles
        .iter()
        .map(|tile| {
            let mut t = to_object(tile);
            t.remove("tileSlug");
            if tile.tile_type == TileType::SavedChart
                && let Some(Value::Object(props)) = t.get_mut("properties")
            {
                let chart = tile
                    .properties
                    .saved_chart_uuid
                    .as_deref()
                    .and_then(|uuid| project.chart(uuid));
                // The tile shows the chart's current name; a deleted chart leaves `null`.
                props.insert(
                    "savedChartUuid".into(),
                    json!(chart.map(|c| &c.summary.uuid)),
                );
                props.insert("chartName".into(), json!(chart.map(|c| &c.summary.name)));
                props.insert(
                    "lastVersionChartKind".into(),
                    json!(chart.and_then(|c| c.summary.chart_kind.as_ref())),
                );
                props.insert(
                    "belongsToDashboard".into(),
                    json!(chart.is_some_and(
                        |c| c.summary.dashboard_uuid.as_deref() == Some(s.uuid.as_str())
                    )),
                );
                props.entry("title").or_insert_with(|| json!(""));
            }
            if tile.tile_type == TileType::SqlChart
                && let Some(Value::Object(props)) = t.get_mut("properties")
            {
                // `DashboardSqlChartTileProperties` (`dashboard.ts`): the name is the
                // chart's current one; a deleted chart leaves `savedSqlUuid: null`.
                let chart = tile
                    .properties
                    .saved_sql_uuid
                    .as_deref()
                    .and_then(|uuid| project.chart(uuid));
                props.insert("savedSqlUuid".into(), json!(chart.map(|c| &c.summary.uuid)));
                props.insert(
                    "chartName".into(),
                    json!(chart.map(|c| c.summary.name.clone()).unwrap_or_default()),
                );
            }
            Value::Object(t)
        })
        .collect();
    out.insert("tiles".into(), Value::Array(tiles));
    if let Some(Value::Object(filters)) = out.get_mut("filters") {
        for (family, rules) in filters.iter_mut() {
            let Value::Array(rules) = rules else { continue };
            for (i, rule) in rules.iter_mut().enumerate() {
                if let Value::Object(rule) = rule {
                    rule.entry("id").or_insert_with(|| {
                        json!(derived_uuid(&format!("{}/{family}/{i}", s.uuid)))
                    });
                }
            }
        }
    }
    out
}

fn legacy_dashboard(content: &mut LightdashContent, id: &str) -> Option<Value> {
    let project = content.projects.iter_mut().find(|p| {
        p.dashboards
            .iter()
            .any(|d| d.summary.uuid == id || d.summary.slug.as_deref() == Some(id))
    })?;
    let dashboard = project
        .dashboards
        .iter_mut()
        .find(|d| d.summary.uuid == id || d.summary.slug.as_deref() == Some(id))?;
    // Real Lightdash records a view on every GET of this route.
    dashboard.summary.views += 1;
    let uuid = dashboard.summary.uuid.clone();
    let project: &ProjectContent = project;
    let dashboard = project.dashboard(&uuid)?;
    let s = &dashboard.summary;
    let space = project.space(&s.space_uuid);
    let mut out = dashboard_object(project, dashboard);
    out.insert("projectUuid".into(), json!(project.project.project_uuid));
    out.insert("organizationUuid".into(), json!(ORGANIZATION_UUID));
    out.insert("spaceUuid".into(), json!(s.space_uuid));
    out.insert("spaceName".into(), space_name(project, &s.space_uuid));
    out.insert("views".into(), json!(s.views));
    out.insert(
        "firstViewedAt".into(),
        first_viewed_at(s.views, &s.updated_at),
    );
    out.insert("dashboardVersionId".into(), json!(1));
    out.insert("pinnedListUuid".into(), Value::Null);
    out.insert("pinnedListOrder".into(), Value::Null);
    out.insert(
        "isPrivate".into(),
        json!(space.is_some_and(|s| s.is_private)),
    );
    out.insert("access".into(), json!([]));
    out.insert("config".into(), json!({"isDateZoomDisabled": false}));
    Some(Value::Object(out))
}

fn chart_as_code(
    project: &ProjectContent,
    chart: &ChartContent,
    new_generation: bool,
    now: &str,
) -> Value {
    let s = &chart.summary;
    let mut out = chart_object(chart);
    out.remove("uuid");
    out.remove("dashboardUuid");
    out.insert("spaceSlug".into(), json!(project.space_slug(&s.space_uuid)));
    let dashboard_slug = s
        .dashboard_uuid
        .as_deref()
        .and_then(|d| project.dashboard(d))
        .and_then(|d| d.summary.slug.clone());
    match dashboard_slug {
        Some(slug) => out.insert("dashboardSlug".into(), json!(slug)),
        None => out.remove("dashboardSlug"),
    };
    if out.get("pivotConfig") == Some(&Value::Null) {
        out.remove("pivotConfig");
    }
    out.insert("version".into(), json!(1));
    out.insert("downloadedAt".into(), json!(now));
    if new_generation {
        out.insert("contentType".into(), json!("chart"));
    }
    Value::Object(out)
}

/// Chart slugs by chart uuid, built once per as-code request (a linear search per tile made
/// a page of dashboards cost O(tiles × charts): minutes at 50,000 assets).
fn chart_slugs(project: &ProjectContent) -> HashMap<&str, &str> {
    project
        .charts
        .iter()
        .filter_map(|c| Some((c.summary.uuid.as_str(), c.summary.slug.as_deref()?)))
        .collect()
}

/// Tile slugs as `CoderService.getChartSlugForTileUuid` makes them: the chart's slug, or
/// `<slug>-<n>` (1-based) when the chart appears in several tiles. Keyed by tile uuid.
fn tile_slugs(
    chart_slugs: &HashMap<&str, &str>,
    dashboard: &DashboardContent,
) -> HashMap<String, String> {
    let chart_slug = |tile: &crate::lightdash::types::DashboardTile| {
        tile.properties
            .saved_chart_uuid
            .as_deref()
            .and_then(|uuid| chart_slugs.get(uuid))
            .map(|s| (*s).to_owned())
    };
    let mut slugs = HashMap::new();
    for tile in &dashboard.details.tiles {
        let (Some(uuid), Some(slug)) = (&tile.uuid, chart_slug(tile)) else {
            continue;
        };
        let same: Vec<&Option<String>> = dashboard
            .details
            .tiles
            .iter()
            .filter(|t| chart_slug(t).as_deref() == Some(slug.as_str()))
            .map(|t| &t.uuid)
            .collect();
        let tile_slug = if same.len() > 1 {
            let index = same
                .iter()
                .position(|u| u.as_deref() == Some(uuid.as_str()))
                .unwrap_or(0);
            format!("{slug}-{}", index + 1)
        } else {
            slug
        };
        slugs.insert(uuid.clone(), tile_slug);
    }
    slugs
}

fn dashboard_as_code(
    project: &ProjectContent,
    chart_slugs: &HashMap<&str, &str>,
    dashboard: &DashboardContent,
    new_generation: bool,
    now: &str,
) -> Value {
    let s = &dashboard.summary;
    let slugs = tile_slugs(chart_slugs, dashboard);
    let mut out = to_object(&dashboard.details);
    for key in ["uuid", "updatedByUser"] {
        out.remove(key);
    }
    out.insert("slug".into(), json!(s.slug));
    out.insert("name".into(), json!(s.name));
    out.insert("description".into(), json!(s.description));
    out.insert("updatedAt".into(), json!(s.updated_at));
    out.insert("spaceSlug".into(), json!(project.space_slug(&s.space_uuid)));
    out.insert("verification".into(), json!(s.verification));
    let tiles: Vec<Value> = dashboard
        .details
        .tiles
        .iter()
        .map(|tile| {
            let mut t = to_object(tile);
            t.remove("uuid");
            t.remove("tileSlug");
            if tile.tile_type == TileType::SavedChart {
                let chart = tile
                    .properties
                    .saved_chart_uuid
                    .as_deref()
                    .and_then(|uuid| project.chart(uuid));
                let props = json!({
                    "title": tile.properties.title.clone().unwrap_or_default(),
                    "hideTitle": tile.properties.hide_title,
                    "chartSlug": chart.and_then(|c| c.summary.slug.clone()),
                    "chartName": chart.map(|c| c.summary.name.clone()),
                });
                t.insert("properties".into(), props);
                if let Some(slug) = tile.uuid.as_ref().and_then(|u| slugs.get(u)) {
                    t.insert("tileSlug".into(), json!(slug));
                }
            }
            if tile.tile_type == TileType::SqlChart {
                // `DashboardSqlChartTileAsCode` (`contentAsCode/dashboards.ts`).
                let chart = tile
                    .properties
                    .saved_sql_uuid
                    .as_deref()
                    .and_then(|uuid| project.chart(uuid));
                let slug = chart.and_then(|c| c.summary.slug.clone());
                t.insert(
                    "properties".into(),
                    json!({
                        "title": tile.properties.title.clone().unwrap_or_default(),
                        "hideTitle": tile.properties.hide_title,
                        "chartSlug": slug,
                        "chartName": chart.map(|c| c.summary.name.clone()),
                    }),
                );
                if let Some(slug) = slug {
                    t.insert("tileSlug".into(), json!(slug));
                }
            }
            Value::Object(t)
        })
        .collect();
    out.insert("tiles".into(), Value::Array(tiles));
    // As code, filters carry no ids and target tiles by tile slug; targets of tiles without
    // a slug (non-chart tiles) are dropped, as Lightdash drops them.
    if let Some(Value::Object(filters)) = out.get_mut("filters") {
        for rules in filters.values_mut() {
            let Value::Array(rules) = rules else { continue };
            for rule in rules.iter_mut() {
                let Value::Object(rule) = rule else { continue };
                rule.remove("id");
                if let Some(Value::Object(targets)) = rule.get_mut("tileTargets") {
                    let by_slug: Map<String, Value> = std::mem::take(targets)
                        .into_iter()
                        .filter_map(|(uuid, target)| {
                            slugs.get(&uuid).map(|slug| (slug.clone(), target))
                        })
                        .collect();
                    *targets = by_slug;
                }
            }
        }
    }
    out.insert("version".into(), json!(1));
    out.insert("downloadedAt".into(), json!(now));
    if new_generation {
        out.insert("contentType".into(), json!("dashboard"));
    }
    Value::Object(out)
}

/// `ids` (repeatable) and `offset` of an as-code request; a 400 reply for a bad offset.
fn as_code_query(query: &str) -> Result<(Option<Vec<String>>, usize), Reply> {
    let mut ids: Option<Vec<String>> = None;
    let mut offset: i64 = 0;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "ids" => ids.get_or_insert_with(Vec::new).push(value.into_owned()),
            "offset" => match value.parse::<i64>() {
                Ok(o) => offset = o,
                Err(_) => {
                    return Err(error(
                        400,
                        &format!("offset must be a number, received {value}"),
                    ));
                }
            },
            _ => {}
        }
    }
    match usize::try_from(offset) {
        Ok(offset) => Ok((ids, offset)),
        Err(_) => Err(error(
            400,
            &format!("offset must be >= 0, received {offset}"),
        )),
    }
}

/// Positions (in content order) of the items an as-code request asks for, and the ids it
/// asks for that match none: every eligible item without `ids`; else each id matched first
/// by uuid, then by slug, as a linear search in content order would.
fn as_code_selection(
    keys: &[(&str, Option<&str>)],
    eligible: impl Fn(usize) -> bool,
    ids: Option<&[String]>,
) -> (Vec<usize>, Vec<String>) {
    let Some(ids) = ids else {
        return (
            (0..keys.len()).filter(|i| eligible(*i)).collect(),
            Vec::new(),
        );
    };
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    for (i, (uuid, slug)) in keys.iter().enumerate().rev() {
        if eligible(i) {
            by_key.insert(uuid, i);
            if let Some(slug) = slug {
                by_key.insert(slug, i);
            }
        }
    }
    let mut wanted = vec![false; keys.len()];
    let mut missing = Vec::new();
    for id in ids {
        match by_key.get(id.as_str()).copied() {
            Some(i) => wanted[i] = true,
            None => missing.push(id.clone()),
        }
    }
    ((0..keys.len()).filter(|i| wanted[*i]).collect(), missing)
}

fn as_code_page(
    project: &ProjectContent,
    charts: bool,
    new_generation: bool,
    query: &str,
    page_size: usize,
    overrides: &HashMap<String, Map<String, Value>>,
) -> Reply {
    let (ids, offset) = match as_code_query(query) {
        Ok(q) => q,
        Err(reply) => return reply,
    };
    // (uuid, slug) of every item, in content order.
    let keys: Vec<(&str, Option<&str>)> = if charts {
        project
            .charts
            .iter()
            .map(|c| (c.summary.uuid.as_str(), c.summary.slug.as_deref()))
            .collect()
    } else {
        project
            .dashboards
            .iter()
            .map(|d| (d.summary.uuid.as_str(), d.summary.slug.as_deref()))
            .collect()
    };
    // SQL-runner charts live in their own as-code kind (`/code/sqlCharts`): asked for here,
    // they come back in `missingIds`, as on a real server.
    let eligible = |i: usize| !charts || !project.charts[i].summary.is_sql();
    let (selected, missing) = as_code_selection(&keys, eligible, ids.as_deref());
    let total = selected.len();
    // `offset` in the reply is where the next page starts: min(offset + pageSize, total).
    let start = offset.min(total);
    let next = offset.saturating_add(page_size.max(1)).min(total);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let slugs_by_uuid = if charts {
        HashMap::new()
    } else {
        chart_slugs(project)
    };
    let items: Vec<Value> = selected[start..next]
        .iter()
        .map(|&i| {
            let mut item = if charts {
                chart_as_code(project, &project.charts[i], new_generation, &now)
            } else {
                dashboard_as_code(
                    project,
                    &slugs_by_uuid,
                    &project.dashboards[i],
                    new_generation,
                    &now,
                )
            };
            if let Some(fields) = overrides.get(keys[i].0)
                && let Value::Object(map) = &mut item
            {
                map.extend(fields.clone());
            }
            item
        })
        .collect();
    let key = if charts { "charts" } else { "dashboards" };
    ok(json!({
        key: items,
        "missingIds": missing,
        "total": total,
        "offset": next,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::content::bundled;
    use crate::demo::test_client;
    use crate::lightdash::types::{
        AsCodePage, ChartDetails, ChartSummary, DashboardDetails, DashboardSummary, Explore,
        Health, Project, SpaceSummary,
    };

    const TOKEN: &str = "demo-lightdash-token";

    struct Fixture {
        mock: MockLightdashHandle,
        client: reqwest::Client,
        project: String,
    }

    impl Fixture {
        async fn start(options: MockLightdashOptions) -> Fixture {
            let content = bundled();
            let project = content
                .default_project()
                .unwrap()
                .project
                .project_uuid
                .clone();
            let mock = MockLightdash::start(content, options).await.unwrap();
            Fixture {
                mock,
                client: test_client(),
                project,
            }
        }

        async fn get(&self, path_and_query: &str) -> reqwest::Response {
            self.client
                .get(format!("{}{path_and_query}", self.mock.url()))
                .header("Authorization", format!("ApiKey {TOKEN}"))
                .send()
                .await
                .unwrap()
        }

        async fn results<T: serde::de::DeserializeOwned>(&self, path_and_query: &str) -> T {
            let response = self.get(path_and_query).await;
            assert_eq!(response.status(), 200, "{path_and_query}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["status"], "ok");
            serde_json::from_value(body["results"].clone()).unwrap()
        }
    }

    #[tokio::test]
    async fn listings_use_the_envelope_and_real_shapes() {
        let f = Fixture::start(MockLightdashOptions::default()).await;
        let p = &f.project;
        let response = f.get("/api/v1/org/projects").await;
        assert_eq!(response.headers()["Lightdash-Version"], "0.2036.1");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let projects: Vec<Project> =
            serde_json::from_value(response.json::<Value>().await.unwrap()["results"].clone())
                .unwrap();
        assert_eq!(projects.len(), 2);
        assert_eq!(projects[1].project_type, ProjectType::Preview);

        let spaces: Vec<SpaceSummary> = f.results(&format!("/api/v1/projects/{p}/spaces")).await;
        let sales = spaces.iter().find(|s| s.name == "Sales").unwrap();
        assert_eq!((sales.dashboard_count, sales.chart_count), (1, 3));
        assert!(
            spaces
                .iter()
                .any(|s| s.parent_space_uuid.as_deref() == Some(sales.uuid.as_str()))
        );

        let raw: Value = f.results(&format!("/api/v1/projects/{p}/dashboards")).await;
        let first = &raw[0];
        assert_eq!(first["projectUuid"], json!(p));
        assert_eq!(
            first["tileTypes"],
            json!(["heading", "saved_chart", "markdown", "loom"])
        );
        let dashboards: Vec<DashboardSummary> = serde_json::from_value(raw).unwrap();
        assert_eq!(dashboards.len(), 3);

        let raw: Value = f.results(&format!("/api/v1/projects/{p}/charts")).await;
        assert_eq!(raw[0]["spaceName"], "Sales");
        let charts: Vec<ChartSummary> = serde_json::from_value(raw).unwrap();
        assert_eq!(charts.len(), 12);
        assert!(charts.iter().any(|c| c.dashboard_uuid.is_some()));

        let raw: Value = f
            .results(&format!("/api/v1/projects/{p}/explores/orders"))
            .await;
        let status = &raw["tables"]["orders"]["dimensions"]["status"];
        assert_eq!(status["fieldType"], "dimension");
        assert!(status["aiHint"].is_string());
        assert!(
            raw["tables"]["orders"]["dimensions"]["order_date_month"]["timeInterval"].is_string()
        );
        let explore: Explore = serde_json::from_value(raw).unwrap();
        assert!(explore.tables.contains_key("order_items"));

        let response = f.get(&format!("/api/v1/projects/{p}/explores/nope")).await;
        assert_eq!(response.status(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["name"], "NotFoundError");
    }

    #[tokio::test]
    async fn as_code_pages_follow_the_offset_semantics() {
        let f = Fixture::start(MockLightdashOptions {
            page_size: 5,
            ..Default::default()
        })
        .await;
        let p = &f.project;
        let mut offset = 0;
        let mut pages = Vec::new();
        loop {
            let raw: Value = f
                .results(&format!("/api/v1/projects/{p}/charts/code?offset={offset}"))
                .await;
            let page: AsCodePage<ChartDetails> = serde_json::from_value(raw.clone()).unwrap();
            assert!(
                raw["charts"][0].get("uuid").is_none(),
                "as code has no uuid"
            );
            assert_eq!(raw["charts"][0]["version"], 1);
            assert_eq!(page.total, 12);
            pages.push((page.charts.len(), page.offset));
            offset = page.offset;
            if offset >= page.total {
                break;
            }
        }
        assert_eq!(pages, vec![(5, 5), (5, 10), (2, 12)]);

        let page: AsCodePage<ChartDetails> = f
            .results(&format!("/api/v1/projects/{p}/code/charts?offset=11"))
            .await;
        assert_eq!((page.charts.len(), page.offset), (1, 12));
        let emea = page
            .charts
            .iter()
            .chain(
                f.results::<AsCodePage<ChartDetails>>(&format!("/api/v1/projects/{p}/code/charts"))
                    .await
                    .charts
                    .iter(),
            )
            .find(|c| c.slug.as_deref() == Some("emea-orders-by-country"))
            .cloned()
            .unwrap();
        assert_eq!(emea.space_slug.as_deref(), Some("sales/emea"));
        let dashboard_chart: AsCodePage<ChartDetails> = f
            .results(&format!(
                "/api/v1/projects/{p}/charts/code?ids=new-customers-per-month"
            ))
            .await;
        assert_eq!(
            dashboard_chart.charts[0].dashboard_slug.as_deref(),
            Some("sales-overview")
        );

        let response = f
            .get(&format!("/api/v1/projects/{p}/charts/code?offset=-1"))
            .await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["name"], "ParameterError");
    }

    #[tokio::test]
    async fn as_code_ids_take_uuids_and_slugs_and_report_missing_ones() {
        let f = Fixture::start(MockLightdashOptions::default()).await;
        let p = &f.project;
        let content = f.mock.content();
        let sales = content
            .default_project()
            .unwrap()
            .dashboard_named("Sales overview")
            .unwrap();
        let sales_uuid = sales.summary.uuid.clone();
        let raw: Value = f
            .results(&format!(
                "/api/v1/projects/{p}/code/dashboards?ids={sales_uuid}&ids=campaign-performance&ids=no-such-dashboard"
            ))
            .await;
        assert_eq!(raw["missingIds"], json!(["no-such-dashboard"]));
        assert_eq!(
            (raw["total"].as_u64(), raw["offset"].as_u64()),
            (Some(2), Some(2))
        );
        let d = &raw["dashboards"][0];
        assert_eq!(d["contentType"], "dashboard");
        assert!(d.get("uuid").is_none());
        let tile_slugs: Vec<&str> = d["tiles"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["tileSlug"].as_str())
            .collect();
        assert!(
            tile_slugs.contains(&"monthly-revenue-1") && tile_slugs.contains(&"monthly-revenue-2")
        );
        let chart_tile = d["tiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "saved_chart")
            .unwrap();
        assert!(chart_tile["properties"].get("savedChartUuid").is_none());
        assert!(chart_tile["properties"]["chartSlug"].is_string());
        assert!(chart_tile.get("uuid").is_none());
        assert!(
            chart_tile["x"].is_u64(),
            "whole numbers are sent as integers"
        );
        let date_filter = &d["filters"]["dimensions"][0];
        assert!(date_filter.get("id").is_none());
        assert_eq!(
            date_filter["tileTargets"]["monthly-revenue-1"]["fieldId"],
            "orders_order_date"
        );
        assert_eq!(
            date_filter["tileTargets"]["top-10-customers-by-lifetime-value"],
            json!(false)
        );
        let page: AsCodePage<DashboardDetails> = serde_json::from_value(raw).unwrap();
        assert_eq!(
            page.dashboards[1].slug.as_deref(),
            Some("campaign-performance")
        );
        assert_eq!(
            page.dashboards[1].space_slug.as_deref(),
            Some("marketing/campaigns")
        );
    }

    #[tokio::test]
    async fn legacy_routes_serve_uuids_and_the_dashboard_get_counts_a_view() {
        let f = Fixture::start(MockLightdashOptions::default()).await;
        let content = f.mock.content();
        let project = content.default_project().unwrap();
        let dashboard = project.dashboard_named("Sales overview").unwrap();
        let uuid = dashboard.summary.uuid.clone();
        let views = dashboard.summary.views;
        let first: Value = f.results(&format!("/api/v1/dashboards/{uuid}")).await;
        let second: Value = f.results(&format!("/api/v1/dashboards/{uuid}")).await;
        assert_eq!(first["views"].as_u64(), Some(views + 1));
        assert_eq!(second["views"].as_u64(), Some(views + 2));
        assert_eq!(
            f.mock.content().dashboard(&uuid).unwrap().summary.views,
            views + 2
        );
        assert_eq!(second["spaceName"], "Sales");
        assert!(second["filters"]["dimensions"][0]["id"].is_string());
        let details: DashboardDetails = serde_json::from_value(second).unwrap();
        assert!(
            details
                .tiles
                .iter()
                .any(|t| t.properties.saved_chart_uuid.is_some())
        );
        // As code does not count views.
        let _: Value = f
            .results(&format!(
                "/api/v1/projects/{}/dashboards/code?ids={uuid}",
                f.project
            ))
            .await;
        assert_eq!(
            f.mock.content().dashboard(&uuid).unwrap().summary.views,
            views + 2
        );

        let chart = project.chart_named("EMEA revenue this quarter").unwrap();
        let raw: Value = f
            .results(&format!("/api/v1/saved/{}", chart.summary.uuid))
            .await;
        assert_eq!(raw["spaceName"], "EMEA");
        assert!(raw["metricQuery"]["filters"]["dimensions"]["id"].is_string());
        assert!(raw["metricQuery"]["filters"]["dimensions"]["and"][1]["or"][0]["id"].is_string());
        let details: ChartDetails = serde_json::from_value(raw).unwrap();
        assert_eq!(details.uuid.as_deref(), Some(chart.summary.uuid.as_str()));

        let response = f
            .get("/api/v1/saved/00000000-0000-4000-8000-000000000000")
            .await;
        assert_eq!(response.status(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["name"], "NotFoundError");
    }

    #[tokio::test]
    async fn auth_is_required_except_for_health() {
        let f = Fixture::start(MockLightdashOptions::default()).await;
        let url = format!("{}/api/v1/org/projects", f.mock.url());
        for auth in [None, Some("ApiKey wrong"), Some(TOKEN)] {
            let mut request = f.client.get(&url);
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["status"], "error");
            assert_eq!(body["error"]["statusCode"], 401);
            assert_eq!(body["error"]["name"], "AuthorizationError");
        }
        let bearer = f.client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(bearer.status(), 200);

        let health = f
            .client
            .get(format!("{}/api/v1/health", f.mock.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        let body: Value = health.json().await.unwrap();
        let health: Health = serde_json::from_value(body["results"].clone()).unwrap();
        assert!(health.healthy && !health.is_authenticated);
        assert_eq!(health.site_url, Some(f.mock.url()));
        let requests = f.mock.requests();
        assert_eq!(requests[0].authorization, None);
        assert_eq!(
            requests[3].authorization.as_deref(),
            Some("Bearer demo-lightdash-token")
        );
        assert_eq!(f.mock.count(Route::Projects), 4);
    }

    #[tokio::test]
    async fn unknown_and_absent_routes_answer_the_spa_html() {
        let f = Fixture::start(MockLightdashOptions {
            as_code: AsCodeMode::OldRoutes,
            ..Default::default()
        })
        .await;
        let p = f.project.clone();
        for path in [
            "/api/v1/no/such/route".to_owned(),
            format!("/api/v1/projects/{p}/code/charts"),
        ] {
            let response = f.get(&path).await;
            assert_eq!(response.status(), 200);
            assert!(
                response.headers()[CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            assert!(response.text().await.unwrap().contains("<div id=\"root\">"));
        }
        assert_eq!(
            f.get(&format!("/api/v1/projects/{p}/charts/code"))
                .await
                .status(),
            200
        );
        assert_eq!(f.mock.requests()[0].route, None);
        assert_eq!(f.mock.count(Route::ChartsCode), 2);

        f.mock.update_options(|o| o.as_code = AsCodeMode::Forbidden);
        let response = f
            .get(&format!("/api/v1/projects/{p}/dashboards/code"))
            .await;
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["error"]["message"],
            "You are not allowed to download dashboards"
        );

        f.mock.update_options(|o| o.as_code = AsCodeMode::Absent);
        let response = f.get(&format!("/api/v1/projects/{p}/charts/code")).await;
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }

    #[tokio::test]
    async fn faults_apply_then_clear() {
        let f = Fixture::start(MockLightdashOptions::default()).await;
        let spaces = format!("/api/v1/projects/{}/spaces", f.project);
        f.mock.set_fault(Route::Spaces, Fault::Status(503), Some(2));
        for _ in 0..2 {
            let response = f.get(&spaces).await;
            assert_eq!(response.status(), 503);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["statusCode"], 503);
        }
        assert_eq!(f.get(&spaces).await.status(), 200);

        f.mock.set_fault(
            Route::Spaces,
            Fault::RetryAfter {
                status: 429,
                after: "7".into(),
            },
            Some(1),
        );
        let response = f.get(&spaces).await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[RETRY_AFTER], "7");

        f.mock.set_fault(Route::Spaces, Fault::TruncatedJson, None);
        let text = f.get(&spaces).await.text().await.unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_err());
        f.mock.set_fault(Route::Spaces, Fault::EmptyList, None);
        let empty: Vec<SpaceSummary> = f.results(&spaces).await;
        assert!(empty.is_empty());
        f.mock.set_fault(Route::ChartsCode, Fault::EmptyList, None);
        let page: AsCodePage<ChartDetails> = f
            .results(&format!("/api/v1/projects/{}/charts/code", f.project))
            .await;
        assert_eq!((page.charts.len(), page.total), (0, 0));
        f.mock.set_fault(Route::Spaces, Fault::Html200, None);
        assert!(
            f.get(&spaces)
                .await
                .text()
                .await
                .unwrap()
                .starts_with("<!DOCTYPE html>")
        );
        f.mock.clear_faults();
        let spaces_now: Vec<SpaceSummary> = f.results(&spaces).await;
        assert_eq!(spaces_now.len(), 6);
        assert_eq!(f.mock.count(Route::Spaces), 8);

        f.mock.set_fault(Route::Projects, Fault::Hang, None);
        let hung = f
            .client
            .get(format!("{}/api/v1/org/projects", f.mock.url()))
            .timeout(Duration::from_millis(200))
            .send()
            .await;
        assert!(hung.unwrap_err().is_timeout());
        f.mock.clear_requests();
        assert!(f.mock.requests().is_empty());
    }

    #[tokio::test]
    async fn rate_faults_are_seeded_and_overrides_hit_one_item() {
        let f = Fixture::start(MockLightdashOptions::default()).await;
        let spaces = format!("/api/v1/projects/{}/spaces", f.project);
        let mut runs = Vec::new();
        for _ in 0..2 {
            f.mock.set_fault_rate(
                Some(Route::Spaces),
                FaultRate {
                    rate: 0.5,
                    faults: vec![Fault::Status(500), Fault::Status(503)],
                },
                99,
            );
            let mut statuses = Vec::new();
            for _ in 0..40 {
                statuses.push(f.get(&spaces).await.status().as_u16());
            }
            runs.push(statuses);
        }
        assert_eq!(runs[0], runs[1], "same seed, same faults");
        let failed = runs[0].iter().filter(|s| **s != 200).count();
        assert!((8..=32).contains(&failed), "about half fail: {failed}");
        assert!(runs[0].iter().all(|s| [200, 500, 503].contains(s)));
        f.mock.clear_faults();
        assert_eq!(f.get(&spaces).await.status(), 200);

        let charts = f.mock.content().projects[0].charts.clone();
        let bad = charts[0].summary.uuid.clone();
        f.mock
            .set_item_override(&bad, "metricQuery", Value::String("oops".into()));
        let page: Value = f
            .get(&format!("/api/v1/projects/{}/charts/code", f.project))
            .await
            .json()
            .await
            .unwrap();
        let items = page["results"]["charts"].as_array().unwrap();
        let oops = items
            .iter()
            .filter(|c| c["metricQuery"] == Value::String("oops".into()))
            .count();
        assert_eq!((oops, items.len()), (1, charts.len()));
        f.mock.clear_item_overrides();
    }

    #[tokio::test]
    async fn edits_between_cycles_are_served() {
        let f = Fixture::start(MockLightdashOptions::default()).await;
        let chart_uuid = f.mock.update(|c| {
            let project = c.projects.iter_mut().next().unwrap();
            let chart = project.charts.iter_mut().next().unwrap();
            chart.summary.name = "Monthly revenue (USD)".into();
            chart.summary.uuid.clone()
        });
        let raw: Value = f.results(&format!("/api/v1/saved/{chart_uuid}")).await;
        assert_eq!(raw["name"], "Monthly revenue (USD)");
        let page: AsCodePage<ChartDetails> = f
            .results(&format!(
                "/api/v1/projects/{}/charts/code?ids={chart_uuid}",
                f.project
            ))
            .await;
        assert_eq!(page.charts[0].name, "Monthly revenue (USD)");
        f.mock.update(|c| c.remove_chart(&chart_uuid));
        let page: AsCodePage<ChartDetails> = f
            .results(&format!(
                "/api/v1/projects/{}/charts/code?ids={chart_uuid}",
                f.project
            ))
            .await;
        assert_eq!(page.missing_ids, vec![chart_uuid]);
        let recorded = f.mock.requests().pop().unwrap();
        assert_eq!(recorded.query_values("ids").len(), 1);
    }
}
