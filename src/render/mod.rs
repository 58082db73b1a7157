//! Rendering: Lightdash content → Dot [`ExternalAsset`]s with a markdown `dot_description`.
//! PURE: no I/O, no clock, no randomness; the same input always gives the same bytes.
//!
//! Entry points: [`render_dashboard`], [`render_chart`], [`render_space`]. Everything a
//! renderer needs about the project travels in a [`ProjectView`].
//!
//! Layout: [`escape`] (the one escaping family every user string goes through, decoding HTML
//! references once), [`fields`] (field ids → labels and what they compute), [`labels`] (the
//! names a chart shows fields under), [`filters`] (filters in words), [`definitions`] (the
//! "Definitions" section), `doc` (sections fitted to the length cap, least important left
//! out first), [`common`] (chart type names, locations, the final cap), [`extras`] (verified
//! status, parameters), [`sql_chart`] (SQL-runner charts: their SQL, tables and columns), and
//! one private module per asset kind. View counts are never
//! put in the markdown: they change daily and the fingerprint leaves them out on purpose.

mod chart;
pub mod common;
#[cfg(test)]
mod corpus_tests;
mod dashboard;
pub mod definitions;
mod doc;
pub mod escape;
pub mod extras;
pub mod fields;
pub mod filters;
pub mod labels;
mod space;
pub mod sql_chart;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::types::{
    ChartDetails, ChartSummary, DashboardDetails, DashboardSummary, Explore, Project, SpaceSummary,
};

/// Bumped whenever the rendered output changes on purpose, so every asset is re-rendered
/// and re-pushed once: it is part of every fingerprint and (through the render settings
/// key) every listing signature. Details the state kept are fetched again only when
/// `state::store::DETAILS_FORMAT_VERSION` moves.
///
/// History: 1 = v1; 2 = verified status, parameters, SQL-runner charts, tile placeholders
/// (fidelity) and, separately, the lead paragraph, labels as shown, Definitions,
/// decode-once escaping, open dashboard filters, `/` in folder names, no empty markdown
/// tiles (descriptions); 3 = both together.
pub const RENDER_FORMAT_VERSION: u32 = 3;

/// Rendering settings from the config.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Base for deep links: `lightdash.public_url`, else `lightdash.url` (no trailing slash).
    pub site_url: String,
    /// `sync.max_description_chars`: cap on `dot_description`, in characters.
    pub max_description_chars: usize,
}

/// Explores of one project, by explore name.
pub type Explores = HashMap<String, Explore>;

/// The space hierarchy of one project: names and parents, for folder paths and glob matching.
#[derive(Debug, Clone, Default)]
pub struct SpaceTree {
    spaces: BTreeMap<String, SpaceSummary>,
}

impl SpaceTree {
    /// Builds the tree from the spaces listing.
    pub fn new(spaces: &[SpaceSummary]) -> Self {
        Self {
            spaces: spaces.iter().map(|s| (s.uuid.clone(), s.clone())).collect(),
        }
    }

    /// The space with this uuid.
    pub fn get(&self, uuid: &str) -> Option<&SpaceSummary> {
        self.spaces.get(uuid)
    }

    /// Every space, by uuid order.
    pub fn iter(&self) -> impl Iterator<Item = &SpaceSummary> {
        self.spaces.values()
    }

    /// Names from the root space down to this one. Old servers have no `parentSpaceUuid`, so
    /// every space is a root there. A parent cycle or a parent we cannot see (a private parent)
    /// ends the walk rather than looping or failing.
    pub fn path_names(&self, uuid: &str) -> Vec<&str> {
        let mut names = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut current = self.spaces.get(uuid);
        while let Some(space) = current {
            if !seen.insert(space.uuid.as_str()) {
                break;
            }
            names.push(space.name.as_str());
            current = space
                .parent_space_uuid
                .as_deref()
                .and_then(|p| self.spaces.get(p));
        }
        names.reverse();
        names
    }

    /// `Parent/Child/Grandchild`, the path the `include_spaces`/`exclude_spaces` globs match.
    /// A `/` inside a name is replaced by `∕` (division slash) so it cannot fake a level.
    pub fn path_string(&self, uuid: &str) -> String {
        self.path_names(uuid)
            .iter()
            .map(|n| n.replace('/', "\u{2215}"))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Whether this space or any ancestor is private.
    pub fn is_private(&self, uuid: &str) -> bool {
        let mut seen = std::collections::HashSet::new();
        let mut current = self.spaces.get(uuid);
        while let Some(space) = current {
            if space.is_private {
                return true;
            }
            if !seen.insert(space.uuid.as_str()) {
                break;
            }
            current = space
                .parent_space_uuid
                .as_deref()
                .and_then(|p| self.spaces.get(p));
        }
        false
    }

    /// Direct children of a space, by name then uuid.
    pub fn children(&self, uuid: &str) -> Vec<&SpaceSummary> {
        let mut c: Vec<&SpaceSummary> = self
            .spaces
            .values()
            .filter(|s| s.parent_space_uuid.as_deref() == Some(uuid))
            .collect();
        c.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
        c
    }
}

/// Everything about one project a renderer may need.
#[derive(Debug, Clone, Copy)]
pub struct ProjectView<'a> {
    /// The project (its name starts every folder).
    pub project: &'a Project,
    /// Its spaces.
    pub spaces: &'a SpaceTree,
    /// Rendering settings.
    pub options: &'a RenderOptions,
}

impl ProjectView<'_> {
    /// `<project name>/<space path by names>`. A `/` inside a name becomes `∕` (U+2215,
    /// division slash), which reads the same but adds no folder level in Dot.
    pub fn folder(&self, space_uuid: &str) -> String {
        let mut parts = vec![common::folder_part(&self.project.name)];
        parts.extend(
            self.spaces
                .path_names(space_uuid)
                .iter()
                .map(|n| common::folder_part(n)),
        );
        parts.join("/")
    }

    /// Deep link for an asset of this project.
    pub fn url(&self, kind: AssetKind, uuid: &str) -> String {
        let site = self.options.site_url.trim_end_matches('/');
        let p = &self.project.project_uuid;
        match kind {
            AssetKind::Dashboard => format!("{site}/projects/{p}/dashboards/{uuid}/view"),
            AssetKind::Chart => format!("{site}/projects/{p}/saved/{uuid}/view"),
            AssetKind::Space => format!("{site}/projects/{p}/spaces/{uuid}"),
        }
    }
}

/// `<site>/projects/<p>/<path>`: a deep link into this project's UI.
pub(crate) fn project_link(view: &ProjectView<'_>, path: &str) -> String {
    let site = view.options.site_url.trim_end_matches('/');
    format!("{site}/projects/{}/{path}", view.project.project_uuid)
}

/// The charts of a project, for resolving dashboard tiles (by uuid on legacy payloads, by
/// slug on as-code payloads). Details are `None` when they could not be fetched (for example
/// a chart in a space the token cannot see); tiles then render from what the listing knows.
#[derive(Debug, Default)]
pub struct ChartIndex<'a> {
    by_uuid: HashMap<&'a str, (&'a ChartSummary, Option<&'a ChartDetails>)>,
    by_slug: HashMap<&'a str, &'a str>,
    by_sql_slug: HashMap<&'a str, &'a str>,
}

impl<'a> ChartIndex<'a> {
    /// Adds a chart.
    pub fn insert(&mut self, summary: &'a ChartSummary, details: Option<&'a ChartDetails>) {
        self.by_uuid
            .insert(summary.uuid.as_str(), (summary, details));
        if let Some(slug) = summary
            .slug
            .as_deref()
            .or(details.and_then(|d| d.slug.as_deref()))
        {
            // Explore charts and SQL charts have separate slug namespaces in Lightdash.
            if summary.is_sql() || details.is_some_and(ChartDetails::is_sql) {
                self.by_sql_slug.insert(slug, summary.uuid.as_str());
            } else {
                self.by_slug.insert(slug, summary.uuid.as_str());
            }
        }
    }

    /// The chart with this uuid.
    pub fn by_uuid(&self, uuid: &str) -> Option<(&'a ChartSummary, Option<&'a ChartDetails>)> {
        self.by_uuid.get(uuid).copied()
    }

    /// The chart with this slug.
    pub fn by_slug(&self, slug: &str) -> Option<(&'a ChartSummary, Option<&'a ChartDetails>)> {
        self.by_slug.get(slug).and_then(|u| self.by_uuid(u))
    }

    /// The chart a tile points at, by uuid else slug, only if it is of the tile's family
    /// (SQL-runner or explore chart).
    pub fn by_uuid_sql(
        &self,
        uuid: Option<&str>,
        slug: Option<&str>,
        sql: bool,
    ) -> Option<(&'a ChartSummary, Option<&'a ChartDetails>)> {
        let is_sql = |(s, d): &(&ChartSummary, Option<&ChartDetails>)| {
            s.is_sql() || d.is_some_and(|d| d.is_sql())
        };
        uuid.and_then(|u| self.by_uuid(u))
            .or_else(|| slug.and_then(|s| self.by_slug_family(s, sql)))
            .filter(|c| is_sql(c) == sql)
    }

    fn by_slug_family(
        &self,
        slug: &str,
        sql: bool,
    ) -> Option<(&'a ChartSummary, Option<&'a ChartDetails>)> {
        let key = if sql {
            self.by_sql_slug.get(slug)
        } else {
            self.by_slug.get(slug)
        };
        key.and_then(|u| self.by_uuid(u))
    }
}

/// Renders a dashboard. `summary` is its listing entry (name, description, space, views and
/// last editor are taken from there, since the listing is always fresh).
pub fn render_dashboard(
    view: &ProjectView<'_>,
    summary: &DashboardSummary,
    details: &DashboardDetails,
    charts: &ChartIndex<'_>,
    explores: &Explores,
) -> ExternalAsset {
    dashboard::render(view, summary, details, charts, explores)
}

/// Renders a chart. `shown_on` are the dashboards with a tile showing it (in any order; the
/// renderer sorts them).
pub fn render_chart(
    view: &ProjectView<'_>,
    summary: &ChartSummary,
    details: &ChartDetails,
    explores: &Explores,
    shown_on: &[&DashboardSummary],
) -> ExternalAsset {
    if details.is_sql() || summary.is_sql() {
        return sql_chart::render(view, summary, details, shown_on);
    }
    chart::render(view, summary, details, explores, shown_on)
}

/// Renders a space: its path, the dashboards and charts directly in it, and its child spaces.
/// The caller passes only content that is synced (privacy and include/exclude applied).
pub fn render_space(
    view: &ProjectView<'_>,
    space: &SpaceSummary,
    dashboards: &[&DashboardSummary],
    charts: &[&ChartSummary],
    children: &[&SpaceSummary],
) -> ExternalAsset {
    space::render(view, space, dashboards, charts, children)
}
