//! The markdown of a chart asset, and the compact chart block a dashboard tile shows. PURE.
//!
//! Layout of a chart's description, most useful first (retrievers often embed only the
//! opening): the title, a lead paragraph in plain words ([`lead`]), the author's
//! description, then bookkeeping (location, link, explore, update, limits), then sections:
//! fields (with the names the chart shows them under), how it is shown, filters, sorts,
//! dashboards showing it, and the definitions Dot needs to reproduce the numbers. Sections
//! are left out least important first when the text would pass `max_description_chars`.

use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::types::{ChartDetails, ChartSummary, DashboardSummary};

use super::common::{self, LONG_DESCRIPTION_CHARS, SHORT_DESCRIPTION_CHARS};
use super::definitions::Definitions;
use super::doc::Doc;
use super::escape;
use super::fields::{FieldInfo, FieldKind, FieldLookup};
use super::filters;
use super::labels::{self, Presentation};
use super::{Explores, ProjectView};

/// Most fields named in a lead paragraph per list before "and N more".
const LEAD_FIELDS: usize = 4;
/// Most filter conditions spelled out in a lead paragraph.
const LEAD_FILTERS: usize = 2;
/// Metric types that aggregate rows, named in a lead paragraph (`field.ts` `MetricType`).
const AGGREGATIONS: &[&str] = &[
    "sum",
    "count",
    "count_distinct",
    "average",
    "min",
    "max",
    "median",
    "percentile",
    "running_total",
    "percent_of_total",
    "percent_of_previous",
];
/// Most dashboards named in a lead paragraph.
const LEAD_DASHBOARDS: usize = 3;

/// Everything the parts of a chart's description read.
struct ChartView<'a> {
    view: &'a ProjectView<'a>,
    summary: &'a ChartSummary,
    details: &'a ChartDetails,
    explores: &'a Explores,
    fields: FieldLookup<'a>,
    shown: Presentation,
    kind: String,
    url: String,
    /// Dashboards showing it, by name then uuid, each once.
    dashboards: Vec<&'a DashboardSummary>,
}

/// Renders a chart asset (see [`super::render_chart`]).
pub fn render(
    view: &ProjectView<'_>,
    summary: &ChartSummary,
    details: &ChartDetails,
    explores: &Explores,
    shown_on: &[&DashboardSummary],
) -> ExternalAsset {
    let fields = FieldLookup::for_chart(explores, details);
    let shown = labels::presentation(details, &fields);
    let mut dashboards: Vec<&DashboardSummary> = shown_on.to_vec();
    dashboards.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
    dashboards.dedup_by(|a, b| a.uuid == b.uuid);
    let c = ChartView {
        view,
        summary,
        details,
        explores,
        fields,
        shown,
        kind: common::chart_type_name(summary.chart_kind.as_ref(), None, Some(details)),
        url: view.url(AssetKind::Chart, &summary.uuid),
        dashboards,
    };

    let mut doc = Doc::new();
    doc.always(format!(
        "# {}\n\n{}\n",
        escape::inline(&summary.name),
        lead(&c)
    ));
    doc.always(description_part(&c));
    doc.always(about_part(&c));
    doc.section(6, "Fields", &fields_table(&c));
    doc.section(1, "How it is shown", &bullets(&c.shown.notes));
    doc.section(
        5,
        "Filters",
        &filters::chart_filter_lines(&details.metric_query.filters, &c.fields, 0).join("\n"),
    );
    doc.section(
        2,
        "Sorted by",
        &bullets(&common::sort_texts(details, &c.fields)),
    );
    let parameters = super::extras::chart_parameter_lines(
        details.parameters.as_ref(),
        &details.parameter_definitions,
    );
    doc.section(3, "Parameters", &parameters.join("\n"));
    let names: Vec<String> = c
        .dashboards
        .iter()
        .map(|d| escape::inline(&d.name))
        .collect();
    doc.section(3, "Shown on dashboards", &bullets(&names));
    let mut definitions = Definitions::default();
    definitions.add_chart(explores, details, &c.fields);
    doc.section(4, "Definitions", &definitions.markdown());

    common::asset(
        view,
        common::AssetParts {
            kind: AssetKind::Chart,
            uuid: &summary.uuid,
            folder: view.folder(&summary.space_uuid),
            name: &summary.name,
            description: summary.description.as_deref(),
            url: c.url.clone(),
            views: Some(summary.views),
            markdown: &doc.finish(view.options.max_description_chars),
        },
    )
}

/// "A, B and C" from escaped items, at most `max` of them, then "and N more".
pub fn and_list(items: &[String], max: usize) -> String {
    let shown: Vec<&String> = items.iter().take(max).collect();
    let more = items.len().saturating_sub(max);
    match (shown.as_slice(), more) {
        ([], _) => String::new(),
        ([only], 0) => (*only).clone(),
        (many, 0) => {
            let (last, rest) = many.split_last().unwrap_or((&many[0], &[]));
            format!(
                "{} and {last}",
                rest.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        (many, n) => format!(
            "{} and {n} more",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What a chart shows, escaped: "Total Events and Unique Users by Name" (measures by the
/// names users see, then dimensions), or `None` when its query names no field. With
/// `aggregations`, each metric says how it aggregates ("Unique deals (count distinct)").
pub fn subject(
    details: &ChartDetails,
    fields: &FieldLookup<'_>,
    shown: &Presentation,
    aggregations: bool,
) -> Option<String> {
    let q = &details.metric_query;
    let name = |id: &String| escape::inline(&shown.display(id, &fields.label(id)));
    // Measured how: an aggregation in words after the metric ("Unique deals (count
    // distinct)"); metrics computed from other metrics say so in Definitions instead.
    let measure = |id: &String| {
        let info = fields.resolve(id);
        match info.field_type.as_deref() {
            Some(t)
                if aggregations
                    && matches!(info.kind, FieldKind::Metric | FieldKind::CustomMetric)
                    && AGGREGATIONS.contains(&t) =>
            {
                format!("{} ({})", name(id), t.replace('_', " "))
            }
            _ => name(id),
        }
    };
    let measures: Vec<String> = q
        .metrics
        .iter()
        .map(measure)
        .chain(q.table_calculations.iter().map(|t| name(&t.name)))
        .collect();
    let dims: Vec<String> = q.dimensions.iter().map(name).collect();
    match (measures.is_empty(), dims.is_empty()) {
        (true, true) => None,
        (false, true) => Some(and_list(&measures, LEAD_FIELDS)),
        (true, false) => Some(and_list(&dims, LEAD_FIELDS)),
        (false, false) => Some(format!(
            "{} by {}",
            and_list(&measures, LEAD_FIELDS),
            and_list(&dims, LEAD_FIELDS)
        )),
    }
}

/// "a" or "an" for a chart kind in words.
fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "An"
    } else {
        "A"
    }
}

/// The lead paragraph: what it shows, from which explore, filtered how, where it is used.
fn lead(c: &ChartView<'_>) -> String {
    let mut s = format!("{} {}", article(&c.kind), c.kind);
    if let Some(what) = subject(c.details, &c.fields, &c.shown, true) {
        s.push_str(&format!(" showing {what}"));
    }
    if let Some(explore) = explore_label(c) {
        s.push_str(&format!(", from the {explore} explore"));
    }
    s.push('.');
    let conditions = filters::chart_filter_summary(&c.details.metric_query.filters, &c.fields);
    if !conditions.is_empty() {
        let mut listed: Vec<String> = conditions.iter().take(LEAD_FILTERS).cloned().collect();
        let more = conditions.len().saturating_sub(LEAD_FILTERS);
        if more > 0 {
            listed.push(format!(
                "and {more} more condition{}",
                if more == 1 { "" } else { "s" }
            ));
        }
        s.push_str(&format!(" Filtered to {}.", listed.join("; ")));
    }
    let names: Vec<String> = c
        .dashboards
        .iter()
        .map(|d| escape::inline(&d.name))
        .collect();
    match names.len() {
        0 => {}
        1 => s.push_str(&format!(" Shown on the dashboard {}.", names[0])),
        _ => s.push_str(&format!(
            " Shown on the dashboards {}.",
            and_list(&names, LEAD_DASHBOARDS)
        )),
    }
    if names.is_empty() {
        match saved_in_dashboard(c) {
            Some(Some(d)) => s.push_str(&format!(" Saved inside the dashboard {d}.")),
            Some(None) => s.push_str(" Saved inside a dashboard."),
            None => {}
        }
    }
    s
}

/// The explore's label (escaped), else its name.
fn explore_label(c: &ChartView<'_>) -> Option<String> {
    let name = c.details.explore_name()?;
    let label = c
        .explores
        .get(name)
        .and_then(|e| e.label.as_deref())
        .filter(|l| !l.trim().is_empty())
        .unwrap_or(name);
    Some(escape::inline(label))
}

/// Whether a chart is saved inside a dashboard, and that dashboard's name (escaped) when
/// the listing knows it.
fn saved_in_dashboard(c: &ChartView<'_>) -> Option<Option<String>> {
    let d = c.details;
    if c.summary.dashboard_uuid.is_none()
        && d.dashboard_uuid.is_none()
        && d.dashboard_slug.is_none()
    {
        return None;
    }
    Some(
        c.summary
            .dashboard_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .map(escape::inline),
    )
}

/// The author's description, and a custom (Vega-Lite) chart's own `description`.
fn description_part(c: &ChartView<'_>) -> String {
    let own = c
        .summary
        .description
        .as_deref()
        .or(c.details.description.as_deref());
    let spec = spec_description(c.details);
    let mut body = Vec::new();
    if !escape::is_blank(own) {
        body.push(escape::block(own.unwrap_or_default()));
    }
    if let Some(s) = spec {
        body.push(format!(
            "From the chart's Vega-Lite spec: {}",
            escape::inline_capped(s, LONG_DESCRIPTION_CHARS)
        ));
    }
    if body.is_empty() {
        return String::new();
    }
    format!("\n## Description\n\n{}\n", body.join("\n\n"))
}

/// A custom chart's Vega-Lite `description`, when it has one.
pub fn spec_description(details: &ChartDetails) -> Option<&str> {
    details
        .chart_config
        .config
        .as_ref()
        .and_then(|c| c.labels.spec.as_ref())
        .and_then(|s| s.description.as_deref())
        .filter(|d| !escape::is_blank(Some(d)))
}

/// Bookkeeping bullets: location, link, explore, update, where saved, limit, pivot.
fn about_part(c: &ChartView<'_>) -> String {
    let mut md = String::from("\n## About\n\n");
    md.push_str(&format!(
        "- Lightdash {} in {}\n",
        c.kind,
        common::location(c.view, &c.summary.space_uuid)
    ));
    md.push_str(&format!("- Link: {}\n", escape::our_url(&c.url)));
    if let Some(explore) = explore_label(c) {
        md.push_str(&format!("- Explore: {explore}\n"));
    }
    if let Some(u) = common::updated(
        c.summary.updated_at.as_deref(),
        c.summary.updated_by_user.as_deref(),
    ) {
        md.push_str(&format!("- Last updated: {u}\n"));
    }
    match saved_in_dashboard(c) {
        Some(Some(d)) => md.push_str(&format!("- Saved inside dashboard: {d}\n")),
        Some(None) => md.push_str("- Saved inside a dashboard\n"),
        None => {}
    }
    // The cycle resolves verification into the summary (the list, the listing, else the
    // details); stored details may be older than an unverification.
    if let Some(v) = super::extras::verification_line(c.summary.verification.as_deref()) {
        md.push_str(&format!("- {v}\n"));
    }
    if let Some(limit) = c.details.metric_query.limit.filter(|l| *l > 0) {
        md.push_str(&format!("- Row limit: {limit}\n"));
    }
    if let Some(p) = c
        .details
        .pivot_config
        .as_ref()
        .filter(|p| !p.columns.is_empty())
    {
        let labels: Vec<String> = p
            .columns
            .iter()
            .map(|col| escape::inline(&c.fields.label(col)))
            .collect();
        md.push_str(&format!("- Pivoted by: {}\n", labels.join(", ")));
    }
    md
}

/// Every column of the result (metrics, dimensions, table calculations, in query order),
/// with the name the chart shows it under.
fn fields_table(c: &ChartView<'_>) -> String {
    let q = &c.details.metric_query;
    let infos: Vec<FieldInfo> = q
        .metrics
        .iter()
        .chain(&q.dimensions)
        .chain(q.table_calculations.iter().map(|t| &t.name))
        .map(|id| c.fields.resolve(id))
        .collect();
    if infos.is_empty() {
        return String::new();
    }
    let mut md = String::from("| Field | Kind | Description |\n|---|---|---|\n");
    for info in &infos {
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            c.shown.label_with_override(&info.id, &info.label),
            common::kind_text(info),
            common::field_about(info, LONG_DESCRIPTION_CHARS)
        ));
    }
    md
}

/// `- a\n- b` from already-escaped items.
fn bullets(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("- {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The bullet lines a dashboard tile shows for its chart: description, metrics and
/// dimensions with their descriptions and the names the chart shows them under, how it is
/// shown, filters, sorts. `chart_name` is set when the tile's title differs from the chart's
/// name.
pub fn tile_lines(
    chart_name: Option<&str>,
    description: Option<&str>,
    details: Option<&ChartDetails>,
    explores: &Explores,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(n) = chart_name {
        out.push(format!("- Chart: {}", escape::inline(n)));
    }
    let description = description
        .filter(|d| !escape::is_blank(Some(d)))
        .or(details.and_then(spec_description));
    if let Some(d) = description {
        out.push(format!(
            "- Description: {}",
            escape::inline_capped(d, SHORT_DESCRIPTION_CHARS)
        ));
    }
    let Some(details) = details else {
        return out;
    };
    let fields = FieldLookup::for_chart(explores, details);
    let shown = labels::presentation(details, &fields);
    let q = &details.metric_query;
    for (title, ids) in [
        ("Metrics", q.metrics.iter().collect::<Vec<_>>()),
        ("Dimensions", q.dimensions.iter().collect()),
        (
            "Table calculations",
            q.table_calculations.iter().map(|t| &t.name).collect(),
        ),
    ] {
        if ids.is_empty() {
            continue;
        }
        out.push(format!("- {title}:"));
        for id in ids {
            let info = fields.resolve(id);
            let label = shown.label_with_override(id, &info.label);
            let about = common::field_about(&info, SHORT_DESCRIPTION_CHARS);
            out.push(if about.is_empty() {
                format!("  - {label}")
            } else {
                format!("  - {label}: {about}")
            });
        }
    }
    if !shown.notes.is_empty() {
        out.push(format!("- Shown: {}", shown.notes.join("; ")));
    }
    let filter_lines = filters::chart_filter_lines(&q.filters, &fields, 2);
    if !filter_lines.is_empty() {
        out.push("- Filters:".to_owned());
        out.extend(filter_lines);
    }
    let sorts = common::sort_texts(details, &fields);
    if !sorts.is_empty() {
        out.push(format!("- Sorted by: {}", sorts.join(", ")));
    }
    out
}
