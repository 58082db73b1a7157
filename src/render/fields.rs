//! Field-label resolution: turns the field ids a chart or filter uses into the labels,
//! descriptions and AI hints people see in Lightdash. PURE.
//!
//! Ids are looked up whole, never split on `_`: a field id is `<table>_<name>` and both
//! parts may contain underscores (`order_items` + `total_revenue` and `order` +
//! `items_total_revenue` give the same id shape). The lookup is keyed by
//! `format!("{table}_{name}")` over every field of every table of the explore, so date parts
//! (`orders_order_date_month`) resolve to their own entries.
//!
//! Labels:
//! - Explore fields use their `label`; a field from a joined table (not the explore's base
//!   table) is qualified with its table label ("Customers First name"), as Lightdash's own
//!   results table does, because "First name" alone is ambiguous between tables.
//! - A date part whose label ends with its interval ("Created date month") reads as
//!   "Created date (month)".
//! - Chart-defined fields: custom metrics (`additionalMetrics`, id `<table>_<name>`) use
//!   `label`, custom dimensions use `name`, table calculations use `displayName`.
//! - Unknown ids fall back to the raw id. Labels are returned raw; renderers escape them.

use std::collections::BTreeMap;

use crate::lightdash::types::{
    ChartDetails, Explore, ExploreField, FilterRule, TableCalculation, TableCalculationTemplate,
};

use super::Explores;

/// What kind of field an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An explore dimension.
    Dimension,
    /// An explore metric.
    Metric,
    /// A metric defined in the chart (`additionalMetrics`).
    CustomMetric,
    /// A dimension defined in the chart (`customDimensions`).
    CustomDimension,
    /// A table calculation defined in the chart.
    TableCalculation,
    /// Not found anywhere.
    Unknown,
}

impl FieldKind {
    /// Human name, e.g. "custom metric".
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Dimension => "dimension",
            FieldKind::Metric => "metric",
            FieldKind::CustomMetric => "custom metric",
            FieldKind::CustomDimension => "custom dimension",
            FieldKind::TableCalculation => "table calculation",
            FieldKind::Unknown => "field",
        }
    }
}

/// Everything known about one field id. Strings are raw (unescaped).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    /// The id looked up.
    pub id: String,
    /// Display label (the raw id when unknown).
    pub label: String,
    /// Description, when there is one.
    pub description: Option<String>,
    /// AI hint from dbt meta.
    pub ai_hint: Option<String>,
    /// What kind of field it is.
    pub kind: FieldKind,
    /// Field type (`string`, `date`, `sum`, ...).
    pub field_type: Option<String>,
    /// What it computes, in words (raw): an explore metric's aggregation ("Sum"), a custom
    /// metric's ("Average of Amount"), a bin, a table-calculation template.
    pub definition: Option<String>,
    /// The SQL, when there is one worth showing: a metric's, a dimension's unless it is a
    /// plain column, a custom field's, a SQL table calculation's. `${TABLE}` is replaced by
    /// the table's name.
    pub sql: Option<String>,
    /// A formula table calculation's formula (`=a / b`).
    pub formula: Option<String>,
    /// Filters inside a metric (explore or custom), with their targets as field ids.
    pub filters: Vec<FilterRule>,
    /// The explore table the field belongs to (explore and custom fields).
    pub table: Option<String>,
}

impl FieldInfo {
    fn unknown(id: &str) -> Self {
        FieldInfo {
            id: id.to_owned(),
            label: id.to_owned(),
            description: None,
            ai_hint: None,
            kind: FieldKind::Unknown,
            field_type: None,
            definition: None,
            sql: None,
            formula: None,
            filters: Vec::new(),
            table: None,
        }
    }

    /// Whether the chart defines it (custom metric or dimension, table calculation).
    pub fn chart_defined(&self) -> bool {
        matches!(
            self.kind,
            FieldKind::CustomMetric | FieldKind::CustomDimension | FieldKind::TableCalculation
        )
    }
}

/// An explore field and whether it comes from a joined table.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    field: &'a ExploreField,
    joined: bool,
    kind: FieldKind,
}

/// Resolves field ids for one chart (its explore plus its own custom fields), or for a
/// dashboard (every explore of the project).
#[derive(Debug, Default)]
pub struct FieldLookup<'a> {
    explore_fields: BTreeMap<String, Entry<'a>>,
    chart_fields: BTreeMap<String, FieldInfo>,
}

impl<'a> FieldLookup<'a> {
    /// A lookup for one chart: its explore's fields and its custom fields. When the explore
    /// is unknown, falls back to every explore (see [`FieldLookup::project`]).
    pub fn for_chart(explores: &'a Explores, chart: &ChartDetails) -> Self {
        let mut lookup = match chart.explore_name().and_then(|n| explores.get(n)) {
            Some(explore) => {
                let mut l = Self::default();
                l.add_explore(explore);
                l
            }
            None => Self::project(explores),
        };
        lookup.add_chart_fields(chart);
        lookup
    }

    /// A lookup over every explore of the project, for dashboard filters (which do not say
    /// which explore they come from). When explores disagree, a field from an explore's base
    /// table wins over the same field joined elsewhere, then the first explore by name.
    pub fn project(explores: &'a Explores) -> Self {
        let mut names: Vec<&String> = explores.keys().collect();
        names.sort();
        let mut l = Self::default();
        for name in names {
            l.add_explore(&explores[name]);
        }
        l
    }

    fn add_explore(&mut self, explore: &'a Explore) {
        let base = explore
            .base_table
            .as_deref()
            .unwrap_or(explore.name.as_str());
        for (table_name, table) in &explore.tables {
            let dims = table.dimensions.values().map(|f| (f, FieldKind::Dimension));
            let metrics = table.metrics.values().map(|f| (f, FieldKind::Metric));
            for (field, kind) in dims.chain(metrics) {
                // `field.table` is authoritative for the id; the map key is a fallback.
                let table = if field.table.is_empty() {
                    table_name.as_str()
                } else {
                    field.table.as_str()
                };
                let id = format!("{table}_{}", field.name);
                let entry = Entry {
                    field,
                    joined: table != base,
                    kind,
                };
                let replace = match self.explore_fields.get(&id) {
                    None => true,
                    // A field from an explore's base table beats the same field joined
                    // into another explore (its label needs no table qualifier there).
                    Some(existing) => existing.joined && !entry.joined,
                };
                if replace {
                    self.explore_fields.insert(id, entry);
                }
            }
        }
    }

    fn add_chart_fields(&mut self, chart: &ChartDetails) {
        let q = &chart.metric_query;
        for m in &q.additional_metrics {
            let id = format!("{}_{}", m.table, m.name);
            let base = m
                .base_dimension_name
                .as_deref()
                .map(|d| self.resolve(&format!("{}_{d}", m.table)).label);
            let definition = match (m.metric_type.as_deref(), base) {
                (Some(t), Some(b)) => Some(format!("{} of {b}", humanize(t))),
                (Some(t), None) => Some(humanize(t)),
                (None, Some(b)) => Some(format!("aggregate of {b}")),
                (None, None) => None,
            };
            let info = FieldInfo {
                label: non_empty(m.label.as_deref()).unwrap_or(&m.name).to_owned(),
                description: non_empty(m.description.as_deref()).map(str::to_owned),
                kind: FieldKind::CustomMetric,
                field_type: m.metric_type.clone(),
                definition,
                sql: non_empty(m.sql.as_deref()).map(|s| table_sql(s, &m.table)),
                filters: metric_filters(&m.filters, &m.table),
                table: Some(m.table.clone()),
                ..FieldInfo::unknown(&id)
            };
            self.chart_fields.insert(id, info);
        }
        for d in &q.custom_dimensions {
            let definition = match d.dimension_type.as_deref() {
                Some("bin") => {
                    let of = d
                        .dimension_id
                        .as_deref()
                        .map(|id| self.resolve(id).label)
                        .unwrap_or_else(|| "a dimension".to_owned());
                    Some(match (d.bin_number, d.bin_width) {
                        (Some(n), _) if d.bin_type.as_deref() != Some("fixed_width") => {
                            format!("{of} grouped into {} bins", fmt_num(n))
                        }
                        (_, Some(w)) => format!("{of} grouped into bins of width {}", fmt_num(w)),
                        _ => format!("{of} grouped into bins"),
                    })
                }
                // The SQL itself is shown instead.
                Some("sql") => None,
                Some(other) => Some(humanize(other)),
                None => None,
            };
            let info = FieldInfo {
                label: non_empty(Some(&d.name)).unwrap_or(&d.id).to_owned(),
                kind: FieldKind::CustomDimension,
                field_type: d.dimension_type.clone(),
                definition,
                sql: d.sql.clone().filter(|s| !s.trim().is_empty()),
                table: non_empty(Some(&d.table)).map(str::to_owned),
                ..FieldInfo::unknown(&d.id)
            };
            self.chart_fields.insert(d.id.clone(), info);
        }
        for t in &q.table_calculations {
            let info = self.table_calculation(t);
            self.chart_fields.insert(t.name.clone(), info);
        }
    }

    /// A table calculation in any of its three forms: `sql`, `formula` (newer Lightdash), or
    /// `template` (put in words, its fields by label).
    fn table_calculation(&self, t: &TableCalculation) -> FieldInfo {
        FieldInfo {
            label: non_empty(Some(&t.display_name))
                .unwrap_or(&t.name)
                .to_owned(),
            kind: FieldKind::TableCalculation,
            definition: t.template.as_ref().map(|tpl| self.template_words(tpl)),
            sql: Some(t.sql.clone()).filter(|s| !s.trim().is_empty()),
            formula: non_empty(t.formula.as_deref()).map(str::to_owned),
            ..FieldInfo::unknown(&t.name)
        }
    }

    /// "Percent change from the previous row of Total order amount, ordered by Order date
    /// (month) ascending". Template types are `field.ts` `TableCalculationTemplateType`.
    fn template_words(&self, t: &TableCalculationTemplate) -> String {
        let of = t
            .field_id
            .as_deref()
            .map(|f| self.label(f))
            .unwrap_or_else(|| "the rows".to_owned());
        let mut out = match t.template_type.as_str() {
            "percent_change_from_previous" => {
                format!("percent change from the previous row of {of}")
            }
            "percent_of_previous_value" => format!("percent of the previous row's value of {of}"),
            "percent_of_column_total" => format!("percent of the column total of {of}"),
            "rank_in_column" => format!("rank of {of} within its column"),
            "running_total" => format!("running total of {of}"),
            "window_function" => {
                let f = t.window_function.as_deref().map(humanize);
                format!(
                    "{} window function over {of}",
                    f.unwrap_or_else(|| "A".into())
                )
            }
            other => format!("{} of {of}", humanize(other)),
        };
        let orders: Vec<String> = t
            .order_by
            .iter()
            .map(|o| {
                let dir = match o.order.as_deref() {
                    Some("desc") => " descending",
                    Some("asc") => " ascending",
                    _ => "",
                };
                format!("{}{dir}", self.label(&o.field_id))
            })
            .collect();
        if !orders.is_empty() {
            out.push_str(&format!(", ordered by {}", orders.join(", ")));
        }
        let parts: Vec<String> = t.partition_by.iter().map(|p| self.label(p)).collect();
        if !parts.is_empty() {
            out.push_str(&format!(", within each {}", parts.join(" and ")));
        }
        let mut c = out.chars();
        match c.next() {
            Some(first) => first.to_uppercase().chain(c).collect(),
            None => out,
        }
    }

    /// Everything known about `id`. Chart-defined fields win over explore fields (a chart
    /// can only reference its own custom fields by these ids). Never fails: unknown ids come
    /// back with the id as label and [`FieldKind::Unknown`].
    pub fn resolve(&self, id: &str) -> FieldInfo {
        if let Some(info) = self.chart_fields.get(id) {
            return info.clone();
        }
        if let Some(Entry {
            field,
            joined,
            kind,
        }) = self.explore_fields.get(id)
        {
            let label = field_label(field);
            let label = match non_empty(field.table_label.as_deref()) {
                Some(table) if *joined => format!("{table} {label}"),
                _ => label,
            };
            let sql = non_empty(field.sql.as_deref())
                .map(|s| table_sql(s, &field.table))
                .or_else(|| non_empty(field.compiled_sql.as_deref()).map(str::to_owned));
            let (definition, sql) = match kind {
                FieldKind::Metric => (field.field_type.as_deref().map(metric_type_words), sql),
                // A dimension that is a plain column says nothing its label does not.
                _ => (None, sql.filter(|s| !is_plain_column(s, &field.table))),
            };
            return FieldInfo {
                label,
                description: non_empty(field.description.as_deref()).map(str::to_owned),
                ai_hint: non_empty(field.ai_hint.as_deref()).map(str::to_owned),
                kind: *kind,
                field_type: field.field_type.clone(),
                definition,
                sql,
                filters: metric_filters(&field.filters, &field.table),
                table: non_empty(Some(&field.table)).map(str::to_owned),
                ..FieldInfo::unknown(id)
            };
        }
        FieldInfo::unknown(id)
    }

    /// The label of `id` (raw), the usual need.
    pub fn label(&self, id: &str) -> String {
        self.resolve(id).label
    }
}

/// An explore field's label: `label`, else the humanized name; a date part's interval goes
/// in parentheses ("Created date month" → "Created date (month)").
fn field_label(field: &ExploreField) -> String {
    let label = non_empty(field.label.as_deref())
        .map(str::to_owned)
        .unwrap_or_else(|| humanize(&field.name));
    if let Some(interval) = field.time_interval.as_deref() {
        let interval = humanize(interval).to_lowercase();
        if let Some(stem) = strip_word_suffix(&label, &interval) {
            return format!("{stem} ({interval})");
        }
    }
    label
}

/// A metric type in words: `count_distinct` → "Count distinct".
fn metric_type_words(t: &str) -> String {
    humanize(t)
}

/// Templated SQL with `${TABLE}` replaced by the table's name, which is how the explore
/// names it in every other reference (`${orders.amount}`).
fn table_sql(sql: &str, table: &str) -> String {
    if table.is_empty() {
        sql.trim().to_owned()
    } else {
        sql.trim().replace("${TABLE}", table)
    }
}

/// Whether SQL is just a column of its own table (`orders.status`, `orders."Status"`).
fn is_plain_column(sql: &str, table: &str) -> bool {
    let col = sql.strip_prefix(table).and_then(|r| r.strip_prefix('.'));
    col.is_some_and(|c| {
        let c = c.trim_matches(['"', '`']);
        !c.is_empty() && c.chars().all(|ch| ch.is_alphanumeric() || ch == '_')
    })
}

/// Metric filters with their `fieldRef` targets (`table.field`, or a field of the metric's
/// own table) turned into field ids, so they read like any other filter.
fn metric_filters(rules: &[FilterRule], table: &str) -> Vec<FilterRule> {
    rules
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if r.target.field_id.is_empty()
                && let Some(fref) = r.target.field_ref.as_deref()
            {
                r.target.field_id = match fref.split_once('.') {
                    Some((t, f)) => format!("{t}_{f}"),
                    None => format!("{table}_{fref}"),
                };
            }
            r
        })
        .collect()
}

/// `label` without its trailing words when they equal `suffix` ignoring case, e.g.
/// ("Created date Month", "month") → "Created date".
///
/// Case mapping changes byte lengths (`İ` lowercases to two chars, `ẞ` to a shorter `ß`, the
/// Kelvin sign `K` to `k`), so a byte offset measured on a lowercased copy is no offset into
/// the original. The cut is therefore found in the original label (at a space) and only the
/// words after it are compared case-insensitively.
fn strip_word_suffix<'a>(label: &'a str, suffix: &str) -> Option<&'a str> {
    let words = suffix.split(' ').count();
    let cut = label.rmatch_indices(' ').nth(words - 1)?.0;
    let (stem, tail) = (&label[..cut], &label[cut + 1..]);
    (!stem.trim().is_empty() && tail.to_lowercase() == suffix).then_some(stem)
}

/// `snake_case` or `UPPER_CASE` → "Snake case".
pub fn humanize(s: &str) -> String {
    let lower = s.replace('_', " ").trim().to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

/// A number without a pointless `.0`.
fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lightdash::types::ExploreTable;

    fn field(table: &str, name: &str, label: &str, ty: &str) -> ExploreField {
        ExploreField {
            name: name.into(),
            label: Some(label.into()),
            table: table.into(),
            table_label: Some(humanize(table)),
            field_type: Some(ty.into()),
            ..Default::default()
        }
    }

    fn explore(name: &str, base: &str, fields: Vec<(ExploreField, bool)>) -> Explore {
        let mut tables: BTreeMap<String, ExploreTable> = BTreeMap::new();
        for (f, metric) in fields {
            let t = tables
                .entry(f.table.clone())
                .or_insert_with(|| ExploreTable {
                    name: f.table.clone(),
                    ..Default::default()
                });
            if metric {
                t.metrics.insert(f.name.clone(), f);
            } else {
                t.dimensions.insert(f.name.clone(), f);
            }
        }
        Explore {
            name: name.into(),
            label: Some(humanize(name)),
            base_table: Some(base.into()),
            tables,
            ..Default::default()
        }
    }

    fn explores() -> Explores {
        let mut month = field("orders", "order_date_month", "Order date month", "date");
        month.time_interval = Some("MONTH".into());
        let mut revenue = field("order_items", "total_revenue", "Total revenue", "sum");
        revenue.description = Some("Sum of item prices".into());
        revenue.ai_hint = Some("Use for GMV questions".into());
        let orders = explore(
            "orders",
            "orders",
            vec![
                (month, false),
                (revenue, true),
                (field("orders", "status", "Status", "string"), false),
                (
                    field("customers", "first_name", "First name", "string"),
                    false,
                ),
            ],
        );
        let legacy = explore(
            "legacy",
            "order",
            vec![(
                field("order", "items_total_revenue", "Items total revenue", "sum"),
                true,
            )],
        );
        Explores::from([("orders".to_owned(), orders), ("legacy".to_owned(), legacy)])
    }

    fn chart() -> ChartDetails {
        serde_json::from_value(serde_json::json!({
            "name": "c",
            "tableName": "orders",
            "metricQuery": {
                "exploreName": "orders",
                "additionalMetrics": [{"name": "avg_amount", "table": "orders", "type": "average",
                    "label": "Average amount", "baseDimensionName": "status"}],
                "customDimensions": [
                    {"id": "amount_bins", "name": "Amount bins", "table": "orders", "type": "bin",
                     "dimensionId": "orders_status", "binType": "fixed_number", "binNumber": 5},
                    {"id": "is_big", "name": "Is big", "table": "orders", "type": "sql",
                     "sql": "${orders.amount} > 100"}],
                "tableCalculations": [{"name": "running_total", "displayName": "Running total",
                    "sql": "SUM(${orders.total}) OVER ()"}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn tables_with_underscores_are_not_confused() {
        let ex = explores();
        // Table `order_items` + field `total_revenue`: found whole, never split at the first
        // `_` (which would look for table `order`).
        let c = chart();
        let l = FieldLookup::for_chart(&ex, &c);
        let a = l.resolve("order_items_total_revenue");
        assert_eq!(a.label, "Order items Total revenue");
        assert_eq!(a.kind, FieldKind::Metric);
        assert_eq!(a.field_type.as_deref(), Some("sum"));
        assert_eq!(a.description.as_deref(), Some("Sum of item prices"));
        assert_eq!(a.ai_hint.as_deref(), Some("Use for GMV questions"));
        // Table `order` + field `items_total_revenue` has the very same id. In the `orders`
        // explore it does not exist; across the project, the explore whose base table holds
        // it wins over a joined table, deterministically.
        let p = FieldLookup::project(&ex);
        assert_eq!(p.label("order_items_total_revenue"), "Items total revenue");
        assert_eq!(
            p.resolve("order_items_total_revenue_x").kind,
            FieldKind::Unknown
        );
    }

    #[test]
    fn base_table_fields_are_unqualified_and_joined_ones_qualified() {
        let ex = explores();
        let l = FieldLookup::project(&ex);
        assert_eq!(l.label("orders_status"), "Status");
        assert_eq!(l.resolve("orders_status").kind, FieldKind::Dimension);
        assert_eq!(l.label("customers_first_name"), "Customers First name");
    }

    #[test]
    fn date_parts_have_their_own_label() {
        let ex = explores();
        let l = FieldLookup::project(&ex);
        let m = l.resolve("orders_order_date_month");
        assert_eq!(m.label, "Order date (month)");
        assert_eq!(m.kind, FieldKind::Dimension);
    }

    /// Field report: a date-part label with `İ` or `ẞ` panicked every cycle (the stem was cut
    /// at a byte length measured on the lowercased copy); a Kelvin sign garbled the label.
    #[test]
    fn date_part_labels_survive_case_mapping() {
        let label = |label: &str, interval: &str| {
            let mut f = field("orders", "d", label, "date");
            f.time_interval = Some(interval.into());
            field_label(&f)
        };
        assert_eq!(
            label("İstanbul date month", "MONTH"),
            "İstanbul date (month)"
        );
        assert_eq!(label("İİİİ MONTH", "MONTH"), "İİİİ (month)");
        assert_eq!(label("Straẞe Month", "MONTH"), "Straẞe (month)");
        assert_eq!(
            label("\u{212A}elvin date month", "MONTH"),
            "\u{212A}elvin date (month)"
        );
        assert_eq!(
            label("Order date day of week", "DAY_OF_WEEK"),
            "Order date (day of week)"
        );
        // An interval that is not the last words, or the whole label, is left alone.
        assert_eq!(label("Month", "MONTH"), "Month");
        assert_eq!(label("Monthly total", "MONTH"), "Monthly total");
        assert_eq!(label("İ", "MONTH"), "İ");
        assert_eq!(label("Date İ", "MONTH"), "Date İ");
    }

    proptest::proptest! {
        /// Any Unicode stem followed by the interval in any case gets the interval in
        /// parentheses, byte for byte; any label at all renders without a panic.
        #[test]
        fn date_part_labels_of_any_unicode(
            stem in ".*",
            other in proptest::prelude::any::<String>(),
            (interval, said) in proptest::sample::select(vec![
                ("MONTH", " month"), ("MONTH", " MONTH"), ("YEAR", " Year"),
                ("DAY_OF_WEEK", " day of WEEK"), ("QUARTER", " quarter"),
            ]),
        ) {
            let mut f = field("t", "d", &format!("{stem}{said}"), "date");
            f.time_interval = Some(interval.into());
            let want = if stem.trim().is_empty() {
                format!("{stem}{said}")
            } else {
                format!("{stem} ({})", said.trim().to_lowercase())
            };
            proptest::prop_assert_eq!(field_label(&f), want);
            f.label = Some(other.clone());
            let got = field_label(&f);
            let shown = if other.trim().is_empty() { "D" } else { other.as_str() };
            proptest::prop_assert!(got == shown || got.ends_with(')'), "{got:?}");
        }
    }

    #[test]
    fn chart_defined_fields() {
        let ex = explores();
        let c = chart();
        let l = FieldLookup::for_chart(&ex, &c);
        let m = l.resolve("orders_avg_amount");
        assert_eq!(m.label, "Average amount");
        assert_eq!(m.kind, FieldKind::CustomMetric);
        assert_eq!(m.definition.as_deref(), Some("Average of Status"));
        let b = l.resolve("amount_bins");
        assert_eq!(b.label, "Amount bins");
        assert_eq!(b.kind, FieldKind::CustomDimension);
        assert_eq!(b.definition.as_deref(), Some("Status grouped into 5 bins"));
        let s = l.resolve("is_big");
        assert_eq!(s.sql.as_deref(), Some("${orders.amount} > 100"));
        let t = l.resolve("running_total");
        assert_eq!(t.label, "Running total");
        assert_eq!(t.kind, FieldKind::TableCalculation);
        assert_eq!(t.sql.as_deref(), Some("SUM(${orders.total}) OVER ()"));
    }

    #[test]
    fn unknown_ids_and_unknown_explores_fall_back() {
        let empty = Explores::new();
        let mut c = chart();
        c.metric_query.explore_name = Some("nope".into());
        let l = FieldLookup::for_chart(&empty, &c);
        let u = l.resolve("weird_id");
        assert_eq!(u.label, "weird_id");
        assert_eq!(u.kind, FieldKind::Unknown);
        // Custom fields still resolve without an explore.
        assert_eq!(l.label("running_total"), "Running total");
        assert_eq!(humanize("DAY_OF_WEEK_NAME"), "Day of week name");
        assert_eq!(humanize(""), "");
    }

    #[test]
    fn real_explore_resolves() {
        let v: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/shared/06-explore.airports.json"
        ))
        .unwrap();
        let e: Explore = serde_json::from_value(v["results"].clone()).unwrap();
        let ex = Explores::from([("airports".to_owned(), e)]);
        let l = FieldLookup::project(&ex);
        let f = l.resolve("airports_total_passenger_volume");
        assert_eq!(f.label, "Total passenger volume");
        assert_eq!(f.kind, FieldKind::Metric);
        assert_eq!(l.label("airports_lat"), "Lat");
    }
}
