//! The render stage: details into Dot assets, with what each commit will need. PURE (the
//! renderers are in [`crate::render`]; this module decides what to render from what).
//!
//! An asset whose inputs are incomplete (its explore failed to fetch, or a chart on its tiles
//! lacks one) is not rendered but failed, so a partial description never replaces a good one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::detect::Detected;
use super::fetch::ExploreSet;
use super::listing::Listings;
use super::push::CommitInfo;
use super::scope::{ScopeRules, SpaceScopes};
use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::types::{
    ChartDetails, ChartSummary, DashboardDetails, DashboardSummary, SpaceSummary,
};
use crate::render::{self, ChartIndex, ProjectView};
use crate::state::{IndexEntry, StoredDetails};

/// Everything the render stage reads.
pub struct RenderInput<'a, 'l> {
    /// The project as renderers see it.
    pub view: &'a ProjectView<'a>,
    /// The listings.
    pub listings: &'l Listings,
    /// Scope, signatures and change of every listed item.
    pub detected: &'a Detected<'l>,
    /// Space scopes.
    pub scopes: &'a SpaceScopes,
    /// Scope rules (kinds).
    pub rules: &'a ScopeRules<'a>,
    /// The state's entries of the project.
    pub entries: &'a BTreeMap<String, IndexEntry>,
    /// Listed charts in in-scope spaces, by uuid.
    pub charts_listed: &'a HashMap<&'l str, &'l ChartSummary>,
    /// Dashboards to render.
    pub dash_render: &'a [&'l DashboardSummary],
    /// Chart uuids on the tiles of each dashboard with details.
    pub dash_tiles: &'a HashMap<String, Vec<String>>,
    /// Charts to render.
    pub chart_render: &'a BTreeSet<String>,
    /// Dashboard details by uuid.
    pub dash_details: &'a HashMap<String, DashboardDetails>,
    /// Chart details by uuid.
    pub chart_details: &'a HashMap<String, ChartDetails>,
    /// Explores.
    pub explores: &'a ExploreSet,
}

/// Rendered assets and what committing each will need.
#[derive(Debug, Default)]
pub struct Rendered {
    /// The assets, dashboards then charts then spaces.
    pub assets: Vec<ExternalAsset>,
    /// Commit info by Dot id.
    pub commit_info: HashMap<String, CommitInfo>,
}

impl Rendered {
    fn push(&mut self, asset: ExternalAsset, info: CommitInfo) {
        self.commit_info.insert(asset.id.clone(), info);
        self.assets.push(asset);
    }

    /// Moves the details each rendered asset was made from into its commit info (at scale
    /// they are tens of megabytes: moved, not copied).
    pub fn take_details(
        &mut self,
        mut charts: HashMap<String, ChartDetails>,
        mut dashboards: HashMap<String, DashboardDetails>,
    ) {
        for info in self.commit_info.values_mut() {
            info.details = match info.kind {
                AssetKind::Chart => charts
                    .remove(&info.uuid)
                    .map(|d| StoredDetails::Chart(Box::new(d))),
                AssetKind::Dashboard => dashboards
                    .remove(&info.uuid)
                    .map(|d| StoredDetails::Dashboard(Box::new(d))),
                AssetKind::Space => None,
            };
        }
    }
}

/// Renders the dashboards and charts to render and every in-scope space. Assets that cannot
/// be rendered now are added to `failed` (Dot id → why).
pub fn render_all(input: &RenderInput<'_, '_>, failed: &mut BTreeMap<String, String>) -> Rendered {
    let mut out = Rendered::default();
    let dash_by_uuid: HashMap<&str, &DashboardSummary> = input
        .detected
        .dashboards_in
        .iter()
        .map(|d| (d.uuid.as_str(), *d))
        .collect();
    if input.rules.syncs(AssetKind::Dashboard) {
        render_dashboards(input, failed, &mut out);
    }
    let shown_on = shown_on(input, &dash_by_uuid);
    render_charts(input, &shown_on, failed, &mut out);
    if input.rules.syncs(AssetKind::Space) {
        render_spaces(input, &mut out);
    }
    out
}

fn render_dashboards(
    input: &RenderInput<'_, '_>,
    failed: &mut BTreeMap<String, String>,
    out: &mut Rendered,
) {
    let mut chart_index = ChartIndex::default();
    for c in input.charts_listed.values() {
        chart_index.insert(c, input.chart_details.get(&c.uuid));
    }
    for d in input.dash_render {
        let id = AssetKind::Dashboard.asset_id(&d.uuid);
        if failed.contains_key(&id) {
            continue;
        }
        let Some(details) = input.dash_details.get(&d.uuid) else {
            continue;
        };
        let tiles = input.dash_tiles.get(&d.uuid).cloned().unwrap_or_default();
        if let Some(e) = tiles
            .iter()
            .filter_map(|u| input.chart_details.get(u))
            .find_map(|c| input.explores.failure(c))
        {
            failed.insert(id, e);
            continue;
        }
        let asset = render::render_dashboard(
            input.view,
            d,
            details,
            &chart_index,
            &input.explores.explores,
        );
        let info = CommitInfo {
            kind: AssetKind::Dashboard,
            uuid: d.uuid.clone(),
            signature: input.detected.signatures[&id].clone(),
            updated_at: d.updated_at.clone(),
            space: Some(d.space_uuid.clone()),
            charts: tiles,
            details: None,
        };
        out.push(asset, info);
    }
}

/// The dashboards showing each chart: by their current tiles (stored tiles for dashboards
/// not fetched this cycle), and by the chart's own `dashboardUuid`.
fn shown_on<'l>(
    input: &RenderInput<'_, 'l>,
    dash_by_uuid: &HashMap<&str, &'l DashboardSummary>,
) -> HashMap<String, BTreeSet<&'l str>> {
    let mut shown_on: HashMap<String, BTreeSet<&'l str>> = HashMap::new();
    for d in &input.detected.dashboards_in {
        let id = AssetKind::Dashboard.asset_id(&d.uuid);
        let tiles = input
            .dash_tiles
            .get(&d.uuid)
            .or_else(|| input.entries.get(&id).map(|e| &e.charts));
        for c in tiles.into_iter().flatten() {
            shown_on
                .entry(c.clone())
                .or_default()
                .insert(d.uuid.as_str());
        }
    }
    for c in &input.listings.charts {
        if let Some(d) = c
            .dashboard_uuid
            .as_deref()
            .and_then(|d| dash_by_uuid.get(d))
        {
            shown_on
                .entry(c.uuid.clone())
                .or_default()
                .insert(d.uuid.as_str());
        }
    }
    shown_on
}

fn render_charts(
    input: &RenderInput<'_, '_>,
    shown_on: &HashMap<String, BTreeSet<&str>>,
    failed: &mut BTreeMap<String, String>,
    out: &mut Rendered,
) {
    let dash_by_uuid: HashMap<&str, &DashboardSummary> = input
        .detected
        .dashboards_in
        .iter()
        .map(|d| (d.uuid.as_str(), *d))
        .collect();
    for uuid in input.chart_render {
        let id = AssetKind::Chart.asset_id(uuid);
        if failed.contains_key(&id) {
            continue;
        }
        let (Some(summary), Some(details)) = (
            input.charts_listed.get(uuid.as_str()),
            input.chart_details.get(uuid),
        ) else {
            continue;
        };
        if let Some(e) = input.explores.failure(details) {
            failed.insert(id, e);
            continue;
        }
        let on: Vec<&DashboardSummary> = shown_on
            .get(uuid)
            .map(|s| {
                s.iter()
                    .filter_map(|d| dash_by_uuid.get(d).copied())
                    .collect()
            })
            .unwrap_or_default();
        let asset =
            render::render_chart(input.view, summary, details, &input.explores.explores, &on);
        let info = CommitInfo {
            kind: AssetKind::Chart,
            uuid: uuid.clone(),
            signature: input.detected.signatures[&id].clone(),
            updated_at: summary.updated_at.clone(),
            space: Some(summary.space_uuid.clone()),
            charts: Vec::new(),
            details: None,
        };
        out.push(asset, info);
    }
}

/// Spaces render from listings alone: any change to their content or children shows up in
/// the fingerprint, without propagation rules.
fn render_spaces(input: &RenderInput<'_, '_>, out: &mut Rendered) {
    let detected = input.detected;
    let mut dashboards: HashMap<&str, Vec<&DashboardSummary>> = HashMap::new();
    for d in &detected.dashboards_in {
        dashboards.entry(d.space_uuid.as_str()).or_default().push(d);
    }
    let mut charts: HashMap<&str, Vec<&ChartSummary>> = HashMap::new();
    for c in &detected.charts_in {
        charts.entry(c.space_uuid.as_str()).or_default().push(c);
    }
    let children = children_in_scope(&input.listings.spaces, input.scopes);
    for s in &input.listings.spaces {
        let id = AssetKind::Space.asset_id(&s.uuid);
        if !detected.in_scope.contains(&id) {
            continue;
        }
        let key = s.uuid.as_str();
        let asset = render::render_space(
            input.view,
            s,
            dashboards.get(key).map(Vec::as_slice).unwrap_or(&[]),
            charts.get(key).map(Vec::as_slice).unwrap_or(&[]),
            children.get(key).map(Vec::as_slice).unwrap_or(&[]),
        );
        let info = CommitInfo {
            kind: AssetKind::Space,
            uuid: s.uuid.clone(),
            signature: detected.signatures[&id].clone(),
            updated_at: None,
            space: s.parent_space_uuid.clone(),
            charts: Vec::new(),
            details: None,
        };
        out.push(asset, info);
    }
}

/// In-scope child spaces of every space, by name then uuid: one pass over the listing (asking
/// the tree per space would be quadratic in the number of spaces).
pub fn children_in_scope<'l>(
    spaces: &'l [SpaceSummary],
    scopes: &SpaceScopes,
) -> HashMap<&'l str, Vec<&'l SpaceSummary>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: HashMap<&str, Vec<&SpaceSummary>> = HashMap::new();
    for s in spaces {
        // The tree keeps one space per uuid; so does this.
        if !seen.insert(s.uuid.as_str()) || !scopes.is_in(&s.uuid) {
            continue;
        }
        if let Some(parent) = s.parent_space_uuid.as_deref() {
            out.entry(parent).or_default().push(s);
        }
    }
    for c in out.values_mut() {
        c.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
    }
    out
}

/// Listing view counts of in-scope dashboards and charts not rendered this cycle (nor failed):
/// the plan pushes their view counts when due.
pub fn unrendered_views(
    detected: &Detected<'_>,
    rendered: &Rendered,
    failed: &BTreeMap<String, String>,
) -> BTreeMap<String, u64> {
    let dashboards = detected
        .dashboards_in
        .iter()
        .map(|d| (AssetKind::Dashboard.asset_id(&d.uuid), d.views));
    let charts = detected
        .charts_in
        .iter()
        .map(|c| (AssetKind::Chart.asset_id(&c.uuid), c.views));
    dashboards
        .chain(charts)
        .filter(|(id, _)| {
            !rendered.commit_info.contains_key(id)
                && !failed.contains_key(id)
                && detected.in_scope.contains(id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SpaceFilter;
    use crate::render::SpaceTree;
    use crate::sync::testing::space;

    #[test]
    fn children_are_the_in_scope_direct_children_by_name() {
        let mut private = space("x", Some("root"));
        private.is_private = true;
        let mut b = space("b", Some("root"));
        b.name = "Beta".into();
        let mut a = space("a", Some("root"));
        a.name = "Alpha".into();
        let spaces = vec![space("root", None), b, a, private, space("deep", Some("a"))];
        let kinds = AssetKind::ALL.into_iter().collect();
        let filter = SpaceFilter::default();
        let rules = ScopeRules {
            include_private: false,
            spaces: &filter,
            kinds: &kinds,
        };
        let scopes = SpaceScopes::new(&SpaceTree::new(&spaces), &spaces, &rules);
        let children = children_in_scope(&spaces, &scopes);
        let names =
            |k: &str| -> Vec<&str> { children[k].iter().map(|s| s.uuid.as_str()).collect() };
        assert_eq!(names("root"), ["a", "b"]);
        assert_eq!(names("a"), ["deep"]);
        assert_eq!(children.len(), 2);
    }
}
