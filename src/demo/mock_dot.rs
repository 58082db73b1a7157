//! An in-process mock of Dot's `POST /api/import_and_overwrite_external_asset`, for the `demo`
//! command, the integration tests and the benchmarks. I/O: binds `127.0.0.1:0` and serves
//! HTTP/1 on a spawned task.
//!
//! It authenticates like Dot (`X-API-KEY`, or `user_id` + `api_token` in the query), checks
//! each body against the `ExternalAsset` schema of `shared/specs/dot-openapi.json` by looking
//! at the raw JSON (never through our own [`ExternalAsset`] type, so a bug in that type is
//! caught here), answers FastAPI-style errors, and remembers the last accepted asset per id.
//! The check is stricter than pydantic's lax mode on purpose: `"3"` for an integer is
//! rejected, because our client must never send it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::dot::types::ExternalAsset;

/// The only route Dot's mock serves.
pub const IMPORT_PATH: &str = "/api/import_and_overwrite_external_asset";

/// How the mock authenticates.
#[derive(Debug, Clone)]
pub struct MockDotOptions {
    /// Accepted in the `X-API-KEY` header.
    pub api_key: String,
    /// When set, `?user_id=<0>&api_token=<1>` is accepted too.
    pub query_auth: Option<(String, String)>,
}

impl Default for MockDotOptions {
    fn default() -> Self {
        Self {
            api_key: "demo-dot-key".into(),
            query_auth: None,
        }
    }
}

/// One request to the import route, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct DotRequest {
    /// `external_asset.id`, when the body had one.
    pub id: Option<String>,
    /// The body as sent (`null` when it was not JSON).
    pub body: Value,
    /// The status the mock answered (or will answer, for delayed requests; 0 when hanging).
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum DotFaultKind {
    /// Answer this status with `{"detail": ...}`.
    Status(u16),
    /// Answer this status with `Retry-After` (delta seconds or an HTTP date, sent verbatim).
    RetryAfter {
        /// HTTP status, usually 429 or 503.
        status: u16,
        /// `Retry-After` value.
        after: String,
    },
    /// Process normally after this delay (tokio time).
    Delay(Duration),
    /// Never answer (until the mock shuts down).
    Hang,
}

/// A fault on the import route. Faults act before authentication and validation, like a
/// proxy in front of Dot.
#[derive(Debug, Clone, PartialEq)]
pub struct DotFault {
    /// Only requests for this asset id; `None` for any.
    pub id: Option<String>,
    /// What happens.
    pub kind: DotFaultKind,
    /// How many requests it affects; `None` until cleared.
    pub times: Option<usize>,
}

/// A probabilistic fault on the import route: each request fails with probability `rate`, with
/// one of `kinds` picked uniformly, drawn from an RNG seeded by
/// [`MockDotHandle::set_fault_rate`] so a run is reproducible. Counted faults set with
/// [`MockDotHandle::set_fault`] take precedence.
#[derive(Debug, Clone, PartialEq)]
pub struct DotFaultRate {
    /// Probability in `[0, 1]` that a request gets a fault.
    pub rate: f64,
    /// The faults to pick from (uniformly).
    pub kinds: Vec<DotFaultKind>,
}

struct Shared {
    options: MockDotOptions,
    rate_fault: Mutex<(Option<DotFaultRate>, fastrand::Rng)>,
    assets: Mutex<BTreeMap<String, Value>>,
    requests: Mutex<Vec<DotRequest>>,
    faults: Mutex<Vec<DotFault>>,
    shutdown: watch::Receiver<bool>,
    /// Import requests being handled right now, and the most seen at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Counts one import request as in flight until dropped.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Locks the mock's state; see the Lightdash mock: plain data survives a poisoned lock.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts mock Dot servers.
pub struct MockDot;

impl MockDot {
    /// Binds `127.0.0.1:0` and serves until the handle is dropped or shut down.
    pub async fn start(options: MockDotOptions) -> std::io::Result<MockDotHandle> {
        let bound = super::server::bind().await?;
        let shared = Arc::new(Shared {
            options,
            rate_fault: Mutex::new((None, fastrand::Rng::with_seed(0))),
            assets: Mutex::new(BTreeMap::new()),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            shutdown: bound.stop.clone(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        Ok(MockDotHandle {
            server: bound.serve(app, "mock Dot"),
            shared,
        })
    }
}

/// Controls a running mock Dot. Dropping it stops the server.
pub struct MockDotHandle {
    server: super::server::Running,
    shared: Arc<Shared>,
}

impl MockDotHandle {
    /// Base URL, e.g. `http://127.0.0.1:40124` (no trailing slash).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The last accepted asset per id. An accepted body that our own type cannot hold (e.g. a
    /// negative `view_count`, valid for Dot) is left out; see [`raw_assets`](Self::raw_assets).
    pub fn assets(&self) -> BTreeMap<String, ExternalAsset> {
        lock(&self.shared.assets)
            .iter()
            .filter_map(|(id, raw)| Some((id.clone(), serde_json::from_value(raw.clone()).ok()?)))
            .collect()
    }

    /// The last accepted `external_asset` object per id, exactly as sent.
    pub fn raw_assets(&self) -> BTreeMap<String, Value> {
        lock(&self.shared.assets).clone()
    }

    /// Forgets the accepted assets (as if Dot's catalog were wiped).
    pub fn clear_assets(&self) {
        lock(&self.shared.assets).clear();
    }

    /// Every request to the import route since the start or the last
    /// [`clear_requests`](Self::clear_requests).
    pub fn requests(&self) -> Vec<DotRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many recorded requests were answered 200.
    pub fn accepted_count(&self) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.status == 200)
            .count()
    }

    /// Forgets the recorded requests (not the accepted assets).
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Adds a fault; the first matching fault, in the order set, applies to a request.
    pub fn set_fault(&self, fault: DotFault) {
        if fault.times != Some(0) {
            lock(&self.shared.faults).push(fault);
        }
    }

    /// The most import requests that were being handled at the same time (since the start or
    /// the last [`reset_max_in_flight`](Self::reset_max_in_flight)).
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Restarts the high-water mark of [`max_in_flight`](Self::max_in_flight) from now.
    pub fn reset_max_in_flight(&self) {
        let now = self.shared.in_flight.load(Ordering::SeqCst);
        self.shared.max_in_flight.store(now, Ordering::SeqCst);
    }

    /// Makes every import request fail at random (see [`DotFaultRate`]), reseeding the RNG
    /// with `seed`; replaces any earlier rate fault.
    pub fn set_fault_rate(&self, fault: DotFaultRate, seed: u64) {
        let mut guard = lock(&self.shared.rate_fault);
        let usable = fault.rate > 0.0 && !fault.kinds.is_empty();
        *guard = (usable.then_some(fault), fastrand::Rng::with_seed(seed));
    }

    /// Removes every fault, counted or probabilistic.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
        lock(&self.shared.rate_fault).0 = None;
    }

    /// Stops the server: hanging requests end, open connections close.
    pub fn shutdown(&self) {
        self.server.stop();
    }
}

impl std::fmt::Debug for MockDotHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockDotHandle")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

fn detail(status: StatusCode, detail: impl Into<Value>) -> Response {
    (status, axum::Json(json!({"detail": detail.into()}))).into_response()
}

/// Takes the first fault matching `id`, counting down its remaining uses.
fn take_fault(shared: &Shared, id: Option<&str>) -> Option<DotFaultKind> {
    let mut faults = lock(&shared.faults);
    let Some(index) = faults
        .iter()
        .position(|f| f.id.is_none() || f.id.as_deref() == id)
    else {
        drop(faults);
        let mut guard = lock(&shared.rate_fault);
        let (rate, rng) = &mut *guard;
        let rate = rate.as_ref()?;
        return (rng.f64() < rate.rate).then(|| rate.kinds[rng.usize(..rate.kinds.len())].clone());
    };
    let fault = &mut faults[index];
    let kind = fault.kind.clone();
    if let Some(times) = &mut fault.times {
        *times = times.saturating_sub(1);
        if *times == 0 {
            faults.remove(index);
        }
    }
    Some(kind)
}

/// `Ok` when the request carries valid credentials, else the status and detail to answer.
fn authorized(
    options: &MockDotOptions,
    headers: &HeaderMap,
    query: &str,
) -> Result<(), (StatusCode, &'static str)> {
    let header = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if header == Some(options.api_key.as_str()) {
        return Ok(());
    }
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let (user, token) = (params.get("user_id"), params.get("api_token"));
    if let Some((want_user, want_token)) = &options.query_auth
        && user == Some(want_user)
        && token == Some(want_token)
    {
        return Ok(());
    }
    if header.is_none() && user.is_none() && token.is_none() {
        Err((StatusCode::UNAUTHORIZED, "Not authenticated"))
    } else {
        Err((StatusCode::FORBIDDEN, "Could not validate credentials"))
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path() != IMPORT_PATH {
        return detail(StatusCode::NOT_FOUND, "Not Found");
    }
    if method != Method::POST {
        return detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    let at = Instant::now();
    let _in_flight = InFlight::enter(&shared);
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let id = parsed
        .as_ref()
        .and_then(|b| b.get("external_asset"))
        .and_then(|a| a.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let fault = take_fault(&shared, id.as_deref());
    if let Some(kind) = &fault {
        let mut stop = shared.shutdown.clone();
        let early = match kind {
            DotFaultKind::Status(status) => Some(fault_response(*status, None)),
            DotFaultKind::RetryAfter { status, after } => {
                Some(fault_response(*status, Some(after)))
            }
            DotFaultKind::Hang => {
                record(&shared, id.clone(), parsed.clone(), 0, at);
                let _ = stop.wait_for(|stopped| *stopped).await;
                return detail(StatusCode::SERVICE_UNAVAILABLE, "mock Dot is shutting down");
            }
            DotFaultKind::Delay(delay) => {
                tokio::select! {
                    _ = tokio::time::sleep(*delay) => None,
                    _ = stop.wait_for(|stopped| *stopped) => {
                        Some(detail(StatusCode::SERVICE_UNAVAILABLE, "mock Dot is shutting down"))
                    }
                }
            }
        };
        if let Some(response) = early {
            record(&shared, id, parsed, response.status().as_u16(), at);
            return response;
        }
    }
    let response = import(
        &shared,
        &headers,
        uri.query().unwrap_or_default(),
        parsed.as_ref(),
    );
    record(&shared, id, parsed, response.status().as_u16(), at);
    response
}

fn fault_response(status: u16, retry_after: Option<&String>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = detail(code, code.canonical_reason().unwrap_or("injected fault"));
    if let Some(value) = retry_after.and_then(|a| HeaderValue::from_str(a).ok()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

fn record(shared: &Shared, id: Option<String>, body: Option<Value>, status: u16, at: Instant) {
    lock(&shared.requests).push(DotRequest {
        id,
        body: body.unwrap_or(Value::Null),
        status,
        at,
    });
}

fn import(shared: &Shared, headers: &HeaderMap, query: &str, body: Option<&Value>) -> Response {
    if let Err((status, message)) = authorized(&shared.options, headers, query) {
        return detail(status, message);
    }
    let Some(body) = body else {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}]),
        );
    };
    let errors = validate_import_body(body);
    if !errors.is_empty() {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, Value::Array(errors));
    }
    if let Some(asset) = body.get("external_asset")
        && let Some(id) = asset.get("id").and_then(Value::as_str)
    {
        lock(&shared.assets).insert(id.to_owned(), asset.clone());
    }
    // Dot documents no response schema for this route; an empty object is enough.
    (StatusCode::OK, axum::Json(json!({}))).into_response()
}

/// What a field of `ExternalAsset` must be.
#[derive(Clone, Copy)]
enum Expect {
    String,
    OptionalString,
    Bool,
    OptionalInteger,
}

/// The fields of Dot's `ExternalAsset` schema; only `id` and `subtype` are required.
const FIELDS: [(&str, Expect, bool); 10] = [
    ("id", Expect::String, true),
    ("subtype", Expect::String, true),
    ("folder", Expect::OptionalString, false),
    ("name", Expect::OptionalString, false),
    ("description", Expect::OptionalString, false),
    ("url", Expect::OptionalString, false),
    ("active", Expect::Bool, false),
    ("view_count", Expect::OptionalInteger, false),
    ("last_accessed_at", Expect::OptionalString, false),
    ("dot_description", Expect::OptionalString, false),
];

fn error_entry(loc: &[&str], kind: &str, msg: &str, input: &Value) -> Value {
    let mut loc: Vec<Value> = loc.iter().map(|s| json!(s)).collect();
    loc.insert(0, json!("body"));
    json!({"type": kind, "loc": loc, "msg": msg, "input": input})
}

/// Checks a request body against Dot's schema (`{"external_asset": ExternalAsset}`) and
/// returns FastAPI `detail` entries, empty when valid. Unknown fields are ignored, as
/// pydantic does by default.
pub fn validate_import_body(body: &Value) -> Vec<Value> {
    let Some(body_map) = body.as_object() else {
        return vec![error_entry(
            &[],
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
            body,
        )];
    };
    let Some(asset) = body_map.get("external_asset") else {
        return vec![error_entry(
            &["external_asset"],
            "missing",
            "Field required",
            body,
        )];
    };
    let Some(asset_map): Option<&Map<String, Value>> = asset.as_object() else {
        return vec![error_entry(
            &["external_asset"],
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
            asset,
        )];
    };
    let mut errors = Vec::new();
    for (name, expect, required) in FIELDS {
        let loc = ["external_asset", name];
        let Some(value) = asset_map.get(name) else {
            if required {
                errors.push(error_entry(&loc, "missing", "Field required", asset));
            }
            continue;
        };
        let problem = match (expect, value) {
            (Expect::String, Value::String(_)) => None,
            (Expect::OptionalString, Value::String(_) | Value::Null) => None,
            (Expect::String | Expect::OptionalString, _) => {
                Some(("string_type", "Input should be a valid string"))
            }
            (Expect::Bool, Value::Bool(_)) => None,
            (Expect::Bool, _) => Some(("bool_type", "Input should be a valid boolean")),
            (Expect::OptionalInteger, Value::Null) => None,
            (Expect::OptionalInteger, Value::Number(n)) if n.is_i64() || n.is_u64() => None,
            (Expect::OptionalInteger, _) => Some(("int_type", "Input should be a valid integer")),
        };
        if let Some((kind, msg)) = problem {
            errors.push(error_entry(&loc, kind, msg, value));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::test_client;
    use crate::dot::types::{AssetKind, ImportBody};

    fn asset(id: &str) -> ExternalAsset {
        ExternalAsset {
            id: id.into(),
            subtype: AssetKind::Chart.subtype().into(),
            folder: Some("Jaffle Shop/Sales".into()),
            name: Some("Monthly revenue".into()),
            description: None,
            url: Some("https://lightdash.example.com/projects/p/saved/c/view".into()),
            active: true,
            view_count: Some(3),
            last_accessed_at: None,
            dot_description: Some("# Monthly revenue".into()),
        }
    }

    async fn post(
        client: &reqwest::Client,
        url: &str,
        key: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut request = client.post(format!("{url}{IMPORT_PATH}")).json(body);
        if let Some(key) = key {
            request = request.header("X-API-KEY", key);
        }
        request.send().await.unwrap()
    }

    #[tokio::test]
    async fn accepts_a_valid_body_and_rejects_an_invalid_one() {
        let dot = MockDot::start(MockDotOptions::default()).await.unwrap();
        let client = test_client();
        let body = serde_json::to_value(ImportBody {
            external_asset: asset("lightdash-chart-1"),
        })
        .unwrap();
        let response = post(&client, &dot.url(), Some("demo-dot-key"), &body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            dot.assets()["lightdash-chart-1"],
            asset("lightdash-chart-1")
        );
        assert_eq!(dot.accepted_count(), 1);

        let mut bad = body.clone();
        bad["external_asset"]["view_count"] = json!("3");
        let response = post(&client, &dot.url(), Some("demo-dot-key"), &bad).await;
        assert_eq!(response.status(), 422);
        let detail: Value = response.json().await.unwrap();
        assert_eq!(
            detail["detail"][0]["loc"],
            json!(["body", "external_asset", "view_count"])
        );
        assert_eq!(detail["detail"][0]["type"], "int_type");

        let mut bad = body.clone();
        bad["external_asset"].as_object_mut().unwrap().remove("id");
        bad["external_asset"]["active"] = json!("yes");
        let detail: Value = post(&client, &dot.url(), Some("demo-dot-key"), &bad)
            .await
            .json()
            .await
            .unwrap();
        let types: Vec<&str> = detail["detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["missing", "bool_type"]);
        let response = post(
            &client,
            &dot.url(),
            Some("demo-dot-key"),
            &json!({"asset": {}}),
        )
        .await;
        assert_eq!(response.status(), 422);

        let requests = dot.requests();
        assert_eq!(
            requests.iter().map(|r| r.status).collect::<Vec<_>>(),
            [200, 422, 422, 422]
        );
        assert_eq!(requests[0].id.as_deref(), Some("lightdash-chart-1"));
        assert_eq!(requests[0].body, body);
        assert_eq!(dot.assets().len(), 1, "rejected bodies are not stored");
        dot.clear_requests();
        assert_eq!(dot.accepted_count(), 0);
    }

    #[tokio::test]
    async fn honours_header_and_query_auth() {
        let dot = MockDot::start(MockDotOptions {
            api_key: "k".into(),
            query_auth: Some(("sync@example.com".into(), "t0k".into())),
        })
        .await
        .unwrap();
        let client = test_client();
        let body = serde_json::to_value(ImportBody {
            external_asset: asset("a"),
        })
        .unwrap();
        assert_eq!(post(&client, &dot.url(), None, &body).await.status(), 401);
        assert_eq!(
            post(&client, &dot.url(), Some("wrong"), &body)
                .await
                .status(),
            403
        );
        let url = format!("{}{IMPORT_PATH}", dot.url());
        let query = |token: &str| {
            client
                .post(&url)
                .query(&[("user_id", "sync@example.com"), ("api_token", token)])
                .json(&body)
                .send()
        };
        assert_eq!(query("t0k").await.unwrap().status(), 200);
        assert_eq!(query("nope").await.unwrap().status(), 403);
        assert_eq!(
            post(&client, &dot.url(), Some("k"), &body).await.status(),
            200
        );
        assert_eq!(dot.accepted_count(), 2);
    }

    #[tokio::test]
    async fn rate_faults_are_seeded() {
        let dot = MockDot::start(MockDotOptions::default()).await.unwrap();
        let client = test_client();
        let body = serde_json::to_value(ImportBody {
            external_asset: asset("a"),
        })
        .unwrap();
        let mut runs = Vec::new();
        for _ in 0..2 {
            dot.set_fault_rate(
                DotFaultRate {
                    rate: 0.3,
                    kinds: vec![DotFaultKind::Status(429), DotFaultKind::Status(503)],
                },
                5,
            );
            let mut statuses = Vec::new();
            for _ in 0..50 {
                let response = post(&client, &dot.url(), Some("demo-dot-key"), &body).await;
                statuses.push(response.status().as_u16());
            }
            runs.push(statuses);
        }
        assert_eq!(runs[0], runs[1], "same seed, same faults");
        let failed = runs[0].iter().filter(|s| **s != 200).count();
        assert!((5..=25).contains(&failed), "about 30 % fail: {failed}");
        dot.clear_faults();
        let response = post(&client, &dot.url(), Some("demo-dot-key"), &body).await;
        assert_eq!(response.status(), 200);
    }

    #[tokio::test]
    async fn faults_target_ids_and_run_out() {
        let dot = MockDot::start(MockDotOptions::default()).await.unwrap();
        let client = test_client();
        dot.set_fault(DotFault {
            id: Some("b".into()),
            kind: DotFaultKind::RetryAfter {
                status: 429,
                after: "2".into(),
            },
            times: Some(1),
        });
        let a = serde_json::to_value(ImportBody {
            external_asset: asset("a"),
        })
        .unwrap();
        let b = serde_json::to_value(ImportBody {
            external_asset: asset("b"),
        })
        .unwrap();
        assert_eq!(
            post(&client, &dot.url(), Some("demo-dot-key"), &a)
                .await
                .status(),
            200
        );
        let limited = post(&client, &dot.url(), Some("demo-dot-key"), &b).await;
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()[RETRY_AFTER], "2");
        assert_eq!(
            post(&client, &dot.url(), Some("demo-dot-key"), &b)
                .await
                .status(),
            200
        );

        dot.set_fault(DotFault {
            id: None,
            kind: DotFaultKind::Status(502),
            times: None,
        });
        assert_eq!(
            post(&client, &dot.url(), Some("demo-dot-key"), &a)
                .await
                .status(),
            502
        );
        dot.clear_faults();
        dot.set_fault(DotFault {
            id: None,
            kind: DotFaultKind::Hang,
            times: Some(1),
        });
        let hung = client
            .post(format!("{}{IMPORT_PATH}", dot.url()))
            .header("X-API-KEY", "demo-dot-key")
            .json(&a)
            .timeout(Duration::from_millis(200))
            .send()
            .await;
        assert!(hung.unwrap_err().is_timeout());
        assert_eq!(
            dot.requests().iter().map(|r| r.status).collect::<Vec<_>>(),
            [200, 429, 200, 502, 0]
        );
        assert_eq!(dot.assets().len(), 2);
    }
}
