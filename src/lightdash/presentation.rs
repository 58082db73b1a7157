//! Serde types for what a chart shows users and how its numbers are defined: the words a
//! chart config renames fields to, table-calculation templates, warehouse tables and joins of
//! an explore, metric filters. No I/O. Re-exported from [`super::types`].
//!
//! Shapes follow Lightdash's own TypeScript types (cited per item; `lightdash/lightdash`
//! `packages/common/src/types/`). Like the rest of [`super::types`], every field is optional
//! and unknown fields are ignored; empty values are skipped when serialized so the state,
//! which keeps chart definitions, stays small.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

fn is_empty_map<K, V>(m: &BTreeMap<K, V>) -> bool {
    m.is_empty()
}

/// Deserializes a field to its default instead of failing when the value has another shape:
/// these fields only add words, and a surprise in one must not cost the whole chart config or
/// explore (which would lose labels and chart types too).
pub(crate) fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// `ColumnProperties` of a table chart (`savedCharts.ts`): `name` is the header users see
/// instead of the field label; `visible: false` hides the column.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ColumnProperties {
    /// Custom display name for the column.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub name: Option<String>,
    /// `false` when the column is hidden.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub visible: Option<bool>,
}

/// `PivotReference` (`savedCharts.ts`): the field a series plots.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct FieldReference {
    /// Field id.
    pub field: String,
}

/// `Series.encode` (`savedCharts.ts`): which fields a cartesian series plots.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SeriesEncode {
    /// The x field.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub x_ref: Option<FieldReference>,
    /// The y field: the metric the series draws.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub y_ref: Option<FieldReference>,
}

/// An axis of `eChartsConfig.xAxis` / `yAxis` (`savedCharts.ts` `Axis`): only its title.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Axis {
    /// Axis title users see.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub name: Option<String>,
}

/// `TableCalculationTemplate` (`field.ts`): a table calculation built from a template rather
/// than SQL. `type` is one of `percent_change_from_previous`, `percent_of_previous_value`,
/// `percent_of_column_total`, `rank_in_column`, `running_total`, `window_function` (kept as
/// a string: new templates must not fail a cycle).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TableCalculationTemplate {
    /// Template type.
    #[serde(rename = "type")]
    pub template_type: String,
    /// The field it applies to (`null` for some window functions).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub field_id: Option<String>,
    /// Window functions: `sum`, `row_number`, ...
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub window_function: Option<String>,
    /// Order of the rows the template walks.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "lenient")]
    pub order_by: Vec<TemplateOrder>,
    /// Partition fields.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "lenient")]
    pub partition_by: Vec<String>,
}

/// One `orderBy` entry of a template: `{fieldId, order: 'asc' | 'desc' | null}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TemplateOrder {
    /// Field ordered on.
    pub field_id: String,
    /// `asc`, `desc`, or absent.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub order: Option<String>,
}

/// A custom (Vega-Lite) chart's `spec` (`savedCharts.ts` `CustomVis`): only what describes it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomSpec {
    /// Vega-Lite `description`.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub description: Option<String>,
    /// Vega-Lite `title`: a string or `{text: ...}`.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub title: Option<Value>,
}

/// The words a chart config shows users, across chart families (`savedCharts.ts`): table
/// `columns`, big number `label`/`selectedField`/`comparisonLabel`, pie
/// `metricId`/`groupFieldIds`/`groupLabelOverrides`, funnel `fieldId`/`labelOverrides`, and a
/// custom chart's `spec`. Flattened into `chartConfig.config` next to the cartesian parts.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigLabels {
    /// Table: per-column display name and visibility, by field id.
    #[serde(skip_serializing_if = "is_empty_map", deserialize_with = "lenient")]
    pub columns: BTreeMap<String, ColumnProperties>,
    /// Big number: custom label.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub label: Option<String>,
    /// Big number: the field shown.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub selected_field: Option<String>,
    /// Big number: label of the comparison value.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub comparison_label: Option<String>,
    /// Pie: the metric sizing the slices.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub metric_id: Option<String>,
    /// Pie: the fields slicing it.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "lenient")]
    pub group_field_ids: Vec<String>,
    /// Pie: slice value → label shown.
    #[serde(skip_serializing_if = "is_empty_map", deserialize_with = "lenient")]
    pub group_label_overrides: BTreeMap<String, String>,
    /// Funnel: the field shown.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub field_id: Option<String>,
    /// Funnel: stage → label shown.
    #[serde(skip_serializing_if = "is_empty_map", deserialize_with = "lenient")]
    pub label_overrides: BTreeMap<String, String>,
    /// Custom (Vega-Lite) chart spec.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub spec: Option<CustomSpec>,
}

/// A join of an explore (`explore.ts` `CompiledExploreJoin`): the joined table's name.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ExploreJoin {
    /// Joined table (its alias in the explore's `tables`).
    pub table: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_every_chart_family_parse() {
        // Shapes as in packages/common/src/types/savedCharts.ts.
        let l: ConfigLabels = serde_json::from_value(serde_json::json!({
            "columns": {"tracks_event_count": {"name": "Total Events", "visible": true, "frozen": false}},
            "label": "Total Accounts", "selectedField": "a_b", "comparisonLabel": "vs last month",
            "metricId": "m", "groupFieldIds": ["g"], "groupLabelOverrides": {"SMB": "Small"},
            "fieldId": "f", "labelOverrides": {"step_1": "Visited"},
            "spec": {"description": "Waterfall", "title": {"text": "T"}, "mark": "bar"}
        }))
        .unwrap();
        assert_eq!(
            l.columns["tracks_event_count"].name.as_deref(),
            Some("Total Events")
        );
        assert_eq!(l.group_label_overrides["SMB"], "Small");
        assert_eq!(l.label_overrides["step_1"], "Visited");
        assert_eq!(l.spec.unwrap().description.as_deref(), Some("Waterfall"));
        let empty = serde_json::to_value(ConfigLabels::default()).unwrap();
        // A field of an unexpected shape is dropped alone.
        let odd: ConfigLabels = serde_json::from_value(serde_json::json!({
            "label": {"text": "x"}, "columns": [1], "metricId": "m"}))
        .unwrap();
        assert_eq!(odd.label, None);
        assert!(odd.columns.is_empty());
        assert_eq!(odd.metric_id.as_deref(), Some("m"));
        assert_eq!(empty, serde_json::json!({}));
    }

    #[test]
    fn odd_new_fields_never_cost_the_explore_or_the_config() {
        let f: crate::lightdash::types::ExploreField = serde_json::from_value(serde_json::json!({
            "name": "won", "label": "Won", "table": "deals", "type": "sum",
            "filters": [{"stage": "Won"}, 3], "sql": 5}))
        .unwrap();
        assert_eq!(f.label.as_deref(), Some("Won"));
        assert!(f.filters.is_empty());
        assert_eq!(f.sql, None);
        let c: crate::lightdash::types::ChartConfig = serde_json::from_value(serde_json::json!({
            "type": "cartesian", "config": {"eChartsConfig": {
                "series": [{"type": "bar", "encode": "?"}], "xAxis": {"name": "x"}}}}))
        .unwrap();
        let e = c.config.unwrap().e_charts_config.unwrap();
        assert_eq!(e.series[0].series_type.as_deref(), Some("bar"));
        assert!(e.x_axis.is_empty());
    }

    #[test]
    fn templates_parse() {
        let t: TableCalculationTemplate = serde_json::from_value(serde_json::json!({
            "type": "percent_change_from_previous", "fieldId": "orders_total_order_amount",
            "orderBy": [{"fieldId": "orders_order_date_month", "order": "asc"}]
        }))
        .unwrap();
        assert_eq!(t.template_type, "percent_change_from_previous");
        assert_eq!(t.order_by[0].order.as_deref(), Some("asc"));
    }
}
