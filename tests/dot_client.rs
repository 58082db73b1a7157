// Dot answers JSON: a 2xx counts only with a JSON body (issue 10.2), so mocks answer `{}`.
//! The Dot client against a wiremock server: the exact request for both auth styles, ok on
//! 200, the retry table (422/401/501 not retried, 5xx and 429 retried), `Retry-After` in both
//! forms, and timeouts that never leak the query-auth token.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lightdash_dot_sync::config::DotAuth;
use lightdash_dot_sync::dot::client::{DotClient, DotError, IMPORT_PATH};
use lightdash_dot_sync::dot::types::ExternalAsset;
use lightdash_dot_sync::stats::ApiCounters;
use secrecy::SecretString;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API_KEY: &str = "dot-key-0123456789";
const SENTINEL: &str = "SENTINEL-TOKEN-7731";

struct TestDot {
    server: MockServer,
    client: DotClient,
    counters: Arc<ApiCounters>,
}

async fn spawn_with(auth: DotAuth, max_attempts: u32, timeout: Duration) -> TestDot {
    let server = MockServer::start().await;
    let counters = Arc::new(ApiCounters::new("dot"));
    let client = DotClient::new(
        &Url::parse(&server.uri()).unwrap(),
        auth,
        1000.0,
        max_attempts,
        timeout,
        counters.clone(),
    );
    TestDot {
        server,
        client,
        counters,
    }
}

fn header_auth() -> DotAuth {
    DotAuth::Header {
        api_key: SecretString::from(API_KEY.to_owned()),
    }
}

fn query_auth() -> DotAuth {
    DotAuth::Query {
        user_id: "user-42".into(),
        api_token: SecretString::from(SENTINEL.to_owned()),
    }
}

async fn spawn(max_attempts: u32) -> TestDot {
    spawn_with(header_auth(), max_attempts, Duration::from_secs(5)).await
}

fn asset() -> ExternalAsset {
    ExternalAsset {
        id: "lightdash-dashboard-6b1a4c2e".into(),
        subtype: "lightdash_dashboard".into(),
        folder: Some("Jaffle/Shared/Sales".into()),
        name: Some("Revenue overview".into()),
        description: None,
        url: Some("https://ld.example.com/projects/p1/dashboards/6b1a4c2e/view".into()),
        active: true,
        view_count: Some(17),
        last_accessed_at: None,
        dot_description: Some("# Revenue overview\n\nTiles: ...".into()),
    }
}

fn expected_body() -> Value {
    json!({
        "external_asset": {
            "id": "lightdash-dashboard-6b1a4c2e",
            "subtype": "lightdash_dashboard",
            "folder": "Jaffle/Shared/Sales",
            "name": "Revenue overview",
            "description": null,
            "url": "https://ld.example.com/projects/p1/dashboards/6b1a4c2e/view",
            "active": true,
            "view_count": 17,
            "last_accessed_at": null,
            "dot_description": "# Revenue overview\n\nTiles: ..."
        }
    })
}

async fn request_count(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

/// A first answer of `first` (once), then 200 for everything after.
async fn mount_then_ok(server: &MockServer, first: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(IMPORT_PATH))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(IMPORT_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})))
        .with_priority(2)
        .mount(server)
        .await;
}

async fn mount_always(server: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(IMPORT_PATH))
        .respond_with(answer)
        .mount(server)
        .await;
}

// ---------------------------------------------------------------- the exact request

#[tokio::test]
async fn upsert_posts_the_wrapped_asset_with_the_api_key_header() {
    let dot = spawn(3).await;
    Mock::given(method("POST"))
        .and(path(IMPORT_PATH))
        .and(header("X-API-KEY", API_KEY))
        .and(header("content-type", "application/json"))
        .and(body_json(expected_body()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&dot.server)
        .await;

    dot.client.upsert(&asset()).await.unwrap();

    let requests = dot.server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body, expected_body());
    assert_eq!(body["external_asset"].as_object().unwrap().len(), 10);
    assert_eq!(
        requests[0].url.query(),
        None,
        "header auth puts nothing in the URL"
    );
}

#[tokio::test]
async fn query_auth_sends_user_id_and_api_token_and_no_api_key_header() {
    let dot = spawn_with(query_auth(), 3, Duration::from_secs(5)).await;
    Mock::given(method("POST"))
        .and(path(IMPORT_PATH))
        .and(query_param("user_id", "user-42"))
        .and(query_param("api_token", SENTINEL))
        .and(body_json(expected_body()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&dot.server)
        .await;

    dot.client.upsert(&asset()).await.unwrap();

    let requests = dot.server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.get("x-api-key").is_none());
    assert!(!format!("{:?}", dot.client).contains(SENTINEL));
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/dot{IMPORT_PATH}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let client = DotClient::new(
        &Url::parse(&format!("{}/dot/", server.uri())).unwrap(),
        header_auth(),
        1000.0,
        2,
        Duration::from_secs(5),
        Arc::new(ApiCounters::new("dot")),
    );

    client.upsert(&asset()).await.unwrap();
}

// ---------------------------------------------------------------- statuses and retries

#[tokio::test]
async fn a_200_is_ok_and_counted() {
    let dot = spawn(3).await;
    mount_always(
        &dot.server,
        ResponseTemplate::new(200).set_body_json(json!({})),
    )
    .await;

    dot.client.upsert(&asset()).await.unwrap();
    dot.client.upsert(&asset()).await.unwrap();

    assert_eq!(request_count(&dot.server).await, 2);
    assert_eq!(dot.counters.by_route()["import_external_asset"], 2);
}

#[tokio::test]
async fn a_422_is_invalid_with_the_fastapi_detail_and_not_retried() {
    let dot = spawn(3).await;
    mount_always(
        &dot.server,
        ResponseTemplate::new(422).set_body_json(json!({
            "detail": [{
                "type": "int_parsing",
                "loc": ["body", "external_asset", "view_count"],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": "many"
            }]
        })),
    )
    .await;

    let err = dot.client.upsert(&asset()).await.unwrap_err();

    match &err {
        DotError::Invalid { detail } => assert_eq!(
            detail,
            "body.external_asset.view_count: Input should be a valid integer, unable to parse string as an integer"
        ),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(err.kind(), "invalid");
    assert_eq!(request_count(&dot.server).await, 1);
}

#[tokio::test]
async fn a_401_is_unauthorized_and_not_retried() {
    let dot = spawn(3).await;
    mount_always(
        &dot.server,
        ResponseTemplate::new(401).set_body_json(json!({"detail": "Invalid API key"})),
    )
    .await;

    let err = dot.client.upsert(&asset()).await.unwrap_err();

    assert!(
        matches!(&err, DotError::Unauthorized { status: 401, detail } if detail == "Invalid API key"),
        "got {err:?}"
    );
    assert!(!err.to_string().contains(API_KEY));
    assert_eq!(request_count(&dot.server).await, 1);
}

#[tokio::test]
async fn a_500_every_time_is_a_status_error_after_max_attempts() {
    let dot = spawn(3).await;
    mount_always(
        &dot.server,
        ResponseTemplate::new(500).set_body_string("Internal Server Error"),
    )
    .await;

    let err = dot.client.upsert(&asset()).await.unwrap_err();

    match &err {
        DotError::Status {
            status,
            attempts,
            detail,
        } => {
            assert_eq!(*status, 500);
            assert_eq!(*attempts, 3);
            assert_eq!(detail, "Internal Server Error");
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert_eq!(request_count(&dot.server).await, 3);
    assert_eq!(
        dot.counters.snapshot()[&("import_external_asset".into(), "500".into())],
        3
    );
}

#[tokio::test]
async fn a_503_then_a_200_is_ok_after_two_requests() {
    let dot = spawn(3).await;
    mount_then_ok(&dot.server, ResponseTemplate::new(503)).await;

    dot.client.upsert(&asset()).await.unwrap();

    assert_eq!(request_count(&dot.server).await, 2);
}

#[tokio::test]
async fn a_501_is_not_retried() {
    let dot = spawn(3).await;
    mount_then_ok(
        &dot.server,
        ResponseTemplate::new(501).set_body_json(json!({"detail": "Not Implemented"})),
    )
    .await;

    let err = dot.client.upsert(&asset()).await.unwrap_err();

    assert!(
        matches!(
            &err,
            DotError::Status {
                status: 501,
                attempts: 1,
                ..
            }
        ),
        "got {err:?}"
    );
    assert_eq!(request_count(&dot.server).await, 1);
}

#[tokio::test]
async fn a_429_with_retry_after_seconds_is_honoured() {
    let dot = spawn(3).await;
    mount_then_ok(
        &dot.server,
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
    )
    .await;

    let started = Instant::now();
    dot.client.upsert(&asset()).await.unwrap();
    let elapsed = started.elapsed();

    assert_eq!(request_count(&dot.server).await, 2);
    assert!(
        elapsed >= Duration::from_millis(900),
        "came back after {elapsed:?}, before Retry-After: 1"
    );
}

#[tokio::test]
async fn a_retry_after_http_date_is_honoured() {
    let dot = spawn(3).await;
    // HTTP dates have whole seconds: two seconds ahead is at least one second away.
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    mount_then_ok(
        &dot.server,
        ResponseTemplate::new(503).insert_header("Retry-After", at.as_str()),
    )
    .await;

    let started = Instant::now();
    dot.client.upsert(&asset()).await.unwrap();
    let elapsed = started.elapsed();

    assert_eq!(request_count(&dot.server).await, 2);
    assert!(
        elapsed >= Duration::from_millis(900),
        "came back after {elapsed:?}, before Retry-After: {at}"
    );
}

// ---------------------------------------------------------------- timeouts

#[tokio::test]
async fn a_timeout_is_a_transport_error_after_max_attempts() {
    let dot = spawn_with(header_auth(), 2, Duration::from_millis(200)).await;
    mount_always(
        &dot.server,
        ResponseTemplate::new(200).set_delay(Duration::from_secs(3)),
    )
    .await;

    let err = dot.client.upsert(&asset()).await.unwrap_err();

    assert!(
        matches!(&err, DotError::Transport { attempts: 2, .. }),
        "got {err:?}"
    );
    assert_eq!(err.kind(), "transport");
    assert_eq!(request_count(&dot.server).await, 2);
    assert_eq!(
        dot.counters.snapshot()[&("import_external_asset".into(), "error".into())],
        2
    );
}

#[tokio::test]
async fn a_timeout_with_query_auth_never_shows_the_token() {
    let dot = spawn_with(query_auth(), 2, Duration::from_millis(200)).await;
    mount_always(
        &dot.server,
        ResponseTemplate::new(200).set_delay(Duration::from_secs(3)),
    )
    .await;

    let err = dot.client.upsert(&asset()).await.unwrap_err();

    assert!(matches!(&err, DotError::Transport { .. }), "got {err:?}");
    // The token did travel in the URL, so the check below is meaningful.
    let requests = dot.server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].url.as_str().contains(SENTINEL));
    let display = err.to_string();
    let debug = format!("{err:?}");
    let mut chain = String::new();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&format!("{s} / {s:?}\n"));
        source = s.source();
    }
    for text in [&display, &debug, &chain] {
        assert!(!text.contains(SENTINEL), "token leaked: {text}");
        assert!(!text.contains("api_token"), "URL leaked: {text}");
    }
}
