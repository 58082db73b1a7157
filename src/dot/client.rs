//! The Dot HTTP client (I/O): `POST /api/import_and_overwrite_external_asset` with auth,
//! rate limit, bounded retries honouring `Retry-After`. No business rules: what to push is
//! decided by the caller.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderValue, RETRY_AFTER};
use secrecy::ExposeSecret;
use serde_json::Value;
use url::Url;

use super::types::{ExternalAsset, ImportBody};
use crate::config::DotAuth;
use crate::http::{self, Limiter, RetryDecision};
use crate::stats::ApiCounters;

/// The endpoint path.
pub const IMPORT_PATH: &str = "/api/import_and_overwrite_external_asset";

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
            DotError::Transport { .. } => "transport",
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
        Self {
            http: http::build_client(timeout),
            endpoint,
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
            let status = match &error {
                DotError::Transport { .. } => None,
                DotError::Invalid { .. } => Some(422),
                DotError::Unauthorized { status, .. } | DotError::Status { status, .. } => {
                    Some(*status)
                }
            };
            if http::classify(status) == RetryDecision::DontRetry || attempt >= self.max_attempts {
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
        let mut request = self.http.post(self.endpoint.clone()).json(body);
        match self.auth.as_ref() {
            DotAuth::Header { api_key } => {
                let mut value = HeaderValue::from_str(api_key.expose_secret()).map_err(|_| {
                    (
                        DotError::Unauthorized {
                            status: 0,
                            detail: "dot.api_key contains characters not allowed in a header"
                                .into(),
                        },
                        None,
                    )
                })?;
                value.set_sensitive(true);
                request = request.header("X-API-KEY", value);
            }
            DotAuth::Query { user_id, api_token } => {
                request = request.query(&[
                    ("user_id", user_id.as_str()),
                    ("api_token", api_token.expose_secret()),
                ]);
            }
        }
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
        if (200..300).contains(&status) {
            return Ok(());
        }
        let redirected = crate::cause::redirected_origin(&self.endpoint, response.url());
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| http::parse_retry_after(v, SystemTime::now()));
        let text = response.text().await.unwrap_or_default();
        let detail = detail_of(&text);
        let error = match status {
            422 => DotError::Invalid { detail },
            // A redirect to another host drops query credentials (and reqwest drops
            // credential headers): say so instead of blaming the key.
            401 | 403 => DotError::Unauthorized {
                status,
                detail: match redirected {
                    Some(to) => format!(
                        "{detail} (after a redirect to {to}, which is not sent our credentials: set dot.url to the address Dot is served at)"
                    ),
                    None => detail,
                },
            },
            _ => DotError::Status {
                status,
                attempts: attempt,
                detail,
            },
        };
        Err((error, retry_after))
    }
}

/// FastAPI's `detail` (a string or a list of `{loc, msg}`), compacted to one line; the start
/// of the body otherwise.
fn detail_of(body: &str) -> String {
    let compact = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).take(500).collect() };
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
