//! Pieces the three renderers share: chart type names, locations, dates, field lists, the
//! length cap. PURE.

use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::types::{ChartConfig, ChartDetails, ChartKind, ChartType, UserRef};

use super::ProjectView;
use super::escape;
use super::fields::{FieldInfo, FieldKind, FieldLookup};

/// Longest field description shown inside a dashboard tile or list, in characters.
pub const SHORT_DESCRIPTION_CHARS: usize = 200;
/// Longest field description shown in a chart's own field table.
pub const LONG_DESCRIPTION_CHARS: usize = 500;
/// Longest SQL expression shown.
pub const SQL_CHARS: usize = 300;

/// A chart kind in words ("line chart", "big number").
pub fn kind_name(kind: &ChartKind) -> String {
    match kind {
        ChartKind::Line => "line chart".into(),
        ChartKind::HorizontalBar => "horizontal bar chart".into(),
        ChartKind::VerticalBar => "bar chart".into(),
        ChartKind::Scatter => "scatter plot".into(),
        ChartKind::Area => "area chart".into(),
        ChartKind::Mixed => "mixed chart".into(),
        ChartKind::Pie => "pie chart".into(),
        ChartKind::Table => "table".into(),
        ChartKind::BigNumber => "big number".into(),
        ChartKind::Funnel => "funnel chart".into(),
        ChartKind::Custom => "custom chart".into(),
        ChartKind::Treemap => "treemap".into(),
        ChartKind::Gauge => "gauge".into(),
        ChartKind::Map => "map".into(),
        ChartKind::Unknown(s) => unknown_name(s),
    }
}

/// An unknown kind or type, e.g. `sankey` → "sankey chart" (escaped: it is server data).
fn unknown_name(s: &str) -> String {
    let s = s.replace('_', " ");
    if s.trim().is_empty() {
        "chart".into()
    } else {
        format!("{} chart", escape::inline(&s))
    }
}

/// The chart type from `chartConfig`: cartesian charts by their series types.
pub fn config_name(config: &ChartConfig) -> String {
    match &config.chart_type {
        ChartType::Cartesian => {
            let details = config.config.as_ref();
            let flip = details
                .and_then(|c| c.layout.as_ref())
                .is_some_and(|l| l.flip_axes);
            let mut types: Vec<&str> = details
                .and_then(|c| c.e_charts_config.as_ref())
                .map(|e| {
                    e.series
                        .iter()
                        .filter_map(|s| s.series_type.as_deref())
                        .collect()
                })
                .unwrap_or_default();
            types.sort_unstable();
            types.dedup();
            match types.as_slice() {
                ["line"] => "line chart".into(),
                ["bar"] if flip => "horizontal bar chart".into(),
                ["bar"] => "bar chart".into(),
                ["scatter"] => "scatter plot".into(),
                ["area"] => "area chart".into(),
                [] => "cartesian chart".into(),
                _ => "mixed chart".into(),
            }
        }
        ChartType::Table => "table".into(),
        ChartType::BigNumber => "big number".into(),
        ChartType::Pie => "pie chart".into(),
        ChartType::Funnel => "funnel chart".into(),
        ChartType::Custom => "custom chart".into(),
        ChartType::Treemap => "treemap".into(),
        ChartType::Gauge => "gauge".into(),
        ChartType::Map => "map".into(),
        ChartType::Unknown(s) => unknown_name(s),
    }
}

/// The best chart type name from what is known: the listing's kind, then the tile's last
/// known kind, then the chart config.
pub fn chart_type_name(
    listing_kind: Option<&ChartKind>,
    tile_kind: Option<&ChartKind>,
    details: Option<&ChartDetails>,
) -> String {
    match (listing_kind.or(tile_kind), details) {
        (Some(k), _) => kind_name(k),
        (None, Some(d)) if d.chart_config.chart_type != ChartType::default() => {
            config_name(&d.chart_config)
        }
        _ => "chart".into(),
    }
}

/// Where an asset lives, escaped: "Project / Space / Sub-space".
pub fn location(view: &ProjectView<'_>, space_uuid: &str) -> String {
    let mut parts = vec![escape::inline(&view.project.name)];
    parts.extend(
        view.spaces
            .path_names(space_uuid)
            .iter()
            .map(|n| escape::inline(n)),
    );
    parts.join(" / ")
}

/// "2025-08-22 by Jane Doe" from an ISO timestamp and a user; `None` when neither is known.
pub fn updated(at: Option<&str>, by: Option<&UserRef>) -> Option<String> {
    let date = at.filter(|s| !s.trim().is_empty()).map(|s| {
        let d: String = s.chars().take(10).collect();
        escape::inline(&d)
    });
    let who = by
        .and_then(UserRef::display_name)
        .map(|n| escape::inline(&n));
    match (date, who) {
        (Some(d), Some(w)) => Some(format!("{d} by {w}")),
        (Some(d), None) => Some(d),
        (None, Some(w)) => Some(format!("by {w}")),
        (None, None) => None,
    }
}

/// Longest `name` sent to Dot, in characters.
pub const NAME_MAX_CHARS: usize = 1_000;

/// The `name` field of the asset: plain text on one line, without controls or bidi
/// overrides, capped at [`NAME_MAX_CHARS`].
pub fn plain_name(name: &str) -> String {
    escape::plain(name, NAME_MAX_CHARS, true)
}

/// One level of a Dot folder: a [`plain_name`] whose `/` is replaced by `∕` (U+2215), so a
/// name like "Sales / EMEA" stays one level and stays readable.
pub fn folder_part(name: &str) -> String {
    plain_name(name).replace('/', "\u{2215}")
}

/// A description for the `description` field of the asset: `None` when blank. Plain text (the
/// field is not markdown) without controls or bidi overrides, capped at `max` characters.
pub fn plain_description(d: Option<&str>, max: usize) -> Option<String> {
    d.filter(|s| !escape::is_blank(Some(s)))
        .map(|s| escape::plain(s, max, false))
}

/// "Label: description (AI hint: …)" for a list, escaped, description capped.
pub fn field_line(info: &FieldInfo, max: usize) -> String {
    let label = escape::inline(&info.label);
    let about = field_about(info, max);
    if about.is_empty() {
        label
    } else {
        format!("{label}: {about}")
    }
}

/// Description (or, for chart-defined fields, definition) and AI hint, escaped.
pub fn field_about(info: &FieldInfo, max: usize) -> String {
    let mut parts = Vec::new();
    let definition = info.definition.as_deref().filter(|_| info.chart_defined());
    if let Some(d) = info.description.as_deref().or(definition) {
        parts.push(escape::inline_capped(d, max));
    }
    if let Some(h) = info.ai_hint.as_deref() {
        parts.push(format!("(AI hint: {})", escape::inline_capped(h, max)));
    }
    parts.join(" ")
}

/// "Custom metric (average)", "Dimension (date)", "Table calculation".
pub fn kind_text(info: &FieldInfo) -> String {
    let kind = info.kind.as_str();
    match (&info.kind, info.field_type.as_deref()) {
        (FieldKind::TableCalculation | FieldKind::Unknown, _) | (_, None) => kind.to_owned(),
        (_, Some(t)) => format!("{kind} ({})", escape::inline(&t.replace('_', " "))),
    }
}

/// "Label descending" sort lines.
pub fn sort_texts(details: &ChartDetails, fields: &FieldLookup<'_>) -> Vec<String> {
    details
        .metric_query
        .sorts
        .iter()
        .map(|s| {
            let dir = if s.descending {
                "descending"
            } else {
                "ascending"
            };
            format!("{} {dir}", escape::inline(&fields.label(&s.field_id)))
        })
        .collect()
}

/// Cuts `md` to at most `cap` characters (not bytes). When it is cut, the end is at a line
/// break when one is in the last half of the budget (so no table row or list item is cut in
/// two), else at a space, else at a character; then a visible marker follows saying how
/// many characters were dropped. The marker counts within the cap. A cap too small for the
/// marker gets the first `cap` characters, unmarked.
pub fn truncate(md: &str, cap: usize) -> String {
    let total = md.chars().count();
    if total <= cap {
        return md.to_owned();
    }
    // The marker's length depends on the number it prints; the total's digit count is an
    // upper bound for it.
    let marker = |n: usize| format!("\n\n… (truncated: {n} more characters)");
    let budget = match cap.checked_sub(marker(total).chars().count()) {
        Some(b) if b > 0 => b,
        _ => return md.chars().take(cap).collect(),
    };
    let head: String = md.chars().take(budget).collect();
    let half = head.len() / 2;
    let cut = match head.rfind('\n') {
        Some(i) if i >= half => &head[..i],
        _ => match head.rfind(' ') {
            Some(i) if i >= half => &head[..i],
            _ => head.as_str(),
        },
    };
    // Never leave a dangling escape backslash at the cut.
    let cut = cut.trim_end().trim_end_matches('\\').trim_end();
    let kept = cut.chars().count();
    format!("{cut}{}", marker(total - kept))
}

/// What differs between the three kinds of asset; [`asset`] fills in the rest the same way.
pub struct AssetParts<'a> {
    /// Kind of asset.
    pub kind: AssetKind,
    /// Lightdash uuid.
    pub uuid: &'a str,
    /// Folder (already sanitised).
    pub folder: String,
    /// Name as in Lightdash.
    pub name: &'a str,
    /// Description as in Lightdash.
    pub description: Option<&'a str>,
    /// Deep link.
    pub url: String,
    /// View count (`None` for spaces, which have none).
    pub views: Option<u64>,
    /// The rendered markdown, before the cap.
    pub markdown: &'a str,
}

/// Builds the `ExternalAsset`: sanitised plain fields, the description capped, the markdown
/// trimmed and capped at `max_description_chars`.
pub fn asset(view: &ProjectView<'_>, p: AssetParts<'_>) -> ExternalAsset {
    let max = view.options.max_description_chars;
    ExternalAsset {
        id: p.kind.asset_id(p.uuid),
        subtype: p.kind.subtype().to_owned(),
        folder: Some(p.folder),
        name: Some(plain_name(p.name)),
        description: plain_description(p.description, max),
        url: Some(p.url),
        active: true,
        view_count: p.views,
        last_accessed_at: None,
        dot_description: Some(truncate(p.markdown.trim_end(), max)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_the_cap_in_chars() {
        let md = "# Title\n\nline one é\nline two ü\n".repeat(50);
        for cap in [60, 100, 333, 1000] {
            let out = truncate(&md, cap);
            assert!(
                out.chars().count() <= cap,
                "cap {cap}: {}",
                out.chars().count()
            );
            assert!(out.contains("… (truncated: "), "{out}");
            // The marker's number is exact.
            let n: usize = out
                .rsplit("truncated: ")
                .next()
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse().ok())
                .unwrap();
            let kept = out
                .split("\n\n… (truncated")
                .next()
                .unwrap()
                .chars()
                .count();
            assert_eq!(kept + n, md.chars().count());
        }
        // Cut at a line break: no half line before the marker.
        let out = truncate(&md, 100);
        let body = out.split("\n\n… (truncated").next().unwrap();
        assert!(
            body.ends_with("# Title") || body.ends_with('é') || body.ends_with('ü'),
            "{body:?}"
        );
    }

    #[test]
    fn truncate_leaves_short_text_and_handles_tiny_caps() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exactly10!", 10), "exactly10!");
        assert_eq!(truncate("abcdefghijklmnop", 5), "abcde");
        assert_eq!(truncate("abc", 0), "");
        let long_word = "x".repeat(500);
        let out = truncate(&long_word, 100);
        assert_eq!(out.chars().count(), 100);
    }

    #[test]
    fn chart_type_names() {
        assert_eq!(kind_name(&ChartKind::VerticalBar), "bar chart");
        assert_eq!(
            kind_name(&ChartKind::Unknown("sankey_flow".into())),
            "sankey flow chart"
        );
        let d: ChartDetails = serde_json::from_value(serde_json::json!({"name":"x","chartConfig":{"type":"cartesian",
            "config":{"layout":{"flipAxes":true},"eChartsConfig":{"series":[{"type":"bar"},{"type":"bar"}]}}}}))
        .unwrap();
        assert_eq!(
            chart_type_name(None, None, Some(&d)),
            "horizontal bar chart"
        );
        assert_eq!(
            chart_type_name(Some(&ChartKind::Line), None, Some(&d)),
            "line chart"
        );
        assert_eq!(
            chart_type_name(None, Some(&ChartKind::Pie), None),
            "pie chart"
        );
        assert_eq!(chart_type_name(None, None, None), "chart");
    }

    #[test]
    fn updated_line() {
        let u = UserRef {
            first_name: Some("Jane".into()),
            last_name: Some("<Doe>".into()),
            ..Default::default()
        };
        assert_eq!(
            updated(Some("2025-08-22T08:26:39.756Z"), Some(&u)).as_deref(),
            Some("2025-08-22 by Jane &lt;Doe>")
        );
        assert_eq!(updated(None, None), None);
    }
}
