//! Integration tests of the sync cycle against the in-process mock Lightdash and mock Dot.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use lightdash_dot_sync::demo::content::{ChartContent, bundled};
use lightdash_dot_sync::demo::mock_dot::{DotFault, DotFaultKind, validate_import_body};
use lightdash_dot_sync::demo::mock_lightdash::{AsCodeMode, Fault, MockLightdashOptions, Route};
use lightdash_dot_sync::lightdash::types::SortField;
use lightdash_dot_sync::sync::plan::{Action, UpsertReason};
use lightdash_dot_sync::sync::{CycleKind, CycleOptions, Outcome};

use support::*;

const DETAIL_ROUTES: [Route; 5] = [
    Route::ChartsCode,
    Route::DashboardsCode,
    Route::LegacyChart,
    Route::LegacyDashboard,
    Route::Explore,
];

fn active_of(body: &Value) -> Option<bool> {
    body.get("external_asset")?.get("active")?.as_bool()
}

/// Ids Dot received with `active: false` since the last clear.
fn deactivated_ids(app: &TestApp) -> BTreeSet<String> {
    app.dot
        .requests()
        .into_iter()
        .filter(|r| active_of(&r.body) == Some(false))
        .filter_map(|r| r.id)
        .collect()
}

fn chart_by_name(app: &TestApp, name: &str) -> ChartContent {
    app.content()
        .default_project()
        .and_then(|p| p.chart_named(name))
        .cloned()
        .unwrap_or_else(|| panic!("chart {name:?} in the bundled content"))
}

/// Renames a chart and returns the ids a cycle must push for it: the chart, the dashboards
/// showing it, its space.
fn rename_chart(app: &TestApp, name: &str) -> BTreeSet<String> {
    let chart = chart_by_name(app, name);
    app.lightdash.update(|c| {
        let ch = c.chart_mut(&chart.summary.uuid).unwrap();
        ch.summary.name = format!("{} (renamed)", ch.summary.name);
    });
    let content = app.content();
    let project = content.default_project().unwrap();
    let mut expected: BTreeSet<String> = dashboards_showing(project, &chart.summary.uuid)
        .iter()
        .map(|d| dashboard_id(d))
        .collect();
    expected.insert(chart_id(&chart.summary.uuid));
    expected.insert(space_id(&chart.summary.space_uuid));
    expected
}

/// Edits a chart's query (a versioned edit: `updatedAt` bumped): flips its first sort (or
/// adds one on its first metric) and changes its limit. Sorts are shown in the dashboards'
/// tiles too, so the dashboards showing the chart render differently.
fn edit_chart_query(app: &TestApp, uuid: &str, stamp: &str) {
    app.lightdash.update(|c| {
        let ch = c.chart_mut(uuid).unwrap();
        let query = &mut ch.details.metric_query;
        match query.sorts.first_mut() {
            Some(sort) => sort.descending = !sort.descending,
            None => {
                let field_id = query.metrics.first().cloned().unwrap_or_default();
                query.sorts.push(SortField {
                    field_id,
                    descending: true,
                });
            }
        }
        let limit = query.limit.unwrap_or(500);
        query.limit = Some(limit + 7);
        ch.summary.updated_at = Some(stamp.to_owned());
    });
}

// 1
#[tokio::test]
async fn first_cycle_pushes_every_in_scope_asset_with_valid_bodies() {
    let app = spawn_app().await;
    let content = app.content();
    let expected = expected_ids(&content);
    // The bundled content has a PREVIEW project and a private space: some ids must stay out.
    let excluded: BTreeSet<String> = all_ids(&content).difference(&expected).cloned().collect();
    assert!(
        !excluded.is_empty(),
        "bundled content has out-of-scope items"
    );
    let preview = content
        .projects
        .iter()
        .find(|p| {
            p.project.project_type == lightdash_dot_sync::lightdash::types::ProjectType::Preview
        })
        .expect("bundled content has a preview project");
    let private_chart = content
        .default_project()
        .unwrap()
        .charts
        .iter()
        .find(|c| {
            private_spaces(content.default_project().unwrap()).contains(&c.summary.space_uuid)
        })
        .expect("a chart in a private space");

    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    assert_eq!(run.report.outcome.exit_code(), 0);

    let raw = app.dot.raw_assets();
    let stored: BTreeSet<String> = raw.keys().cloned().collect();
    assert_eq!(stored, expected);
    assert_eq!(app.dot_id_set(), expected);
    assert_eq!(run.report.pushed_total(), expected.len());
    assert!(!stored.contains(&chart_id(&private_chart.summary.uuid)));
    for d in &preview.dashboards {
        assert!(!stored.contains(&dashboard_id(&d.summary.uuid)));
    }

    for (id, asset) in &raw {
        let errors = validate_import_body(&json!({ "external_asset": asset }));
        assert!(errors.is_empty(), "{id}: {errors:?}");
        assert_eq!(asset["active"], json!(true), "{id}");
        assert!(
            asset.as_object().unwrap().contains_key("last_accessed_at"),
            "{id} sends last_accessed_at"
        );
        assert_eq!(asset["last_accessed_at"], Value::Null, "{id}");
        let subtype = asset["subtype"].as_str().unwrap();
        let kind = subtype
            .strip_prefix("lightdash_")
            .expect("lightdash_ subtype");
        assert!(["dashboard", "chart", "space"].contains(&kind), "{subtype}");
        let uuid = id
            .strip_prefix(&format!("lightdash-{kind}-"))
            .unwrap_or_else(|| panic!("{id} matches subtype {subtype}"));
        assert_eq!(uuid.len(), 36, "{id} ends with a uuid");
        assert_eq!(asset["id"], json!(id));
    }
    // Every request Dot received was accepted.
    assert!(app.dot.requests().iter().all(|r| r.status == 200));
}

// 2
#[tokio::test]
async fn second_cycle_pushes_nothing_and_fetches_no_details() {
    let app = spawn_app().await;
    app.cycle().await;
    app.clear_requests();

    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success);
    assert!(app.dot.requests().is_empty(), "{:?}", app.dot_ids());
    assert_eq!(run.report.pushed_total(), 0);
    assert_eq!(run.report.dot_requests, 0);
    for route in DETAIL_ROUTES {
        assert_eq!(app.lightdash.count(route), 0, "{route:?}");
    }
    let projects = synced_projects(&app.content()).len();
    // Per project: the three listings, the trash and the verification list (newest servers).
    assert_eq!(app.lightdash.requests().len(), 1 + 5 * projects);
    assert_eq!(run.report.lightdash_total(), (1 + 5 * projects) as u64);
    assert_eq!(run.report.deactivated, 0);
}

// 3
#[tokio::test]
async fn renamed_chart_pushes_chart_its_dashboards_and_space_without_fetching() {
    let app = spawn_app().await;
    app.cycle().await;
    let chart = chart_by_name(&app, "Monthly revenue");
    let expected = rename_chart(&app, "Monthly revenue");
    assert!(expected.len() >= 3, "the chart is on a dashboard");
    app.clear_requests();

    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success);
    assert_eq!(app.dot_id_set(), expected);
    assert_eq!(app.dot_ids().len(), expected.len(), "each pushed once");
    assert_eq!(app.lightdash.count(Route::LegacyChart), 0);
    for r in app.lightdash.requests() {
        if r.route == Some(Route::ChartsCode) {
            let ids = r.query_values("ids");
            assert!(!ids.contains(&chart.summary.uuid), "{r:?}");
            assert!(
                chart
                    .summary
                    .slug
                    .as_deref()
                    .is_none_or(|s| !ids.iter().any(|i| i == s)),
                "{r:?}"
            );
        }
    }
    let stored = app.dot.assets();
    assert!(
        stored[&chart_id(&chart.summary.uuid)]
            .name
            .as_deref()
            .unwrap()
            .ends_with("(renamed)")
    );
}

// 4
#[tokio::test]
async fn edited_chart_query_fetches_that_chart_and_pushes_its_dependents() {
    let app = spawn_app().await;
    app.cycle().await;
    let chart = chart_by_name(&app, "Revenue by product category");
    let uuid = chart.summary.uuid.clone();
    let content = app.content();
    let dashboards: BTreeSet<String> =
        dashboards_showing(content.default_project().unwrap(), &uuid)
            .iter()
            .map(|d| dashboard_id(d))
            .collect();
    assert!(!dashboards.is_empty());
    edit_chart_query(&app, &uuid, "2031-01-01T00:00:00.000Z");
    app.clear_requests();

    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success);
    let fetched_it = app.lightdash.requests().iter().any(|r| match r.route {
        Some(Route::ChartsCode) => {
            let ids = r.query_values("ids");
            ids.contains(&uuid)
                || chart
                    .summary
                    .slug
                    .as_deref()
                    .is_some_and(|s| ids.iter().any(|i| i == s))
        }
        Some(Route::LegacyChart) => r.path.contains(&uuid),
        _ => false,
    });
    assert!(fetched_it, "{:?}", app.lightdash.requests());

    let mut must: BTreeSet<String> = dashboards.clone();
    must.insert(chart_id(&uuid));
    let mut may = must.clone();
    may.insert(space_id(&chart.summary.space_uuid));
    let pushed = app.dot_id_set();
    assert!(pushed.is_superset(&must), "{pushed:?}");
    assert!(pushed.is_subset(&may), "{pushed:?}");
}

// 5
#[tokio::test]
async fn chart_moved_to_private_space_is_deactivated_and_never_sent_active() {
    let app = spawn_app().await;
    app.cycle().await;
    let content = app.content();
    let project = content.default_project().unwrap();
    let private = project
        .spaces
        .iter()
        .find(|s| s.is_private)
        .unwrap()
        .uuid
        .clone();
    let chart = chart_by_name(&app, "EMEA orders by country");
    let id = chart_id(&chart.summary.uuid);
    app.lightdash.update(|c| {
        c.chart_mut(&chart.summary.uuid).unwrap().summary.space_uuid = private.clone();
    });
    // Something else happens in the same cycle.
    let renamed = rename_chart(&app, "Payment method mix");
    app.clear_requests();

    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    assert!(run.report.deactivated >= 1);
    assert!(app.dot_id_set().is_superset(&renamed));
    let for_it: Vec<_> = app
        .dot
        .requests()
        .into_iter()
        .filter(|r| r.id.as_deref() == Some(&id))
        .collect();
    assert!(!for_it.is_empty());
    assert!(for_it.iter().all(|r| active_of(&r.body) == Some(false)));
    assert_eq!(app.dot.raw_assets()[&id]["active"], json!(false));
    assert!(!app.dot_id_set().contains(&space_id(&private)));

    // Later cycles never send it active again.
    app.clear_requests();
    rename_chart(&app, "Refunds over time");
    app.cycle().await;
    app.cycle().await;
    assert!(
        app.dot
            .requests()
            .iter()
            .filter(|r| r.id.as_deref() == Some(&id))
            .all(|r| active_of(&r.body) == Some(false))
    );
    assert_eq!(app.dot.raw_assets()[&id]["active"], json!(false));
}

// 6
#[tokio::test]
async fn deleted_dashboard_is_deactivated_once() {
    let app = spawn_app().await;
    app.cycle().await;
    let uuid = app
        .content()
        .default_project()
        .unwrap()
        .dashboard_named("Campaign performance")
        .unwrap()
        .summary
        .uuid
        .clone();
    let id = dashboard_id(&uuid);
    assert!(
        app.lightdash
            .update(|c| c.remove_dashboard(&uuid))
            .is_some()
    );
    app.clear_requests();

    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    assert_eq!(run.report.deactivated, 1);
    assert_eq!(deactivated_ids(&app), BTreeSet::from([id.clone()]));
    assert_eq!(
        app.dot_ids().iter().filter(|i| **i == id).count(),
        1,
        "sent once"
    );
    assert_eq!(app.dot.raw_assets()[&id]["active"], json!(false));

    app.clear_requests();
    let run = app.cycle().await;
    assert_eq!(run.report.deactivated, 0);
    assert!(!app.dot_id_set().contains(&id));
    assert!(app.dot.requests().is_empty(), "{:?}", app.dot_ids());
}

// 7
#[tokio::test]
async fn failed_listing_skips_deactivations_and_fails_the_cycle() {
    let app = spawn_app().await;
    app.cycle().await;
    app.lightdash.update(|c| {
        let p = c.default_project_mut().unwrap();
        let d = p
            .dashboard_named("Payments and refunds")
            .unwrap()
            .summary
            .uuid
            .clone();
        p.remove_dashboard(&d);
        for name in ["Monthly revenue", "Campaign order funnel"] {
            let uuid = p.chart_named(name).unwrap().summary.uuid.clone();
            p.remove_chart_everywhere(&uuid);
        }
    });
    app.lightdash
        .set_fault(Route::Charts, Fault::Status(500), None);
    app.clear_requests();

    let run = app.cycle().await;
    assert_eq!(run.report.deactivated, 0);
    assert!(
        deactivated_ids(&app).is_empty(),
        "{:?}",
        deactivated_ids(&app)
    );
    assert!(
        app.dot
            .raw_assets()
            .values()
            .all(|a| a["active"] == json!(true))
    );
    assert_eq!(run.report.outcome, Outcome::Failed);
    assert_eq!(run.report.outcome.exit_code(), 2);
    assert!(!run.report.projects_failed.is_empty());
    assert!(app.lightdash.count(Route::Charts) >= 1);

    // Once the listing works again, the deletions are carried out.
    app.lightdash.clear_faults();
    let gone: BTreeSet<String> = state_ids(&app)
        .difference(&expected_ids(&app.content()))
        .cloned()
        .collect();
    assert_eq!(gone.len(), 3, "{gone:?}");
    app.clear_requests();
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    assert_eq!(deactivated_ids(&app), gone);
}

/// Ids the state knows as active.
fn state_ids(app: &TestApp) -> BTreeSet<String> {
    app.ctx()
        .store
        .index()
        .unwrap()
        .into_iter()
        .filter(|(_, e)| e.active)
        .map(|(id, _)| id)
        .collect()
}

/// The bundled content plus `n` synthetic charts in a public space, off every dashboard.
fn with_synthetic_charts(
    n: usize,
) -> (
    lightdash_dot_sync::demo::content::LightdashContent,
    Vec<String>,
) {
    let mut content = bundled();
    let project = content.default_project_mut().unwrap();
    let template = project.chart_named("Refunds over time").unwrap().clone();
    let mut uuids = Vec::new();
    for i in 0..n {
        let mut c = template.clone();
        let uuid = format!("00000000-0000-4000-8000-{i:012}");
        let slug = format!("synthetic-chart-{i}");
        c.summary.uuid = uuid.clone();
        c.summary.name = format!("Synthetic chart {i}");
        c.summary.slug = Some(slug.as_str().into());
        c.details.uuid = Some(uuid.clone());
        c.details.slug = Some(slug);
        c.details.name = c.summary.name.clone();
        project.charts.push(c);
        uuids.push(uuid);
    }
    (content, uuids)
}

// 8
#[tokio::test]
async fn mass_deactivation_trips_the_failsafe_unless_allowed() {
    let (content, _) = with_synthetic_charts(30);
    let app = spawn_app_with(AppOptions {
        content,
        ..Default::default()
    })
    .await;
    let first = app.cycle().await;
    assert_eq!(first.report.outcome, Outcome::Success, "{:?}", first.report);
    let before = expected_ids(&app.content());
    assert_eq!(app.dot.raw_assets().len(), before.len());

    // Every dashboard and chart vanishes; only the spaces remain.
    app.lightdash.update(|c| {
        let p = c.default_project_mut().unwrap();
        p.dashboards.clear();
        p.charts.clear();
    });
    let after = expected_ids(&app.content());
    let gone: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert!(gone.len() * 10 >= before.len() * 8, "at least 80 % vanish");
    assert!(gone.len() > 10);
    app.clear_requests();

    let run = app.cycle().await;
    assert_eq!(run.report.deactivated, 0);
    assert!(deactivated_ids(&app).is_empty());
    assert!(!run.report.failsafe.is_empty());
    assert_eq!(run.report.outcome.exit_code(), 2);
    for id in &gone {
        assert_eq!(app.dot.raw_assets()[id]["active"], json!(true), "{id}");
    }

    app.clear_requests();
    let run = app
        .cycle_with(CycleOptions {
            allow_mass_deactivation: true,
            ..Default::default()
        })
        .await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    assert!(run.report.failsafe.is_empty());
    assert_eq!(run.report.deactivated, gone.len());
    assert_eq!(deactivated_ids(&app), gone);
    let raw = app.dot.raw_assets();
    for id in &gone {
        assert_eq!(raw[id]["active"], json!(false), "{id}");
    }
}

// 9
#[tokio::test]
async fn dot_500_for_one_asset_is_a_partial_failure_and_retried_next_cycle() {
    let app = spawn_app().await;
    let chart = chart_by_name(&app, "Order size distribution");
    let id = chart_id(&chart.summary.uuid);
    app.dot.set_fault(DotFault {
        id: Some(id.clone()),
        kind: DotFaultKind::Status(500),
        times: None,
    });

    let run = app.cycle().await;
    assert_eq!(
        run.report.outcome,
        Outcome::PartialFailure,
        "{:?}",
        run.report
    );
    assert_eq!(run.report.outcome.exit_code(), 1);
    assert_eq!(run.report.failed, 1);
    assert!(run.report.failures.iter().any(|f| f.id == id));
    let mut others = expected_ids(&app.content());
    others.remove(&id);
    let in_dot: BTreeSet<String> = app.dot.raw_assets().keys().cloned().collect();
    assert_eq!(in_dot, others);
    let committed: BTreeSet<String> = app
        .ctx()
        .store
        .index()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(committed, others);
    assert!(app.ctx().store.entry(&id).unwrap().is_none());

    app.dot.clear_faults();
    app.clear_requests();
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    assert_eq!(app.dot_ids(), vec![id.clone()]);
    assert!(app.ctx().store.entry(&id).unwrap().is_some());
}

// 10
#[tokio::test]
async fn retry_after_is_honoured_within_the_cycle() {
    let app = spawn_app().await;
    let chart = chart_by_name(&app, "Payment method mix");
    let id = chart_id(&chart.summary.uuid);
    app.dot.set_fault(DotFault {
        id: Some(id.clone()),
        kind: DotFaultKind::RetryAfter {
            status: 429,
            after: "1".into(),
        },
        times: Some(1),
    });

    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    let for_it: Vec<_> = app
        .dot
        .requests()
        .into_iter()
        .filter(|r| r.id.as_deref() == Some(&id))
        .collect();
    assert_eq!(for_it.len(), 2, "{for_it:?}");
    assert_eq!(for_it[0].status, 429);
    assert_eq!(for_it[1].status, 200);
    let gap = for_it[1].at.duration_since(for_it[0].at);
    assert!(gap >= Duration::from_millis(900), "{gap:?}");
    assert!(app.dot.raw_assets().contains_key(&id));
}

// 11
#[tokio::test]
async fn restart_on_the_same_state_pushes_nothing() {
    let mut app = spawn_app().await;
    app.cycle().await;
    let pushed = app.dot.accepted_count();
    assert!(pushed > 0);
    app.restart();
    app.clear_requests();

    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success);
    assert!(app.dot.requests().is_empty(), "{:?}", app.dot_ids());
    assert_eq!(run.report.pushed_total(), 0);
    assert_eq!(
        app.ctx().store.index().unwrap().len(),
        expected_ids(&app.content()).len()
    );
}

fn upsert_ids(planned: &[lightdash_dot_sync::sync::cycle::Planned]) -> BTreeSet<String> {
    planned
        .iter()
        .filter(|p| matches!(p.action, Action::Upsert { .. }))
        .map(|p| p.action.id().to_owned())
        .collect()
}

// 12
#[tokio::test]
async fn dry_run_plans_without_pushing_or_writing() {
    let app = spawn_app().await;
    let dry = CycleOptions {
        dry_run: true,
        ..Default::default()
    };
    let run = app.cycle_with(dry).await;
    assert!(run.report.dry_run);
    let expected = expected_ids(&app.content());
    assert_eq!(run.planned.len(), expected.len());
    assert!(run.planned.iter().all(|p| matches!(
        p.action,
        Action::Upsert {
            reason: UpsertReason::New,
            ..
        }
    )));
    assert_eq!(upsert_ids(&run.planned), expected);
    assert!(app.dot.requests().is_empty());
    assert!(app.ctx().store.index().unwrap().is_empty());

    // A real cycle, then a rename, then a dry run.
    app.cycle().await;
    let index_before = app.ctx().store.index().unwrap();
    let expected = rename_chart(&app, "Monthly revenue");
    app.clear_requests();
    let run = app.cycle_with(dry).await;
    assert_eq!(upsert_ids(&run.planned), expected);
    assert_eq!(run.planned.len(), expected.len());
    assert!(app.dot.requests().is_empty());
    assert_eq!(app.ctx().store.index().unwrap(), index_before);
    assert!(
        app.dot
            .assets()
            .values()
            .all(|a| !a.name.as_deref().unwrap_or("").ends_with("(renamed)"))
    );

    // The real cycle then does exactly what the dry run said.
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success);
    assert_eq!(app.dot_id_set(), expected);

    // A dry run after a deletion plans the deactivation but leaves state and Dot alone.
    let uuid = app
        .content()
        .default_project()
        .unwrap()
        .dashboard_named("Payments and refunds")
        .unwrap()
        .summary
        .uuid
        .clone();
    app.lightdash.update(|c| c.remove_dashboard(&uuid));
    let index_before = app.ctx().store.index().unwrap();
    app.clear_requests();
    let run = app.cycle_with(dry).await;
    assert!(
        run.planned.iter().any(
            |p| matches!(&p.action, Action::Deactivate { id, .. } if *id == dashboard_id(&uuid))
        )
    );
    assert!(app.dot.requests().is_empty());
    assert_eq!(app.ctx().store.index().unwrap(), index_before);
    assert!(
        app.ctx()
            .store
            .entry(&dashboard_id(&uuid))
            .unwrap()
            .unwrap()
            .active
    );
}

// 13
#[tokio::test]
async fn unchanged_dashboards_are_never_fetched_through_the_view_counting_route() {
    let app = spawn_app().await;
    app.cycle().await;
    for (i, name) in [
        "Monthly revenue",
        "Payment method mix",
        "Campaign order funnel",
    ]
    .into_iter()
    .enumerate()
    {
        let uuid = chart_by_name(&app, name).summary.uuid;
        edit_chart_query(&app, &uuid, &format!("2031-0{}-01T00:00:00.000Z", i + 1));
        let run = app.cycle().await;
        assert_eq!(run.report.outcome, Outcome::Success);
    }
    assert_eq!(app.lightdash.count(Route::LegacyDashboard), 0);

    // Without as code, only changed dashboards go through the legacy route.
    let app = spawn_app_with(AppOptions {
        lightdash: MockLightdashOptions {
            as_code: AsCodeMode::Forbidden,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    let dashboards = expected_ids(&app.content())
        .iter()
        .filter(|i| i.starts_with("lightdash-dashboard-"))
        .count();
    assert_eq!(app.lightdash.count(Route::LegacyDashboard), dashboards);

    app.clear_requests();
    let content = app.content();
    let project = content.default_project().unwrap();
    let changed: Vec<String> = project
        .dashboards
        .iter()
        .take(2)
        .map(|d| d.summary.uuid.clone())
        .collect();
    assert!(project.dashboards.len() > changed.len());
    app.lightdash.update(|c| {
        for uuid in &changed {
            let d = c.dashboard_mut(uuid).unwrap();
            d.summary.updated_at = Some("2031-05-05T00:00:00.000Z".into());
            d.summary.description = Some("Edited in a test".into());
        }
    });
    let uuid = chart_by_name(&app, "Monthly revenue").summary.uuid;
    edit_chart_query(&app, &uuid, "2031-06-01T00:00:00.000Z");
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    let legacy: BTreeSet<String> = app
        .lightdash
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(Route::LegacyDashboard))
        .map(|r| r.path)
        .collect();
    assert_eq!(app.lightdash.count(Route::LegacyDashboard), changed.len());
    for uuid in &changed {
        assert!(
            legacy.iter().any(|p| p.contains(uuid.as_str())),
            "{legacy:?}"
        );
    }

    app.clear_requests();
    app.cycle().await;
    assert_eq!(app.lightdash.count(Route::LegacyDashboard), 0);
}

// 14
#[tokio::test]
async fn resync_pushes_every_asset_again() {
    let app = spawn_app().await;
    app.cycle().await;
    app.clear_requests();
    let run = app.cycle_kind(CycleKind::Resync).await;
    assert_eq!(run.report.outcome, Outcome::Success);
    let expected = expected_ids(&app.content());
    assert_eq!(app.dot_id_set(), expected);
    assert_eq!(run.report.pushed_total(), expected.len());
}

// 15
#[tokio::test]
async fn view_count_changes_respect_the_refresh_interval() {
    async fn bump_views(app: &TestApp) -> (String, u64) {
        let d = app
            .content()
            .default_project()
            .unwrap()
            .dashboard_named("Sales overview")
            .unwrap()
            .summary
            .clone();
        let views = d.views + 100;
        app.lightdash
            .update(|c| c.dashboard_mut(&d.uuid).unwrap().summary.views = views);
        (dashboard_id(&d.uuid), views)
    }

    // Default refresh (24h): not pushed.
    let app = spawn_app().await;
    app.cycle().await;
    let (id, _) = bump_views(&app).await;
    app.clear_requests();
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success);
    assert!(!app.dot_id_set().contains(&id));
    assert_eq!(run.report.view_count_pushes, 0);

    // Refresh "0s": pushed with the new count, no details fetched.
    let app = spawn_app_with(AppOptions {
        tweak: Box::new(|raw| raw.sync.view_count_refresh = "0s".into()),
        ..Default::default()
    })
    .await;
    app.cycle().await;
    let (id, views) = bump_views(&app).await;
    app.clear_requests();
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success);
    assert_eq!(app.dot_ids(), vec![id.clone()]);
    assert_eq!(run.report.view_count_pushes, 1);
    assert_eq!(app.dot.raw_assets()[&id]["view_count"], json!(views));
    for route in DETAIL_ROUTES {
        assert_eq!(app.lightdash.count(route), 0, "{route:?}");
    }

    // Once pushed, the same count is not pushed again.
    app.clear_requests();
    app.cycle().await;
    assert!(app.dot.requests().is_empty(), "{:?}", app.dot_ids());
}

// Extra: privacy deactivations are never held back by the fail-safe.
#[tokio::test]
async fn content_made_private_is_deactivated_whatever_the_failsafe() {
    let (content, synthetic) = with_synthetic_charts(30);
    let app = spawn_app_with(AppOptions {
        content,
        ..Default::default()
    })
    .await;
    app.cycle().await;
    let before = expected_ids(&app.content());
    // The space holding the synthetic charts becomes private.
    let space = app
        .content()
        .default_project()
        .unwrap()
        .chart(&synthetic[0])
        .unwrap()
        .summary
        .space_uuid
        .clone();
    app.lightdash
        .update(|c| c.space_mut(&space).unwrap().is_private = true);
    let after = expected_ids(&app.content());
    let gone: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert!(
        gone.len() * 2 > before.len() && gone.len() > 10,
        "{}",
        gone.len()
    );
    assert!(gone.contains(&space_id(&space)));
    app.clear_requests();

    let run = app.cycle().await;
    assert!(run.report.failsafe.is_empty(), "{:?}", run.report.failsafe);
    assert_eq!(run.report.deactivated, gone.len());
    assert_eq!(deactivated_ids(&app), gone);
    let raw = app.dot.raw_assets();
    for id in &gone {
        assert_eq!(raw[id]["active"], json!(false), "{id}");
    }
    assert!(
        app.dot
            .requests()
            .iter()
            .filter(|r| r.id.as_ref().is_some_and(|i| gone.contains(i)))
            .all(|r| active_of(&r.body) == Some(false))
    );
}

// Extra: a deep cycle pushes nothing when nothing changed, and catches explore edits an
// incremental cycle cannot see.
#[tokio::test]
async fn deep_cycle_catches_explore_edits_and_otherwise_pushes_nothing() {
    let app = spawn_app().await;
    app.cycle().await;
    app.clear_requests();
    let run = app.cycle_kind(CycleKind::Deep).await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    assert!(app.dot.requests().is_empty(), "{:?}", app.dot_ids());
    assert!(
        app.lightdash.count(Route::ChartsCode) > 0,
        "deep fetches details"
    );
    assert_eq!(app.lightdash.count(Route::LegacyDashboard), 0);

    // Relabel the first metric of a chart in its explore.
    let chart = chart_by_name(&app, "Payment method mix");
    let metric = chart.details.metric_query.metrics[0].clone();
    let explore = chart.details.metric_query.explore_name.clone().unwrap();
    let relabelled = app.lightdash.update(|c| {
        let e = c
            .default_project_mut()
            .unwrap()
            .explore_mut(&explore)
            .unwrap();
        for table in e.tables.values_mut() {
            for field in table.metrics.values_mut() {
                if format!("{}_{}", field.table, field.name) == metric {
                    field.label = Some("Relabelled metric".into());
                    return true;
                }
            }
        }
        false
    });
    assert!(relabelled, "metric {metric} found in explore {explore}");
    app.clear_requests();
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success);
    assert!(
        app.dot.requests().is_empty(),
        "incremental cannot see explore edits"
    );

    let run = app.cycle_kind(CycleKind::Deep).await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    let pushed = app.dot_id_set();
    assert!(
        pushed.contains(&chart_id(&chart.summary.uuid)),
        "{pushed:?}"
    );
    assert!(pushed.is_subset(&expected_ids(&app.content())));
    assert!(
        app.dot.assets()[&chart_id(&chart.summary.uuid)]
            .dot_description
            .as_deref()
            .unwrap()
            .contains("Relabelled metric")
    );
}

/// Reopens the app's state under changed settings, as a restart with an edited config does.
fn restart_with(app: &mut TestApp, change: impl FnOnce(&mut lightdash_dot_sync::config::Settings)) {
    let mut settings = (*app.settings).clone();
    change(&mut settings);
    app.settings = std::sync::Arc::new(settings);
    app.restart();
}

/// Issue 14.4: a setting that changes rendered output re-renders every asset it affects at
/// the next cycle, from stored details (no chart or dashboard detail fetch), and only once.
#[tokio::test]
async fn render_settings_changes_rerender_everything_from_stored_details() {
    let mut app = spawn_app().await;
    let first = app.cycle().await;
    assert_eq!(first.report.outcome, Outcome::Success);
    let all = app.dot.assets().len();

    // A new link base (lightdash.public_url): every link moves, spaces, dashboards, charts.
    restart_with(&mut app, |s| {
        s.lightdash.public_url = url::Url::parse("https://bi.example.test/").unwrap();
    });
    app.clear_requests();
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    assert_eq!(app.dot_id_set().len(), all, "every asset is pushed again");
    for (id, asset) in app.dot.assets() {
        let url = asset.url.unwrap_or_default();
        assert!(url.starts_with("https://bi.example.test/"), "{id}: {url}");
    }
    // Explores are never stored (labels come fresh from them); chart and dashboard details are.
    for route in &DETAIL_ROUTES[..4] {
        assert_eq!(
            app.lightdash.count(*route),
            0,
            "{route:?} fetched to re-render"
        );
    }

    // Once re-rendered, nothing more.
    app.clear_requests();
    app.cycle().await;
    assert!(app.dot.requests().is_empty(), "{:?}", app.dot_ids());

    // A smaller description cap re-renders the descriptions it cuts, again without fetching.
    restart_with(&mut app, |s| s.sync.max_description_chars = 400);
    app.clear_requests();
    let run = app.cycle().await;
    assert_eq!(run.report.outcome, Outcome::Success, "{:?}", run.report);
    let long: Vec<String> = app
        .dot
        .assets()
        .into_iter()
        .filter(|(_, a)| {
            a.dot_description
                .as_ref()
                .is_some_and(|d| d.chars().count() > 400)
        })
        .map(|(id, _)| id)
        .collect();
    assert!(long.is_empty(), "descriptions above the new cap: {long:?}");
    assert!(
        !app.dot.requests().is_empty(),
        "the cap cut some description"
    );
    // Explores are never stored (labels come fresh from them); chart and dashboard details are.
    for route in &DETAIL_ROUTES[..4] {
        assert_eq!(
            app.lightdash.count(*route),
            0,
            "{route:?} fetched to re-render"
        );
    }
}
