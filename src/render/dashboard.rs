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
    // The cycle resolves verification into the summary (the list, the listing, else the
    // details); stored details may be older than an unverification.
    if let Some(v) = super::extras::verification_line(summary.verification.as_ref()) {
        md.push_str(&format!("- {v}\n"));
    }

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

    let pinned = details
        .config
        .as_ref()
        .map(|c| c.pinned_parameters.as_slice())
        .unwrap_or_default();
    let parameters = super::extras::dashboard_parameter_lines(
        details.parameters.as_ref(),
        pinned,
        &details.parameter_definitions,
    );
    if !parameters.is_empty() {
        md.push_str(&format!(
            "\n## Parameters\n\nViewers can change these; they feed the charts' SQL.\n\n{}\n",
            parameters.join("\n")
        ));
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
    // Tiles name their tab by `tabUuid` (API, older as code) or `tabSlug` (newest as code),
    // whichever the payload has; an unknown or missing tab means the first tab.
    let home = |t: &DashboardTile| -> usize {
        tabs.iter()
            .position(|tab| {
                let by_uuid = t
                    .tab_uuid
                    .as_deref()
                    .is_some_and(|u| !u.is_empty() && u == tab.uuid);
                let by_slug = t
                    .tab_slug
                    .as_deref()
                    .is_some_and(|s| tab.slug.as_deref() == Some(s));
                by_uuid || by_slug
            })
            .unwrap_or(0)
    };
    tabs.iter()
        .enumerate()
        .map(|(i, tab)| {
            let on_tab = tiles.iter().copied().filter(|t| home(t) == i).collect();
            (Some((tab.name.as_str(), tab.hidden)), on_tab)
        })
        .collect()
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !escape::is_blank(Some(s)))
}

/// What a chart tile shows when its chart is not among the charts synced here: out of scope
/// (private, excluded, a kind not synced) or gone. Deliberately the same words either way, and
/// never the tile's own `title` or `chartName`: those are the chart's name as Lightdash last
/// saw it, and naming content outside the scope is exactly what must not happen.
pub const CHART_NOT_SHARED: &str = "A chart that is not shared here";

/// What a chart tile whose chart Lightdash deleted shows (`savedChartUuid: null`).
pub const CHART_DELETED: &str = "A chart that was deleted";

fn is_chart_tile(tile: &DashboardTile) -> bool {
    matches!(
        tile.tile_type,
        TileType::SavedChart | TileType::SqlChart | TileType::SemanticViewerChart
    )
}

/// The placeholder for a chart tile whose chart is not in the index.
fn unresolved_chart(tile: &DashboardTile) -> &'static str {
    let p = &tile.properties;
    let points_nowhere =
        p.saved_chart_uuid.is_none() && p.saved_sql_uuid.is_none() && p.chart_slug.is_none();
    if points_nowhere && tile.tile_type != TileType::SemanticViewerChart {
        CHART_DELETED
    } else {
        CHART_NOT_SHARED
    }
}

/// The title a tile shows (raw): its own title, else its chart's name, else a type name. A
/// chart tile whose chart is not synced here shows a neutral placeholder instead.
fn tile_title(tile: &DashboardTile, charts: &ChartIndex<'_>) -> String {
    let p = &tile.properties;
    let resolved = resolve_chart(tile, charts);
    if is_chart_tile(tile) && resolved.is_none() {
        return unresolved_chart(tile).to_owned();
    }
    let chart_name = resolved.map(|(s, _)| s.name.as_str());
    non_blank(p.title.as_deref())
        .or(non_blank(p.text.as_deref()))
        .or(non_blank(chart_name))
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

/// The chart a chart tile shows: by uuid (legacy payloads: `savedChartUuid`, or
/// `savedSqlUuid` for SQL charts), else by slug (as code). A tile of one kind never resolves
/// to a chart of the other (an explore chart and a SQL chart may share a slug).
fn resolve_chart<'a>(tile: &DashboardTile, charts: &ChartIndex<'a>) -> Option<Resolved<'a>> {
    let p = &tile.properties;
    let sql = tile.tile_type == TileType::SqlChart;
    let uuid = if sql {
        p.saved_sql_uuid.as_deref()
    } else {
        p.saved_chart_uuid.as_deref()
    };
    let found = charts.by_uuid_sql(uuid, p.chart_slug.as_deref(), sql);
    match tile.tile_type {
        TileType::SavedChart | TileType::SqlChart => found,
        _ => None,
    }
}

/// The chart's own name when the tile renames it, and the chart's description.
fn tile_chart_names<'a>(
    tile: &DashboardTile,
    summary: &'a crate::lightdash::types::ChartSummary,
    details: Option<&'a crate::lightdash::types::ChartDetails>,
) -> (Option<&'a str>, Option<&'a str>) {
    let renamed = non_blank(tile.properties.title.as_deref())
        .filter(|t| t.trim() != summary.name.trim())
        .map(|_| summary.name.as_str());
    let description = summary
        .description
        .as_deref()
        .or(details.and_then(|d| d.description.as_deref()));
    (renamed, description)
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
                let (renamed, description) = tile_chart_names(tile, summary, details);
                lines = chart::tile_lines(renamed, description, details, explores);
                if details.is_none() {
                    lines.push("- Chart definition not available".to_owned());
                }
                format!("{title} ({kind})")
            }
            None => title,
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
        TileType::SqlChart => match resolve_chart(tile, charts) {
            Some((summary, details)) => {
                let (renamed, description) = tile_chart_names(tile, summary, details);
                lines = super::sql_chart::tile_lines(renamed, description, details);
                let kind = summary
                    .chart_kind
                    .as_ref()
                    .or(details.and_then(|d| d.chart_kind.as_ref()))
                    .map(common::kind_name)
                    .unwrap_or_else(|| "chart".into());
                format!("{title} (SQL {kind})")
            }
            None => title,
        },
        // Semantic-viewer charts are not synced (removed from Lightdash in 2026).
        TileType::SemanticViewerChart => title,
        TileType::DataApp if p.app_deleted_at.is_some() => format!("{title} (data app, deleted)"),
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
