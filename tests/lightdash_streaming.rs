//! Listings decoded as their body arrives (issue #12): bodies delivered in many small chunks
//! (plain and gzip), the response cap applied mid-stream, envelope keys in any order, error
//! envelopes on a 200, a body cut short (retried), and a stop that drops the request.
//!
//! wiremock sends a body in one piece, so these tests use a tiny HTTP/1.1 server on a local
//! TcpListener that writes `Transfer-Encoding: chunked` bodies piece by piece, with pauses.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lightdash_dot_sync::lightdash::{LightdashClient, LightdashError};
use lightdash_dot_sync::stats::ApiCounters;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

const TOKEN: &str = "ldpat_SENTINEL-STREAM-5521";
const PROJECT: &str = "3675b69e-8324-4110-bdca-059031aa8da3";

/// A `SpaceQuery` item of `GET /api/v1/projects/{p}/charts`
/// (`packages/common/src/types/savedCharts.ts` in lightdash/lightdash), reduced.
fn chart(uuid: &str, name: &str) -> String {
    format!(
        r#"{{"uuid":"{uuid}","name":"{name}","spaceUuid":"s","spaceName":"S","projectUuid":"{PROJECT}","organizationUuid":"o","pinnedListUuid":null,"chartKind":"line","chartType":"cartesian","updatedAt":"2026-01-01T00:00:00.000Z"}}"#
    )
}

fn charts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| chart(&format!("c{i:04}"), &format!("Chart {i}")))
        .collect()
}

/// Serves each connection with `handler(connection number, stream)` once the request head
/// has been read; returns the base URL and the count of connections.
async fn serve<F, Fut>(handler: F) -> (Url, Arc<AtomicUsize>)
where
    F: Fn(usize, TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            tokio::spawn(async move {
                read_head(&mut stream).await;
                handler(n, stream).await;
            });
        }
    });
    (url, connections)
}

async fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
}

async fn write_head(stream: &mut TcpStream, content_type: &str, extra: &str) -> bool {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n{extra}\r\n"
    );
    stream.write_all(head.as_bytes()).await.is_ok()
}

async fn write_chunk(stream: &mut TcpStream, data: &[u8]) -> bool {
    let mut frame = format!("{:x}\r\n", data.len()).into_bytes();
    frame.extend_from_slice(data);
    frame.extend_from_slice(b"\r\n");
    stream.write_all(&frame).await.is_ok() && stream.flush().await.is_ok()
}

/// Writes `body` as chunks of `size` bytes, pausing half-way, then ends it.
async fn write_body_in_pieces(
    mut stream: TcpStream,
    content_type: &str,
    extra: &str,
    body: Vec<u8>,
    size: usize,
) {
    if !write_head(&mut stream, content_type, extra).await {
        return;
    }
    let pieces: Vec<&[u8]> = body.chunks(size).collect();
    for (i, piece) in pieces.iter().enumerate() {
        if i == pieces.len() / 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !write_chunk(&mut stream, piece).await {
            return;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let _ = stream.shutdown().await;
}

fn client(url: &Url) -> LightdashClient {
    LightdashClient::new(
        url.clone(),
        &SecretString::from(TOKEN.to_owned()),
        1000.0,
        Duration::from_secs(30),
        Arc::new(ApiCounters::new("lightdash")),
    )
}

fn uuids(listing: &[lightdash_dot_sync::lightdash::types::ChartSummary]) -> Vec<String> {
    listing.iter().map(|c| c.uuid.clone()).collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn a_listing_arriving_in_many_small_chunks_decodes_whole_with_status_after_results() {
    let items = charts(300);
    // `status` after `results`, and an unknown key, as any JSON writer may order them.
    let body = format!(
        r#"{{"results":[{}],"meta":{{"x":[1,2]}},"status":"ok"}}"#,
        items.join(",")
    );
    let plain = body.clone().into_bytes();
    let (url, connections) = serve(move |_, stream| {
        write_body_in_pieces(
            stream,
            "application/json; charset=utf-8",
            "",
            plain.clone(),
            7,
        )
    })
    .await;
    let listing = client(&url).charts(PROJECT).await.unwrap();
    let want: Vec<String> = (0..300).map(|i| format!("c{i:04}")).collect();
    assert_eq!(uuids(&listing), want);
    assert_eq!(listing[299].name, "Chart 299");
    assert!(listing.undecodable.is_empty());
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    // The same gzipped (reqwest decompresses), still in small pieces.
    let compressed = gzip(body.as_bytes());
    let (url, _) = serve(move |_, stream| {
        write_body_in_pieces(
            stream,
            "application/json",
            "content-encoding: gzip\r\n",
            compressed.clone(),
            5,
        )
    })
    .await;
    let listing = client(&url).charts(PROJECT).await.unwrap();
    assert_eq!(uuids(&listing), want);
}

#[tokio::test]
async fn a_bad_item_in_a_chunked_listing_fails_alone_and_is_named() {
    let mut items = charts(3);
    items[1] = items[1].replace(
        r#""chartKind":"line""#,
        r#""chartKind":"line","views":"many""#,
    );
    let body = format!(r#"{{"status":"ok","results":[{}]}}"#, items.join(",")).into_bytes();
    let (url, _) = serve(move |_, stream| {
        write_body_in_pieces(stream, "application/json", "", body.clone(), 11)
    })
    .await;
    let listing = client(&url).charts(PROJECT).await.unwrap();
    assert_eq!(uuids(&listing), ["c0000", "c0002"]);
    assert_eq!(listing.undecodable.len(), 1);
    let bad = &listing.undecodable[0];
    assert_eq!((bad.index, bad.uuid.as_deref()), (1, Some("c0001")));
    assert!(
        bad.error.starts_with("views: invalid type"),
        "{}",
        bad.error
    );
    assert_eq!(bad.route, format!("/api/v1/projects/{PROJECT}/charts"));
}

#[tokio::test]
async fn the_response_cap_applies_mid_stream_and_stops_reading() {
    // A chunked body (no Content-Length) of valid items, far over the cap: the client must
    // stop reading it, not buffer or decode it to the end.
    let total = 64 * 1024 * 1024;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<usize>();
    let done_tx = Arc::new(std::sync::Mutex::new(Some(done_tx)));
    let (url, connections) = serve(move |_, mut stream| {
        let done_tx = done_tx.clone();
        async move {
            let mut written = 0usize;
            if write_head(&mut stream, "application/json", "").await
                && write_chunk(&mut stream, br#"{"status":"ok","results":["#).await
            {
                let piece = format!("{},", chart("c", &"n".repeat(400))).repeat(100);
                while written < total && write_chunk(&mut stream, piece.as_bytes()).await {
                    written += piece.len();
                }
            }
            if let Some(tx) = done_tx.lock().unwrap().take() {
                let _ = tx.send(written);
            }
        }
    })
    .await;
    let err = client(&url)
        .with_max_response_bytes(1024 * 1024)
        .charts(PROJECT)
        .await
        .unwrap_err();
    let LightdashError::TooLarge { route, limit_mib } = &err else {
        panic!("expected TooLarge, got {err:?}");
    };
    assert_eq!(route, &format!("/api/v1/projects/{PROJECT}/charts"));
    assert_eq!(*limit_mib, 1);
    assert!(
        err.to_string().contains("lightdash.max_response_mib"),
        "{err}"
    );
    let written = done_rx.await.unwrap();
    assert!(written < total, "the client read the whole {written} bytes");
    assert_eq!(connections.load(Ordering::SeqCst), 1, "not retried");
}

#[tokio::test]
async fn an_error_envelope_on_a_200_is_the_error_it_carries_scrubbed() {
    // `results` before `status`, as in the listing test; the message echoes the token.
    let body = format!(
        r#"{{"results":null,"status":"error","error":{{"statusCode":403,"name":"ForbiddenError","message":"token {TOKEN} may not list charts"}}}}"#
    )
    .into_bytes();
    let (url, connections) = serve(move |_, stream| {
        write_body_in_pieces(stream, "application/json", "", body.clone(), 9)
    })
    .await;
    let err = client(&url).charts(PROJECT).await.unwrap_err();
    let LightdashError::Forbidden {
        route,
        name,
        message,
    } = &err
    else {
        panic!("expected Forbidden, got {err:?}");
    };
    assert_eq!(route, &format!("/api/v1/projects/{PROJECT}/charts"));
    assert_eq!(name, "ForbiddenError");
    assert!(message.contains("may not list charts"), "{message}");
    assert!(!format!("{err} {err:?}").contains(TOKEN), "{err:?}");
    assert!(err.means_route_unavailable());
    assert_eq!(connections.load(Ordering::SeqCst), 1, "not retried");
}

#[tokio::test]
async fn html_and_broken_json_on_a_200_are_named_not_retried() {
    let html = b"<!doctype html><html><body>Lightdash</body></html>".to_vec();
    let (url, connections) =
        serve(move |_, stream| write_body_in_pieces(stream, "text/html", "", html.clone(), 4))
            .await;
    let err = client(&url).charts(PROJECT).await.unwrap_err();
    assert!(matches!(err, LightdashError::Html { .. }), "{err:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    // Declared JSON but broken part-way: a decode error naming the route, echo scrubbed.
    let broken = format!(
        r#"{{"status":"ok","results":[{},{{"uuid":"{TOKEN}" oops"#,
        chart("a", "A")
    )
    .into_bytes();
    let (url, connections) = serve(move |_, stream| {
        write_body_in_pieces(stream, "application/json", "", broken.clone(), 6)
    })
    .await;
    let err = client(&url).charts(PROJECT).await.unwrap_err();
    let LightdashError::Decode { route, .. } = &err else {
        panic!("expected Decode, got {err:?}");
    };
    assert_eq!(route, &format!("/api/v1/projects/{PROJECT}/charts"));
    assert!(!format!("{err} {err:?}").contains(TOKEN), "{err:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_cut_short_is_retried_and_never_a_short_listing() {
    let items = charts(40);
    let body = format!(r#"{{"status":"ok","results":[{}]}}"#, items.join(",")).into_bytes();
    let (url, connections) = serve(move |n, mut stream| {
        let body = body.clone();
        async move {
            if n == 0 {
                // Half the body, then the connection drops without the last chunk.
                if write_head(&mut stream, "application/json", "").await {
                    write_chunk(&mut stream, &body[..body.len() / 2]).await;
                }
                drop(stream);
            } else {
                write_body_in_pieces(stream, "application/json", "", body, 64).await;
            }
        }
    })
    .await;
    let listing = client(&url).charts(PROJECT).await.unwrap();
    assert_eq!(listing.len(), 40);
    assert_eq!(connections.load(Ordering::SeqCst), 2, "retried once");
}

#[tokio::test]
async fn dropping_a_listing_mid_body_closes_the_connection() {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    let slots = Arc::new(std::sync::Mutex::new(Some((started_tx, closed_tx))));
    let (url, _) = serve(move |_, mut stream| {
        let slots = slots.clone();
        async move {
            let Some((started, closed)) = slots.lock().unwrap().take() else {
                return;
            };
            write_head(&mut stream, "application/json", "").await;
            write_chunk(
                &mut stream,
                format!(r#"{{"status":"ok","results":[{},"#, chart("a", "A")).as_bytes(),
            )
            .await;
            let _ = started.send(());
            // The rest never comes: the next read ends only when the client hangs up.
            let mut buf = [0u8; 64];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            let _ = closed.send(());
        }
    })
    .await;
    let client = client(&url);
    let task = tokio::spawn(async move { client.charts(PROJECT).await });
    started_rx.await.unwrap();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // A hang-guard, not a timing threshold: the close comes as soon as the task is dropped.
    tokio::time::timeout(Duration::from_secs(60), closed_rx)
        .await
        .expect("the connection was not closed after the listing was dropped")
        .unwrap();
}
