//! The markdown of a space asset: its path, the dashboards and charts directly in it, and
//! its child spaces. PURE.
//!
//! Folder: a space's content sits in the folder named after the space
//! (`Project/Parent/Space`), so the space asset itself sits one level up, in its parent's
//! folder (`Project/Parent`), next to its siblings; a root space sits in the project folder.

use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::types::{ChartSummary, DashboardSummary, SpaceSummary};

use super::ProjectView;
use super::common::{self, SHORT_DESCRIPTION_CHARS};
use super::escape;

/// Renders a space asset (see [`super::render_space`]).
pub fn render(
    view: &ProjectView<'_>,
    space: &SpaceSummary,
    dashboards: &[&DashboardSummary],
    charts: &[&ChartSummary],
    children: &[&SpaceSummary],
) -> ExternalAsset {
    let url = view.url(AssetKind::Space, &space.uuid);
    let mut path = view.spaces.path_names(&space.uuid);
    if path.is_empty() {
        // A space missing from the tree still gets a sensible folder and path.
        path.push(space.name.as_str());
    }
    let parent_folder = std::iter::once(view.project.name.as_str())
        .chain(path[..path.len() - 1].iter().copied())
        .map(common::folder_part)
        .collect::<Vec<_>>()
        .join("/");
    let path_text = std::iter::once(view.project.name.as_str())
        .chain(path.iter().copied())
        .map(escape::inline)
        .collect::<Vec<_>>()
        .join(" / ");

    let mut md = format!("# {}\n\n", escape::inline(&space.name));
    md.push_str(&lead(&path_text, dashboards, charts, children));
    md.push_str(&format!("- Link: {}\n", escape::our_url(&url)));
    if space.is_private {
        md.push_str("- Private space\n");
    }
    md.push_str(&format!(
        "- Contains: {}, {}, {}\n",
        count(dashboards.len(), "dashboard"),
        count(charts.len(), "chart"),
        count(children.len(), "child space"),
    ));

    let mut ds: Vec<&&DashboardSummary> = dashboards.iter().collect();
    ds.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
    if !ds.is_empty() {
        md.push_str("\n## Dashboards\n\n");
        for d in ds {
            md.push_str(&format!(
                "- {}\n",
                with_description(&d.name, None, d.description.as_deref())
            ));
        }
    }

    let mut cs: Vec<&&ChartSummary> = charts.iter().collect();
    cs.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
    if !cs.is_empty() {
        md.push_str("\n## Charts\n\n");
        for c in cs {
            // The listing may not know the kind; a bare "chart" would say nothing.
            let kind = c.chart_kind.as_ref().map(common::kind_name);
            let inside = c
                .dashboard_name
                .as_deref()
                .filter(|n| !n.trim().is_empty())
                .map(|d| format!("saved inside dashboard {}", escape::inline(d)));
            let note = match (kind, inside) {
                (Some(k), Some(i)) => Some(format!("{k}, {i}")),
                (k, i) => k.or(i),
            };
            md.push_str(&format!(
                "- {}\n",
                with_description(&c.name, note.as_deref(), c.description.as_deref())
            ));
        }
    }

    let mut kids: Vec<&&SpaceSummary> = children.iter().collect();
    kids.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
    if !kids.is_empty() {
        md.push_str("\n## Child spaces\n\n");
        for k in kids {
            md.push_str(&format!("- {}\n", escape::inline(&k.name)));
        }
    }

    common::asset(
        view,
        common::AssetParts {
            kind: AssetKind::Space,
            uuid: &space.uuid,
            folder: parent_folder,
            name: &space.name,
            description: None,
            url,
            views: None,
            markdown: &md,
        },
    )
}

/// Most names per kind in the lead paragraph.
const LEAD_NAMES: usize = 5;

/// The lead paragraph: where the space is and what it holds, by name.
fn lead(
    path_text: &str,
    dashboards: &[&DashboardSummary],
    charts: &[&ChartSummary],
    children: &[&SpaceSummary],
) -> String {
    let mut s = format!("A Lightdash space at {path_text}");
    let names = |mut n: Vec<&str>| {
        n.sort_unstable();
        let items: Vec<String> = n.into_iter().map(escape::inline).collect();
        super::chart::and_list(&items, LEAD_NAMES)
    };
    let mut parts = Vec::new();
    if !dashboards.is_empty() {
        parts.push(format!(
            "{} ({})",
            count(dashboards.len(), "dashboard"),
            names(dashboards.iter().map(|d| d.name.as_str()).collect())
        ));
    }
    if !charts.is_empty() {
        parts.push(format!(
            "{} ({})",
            count(charts.len(), "chart"),
            names(charts.iter().map(|c| c.name.as_str()).collect())
        ));
    }
    if !children.is_empty() {
        parts.push(format!(
            "{} ({})",
            count(children.len(), "child space"),
            names(children.iter().map(|c| c.name.as_str()).collect())
        ));
    }
    if parts.is_empty() {
        s.push_str(", empty for now");
    } else {
        s.push_str(&format!(" holding {}", parts.join("; ")));
    }
    s.push_str(".\n\n");
    s
}

/// "3 charts", "1 chart".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// "Name (kind): one-line description", escaped; `kind` is already escaped.
fn with_description(name: &str, kind: Option<&str>, description: Option<&str>) -> String {
    let mut s = escape::inline(name);
    if let Some(k) = kind {
        s.push_str(&format!(" ({k})"));
    }
    if !escape::is_blank(description) {
        s.push_str(": ");
        s.push_str(&escape::inline_capped(
            description.unwrap_or_default(),
            SHORT_DESCRIPTION_CHARS,
        ));
    }
    s
}
