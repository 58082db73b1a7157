//! An asset renders the same whichever kind of cycle renders it: an incremental cycle that
//! re-renders a dashboard and a deep cycle that re-renders everything must agree, or every
//! deep cycle would re-push assets that did not change.

mod support;

use lightdash_dot_sync::lightdash::types::{FieldTarget, FilterOperator, FilterRule};
use lightdash_dot_sync::sync::CycleKind;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_dashboard_filter_on_another_explore_renders_the_same_in_incremental_and_deep() {
    let mut content = lightdash_dot_sync::demo::content::bundled();
    let project = content.default_project_mut().unwrap();
    let dashboard = project
        .dashboard_named("Payments and refunds")
        .unwrap()
        .summary
        .uuid
        .clone();
    // A filter on a field of an explore none of this dashboard's charts query.
    project
        .dashboard_mut(&dashboard)
        .unwrap()
        .details
        .filters
        .dimensions
        .push(FilterRule {
            target: FieldTarget {
                field_id: "web_sessions_channel".into(),
                table_name: Some("web_sessions".into()),
                ..Default::default()
            },
            operator: FilterOperator::Equals,
            values: vec!["paid_search".into()],
            ..Default::default()
        });
    let chart = project
        .dashboard(&dashboard)
        .unwrap()
        .details
        .tiles
        .iter()
        .find_map(|t| t.properties.saved_chart_uuid.clone())
        .unwrap();
    let app = spawn_app_with(AppOptions {
        content,
        ..Default::default()
    })
    .await;
    app.cycle().await;
    let md = app.dot.assets()[&dashboard_id(&dashboard)]
        .dot_description
        .clone()
        .unwrap();
    assert!(
        !md.contains("web_sessions_channel"),
        "the filter should read as a label:\n{md}"
    );

    // Edit a chart on the dashboard: the incremental cycle re-renders the dashboard.
    app.lightdash.update(|c| {
        let ch = c.chart_mut(&chart).unwrap();
        ch.summary.description = Some("Edited for the determinism test.".into());
    });
    let r = app.cycle().await.report;
    assert!(r.pushed_total() >= 2, "{:?}", r.pushed);

    // A deep cycle re-renders everything and must find nothing to push.
    app.clear_requests();
    let r = app.cycle_kind(CycleKind::Deep).await.report;
    assert_eq!(
        r.pushed_total(),
        0,
        "deep cycle re-pushed {:?}",
        app.dot_ids()
    );
}
