//! The demo's sample Lightdash organisation, and the in-memory model the mock Lightdash
//! serves. No I/O: [`bundled`] parses a file compiled into the binary.
//!
//! Each item is kept as the listing summary plus the full details, in the crate's own
//! tolerant types. The summary is authoritative for what the listing shows (uuid, slug, name,
//! description, space, `updatedAt`, editor, views, parent dashboard); the details hold the
//! definition (query, chart config, tabs, tiles, filters). The mock merges the two when it
//! serves details, so a test that renames an item only has to edit the summary. Tiles
//! reference charts by `properties.savedChartUuid`, as Lightdash stores them; the mock derives
//! the as-code `chartSlug` and `tileSlug` from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lightdash::types::{
    ChartDetails, ChartSource, ChartSummary, DashboardDetails, DashboardSummary, DeletedContent,
    Explore, Project, SpaceSummary, UserRef,
};

/// Everything a mock Lightdash organisation holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LightdashContent {
    /// Projects, in listing order.
    pub projects: Vec<ProjectContent>,
}

/// One project and its content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProjectContent {
    /// The `GET /org/projects` entry.
    pub project: Project,
    /// Spaces, nested through `parentSpaceUuid`; `path` is the ltree path.
    pub spaces: Vec<SpaceSummary>,
    /// Dashboards.
    pub dashboards: Vec<DashboardContent>,
    /// Charts, including charts saved inside a dashboard.
    pub charts: Vec<ChartContent>,
    /// Compiled explores the charts query.
    pub explores: Vec<Explore>,
    /// The project's trash: soft-deleted charts and dashboards, as
    /// `GET /api/v2/content/deleted` lists them (see [`ProjectContent::trash_chart`]).
    #[serde(default)]
    pub trash: Vec<DeletedContent>,
    /// Parameter definitions (`lightdash.config.yml` `parameters`), served by
    /// `GET /api/v2/projects/{p}/parameters`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, crate::lightdash::types::ParameterDefinition>,
    /// Trashed charts, kept so they can be restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trashed_charts: Vec<ChartContent>,
    /// Trashed dashboards, kept so they can be restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trashed_dashboards: Vec<DashboardContent>,
}

/// A dashboard: listing entry plus definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DashboardContent {
    /// What `GET /projects/{p}/dashboards` lists (authoritative for identity and metadata).
    pub summary: DashboardSummary,
    /// Tabs, tiles and filters.
    pub details: DashboardDetails,
}

/// A chart: listing entry plus definition. A SQL-runner chart is a chart whose summary has
/// `source: "sql"` and whose details carry `sql` (and `config`, `chartKind`, `limit`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChartContent {
    /// What `GET /projects/{p}/charts` lists (authoritative for identity and metadata).
    pub summary: ChartSummary,
    /// Query and visualisation.
    pub details: ChartDetails,
}

/// The bundled sample organisation: a "Jaffle Shop" DEFAULT project with nested spaces, a
/// private space, three dashboards and a dozen charts, plus a small PREVIEW project.
pub fn bundled() -> LightdashContent {
    // The file is compiled in and checked by `bundled_content_is_consistent`; a parse failure
    // here is a bug in the repository, not a runtime condition.
    serde_json::from_str(include_str!("content.json"))
        .expect("src/demo/content.json is valid LightdashContent")
}

impl LightdashContent {
    /// The project with this uuid.
    pub fn project(&self, project_uuid: &str) -> Option<&ProjectContent> {
        self.projects
            .iter()
            .find(|p| p.project.project_uuid == project_uuid)
    }

    /// The project with this uuid, mutably.
    pub fn project_mut(&mut self, project_uuid: &str) -> Option<&mut ProjectContent> {
        self.projects
            .iter_mut()
            .find(|p| p.project.project_uuid == project_uuid)
    }

    /// The first DEFAULT project (the bundled "Jaffle Shop").
    pub fn default_project(&self) -> Option<&ProjectContent> {
        self.projects
            .iter()
            .find(|p| p.project.project_type == crate::lightdash::types::ProjectType::Default)
    }

    /// The first DEFAULT project, mutably.
    pub fn default_project_mut(&mut self) -> Option<&mut ProjectContent> {
        self.projects
            .iter_mut()
            .find(|p| p.project.project_type == crate::lightdash::types::ProjectType::Default)
    }

    /// A chart in any project, by uuid.
    pub fn chart(&self, uuid: &str) -> Option<&ChartContent> {
        self.projects.iter().find_map(|p| p.chart(uuid))
    }

    /// A chart in any project, by uuid, mutably.
    pub fn chart_mut(&mut self, uuid: &str) -> Option<&mut ChartContent> {
        self.projects.iter_mut().find_map(|p| p.chart_mut(uuid))
    }

    /// A dashboard in any project, by uuid.
    pub fn dashboard(&self, uuid: &str) -> Option<&DashboardContent> {
        self.projects.iter().find_map(|p| p.dashboard(uuid))
    }

    /// A dashboard in any project, by uuid, mutably.
    pub fn dashboard_mut(&mut self, uuid: &str) -> Option<&mut DashboardContent> {
        self.projects.iter_mut().find_map(|p| p.dashboard_mut(uuid))
    }

    /// A space in any project, by uuid.
    pub fn space(&self, uuid: &str) -> Option<&SpaceSummary> {
        self.projects.iter().find_map(|p| p.space(uuid))
    }

    /// A space in any project, by uuid, mutably.
    pub fn space_mut(&mut self, uuid: &str) -> Option<&mut SpaceSummary> {
        self.projects.iter_mut().find_map(|p| p.space_mut(uuid))
    }

    /// Removes a chart from whichever project holds it. Tiles showing it keep their
    /// `savedChartUuid`, as after a deletion in Lightdash; use
    /// [`ProjectContent::remove_chart_everywhere`] to also drop those tiles.
    pub fn remove_chart(&mut self, uuid: &str) -> Option<ChartContent> {
        self.projects.iter_mut().find_map(|p| p.remove_chart(uuid))
    }

    /// Removes a dashboard from whichever project holds it (charts saved inside it stay).
    pub fn remove_dashboard(&mut self, uuid: &str) -> Option<DashboardContent> {
        self.projects
            .iter_mut()
            .find_map(|p| p.remove_dashboard(uuid))
    }

    /// Removes a space (not its content) from whichever project holds it.
    pub fn remove_space(&mut self, uuid: &str) -> Option<SpaceSummary> {
        self.projects.iter_mut().find_map(|p| p.remove_space(uuid))
    }
}

impl ProjectContent {
    /// A chart by uuid.
    pub fn chart(&self, uuid: &str) -> Option<&ChartContent> {
        self.charts.iter().find(|c| c.summary.uuid == uuid)
    }

    /// A chart by uuid, mutably.
    pub fn chart_mut(&mut self, uuid: &str) -> Option<&mut ChartContent> {
        self.charts.iter_mut().find(|c| c.summary.uuid == uuid)
    }

    /// A chart by name (handy in tests; names are unique in the bundled content).
    pub fn chart_named(&self, name: &str) -> Option<&ChartContent> {
        self.charts.iter().find(|c| c.summary.name == name)
    }

    /// A dashboard by uuid.
    pub fn dashboard(&self, uuid: &str) -> Option<&DashboardContent> {
        self.dashboards.iter().find(|d| d.summary.uuid == uuid)
    }

    /// A dashboard by uuid, mutably.
    pub fn dashboard_mut(&mut self, uuid: &str) -> Option<&mut DashboardContent> {
        self.dashboards.iter_mut().find(|d| d.summary.uuid == uuid)
    }

    /// A dashboard by name.
    pub fn dashboard_named(&self, name: &str) -> Option<&DashboardContent> {
        self.dashboards.iter().find(|d| d.summary.name == name)
    }

    /// A space by uuid.
    pub fn space(&self, uuid: &str) -> Option<&SpaceSummary> {
        self.spaces.iter().find(|s| s.uuid == uuid)
    }

    /// A space by uuid, mutably.
    pub fn space_mut(&mut self, uuid: &str) -> Option<&mut SpaceSummary> {
        self.spaces.iter_mut().find(|s| s.uuid == uuid)
    }

    /// A space by name.
    pub fn space_named(&self, name: &str) -> Option<&SpaceSummary> {
        self.spaces.iter().find(|s| s.name == name)
    }

    /// An explore by name.
    pub fn explore(&self, name: &str) -> Option<&Explore> {
        self.explores.iter().find(|e| e.name == name)
    }

    /// An explore by name, mutably (e.g. to relabel a field between cycles).
    pub fn explore_mut(&mut self, name: &str) -> Option<&mut Explore> {
        self.explores.iter_mut().find(|e| e.name == name)
    }

    /// Removes a chart; tiles showing it are left as they are.
    pub fn remove_chart(&mut self, uuid: &str) -> Option<ChartContent> {
        let index = self.charts.iter().position(|c| c.summary.uuid == uuid)?;
        Some(self.charts.remove(index))
    }

    /// Removes a chart and every dashboard tile showing it.
    pub fn remove_chart_everywhere(&mut self, uuid: &str) -> Option<ChartContent> {
        for dashboard in &mut self.dashboards {
            dashboard
                .details
                .tiles
                .retain(|t| t.properties.saved_chart_uuid.as_deref() != Some(uuid));
        }
        self.remove_chart(uuid)
    }

    /// Moves a chart to the trash, as Lightdash's soft delete (or Autopilot's bulk clean-up,
    /// `by: None`) does: it leaves every listing and shows up in the trash. Tiles keep
    /// pointing at it.
    pub fn trash_chart(&mut self, uuid: &str, by: Option<UserRef>) -> Option<()> {
        let chart = self.remove_chart(uuid)?;
        self.trash.push(DeletedContent {
            uuid: chart.summary.uuid.clone(),
            content_type: Some("chart".into()),
            source: Some(
                chart
                    .summary
                    .source
                    .as_ref()
                    .map_or("dbt_explore", ChartSource::as_str)
                    .to_owned(),
            ),
            deleted_at: Some("2026-11-28T03:00:00.000Z".into()),
            deleted_by: by,
            project_uuid: Some(self.project.project_uuid.clone()),
        });
        self.trashed_charts.push(chart);
        Some(())
    }

    /// Moves a dashboard to the trash (see [`Self::trash_chart`]).
    pub fn trash_dashboard(&mut self, uuid: &str, by: Option<UserRef>) -> Option<()> {
        let dashboard = self.remove_dashboard(uuid)?;
        self.trash.push(DeletedContent {
            uuid: dashboard.summary.uuid.clone(),
            content_type: Some("dashboard".into()),
            source: None,
            deleted_at: Some("2026-11-28T03:00:00.000Z".into()),
            deleted_by: by,
            project_uuid: Some(self.project.project_uuid.clone()),
        });
        self.trashed_dashboards.push(dashboard);
        Some(())
    }

    /// Restores a trashed chart or dashboard: back in the listings with the same uuid.
    pub fn restore(&mut self, uuid: &str) -> Option<()> {
        self.trash.retain(|t| t.uuid != uuid);
        if let Some(i) = self
            .trashed_charts
            .iter()
            .position(|c| c.summary.uuid == uuid)
        {
            let chart = self.trashed_charts.remove(i);
            self.charts.push(chart);
            return Some(());
        }
        let i = self
            .trashed_dashboards
            .iter()
            .position(|d| d.summary.uuid == uuid)?;
        let dashboard = self.trashed_dashboards.remove(i);
        self.dashboards.push(dashboard);
        Some(())
    }

    /// Removes a dashboard.
    pub fn remove_dashboard(&mut self, uuid: &str) -> Option<DashboardContent> {
        let index = self
            .dashboards
            .iter()
            .position(|d| d.summary.uuid == uuid)?;
        Some(self.dashboards.remove(index))
    }

    /// Removes a space (its content keeps pointing at it).
    pub fn remove_space(&mut self, uuid: &str) -> Option<SpaceSummary> {
        let index = self.spaces.iter().position(|s| s.uuid == uuid)?;
        Some(self.spaces.remove(index))
    }

    /// The as-code path of a space (`sales/emea`): its ltree path with `_`→`-` and `.`→`/`,
    /// or its slug when the space has no path.
    pub fn space_slug(&self, space_uuid: &str) -> Option<String> {
        let space = self.space(space_uuid)?;
        match (&space.path, &space.slug) {
            (Some(path), _) => Some(path.replace('_', "-").replace('.', "/")),
            (None, Some(slug)) => Some(slug.clone()),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;
    use crate::lightdash::types::{FilterNode, ProjectType, TileType};

    fn field_ids(node: &FilterNode, out: &mut Vec<String>) {
        match node {
            FilterNode::And(children) | FilterNode::Or(children) => {
                children.iter().for_each(|c| field_ids(c, out))
            }
            FilterNode::Rule(rule) => out.push(rule.target.field_id.clone()),
        }
    }

    #[test]
    fn bundled_content_is_consistent() {
        let content = bundled();
        assert_eq!(content.projects.len(), 2);
        assert!(
            content
                .projects
                .iter()
                .any(|p| p.project.project_type == ProjectType::Preview)
        );
        let mut all_uuids = HashSet::new();
        for project in &content.projects {
            let p = &project.project.name;
            let space_ids: HashSet<&str> = project.spaces.iter().map(|s| s.uuid.as_str()).collect();
            for space in &project.spaces {
                assert!(all_uuids.insert(space.uuid.clone()), "{p}: duplicate uuid");
                if let Some(parent) = &space.parent_space_uuid {
                    assert!(
                        space_ids.contains(parent.as_str()),
                        "{p}: parent of {}",
                        space.name
                    );
                }
                assert!(project.space_slug(&space.uuid).is_some());
            }
            let mut chart_slugs = HashSet::new();
            for chart in &project.charts {
                let (s, d) = (&chart.summary, &chart.details);
                assert!(all_uuids.insert(s.uuid.clone()), "{p}: duplicate uuid");
                assert!(
                    space_ids.contains(s.space_uuid.as_str()),
                    "{p}: space of {}",
                    s.name
                );
                assert_eq!(d.uuid.as_ref(), Some(&s.uuid));
                assert_eq!(d.slug.as_deref(), s.slug.as_deref());
                assert_eq!(d.name, s.name);
                assert!(chart_slugs.insert(s.slug.clone().expect("chart slug")));
                assert!(
                    s.chart_kind.is_some() && s.chart_type.is_some(),
                    "{}",
                    s.name
                );
                if let Some(dash) = &s.dashboard_uuid {
                    let dashboard = project.dashboard(dash).expect("parent dashboard");
                    assert_eq!(
                        s.dashboard_name.as_deref(),
                        Some(dashboard.summary.name.as_str())
                    );
                    assert_eq!(s.space_uuid, dashboard.summary.space_uuid);
                }
                // Every field the chart uses exists in its explore, except the ones the chart
                // defines itself.
                let explore_name = d.explore_name().expect("explore name");
                let explore = project.explore(explore_name).expect("explore exists");
                let mut known: HashSet<String> = explore
                    .tables
                    .values()
                    .flat_map(|t| t.dimensions.values().chain(t.metrics.values()))
                    .map(|f| format!("{}_{}", f.table, f.name))
                    .collect();
                let q = &d.metric_query;
                known.extend(q.table_calculations.iter().map(|t| t.name.clone()));
                known.extend(q.custom_dimensions.iter().map(|c| c.id.clone()));
                known.extend(
                    q.additional_metrics
                        .iter()
                        .map(|m| format!("{}_{}", m.table, m.name)),
                );
                let mut used: Vec<String> =
                    q.dimensions.iter().chain(&q.metrics).cloned().collect();
                used.extend(q.sorts.iter().map(|s| s.field_id.clone()));
                for node in [
                    &q.filters.dimensions,
                    &q.filters.metrics,
                    &q.filters.table_calculations,
                ]
                .into_iter()
                .flatten()
                {
                    field_ids(node, &mut used);
                }
                for custom in &q.custom_dimensions {
                    used.extend(custom.dimension_id.clone());
                }
                for id in used {
                    assert!(known.contains(&id), "{p}: {}: unknown field {id}", s.name);
                }
            }
            let mut dashboard_slugs = HashSet::new();
            for dashboard in &project.dashboards {
                let (s, d) = (&dashboard.summary, &dashboard.details);
                assert!(all_uuids.insert(s.uuid.clone()), "{p}: duplicate uuid");
                assert!(space_ids.contains(s.space_uuid.as_str()));
                assert_eq!(d.uuid.as_ref(), Some(&s.uuid));
                assert_eq!(d.slug.as_deref(), s.slug.as_deref());
                assert!(dashboard_slugs.insert(s.slug.clone().expect("dashboard slug")));
                let tabs: HashSet<&str> = d.tabs.iter().map(|t| t.uuid.as_str()).collect();
                let mut tiles = HashSet::new();
                for tile in &d.tiles {
                    assert!(tiles.insert(tile.uuid.clone().expect("tile uuid")));
                    if let Some(tab) = &tile.tab_uuid {
                        assert!(tabs.contains(tab.as_str()), "{}: tab of a tile", s.name);
                    }
                    if tile.tile_type == TileType::SavedChart {
                        let chart = tile.properties.saved_chart_uuid.as_deref().expect("chart");
                        assert!(project.chart(chart).is_some(), "{}: tile chart", s.name);
                    }
                }
                for rule in &d.filters.dimensions {
                    for key in rule.tile_targets.iter().flat_map(|t| t.keys()) {
                        assert!(tiles.contains(key), "{}: tileTargets", s.name);
                    }
                }
            }
            for explore in &project.explores {
                for table in explore.tables.values() {
                    for field in table.dimensions.values().chain(table.metrics.values()) {
                        assert_eq!(field.table, table.name);
                        assert!(field.label.is_some() && field.description.is_some());
                    }
                }
            }
        }
    }

    #[test]
    fn bundled_content_covers_what_the_renderer_must_handle() {
        let content = bundled();
        let project = content.default_project().expect("default project");
        let kinds: BTreeSet<String> = project
            .charts
            .iter()
            .filter_map(|c| c.summary.chart_kind.as_ref().map(|k| k.to_string()))
            .collect();
        for kind in [
            "line",
            "vertical_bar",
            "horizontal_bar",
            "big_number",
            "table",
            "pie",
            "area",
            "funnel",
        ] {
            assert!(kinds.contains(kind), "missing chart kind {kind}");
        }
        assert!(project.charts.len() >= 10);
        assert!(project.spaces.iter().any(|s| s.is_private));
        assert!(project.spaces.iter().any(|s| s.parent_space_uuid.is_some()));
        let tile_types: BTreeSet<String> = project
            .dashboards
            .iter()
            .flat_map(|d| d.details.tiles.iter().map(|t| t.tile_type.to_string()))
            .collect();
        for t in ["saved_chart", "markdown", "heading", "loom"] {
            assert!(tile_types.contains(t), "missing tile type {t}");
        }
        assert!(
            project
                .dashboards
                .iter()
                .filter(|d| !d.details.tabs.is_empty())
                .count()
                >= 2
        );
        let q = project.charts.iter().map(|c| &c.details.metric_query);
        assert!(q.clone().any(|q| !q.additional_metrics.is_empty()));
        assert!(q.clone().any(|q| !q.custom_dimensions.is_empty()));
        assert!(q.clone().any(|q| !q.table_calculations.is_empty()));
        assert!(
            project
                .charts
                .iter()
                .any(|c| c.details.pivot_config.is_some())
        );
        assert!(
            project
                .charts
                .iter()
                .any(|c| c.summary.dashboard_uuid.is_some())
        );
        let filters: Vec<_> = project
            .dashboards
            .iter()
            .flat_map(|d| &d.details.filters.dimensions)
            .collect();
        assert!(filters.iter().any(|f| f.disabled));
        assert!(filters.iter().any(|f| f.values.len() >= 2));
    }

    #[test]
    fn helpers_find_and_remove() {
        let mut content = bundled();
        let project = content.default_project().expect("default project");
        let chart = project
            .chart_named("Monthly revenue")
            .expect("chart")
            .summary
            .uuid
            .clone();
        let dashboard = project
            .dashboard_named("Sales overview")
            .expect("dash")
            .summary
            .uuid
            .clone();
        content.chart_mut(&chart).expect("chart").summary.name = "Renamed".into();
        assert_eq!(
            content.chart(&chart).expect("chart").summary.name,
            "Renamed"
        );
        assert!(content.remove_dashboard(&dashboard).is_some());
        assert!(content.dashboard(&dashboard).is_none());
        let project = content
            .projects
            .iter_mut()
            .find(|p| p.chart(&chart).is_some())
            .expect("p");
        project.remove_chart_everywhere(&chart);
        assert!(project.dashboards.iter().all(|d| {
            d.details
                .tiles
                .iter()
                .all(|t| t.properties.saved_chart_uuid.as_deref() != Some(chart.as_str()))
        }));
        let emea = project.space_named("EMEA").expect("space").uuid.clone();
        assert_eq!(project.space_slug(&emea).as_deref(), Some("sales/emea"));
    }
}
