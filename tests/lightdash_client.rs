//! The Lightdash client against a wiremock server: the exact request, ok on 200, typed errors
//! on error envelopes, retries, timeouts, HTML-200 detection, as-code paging and route probing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightdash_dot_sync::lightdash::client::{LightdashClient, LightdashError, decode_items};
use lightdash_dot_sync::lightdash::types::{
    ChartDetails, ChartKind, ChartSource, DashboardDetails, TileType,
};
use lightdash_dot_sync::stats::ApiCounters;
use secrecy::SecretString;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PAT: &str = "ldpat_0123456789abcdef";
const PROJECT: &str = "3675b69e-8324-4110-bdca-059031aa8da3";

struct TestLightdash {
    server: MockServer,
    client: LightdashClient,
    counters: Arc<ApiCounters>,
}

async fn spawn_with(token: &str, timeout: Duration) -> TestLightdash {
    let server = MockServer::start().await;
    let counters = Arc::new(ApiCounters::new("lightdash"));
    let client = LightdashClient::new(
        Url::parse(&server.uri()).unwrap(),
        &SecretString::from(token.to_owned()),
        1000.0,
        timeout,
        counters.clone(),
    );
    TestLightdash {
        server,
        client,
        counters,
    }
}

async fn spawn() -> TestLightdash {
    spawn_with(PAT, Duration::from_secs(5)).await
}

fn fixture(name: &str) -> Value {
    let file = format!(
        "{}/tests/fixtures/shared/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

/// The constructed error envelope whose `error.message` is `message`.
fn error_envelope(message: &str) -> Value {
    fixture("10-error-envelopes.constructed.json")
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["error"]["message"] == message)
        .unwrap_or_else(|| panic!("no error envelope with message {message:?}"))
        .clone()
}

fn ok(results: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"status": "ok", "results": results}))
}

fn html() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        "<!DOCTYPE html><html><head><title>Lightdash</title></head><body><div id=\"root\"></div></body></html>",
        "text/html; charset=utf-8",
    )
}

fn spaces_path() -> String {
    format!("/api/v1/projects/{PROJECT}/spaces")
}

fn new_charts_code() -> String {
    format!("/api/v1/projects/{PROJECT}/code/charts")
}

fn old_charts_code() -> String {
    format!("/api/v1/projects/{PROJECT}/charts/code")
}

async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

fn query_values(request: &Request, key: &str) -> Vec<String> {
    request
        .url
        .query_pairs()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .collect()
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------- the exact request

#[tokio::test]
async fn a_personal_access_token_is_sent_as_apikey() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(spaces_path()))
        .respond_with(ok(json!([])))
        .mount(&app.server)
        .await;

    app.client.spaces(PROJECT).await.unwrap();

    let requests = app.server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method.as_str(), "GET");
    assert_eq!(requests[0].url.path(), spaces_path());
    assert_eq!(
        requests[0].headers.get("authorization").unwrap(),
        &format!("ApiKey {PAT}")
    );
}

#[tokio::test]
async fn a_service_account_token_is_sent_as_bearer() {
    let token = "ldsvc_fedcba9876543210";
    let app = spawn_with(token, Duration::from_secs(5)).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/org/projects"))
        .respond_with(ok(json!([
            {"projectUuid": PROJECT, "name": "Jaffle", "type": "DEFAULT"},
            {"projectUuid": "p2", "name": "Preview", "type": "PREVIEW", "warehouseType": "postgres"}
        ])))
        .mount(&app.server)
        .await;

    let projects = app.client.projects().await.unwrap();

    assert_eq!(projects.len(), 2);
    assert_eq!(projects[1].project_type.as_str(), "PREVIEW");
    let requests = app.server.received_requests().await.unwrap();
    assert_eq!(
        requests[0].headers.get("authorization").unwrap(),
        &format!("Bearer {token}")
    );
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/lightdash/api/v1/health"))
        .respond_with(ok(json!({
            "healthy": true, "version": "0.1471.0", "siteUrl": "https://ld.example.com",
            "isAuthenticated": true, "mode": "default"
        })))
        .mount(&server)
        .await;
    let client = LightdashClient::new(
        Url::parse(&format!("{}/lightdash/", server.uri())).unwrap(),
        &SecretString::from(PAT.to_owned()),
        1000.0,
        Duration::from_secs(5),
        Arc::new(ApiCounters::new("lightdash")),
    );

    let health = client.health().await.unwrap();

    assert!(health.healthy && health.is_authenticated);
    assert_eq!(health.version.as_deref(), Some("0.1471.0"));
    assert_eq!(health.site_url.as_deref(), Some("https://ld.example.com"));
}

// ---------------------------------------------------------------- ok on 200

#[tokio::test]
async fn spaces_are_parsed_with_their_nesting_fields() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(spaces_path()))
        .respond_with(ok(json!([
            {
                "uuid": "s-root", "name": "Shared", "slug": "shared", "projectUuid": PROJECT,
                "organizationUuid": "o", "isPrivate": false, "pinnedListUuid": null,
                "pinnedListOrder": null, "dashboardCount": 2, "chartCount": 5, "access": [],
                "parentSpaceUuid": null, "path": "shared", "inheritParentPermissions": true,
                "childSpaceCount": 1
            },
            {
                "uuid": "s-child", "name": "Sales & Marketing", "slug": "sales-marketing",
                "projectUuid": PROJECT, "organizationUuid": "o", "isPrivate": true,
                "dashboardCount": null, "chartCount": 3, "access": ["u1"],
                "parentSpaceUuid": "s-root", "path": "shared.sales_marketing",
                "inheritParentPermissions": false, "childSpaceCount": 0,
                "userAccess": {"userUuid": "u1", "role": "admin", "hasDirectAccess": true}
            }
        ])))
        .mount(&app.server)
        .await;

    let spaces = app.client.spaces(PROJECT).await.unwrap();

    assert_eq!(spaces.len(), 2);
    assert_eq!(spaces[0].parent_space_uuid, None);
    assert_eq!(spaces[0].path.as_deref(), Some("shared"));
    assert_eq!((spaces[0].dashboard_count, spaces[0].chart_count), (2, 5));
    assert_eq!(spaces[1].parent_space_uuid.as_deref(), Some("s-root"));
    assert_eq!(spaces[1].path.as_deref(), Some("shared.sales_marketing"));
    assert!(spaces[1].is_private);
    assert_eq!(spaces[1].dashboard_count, 0, "null counts read as 0");
    assert_eq!(spaces[1].name, "Sales & Marketing");
}

#[tokio::test]
async fn dashboards_are_parsed() {
    let app = spawn().await;
    let mut listing = fixture("09-space-dashboards.mock.json");
    // The project listing adds tileTypes (and newer servers slug and verification).
    listing["results"][0]["tileTypes"] = json!(["saved_chart", "markdown"]);
    listing["results"][0]["slug"] = json!("my-dashboard");
    listing["results"][0]["verification"] = Value::Null;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/projects/{PROJECT}/dashboards")))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing))
        .mount(&app.server)
        .await;

    let dashboards = app.client.dashboards(PROJECT).await.unwrap();

    assert_eq!(dashboards.len(), 1);
    let d = &dashboards[0];
    assert_eq!(d.uuid, "my_dashboard_uuid");
    assert_eq!(d.space_uuid, "spaceUuid");
    assert_eq!(d.description.as_deref(), Some("description"));
    assert_eq!(d.updated_at.as_deref(), Some("2024-01-01T00:00:00.000Z"));
    assert_eq!(d.views, 1);
    assert_eq!(d.slug.as_deref(), Some("my-dashboard"));
    assert_eq!(
        d.updated_by_user
            .as_ref()
            .unwrap()
            .display_name()
            .as_deref(),
        Some("firstName lastName")
    );
}

#[tokio::test]
async fn charts_are_parsed_with_unknown_fields_and_unknown_chart_kinds() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/projects/{PROJECT}/charts")))
        .respond_with(ok(json!([
            {
                "uuid": "c1", "name": "Revenue", "slug": "revenue", "projectUuid": PROJECT,
                "organizationUuid": "o", "spaceUuid": "s1", "spaceName": "Shared",
                "pinnedListUuid": null, "dashboardUuid": null, "dashboardName": null,
                "chartKind": "vertical_bar", "chartType": "cartesian", "source": "dbt_explore",
                "updatedAt": "2025-08-14T07:39:01.947Z", "views": 12, "firstViewedAt": null,
                "validationErrors": []
            },
            {
                "uuid": "c2", "name": "Flows", "spaceUuid": "s1",
                "dashboardUuid": "d1", "dashboardName": "Overview",
                "chartKind": "sankey", "chartType": "sankey", "views": null,
                "someFieldFromTheFuture": {"nested": [1, 2, 3]}, "verification": null
            }
        ])))
        .mount(&app.server)
        .await;

    let charts = app.client.charts(PROJECT).await.unwrap();

    assert_eq!(charts.len(), 2);
    assert_eq!(charts[0].chart_kind, Some(ChartKind::VerticalBar));
    assert_eq!(charts[0].views, 12);
    assert_eq!(charts[0].source, Some(ChartSource::DbtExplore));
    assert_eq!(
        charts[1].chart_kind,
        Some(ChartKind::Unknown("sankey".into()))
    );
    assert_eq!(charts[1].chart_type.as_ref().unwrap().as_str(), "sankey");
    assert_eq!(charts[1].dashboard_uuid.as_deref(), Some("d1"));
    assert_eq!(charts[1].views, 0);
}

#[tokio::test]
async fn an_explore_is_parsed() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v1/projects/{PROJECT}/explores/airports"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("06-explore.airports.json")))
        .mount(&app.server)
        .await;

    let explore = app.client.explore(PROJECT, "airports").await.unwrap();

    assert_eq!(explore.name, "airports");
    assert_eq!(explore.label.as_deref(), Some("Airports"));
    assert_eq!(explore.base_table.as_deref(), Some("airports"));
    let table = &explore.tables["airports"];
    assert!(
        table
            .description
            .as_deref()
            .unwrap()
            .starts_with("# World Airports")
    );
    let dims: Vec<&str> = table.dimensions.keys().map(String::as_str).collect();
    assert_eq!(dims, ["lat", "lon", "name", "volume"]);
    assert_eq!(
        table.dimensions["lon"].description.as_deref(),
        Some("Longitude coordinate (-180 to 180)")
    );
    assert!(table.metrics.contains_key("total_passenger_volume"));
    assert_eq!(table.metrics["total_passenger_volume"].table, "airports");
}

#[tokio::test]
async fn an_explore_name_is_percent_encoded_as_one_path_segment() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v1/projects/{PROJECT}/explores/my%20explore%2Fx"
        )))
        .respond_with(ok(json!({"name": "my explore/x", "tables": {}})))
        .mount(&app.server)
        .await;

    let explore = app.client.explore(PROJECT, "my explore/x").await.unwrap();

    assert_eq!(explore.name, "my explore/x");
}

#[tokio::test]
async fn legacy_saved_chart_is_parsed_from_the_mock_payload() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/saved/chart_uuid"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("08-saved-chart.get.mock.json")),
        )
        .mount(&app.server)
        .await;

    let chart = app.client.saved_chart("chart_uuid").await.unwrap();

    assert_eq!(chart.uuid.as_deref(), Some("chart_uuid"));
    assert_eq!(chart.name, "chart name");
    assert_eq!(chart.explore_name(), Some("table_name"));
    assert_eq!(chart.chart_config.chart_type.as_str(), "table");
    assert_eq!(chart.dashboard_uuid.as_deref(), Some("uuid"));
    assert_eq!(chart.metric_query.limit, Some(0));
}

#[tokio::test]
async fn legacy_dashboard_is_parsed_from_the_mock_payload() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/dashboards/my_dashboard_uuid"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("07-dashboard.get.mock.json")),
        )
        .mount(&app.server)
        .await;

    let dashboard = app.client.dashboard("my_dashboard_uuid").await.unwrap();

    assert_eq!(dashboard.uuid.as_deref(), Some("my_dashboard_uuid"));
    assert_eq!(dashboard.name, "name");
    let types: Vec<&TileType> = dashboard.tiles.iter().map(|t| &t.tile_type).collect();
    assert_eq!(
        types,
        [&TileType::SavedChart, &TileType::Loom, &TileType::Markdown]
    );
    assert_eq!(
        dashboard.tiles[0].properties.saved_chart_uuid.as_deref(),
        Some("123")
    );
    assert_eq!(
        dashboard.tiles[2].properties.content.as_deref(),
        Some("my markdown content")
    );
    assert!(dashboard.filters.dimensions.is_empty());
}

// ---------------------------------------------------------------- error envelopes

#[tokio::test]
async fn a_401_envelope_is_unauthorized_with_the_servers_message() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(error_envelope("Personal access token is not recognised")),
        )
        .mount(&app.server)
        .await;

    let err = app.client.spaces(PROJECT).await.unwrap_err();

    match &err {
        LightdashError::Unauthorized {
            route,
            name,
            message,
        } => {
            assert_eq!(route, &spaces_path());
            assert_eq!(name, "AuthorizationError");
            assert_eq!(message, "Personal access token is not recognised");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(!err.means_route_unavailable());
    assert!(!err.to_string().contains(PAT));
    assert_eq!(app.server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_403_envelope_is_forbidden_with_the_servers_message() {
    let app = spawn().await;
    let message = "You don't have access to the space this dashboard belongs to";
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_json(error_envelope(message)))
        .mount(&app.server)
        .await;

    let err = app.client.dashboard("d1").await.unwrap_err();

    match &err {
        LightdashError::Forbidden {
            name, message: m, ..
        } => {
            assert_eq!(name, "ForbiddenError");
            assert_eq!(m, message);
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert_eq!(err.status(), Some(403));
    assert_eq!(app.server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_404_envelope_is_not_found_with_the_servers_message() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(error_envelope("Dashboard not found")),
        )
        .mount(&app.server)
        .await;

    let err = app.client.dashboard("gone").await.unwrap_err();

    match &err {
        LightdashError::NotFound {
            route,
            name,
            message,
        } => {
            assert_eq!(route, "/api/v1/dashboards/gone");
            assert_eq!(name, "NotFoundError");
            assert_eq!(message, "Dashboard not found");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(err.to_string().contains("Dashboard not found"));
    assert_eq!(app.server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_400_envelope_is_a_status_error_and_not_retried() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(error_envelope("offset must be >= 0, received -1")),
        )
        .mount(&app.server)
        .await;

    let err = app.client.charts(PROJECT).await.unwrap_err();

    match &err {
        LightdashError::Status {
            status,
            name,
            message,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(name, "ParameterError");
            assert_eq!(message, "offset must be >= 0, received -1");
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert_eq!(app.server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_error_envelope_inside_a_200_keeps_its_status_code() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(error_envelope("You are not allowed to download charts")),
        )
        .mount(&app.server)
        .await;

    let err = app.client.charts(PROJECT).await.unwrap_err();

    assert!(
        matches!(&err, LightdashError::Forbidden { message, .. } if message == "You are not allowed to download charts"),
        "got {err:?}"
    );
}

#[tokio::test]
async fn a_500_is_retried_then_reported_after_three_attempts() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(error_envelope("Something went wrong.")),
        )
        .mount(&app.server)
        .await;

    let err = app.client.spaces(PROJECT).await.unwrap_err();

    match &err {
        LightdashError::Status {
            status,
            name,
            message,
            ..
        } => {
            assert_eq!(*status, 500);
            assert_eq!(name, "UnexpectedServerError");
            assert_eq!(message, "Something went wrong.");
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert_eq!(app.server.received_requests().await.unwrap().len(), 3);
    assert_eq!(app.counters.by_route()["spaces"], 3);
}

#[tokio::test]
async fn a_500_then_a_200_succeeds() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(spaces_path()))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(error_envelope("Something went wrong.")),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.server)
        .await;
    Mock::given(method("GET"))
        .and(path(spaces_path()))
        .respond_with(ok(json!([{"uuid": "s1", "name": "Shared"}])))
        .with_priority(2)
        .mount(&app.server)
        .await;

    let spaces = app.client.spaces(PROJECT).await.unwrap();

    assert_eq!(spaces.len(), 1);
    assert_eq!(spaces[0].uuid, "s1");
    assert_eq!(app.server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_non_json_500_is_a_status_error_with_the_start_of_the_body() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway from nginx"))
        .mount(&app.server)
        .await;

    let err = app.client.projects().await.unwrap_err();

    assert!(
        matches!(&err, LightdashError::Status { status: 502, message, .. } if message == "Bad Gateway from nginx"),
        "got {err:?}"
    );
    assert_eq!(app.server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok(json!([])))
        .with_priority(2)
        .mount(&app.server)
        .await;

    let started = Instant::now();
    let spaces = app.client.spaces(PROJECT).await.unwrap();
    let elapsed = started.elapsed();

    assert!(spaces.is_empty());
    assert_eq!(app.server.received_requests().await.unwrap().len(), 2);
    assert!(
        elapsed >= Duration::from_millis(900),
        "came back after {elapsed:?}, before Retry-After: 1"
    );
}

// ---------------------------------------------------------------- timeouts and odd bodies

#[tokio::test]
async fn a_timeout_is_a_transport_error_without_the_token() {
    let app = spawn_with(PAT, Duration::from_millis(200)).await;
    Mock::given(method("GET"))
        .respond_with(ok(json!([])).set_delay(Duration::from_secs(3)))
        .mount(&app.server)
        .await;

    let err = app.client.spaces(PROJECT).await.unwrap_err();

    assert!(
        matches!(&err, LightdashError::Transport { .. }),
        "got {err:?}"
    );
    assert_eq!(err.status(), None);
    assert!(!err.to_string().contains(PAT));
    assert!(!format!("{err:?}").contains(PAT));
    assert!(!format!("{:?}", app.client).contains(PAT));
    // Transport errors retry like 5xx.
    assert_eq!(app.server.received_requests().await.unwrap().len(), 3);
    assert_eq!(
        app.counters.snapshot()[&("spaces".into(), "error".into())],
        3
    );
}

#[tokio::test]
async fn html_on_200_is_an_html_error_meaning_route_unavailable() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .respond_with(html())
        .mount(&app.server)
        .await;

    let err = app.client.dashboard("d1").await.unwrap_err();

    assert!(matches!(&err, LightdashError::Html { .. }), "got {err:?}");
    assert!(err.means_route_unavailable());
    assert_eq!(app.server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn json_that_is_not_the_envelope_is_a_decode_error() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"spaces": []})))
        .mount(&app.server)
        .await;

    let err = app.client.spaces(PROJECT).await.unwrap_err();

    assert!(matches!(&err, LightdashError::Decode { .. }), "got {err:?}");
    assert!(!err.means_route_unavailable());
    assert_eq!(app.server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn results_of_the_wrong_shape_are_a_decode_error() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .respond_with(ok(json!({"not": "a list"})))
        .mount(&app.server)
        .await;

    let err = app.client.spaces(PROJECT).await.unwrap_err();

    assert!(matches!(&err, LightdashError::Decode { .. }), "got {err:?}");
}

// ---------------------------------------------------------------- content as code

/// Answers an as-code request like Lightdash: page size 2 over `items`, `offset` in the
/// answer is where the next page starts, `missingIds` on every page.
struct Paged {
    items: Vec<Value>,
    missing: Vec<String>,
    page_size: usize,
}

impl wiremock::Respond for Paged {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let offset: usize = query_values(request, "offset")
            .first()
            .map(|o| o.parse().unwrap())
            .unwrap_or(0);
        let next = (offset + self.page_size).min(self.items.len());
        ok(json!({
            "charts": self.items[offset..next],
            "missingIds": self.missing,
            "total": self.items.len(),
            "offset": next,
        }))
    }
}

#[tokio::test]
async fn as_code_pages_until_offset_reaches_total() {
    let app = spawn().await;
    let items: Vec<Value> = (1..=5)
        .map(|i| json!({"slug": format!("chart-{i}"), "name": format!("Chart {i}"), "version": 1}))
        .collect();
    Mock::given(method("GET"))
        .and(path(new_charts_code()))
        .respond_with(Paged {
            items,
            missing: vec!["gone".into()],
            page_size: 2,
        })
        .mount(&app.server)
        .await;
    let wanted = ids(&[
        "chart-1", "chart-2", "chart-3", "chart-4", "chart-5", "gone",
    ]);

    let batch = app.client.charts_as_code(PROJECT, &wanted).await.unwrap();

    let requests = app.server.received_requests().await.unwrap();
    let offsets: Vec<Vec<String>> = requests.iter().map(|r| query_values(r, "offset")).collect();
    assert_eq!(offsets, [["0"], ["2"], ["4"]]);
    for r in &requests {
        assert_eq!(query_values(r, "ids"), wanted, "ids repeated on {}", r.url);
    }
    let items: Vec<Value> = batch
        .items
        .iter()
        .map(|i| serde_json::from_str(i.get()).unwrap())
        .collect();
    let slugs: Vec<&str> = items.iter().map(|i| i["slug"].as_str().unwrap()).collect();
    assert_eq!(
        slugs,
        ["chart-1", "chart-2", "chart-3", "chart-4", "chart-5"]
    );
    assert_eq!(batch.missing_ids, ["gone"]);
    assert_eq!(app.counters.by_route()["charts_as_code"], 3);
}

#[tokio::test]
async fn as_code_with_no_ids_makes_no_request() {
    let app = spawn().await;

    let batch = app.client.charts_as_code(PROJECT, &[]).await.unwrap();

    assert!(batch.items.is_empty() && batch.missing_ids.is_empty());
    assert!(app.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_real_as_code_payloads_decode() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(new_charts_code()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("01-charts-as-code.2025-08.json")),
        )
        .mount(&app.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/projects/{PROJECT}/code/dashboards")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("02-dashboards-as-code.2025-08.json")),
        )
        .mount(&app.server)
        .await;

    let charts = app
        .client
        .charts_as_code(PROJECT, &ids(&["monthly-loss-rate"]))
        .await
        .unwrap();
    let dashboards = app
        .client
        .dashboards_as_code(PROJECT, &ids(&["various-metrics-example"]))
        .await
        .unwrap();

    let (charts, bad): (BTreeMap<String, ChartDetails>, _) = decode_items(charts.items);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(charts["monthly-loss-rate"].name, "Monthly Loss Rate");
    assert_eq!(charts["monthly-loss-rate"].explore_name(), Some("deals"));
    let (dashboards, bad): (BTreeMap<String, DashboardDetails>, _) = decode_items(dashboards.items);
    assert!(bad.is_empty(), "{bad:?}");
    let d = &dashboards["various-metrics-example"];
    assert_eq!(d.name, "Various Metrics Example");
    assert_eq!(
        d.tiles[0].properties.chart_slug.as_deref(),
        Some("overall-loss-rate")
    );
    assert_eq!(
        app.counters.by_route(),
        BTreeMap::from([
            ("charts_as_code".to_string(), 1),
            ("dashboards_as_code".to_string(), 1)
        ])
    );
}

async fn as_code_falls_back_to_the_old_route(new_route_answer: ResponseTemplate) {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(new_charts_code()))
        .respond_with(new_route_answer)
        .mount(&app.server)
        .await;
    Mock::given(method("GET"))
        .and(path(old_charts_code()))
        .respond_with(ok(json!({
            "charts": [{"slug": "revenue", "name": "Revenue"}],
            "missingIds": [], "total": 1, "offset": 1
        })))
        .mount(&app.server)
        .await;
    let wanted = ids(&["revenue"]);

    let first = app.client.charts_as_code(PROJECT, &wanted).await.unwrap();

    assert_eq!(first.items.len(), 1);
    let item: Value = serde_json::from_str(first.items[0].get()).unwrap();
    assert_eq!(item["slug"], "revenue");
    assert_eq!(requests_to(&app.server, &new_charts_code()).await.len(), 1);
    assert_eq!(requests_to(&app.server, &old_charts_code()).await.len(), 1);

    // The probe is remembered: the next call goes straight to the old route.
    let second = app.client.charts_as_code(PROJECT, &wanted).await.unwrap();

    assert_eq!(second.items.len(), 1);
    assert_eq!(requests_to(&app.server, &new_charts_code()).await.len(), 1);
    assert_eq!(requests_to(&app.server, &old_charts_code()).await.len(), 2);

    // Until the probe is reset.
    app.client.reset_route_probe();
    app.client.charts_as_code(PROJECT, &wanted).await.unwrap();

    assert_eq!(requests_to(&app.server, &new_charts_code()).await.len(), 2);
    assert_eq!(requests_to(&app.server, &old_charts_code()).await.len(), 3);
}

#[tokio::test]
async fn as_code_falls_back_to_the_old_route_on_404() {
    as_code_falls_back_to_the_old_route(ResponseTemplate::new(404).set_body_json(json!({
        "status": "error",
        "error": {"statusCode": 404, "name": "NotFoundError", "message": "Route not found"}
    })))
    .await;
}

#[tokio::test]
async fn as_code_falls_back_to_the_old_route_on_html() {
    as_code_falls_back_to_the_old_route(html()).await;
}

#[tokio::test]
async fn as_code_remembers_the_new_route_when_it_works() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(new_charts_code()))
        .respond_with(ok(json!({
            "charts": [{"slug": "revenue"}], "missingIds": [], "total": 1, "offset": 1
        })))
        .mount(&app.server)
        .await;
    let wanted = ids(&["revenue"]);

    app.client.charts_as_code(PROJECT, &wanted).await.unwrap();
    app.client.charts_as_code(PROJECT, &wanted).await.unwrap();

    assert_eq!(requests_to(&app.server, &new_charts_code()).await.len(), 2);
    assert!(
        requests_to(&app.server, &old_charts_code())
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn as_code_forbidden_on_both_routes_means_use_the_legacy_routes() {
    let app = spawn().await;
    let forbidden = ResponseTemplate::new(403)
        .set_body_json(error_envelope("You are not allowed to download charts"));
    Mock::given(method("GET"))
        .and(path(new_charts_code()))
        .respond_with(forbidden.clone())
        .mount(&app.server)
        .await;
    Mock::given(method("GET"))
        .and(path(old_charts_code()))
        .respond_with(forbidden)
        .mount(&app.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/saved/chart_uuid"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("08-saved-chart.get.mock.json")),
        )
        .mount(&app.server)
        .await;
    let wanted = ids(&["chart_uuid"]);

    let err = app
        .client
        .charts_as_code(PROJECT, &wanted)
        .await
        .unwrap_err();

    assert!(err.means_route_unavailable(), "got {err:?}");
    assert!(
        matches!(&err, LightdashError::Forbidden { message, .. } if message == "You are not allowed to download charts"),
        "got {err:?}"
    );
    assert_eq!(requests_to(&app.server, &new_charts_code()).await.len(), 1);
    assert_eq!(requests_to(&app.server, &old_charts_code()).await.len(), 1);

    // Remembered: the next call fails at once, without asking either route again.
    let again = app
        .client
        .charts_as_code(PROJECT, &wanted)
        .await
        .unwrap_err();
    assert!(again.means_route_unavailable());
    assert_eq!(app.server.received_requests().await.unwrap().len(), 2);

    // The caller falls back to the legacy per-chart route.
    let chart = app.client.saved_chart("chart_uuid").await.unwrap();
    assert_eq!(chart.name, "chart name");
}

#[tokio::test]
async fn as_code_server_errors_are_not_mistaken_for_a_missing_route() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(new_charts_code()))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(error_envelope("Personal access token is not recognised")),
        )
        .mount(&app.server)
        .await;

    let err = app
        .client
        .charts_as_code(PROJECT, &ids(&["x"]))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, LightdashError::Unauthorized { .. }),
        "got {err:?}"
    );
    assert!(!err.means_route_unavailable());
    assert!(
        requests_to(&app.server, &old_charts_code())
            .await
            .is_empty()
    );
}

// ---------------------------------------------------------------- counters

#[tokio::test]
async fn counters_count_requests_per_route_label() {
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(spaces_path()))
        .respond_with(ok(json!([])))
        .mount(&app.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/projects/{PROJECT}/charts")))
        .respond_with(ok(json!([])))
        .mount(&app.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/dashboards/d1"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(error_envelope("Dashboard not found")),
        )
        .mount(&app.server)
        .await;

    app.client.spaces(PROJECT).await.unwrap();
    app.client.spaces(PROJECT).await.unwrap();
    app.client.charts(PROJECT).await.unwrap();
    app.client.dashboard("d1").await.unwrap_err();

    assert_eq!(
        app.counters.by_route(),
        BTreeMap::from([
            ("charts".to_string(), 1),
            ("dashboard".to_string(), 1),
            ("spaces".to_string(), 2),
        ])
    );
    assert_eq!(app.counters.total(), 4);
    assert_eq!(
        app.counters.snapshot()[&("dashboard".into(), "404".into())],
        1
    );
}
