//! The Lightdash client against the newer routes of the in-process mock: the trash, the
//! verification list, SQL charts (as code, by uuid, by slug) and the project GET, on both
//! server generations. Shapes are cited in `src/demo/mock_lightdash.rs`.

use std::sync::Arc;

use lightdash_dot_sync::demo::content::bundled;
use lightdash_dot_sync::demo::mock_lightdash::{
    AsCodeMode, Fault, Generation, MockLightdash, MockLightdashHandle, MockLightdashOptions, Route,
};
use lightdash_dot_sync::lightdash::types::{
    ChartDetails, ChartKind, ChartSummary, DeletedContent, UserRef, Verification,
};
use lightdash_dot_sync::lightdash::{LightdashClient, LightdashError};
use lightdash_dot_sync::stats::ApiCounters;
use secrecy::SecretString;

const SQL_UUID: &str = "5d0c1a43-6a4f-4bd1-9a7e-2f0f6b3a1c11";

async fn start(
    generation: Generation,
    as_code: AsCodeMode,
) -> (MockLightdashHandle, LightdashClient, String) {
    let mut content = bundled();
    let project = content.default_project_mut().unwrap();
    let p = project.project.project_uuid.clone();
    let space = project.spaces[0].uuid.clone();
    project
        .charts
        .push(lightdash_dot_sync::demo::content::ChartContent {
            summary: ChartSummary {
                uuid: SQL_UUID.into(),
                name: "Avg. Days in Sales Cycle".into(),
                slug: Some("avg-days-in-sales-cycle".into()),
                space_uuid: space,
                source: Some("sql".into()),
                chart_kind: Some(ChartKind::VerticalBar),
                ..Default::default()
            },
            details: ChartDetails {
                sql: Some("select 1 from deals".into()),
                ..Default::default()
            },
        });
    // 150 trashed items: more than one page of 100.
    for i in 0..150 {
        project.trash.push(DeletedContent {
            uuid: format!("b0000000-0000-4000-8000-{i:012}"),
            content_type: Some(if i % 2 == 0 { "chart" } else { "dashboard" }.into()),
            ..Default::default()
        });
    }
    project.charts[0].summary.verification = Some(Box::new(Verification {
        verified_by: Some(UserRef {
            first_name: Some("Ada".into()),
            ..Default::default()
        }),
        verified_at: Some("2026-11-02T09:00:00.000Z".into()),
    }));
    let options = MockLightdashOptions {
        generation,
        as_code,
        ..Default::default()
    };
    let token = options.token.clone();
    let mock = MockLightdash::start(content, options).await.unwrap();
    let client = LightdashClient::new(
        mock.url().parse().unwrap(),
        &SecretString::from(token),
        1000.0,
        std::time::Duration::from_secs(5),
        Arc::new(ApiCounters::new("lightdash")),
    );
    (mock, client, p)
}

#[tokio::test]
async fn trash_is_read_across_pages_and_absent_routes_read_as_none() {
    let (mock, client, p) = start(Generation::Newest, AsCodeMode::Both).await;
    let trash = client
        .deleted_content(&p)
        .await
        .unwrap()
        .expect("newest has a trash");
    assert_eq!(trash.len(), 150);
    let pages: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| r.route == Some(Route::DeletedContent))
        .flat_map(|r| r.query_values("page"))
        .collect();
    assert_eq!(pages, ["1", "2"]);
    assert!(
        mock.requests()
            .iter()
            .filter(|r| r.route == Some(Route::DeletedContent))
            .all(|r| r.query_values("projectUuids") == [p.clone()])
    );
    // A server error is an error (the caller treats the trash as unread), never "no trash".
    mock.set_fault(Route::DeletedContent, Fault::Status(500), None);
    assert!(client.deleted_content(&p).await.is_err());

    let (_old, client, p) = start(Generation::Older, AsCodeMode::Both).await;
    assert!(client.deleted_content(&p).await.unwrap().is_none());
    assert!(client.verified_content(&p).await.unwrap().is_none());
}

#[tokio::test]
async fn verification_list_names_verified_content() {
    let (mock, client, p) = start(Generation::Newest, AsCodeMode::Both).await;
    let list = client.verified_content(&p).await.unwrap().unwrap();
    let first = mock.content().default_project().unwrap().charts[0]
        .summary
        .uuid
        .clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].content_uuid, first);
    assert_eq!(list[0].content_type.as_deref(), Some("chart"));
    assert_eq!(
        list[0].verified_at.as_deref(),
        Some("2026-11-02T09:00:00.000Z")
    );
}

#[tokio::test]
async fn sql_charts_come_from_their_own_routes_and_probe_separately() {
    let (mock, client, p) = start(Generation::Newest, AsCodeMode::OldRoutes).await;
    // Asked for as an explore chart, a SQL chart is a missing id, not a chart.
    let explore = client
        .charts_as_code(&p, &[SQL_UUID.to_owned()])
        .await
        .unwrap();
    assert!(explore.items.is_empty());
    assert_eq!(explore.missing_ids, [SQL_UUID]);
    let sql = client
        .sql_charts_as_code_decoded::<ChartDetails>(&p, &[SQL_UUID.to_owned()])
        .await
        .unwrap();
    let item = &sql.items["avg-days-in-sales-cycle"];
    assert_eq!(item.sql.as_deref(), Some("select 1 from deals"));
    // Both kinds tried the new route first, then the old one (separate probes).
    let paths: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| {
            matches!(r.route, Some(Route::ChartsCode | Route::SqlChartsCode)) || r.route.is_none()
        })
        .map(|r| r.path.rsplit('/').take(2).collect::<Vec<_>>().join("<"))
        .collect();
    assert_eq!(
        paths,
        [
            "charts<code",
            "code<charts",
            "sqlCharts<code",
            "code<sqlCharts"
        ]
    );
    let by_uuid = client.sql_chart(&p, SQL_UUID).await.unwrap();
    let by_slug = client
        .sql_chart_by_slug(&p, "avg-days-in-sales-cycle")
        .await
        .unwrap();
    assert_eq!(by_uuid.saved_sql_uuid.as_deref(), Some(SQL_UUID));
    assert_eq!(by_slug.saved_sql_uuid.as_deref(), Some(SQL_UUID));
    assert_eq!(by_uuid.space.unwrap().uuid, by_slug.space.unwrap().uuid);
    assert!(matches!(
        client.sql_chart(&p, "no-such-chart").await,
        Err(LightdashError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_missing_project_is_a_not_found_error_envelope() {
    let (_mock, client, p) = start(Generation::Newest, AsCodeMode::Both).await;
    client.project(&p).await.unwrap();
    match client.project("00000000-0000-4000-8000-000000000000").await {
        Err(LightdashError::NotFound { name, .. }) => assert_eq!(name, "NotFoundError"),
        other => panic!("{other:?}"),
    }
}
