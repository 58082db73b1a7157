//! Filters in plain words: "Created date (month) in the past 12 months (completed)",
//! "Industry is one of Banking, Technology". PURE. Every label and value is escaped here, so
//! the strings returned are ready to put in markdown.

use serde_json::Value;

use crate::lightdash::types::{
    ChartFilters, DashboardFilters, FilterNode, FilterOperator, FilterRule,
};

use super::escape;
use super::fields::FieldLookup;

/// Longest filter value shown, in characters; values are data, not prose.
const MAX_VALUE_CHARS: usize = 120;
/// Most values listed for one rule before "and N more".
const MAX_VALUES: usize = 20;

/// One value, escaped: strings as given (an ISO timestamp at midnight shows its date only),
/// numbers and booleans as JSON prints them, anything else as compact JSON.
fn value(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let s = s
                .strip_suffix("T00:00:00.000Z")
                .or_else(|| s.strip_suffix("T00:00:00Z"))
                .filter(|d| is_iso_date(d))
                .unwrap_or(s);
            escape::inline_capped(s, MAX_VALUE_CHARS)
        }
        Value::Null => "empty".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => escape::inline_capped(&other.to_string(), MAX_VALUE_CHARS),
    }
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// Values joined with ", ", at most [`MAX_VALUES`] of them.
fn value_list(values: &[Value]) -> String {
    let mut parts: Vec<String> = values.iter().take(MAX_VALUES).map(value).collect();
    if values.len() > MAX_VALUES {
        parts.push(format!("and {} more", values.len() - MAX_VALUES));
    }
    parts.join(", ")
}

/// A setting of the rule, as a string (e.g. `unitOfTime`).
fn setting<'a>(rule: &'a FilterRule, key: &str) -> Option<&'a Value> {
    rule.settings.as_ref().and_then(|s| s.get(key))
}

/// The unit of a relative date rule, singular when the amount is 1 (`months` → `month`).
fn unit(rule: &FilterRule, singular: bool) -> String {
    let raw = match setting(rule, "unitOfTime") {
        Some(Value::String(s)) => s.as_str(),
        _ => "days",
    };
    let raw = raw.to_lowercase();
    let unit = if singular {
        raw.strip_suffix('s').unwrap_or(&raw).to_owned()
    } else if raw.ends_with('s') {
        raw
    } else {
        format!("{raw}s")
    };
    escape::inline(&unit)
}

/// The operator and its values in words, e.g. "is one of A, B" or "in the past 12 months".
/// Unknown operators read as "`<operator>` <values>".
pub fn predicate(rule: &FilterRule) -> String {
    use FilterOperator as Op;
    let vals = &rule.values;
    let first = vals.first().map(value);
    let one_or_many = |one: &str, many: &str| match vals.len() {
        0 => format!("{one} (any value)"),
        1 => format!("{one} {}", value(&vals[0])),
        _ => format!("{many} {}", value_list(vals)),
    };
    match &rule.operator {
        Op::IsNull => "is empty".to_owned(),
        Op::NotNull => "is not empty".to_owned(),
        Op::Equals => one_or_many("is", "is one of"),
        Op::NotEquals => one_or_many("is not", "is none of"),
        Op::StartsWith => one_or_many("starts with", "starts with one of"),
        Op::EndsWith => one_or_many("ends with", "ends with one of"),
        Op::Include => one_or_many("contains", "contains one of"),
        Op::DoesNotInclude => one_or_many("does not contain", "contains none of"),
        Op::LessThan => one_or_many("is less than", "is less than one of"),
        Op::LessThanOrEqual => one_or_many("is at most", "is at most one of"),
        Op::GreaterThan => one_or_many("is greater than", "is greater than one of"),
        Op::GreaterThanOrEqual => one_or_many("is at least", "is at least one of"),
        Op::InThePast | Op::NotInThePast | Op::InTheNext => {
            let n = first.unwrap_or_else(|| "N".to_owned());
            let unit = unit(rule, n == "1");
            let completed = matches!(setting(rule, "completed"), Some(Value::Bool(true)));
            let head = match rule.operator {
                Op::InThePast => "in the past",
                Op::NotInThePast => "not in the past",
                _ => "in the next",
            };
            let tail = if completed { " (completed)" } else { "" };
            format!("{head} {n} {unit}{tail}")
        }
        Op::InTheCurrent => format!("in the current {}", unit(rule, true)),
        Op::NotInTheCurrent => format!("not in the current {}", unit(rule, true)),
        Op::InBetween | Op::NotInBetween => {
            let head = if rule.operator == Op::InBetween {
                "between"
            } else {
                "not between"
            };
            match (vals.first(), vals.get(1)) {
                (Some(a), Some(b)) => format!("{head} {} and {}", value(a), value(b)),
                _ => format!("{head} {}", value_list(vals)),
            }
        }
        Op::Unknown(op) => {
            let op = escape::inline(op);
            if vals.is_empty() {
                op
            } else {
                format!("{op} {}", value_list(vals))
            }
        }
    }
}

/// Whether an operator compares with values (so a rule without any filters nothing).
fn takes_values(op: &FilterOperator) -> bool {
    !matches!(
        op,
        FilterOperator::IsNull
            | FilterOperator::NotNull
            | FilterOperator::InTheCurrent
            | FilterOperator::NotInTheCurrent
    )
}

/// Whether a rule filters nothing yet: it compares with values but has none. Lightdash shows
/// such a rule as a control for viewers to fill (`values: []`, no `disabled` key).
pub fn is_open(rule: &FilterRule) -> bool {
    rule.values.is_empty() && takes_values(&rule.operator)
}

/// "Label predicate" for a chart rule; `(disabled)` when it does not apply, and a note on a
/// `required` rule (one the explore's `required_filters` put there: viewers may change its
/// value but not remove it).
pub fn rule_text(rule: &FilterRule, fields: &FieldLookup<'_>) -> String {
    rule_words(rule, fields, true)
}

/// [`rule_text`], with the note on a required rule in full (`long`) or as "(required)".
fn rule_words(rule: &FilterRule, fields: &FieldLookup<'_>, long: bool) -> String {
    let label = escape::inline(&fields.label(&rule.target.field_id));
    let body = if is_open(rule) {
        format!("{label} (no value set yet, so it filters nothing)")
    } else {
        format!("{label} {}", predicate(rule))
    };
    let disabled = if rule.disabled { " (disabled)" } else { "" };
    let required = match (rule.required == Some(true), long) {
        (true, true) => " (required filter: viewers can change the value but not remove it)",
        (true, false) => " (required)",
        _ => "",
    };
    format!("{body}{disabled}{required}")
}

/// A dashboard filter rule as one line: its label (the filter's own `label` when set), the
/// predicate, and notes: disabled filters are "not applied by default" (viewers can turn
/// them on), required ones must be set by viewers, and tiles it skips are named.
/// `tile_title` maps a `tileTargets` key (tile uuid or slug) to the tile's title.
pub fn dashboard_rule_text(
    rule: &FilterRule,
    fields: &FieldLookup<'_>,
    tile_title: &dyn Fn(&str) -> Option<String>,
) -> String {
    let field_label = fields.label(&rule.target.field_id);
    let own = rule.label.as_deref().filter(|l| !l.trim().is_empty());
    let label = escape::inline(own.unwrap_or(&field_label));
    let mut notes: Vec<String> = Vec::new();
    // The filter's own label may hide which field it acts on.
    let known = fields.resolve(&rule.target.field_id).kind != super::fields::FieldKind::Unknown;
    if let Some(own) = own
        && known
        && !own.trim().eq_ignore_ascii_case(field_label.trim())
    {
        notes.push(format!("filters {}", escape::inline(&field_label)));
    }
    let body = if rule.disabled {
        notes.push("not applied by default; viewers can set it".to_owned());
        if rule.values.is_empty() {
            label
        } else {
            format!("{label} {}", predicate(rule))
        }
    } else if is_open(rule) {
        notes.push(
            "open for viewers: no value is set, so it filters nothing until a viewer picks one"
                .to_owned(),
        );
        label
    } else {
        format!("{label} {}", predicate(rule))
    };
    if rule.required == Some(true) {
        notes.push("required: viewers must set a value".to_owned());
    }
    if let Some(targets) = &rule.tile_targets {
        // BTreeMap: deterministic order.
        let skipped: Vec<String> = targets
            .iter()
            .filter(|(_, v)| **v == Value::Bool(false))
            // A key without a tile here is a tile slug, i.e. a chart's slug: never print it.
            .map(|(k, _)| tile_title(k).unwrap_or_else(|| "a tile not shown here".to_owned()))
            .collect();
        if !skipped.is_empty() {
            notes.push(format!("not applied to: {}", skipped.join(", ")));
        }
    }
    if notes.is_empty() {
        body
    } else {
        format!("{body} — {}", notes.join("; "))
    }
}

/// Every dashboard filter, one line each (without the list marker), dimensions first, then
/// metrics, then table calculations, each in the dashboard's order.
pub fn dashboard_filter_lines(
    filters: &DashboardFilters,
    fields: &FieldLookup<'_>,
    tile_title: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    filters
        .dimensions
        .iter()
        .chain(&filters.metrics)
        .chain(&filters.table_calculations)
        .map(|r| dashboard_rule_text(r, fields, tile_title))
        .collect()
}

/// A chart's filters as markdown bullet lines (with their list markers), indented by
/// `indent` spaces. Top-level AND groups are flattened (every bullet applies); OR groups
/// and nested groups read "Any of:" / "All of:" with their children indented below.
pub fn chart_filter_lines(
    filters: &ChartFilters,
    fields: &FieldLookup<'_>,
    indent: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    for node in top_level(filters) {
        node_lines(node, fields, indent, &mut out);
    }
    out
}

/// The top-level conditions of a chart's filter trees (dimensions, metrics, table
/// calculations): the children of a top-level AND group, else the tree itself.
fn top_level(filters: &ChartFilters) -> impl Iterator<Item = &FilterNode> {
    [
        &filters.dimensions,
        &filters.metrics,
        &filters.table_calculations,
    ]
    .into_iter()
    .flatten()
    .flat_map(|tree| match tree {
        FilterNode::And(children) => children.iter().collect::<Vec<_>>(),
        other => vec![other],
    })
}

/// A chart's filter conditions for a summary sentence: each top-level condition in words
/// (an OR group reads "any of: a, b"), escaped.
pub fn chart_filter_summary(filters: &ChartFilters, fields: &FieldLookup<'_>) -> Vec<String> {
    fn text(node: &FilterNode, fields: &FieldLookup<'_>) -> Option<String> {
        match node {
            FilterNode::Rule(r) if r.disabled => None,
            FilterNode::Rule(r) => Some(rule_words(r, fields, false)),
            FilterNode::And(c) | FilterNode::Or(c) => {
                let parts: Vec<String> = c.iter().filter_map(|n| text(n, fields)).collect();
                match parts.len() {
                    0 => None,
                    1 => parts.into_iter().next(),
                    _ if matches!(node, FilterNode::Or(_)) => {
                        Some(format!("any of: {}", parts.join(", ")))
                    }
                    _ => Some(parts.join(" and ")),
                }
            }
        }
    }
    top_level(filters).filter_map(|n| text(n, fields)).collect()
}

/// Whether a filter tree holds at least one rule.
fn has_rules(node: &FilterNode) -> bool {
    match node {
        FilterNode::Rule(_) => true,
        FilterNode::And(c) | FilterNode::Or(c) => c.iter().any(has_rules),
    }
}

fn node_lines(node: &FilterNode, fields: &FieldLookup<'_>, indent: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    match node {
        FilterNode::Rule(rule) => out.push(format!("{pad}- {}", rule_text(rule, fields))),
        FilterNode::And(children) | FilterNode::Or(children) => {
            let live: Vec<&FilterNode> = children.iter().filter(|c| has_rules(c)).collect();
            match live.as_slice() {
                [] => {}
                // A group of one is just that condition.
                [only] => node_lines(only, fields, indent, out),
                _ => {
                    let head = if matches!(node, FilterNode::And(_)) {
                        "All of:"
                    } else {
                        "Any of:"
                    };
                    out.push(format!("{pad}- {head}"));
                    for c in live {
                        node_lines(c, fields, indent + 2, out);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Explores;
    use serde_json::json;

    fn rule(v: Value) -> FilterRule {
        serde_json::from_value(v).unwrap()
    }

    fn p(v: Value) -> String {
        predicate(&rule(v))
    }

    #[test]
    fn operators_in_words() {
        assert_eq!(
            p(json!({"operator":"equals","values":["Banking","Technology"]})),
            "is one of Banking, Technology"
        );
        assert_eq!(
            p(json!({"operator":"equals","values":["Banking"]})),
            "is Banking"
        );
        assert_eq!(
            p(json!({"operator":"notEquals","values":["Lost"]})),
            "is not Lost"
        );
        assert_eq!(p(json!({"operator":"isNull"})), "is empty");
        assert_eq!(p(json!({"operator":"notNull","values":[]})), "is not empty");
        assert_eq!(
            p(json!({"operator":"startsWith","values":["A"]})),
            "starts with A"
        );
        assert_eq!(
            p(json!({"operator":"endsWith","values":["z"]})),
            "ends with z"
        );
        assert_eq!(
            p(json!({"operator":"include","values":["corp"]})),
            "contains corp"
        );
        assert_eq!(
            p(json!({"operator":"doesNotInclude","values":["test"]})),
            "does not contain test"
        );
        assert_eq!(
            p(json!({"operator":"lessThan","values":[10]})),
            "is less than 10"
        );
        assert_eq!(
            p(json!({"operator":"lessThanOrEqual","values":[10]})),
            "is at most 10"
        );
        assert_eq!(
            p(json!({"operator":"greaterThan","values":[1.5]})),
            "is greater than 1.5"
        );
        assert_eq!(
            p(json!({"operator":"greaterThanOrEqual","values":[0]})),
            "is at least 0"
        );
        assert_eq!(
            p(
                json!({"operator":"inThePast","values":[12],"settings":{"unitOfTime":"months","completed":true}})
            ),
            "in the past 12 months (completed)"
        );
        assert_eq!(
            p(
                json!({"operator":"notInThePast","values":[1],"settings":{"unitOfTime":"weeks","completed":false}})
            ),
            "not in the past 1 week"
        );
        assert_eq!(
            p(json!({"operator":"inTheNext","values":[3],"settings":{"unitOfTime":"days"}})),
            "in the next 3 days"
        );
        assert_eq!(
            p(json!({"operator":"inTheCurrent","settings":{"unitOfTime":"year"}})),
            "in the current year"
        );
        assert_eq!(
            p(json!({"operator":"notInTheCurrent","settings":{"unitOfTime":"months"}})),
            "not in the current month"
        );
        assert_eq!(
            p(json!({"operator":"inBetween","values":["2024-01-01T00:00:00.000Z","2024-03-31"]})),
            "between 2024-01-01 and 2024-03-31"
        );
        assert_eq!(
            p(json!({"operator":"notInBetween","values":[1,5]})),
            "not between 1 and 5"
        );
        assert_eq!(
            p(json!({"operator":"fuzzyMatch","values":["x"]})),
            "fuzzyMatch x"
        );
        assert_eq!(
            p(json!({"operator":"equals","values":[]})),
            "is (any value)"
        );
        assert_eq!(
            p(json!({"operator":"equals","values":[null, true]})),
            "is one of empty, true"
        );
    }

    #[test]
    fn values_are_escaped_and_capped() {
        assert_eq!(
            p(json!({"operator":"equals","values":["<b>|x", "[a](http://e)"]})),
            "is one of &lt;b>\\|x, `[a](http://e)`"
        );
        let many: Vec<i32> = (0..25).collect();
        assert!(p(json!({"operator":"equals","values":many})).ends_with("19, and 5 more"));
        // A timestamp that is not at midnight keeps its time.
        assert_eq!(
            p(json!({"operator":"equals","values":["2024-01-01T10:00:00Z"]})),
            "is 2024-01-01T10:00:00Z"
        );
    }

    #[test]
    fn open_filters_field_names_and_required_chart_filters() {
        // Field case 11 (customer-360.yml): `values: []` and no `disabled` key.
        let ex: Explores = serde_json::from_value(json!({"tracks": {"name": "tracks", "baseTable": "tracks",
            "tables": {"tracks": {"name": "tracks", "dimensions": {
                "timestamp_day": {"name": "timestamp_day", "label": "Timestamp day", "table": "tracks",
                                  "timeInterval": "DAY"}}}}}}))
        .unwrap();
        let fields = FieldLookup::project(&ex);
        let none = |_: &str| None;
        let f: DashboardFilters = serde_json::from_value(json!({"dimensions": [
            {"target": {"fieldId": "customer_360_segment"}, "operator": "equals", "values": [], "label": "Segment"},
            {"target": {"fieldId": "tracks_timestamp_day"}, "operator": "inThePast", "values": [15],
             "settings": {"unitOfTime": "days"}, "label": "Day"},
            {"target": {"fieldId": "tracks_timestamp_day"}, "operator": "isNull", "values": []}
        ]}))
        .unwrap();
        assert_eq!(
            dashboard_filter_lines(&f, &fields, &none),
            vec![
                "Segment — open for viewers: no value is set, so it filters nothing until a viewer picks one",
                "Day in the past 15 days — filters Timestamp (day)",
                "Timestamp (day) is empty",
            ]
        );
        // Field case 12 (unique-logins-over-time.yml): a required chart filter.
        let r = rule(
            json!({"target": {"fieldId": "tracks_timestamp_day"}, "operator": "inThePast",
            "values": [58], "required": true, "settings": {"unitOfTime": "days"}}),
        );
        assert_eq!(
            rule_text(&r, &fields),
            "Timestamp (day) in the past 58 days (required filter: viewers can change the value but not remove it)"
        );
        let open = rule(
            json!({"target": {"fieldId": "tracks_timestamp_day"}, "operator": "equals", "values": []}),
        );
        assert_eq!(
            rule_text(&open, &fields),
            "Timestamp (day) (no value set yet, so it filters nothing)"
        );
    }

    #[test]
    fn dashboard_filters_with_label_disabled_required_and_targets() {
        let ex = Explores::new();
        let fields = FieldLookup::project(&ex);
        let titles = |k: &str| (k == "t1").then(|| "Revenue".to_owned());
        let f: DashboardFilters = serde_json::from_value(json!({"dimensions":[
            {"target":{"fieldId":"deals_industry"},"operator":"equals","values":["Banking","Technology"],
             "label":"Industry","required":true,"tileTargets":{"t1":false,"t2":{"fieldId":"x"}}},
            {"target":{"fieldId":"deals_plan"},"operator":"equals","values":[],"disabled":true}
        ]}))
        .unwrap();
        let lines = dashboard_filter_lines(&f, &fields, &titles);
        assert_eq!(
            lines,
            vec![
                "Industry is one of Banking, Technology — required: viewers must set a value; not applied to: Revenue",
                "deals_plan — not applied by default; viewers can set it",
            ]
        );
    }

    #[test]
    fn nested_chart_filters() {
        let ex = Explores::new();
        let fields = FieldLookup::project(&ex);
        let f: ChartFilters = serde_json::from_value(json!({
            "dimensions":{"id":"a","and":[
                {"id":"r1","target":{"fieldId":"stage"},"operator":"equals","values":["Won"]},
                {"id":"g","or":[
                    {"id":"r2","target":{"fieldId":"region"},"operator":"equals","values":["EU"]},
                    {"id":"g2","and":[
                        {"id":"r3","target":{"fieldId":"region"},"operator":"equals","values":["US"]},
                        {"id":"r4","target":{"fieldId":"amount"},"operator":"greaterThan","values":[100]}
                    ]}
                ]},
                {"id":"empty","or":[]}
            ]},
            "metrics":{"id":"m","or":[{"id":"r5","target":{"fieldId":"total"},"operator":"greaterThan","values":[0],"disabled":true}]}
        }))
        .unwrap();
        assert_eq!(
            chart_filter_lines(&f, &fields, 0).join("\n"),
            "- stage is Won\n- Any of:\n  - region is EU\n  - All of:\n    - region is US\n    - amount is greater than 100\n- total is greater than 0 (disabled)"
        );
        assert!(chart_filter_lines(&ChartFilters::default(), &fields, 0).is_empty());
    }
}
