//! The markdown of a chart asset, and the compact chart block a dashboard tile shows. PURE.

use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::types::{ChartDetails, ChartSummary, DashboardSummary};

use super::common::{self, LONG_DESCRIPTION_CHARS, SHORT_DESCRIPTION_CHARS, SQL_CHARS};
use super::escape;
use super::fields::{FieldInfo, FieldKind, FieldLookup};
use super::filters;
use super::{Explores, ProjectView};

/// Renders a chart asset (see [`super::render_chart`]).
pub fn render(
    view: &ProjectView<'_>,
    summary: &ChartSummary,
    details: &ChartDetails,
    explores: &Explores,
    shown_on: &[&DashboardSummary],
) -> ExternalAsset {
    let fields = FieldLookup::for_chart(explores, details);
    let url = view.url(AssetKind::Chart, &summary.uuid);
    let kind = common::chart_type_name(summary.chart_kind.as_ref(), None, Some(details));
    let q = &details.metric_query;

    let mut md = format!("# {}\n\n", escape::inline(&summary.name));
    md.push_str(&format!(
        "Lightdash chart ({kind}) in {}.\n\n",
        common::location(view, &summary.space_uuid)
    ));
    md.push_str(&format!("- Link: {}\n", escape::our_url(&url)));
    if let Some(name) = details.explore_name() {
        let label = explores
            .get(name)
            .and_then(|e| e.label.as_deref())
            .filter(|l| !l.trim().is_empty())
            .unwrap_or(name);
        md.push_str(&format!("- Explore: {}\n", escape::inline(label)));
    }
    if let Some(u) = common::updated(
        summary.updated_at.as_deref(),
        summary.updated_by_user.as_ref(),
    ) {
        md.push_str(&format!("- Last updated: {u}\n"));
    }
    if summary.dashboard_uuid.is_some()
        || details.dashboard_uuid.is_some()
        || details.dashboard_slug.is_some()
    {
        match summary
            .dashboard_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
        {
            Some(n) => md.push_str(&format!(
                "- Saved inside dashboard: {}\n",
                escape::inline(n)
            )),
            None => md.push_str("- Saved inside a dashboard\n"),
        }
    }
    // The cycle resolves verification into the summary (the list, the listing, else the
    // details); stored details may be older than an unverification.
    if let Some(v) = super::extras::verification_line(summary.verification.as_ref()) {
        md.push_str(&format!("- {v}\n"));
    }
    if let Some(limit) = q.limit.filter(|l| *l > 0) {
        md.push_str(&format!("- Row limit: {limit}\n"));
    }
    if let Some(p) = details
        .pivot_config
        .as_ref()
        .filter(|p| !p.columns.is_empty())
    {
        let labels: Vec<String> = p
            .columns
            .iter()
            .map(|c| escape::inline(&fields.label(c)))
            .collect();
        md.push_str(&format!("- Pivoted by: {}\n", labels.join(", ")));
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

    // Every column of the result: metrics, dimensions, table calculations, in query order.
    let infos: Vec<FieldInfo> = q
        .metrics
        .iter()
        .chain(&q.dimensions)
        .chain(q.table_calculations.iter().map(|t| &t.name))
        .map(|id| fields.resolve(id))
        .collect();
    if !infos.is_empty() {
        md.push_str("\n## Fields\n\n| Field | Kind | Description |\n|---|---|---|\n");
        for info in &infos {
            md.push_str(&format!(
                "| {} | {} | {} |\n",
                escape::inline(&info.label),
                common::kind_text(info),
                common::field_about(info, LONG_DESCRIPTION_CHARS)
            ));
        }
    }

    let custom: Vec<&FieldInfo> = infos
        .iter()
        .filter(|i| {
            matches!(
                i.kind,
                FieldKind::CustomMetric | FieldKind::CustomDimension | FieldKind::TableCalculation
            )
        })
        .collect();
    if !custom.is_empty() {
        md.push_str("\n## Custom fields\n\n");
        for info in custom {
            md.push_str(&format!(
                "- {} ({})",
                escape::inline(&info.label),
                info.kind.as_str()
            ));
            if let Some(d) = &info.definition {
                md.push_str(&format!(
                    ": {}",
                    escape::inline_capped(d, SHORT_DESCRIPTION_CHARS)
                ));
            }
            if let Some(sql) = &info.sql {
                md.push_str(&format!(
                    "{} SQL {}",
                    if info.definition.is_some() { ";" } else { ":" },
                    escape::code(sql, SQL_CHARS)
                ));
            }
            md.push('\n');
        }
    }

    let filter_lines = filters::chart_filter_lines(&q.filters, &fields, 0);
    if !filter_lines.is_empty() {
        md.push_str("\n## Filters\n\n");
        md.push_str(&filter_lines.join("\n"));
        md.push('\n');
    }

    let sorts = common::sort_texts(details, &fields);
    if !sorts.is_empty() {
        md.push_str(&format!("\n## Sorted by\n\n{}\n", bullets(&sorts)));
    }

    let parameters = super::extras::chart_parameter_lines(
        details.parameters.as_ref(),
        &details.parameter_definitions,
    );
    if !parameters.is_empty() {
        md.push_str(&format!("\n## Parameters\n\n{}\n", parameters.join("\n")));
    }

    let mut dashboards: Vec<&&DashboardSummary> = shown_on.iter().collect();
    dashboards.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
    dashboards.dedup_by(|a, b| a.uuid == b.uuid);
    if !dashboards.is_empty() {
        let names: Vec<String> = dashboards.iter().map(|d| escape::inline(&d.name)).collect();
        md.push_str(&format!(
            "\n## Shown on dashboards\n\n{}\n",
            bullets(&names)
        ));
    }

    common::asset(
        view,
        common::AssetParts {
            kind: AssetKind::Chart,
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

/// `- a\n- b` from already-escaped items.
fn bullets(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("- {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The bullet lines a dashboard tile shows for its chart: description, metrics and
/// dimensions with their descriptions, filters, sorts. `chart_name` is set when the tile's
/// title differs from the chart's name.
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
    if !escape::is_blank(description) {
        out.push(format!(
            "- Description: {}",
            escape::inline_capped(description.unwrap_or_default(), SHORT_DESCRIPTION_CHARS)
        ));
    }
    let Some(details) = details else {
        return out;
    };
    let fields = FieldLookup::for_chart(explores, details);
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
            out.push(format!(
                "  - {}",
                common::field_line(&fields.resolve(id), SHORT_DESCRIPTION_CHARS)
            ));
        }
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
