//! The words a chart shows users instead of field labels, from its `chartConfig`. PURE.
//!
//! Shapes are Lightdash's (`packages/common/src/types/savedCharts.ts`):
//! - table: `config.columns.<fieldId>.name` renames a column, `visible: false` hides it;
//! - cartesian: `eChartsConfig.series[].name` names the series plotting `encode.yRef.field`;
//!   `xAxis[].name` / `yAxis[].name` are axis titles (`yAxis[1]` is the right-hand axis);
//! - big number: `label` names `selectedField` (else the first metric), `comparisonLabel`;
//! - pie: `metricId` sizes slices of `groupFieldIds`; `groupLabelOverrides` renames slices;
//! - funnel: `fieldId`; `labelOverrides` renames stages (keyed by field id or by value).
//!
//! Names and notes come back raw (unescaped) in [`Presentation::shown_as`]; the note lines
//! are escaped, ready for markdown.

use std::collections::{BTreeMap, BTreeSet};

use crate::lightdash::types::{ChartConfigDetails, ChartDetails, ChartType};

use super::escape;
use super::fields::FieldLookup;

/// Most renamed slices or stages listed.
const MAX_OVERRIDES: usize = 10;

/// What users see of a chart beyond field labels.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Presentation {
    /// Field id → the name the chart shows it under (raw), only where it differs from the
    /// field's label.
    pub shown_as: BTreeMap<String, String>,
    /// Field ids of table columns hidden from viewers.
    pub hidden: BTreeSet<String>,
    /// Notes in words, escaped: axis titles, slices, stages.
    pub notes: Vec<String>,
}

impl Presentation {
    /// "Event count, shown as Total Events" (escaped) for a field whose label is `label`.
    pub fn label_with_override(&self, id: &str, label: &str) -> String {
        let mut out = escape::inline(label);
        if let Some(name) = self.shown_as.get(id) {
            out.push_str(&format!(", shown as {}", escape::inline(name)));
        }
        if self.hidden.contains(id) {
            out.push_str(" (hidden column)");
        }
        out
    }

    /// The name users see for a field (raw): the override, else the label.
    pub fn display(&self, id: &str, label: &str) -> String {
        self.shown_as
            .get(id)
            .cloned()
            .unwrap_or_else(|| label.to_owned())
    }
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Reads the chart's presentation. Never fails: a config of another family or an unknown
/// shape gives an empty [`Presentation`].
pub fn presentation(details: &ChartDetails, fields: &FieldLookup<'_>) -> Presentation {
    let mut p = Presentation::default();
    let Some(config) = details.chart_config.config.as_ref() else {
        return p;
    };
    let q = &details.metric_query;
    let rename = |p: &mut Presentation, id: &str, name: Option<&str>| {
        if let Some(name) = non_blank(name)
            && !name.eq_ignore_ascii_case(fields.label(id).trim())
        {
            p.shown_as.entry(id.to_owned()).or_insert(name.to_owned());
        }
    };
    match &details.chart_config.chart_type {
        ChartType::Table => {
            for (id, col) in &config.labels.columns {
                rename(&mut p, id, col.name.as_deref());
                if col.visible == Some(false) {
                    p.hidden.insert(id.clone());
                }
            }
        }
        ChartType::Cartesian => {
            if let Some(e) = &config.e_charts_config {
                for s in &e.series {
                    if let Some(y) = s.encode.as_ref().and_then(|e| e.y_ref.as_ref()) {
                        rename(&mut p, &y.field, s.name.as_deref());
                    }
                }
            }
            axis_notes(config, fields, &mut p.notes);
        }
        ChartType::BigNumber => {
            let l = &config.labels;
            let field = l
                .selected_field
                .as_deref()
                .or(q.metrics.first().map(String::as_str))
                .or(q.table_calculations.first().map(|t| t.name.as_str()));
            if let Some(f) = field {
                rename(&mut p, f, l.label.as_deref());
            }
            if let Some(c) = non_blank(l.comparison_label.as_deref()) {
                p.notes
                    .push(format!("Comparison labelled {}", escape::inline(c)));
            }
        }
        ChartType::Pie => {
            let l = &config.labels;
            let groups: Vec<String> = l
                .group_field_ids
                .iter()
                .map(|g| escape::inline(&fields.label(g)))
                .collect();
            if let Some(m) = l.metric_id.as_deref() {
                let slices = if groups.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", groups.join(" and "))
                };
                p.notes.push(format!(
                    "Slices{slices}, sized by {}",
                    escape::inline(&fields.label(m))
                ));
            }
            override_note("Slices renamed", &l.group_label_overrides, &mut p.notes);
        }
        ChartType::Funnel => {
            let l = &config.labels;
            let mut by_value = BTreeMap::new();
            for (key, name) in &l.label_overrides {
                if fields.resolve(key).kind != super::fields::FieldKind::Unknown {
                    rename(&mut p, key, Some(name));
                } else {
                    by_value.insert(key.clone(), name.clone());
                }
            }
            if let Some(f) = l.field_id.as_deref() {
                p.notes
                    .push(format!("Funnel of {}", escape::inline(&fields.label(f))));
            }
            override_note("Stages renamed", &by_value, &mut p.notes);
        }
        _ => {}
    }
    p
}

/// "X axis titled Date; left Y axis titled Total Events; right Y axis titled …".
fn axis_notes(config: &ChartConfigDetails, fields: &FieldLookup<'_>, notes: &mut Vec<String>) {
    let Some(e) = &config.e_charts_config else {
        return;
    };
    let flip = config.layout.as_ref().is_some_and(|l| l.flip_axes);
    let mut parts = Vec::new();
    let x_field = config.layout.as_ref().and_then(|l| l.x_field.as_deref());
    for (i, axis) in e.x_axis.iter().enumerate() {
        if let Some(name) = non_blank(axis.name.as_deref()) {
            // The x field's own label says the same: only a differing title is news.
            if i == 0 && x_field.is_some_and(|f| fields.label(f).eq_ignore_ascii_case(name)) {
                continue;
            }
            let which = if flip { "vertical axis" } else { "X axis" };
            parts.push(format!("{which} titled {}", escape::inline(name)));
        }
    }
    // Two y axes when a series uses the second one or both have titles.
    let two = e.series.iter().any(|s| s.y_axis_index == Some(1))
        || e.y_axis
            .iter()
            .filter(|a| non_blank(a.name.as_deref()).is_some())
            .count()
            > 1;
    for (i, axis) in e.y_axis.iter().enumerate() {
        if let Some(name) = non_blank(axis.name.as_deref()) {
            let which = match (flip, two, i) {
                (true, _, _) => "horizontal axis",
                (false, false, _) => "Y axis",
                (false, true, 0) => "left Y axis",
                _ => "right Y axis",
            };
            parts.push(format!("{which} titled {}", escape::inline(name)));
        }
    }
    if !parts.is_empty() {
        let mut s = parts.join("; ");
        if let Some(first) = s.get(..1) {
            s = format!("{}{}", first.to_uppercase(), &s[1..]);
        }
        notes.push(s);
    }
}

/// "Slices renamed: SMB as Small business, …" (escaped), at most [`MAX_OVERRIDES`].
fn override_note(head: &str, overrides: &BTreeMap<String, String>, notes: &mut Vec<String>) {
    let items: Vec<String> = overrides
        .iter()
        .filter(|(k, v)| !v.trim().is_empty() && k.trim() != v.trim())
        .take(MAX_OVERRIDES)
        .map(|(k, v)| format!("{} as {}", escape::inline(k), escape::inline(v)))
        .collect();
    if items.is_empty() {
        return;
    }
    let real = overrides
        .iter()
        .filter(|(k, v)| !v.trim().is_empty() && k.trim() != v.trim())
        .count();
    let more = real.saturating_sub(MAX_OVERRIDES);
    let tail = if more > 0 {
        format!(", and {more} more")
    } else {
        String::new()
    };
    notes.push(format!("{head}: {}{tail}", items.join(", ")));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Explores;
    use serde_json::json;

    fn chart(v: serde_json::Value) -> ChartDetails {
        serde_json::from_value(v).unwrap()
    }

    fn read(c: &ChartDetails) -> Presentation {
        let ex = Explores::new();
        let f = FieldLookup::for_chart(&ex, c);
        presentation(c, &f)
    }

    #[test]
    fn table_column_renames_and_hidden_columns() {
        // Field case 12 (deep-dive-top-events.yml).
        let c = chart(
            json!({"name": "t", "metricQuery": {"metrics": ["tracks_event_count"]},
            "chartConfig": {"type": "table", "config": {"columns": {
                "tracks_event_count": {"name": "Total Events"},
                "tracks_unique_user_count": {"name": "Unique Users", "visible": false},
                "tracks_name": {"name": ""}}, "showTableNames": true}}}),
        );
        let p = read(&c);
        assert_eq!(p.shown_as["tracks_event_count"], "Total Events");
        assert_eq!(p.shown_as.len(), 2);
        assert!(p.hidden.contains("tracks_unique_user_count"));
        assert_eq!(
            p.label_with_override("tracks_event_count", "Event count"),
            "Event count, shown as Total Events"
        );
    }

    #[test]
    fn cartesian_series_names_and_axis_titles() {
        let c = chart(
            json!({"name": "c", "chartConfig": {"type": "cartesian", "config": {
            "layout": {"xField": "d", "yField": ["m1", "m2"]},
            "eChartsConfig": {
                "series": [{"type": "bar", "name": "Revenue (USD)", "encode": {"xRef": {"field": "d"}, "yRef": {"field": "m1"}}},
                           {"type": "line", "yAxisIndex": 1, "encode": {"yRef": {"field": "m2"}}}],
                "xAxis": [{"name": "Month"}],
                "yAxis": [{"name": "Total Events"}, {"name": "Avg. Events per User"}]}}}}),
        );
        let p = read(&c);
        assert_eq!(p.shown_as["m1"], "Revenue (USD)");
        assert!(!p.shown_as.contains_key("m2"));
        assert_eq!(
            p.notes,
            vec![
                "X axis titled Month; left Y axis titled Total Events; right Y axis titled Avg. Events per User"
            ]
        );
    }

    #[test]
    fn big_number_pie_and_funnel() {
        // Field case 11 (customer-360.yml) has `label` on a big number.
        let c = chart(
            json!({"name": "b", "metricQuery": {"metrics": ["c_total_accounts"]},
            "chartConfig": {"type": "big_number", "config": {"label": "Accounts", "comparisonLabel": "vs last month"}}}),
        );
        let p = read(&c);
        assert_eq!(p.shown_as["c_total_accounts"], "Accounts");
        assert_eq!(p.notes, vec!["Comparison labelled vs last month"]);
        let pie = chart(
            json!({"name": "p", "chartConfig": {"type": "pie", "config": {
            "groupFieldIds": ["accounts_segment"], "metricId": "tracks_event_count", "isDonut": true,
            "groupLabelOverrides": {"SMB": "Small business"}}}}),
        );
        assert_eq!(
            read(&pie).notes,
            vec![
                "Slices by accounts_segment, sized by tracks_event_count",
                "Slices renamed: SMB as Small business"
            ]
        );
        let funnel = chart(
            json!({"name": "f", "chartConfig": {"type": "funnel", "config": {
            "fieldId": "events_count", "labelOverrides": {"signup": "Signed up"}}}}),
        );
        assert_eq!(
            read(&funnel).notes,
            vec![
                "Funnel of events_count",
                "Stages renamed: signup as Signed up"
            ]
        );
    }
}
