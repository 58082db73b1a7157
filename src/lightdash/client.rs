//! The Lightdash HTTP client (I/O). Speaks the protocol: auth header, `{status, results}`
//! envelope and error envelope, HTML-200 detection, rate limit, retries, and the two
//! generations of content-as-code routes with their paging. No business rules: which items
//! to fetch is decided by the caller.
//!
//! Safety rules: redirects are followed within the configured origin only (never to another
//! host or to http); every id from Lightdash enters a URL as one percent-encoded path segment
//! (see [`api_path`]); bodies are read up to `lightdash.max_response_mib` after
//! decompression; text from error answers is scrubbed of the token and of terminal control
//! sequences.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use url::Url;

use super::listing::{Listing, ListingBuilder, ListingItem, decode_item};
use super::stream::{self, ChannelReader};
use super::types::{
    AsCodePage, ChartDetails, ChartSummary, DashboardDetails, DashboardSummary, DeletedContent,
    Explore, Health, Paginated, ParameterDefinitions, Project, SpaceSummary, VerifiedContent,
};
use crate::http::{self, BodyError, Limiter, Redirects, RetryDecision};
use crate::redact::Redactor;
use crate::stats::ApiCounters;

/// Default cap on one decompressed answer (`lightdash.max_response_mib`): far above the
/// largest listing we have seen (tens of MB for 50,000 charts), far below what would take a
/// host down.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;

/// Attempts per Lightdash request (the first included). Lightdash is read-only for us, so a
/// failed cycle is simply retried at the next tick; a few quick retries ride out blips. The
/// daemon's liveness bound counts on it.
pub const MAX_ATTEMPTS: u32 = 3;

/// Ids per as-code request: the server's default page size, and a URL well under 8 KiB.
pub const AS_CODE_BATCH: usize = 100;

/// What went wrong talking to Lightdash. Messages name the route, never the token.
#[derive(Debug, thiserror::Error)]
pub enum LightdashError {
    /// 401: the token is missing, wrong, expired, or PATs are disabled.
    #[error(
        "Lightdash rejected the token on {route} (401 {name}: {message}); check lightdash.api_key_file / api_key"
    )]
    Unauthorized {
        /// Path requested.
        route: String,
        /// `error.name`.
        name: String,
        /// `error.message`.
        message: String,
    },
    /// 403: the token's user may not do this.
    #[error("Lightdash denied access to {route} (403 {name}: {message})")]
    Forbidden {
        /// Path requested.
        route: String,
        /// `error.name`.
        name: String,
        /// `error.message`.
        message: String,
    },
    /// 404.
    #[error("{route} not found on Lightdash (404 {name}: {message})")]
    NotFound {
        /// Path requested.
        route: String,
        /// `error.name`.
        name: String,
        /// `error.message`.
        message: String,
    },
    /// Any other non-2xx status, after retries where they apply.
    #[error("Lightdash answered {status} on {route} ({name}: {message})")]
    Status {
        /// Path requested.
        route: String,
        /// HTTP status.
        status: u16,
        /// `error.name`, or empty.
        name: String,
        /// `error.message`, or the start of the body.
        message: String,
    },
    /// A 2xx that is not JSON: the SPA's `index.html` served for a route this server lacks.
    #[error(
        "Lightdash answered {route} with HTML, not JSON (a route this Lightdash version does not have, or a proxy login page)"
    )]
    Html {
        /// Path requested.
        route: String,
    },
    /// A JSON body that is not the envelope or whose `results` do not have the expected shape.
    #[error("Lightdash's answer on {route} is not the expected JSON: {source}")]
    Decode {
        /// Path requested.
        route: String,
        /// Why it did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A redirect to another origin (host, port or scheme, including https→http), or past
    /// the same-origin hop limit: not followed, so the token stays with the configured
    /// Lightdash.
    #[error(
        "Lightdash answered {route} with {status} redirecting to {location}; only redirects within lightdash.url's scheme, host and port are followed (at most 5), so set lightdash.url to the address Lightdash really answers on"
    )]
    Redirect {
        /// Path requested.
        route: String,
        /// HTTP status.
        status: u16,
        /// The target, without query or credentials.
        location: String,
    },
    /// The decompressed answer exceeds `lightdash.max_response_mib`.
    #[error(
        "Lightdash's answer on {route} is larger than {limit_mib} MiB after decompression; raise lightdash.max_response_mib if this project really is that large"
    )]
    TooLarge {
        /// Path requested.
        route: String,
        /// The cap in MiB.
        limit_mib: u64,
    },
    /// An id from Lightdash that cannot be one path segment (empty, `.` or `..`).
    #[error(
        "the Lightdash id {id:?} cannot be used as a URL path segment; the request was not sent"
    )]
    InvalidId {
        /// The id, control characters removed.
        id: String,
    },
    /// Connect, TLS, reset or timeout, after retries. The message carries the whole cause
    /// chain (DNS, refused, certificate, timeout), not just "error sending request".
    #[error("request to Lightdash {route} failed: {}", crate::cause::chain(source))]
    Transport {
        /// Path requested.
        route: String,
        /// The transport error (URL stripped).
        #[source]
        source: reqwest::Error,
    },
}

impl LightdashError {
    /// Whether this answer means "this route is not usable here" (missing role, missing route,
    /// old server), so the caller should use the legacy per-item routes instead.
    pub fn means_route_unavailable(&self) -> bool {
        matches!(
            self,
            LightdashError::Forbidden { .. }
                | LightdashError::NotFound { .. }
                | LightdashError::Html { .. }
        )
    }

    /// HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            LightdashError::Unauthorized { .. } => Some(401),
            LightdashError::Forbidden { .. } => Some(403),
            LightdashError::NotFound { .. } => Some(404),
            LightdashError::Status { status, .. } => Some(*status),
            LightdashError::Html { .. }
            | LightdashError::Decode { .. }
            | LightdashError::TooLarge { .. } => Some(200),
            LightdashError::Redirect { status, .. } => Some(*status),
            LightdashError::Transport { .. } | LightdashError::InvalidId { .. } => None,
        }
    }
}

/// Which generation of as-code routes this server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AsCodeRoutes {
    /// `/code/charts` (newest).
    New,
    /// `/charts/code` (0.14xx to 2026; deprecated).
    Old,
    /// Neither (old server, or the token lacks the developer role).
    Unavailable,
}

/// Items of one as-code kind, with the ids the server did not find.
#[derive(Debug, Default)]
pub struct AsCodeBatch {
    /// Raw items, decoded one by one by the caller so one malformed item fails only itself.
    pub items: Vec<Box<RawValue>>,
    /// Requested ids the server did not find.
    pub missing_ids: Vec<String>,
}

/// The Lightdash client. Cheap to clone.
#[derive(Clone)]
pub struct LightdashClient {
    http: reqwest::Client,
    base: Url,
    auth: Arc<SecretString>,
    limiter: Limiter,
    counters: Arc<ApiCounters>,
    as_code: Arc<Mutex<Option<AsCodeRoutes>>>,
    /// SQL charts probe on their own: a server may have chart routes but no SQL-chart ones.
    sql_as_code: Arc<Mutex<Option<AsCodeRoutes>>>,
    warned: Arc<Mutex<HashSet<String>>>,
    redactor: Arc<Redactor>,
    max_response_bytes: u64,
}

impl std::fmt::Debug for LightdashClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightdashClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// The `Authorization` header value for a token: `Bearer` for service-account tokens
/// (`ldsvc_`), `ApiKey` for personal access tokens.
pub fn auth_header(token: &str) -> String {
    if token.starts_with("ldsvc_") {
        format!("Bearer {token}")
    } else {
        format!("ApiKey {token}")
    }
}

impl LightdashClient {
    /// A client for the Lightdash at `base`.
    pub fn new(
        base: Url,
        token: &SecretString,
        requests_per_second: f64,
        timeout: Duration,
        counters: Arc<ApiCounters>,
    ) -> Self {
        Self {
            http: http::build_client(timeout, Redirects::SameOrigin),
            base,
            redactor: Arc::new(Redactor::new([token])),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            auth: Arc::new(SecretString::from(auth_header(token.expose_secret()))),
            limiter: http::limiter(requests_per_second),
            counters,
            as_code: Arc::new(Mutex::new(None)),
            sql_as_code: Arc::new(Mutex::new(None)),
            warned: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// A client for the configured Lightdash.
    pub fn from_settings(
        settings: &crate::config::LightdashSettings,
        counters: Arc<ApiCounters>,
    ) -> Self {
        Self::new(
            settings.url.clone(),
            &settings.api_key,
            settings.requests_per_second,
            settings.timeout,
            counters,
        )
        .with_max_response_bytes(settings.max_response_bytes)
    }

    /// Caps each decompressed answer at `bytes` (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn with_max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes.max(1);
        self
    }

    /// Forgets which as-code routes work, so the next detail fetch probes again (the server
    /// may have been upgraded, or the token's role changed).
    pub fn reset_route_probe(&self) {
        *self.as_code.lock().expect("route probe lock") = None;
        *self.sql_as_code.lock().expect("route probe lock") = None;
    }

    fn probe(&self, kind: &str) -> &Mutex<Option<AsCodeRoutes>> {
        if kind == SQL_CHARTS {
            &self.sql_as_code
        } else {
            &self.as_code
        }
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let base_path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base_path}{path}"));
        url
    }

    /// GET `path` and decode `results` as `T`, with rate limit and retries. `route` is the
    /// label used in metrics (a path template, never containing ids). The body is read
    /// whole (up to `lightdash.max_response_mib`): for answers of one object or a page;
    /// listings stream instead ([`Self::listing`]).
    async fn get<T: DeserializeOwned>(
        &self,
        route: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, LightdashError> {
        let this = self;
        let (status, body) = self
            .request(route, path, query, move |answer| async move {
                this.read_json_body(path, answer).await
            })
            .await?;
        decode_envelope(path, status, &body).map_err(|e| self.scrub_error(e))
    }

    /// Sends GET `path` with rate limit and retries, and hands each 2xx answer to `read`.
    /// Non-2xx answers become errors here. An error from `read` is retried like a failed
    /// request when it is a transport error (a body cut short); so `read` must report what
    /// must not be retried (a decoded error envelope) inside its `Ok`.
    async fn request<R, F, Fut>(
        &self,
        route: &'static str,
        path: &str,
        query: &[(&str, String)],
        read: F,
    ) -> Result<R, LightdashError>
    where
        F: Fn(Answer) -> Fut,
        Fut: Future<Output = Result<R, LightdashError>>,
    {
        let mut attempt = 0;
        loop {
            http::wait_for(&self.limiter).await;
            let result = match self.get_once(route, path, query).await {
                Ok((answer, retry_after)) => read(answer).await.map_err(|e| (e, retry_after)),
                Err(e) => Err(e),
            };
            attempt += 1;
            let (error, retry_after) = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let status = error.status();
            let retryable = match &error {
                LightdashError::Html { .. }
                | LightdashError::Decode { .. }
                | LightdashError::Redirect { .. }
                | LightdashError::TooLarge { .. }
                | LightdashError::InvalidId { .. } => false,
                _ => http::classify(status) == RetryDecision::Retry,
            };
            if !retryable || attempt >= MAX_ATTEMPTS {
                return Err(error);
            }
            let wait = http::backoff(attempt - 1, retry_after, fastrand::f64());
            tracing::debug!(
                path,
                attempt,
                ?status,
                wait_ms = wait.as_millis() as u64,
                "retrying Lightdash request"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One request: the 2xx answer with its body unread (and `Retry-After`, for a body cut
    /// short), or the error for any other answer.
    async fn get_once(
        &self,
        route: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(Answer, Option<Duration>), (LightdashError, Option<Duration>)> {
        let mut auth = HeaderValue::from_str(self.auth.expose_secret()).map_err(|_| {
            (
                LightdashError::Unauthorized {
                    route: path.to_owned(),
                    name: "InvalidToken".into(),
                    message: "the token contains characters not allowed in a header".into(),
                },
                None,
            )
        })?;
        auth.set_sensitive(true);
        let response = self
            .http
            .get(self.url(path))
            .query(query)
            .header(AUTHORIZATION, auth)
            .send()
            .await;
        let response = response.map_err(|e| {
            self.counters.record(route, "error");
            let source = e.without_url();
            let route = path.to_owned();
            (LightdashError::Transport { route, source }, None)
        })?;
        let status = response.status().as_u16();
        self.counters.record(route, &status.to_string());
        if response.status().is_redirection() {
            // Only redirects the client would not follow (another origin) end up here.
            return Err((
                LightdashError::Redirect {
                    route: path.to_owned(),
                    status,
                    location: self.redactor.scrub(&http::redirect_target(&response)),
                },
                None,
            ));
        }
        self.warn_deprecation(route, response.headers());
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| http::parse_retry_after(v, SystemTime::now()));
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        if (200..300).contains(&status) {
            let answer = Answer {
                response,
                status,
                is_json,
            };
            return Ok((answer, retry_after));
        }
        let body = http::read_capped(response, self.max_response_bytes)
            .await
            .map_err(|e| (self.body_error(path, e), retry_after))?;
        Err((self.error_answer(path, status, &body), retry_after))
    }

    fn body_error(&self, path: &str, error: BodyError) -> LightdashError {
        match error {
            BodyError::TooLarge(cap) => LightdashError::TooLarge {
                route: path.to_owned(),
                limit_mib: cap.div_ceil(1024 * 1024),
            },
            BodyError::Transport(source) => LightdashError::Transport {
                route: path.to_owned(),
                source,
            },
        }
    }

    /// The whole body of a 2xx answer, checked to be JSON.
    async fn read_json_body(
        &self,
        path: &str,
        answer: Answer,
    ) -> Result<(u16, bytes::Bytes), LightdashError> {
        let Answer {
            response,
            status,
            is_json,
        } = answer;
        let body = http::read_capped(response, self.max_response_bytes)
            .await
            .map_err(|e| self.body_error(path, e))?;
        // Checking that the body is JSON at all needs no allocation; decoding happens once,
        // straight into the target type.
        if !is_json && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
            return Err(LightdashError::Html {
                route: path.to_owned(),
            });
        }
        Ok((status, body))
    }

    /// Decodes a 2xx listing as its body arrives: the chunks go through a bounded channel
    /// to a blocking task that parses the envelope and decodes each item of `results` into
    /// `T` at once ([`stream::decode_list_envelope`], [`ListingBuilder`]). The outer `Err` is
    /// a body that could not be read (retried like a failed request when it is a transport
    /// error); the inner one is the decoded answer's (error envelope, not JSON, HTML).
    ///
    /// Dropping the future (a stop) drops the response, which closes the connection, and the
    /// channel, which ends the blocking task at its next read.
    async fn read_listing<T: ListingItem + Send + 'static>(
        &self,
        path: &str,
        answer: Answer,
    ) -> Result<Result<Listing<T>, LightdashError>, LightdashError> {
        let Answer {
            mut response,
            status,
            is_json,
        } = answer;
        let cap = self.max_response_bytes;
        if response.content_length().is_some_and(|n| n > cap) {
            return Err(self.body_error(path, BodyError::TooLarge(cap)));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        let route = path.to_owned();
        let decoder = tokio::task::spawn_blocking(move || {
            let mut builder = ListingBuilder::<T>::new(&route);
            stream::decode_list_envelope(ChannelReader::new(rx), |raw| builder.push(raw))
                .map(|envelope| (envelope, builder))
        });
        pump(&mut response, cap, tx)
            .await
            .map_err(|e| self.body_error(path, e))?;
        drop(response);
        let decoded = match decoder.await {
            Ok(decoded) => decoded,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(serde::de::Error::custom("the decoding task was cancelled")),
        };
        Ok(match decoded {
            Err(e) if !is_json && (stream::is_syntax(&e) || e.is_eof()) => {
                Err(LightdashError::Html {
                    route: path.to_owned(),
                })
            }
            Err(e) => Err(LightdashError::Decode {
                route: path.to_owned(),
                // serde quotes the text it chokes on: scrubbed like any echo of the server.
                source: serde::de::Error::custom(self.redactor.scrub(&e.to_string())),
            }),
            Ok((envelope, builder)) => self.listing_answer(path, status, envelope, builder),
        })
    }

    /// A streamed envelope as the listing or the error it carries.
    fn listing_answer<T: ListingItem>(
        &self,
        path: &str,
        status: u16,
        envelope: stream::Envelope,
        builder: ListingBuilder<T>,
    ) -> Result<Listing<T>, LightdashError> {
        let decode = |why: String| LightdashError::Decode {
            route: path.to_owned(),
            source: serde::de::Error::custom(why),
        };
        if !envelope.is_ok() {
            let error = envelope
                .error
                .map(|error| serde_json::json!({ "error": error }))
                .and_then(|value| envelope_error(path, status, &value));
            return Err(match error {
                Some(e) => self.scrub_error(e),
                None => decode("missing `status: \"ok\"` envelope".into()),
            });
        }
        match envelope.results {
            stream::Results::List => Ok(builder.finish()),
            stream::Results::Missing | stream::Results::Null => {
                Err(decode("`results` is missing or null".into()))
            }
            stream::Results::NotAList(what) => Err(decode(format!(
                "`results` is {what}, expected a list of items"
            ))),
        }
    }

    /// The error for a non-2xx answer: the error envelope when there is one, else the start
    /// of the body; scrubbed either way.
    fn error_answer(&self, path: &str, status: u16, body: &[u8]) -> LightdashError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed
            .as_ref()
            .and_then(|v| envelope_error(path, status, v))
            .unwrap_or_else(|| {
                // Scrubbed whole before it is shortened, so no piece of a secret survives.
                let text = self.redactor.scrub(&String::from_utf8_lossy(body));
                let snippet: String = text.trim().chars().take(200).collect();
                status_error(path, status, String::new(), snippet)
            });
        self.scrub_error(error)
    }

    /// Scrubs the server's words (`error.name`, `error.message`) in an error.
    fn scrub_error(&self, mut error: LightdashError) -> LightdashError {
        if let LightdashError::Unauthorized { name, message, .. }
        | LightdashError::Forbidden { name, message, .. }
        | LightdashError::NotFound { name, message, .. }
        | LightdashError::Status { name, message, .. } = &mut error
        {
            *name = self.redactor.scrub(name);
            *message = self.redactor.scrub(message);
        }
        error
    }

    fn warn_deprecation(&self, route: &str, headers: &reqwest::header::HeaderMap) {
        let deprecation = headers
            .get("deprecation")
            .or_else(|| headers.get("warning"))
            .and_then(|v| v.to_str().ok());
        if let Some(text) = deprecation
            && self
                .warned
                .lock()
                .expect("warned lock")
                .insert(route.to_owned())
        {
            let sunset = headers
                .get("sunset")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::warn!(
                route,
                deprecation = %self.redactor.scrub(text),
                sunset = %self.redactor.scrub(sunset),
                "Lightdash marks this route as deprecated"
            );
        }
    }

    /// `GET /api/v1/health`.
    pub async fn health(&self) -> Result<Health, LightdashError> {
        self.get("health", "/api/v1/health", &[]).await
    }

    /// GET a listing and decode it item by item as it arrives ([`Self::read_listing`]): a
    /// bad item is skipped and named (logged; in [`Listing::undecodable`] for the caller), a
    /// duplicated uuid keeps one copy ([`ListingBuilder`]) and is logged once per process.
    /// Peak memory is the decoded items plus one raw item and a few chunks in flight.
    async fn listing<T: ListingItem + Send + 'static>(
        &self,
        route: &'static str,
        path: &str,
    ) -> Result<Listing<T>, LightdashError> {
        let this = self;
        let mut listing = self
            .request(route, path, &[], move |answer| async move {
                this.read_listing::<T>(path, answer).await
            })
            .await??;
        for bad in &mut listing.undecodable {
            // serde quotes the value it rejects.
            bad.error = self.redactor.scrub(&bad.error);
        }
        for bad in &listing.undecodable {
            tracing::warn!(route = path, uuid = bad.uuid.as_deref().unwrap_or(""), index = bad.index, error = %bad.error, "skipping a Lightdash listing item that is not the expected JSON; only that asset fails");
        }
        for uuid in &listing.duplicates {
            if self
                .warned
                .lock()
                .expect("warned lock")
                .insert(format!("duplicate {path} {uuid}"))
            {
                tracing::warn!(route = path, uuid = %uuid, "Lightdash listed this uuid more than once; keeping the most recently updated copy (logged once)");
            }
        }
        Ok(listing)
    }

    /// `GET /api/v1/org/projects`, item by item.
    pub async fn projects(&self) -> Result<Listing<Project>, LightdashError> {
        self.listing("projects", "/api/v1/org/projects").await
    }

    /// `GET /api/v1/projects/{p}/spaces`, item by item.
    pub async fn spaces(&self, project: &str) -> Result<Listing<SpaceSummary>, LightdashError> {
        let path = api_path(&["projects", project, "spaces"])?;
        self.listing("spaces", &path).await
    }

    /// `GET /api/v1/projects/{p}/dashboards`, item by item.
    pub async fn dashboards(
        &self,
        project: &str,
    ) -> Result<Listing<DashboardSummary>, LightdashError> {
        let path = api_path(&["projects", project, "dashboards"])?;
        self.listing("dashboards", &path).await
    }

    /// `GET /api/v1/projects/{p}/charts`, item by item.
    pub async fn charts(&self, project: &str) -> Result<Listing<ChartSummary>, LightdashError> {
        let path = api_path(&["projects", project, "charts"])?;
        self.listing("charts", &path).await
    }

    /// `GET /api/v1/projects/{p}/explores/{name}`.
    pub async fn explore(&self, project: &str, name: &str) -> Result<Explore, LightdashError> {
        let path = api_path(&["projects", project, "explores", name])?;
        self.get("explore", &path, &[]).await
    }

    /// `GET /api/v1/saved/{uuid}`: one chart through the legacy route.
    pub async fn saved_chart(&self, uuid: &str) -> Result<ChartDetails, LightdashError> {
        let path = api_path(&["saved", uuid])?;
        self.get("saved_chart", &path, &[]).await
    }

    /// `GET /api/v1/dashboards/{uuid}`: one dashboard through the legacy route. Lightdash
    /// RECORDS A VIEW for every call, so call it only for dashboards that changed.
    pub async fn dashboard(&self, uuid: &str) -> Result<DashboardDetails, LightdashError> {
        let path = api_path(&["dashboards", uuid])?;
        self.get("dashboard", &path, &[]).await
    }

    /// Charts as code for these ids (uuids or slugs). `Err` with
    /// [`LightdashError::means_route_unavailable`] when neither route generation is usable.
    pub async fn charts_as_code(
        &self,
        project: &str,
        ids: &[String],
    ) -> Result<AsCodeBatch, LightdashError> {
        self.as_code(project, "charts", ids).await
    }

    /// Dashboards as code for these ids (uuids or slugs); see [`Self::charts_as_code`].
    pub async fn dashboards_as_code(
        &self,
        project: &str,
        ids: &[String],
    ) -> Result<AsCodeBatch, LightdashError> {
        self.as_code(project, "dashboards", ids).await
    }

    /// Charts as code for these ids, each item decoded as it arrives (one malformed item
    /// fails only itself); keyed by slug. Memory stays at one page of raw JSON at a time.
    pub async fn charts_as_code_decoded<T: DeserializeOwned>(
        &self,
        project: &str,
        ids: &[String],
    ) -> Result<AsCodeDecoded<T>, LightdashError> {
        self.as_code(project, "charts", ids).await
    }

    /// Dashboards as code, decoded page by page; see [`Self::charts_as_code_decoded`].
    pub async fn dashboards_as_code_decoded<T: DeserializeOwned>(
        &self,
        project: &str,
        ids: &[String],
    ) -> Result<AsCodeDecoded<T>, LightdashError> {
        self.as_code(project, "dashboards", ids).await
    }

    /// SQL-runner charts as code (`/code/sqlCharts`, older `/sqlCharts/code`;
    /// `ProjectCoderController.ts`, results key `sqlCharts`), decoded page by page and keyed by
    /// slug; see [`Self::charts_as_code_decoded`]. Probed separately from the chart routes.
    pub async fn sql_charts_as_code_decoded<T: DeserializeOwned>(
        &self,
        project: &str,
        ids: &[String],
    ) -> Result<AsCodeDecoded<T>, LightdashError> {
        self.as_code(project, SQL_CHARTS, ids).await
    }

    /// `GET /api/v1/projects/{p}/sqlRunner/saved/{uuid}`: one SQL-runner chart (`SqlChart`,
    /// `packages/common/src/types/sqlRunner.ts`), for tokens without the developer role and
    /// servers without SQL charts as code.
    pub async fn sql_chart(
        &self,
        project: &str,
        uuid: &str,
    ) -> Result<ChartDetails, LightdashError> {
        let path = api_path(&["projects", project, "sqlRunner", "saved", uuid])?;
        self.get("sql_chart", &path, &[]).await
    }

    /// `GET /api/v1/projects/{p}/sqlRunner/saved/slug/{slug}`: one SQL-runner chart by slug
    /// (`SqlRunnerController.getSavedSqlChartBySlug`), for as-code `sql_chart` tiles, which
    /// name their chart by slug only.
    pub async fn sql_chart_by_slug(
        &self,
        project: &str,
        slug: &str,
    ) -> Result<ChartDetails, LightdashError> {
        let path = api_path(&["projects", project, "sqlRunner", "saved", "slug", slug])?;
        self.get("sql_chart", &path, &[]).await
    }

    /// `GET /api/v1/projects/{p}`: `Ok` while the project exists. A 404 here, while the
    /// organisation's projects list fine, is Lightdash confirming the project was deleted.
    pub async fn project(&self, project: &str) -> Result<(), LightdashError> {
        let path = api_path(&["projects", project])?;
        let _: serde::de::IgnoredAny = self.get("project", &path, &[]).await?;
        Ok(())
    }

    /// The project's trash: `GET /api/v2/content/deleted?projectUuids=…` (`ContentController`
    /// v2, `ApiDeletedContentResponse` in `packages/common/src/types/softDelete.ts`), every
    /// page. `Ok(None)` when this server or token has no trash route (404, HTML, 403), so
    /// callers keep their behaviour for servers without a trash.
    pub async fn deleted_content(
        &self,
        project: &str,
    ) -> Result<Option<Vec<DeletedContent>>, LightdashError> {
        let mut out = Vec::new();
        let mut page = 1u64;
        loop {
            let query = [
                ("projectUuids", project.to_owned()),
                ("page", page.to_string()),
                ("pageSize", TRASH_PAGE_SIZE.to_string()),
            ];
            let result: Result<Paginated<DeletedContent>, _> = self
                .get("deleted_content", "/api/v2/content/deleted", &query)
                .await;
            let answer = match result {
                Ok(a) => a,
                Err(e) if e.means_route_unavailable() => {
                    tracing::debug!(project, error = %e, "no trash route; deletions are not confirmed by Lightdash");
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let got = answer.data.len();
            out.extend(answer.data);
            let pages = answer.pagination.map(|p| p.total_page_count).unwrap_or(0);
            // A server that ignores paging answers everything at once; one that does not
            // advance would loop: stop on an empty page as well.
            if page >= pages || got == 0 || page >= MAX_TRASH_PAGES {
                return Ok(Some(out));
            }
            page += 1;
        }
    }

    /// `GET /api/v2/projects/{p}/parameters`: the project's parameter definitions
    /// (`ParametersController`). `Ok(None)` when the server or token has no such route.
    pub async fn parameter_definitions(
        &self,
        project: &str,
    ) -> Result<Option<ParameterDefinitions>, LightdashError> {
        let path = api_path_in("/api/v2", &["projects", project, "parameters"])?;
        match self.get("parameters", &path, &[]).await {
            Ok(defs) => Ok(Some(defs)),
            Err(e) if e.means_route_unavailable() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/v1/projects/{p}/content-verification` (newest servers, developer role;
    /// `ApiVerifiedContentListResponse` in `packages/common/src/types/contentVerification.ts`).
    /// `Ok(None)` when the route is not there for this server or token.
    pub async fn verified_content(
        &self,
        project: &str,
    ) -> Result<Option<Vec<VerifiedContent>>, LightdashError> {
        let path = api_path(&["projects", project, "content-verification"])?;
        match self.get("content_verification", &path, &[]).await {
            Ok(list) => Ok(Some(list)),
            Err(e) if e.means_route_unavailable() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn as_code<A: AsCodeSink>(
        &self,
        project: &str,
        kind: &'static str,
        ids: &[String],
    ) -> Result<A, LightdashError> {
        if ids.is_empty() {
            return Ok(A::default());
        }
        let known = *self.probe(kind).lock().expect("route probe lock");
        let order: &[AsCodeRoutes] = match known {
            Some(AsCodeRoutes::New) => &[AsCodeRoutes::New],
            Some(AsCodeRoutes::Old) => &[AsCodeRoutes::Old],
            Some(AsCodeRoutes::Unavailable) => &[],
            None => &[AsCodeRoutes::New, AsCodeRoutes::Old],
        };
        let mut last_error = None;
        for &generation in order {
            let path = match generation {
                AsCodeRoutes::New => api_path(&["projects", project, "code", kind])?,
                _ => api_path(&["projects", project, kind, "code"])?,
            };
            // Results of a generation that fails half-way are dropped with it.
            let mut batch = A::default();
            let mut failed = None;
            for chunk in ids.chunks(AS_CODE_BATCH) {
                match self.as_code_pages(&path, kind, chunk, &mut batch).await {
                    Ok(()) => {}
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match failed {
                None => {
                    *self.probe(kind).lock().expect("route probe lock") = Some(generation);
                    return Ok(batch);
                }
                Some(e) if e.means_route_unavailable() => {
                    tracing::debug!(path, error = %e, "as-code route unavailable");
                    last_error = Some(e);
                }
                Some(e) => return Err(e),
            }
        }
        *self.probe(kind).lock().expect("route probe lock") = Some(AsCodeRoutes::Unavailable);
        Err(last_error.unwrap_or_else(|| LightdashError::NotFound {
            route: api_path(&["projects", project, "code", kind]).unwrap_or_default(),
            name: "Unavailable".into(),
            message: "content-as-code routes are unavailable for this token".into(),
        }))
    }

    /// Pages through one as-code request: `offset` in the answer is where the next page
    /// starts; stop when it reaches `total` (exactly as the Lightdash CLI does).
    async fn as_code_pages<A: AsCodeSink>(
        &self,
        path: &str,
        kind: &'static str,
        ids: &[String],
        out: &mut A,
    ) -> Result<(), LightdashError> {
        let route = match kind {
            "charts" => "charts_as_code",
            SQL_CHARTS => "sql_charts_as_code",
            _ => "dashboards_as_code",
        };
        let mut offset = 0u64;
        loop {
            let mut query: Vec<(&str, String)> = ids.iter().map(|id| ("ids", id.clone())).collect();
            query.push(("offset", offset.to_string()));
            // Raw items: one nested deeper than serde's limit fails alone, not its page.
            let page: AsCodePage<Box<RawValue>> = self.get(route, path, &query).await?;
            let items = match kind {
                "charts" => page.charts,
                SQL_CHARTS => page.sql_charts,
                _ => page.dashboards,
            };
            let got = items.len();
            out.add_page(items, page.missing_ids);
            // A server that does not advance would loop forever: stop instead.
            if page.offset >= page.total || page.offset <= offset || got == 0 {
                return Ok(());
            }
            offset = page.offset;
        }
    }
}

/// The as-code kind of SQL-runner charts (path segment and results key `sqlCharts`).
const SQL_CHARTS: &str = "sqlCharts";

/// Body chunks buffered between the connection and a listing's decoder: enough to keep
/// both busy, few enough that a fast server cannot fill memory ahead of the parser.
const CHUNKS_IN_FLIGHT: usize = 4;

/// A 2xx answer whose body is still to be read.
struct Answer {
    response: reqwest::Response,
    status: u16,
    is_json: bool,
}

/// Forwards the body's chunks to a listing's decoder, up to `cap` bytes in total (after
/// decompression). Stops early, without error, when the decoder has stopped reading (it
/// failed, and its error says why).
async fn pump(
    response: &mut reqwest::Response,
    cap: u64,
    tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
) -> Result<(), BodyError> {
    let mut total = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Transport(e.without_url()))?
    {
        total += chunk.len() as u64;
        if total > cap {
            return Err(BodyError::TooLarge(cap));
        }
        if tx.send(chunk).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Items per trash page asked for.
const TRASH_PAGE_SIZE: u64 = 100;

/// Trash pages read at most per project and cycle (a runaway server must not loop forever).
const MAX_TRASH_PAGES: u64 = 1000;

/// Where as-code pages go as they arrive.
pub trait AsCodeSink: Default {
    /// One page's items and `missingIds`.
    fn add_page(&mut self, items: Vec<Box<RawValue>>, missing_ids: Vec<String>);
}

fn add_missing(all: &mut Vec<String>, page: Vec<String>) {
    // `missingIds` refers to the whole request and can come back on every page: keep each id
    // once.
    for id in page {
        if !all.contains(&id) {
            all.push(id);
        }
    }
}

impl AsCodeSink for AsCodeBatch {
    fn add_page(&mut self, items: Vec<Box<RawValue>>, missing_ids: Vec<String>) {
        self.items.extend(items);
        add_missing(&mut self.missing_ids, missing_ids);
    }
}

/// As-code items decoded page by page, keyed by slug.
#[derive(Debug)]
pub struct AsCodeDecoded<T> {
    /// Items that decoded, by slug.
    pub items: BTreeMap<String, T>,
    /// Items that did not, by slug (or position), with why.
    pub bad: Vec<(String, serde_json::Error)>,
    /// Requested ids the server did not find.
    pub missing_ids: Vec<String>,
}

impl<T> Default for AsCodeDecoded<T> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
            bad: Vec::new(),
            missing_ids: Vec::new(),
        }
    }
}

impl<T: DeserializeOwned> AsCodeSink for AsCodeDecoded<T> {
    fn add_page(&mut self, items: Vec<Box<RawValue>>, missing_ids: Vec<String>) {
        let (ok, bad) = decode_items::<T>(items);
        self.items.extend(ok);
        self.bad.extend(bad);
        add_missing(&mut self.missing_ids, missing_ids);
    }
}

/// `/api/v1/<segments>` with every segment percent-encoded on its own: ids, slugs and explore
/// names come from Lightdash (user-controlled strings), so a `/`, `?`, `#` or `%` in one stays
/// inside its segment (`%2e%2e` is sent as `%252e%252e`). `.` and `..` cannot be made safe
/// as a segment (URL parsers resolve them, encoded or not) and are refused, as are empty
/// ones, so no id can climb out of `/api/v1/projects/` with the token.
pub fn api_path(segments: &[&str]) -> Result<String, LightdashError> {
    api_path_in("/api/v1", segments)
}

/// [`api_path`] under another fixed prefix (`/api/v2`): the prefix is ours and kept as is,
/// every segment is encoded.
pub fn api_path_in(prefix: &'static str, segments: &[&str]) -> Result<String, LightdashError> {
    let mut path = String::from(prefix);
    for segment in segments {
        if segment.is_empty() || *segment == "." || *segment == ".." {
            return Err(LightdashError::InvalidId {
                id: crate::redact::strip_terminal_controls(segment),
            });
        }
        path.push('/');
        for &b in segment.as_bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                path.push(b as char);
            } else {
                path.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Ok(path)
}

/// Decodes a 2xx body: `{"status":"ok","results":T}` straight into `T`; anything else is the
/// error envelope (some servers answer errors with a 2xx) or a shape we do not understand.
fn decode_envelope<T: DeserializeOwned>(
    path: &str,
    status: u16,
    body: &[u8],
) -> Result<T, LightdashError> {
    #[derive(serde::Deserialize)]
    struct Envelope<T> {
        status: Option<String>,
        results: Option<T>,
    }
    let typed_error = match serde_json::from_slice::<Envelope<T>>(body) {
        Ok(Envelope {
            status: Some(s),
            results: Some(results),
        }) if s == "ok" => return Ok(results),
        Ok(_) => None,
        Err(e) => Some(e),
    };
    let value: Value = serde_json::from_slice(body).map_err(|source| LightdashError::Decode {
        route: path.to_owned(),
        source,
    })?;
    if value.get("status").and_then(Value::as_str) != Some("ok") {
        return Err(envelope_error(path, status, &value).unwrap_or_else(|| {
            LightdashError::Decode {
                route: path.to_owned(),
                source: serde::de::Error::custom("missing `status: \"ok\"` envelope"),
            }
        }));
    }
    Err(LightdashError::Decode {
        route: path.to_owned(),
        source: typed_error
            .unwrap_or_else(|| serde::de::Error::custom("`results` is missing or null")),
    })
}

fn envelope_error(path: &str, status: u16, value: &Value) -> Option<LightdashError> {
    let error = value.get("error")?;
    let name = error
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    // The HTTP status is authoritative; the envelope's `statusCode` only stands in for it
    // when a 2xx carries an error envelope (otherwise that error would read as "answered 200").
    let code = error
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (200..300).contains(&status) && !(200..300).contains(c))
        .unwrap_or(status);
    Some(status_error(path, code, name, message))
}

fn status_error(path: &str, status: u16, name: String, message: String) -> LightdashError {
    let route = path.to_owned();
    match status {
        401 => LightdashError::Unauthorized {
            route,
            name,
            message,
        },
        403 => LightdashError::Forbidden {
            route,
            name,
            message,
        },
        404 => LightdashError::NotFound {
            route,
            name,
            message,
        },
        _ => LightdashError::Status {
            route,
            status,
            name,
            message,
        },
    }
}

/// Decodes as-code items one by one, keyed by slug; returns the items that parsed and, for
/// those that did not, the slug (or position) and the error (naming the field path).
pub fn decode_items<T: DeserializeOwned>(
    items: Vec<Box<RawValue>>,
) -> (BTreeMap<String, T>, Vec<(String, serde_json::Error)>) {
    #[derive(serde::Deserialize)]
    struct Slug {
        #[serde(default)]
        slug: Option<Box<RawValue>>,
    }
    let mut ok = BTreeMap::new();
    let mut bad = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let slug = serde_json::from_str::<Slug>(item.get())
            .ok()
            .and_then(|s| s.slug)
            .and_then(|s| serde_json::from_str::<String>(s.get()).ok())
            .unwrap_or_else(|| format!("#{i}"));
        match decode_item::<T>(item.get()) {
            Ok(v) => {
                ok.insert(slug, v);
            }
            Err(e) => bad.push((slug, e)),
        }
    }
    (ok, bad)
}
