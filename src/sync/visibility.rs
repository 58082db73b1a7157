//! What one synced asset may say about another. PURE.
//!
//! The rule (DESIGN.md §3): content out of scope (restricted by Lightdash's permissions,
//! excluded by `include_spaces`/`exclude_spaces`, or of a kind not synced) contributes no name,
//! description or text to any other asset. Renderers only ever receive what this module lets
//! through: the charts a dashboard tile may resolve, the dashboards a chart may name, the
//! listing entries with references to out-of-scope content blanked. Everything else a tile
//! points at renders as a neutral placeholder (see `render::dashboard`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::listing::Listings;
use super::scope::{Scope, ScopeRules, SpaceScopes};
use crate::dot::types::AssetKind;
use crate::lightdash::types::{ChartSummary, DashboardSummary};
use crate::render::SpaceTree;

/// Blanks, in the listings, every reference one item makes to content that is not synced:
/// the dashboard a chart is saved inside is named only when that dashboard is synced.
pub fn redact(listings: &mut Listings, rules: &ScopeRules<'_>) {
    let tree = SpaceTree::new(&listings.spaces);
    let scopes = SpaceScopes::new(&tree, &listings.spaces, rules);
    let dashboards_in: HashSet<String> = listings
        .dashboards
        .iter()
        .filter(|d| {
            rules.of_kind(
                AssetKind::Dashboard,
                scopes.of_item(&d.space_uuid, d.inherits_from_org_or_project),
            ) == Scope::In
        })
        .map(|d| d.uuid.clone())
        .collect();
    let ids: HashSet<&str> = dashboards_in.iter().map(String::as_str).collect();
    for c in &mut listings.charts {
        if let Cow::Owned(redacted) = chart_for_render(c, &ids) {
            *c = redacted;
        }
    }
}

/// A chart's listing entry as other assets may see it: the dashboard it is saved inside is
/// only named when that dashboard is synced too.
pub fn chart_for_render<'a>(
    chart: &'a ChartSummary,
    dashboards_in: &HashSet<&str>,
) -> Cow<'a, ChartSummary> {
    match chart.dashboard_uuid.as_deref() {
        Some(d) if !dashboards_in.contains(d) && chart.dashboard_name.is_some() => {
            let mut c = chart.clone();
            c.dashboard_name = None;
            Cow::Owned(c)
        }
        _ => Cow::Borrowed(chart),
    }
}

/// The dashboards among `all` that `shown_on` (dashboard uuids showing a chart) may name.
pub fn visible_dashboards<'a>(
    shown_on: impl IntoIterator<Item = &'a str>,
    dashboards_in: &HashMap<&str, &'a DashboardSummary>,
) -> Vec<&'a DashboardSummary> {
    shown_on
        .into_iter()
        .filter_map(|d| dashboards_in.get(d).copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::config::SpaceFilter;
    use crate::dot::types::AssetKind;
    use crate::lightdash::types::SpaceSummary;
    use crate::lightdash::types::{
        ChartDetails, DashboardDetails, DashboardTile, FilterRule, Project, TileProperties,
        TileType,
    };
    use crate::render::SpaceTree;
    use crate::render::{self, ChartIndex, Explores, ProjectView, RenderOptions};
    use crate::sync::privacy::Privacy;
    use crate::sync::scope::{Scope, ScopeRules, SpaceScopes};

    /// One randomly scoped project: each item's fate is drawn, names are unique tokens.
    #[derive(Debug, Clone)]
    struct World {
        /// (private?, inherit?, excluded?, parent index) per space.
        spaces: Vec<(bool, Option<bool>, bool, Option<usize>)>,
        /// (space index, sql?, saved inside dashboard index, item-level access) per chart.
        charts: Vec<(usize, bool, Option<usize>, Option<bool>)>,
        /// (space index, tiles: chart indexes, tile tab by slug?) per dashboard.
        dashboards: Vec<(usize, Vec<usize>, bool)>,
        /// Which kinds are synced: (dashboards, charts).
        kinds: (bool, bool),
    }

    fn world() -> impl Strategy<Value = World> {
        let spaces = prop::collection::vec(
            (
                any::<bool>(),
                prop::option::of(any::<bool>()),
                prop::bool::weighted(0.2),
                prop::option::of(0usize..6),
            ),
            1..7,
        );
        (spaces, 1usize..9, 1usize..5, any::<bool>(), any::<bool>()).prop_flat_map(
            |(spaces, n_charts, n_dash, kd, kc)| {
                let n_spaces = spaces.len();
                let charts = prop::collection::vec(
                    (
                        0..n_spaces,
                        any::<bool>(),
                        prop::option::of(0..n_dash),
                        prop::option::of(any::<bool>()),
                    ),
                    n_charts,
                );
                let dashboards = prop::collection::vec(
                    (
                        0..n_spaces,
                        prop::collection::vec(0..n_charts, 0..6),
                        any::<bool>(),
                    ),
                    n_dash,
                );
                (Just(spaces), charts, dashboards, Just((kd, kc))).prop_map(
                    |(spaces, charts, dashboards, kinds)| World {
                        spaces,
                        charts,
                        dashboards,
                        kinds,
                    },
                )
            },
        )
    }

    fn space_name(i: usize) -> String {
        format!("Spacezq{i:02}x")
    }
    fn chart_name(i: usize) -> String {
        format!("Chartzq{i:02}x")
    }
    fn dash_name(i: usize) -> String {
        format!("Dashzq{i:02}x")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Renders every in-scope asset of a random project the way the cycle does, and checks
        /// that no name, description or slug of out-of-scope content reaches any field.
        #[test]
        fn no_out_of_scope_string_reaches_any_body(w in world()) {
            let n_spaces = w.spaces.len();
            let inheritance = w.spaces.iter().any(|s| s.1.is_some());
            let spaces: Vec<SpaceSummary> = w.spaces.iter().enumerate().map(|(i, (private, inherit, _, parent))| {
                SpaceSummary {
                    uuid: format!("s{i}"),
                    name: space_name(i),
                    is_private: *private,
                    // Parents only point backwards, so the tree has no cycles.
                    parent_space_uuid: parent.filter(|p| *p < i).map(|p| format!("s{p}")),
                    inherit_parent_permissions: if inheritance { Some(inherit.unwrap_or(true)) } else { None },
                    ..Default::default()
                }
            }).collect();
            let excluded: Vec<String> = w.spaces.iter().enumerate()
                .filter(|(_, s)| s.2)
                .map(|(i, _)| spaces[i].uuid.clone())
                .collect();
            let tree = SpaceTree::new(&spaces);
            let exclude: Vec<String> = excluded.iter().map(|u| tree.path_string(u)).collect();
            let filter = SpaceFilter::new(&[], &exclude).expect("valid globs");
            let privacy = Privacy::resolve(&spaces);
            let kinds: HashSet<AssetKind> = AssetKind::ALL.into_iter().collect();
            let rules = ScopeRules { include_private: false, spaces: &filter, kinds: &kinds };
            let scopes = SpaceScopes::new(&tree, &spaces, &rules);

            let charts: Vec<ChartSummary> = w.charts.iter().enumerate().map(|(i, (space, sql, inside, access))| ChartSummary {
                uuid: format!("c{i}"),
                name: chart_name(i),
                description: Some(format!("About {}", chart_name(i)).into()),
                slug: Some(format!("chartzq{i:02}x-slug").into()),
                space_uuid: format!("s{}", space % n_spaces),
                dashboard_uuid: inside.map(|d| format!("d{d}").into()),
                dashboard_name: inside.map(|d| dash_name(d).into()),
                source: sql.then_some(crate::lightdash::types::ChartSource::Sql),
                inherits_from_org_or_project: *access,
                ..Default::default()
            }).collect();
            let details: Vec<ChartDetails> = charts.iter().map(|c| ChartDetails {
                name: c.name.clone(),
                sql: c.is_sql().then(|| format!("select * from {}_table", c.name)),
                ..Default::default()
            }).collect();
            let dashboards: Vec<(DashboardSummary, DashboardDetails)> = w.dashboards.iter().enumerate().map(|(i, (space, tiles, by_slug))| {
                let tiles: Vec<DashboardTile> = tiles.iter().enumerate().map(|(t, c)| {
                    let chart = &charts[*c];
                    let sql = chart.is_sql();
                    DashboardTile {
                        uuid: (!by_slug).then(|| format!("t{i}-{t}")),
                        tile_slug: by_slug.then(|| chart.slug.as_deref().unwrap_or_default().to_owned()),
                        tile_type: if sql { TileType::SqlChart } else { TileType::SavedChart },
                        properties: TileProperties {
                            // As Lightdash sends them: the chart's name on every tile.
                            chart_name: Some(chart.name.clone()),
                            saved_chart_uuid: (!sql && !by_slug).then(|| chart.uuid.clone()),
                            saved_sql_uuid: (sql && !by_slug).then(|| chart.uuid.clone()),
                            chart_slug: by_slug.then(|| chart.slug.as_deref().unwrap_or_default().to_owned()),
                            ..Default::default()
                        },
                        ..Default::default()
                    }
                }).collect();
                // A filter skipping every tile names them all in "not applied to".
                let targets: BTreeMap<String, serde_json::Value> = tiles.iter()
                    .filter_map(|t| t.uuid.clone().or(t.tile_slug.clone()))
                    .map(|k| (k, json!(false)))
                    .collect();
                let summary = DashboardSummary {
                    uuid: format!("d{i}"),
                    name: dash_name(i),
                    description: Some(format!("About {}", dash_name(i)).into()),
                    space_uuid: format!("s{}", space % n_spaces),
                    ..Default::default()
                };
                let mut details = DashboardDetails { tiles, ..Default::default() };
                details.filters.dimensions.push(FilterRule {
                    tile_targets: Some(targets),
                    ..Default::default()
                });
                (summary, details)
            }).collect();

            // The cycle's decisions.
            let (sync_dash, sync_charts) = w.kinds;
            let chart_in_space = |c: &ChartSummary| {
                scopes.of_item(&c.space_uuid, c.inherits_from_org_or_project) == Scope::In
            };
            let dash_in = |d: &DashboardSummary| sync_dash && scopes.of_item(&d.space_uuid, d.inherits_from_org_or_project) == Scope::In;
            let dashboards_in: HashMap<&str, &DashboardSummary> = dashboards.iter()
                .map(|(s, _)| s)
                .filter(|d| dash_in(d))
                .map(|d| (d.uuid.as_str(), d))
                .collect();
            let dash_ids: HashSet<&str> = dashboards_in.keys().copied().collect();
            let visible_charts: Vec<(Cow<'_, ChartSummary>, &ChartDetails)> = charts.iter().zip(&details)
                .filter(|(c, _)| chart_in_space(c))
                .map(|(c, d)| (chart_for_render(c, &dash_ids), d))
                .collect();
            let mut index = ChartIndex::default();
            for (c, d) in &visible_charts {
                index.insert(c, Some(d));
            }

            let project = Project { project_uuid: "p".into(), name: "Proj".into(), project_type: crate::lightdash::types::ProjectType::Default };
            let options = RenderOptions { site_url: "https://ld.example".into(), max_description_chars: 1_000_000 };
            let view = ProjectView { project: &project, spaces: &tree, options: &options };
            let explores = Explores::new();
            let mut bodies: Vec<String> = Vec::new();
            let mut push = |a: crate::dot::types::ExternalAsset| {
                bodies.push(format!("{:?} {:?} {:?} {:?}", a.name, a.description, a.folder, a.dot_description));
            };
            for (s, d) in &dashboards {
                if dash_in(s) {
                    push(render::render_dashboard(&view, s, d, &index, &explores));
                }
            }
            if sync_charts {
                for (c, d) in &visible_charts {
                    let on: Vec<&str> = dashboards.iter()
                        .filter(|(_, dd)| dd.tiles.iter().any(|t| t.properties.saved_chart_uuid.as_deref() == Some(&c.uuid) || t.properties.saved_sql_uuid.as_deref() == Some(&c.uuid) || t.properties.chart_slug.as_deref() == c.slug.as_deref()))
                        .map(|(s, _)| s.uuid.as_str())
                        .collect();
                    let shown = visible_dashboards(on, &dashboards_in);
                    push(render::render_chart(&view, c, d, &explores, &shown));
                }
            }
            for s in &spaces {
                if scopes.of(&s.uuid) != Scope::In {
                    continue;
                }
                let ds: Vec<&DashboardSummary> = dashboards_in.values().copied().filter(|d| d.space_uuid == s.uuid).collect();
                let cs: Vec<&ChartSummary> = if sync_charts {
                    visible_charts.iter().map(|(c, _)| c.as_ref()).filter(|c| c.space_uuid == s.uuid).collect()
                } else { Vec::new() };
                let kids: Vec<&SpaceSummary> = tree.children(&s.uuid).into_iter().filter(|k| scopes.of(&k.uuid) == Scope::In).collect();
                push(render::render_space(&view, s, &ds, &cs, &kids));
            }

            // Out-of-scope strings: charts not visible, dashboards not synced, restricted spaces.
            let mut secrets: Vec<String> = Vec::new();
            for (i, c) in charts.iter().enumerate() {
                if !chart_in_space(c) {
                    secrets.push(chart_name(i));
                    secrets.push(c.slug.as_deref().unwrap_or_default().to_owned());
                }
            }
            for (i, (s, _)) in dashboards.iter().enumerate() {
                if !dashboards_in.contains_key(s.uuid.as_str()) {
                    secrets.push(dash_name(i));
                }
            }
            for (i, s) in spaces.iter().enumerate() {
                if !privacy.space(&s.uuid).is_open() {
                    secrets.push(space_name(i));
                }
            }
            for body in &bodies {
                for secret in &secrets {
                    // Escaping may not hide a name: compare without markdown escapes.
                    let plain = body.replace('\\', "");
                    prop_assert!(!plain.contains(secret.as_str()), "{secret} leaked into {body}");
                }
            }
        }
    }
}
