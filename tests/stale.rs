//! A dependent that fails to update is not forgotten: when a chart is renamed and the push of
//! the dashboard showing it fails, the chart is committed, and the next cycle still brings the
//! dashboard up to date although nothing changes in Lightdash any more.

use std::collections::HashMap;
use std::sync::Arc;

use lightdash_dot_sync::config::{RawSecret, RawSettings};
use lightdash_dot_sync::demo::content::bundled;
use lightdash_dot_sync::demo::mock_dot::{DotFault, DotFaultKind, MockDot, MockDotOptions};
use lightdash_dot_sync::demo::mock_lightdash::{MockLightdash, MockLightdashOptions};
use lightdash_dot_sync::sync::{CycleOptions, NoProgress, Outcome, SyncContext, run_cycle};

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_dependent_is_rendered_again_next_cycle() {
    let content = bundled();
    let lightdash = MockLightdash::start(content.clone(), MockLightdashOptions::default())
        .await
        .unwrap();
    let dot_options = MockDotOptions::default();
    let key = dot_options.api_key.clone();
    let dot = MockDot::start(dot_options).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut raw = RawSettings::default();
    raw.lightdash.url = lightdash.url();
    raw.lightdash.api_key = Some(RawSecret(MockLightdashOptions::default().token.into()));
    raw.lightdash.requests_per_second = 1000.0;
    raw.dot.url = dot.url();
    raw.dot.api_key = Some(RawSecret(key.into()));
    raw.dot.requests_per_second = 1000.0;
    raw.dot.max_attempts = 1;
    raw.state.path = dir.path().to_owned();
    let settings = Arc::new(raw.validate(&HashMap::new()).unwrap());
    let store = lightdash_dot_sync::app::open_store(&settings).unwrap();
    let ctx = SyncContext::new(settings, store);
    let opts = CycleOptions::default();
    assert_eq!(
        run_cycle(&ctx, opts, &NoProgress).await.report.outcome,
        Outcome::Success
    );

    // A chart on a dashboard, renamed; the dashboard's push fails.
    let project = content.default_project().unwrap();
    let (chart_uuid, dashboard_uuid) = project
        .dashboards
        .iter()
        .find_map(|d| {
            d.details
                .tiles
                .iter()
                .find_map(|t| t.properties.saved_chart_uuid.clone())
                .map(|c| (c, d.summary.uuid.clone()))
        })
        .unwrap();
    let new_name = lightdash.update(|c| {
        let chart = c.chart_mut(&chart_uuid).unwrap();
        chart.summary.name = "Renamed for the stale test".into();
        chart.summary.name.clone()
    });
    let dashboard_id = format!("lightdash-dashboard-{dashboard_uuid}");
    dot.set_fault(DotFault {
        id: Some(dashboard_id.clone()),
        kind: DotFaultKind::Status(500),
        times: None,
    });
    let r = run_cycle(&ctx, opts, &NoProgress).await.report;
    assert_eq!(r.outcome, Outcome::PartialFailure);
    assert!(
        r.failures.iter().any(|f| f.id == dashboard_id),
        "{:?}",
        r.failures
    );
    let chart_id = format!("lightdash-chart-{chart_uuid}");
    assert_eq!(
        dot.assets()[&chart_id].name.as_deref(),
        Some(new_name.as_str())
    );

    // Dot recovers; Lightdash does not change. The dashboard must still be brought up to date.
    dot.clear_faults();
    dot.clear_requests();
    let r = run_cycle(&ctx, opts, &NoProgress).await.report;
    assert_eq!(r.outcome, Outcome::Success, "{:?}", r.failures);
    let pushed: Vec<String> = dot.requests().into_iter().filter_map(|r| r.id).collect();
    assert!(pushed.contains(&dashboard_id), "pushed {pushed:?}");
    let md = dot.assets()[&dashboard_id].dot_description.clone().unwrap();
    assert!(md.contains(&new_name), "{md}");

    // And once it is, it stays quiet.
    dot.clear_requests();
    let r = run_cycle(&ctx, opts, &NoProgress).await.report;
    assert_eq!(r.pushed_total(), 0);
    assert!(dot.requests().is_empty());
}
