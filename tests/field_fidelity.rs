//! Lightdash as it is in the field (issue 11): SQL-runner charts, private charts on public
//! dashboards, verified content, trashed content, against both server generations of the
//! in-process mock. Each run must push exactly what Lightdash shows a project member, succeed
//! (`--once` exits 0) and leak nothing.
//!
//! Shapes (cited in the mock): the SQL chart is `lightdash/lightdash-demo-saas`
//! `lightdash/charts/avg-days-in-sales-cycle.sql.yml` (reduced); its dashboard tile follows
//! `lightdash/dashboards/sales-overview-wip.yml` there (a `sql_chart` tile next to explore
//! charts, and a filter whose `tileTargets` skip it).

mod support;

use std::collections::BTreeMap;

use lightdash_dot_sync::demo::content::{ChartContent, LightdashContent, bundled};
use lightdash_dot_sync::demo::mock_lightdash::{Generation, MockLightdashOptions, Route};
use lightdash_dot_sync::lightdash::types::{
    ChartDetails, ChartKind, ChartSummary, DashboardTile, SpaceSummary, TileProperties, TileType,
    UserRef, Verification,
};
use lightdash_dot_sync::sync::Outcome;
use serde_json::json;
use support::{AppOptions, TestApp, chart_id, dashboard_id, spawn_app_with};

const SQL_CHART: &str = "5d0c1a43-6a4f-4bd1-9a7e-2f0f6b3a1c11";
const BOARD_SPACE: &str = "0b4c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d";
const BOARD_CHART: &str = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b";
const SALES_SPACE: &str = "66080f17-4c96-48e2-9cbd-0ba3a1a6bcde";
const SALES_OVERVIEW: &str = "99356597-6fba-4662-b6a7-30b7b12e9eed";
const MONTHLY_REVENUE: &str = "c498b6e7-3648-445e-9afa-3a387f006745";
const BOARD_NAME: &str = "Board Compensation Plan";
/// Charts Autopilot trashes at once: well over `max_deactivate_fraction` of the project.
const STALE: usize = 30;

fn ada() -> UserRef {
    UserRef {
        user_uuid: Some("0a0a0a0a-0000-4000-8000-000000000001".into()),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
    }
}

fn tile(uuid: &str, tile_type: TileType, properties: TileProperties, y: f64) -> DashboardTile {
    DashboardTile {
        uuid: Some(uuid.into()),
        tile_type,
        x: 0.0,
        y,
        w: 12.0,
        h: 6.0,
        properties,
        ..Default::default()
    }
}

/// The bundled organisation plus: a SQL chart on "Sales overview"; a restricted space
/// (does not inherit, under the public Sales space) holding "Board Compensation Plan",
/// also tiled on "Sales overview" and skipped by a dashboard filter; a verified chart and
/// dashboard; a data-app tile; and [`STALE`] charts Autopilot will trash.
fn field_content() -> LightdashContent {
    let mut content = bundled();
    let project = content.default_project_mut().expect("default project");
    project.spaces.push(SpaceSummary {
        uuid: BOARD_SPACE.into(),
        name: "Board".into(),
        slug: Some("board".into()),
        parent_space_uuid: Some(SALES_SPACE.into()),
        path: Some("sales.board".into()),
        // Older servers say it with `isPrivate`, newer ones by not inheriting.
        is_private: true,
        inherit_parent_permissions: Some(false),
        ..Default::default()
    });
    let template = project.charts[0].clone();
    let mut board = template.clone();
    board.summary = ChartSummary {
        uuid: BOARD_CHART.into(),
        name: BOARD_NAME.into(),
        description: Some("Executive pay bands".into()),
        slug: Some("board-compensation-plan".into()),
        space_uuid: BOARD_SPACE.into(),
        ..template.summary.clone()
    };
    project.charts.push(board);
    project.charts.push(ChartContent {
        summary: ChartSummary {
            uuid: SQL_CHART.into(),
            name: "Avg. Days in Sales Cycle".into(),
            description: Some(
                "The average amount of time deals spent from open to close in the sales cycle"
                    .into(),
            ),
            slug: Some("avg-days-in-sales-cycle".into()),
            space_uuid: SALES_SPACE.into(),
            updated_at: Some("2026-10-01T08:00:00.000Z".into()),
            chart_kind: Some(ChartKind::VerticalBar),
            source: Some("sql".into()),
            views: 42,
            ..Default::default()
        },
        details: ChartDetails {
            sql: Some("WITH metrics AS (\n  SELECT DATE_TRUNC(deals.created_date, MONTH) AS deals_created_date_month\n  FROM `demo-warehouse`.`saas`.`deals` AS deals\n)\nSELECT FORMAT_DATE('%Y-%m', deals_created_date_month) AS deals_created_month,\n  ROUND(AVG(7), 1) AS avg_days_in_sales_cycle\nFROM metrics\nGROUP BY deals_created_month\nLIMIT 500;".into()),
            limit: Some(500),
            chart_kind: Some(ChartKind::VerticalBar),
            config: Some(json!({
                "fieldConfig": {
                    "x": {"reference": "deals_created_month", "type": "category"},
                    "y": [{"aggregation": "avg", "reference": "avg_days_in_sales_cycle"}]
                },
                "type": "vertical_bar",
                "metadata": {"version": 1}
            })),
            ..Default::default()
        },
    });
    for i in 0..STALE {
        let mut c = template.clone();
        c.summary.uuid = format!("a0000000-0000-4000-8000-{i:012}");
        c.summary.name = format!("Stale exploration {i}");
        c.summary.slug = Some(format!("stale-exploration-{i}").into());
        project.charts.push(c);
    }
    // A parameter (`lightdash.config.yml`), saved on a chart.
    project.parameters.insert(
        "region".into(),
        serde_json::from_value(
            json!({"label": "Sales region", "options": ["EMEA", "APAC"], "default": "EMEA"}),
        )
        .unwrap(),
    );
    let revenue = project.chart_mut(MONTHLY_REVENUE).expect("monthly revenue");
    revenue.details.parameters = Some(BTreeMap::from([("region".to_owned(), json!("APAC"))]));
    revenue.summary.verification = Some(Box::new(Verification {
        verified_by: Some(ada()),
        verified_at: Some("2026-11-02T09:00:00.000Z".into()),
    }));
    let overview = project
        .dashboard_mut(SALES_OVERVIEW)
        .expect("sales overview");
    overview.summary.verification = Some(Box::new(Verification {
        verified_by: Some(ada()),
        verified_at: Some("2026-11-03T09:00:00.000Z".into()),
    }));
    let tiles = &mut overview.details.tiles;
    tiles.push(tile(
        "7a1b2c3d-0000-4000-8000-000000000001",
        TileType::SqlChart,
        TileProperties {
            saved_sql_uuid: Some(SQL_CHART.into()),
            chart_name: Some("Avg. Days in Sales Cycle".into()),
            ..Default::default()
        },
        40.0,
    ));
    tiles.push(tile(
        "7a1b2c3d-0000-4000-8000-000000000002",
        TileType::SavedChart,
        TileProperties {
            saved_chart_uuid: Some(BOARD_CHART.into()),
            chart_name: Some(BOARD_NAME.into()),
            ..Default::default()
        },
        46.0,
    ));
    tiles.push(tile(
        "7a1b2c3d-0000-4000-8000-000000000003",
        TileType::DataApp,
        TileProperties {
            title: Some("Pipeline planner".into()),
            app_uuid: Some("9f9f9f9f-0000-4000-8000-000000000001".into()),
            ..Default::default()
        },
        52.0,
    ));
    if let Some(rule) = overview.details.filters.dimensions.first_mut() {
        let mut targets: BTreeMap<String, serde_json::Value> =
            rule.tile_targets.clone().unwrap_or_default();
        targets.insert("7a1b2c3d-0000-4000-8000-000000000002".into(), json!(false));
        rule.tile_targets = Some(targets);
    }
    content
}

async fn app(generation: Generation) -> TestApp {
    spawn_app_with(AppOptions {
        content: field_content(),
        lightdash: MockLightdashOptions {
            generation,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
}

/// Every string field of every asset Dot holds, for leak checks.
fn everything_sent(app: &TestApp) -> String {
    app.dot
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_no_leak(app: &TestApp) {
    let sent = everything_sent(app);
    for secret in [
        BOARD_NAME,
        "board-compensation-plan",
        "Executive pay bands",
        BOARD_CHART,
    ] {
        assert!(!sent.contains(secret), "{secret} reached Dot");
    }
}

#[tokio::test]
async fn newest_server_pushes_what_a_member_sees_and_trash_confirms_bulk_deletions() {
    let app = app(Generation::Newest).await;
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    assert_eq!(run.report.failed, 0, "{:?}", run.report.failures);
    assert_eq!(run.report.outcome.exit_code(), 0);
    assert_no_leak(&app);

    let assets = app.dot.assets();
    // The SQL chart is an asset of its own, fetched as SQL-chart code, never as an explore
    // chart (which would answer `missingIds`).
    let sql = &assets[&chart_id(SQL_CHART)];
    assert_eq!(sql.subtype, "lightdash_chart");
    let md = sql.dot_description.as_deref().unwrap();
    assert!(md.contains("Lightdash SQL chart (bar chart"), "{md}");
    assert!(md.contains("```sql\nWITH metrics AS ("), "{md}");
    assert!(
        md.contains("- Reads tables: `demo-warehouse.saas.deals`"),
        "{md}"
    );
    assert!(!md.contains("`metrics`"), "a CTE is not a table: {md}");
    assert!(md.contains("avg_days_in_sales_cycle (y axis, avg)"), "{md}");
    assert!(md.contains("- Sales overview"), "shown on: {md}");
    assert!(
        sql.url
            .as_deref()
            .unwrap()
            .ends_with("/sql-runner/avg-days-in-sales-cycle"),
        "{:?}",
        sql.url
    );
    let sql_requests = app.lightdash.count(Route::SqlChartsCode);
    assert!(sql_requests > 0);
    let asked_as_explore: Vec<String> = app
        .lightdash
        .requests()
        .iter()
        .filter(|r| r.route == Some(Route::ChartsCode))
        .flat_map(|r| r.query_values("ids"))
        .collect();
    assert!(!asked_as_explore.contains(&SQL_CHART.to_owned()));

    // The restricted chart is not synced, and its tile is a neutral placeholder.
    assert!(!assets.contains_key(&chart_id(BOARD_CHART)));
    let overview = assets[&dashboard_id(SALES_OVERVIEW)]
        .dot_description
        .clone()
        .unwrap();
    assert!(
        overview.contains("### A chart that is not shared here"),
        "{overview}"
    );
    assert!(
        overview.contains("### Avg. Days in Sales Cycle (SQL bar chart)"),
        "{overview}"
    );
    assert!(
        overview.contains("### Pipeline planner (data app)"),
        "{overview}"
    );
    assert!(
        overview.contains("- Verified by Ada Lovelace on 2026-11-03"),
        "{overview}"
    );
    let revenue = assets[&chart_id(MONTHLY_REVENUE)]
        .dot_description
        .clone()
        .unwrap();
    assert!(
        revenue.contains("- Verified by Ada Lovelace on 2026-11-02"),
        "{revenue}"
    );

    // Unverifying reaches Dot in the next incremental cycle (updatedAt does not move).
    app.lightdash.update(|c| {
        c.chart_mut(MONTHLY_REVENUE).unwrap().summary.verification = None;
    });
    app.clear_requests();
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success);
    let revenue = app.dot.assets()[&chart_id(MONTHLY_REVENUE)]
        .dot_description
        .clone()
        .unwrap();
    assert!(!revenue.contains("Verified"), "{revenue}");

    // Autopilot trashes many charts at once: more than the fail-safe would allow for
    // unexplained disappearances, but the trash confirms them.
    app.lightdash.update(|c| {
        let p = c.default_project_mut().unwrap();
        for i in 0..STALE {
            p.trash_chart(&format!("a0000000-0000-4000-8000-{i:012}"), None)
                .unwrap();
        }
    });
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    assert!(run.report.failsafe.is_empty(), "{:?}", run.report.failsafe);
    assert_eq!(run.report.deactivated, STALE);
    let restored = "a0000000-0000-4000-8000-000000000003";
    assert!(!app.dot.assets()[&chart_id(restored)].active);

    // Restored from the trash: active again, same id.
    app.lightdash.update(|c| {
        c.default_project_mut().unwrap().restore(restored).unwrap();
    });
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success);
    assert!(app.dot.assets()[&chart_id(restored)].active);
    assert_no_leak(&app);
}

#[tokio::test]
async fn unexplained_bulk_disappearances_still_trip_the_failsafe() {
    let app = app(Generation::Newest).await;
    app.cycle().await;
    // Gone from the listing but not in the trash: a permission glitch as far as we know.
    app.lightdash.update(|c| {
        let p = c.default_project_mut().unwrap();
        for i in 0..STALE {
            p.remove_chart(&format!("a0000000-0000-4000-8000-{i:012}"));
        }
    });
    let run = app.cycle().await;
    assert_eq!(run.report.failsafe.len(), 1, "{:?}", run.report);
    assert_eq!(run.report.deactivated, 0);
    assert_ne!(run.report.outcome.exit_code(), 0);
}

#[tokio::test]
async fn older_server_without_trash_or_sql_listing_degrades_quietly() {
    let app = app(Generation::Older).await;
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    assert_eq!(run.report.failed, 0, "{:?}", run.report.failures);
    assert_no_leak(&app);
    let assets = app.dot.assets();
    // Older spaces carry only `isPrivate`: the private sandbox is out, public ones are in.
    assert!(assets.contains_key(&chart_id(MONTHLY_REVENUE)));
    let overview = assets[&dashboard_id(SALES_OVERVIEW)]
        .dot_description
        .clone()
        .unwrap();
    assert!(!overview.contains("Verified"), "{overview}");
    let revenue = assets[&chart_id(MONTHLY_REVENUE)]
        .dot_description
        .clone()
        .unwrap();
    assert!(
        !revenue.contains("## Parameters"),
        "older servers have none: {revenue}"
    );
    // The SQL chart is not listed here; its tile is found through the dashboard the state
    // now holds, and from the next cycle on it is an asset and its tile says what it shows.
    assert!(!assets.contains_key(&chart_id(SQL_CHART)));
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    let assets = app.dot.assets();
    let sql = assets[&chart_id(SQL_CHART)]
        .dot_description
        .clone()
        .unwrap();
    assert!(
        sql.contains("- Reads tables: `demo-warehouse.saas.deals`"),
        "{sql}"
    );
    let overview = assets[&dashboard_id(SALES_OVERVIEW)]
        .dot_description
        .clone()
        .unwrap();
    assert!(
        overview.contains("### Avg. Days in Sales Cycle (SQL bar chart)"),
        "{overview}"
    );
    assert!(app.lightdash.count(Route::SqlChart) > 0);
    // The third cycle changes nothing.
    let run = app.cycle().await;
    assert_eq!(run.report.pushed_total(), 0, "{:?}", run.report);
    assert_no_leak(&app);
    // The trash route answers the SPA: no error, and the fail-safe keeps guarding.
    app.lightdash.update(|c| {
        let p = c.default_project_mut().unwrap();
        for i in 0..STALE {
            p.trash_chart(&format!("a0000000-0000-4000-8000-{i:012}"), None)
                .unwrap();
        }
    });
    let run = app.cycle().await;
    assert_eq!(run.report.failsafe.len(), 1, "{:?}", run.report);
    assert_eq!(run.report.deactivated, 0);
}

#[tokio::test]
async fn a_deleted_project_is_deactivated_only_when_lightdash_confirms_it() {
    let app = app(Generation::Newest).await;
    app.cycle().await;
    let p = app
        .content()
        .default_project()
        .unwrap()
        .project
        .project_uuid
        .clone();
    let active_before = app.dot.assets().values().filter(|a| a.active).count();
    // Not listed, but still there for the API (a token that lost access): left alone.
    app.lightdash.set_fault(
        Route::Projects,
        lightdash_dot_sync::demo::mock_lightdash::Fault::EmptyList,
        Some(1),
    );
    let run = app.cycle().await;
    assert_eq!(run.report.deactivated, 0, "{:?}", run.report);
    assert!(run.report.projects_deleted.is_empty());
    // Really deleted: Lightdash answers NotFoundError on the project.
    app.lightdash
        .update(|c| c.projects.retain(|x| x.project.project_uuid != p));
    let run = app.cycle().await;
    assert_eq!(run.report.projects_deleted, vec![p.clone()]);
    assert!(run.report.deactivated > 10, "{:?}", run.report);
    assert!(run.report.failsafe.is_empty());
    let still_active = app
        .dot
        .assets()
        .values()
        .filter(|a| {
            a.active
                && a.folder
                    .as_deref()
                    .is_some_and(|f| f.starts_with("Jaffle Shop"))
        })
        .count();
    assert_eq!(still_active, 0, "of {active_before}");
}

#[tokio::test]
async fn an_unreadable_trash_confirms_nothing_and_fails_nothing() {
    let app = app(Generation::Newest).await;
    app.cycle().await;
    app.lightdash.update(|c| {
        let p = c.default_project_mut().unwrap();
        for i in 0..STALE {
            p.trash_chart(&format!("a0000000-0000-4000-8000-{i:012}"), None)
                .unwrap();
        }
    });
    app.lightdash.set_fault(
        Route::DeletedContent,
        lightdash_dot_sync::demo::mock_lightdash::Fault::Status(500),
        None,
    );
    let run = app.cycle().await;
    assert!(run.report.projects_failed.is_empty(), "{:?}", run.report);
    assert_eq!(
        run.report.failsafe.len(),
        1,
        "unexplained without the trash"
    );
    assert_eq!(run.report.deactivated, 0);
    app.lightdash.clear_faults();
    let run = app.cycle().await;
    assert!(run.report.failsafe.is_empty(), "{:?}", run.report);
    assert_eq!(run.report.deactivated, STALE);
}
