//! Issue 10.7: the daemon's listener cannot be starved by idle connections. Runs
//! `listener::serve` (the function the daemon uses) on loopback with a small router.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use lightdash_dot_sync::listener::{self, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Guards against a hang; never asserted as a duration.
const HANG_GUARD: Duration = Duration::from_secs(30);

async fn start(limits: Limits) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/healthz",
        get(
            |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("ok {}", peer.ip()) },
        ),
    );
    (addr, tokio::spawn(listener::serve(listener, app, limits)))
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    tokio::time::timeout(HANG_GUARD, stream.read_to_end(&mut buf))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&buf).into_owned()
}

async fn healthz(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .ok()?;
    let text = read_to_close(&mut s).await;
    text.starts_with("HTTP/1.1 200").then_some(text)
}

#[tokio::test]
async fn silent_and_idle_keep_alive_connections_are_closed() {
    let (addr, server) = start(Limits {
        max_connections: 8,
        header_read_timeout: Duration::from_secs(1),
    })
    .await;
    // Connects and sends nothing: closed without an answer.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // Half a request line, then silence.
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial.write_all(b"GET /healthz HT").await.unwrap();
    // One request on a keep-alive connection, then idle.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    assert_eq!(read_to_close(&mut silent).await, "");
    let partial_answer = read_to_close(&mut partial).await;
    assert!(
        !partial_answer.contains("200"),
        "an incomplete request is never served: {partial_answer:?}"
    );
    let rest = read_to_close(&mut idle).await;
    assert!(
        rest.contains("ok 127.0.0.1"),
        "the first answer completes: {rest:?}"
    );
    assert_eq!(
        rest.matches("HTTP/1.1").count(),
        0,
        "no second answer: {rest:?}"
    );
    assert!(healthz(addr).await.is_some(), "still serving");
    server.abort();
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_and_the_listener_recovers() {
    let (addr, server) = start(Limits {
        max_connections: 4,
        header_read_timeout: Duration::from_secs(60),
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Every slot is held by an idle connection: many more are accepted and closed at once,
    // so they cannot pile up file descriptors.
    for _ in 0..50 {
        let mut extra = TcpStream::connect(addr).await.unwrap();
        extra
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .ok();
        assert_eq!(read_to_close(&mut extra).await, "", "closed unanswered");
    }
    drop(idle);
    let mut served = None;
    for _ in 0..100 {
        served = healthz(addr).await;
        if served.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let served = served.expect("/healthz answers once the idle connections are gone");
    assert!(served.contains("ok 127.0.0.1"), "{served}");
    server.abort();
}
