//! The markdown of a dashboard asset: header, filters, then each tab and its tiles in layout
//! order. PURE.
//!
//! Tabs come in their `order`. A tile without a `tabUuid`, or naming a tab that does not
//! exist, goes on the first tab, which is where Lightdash shows it. Within a tab, tiles go
//! top to bottom, then left to right (`y`, then `x`), as a reader scans the page.

use std::collections::BTreeMap;

use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::types::{DashboardDetails, DashboardSummary, DashboardTile, TileType};

use super::chart;
use super::common;
use super::escape;
use super::fields::FieldLookup;
use super::filters;
use super::{ChartIndex, Explores, ProjectView};

/// Longest markdown tile text kept, in characters of source.
const MARKDOWN_TILE_CHARS: usize = 1500;

/// Renders a dashboard asset (see [`super::render_dashboard`]).
pub fn render(
    view: &ProjectView<'_>,
    summary: &DashboardSummary,
    details: &DashboardDetails,
    charts: &ChartIndex<'_>,
    explores: &Explores,
) -> ExternalAsset {
    let url = view.url(AssetKind::Dashboard, &summary.uuid);
    let mut md = format!("# {}\n\n", escape::inline(&summary.name));
    md.push_str(&format!(
        "Lightdash dashboard in {}.\n\n",
        common::location(view, &summary.space_uuid)
    ));
    md.push_str(&format!("- Link: {}\n", escape::our_url(&url)));
    let updated = common::updated(
        summary
            .updated_at
            .as_deref()
            .or(details.updated_at.as_deref()),
        summary
            .updated_by_user
            .as_ref()
            .or(details.updated_by_user.as_ref()),
    );
    if let Some(u) = updated {
        md.push_str(&format!("- Last updated: {u}\n"));
    }

    let tabs = tabs_with_tiles(details);
    let tile_count = details.tiles.len();
    let layout = match details.tabs.len() {
        0 => format!("{tile_count} tiles"),
        1 => format!("1 tab, {tile_count} tiles"),
        n => format!("{n} tabs, {tile_count} tiles"),
    };
    md.push_str(&format!("- Layout: {layout}\n"));

    let description = summary
        .description
        .as_deref()
        .or(details.description.as_deref());
    if !escape::is_blank(description) {
        md.push_str(&format!(
            "\n## Description\n\n{}\n",
            escape::block(description.unwrap_or_default())
        ));
    }

    // Tile titles for the filters' `tileTargets` (keyed by tile uuid or tile slug).
    let mut titles: BTreeMap<&str, String> = BTreeMap::new();
    for tile in &details.tiles {
        let title = tile_title(tile, charts);
        for key in [tile.uuid.as_deref(), tile.tile_slug.as_deref()]
            .into_iter()
            .flatten()
        {
            titles.insert(key, escape::inline(&title));
        }
    }
    let project_fields = FieldLookup::project(explores);
    let filter_lines = filters::dashboard_filter_lines(&details.filters, &project_fields, &|k| {
        titles.get(k).cloned()
    });
    if !filter_lines.is_empty() {
        md.push_str("\n## Dashboard filters\n\nViewers can change these; they apply to the tiles below.\n\n");
        for line in filter_lines {
            md.push_str(&format!("- {line}\n"));
        }
    }

    for (tab, tiles) in tabs {
        match tab {
            Some((name, hidden)) => {
                let hidden = if hidden { " (hidden from viewers)" } else { "" };
                md.push_str(&format!("\n## Tab: {}{hidden}\n", escape::inline(name)));
            }
            None => md.push_str("\n## Tiles\n"),
        }
        if tiles.is_empty() {
            md.push_str("\nNo tiles.\n");
        }
        for tile in tiles {
            md.push('\n');
            md.push_str(&render_tile(tile, charts, explores));
        }
    }

    common::asset(
        view,
        common::AssetParts {
            kind: AssetKind::Dashboard,
            uuid: &summary.uuid,
            folder: view.folder(&summary.space_uuid),
            name: &summary.name,
            description: summary.description.as_deref(),
            url,
            views: Some(summary.views),
            markdown: &md,
        },
    )
}

/// A tab (name, hidden) or `None` for a dashboard without tabs.
type TabHead<'d> = Option<(&'d str, bool)>;

/// Tabs in order, each with its tiles in layout order.
fn tabs_with_tiles(details: &DashboardDetails) -> Vec<(TabHead<'_>, Vec<&DashboardTile>)> {
    let mut tabs: Vec<_> = details.tabs.iter().collect();
    tabs.sort_by(|a, b| {
        a.order
            .total_cmp(&b.order)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.uuid.cmp(&b.uuid))
    });
    let mut tiles: Vec<&DashboardTile> = details.tiles.iter().collect();
    // Stable: tiles at the same position keep the dashboard's order.
    tiles.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));

    if tabs.is_empty() {
        return vec![(None, tiles)];
    }
    let first = tabs[0].uuid.as_str();
    let known = |u: &str| tabs.iter().any(|t| t.uuid == u);
    tabs.iter()
        .map(|tab| {
            let on_tab = tiles
                .iter()
                .copied()
                .filter(|t| {
                    let home = match t.tab_uuid.as_deref() {
                        Some(u) if known(u) => u,
                        _ => first,
                    };
                    home == tab.uuid
                })
                .collect();
            (Some((tab.name.as_str(), tab.hidden)), on_tab)
        })
        .collect()
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !escape::is_blank(Some(s)))
}

/// The title a tile shows (raw): its own title, else its chart's name, else a type name.
fn tile_title(tile: &DashboardTile, charts: &ChartIndex<'_>) -> String {
    let p = &tile.properties;
    let chart_name = resolve_chart(tile, charts).map(|(s, _)| s.name.as_str());
    non_blank(p.title.as_deref())
        .or(non_blank(p.text.as_deref()))
        .or(non_blank(chart_name))
        .or(non_blank(p.chart_name.as_deref()))
        .map(str::to_owned)
        .unwrap_or_else(|| match tile.tile_type {
            TileType::Markdown => "Text".to_owned(),
            _ => "Untitled".to_owned(),
        })
}

type Resolved<'a> = (
    &'a crate::lightdash::types::ChartSummary,
    Option<&'a crate::lightdash::types::ChartDetails>,
);

/// The chart a chart tile shows: by uuid (legacy payloads), else by slug (as code).
fn resolve_chart<'a>(tile: &DashboardTile, charts: &ChartIndex<'a>) -> Option<Resolved<'a>> {
    let p = &tile.properties;
    p.saved_chart_uuid
        .as_deref()
        .and_then(|u| charts.by_uuid(u))
        .or_else(|| p.chart_slug.as_deref().and_then(|s| charts.by_slug(s)))
}

/// One tile: a `###` heading with its title and type, then what it shows.
fn render_tile(tile: &DashboardTile, charts: &ChartIndex<'_>, explores: &Explores) -> String {
    let p = &tile.properties;
    let title = escape::inline(&tile_title(tile, charts));
    let mut lines: Vec<String> = Vec::new();
    let heading = match &tile.tile_type {
        TileType::SavedChart => match resolve_chart(tile, charts) {
            Some((summary, details)) => {
                let kind = common::chart_type_name(
                    summary.chart_kind.as_ref(),
                    p.last_version_chart_kind.as_ref(),
                    details,
                );
                // Name the chart when the tile renames it.
                let renamed = non_blank(p.title.as_deref())
                    .filter(|t| t.trim() != summary.name.trim())
                    .map(|_| summary.name.as_str());
                let description = summary
                    .description
                    .as_deref()
                    .or(details.and_then(|d| d.description.as_deref()));
                lines = chart::tile_lines(renamed, description, details, explores);
                if details.is_none() {
                    lines.push("- Chart definition not available".to_owned());
                }
                format!("{title} ({kind})")
            }
            None => {
                let why = if p.saved_chart_uuid.is_none() && p.chart_slug.is_none() {
                    "missing chart: it was deleted"
                } else {
                    "missing chart: not found"
                };
                format!("{title} ({why})")
            }
        },
        TileType::Markdown => {
            let text = escape::markdown_tile(
                p.content.as_deref().unwrap_or_default(),
                MARKDOWN_TILE_CHARS,
            );
            lines.extend(text.lines().map(|l| {
                if l.is_empty() {
                    ">".to_owned()
                } else {
                    format!("> {l}")
                }
            }));
            format!("{title} (text)")
        }
        // The video URL is user text: never rendered, so never a link.
        TileType::Loom => format!("{title} (Loom video)"),
        TileType::Heading => format!("{title} (section heading)"),
        TileType::SqlChart => format!("{title} (SQL chart)"),
        TileType::SemanticViewerChart => format!("{title} (semantic viewer chart)"),
        TileType::DataApp => format!("{title} (data app)"),
        TileType::Unknown(t) => format!("{title} (tile of unknown type {})", escape::inline(t)),
    };
    let mut out = format!("### {heading}\n");
    if !lines.is_empty() {
        out.push('\n');
        out.push_str(&lines.join("\n"));
        out.push('\n');
    }
    out
}
