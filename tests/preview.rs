//! `preview` against the Lightdash-shaped mock: dashboards, charts and spaces by uuid and by
//! slug, live, with no Dot and no state.

use std::collections::HashMap;

use lightdash_dot_sync::app;
use lightdash_dot_sync::config::{RawSecret, RawSettings, Settings};
use lightdash_dot_sync::demo::content::bundled;
use lightdash_dot_sync::demo::mock_lightdash::{
    AsCodeMode, MockLightdash, MockLightdashOptions, Route,
};

fn settings(url: String, state: &std::path::Path) -> Settings {
    let mut raw = RawSettings::default();
    raw.lightdash.url = url;
    raw.lightdash.api_key = Some(RawSecret(MockLightdashOptions::default().token.into()));
    raw.lightdash.requests_per_second = 1000.0;
    raw.dot.api_key = Some(RawSecret("unused".to_owned().into()));
    raw.state.path = state.to_owned();
    raw.validate(&HashMap::new()).expect("valid settings")
}

#[tokio::test]
async fn previews_a_dashboard_by_uuid_and_a_chart_by_slug() {
    let content = bundled();
    let project = content.default_project().unwrap();
    let dashboard = project
        .dashboard_named("Sales overview")
        .unwrap()
        .summary
        .clone();
    let tile_chart = project
        .charts
        .iter()
        .find(|c| {
            dashboard_tiles(project, &dashboard.uuid).contains(&c.summary.uuid)
                && c.summary.slug.is_some()
        })
        .unwrap()
        .summary
        .clone();
    let mock = MockLightdash::start(content.clone(), MockLightdashOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = settings(mock.url(), dir.path());

    let asset = app::preview(&s, &dashboard.uuid).await.unwrap();
    assert_eq!(asset.id, format!("lightdash-dashboard-{}", dashboard.uuid));
    let md = asset.dot_description.clone().unwrap();
    assert!(md.starts_with(&format!("# {}", dashboard.name)), "{md}");
    assert!(
        md.contains(&tile_chart.name),
        "tile chart {} missing:\n{md}",
        tile_chart.name
    );
    let printed = app::format_preview(&asset);
    assert!(
        printed.contains("\"external_asset\"") && printed.contains("----- dot_description -----")
    );
    // The preview never used the view-counting dashboard GET, and wrote no state.
    assert_eq!(mock.count(Route::LegacyDashboard), 0);
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());

    let asset = app::preview(&s, tile_chart.slug.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(asset.id, format!("lightdash-chart-{}", tile_chart.uuid));
    let md = asset.dot_description.unwrap();
    assert!(
        md.contains(&dashboard.name),
        "shown-on list should name {}:\n{md}",
        dashboard.name
    );
}

#[tokio::test]
async fn previews_a_space_and_reports_unknown_ids() {
    let content = bundled();
    let project = content.default_project().unwrap();
    let space = project.space_named("Sales").unwrap().clone();
    let mock = MockLightdash::start(content.clone(), MockLightdashOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = settings(mock.url(), dir.path());
    let asset = app::preview(&s, &space.uuid).await.unwrap();
    assert_eq!(asset.subtype, "lightdash_space");
    assert!(asset.dot_description.unwrap().contains("# Sales"));
    let err = app::preview(&s, "no-such-thing").await.unwrap_err();
    assert!(err.to_string().contains("no-such-thing"), "{err}");
}

#[tokio::test]
async fn falls_back_to_legacy_routes_without_the_developer_role() {
    let content = bundled();
    let project = content.default_project().unwrap();
    let dashboard = project
        .dashboard_named("Sales overview")
        .unwrap()
        .summary
        .clone();
    let options = MockLightdashOptions {
        as_code: AsCodeMode::Forbidden,
        ..Default::default()
    };
    let mock = MockLightdash::start(content.clone(), options)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = settings(mock.url(), dir.path());
    let asset = app::preview(&s, &dashboard.uuid).await.unwrap();
    assert!(asset.dot_description.unwrap().contains(&dashboard.name));
    // One explicit preview of one dashboard: exactly one view recorded.
    assert_eq!(mock.count(Route::LegacyDashboard), 1);
}

fn dashboard_tiles(
    project: &lightdash_dot_sync::demo::content::ProjectContent,
    uuid: &str,
) -> Vec<String> {
    project
        .dashboard(uuid)
        .unwrap()
        .details
        .tiles
        .iter()
        .filter_map(|t| t.properties.saved_chart_uuid.clone())
        .collect()
}

/// A chart in a private space shown on a dashboard everyone can see: preview
/// applies the cycle's scope, so the dashboard shows the neutral placeholder for that tile and
/// the chart itself is reported as not synced.
#[tokio::test]
async fn a_private_chart_on_a_public_dashboard_is_not_shown_and_not_synced() {
    let mut content = bundled();
    let project = content.default_project().unwrap();
    let dashboard = project
        .dashboard_named("Sales overview")
        .unwrap()
        .summary
        .clone();
    let tiles = dashboard_tiles(project, &dashboard.uuid);
    let private = project
        .charts
        .iter()
        .find(|c| tiles.contains(&c.summary.uuid))
        .unwrap()
        .summary
        .clone();
    // A root space open to its own members only, holding the chart.
    let mut space = project.spaces[0].clone();
    space.uuid = "9b0e3c1a-private-space".into();
    space.name = "Finance (restricted)".into();
    space.is_private = true;
    space.parent_space_uuid = None;
    space.path = None;
    space.inherit_parent_permissions = Some(false);
    space.inherits_from_org_or_project = None;
    let p = content.default_project_mut().unwrap();
    p.spaces.push(space.clone());
    let chart = p.chart_mut(&private.uuid).unwrap();
    chart.summary.space_uuid = space.uuid.clone();
    let mock = MockLightdash::start(content.clone(), MockLightdashOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = settings(mock.url(), dir.path());

    let asset = app::preview(&s, &dashboard.uuid).await.unwrap();
    let md = asset.dot_description.unwrap();
    assert!(
        md.contains("A chart that is not shared here"),
        "no placeholder:\n{md}"
    );
    assert!(
        !md.contains(&private.name),
        "the private chart {} is named:\n{md}",
        private.name
    );

    let err = app::preview(&s, &private.uuid).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("lightdash-chart-{} is not synced", private.uuid)),
        "{text}"
    );
    assert!(text.contains("private"), "{text}");
    assert!(text.contains("lightdash.include_private"), "{text}");
}

/// A space `exclude_spaces` matches is not synced, and preview says so rather than render it.
#[tokio::test]
async fn an_excluded_space_is_reported_as_not_synced() {
    let content = bundled();
    let project = content.default_project().unwrap();
    let space = project.space_named("Sales").unwrap().clone();
    let mock = MockLightdash::start(content.clone(), MockLightdashOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut raw = RawSettings::default();
    raw.lightdash.url = mock.url();
    raw.lightdash.api_key = Some(RawSecret(MockLightdashOptions::default().token.into()));
    raw.lightdash.requests_per_second = 1000.0;
    raw.lightdash.exclude_spaces = vec!["**Sales**".into()];
    raw.dot.api_key = Some(RawSecret("unused".to_owned().into()));
    raw.state.path = dir.path().to_owned();
    let s = raw.validate(&HashMap::new()).expect("valid settings");
    let err = app::preview(&s, &space.uuid).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("lightdash-space-{} is not synced", space.uuid)),
        "{text}"
    );
    assert!(text.contains("exclude_spaces"), "{text}");
}
