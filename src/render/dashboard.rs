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
use super::definitions::Definitions;
use super::doc::Doc;
use super::escape;
use super::fields::FieldLookup;
use super::filters;
use super::labels;
use super::{ChartIndex, Explores, ProjectView};

/// Longest markdown tile text kept, in characters of source.
const MARKDOWN_TILE_CHARS: usize = 1500;

/// Most charts named in a dashboard's lead paragraph.
const LEAD_CHARTS: usize = 6;

/// Everything the parts of a dashboard's description read.
struct DashView<'a> {
    view: &'a ProjectView<'a>,
    summary: &'a DashboardSummary,
    details: &'a DashboardDetails,
    charts: &'a ChartIndex<'a>,
    explores: &'a Explores,
    tabs: Vec<(TabHead<'a>, Vec<&'a DashboardTile>)>,
    url: String,
}

/// Renders a dashboard asset (see [`super::render_dashboard`]).
pub fn render(
    view: &ProjectView<'_>,
    summary: &DashboardSummary,
    details: &DashboardDetails,
    charts: &ChartIndex<'_>,
    explores: &Explores,
) -> ExternalAsset {
    let d = DashView {
        view,
        summary,
        details,
        charts,
        explores,
        tabs: tabs_with_tiles(details),
        url: view.url(AssetKind::Dashboard, &summary.uuid),
    };
    let mut doc = Doc::new();
    doc.always(format!(
        "# {}\n\n{}\n",
        escape::inline(&summary.name),
        lead(&d)
    ));
    doc.always(description_part(&d));
    doc.always(about_part(&d));
    doc.section(2, "Dashboard filters", &filters_part(&d));
    doc.section(3, "Parameters", &parameters_part(&d));
    for (tab, tiles) in &d.tabs {
        doc.always(tab_part(&d, *tab, tiles));
    }
    doc.section(1, "Definitions", &definitions_part(&d).markdown());

    common::asset(
        view,
        common::AssetParts {
            kind: AssetKind::Dashboard,
            uuid: &summary.uuid,
            folder: view.folder(&summary.space_uuid),
            name: &summary.name,
            description: summary.description.as_deref(),
            url: d.url.clone(),
            views: Some(summary.views),
            markdown: &doc.finish(view.options.max_description_chars),
        },
    )
}

/// Chart tiles in reading order (tabs in order, then layout), with their resolved charts.
fn chart_tiles<'a>(d: &'a DashView<'a>) -> impl Iterator<Item = (&'a DashboardTile, Resolved<'a>)> {
    d.tabs
        .iter()
        .flat_map(|(_, tiles)| tiles.iter().copied())
        .filter(|t| matches!(t.tile_type, TileType::SavedChart | TileType::SqlChart))
        .filter_map(|t| resolve_chart(t, d.charts).map(|r| (t, r)))
}

/// The lead paragraph: how many charts on which tabs, each chart's title (the question it
/// answers) and subject, and what viewers can filter by.
fn lead(d: &DashView<'_>) -> String {
    let charts: Vec<String> = chart_tiles(d)
        .map(|(tile, (_, details))| {
            let title = escape::inline(&tile_title(tile, d.charts));
            let subject = details.and_then(|c| {
                let fields = FieldLookup::for_chart(d.explores, c);
                let shown = labels::presentation(c, &fields);
                chart::subject(c, &fields, &shown, false)
            });
            match subject {
                Some(s) => format!("{title} ({s})"),
                None => title,
            }
        })
        .collect();
    let mut s = match charts.len() {
        0 => "A dashboard".to_owned(),
        1 => "A dashboard with 1 chart".to_owned(),
        n => format!("A dashboard with {n} charts"),
    };
    let tab_names: Vec<String> = d
        .tabs
        .iter()
        .filter_map(|(head, _)| *head)
        .filter(|(_, hidden)| !hidden)
        .map(|(name, _)| escape::inline(name))
        .collect();
    if tab_names.len() > 1 {
        s.push_str(&format!(
            " on {} tabs ({})",
            tab_names.len(),
            chart::and_list(&tab_names, LEAD_CHARTS)
        ));
    }
    s.push('.');
    if !charts.is_empty() {
        let mut listed: Vec<String> = charts.iter().take(LEAD_CHARTS).cloned().collect();
        if charts.len() > LEAD_CHARTS {
            listed.push(format!("and {} more", charts.len() - LEAD_CHARTS));
        }
        s.push_str(&format!(" It answers: {}.", listed.join("; ")));
    }
    let project_fields = FieldLookup::project(d.explores);
    let filter_labels: Vec<String> = d
        .details
        .filters
        .dimensions
        .iter()
        .chain(&d.details.filters.metrics)
        .map(|r| {
            let own = r.label.as_deref().filter(|l| !l.trim().is_empty());
            escape::inline(
                &own.map(str::to_owned)
                    .unwrap_or_else(|| project_fields.label(&r.target.field_id)),
            )
        })
        .collect();
    if !filter_labels.is_empty() {
        s.push_str(&format!(
            " Viewers can filter it by {}.",
            chart::and_list(&filter_labels, LEAD_CHARTS)
        ));
    }
    s
}

/// The author's description.
fn description_part(d: &DashView<'_>) -> String {
    let description = d
        .summary
        .description
        .as_deref()
        .or(d.details.description.as_deref());
    if escape::is_blank(description) {
        return String::new();
    }
    format!(
        "\n## Description\n\n{}\n",
        escape::block(description.unwrap_or_default())
    )
}

/// Bookkeeping bullets: location, link, update, layout.
fn about_part(d: &DashView<'_>) -> String {
    let mut md = format!(
        "\n## About\n\n- Lightdash dashboard in {}\n",
        common::location(d.view, &d.summary.space_uuid)
    );
    md.push_str(&format!("- Link: {}\n", escape::our_url(&d.url)));
    let updated = common::updated(
        d.summary
            .updated_at
            .as_deref()
            .or(d.details.updated_at.as_deref()),
        d.summary
            .updated_by_user
            .as_deref()
            .or(d.details.updated_by_user.as_ref()),
    );
    if let Some(u) = updated {
        md.push_str(&format!("- Last updated: {u}\n"));
    }
    let tile_count = d.details.tiles.len();
    let tiles = match tile_count {
        1 => "1 tile".to_owned(),
        n => format!("{n} tiles"),
    };
    let layout = match d.details.tabs.len() {
        0 => tiles,
        1 => format!("1 tab, {tiles}"),
        n => format!("{n} tabs, {tiles}"),
    };
    md.push_str(&format!("- Layout: {layout}\n"));
    // The cycle resolves verification into the summary (the list, the listing, else the
    // details); stored details may be older than an unverification.
    if let Some(v) = super::extras::verification_line(d.summary.verification.as_deref()) {
        md.push_str(&format!("- {v}\n"));
    }
    md
}

/// The dashboard's parameters, as viewers can set them.
fn parameters_part(d: &DashView<'_>) -> String {
    let pinned = d
        .details
        .config
        .as_ref()
        .map(|c| c.pinned_parameters.as_slice())
        .unwrap_or_default();
    let parameters = super::extras::dashboard_parameter_lines(
        d.details.parameters.as_ref(),
        pinned,
        &d.details.parameter_definitions,
    );
    if parameters.is_empty() {
        return String::new();
    }
    format!(
        "Viewers can change these; they feed the charts' SQL.\n\n{}\n",
        parameters.join("\n")
    )
}

/// The dashboard filters in words, with the tiles each one skips by title.
fn filters_part(d: &DashView<'_>) -> String {
    // Tile titles for the filters' `tileTargets` (keyed by tile uuid or tile slug).
    let mut titles: BTreeMap<&str, String> = BTreeMap::new();
    for tile in &d.details.tiles {
        let title = tile_title(tile, d.charts);
        for key in [tile.uuid.as_deref(), tile.tile_slug.as_deref()]
            .into_iter()
            .flatten()
        {
            titles.insert(key, escape::inline(&title));
        }
    }
    let project_fields = FieldLookup::project(d.explores);
    let lines = filters::dashboard_filter_lines(&d.details.filters, &project_fields, &|k| {
        titles.get(k).cloned()
    });
    if lines.is_empty() {
        return String::new();
    }
    let mut md = "Viewers can change these; they apply to the tiles below.\n\n".to_owned();
    for line in lines {
        md.push_str(&format!("- {line}\n"));
    }
    md
}

/// One tab (or the whole dashboard when it has none) and its tiles.
fn tab_part(d: &DashView<'_>, tab: TabHead<'_>, tiles: &[&DashboardTile]) -> String {
    let mut md = match tab {
        Some((name, hidden)) => {
            let hidden = if hidden { " (hidden from viewers)" } else { "" };
            format!("\n## Tab: {}{hidden}\n", escape::inline(name))
        }
        None => "\n## Tiles\n".to_owned(),
    };
    let rendered: Vec<String> = tiles
        .iter()
        .filter_map(|t| render_tile(t, d.charts, d.explores))
        .collect();
    if rendered.is_empty() {
        md.push_str(if tiles.is_empty() {
            "\nNo tiles.\n"
        } else {
            "\nNo tiles with content (only images or dividers).\n"
        });
    }
    for tile in rendered {
        md.push('\n');
        md.push_str(&tile);
    }
    md
}

/// The definitions of every chart on the dashboard, each once.
fn definitions_part(d: &DashView<'_>) -> Definitions {
    let mut defs = Definitions::default();
    for (_, (_, details)) in chart_tiles(d) {
        if let Some(c) = details {
            let fields = FieldLookup::for_chart(d.explores, c);
            defs.add_chart(d.explores, c, &fields);
        }
    }
    defs
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

/// One tile: a `###` heading with its title and type, then what it shows. `None` for a
/// markdown tile with no words (an image, a divider): it would be an empty section.
fn render_tile(
    tile: &DashboardTile,
    charts: &ChartIndex<'_>,
    explores: &Explores,
) -> Option<String> {
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
            if text.is_empty() {
                return non_blank(p.title.as_deref())
                    .map(|_| format!("### {title} (section heading)\n"));
            }
            lines.extend(text.lines().map(|l| {
                if l.is_empty() {
                    ">".to_owned()
                } else {
                    format!("> {l}")
                }
            }));
            // An untitled text tile is just "Text": "Text (text)" says nothing twice.
            match non_blank(p.title.as_deref()) {
                Some(_) => format!("{title} (text)"),
                None => "Text".to_owned(),
            }
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
    Some(out)
}
