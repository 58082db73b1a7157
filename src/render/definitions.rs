//! The compact "Definitions" section: what each field a chart uses computes, and the
//! warehouse tables behind its explore, so Dot can reproduce the numbers and connect the
//! asset to tables it already knows. PURE.
//!
//! One bullet per explore ("base table `db.schema.table`; joined tables …") and one per field
//! with something to say: a metric's aggregation and SQL and the filters inside it, a
//! dimension's SQL when it is not a plain column, custom metrics and dimensions, and table
//! calculations in each form Lightdash writes (`sql` and `formula` as code, `template` in
//! words). Every bullet is capped ([`FIELD_WORDS_CHARS`], [`SQL_CHARS`]); a dashboard adds its
//! charts' bullets to one [`Definitions`], which keeps each bullet once.

use std::collections::HashSet;

use crate::lightdash::types::{ChartDetails, Explore, ExploreTable};

use super::Explores;
use super::common::SQL_CHARS;
use super::escape;
use super::fields::{FieldInfo, FieldKind, FieldLookup};
use super::filters;

/// Longest definition in words, per field, in characters of source.
pub const FIELD_WORDS_CHARS: usize = 300;
/// Most filters listed inside one metric.
const MAX_METRIC_FILTERS: usize = 3;
/// Aggregations that are not aggregations: the SQL is the whole definition.
const NON_AGGREGATE: &[&str] = &["number", "string", "date", "timestamp", "boolean"];

/// Definition bullets (escaped markdown list items), in the order added, each once.
#[derive(Debug, Default)]
pub struct Definitions {
    lines: Vec<String>,
    seen: HashSet<String>,
}

impl Definitions {
    /// Adds one chart's explore tables and field definitions.
    pub fn add_chart(
        &mut self,
        explores: &Explores,
        details: &ChartDetails,
        fields: &FieldLookup<'_>,
    ) {
        if let Some(line) = details
            .explore_name()
            .and_then(|n| explores.get(n))
            .and_then(explore_line)
        {
            self.push(line);
        }
        let q = &details.metric_query;
        let ids = q
            .metrics
            .iter()
            .chain(&q.dimensions)
            .chain(q.table_calculations.iter().map(|t| &t.name));
        for id in ids {
            if let Some(line) = field_line(&fields.resolve(id), fields) {
                self.push(line);
            }
        }
    }

    fn push(&mut self, line: String) {
        if self.seen.insert(line.clone()) {
            self.lines.push(line);
        }
    }

    /// Whether nothing was worth saying.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The bullets, one per line.
    pub fn markdown(&self) -> String {
        self.lines.join("\n")
    }
}

/// A table as the warehouse names it: `sqlTable` without its quotes, else
/// `database.schema.name` from what is known.
pub fn warehouse_name(table: &ExploreTable) -> String {
    if let Some(sql) = table.sql_table.as_deref().filter(|s| !s.trim().is_empty()) {
        return sql
            .trim()
            .chars()
            .filter(|c| !matches!(c, '"' | '`' | '[' | ']'))
            .collect();
    }
    [
        table.database.as_deref(),
        table.schema.as_deref(),
        Some(table.name.as_str()),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(".")
}

/// "- Orders explore: base table `db.public.orders`; joined tables `db.public.customers`".
fn explore_line(e: &Explore) -> Option<String> {
    let base = e.base_table.as_deref().unwrap_or(e.name.as_str());
    let base_table = e.tables.get(base)?;
    let label = e
        .label
        .as_deref()
        .filter(|l| !l.trim().is_empty())
        .unwrap_or(e.name.as_str());
    let mut line = format!(
        "- {} explore: base table {}",
        escape::inline(label),
        escape::code(&warehouse_name(base_table), SQL_CHARS)
    );
    let joined: Vec<String> = e
        .joined_tables
        .iter()
        .filter_map(|j| e.tables.get(&j.table))
        .map(|t| escape::code(&warehouse_name(t), SQL_CHARS))
        .collect();
    if !joined.is_empty() {
        line.push_str(&format!("; joined tables {}", joined.join(", ")));
    }
    Some(line)
}

/// "Sum of `orders.amount`", "SQL `…`", "Formula `=…`", or a template in words.
fn computation(info: &FieldInfo) -> Option<String> {
    let sql = info.sql.as_deref().map(|s| escape::code(s, SQL_CHARS));
    let words = info
        .definition
        .as_deref()
        .map(|d| escape::inline_capped(d, FIELD_WORDS_CHARS));
    match info.kind {
        FieldKind::Metric => {
            let ty = info.field_type.as_deref().unwrap_or_default();
            match (words, sql) {
                (_, Some(sql)) if NON_AGGREGATE.contains(&ty) => {
                    Some(format!("calculated as {sql}"))
                }
                (Some(w), Some(sql)) => Some(format!("{w} of {sql}")),
                (w, s) => w.or(s),
            }
        }
        FieldKind::Dimension => sql.map(|s| format!("defined as {s}")),
        FieldKind::CustomMetric => {
            // "Sum of `sql`" when the words are only the aggregation; "Average of Amount
            // (`sql`)" when they also name the dimension aggregated.
            let only_type = info.definition.as_deref().map(str::to_lowercase)
                == info.field_type.as_deref().map(|t| t.replace('_', " "));
            match (words, sql) {
                (Some(w), Some(s)) if only_type => Some(format!("{w} of {s}")),
                (Some(w), Some(s)) => Some(format!("{w} ({s})")),
                (w, s) => w.or(s),
            }
        }
        FieldKind::CustomDimension | FieldKind::TableCalculation => {
            let formula = info
                .formula
                .as_deref()
                .map(|f| format!("formula {}", escape::code(f, SQL_CHARS)));
            let parts: Vec<String> = [words, sql.map(|s| format!("SQL {s}")), formula]
                .into_iter()
                .flatten()
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        FieldKind::Unknown => None,
    }
}

/// One field's bullet, or `None` when there is nothing beyond its label to say.
fn field_line(info: &FieldInfo, fields: &FieldLookup<'_>) -> Option<String> {
    let mut parts: Vec<String> = computation(info).into_iter().collect();
    if !info.filters.is_empty() {
        let mut rules: Vec<String> = info
            .filters
            .iter()
            .take(MAX_METRIC_FILTERS)
            .map(|r| filters::rule_text(r, fields))
            .collect();
        if info.filters.len() > MAX_METRIC_FILTERS {
            rules.push(format!("{} more", info.filters.len() - MAX_METRIC_FILTERS));
        }
        parts.push(format!("only rows where {}", rules.join(" and ")));
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "- {} ({}): {}",
        escape::inline(&info.label),
        info.kind.as_str(),
        parts.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn explores() -> Explores {
        // Reduced from field case 11's `customer_360` explore, plus a join, a metric filter
        // and a non-column dimension (shapes: explore.ts CompiledTable / field.ts Metric).
        let e: Explore = serde_json::from_value(json!({
            "name": "orders", "label": "Orders", "baseTable": "orders",
            "joinedTables": [{"table": "customers", "sqlOn": "${orders.customer_id} = ${customers.id}"}],
            "tables": {
                "orders": {"name": "orders", "database": "analytics", "schema": "public",
                    "sqlTable": "\"analytics\".\"public\".\"orders\"",
                    "dimensions": {
                        "status": {"name": "status", "label": "Status", "table": "orders", "type": "string", "sql": "${TABLE}.status"},
                        "is_big": {"name": "is_big", "label": "Is big", "table": "orders", "type": "boolean", "sql": "${TABLE}.amount > 100"}},
                    "metrics": {
                        "total": {"name": "total", "label": "Total completed", "table": "orders", "type": "sum",
                            "sql": "${TABLE}.amount",
                            "filters": [{"id": "f", "target": {"fieldRef": "status"}, "operator": "equals", "values": ["completed"]}]},
                        "aov": {"name": "aov", "label": "AOV", "table": "orders", "type": "number",
                            "sql": "${total} / NULLIF(${count}, 0)"}}},
                "customers": {"name": "customers", "database": "analytics", "schema": "crm", "dimensions": {}, "metrics": {}}
            }
        }))
        .unwrap();
        Explores::from([("orders".to_owned(), e)])
    }

    #[test]
    fn explore_tables_metrics_dimensions_and_table_calculations() {
        let ex = explores();
        // The failing input of issue 15, point 2: a template and a formula calculation.
        let c: ChartDetails = serde_json::from_value(json!({"name": "c", "tableName": "orders",
            "metricQuery": {"exploreName": "orders",
                "metrics": ["orders_total", "orders_aov"], "dimensions": ["orders_status", "orders_is_big"],
                "tableCalculations": [
                    {"name": "amount_pct_change", "displayName": "% change vs previous",
                     "template": {"type": "percent_change_from_previous", "fieldId": "orders_total",
                                  "orderBy": [{"fieldId": "orders_status", "order": "asc"}]}},
                    {"name": "avg_order_value", "displayName": "Average order value",
                     "formula": "=orders_total / orders_count"},
                    {"name": "share", "displayName": "Share", "sql": "${orders.total} / SUM(${orders.total}) OVER ()"}]}}))
        .unwrap();
        let fields = FieldLookup::for_chart(&ex, &c);
        let mut d = Definitions::default();
        d.add_chart(&ex, &c, &fields);
        d.add_chart(&ex, &c, &fields);
        assert_eq!(
            d.markdown(),
            [
                "- Orders explore: base table `analytics.public.orders`; joined tables `analytics.crm.customers`",
                "- Total completed (metric): Sum of `orders.amount`; only rows where Status is completed",
                "- AOV (metric): calculated as `${total} / NULLIF(${count}, 0)`",
                "- Is big (dimension): defined as `orders.amount > 100`",
                "- % change vs previous (table calculation): Percent change from the previous row of Total completed, ordered by Status ascending",
                "- Average order value (table calculation): formula `=orders_total / orders_count`",
                "- Share (table calculation): SQL `${orders.total} / SUM(${orders.total}) OVER ()`",
            ]
            .join("\n")
        );
    }

    #[test]
    fn long_sql_is_capped_per_field() {
        let ex = Explores::new();
        let long = format!("CASE {} END", "WHEN x THEN y ".repeat(100));
        let c: ChartDetails = serde_json::from_value(json!({"name": "c", "metricQuery": {
            "tableCalculations": [{"name": "t", "displayName": "T", "sql": long}]}}))
        .unwrap();
        let fields = FieldLookup::for_chart(&ex, &c);
        let mut d = Definitions::default();
        d.add_chart(&ex, &c, &fields);
        let md = d.markdown();
        assert!(md.chars().count() < SQL_CHARS + 60, "{md}");
        assert!(md.contains('…'), "{md}");
    }
}
