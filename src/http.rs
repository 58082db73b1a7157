//! Shared HTTP plumbing: the reqwest client builder (no `Referer`, an explicit redirect
//! policy), size-capped body reading, rate limiters, and the PURE retry rules (which
//! responses to retry, how long to wait), and whether the configured URLs can be verified
//! with the host's CA certificates. The client builder, the CA probe, [`read_capped`] and
//! [`wait_for`] are the only I/O here.

use std::num::NonZeroU32;
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use url::Url;

/// A per-API request rate limiter.
pub type Limiter = Arc<DefaultDirectRateLimiter>;

/// Longest wait we accept from a `Retry-After`; a server asking for more gets this, and the
/// asset is retried next cycle if attempts run out.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// First backoff step.
pub const BASE_BACKOFF: Duration = Duration::from_millis(250);

/// Largest backoff step without `Retry-After`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Connect timeout for both APIs: a host that does not answer the handshake is down.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static CRYPTO: Once = Once::new();

/// Redirects followed within one origin before giving up.
pub const MAX_SAME_ORIGIN_REDIRECTS: usize = 5;

/// Which redirects a client follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    /// None: a 3xx comes back to the caller as the answer (Dot pushes: a redirect there means
    /// `dot.url` is wrong, and following it would resend the key and the body elsewhere).
    None,
    /// Only to the same scheme, host and port as the request, at most
    /// [`MAX_SAME_ORIGIN_REDIRECTS`] hops; any other 3xx comes back to the caller. Same
    /// origin also rules out an https→http downgrade.
    SameOrigin,
}

/// The same-origin rule: a redirect from the first request `from` to `to`, after `hops`
/// redirects, is followed only within `from`'s scheme, host and port (so never https→http,
/// never to another host or port), and at most [`MAX_SAME_ORIGIN_REDIRECTS`] times.
pub fn follows_redirect(from: &Url, to: &Url, hops: usize) -> bool {
    from.origin() == to.origin() && hops <= MAX_SAME_ORIGIN_REDIRECTS
}

/// Why the system's CA roots are unusable, found once per process by building a client
/// that verifies against them (`None` when they loaded).
static ROOTS_PROBLEM: OnceLock<Option<String>> = OnceLock::new();

fn builder(timeout: Duration, redirects: Redirects) -> reqwest::ClientBuilder {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let policy = match redirects {
        Redirects::None => reqwest::redirect::Policy::none(),
        Redirects::SameOrigin => reqwest::redirect::Policy::custom(|attempt| {
            let follow = attempt.previous().first().is_some_and(|first| {
                follows_redirect(first, attempt.url(), attempt.previous().len())
            });
            if follow {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }),
    };
    reqwest::Client::builder()
        .user_agent(concat!("lightdash-dot-sync/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(policy)
        .referer(false)
}

/// Why the system's CA certificates cannot be used (none installed: no `ca-certificates`
/// package, or `SSL_CERT_FILE`/`SSL_CERT_DIR` naming nothing usable), or `None` when they
/// can. Probed once per process.
pub fn system_roots_problem() -> Option<String> {
    ROOTS_PROBLEM
        .get_or_init(|| {
            builder(CONNECT_TIMEOUT, Redirects::None)
                .build()
                .err()
                .map(|e| error_chain(&e))
        })
        .clone()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Builds a client with our user agent, timeouts and redirect policy, and no `Referer`
/// header (reqwest sends one on redirects by default, and with query auth it would carry the
/// token). Installs the ring crypto provider once: reqwest is built without a default
/// provider to keep the C build small.
///
/// Without usable system CA roots (see [`system_roots_problem`]) the client trusts no
/// certificate at all: plain `http://` works, `https://` fails the handshake. Callers that
/// need https check [`require_roots_for`] first, so that case is a configuration error
/// naming the fix rather than a failed request.
pub fn build_client(timeout: Duration, redirects: Redirects) -> reqwest::Client {
    if system_roots_problem().is_none()
        && let Ok(client) = builder(timeout, redirects).build()
    {
        return client;
    }
    builder(timeout, redirects)
        .tls_certs_only([])
        .build()
        // An empty root store and the ring provider installed above leave nothing for the
        // environment to break: this is a build fault, not a host fault.
        .expect("an HTTP client without CA roots must build")
}

/// A URL that needs the system's CA certificates, which could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{key} is {url}, but no CA certificates could be loaded to verify it ({problem}); install the CA bundle (Debian/Ubuntu: apt-get install ca-certificates; Alpine/RHEL: the ca-certificates package) or point SSL_CERT_FILE at a PEM bundle"
)]
pub struct NoCaRoots {
    /// The config key, e.g. `dot.url`.
    pub key: String,
    /// Its value.
    pub url: String,
    /// What the TLS stack said.
    pub problem: String,
}

/// PURE: the first `https` URL among `urls` (config key, URL) when the system roots are
/// unusable (`roots_problem` is `Some`), as an error naming the key and the fix.
pub fn require_roots_for(
    urls: &[(&str, &url::Url)],
    roots_problem: Option<&str>,
) -> Result<(), NoCaRoots> {
    let Some(problem) = roots_problem else {
        return Ok(());
    };
    match urls.iter().find(|(_, u)| u.scheme() == "https") {
        Some((key, url)) => Err(NoCaRoots {
            key: (*key).to_owned(),
            url: url.to_string(),
            problem: problem.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub enum BodyError {
    /// The decompressed body is larger than the cap (bytes).
    TooLarge(u64),
    /// The connection failed mid-body (URL stripped).
    Transport(reqwest::Error),
}

/// Reads a response body (decompressed, as reqwest decodes gzip) chunk by chunk, failing as
/// soon as it exceeds `cap` bytes, so a small compressed answer cannot expand into gigabytes
/// in memory. A `Content-Length` above the cap fails before any byte is read.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: u64,
) -> Result<bytes::Bytes, BodyError> {
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(BodyError::TooLarge(cap));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Transport(e.without_url()))?
    {
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(BodyError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The `Location` of a redirect, resolved against the request URL, with its query and
/// fragment removed (they may carry tokens); `"(no Location)"` when absent.
pub fn redirect_target(response: &reqwest::Response) -> String {
    let Some(location) = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return "(no Location)".into();
    };
    match response.url().join(location) {
        Ok(mut url) => {
            url.set_query(None);
            url.set_fragment(None);
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.to_string()
        }
        Err(_) => crate::redact::strip_terminal_controls(
            location.split(['?', '#']).next().unwrap_or_default(),
        ),
    }
}

/// A limiter allowing `per_second` requests per second on average, with a burst of
/// `max(1, floor(per_second))`, like `Quota::per_second`. Fractional rates (0.5/s) work.
pub fn limiter(per_second: f64) -> Limiter {
    let per_second = if per_second.is_finite() && per_second > 0.0 {
        per_second
    } else {
        1.0
    };
    let period = Duration::from_secs_f64(1.0 / per_second).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new((per_second.floor() as u32).max(1)).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    Arc::new(RateLimiter::direct(quota))
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after a backoff.
    Retry,
    /// Give up: retrying cannot help (our request is wrong, or access is denied).
    DontRetry,
}

/// The retry table: 408, 429 and 5xx except 501 retry; every other status does not.
/// `None` is a transport error (connect, reset, timeout), which retries.
pub fn classify(status: Option<u16>) -> RetryDecision {
    match status {
        None | Some(408) | Some(429) => RetryDecision::Retry,
        Some(501) => RetryDecision::DontRetry,
        Some(s) if (500..600).contains(&s) => RetryDecision::Retry,
        Some(_) => RetryDecision::DontRetry,
    }
}

/// Parses `Retry-After` as delta-seconds or an HTTP date, relative to `now`, capped at
/// [`MAX_RETRY_AFTER`]. A date in the past means "now" (zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return None;
        }
        Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Full-jitter exponential backoff: uniform in `[0, min(MAX_BACKOFF, BASE × 2^attempt)]`,
/// where `attempt` counts from 0 and `unit` is a sample in `[0, 1)`. A `Retry-After` is a
/// floor: we never come back earlier than the server asked.
pub fn backoff(attempt: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
    let ceiling = BASE_BACKOFF
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(MAX_BACKOFF);
    let jitter = ceiling.mul_f64(unit.clamp(0.0, 1.0));
    match retry_after {
        Some(after) => after.max(jitter.min(after + BASE_BACKOFF)),
        None => jitter,
    }
}

/// Waits until the limiter admits one more request.
pub async fn wait_for(limiter: &Limiter) {
    limiter.until_ready().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_needs_roots_http_does_not() {
        let http = url::Url::parse("http://127.0.0.1:8080").unwrap();
        let https = url::Url::parse("https://app.getdot.ai").unwrap();
        assert_eq!(
            require_roots_for(&[("lightdash.url", &https)], None),
            Ok(())
        );
        assert_eq!(
            require_roots_for(
                &[("lightdash.url", &http), ("dot.url", &http)],
                Some("none")
            ),
            Ok(())
        );
        let err = require_roots_for(
            &[("lightdash.url", &http), ("dot.url", &https)],
            Some("No CA"),
        )
        .unwrap_err();
        assert_eq!(err.key, "dot.url");
        let text = err.to_string();
        assert!(
            text.starts_with("dot.url is https://app.getdot.ai/"),
            "{text}"
        );
        assert!(
            text.contains("apt-get install ca-certificates") && text.contains("No CA"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_client_without_roots_still_speaks_http() {
        // Whatever this host has, the fallback client (no roots) must serve plain http.
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .respond_with(wiremock::ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let client = builder(Duration::from_secs(5), Redirects::None)
            .tls_certs_only([])
            .build()
            .unwrap();
        let status = client.get(server.uri()).send().await.unwrap().status();
        assert_eq!(status.as_u16(), 204);
    }

    #[test]
    fn redirects_stay_within_the_origin() {
        let u = |s: &str| Url::parse(s).unwrap();
        let from = u("https://ld.example.com/api/v1/health");
        assert!(follows_redirect(&from, &u("https://ld.example.com/x"), 1));
        assert!(follows_redirect(
            &from,
            &u("https://ld.example.com:443/x"),
            1
        ));
        assert!(!follows_redirect(&from, &u("http://ld.example.com/x"), 1));
        assert!(!follows_redirect(
            &from,
            &u("https://ld.example.com:8443/x"),
            1
        ));
        assert!(!follows_redirect(
            &from,
            &u("https://evil.example.com/x"),
            1
        ));
        assert!(!follows_redirect(&from, &u("https://ld.example.com/x"), 6));
    }

    #[test]
    fn retry_table() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(classify(Some(s)), RetryDecision::Retry, "{s}");
        }
        for s in [200, 400, 401, 403, 404, 409, 422, 501] {
            assert_eq!(classify(Some(s)), RetryDecision::DontRetry, "{s}");
        }
        assert_eq!(classify(None), RetryDecision::Retry);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("100000", now), Some(MAX_RETRY_AFTER));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn backoff_is_bounded_jitter_and_respects_retry_after() {
        assert_eq!(backoff(0, None, 0.0), Duration::ZERO);
        assert_eq!(backoff(0, None, 0.999), BASE_BACKOFF.mul_f64(0.999));
        assert_eq!(backoff(3, None, 0.5), BASE_BACKOFF * 8 / 2);
        assert!(backoff(40, None, 0.999) <= MAX_BACKOFF);
        let after = Duration::from_secs(2);
        assert_eq!(backoff(0, Some(after), 0.0), after);
        assert!(backoff(10, Some(after), 0.99) <= after + BASE_BACKOFF);
        assert!(backoff(10, Some(after), 0.99) >= after);
    }

    #[test]
    fn limiter_allows_burst_then_paces() {
        let l = limiter(3.0);
        assert!(l.check().is_ok() && l.check().is_ok() && l.check().is_ok());
        assert!(l.check().is_err());
        let half = limiter(0.5);
        assert!(half.check().is_ok());
        assert!(half.check().is_err());
    }
}
