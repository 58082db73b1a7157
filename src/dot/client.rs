//! The Dot HTTP client (I/O): `POST /api/import_and_overwrite_external_asset` with auth,
//! rate limit, bounded retries honouring `Retry-After`, and the credential check behind
//! `check`. No business rules: what to push is decided by the caller.
//!
//! An acknowledgement is a 2xx from the import route itself whose body is JSON (Dot is a
//! FastAPI app and always answers JSON): no redirect is followed (the key and the body would
//! go to the redirect target), and an HTML 200 (an SSO login page, a wrong `dot.url`) is a
//! failed push, retried next cycle. Every text taken from an answer is scrubbed of the
//! credential and of terminal control sequences before it reaches an error.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::types::{ExternalAsset, ImportBody};
use crate::config::DotAuth;
use crate::http::{self, BodyError, Limiter, Redirects, RetryDecision};
use crate::redact::Redactor;
use crate::stats::ApiCounters;

/// The endpoint path.
pub const IMPORT_PATH: &str = "/api/import_and_overwrite_external_asset";

/// Largest answer read from Dot, decompressed. Its answers are small JSON objects; anything
/// bigger is not Dot's import route.
pub const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

const ROUTE: &str = "import_external_asset";

/// Why a push failed. Messages never contain credentials (the URL is stripped from
/// transport errors because query auth puts the token in it).
#[derive(Debug, thiserror::Error)]
pub enum DotError {
    /// 422: Dot says our payload is wrong. A bug on our side; retrying cannot help.
    #[error("Dot rejected the asset as invalid (422): {detail}")]
    Invalid {
        /// Dot's `detail`, compacted.
        detail: String,
    },
    /// 401/403: credentials.
    #[error("Dot refused our credentials ({status}): {detail}; check dot.api_key_file / dot.auth")]
    Unauthorized {
        /// HTTP status.
        status: u16,
        /// Dot's `detail`.
        detail: String,
    },
    /// A 3xx: pushes follow no redirect (the key and the body would follow it).
    #[error(
        "Dot's import route answered {status} redirecting to {location}; pushes follow no redirect, so set dot.url to the address Dot really answers on"
    )]
    Redirect {
        /// HTTP status.
        status: u16,
        /// The target, without query or credentials.
        location: String,
    },
    /// A 2xx whose body is not JSON: not Dot's API (a login page, a proxy, a wrong URL).
    #[error(
        "Dot's import route answered {status} with {content_type}, not JSON; dot.url does not reach Dot's API (a login page or proxy?), so the push counts as failed: {detail}"
    )]
    NotJson {
        /// HTTP status.
        status: u16,
        /// `Content-Type`, or "no content type".
        content_type: String,
        /// The start of the body, scrubbed.
        detail: String,
    },
    /// Any other status, after retries where they apply.
    #[error("Dot answered {status} after {attempts} attempt(s): {detail}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// Dot's `detail` or the start of the body.
        detail: String,
    },
    /// Transport failure after retries. The message carries the whole cause chain (DNS,
    /// refused, certificate, timeout), not just "error sending request".
    #[error(
        "request to Dot failed after {attempts} attempt(s): {}",
        crate::cause::chain(source)
    )]
    Transport {
        /// Attempts made.
        attempts: u32,
        /// The transport error (URL stripped).
        #[source]
        source: reqwest::Error,
    },
}

impl DotError {
    /// Metric label for the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            DotError::Invalid { .. } => "invalid",
            DotError::Unauthorized { .. } => "unauthorized",
            DotError::Status { .. } => "status",
            DotError::Redirect { .. } => "redirect",
            DotError::NotJson { .. } => "not_json",
            DotError::Transport { .. } => "transport",
        }
    }

    /// HTTP status, if Dot (or whatever answered) did.
    pub fn status(&self) -> Option<u16> {
        match self {
            DotError::Transport { .. } => None,
            DotError::Invalid { .. } => Some(422),
            DotError::Unauthorized { status, .. }
            | DotError::Status { status, .. }
            | DotError::Redirect { status, .. }
            | DotError::NotJson { status, .. } => Some(*status),
        }
    }
}

/// The Dot client. Cheap to clone.
#[derive(Clone)]
pub struct DotClient {
    http: reqwest::Client,
    endpoint: Url,
    auth: Arc<DotAuth>,
    limiter: Limiter,
    max_attempts: u32,
    counters: Arc<ApiCounters>,
    redactor: Arc<Redactor>,
}

impl std::fmt::Debug for DotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DotClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl DotClient {
    /// A client for the Dot at `base`.
    pub fn new(
        base: &Url,
        auth: DotAuth,
        requests_per_second: f64,
        max_attempts: u32,
        timeout: Duration,
        counters: Arc<ApiCounters>,
    ) -> Self {
        let mut endpoint = base.clone();
        let base_path = endpoint.path().trim_end_matches('/').to_owned();
        endpoint.set_path(&format!("{base_path}{IMPORT_PATH}"));
        let redactor = match &auth {
            DotAuth::Header { api_key } => Redactor::new([api_key]),
            DotAuth::Query { user_id, api_token } => {
                // The whole query string as we send it, so an echo loses it entirely.
                let query = SecretString::from(
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("user_id", user_id)
                        .append_pair("api_token", api_token.expose_secret())
                        .finish(),
                );
                Redactor::new([&query, api_token])
            }
        };
        Self {
            http: http::build_client(timeout, Redirects::None),
            endpoint,
            redactor: Arc::new(redactor),
            auth: Arc::new(auth),
            limiter: http::limiter(requests_per_second),
            max_attempts: max_attempts.max(1),
            counters,
        }
    }

    /// Creates or overwrites one asset. `Ok` only on a 2xx.
    pub async fn upsert(&self, asset: &ExternalAsset) -> Result<(), DotError> {
        let body = ImportBody {
            external_asset: asset.clone(),
        };
        let mut attempt = 0;
        loop {
            http::wait_for(&self.limiter).await;
            attempt += 1;
            let (error, retry_after) = match self.send_once(&body, attempt).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let status = error.status();
            let retryable = match &error {
                DotError::Redirect { .. } | DotError::NotJson { .. } => false,
                _ => http::classify(status) == RetryDecision::Retry,
            };
            if !retryable || attempt >= self.max_attempts {
                return Err(error);
            }
            let wait = http::backoff(attempt - 1, retry_after, fastrand::f64());
            tracing::debug!(id = %asset.id, attempt, ?status, wait_ms = wait.as_millis() as u64, "retrying Dot push");
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once(
        &self,
        body: &ImportBody,
        attempt: u32,
    ) -> Result<(), (DotError, Option<Duration>)> {
        let request = self
            .authorized(self.http.post(self.endpoint.clone()).json(body))
            .map_err(|e| (e, None))?;
        let answer = self.send(request, attempt).await?;
        if answer.status == 422 {
            return Err((
                DotError::Invalid {
                    detail: answer.detail,
                },
                None,
            ));
        }
        if (200..300).contains(&answer.status) {
            return if answer.is_json {
                Ok(())
            } else {
                Err((answer.not_json(), None))
            };
        }
        Err((answer.to_error(attempt), answer.retry_after))
    }

    /// Adds the credentials to a request.
    fn authorized(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, DotError> {
        Ok(match self.auth.as_ref() {
            DotAuth::Header { api_key } => {
                let mut value = HeaderValue::from_str(api_key.expose_secret()).map_err(|_| {
                    DotError::Unauthorized {
                        status: 0,
                        detail: "dot.api_key contains characters not allowed in a header".into(),
                    }
                })?;
                value.set_sensitive(true);
                request.header("X-API-KEY", value)
            }
            DotAuth::Query { user_id, api_token } => request.query(&[
                ("user_id", user_id.as_str()),
                ("api_token", api_token.expose_secret()),
            ]),
        })
    }

    /// Sends one request and reads the answer: status, whether the body is JSON, a scrubbed
    /// detail, `Retry-After`. 3xx answers come back as they are (no redirect is followed).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        attempt: u32,
    ) -> Result<Answer, (DotError, Option<Duration>)> {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                self.counters.record(ROUTE, "error");
                return Err((
                    DotError::Transport {
                        attempts: attempt,
                        source: e.without_url(),
                    },
                    None,
                ));
            }
        };
        let status = response.status().as_u16();
        self.counters.record(ROUTE, &status.to_string());
        if response.status().is_redirection() {
            let location = self.redactor.scrub(&http::redirect_target(&response));
            return Err((DotError::Redirect { status, location }, None));
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| http::parse_retry_after(v, SystemTime::now()));
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| self.redactor.scrub(v))
            .unwrap_or_else(|| "no content type".into());
        let body = match http::read_capped(response, MAX_RESPONSE_BYTES).await {
            Ok(b) => b,
            Err(BodyError::TooLarge(cap)) => {
                return Err((
                    DotError::NotJson {
                        status,
                        content_type,
                        detail: format!("the answer is larger than {cap} bytes"),
                    },
                    None,
                ));
            }
            Err(BodyError::Transport(source)) => {
                return Err((
                    DotError::Transport {
                        attempts: attempt,
                        source,
                    },
                    retry_after,
                ));
            }
        };
        let is_json = !content_type.to_ascii_lowercase().contains("html")
            && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok();
        // Scrubbed whole before it is shortened, so no cut-off piece of a secret survives.
        let detail = detail_of(&self.redactor.scrub(&String::from_utf8_lossy(&body)));
        Ok(Answer {
            status,
            is_json,
            content_type,
            detail,
            retry_after,
        })
    }

    /// Checks that `dot.url` reaches Dot's API and that Dot accepts our credential, without
    /// writing anything: posts an empty object to the import route, which Dot (FastAPI)
    /// authenticates first and then rejects with 422 because `external_asset` is missing.
    /// `Ok` describes what Dot answered; 401/403, redirects, non-JSON answers and a 2xx (an
    /// import route that accepts an empty body is not Dot's) are errors.
    pub async fn probe(&self) -> Result<String, DotError> {
        http::wait_for(&self.limiter).await;
        let request = self.authorized(
            self.http
                .post(self.endpoint.clone())
                .json(&serde_json::json!({})),
        )?;
        let answer = self.send(request, 1).await.map_err(|(e, _)| e)?;
        match answer.status {
            422 if answer.is_json => Ok(format!(
                "credential accepted; an empty import was rejected as expected (422: {}); nothing was written",
                answer.detail
            )),
            s if (200..300).contains(&s) && answer.is_json => Err(DotError::Status {
                status: s,
                attempts: 1,
                detail: format!(
                    "an empty import was accepted, which Dot's import route never does; dot.url does not point at Dot ({})",
                    answer.detail
                ),
            }),
            _ if !answer.is_json => Err(answer.not_json()),
            _ => Err(answer.to_error(1)),
        }
    }
}

/// One answer from Dot, read and scrubbed.
struct Answer {
    status: u16,
    is_json: bool,
    content_type: String,
    detail: String,
    retry_after: Option<Duration>,
}

impl Answer {
    fn not_json(&self) -> DotError {
        DotError::NotJson {
            status: self.status,
            content_type: self.content_type.clone(),
            detail: self.detail.chars().take(200).collect(),
        }
    }

    fn to_error(&self, attempts: u32) -> DotError {
        let detail = self.detail.clone();
        match self.status {
            422 => DotError::Invalid { detail },
            401 | 403 => DotError::Unauthorized {
                status: self.status,
                detail,
            },
            status => DotError::Status {
                status,
                attempts,
                detail,
            },
        }
    }
}

/// FastAPI's `detail` (a string or a list of `{loc, msg}`), compacted to one line; the start
/// of the body otherwise.
fn detail_of(body: &str) -> String {
    let compact = |s: &str| -> String {
        crate::redact::strip_terminal_controls(s)
            .chars()
            .take(500)
            .collect()
    };
    match serde_json::from_str::<Value>(body) {
        Ok(v) => match v.get("detail") {
            Some(Value::String(s)) => compact(s),
            Some(Value::Array(items)) => compact(
                &items
                    .iter()
                    .map(|i| {
                        let loc = i
                            .get("loc")
                            .and_then(Value::as_array)
                            .map(|l| {
                                l.iter()
                                    .map(|p| {
                                        p.as_str()
                                            .map(str::to_owned)
                                            .unwrap_or_else(|| p.to_string())
                                    })
                                    .collect::<Vec<_>>()
                                    .join(".")
                            })
                            .unwrap_or_default();
                        let msg = i.get("msg").and_then(Value::as_str).unwrap_or("");
                        format!("{loc}: {msg}")
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Some(other) => compact(&other.to_string()),
            None => compact(&v.to_string()),
        },
        Err(_) => compact(body.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastapi_detail_is_compacted() {
        let body = r#"{"detail":[{"loc":["body","external_asset","view_count"],"msg":"Input should be a valid integer","type":"int_parsing"}]}"#;
        assert_eq!(
            detail_of(body),
            "body.external_asset.view_count: Input should be a valid integer"
        );
        assert_eq!(
            detail_of(r#"{"detail":"Not authenticated"}"#),
            "Not authenticated"
        );
        assert_eq!(detail_of("<html>oops</html>"), "<html>oops</html>");
    }
}
