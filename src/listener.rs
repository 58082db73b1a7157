//! The daemon's HTTP listener (I/O) and the PURE admin access rule.
//!
//! [`serve`] runs an axum router over HTTP/1 with two limits a plain `axum::serve` lacks: a
//! header-read timeout (a client that connects and sends nothing, or idles on a keep-alive
//! connection, is disconnected) and a cap on connections served at once (connections beyond
//! it are closed as soon as they are accepted). Together they keep idle connections from
//! exhausting file descriptors and starving `/healthz` and the sync's own HTTP clients.
//!
//! [`admin_access`] decides who may `POST /admin/resync`: with `server.admin_token` set,
//! only requests bearing it (from any peer: a service-mesh sidecar makes every pod look like
//! loopback); without it, loopback peers (IPv4-mapped `::ffff:127.0.0.1` included), or every
//! peer when `server.allow_remote_admin` is set.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Limits of the listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once (`server.max_connections`).
    pub max_connections: usize,
    /// Time a client has to send a request's headers, idle keep-alive time included
    /// (`server.header_read_timeout_secs`).
    pub header_read_timeout: Duration,
}

/// Pause after a failed `accept` (out of file descriptors): retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until the task is dropped or aborted. Handlers can extract
/// `ConnectInfo<SocketAddr>` (the peer address).
pub async fn serve(listener: TcpListener, app: Router, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "the listener cannot accept a connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("ldsync_listener_refused_connections_total").increment(1);
            tracing::debug!(%peer, "connection limit reached; closing a new connection");
            drop(stream);
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request| {
                request.extensions_mut().insert(ConnectInfo(peer));
                tower_service::Service::call(&mut app.clone(), request)
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "listener connection ended");
            }
            drop(slot);
        });
    }
}

/// What `POST /admin/resync` answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccess {
    /// Queue the resync.
    Allow,
    /// 401: a token is configured and the request did not bear it.
    Unauthorized,
    /// 403: no token configured, a non-loopback peer, remote admin not allowed.
    Forbidden,
}

/// Whether `ip` is loopback, IPv4-mapped IPv6 loopback (`::ffff:127.0.0.1`, how IPv4
/// loopback arrives on a `[::]` listener) included.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The admin access rule (see the module docs). `authorization` is the request's
/// `Authorization` header; the token is compared in constant time.
pub fn admin_access(
    peer: IpAddr,
    authorization: Option<&str>,
    token: Option<&SecretString>,
    allow_remote_admin: bool,
) -> AdminAccess {
    if let Some(token) = token {
        let presented = authorization
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        return match presented {
            Some(p) if constant_time_eq(p.as_bytes(), token.expose_secret().as_bytes()) => {
                AdminAccess::Allow
            }
            _ => AdminAccess::Unauthorized,
        };
    }
    if is_loopback(peer) || allow_remote_admin {
        AdminAccess::Allow
    } else {
        AdminAccess::Forbidden
    }
}

/// Compares without an early exit on the first differing byte (the length still shows).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_mapped_loopback_is_loopback() {
        assert!(is_loopback(ip("::ffff:127.0.0.1")));
        assert!(is_loopback(ip("::ffff:127.0.0.6")));
        assert!(is_loopback(ip("::1")));
        assert!(!is_loopback(ip("::ffff:10.0.0.1")));
        assert!(!is_loopback(ip("10.1.2.3")));
    }

    #[test]
    fn without_a_token_loopback_or_allow_remote() {
        assert_eq!(
            admin_access(ip("::ffff:127.0.0.1"), None, None, false),
            AdminAccess::Allow
        );
        assert_eq!(
            admin_access(ip("10.0.0.9"), None, None, false),
            AdminAccess::Forbidden
        );
        assert_eq!(
            admin_access(ip("10.0.0.9"), None, None, true),
            AdminAccess::Allow
        );
    }

    #[test]
    fn with_a_token_every_peer_must_bear_it() {
        let token = SecretString::from("t0ken-abc".to_owned());
        let t = Some(&token);
        // A sidecar proxies from loopback: loopback alone is not enough.
        assert_eq!(
            admin_access(ip("127.0.0.6"), None, t, false),
            AdminAccess::Unauthorized
        );
        assert_eq!(
            admin_access(ip("127.0.0.1"), Some("Bearer wrong"), t, false),
            AdminAccess::Unauthorized
        );
        assert_eq!(
            admin_access(ip("127.0.0.1"), Some("t0ken-abc"), t, false),
            AdminAccess::Unauthorized
        );
        assert_eq!(
            admin_access(ip("10.0.0.9"), Some("Bearer t0ken-abc"), t, false),
            AdminAccess::Allow
        );
        assert_eq!(
            admin_access(ip("10.0.0.9"), Some("Bearer t0ken-ab"), t, true),
            AdminAccess::Unauthorized
        );
    }
}
