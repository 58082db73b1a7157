//! The markdown of a SQL-runner chart asset, and the block a dashboard tile shows for one.
//! PURE.
//!
//! A SQL chart has no explore: what it means is its SQL. So the asset carries the SQL itself
//! (a fenced, capped code block), the warehouse tables the SQL reads (CTE names left out), the
//! result columns its visualisation uses (`config.fieldConfig`, or a table's `config.columns`),
//! and the dashboards that show it. Shapes: `SqlChartAsCode` / `SqlChart`
//! (`packages/common/src/types/contentAsCode/charts.ts`, `sqlRunner.ts`); a real example is
//! `lightdash/lightdash-demo-saas` `lightdash/charts/avg-days-in-sales-cycle.sql.yml`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::types::{ChartDetails, ChartSummary, DashboardSummary};

use super::common;
use super::escape;
use super::extras;
use super::{ProjectView, project_link};

/// Longest SQL kept in a SQL chart's own asset, in characters.
pub const SQL_BLOCK_CHARS: usize = 4_000;

/// Most tables named (a generated query can read hundreds).
const MAX_TABLES: usize = 30;

/// Renders a SQL-runner chart asset (see [`super::render_chart`]).
pub fn render(
    view: &ProjectView<'_>,
    summary: &ChartSummary,
    details: &ChartDetails,
    shown_on: &[&DashboardSummary],
) -> ExternalAsset {
    let url = url(view, summary, details);
    let kind = summary
        .chart_kind
        .as_ref()
        .or(details.chart_kind.as_ref())
        .map(common::kind_name)
        .unwrap_or_else(|| "chart".into());
    let sql = details.sql.as_deref().unwrap_or_default();

    let mut md = format!(
        "# {}\n\n{}\n\n## About\n\n",
        escape::inline(&summary.name),
        lead(&kind, sql, details, shown_on)
    );
    md.push_str(&format!(
        "- Lightdash SQL chart ({kind}, written in the SQL runner) in {}\n",
        common::location(view, &summary.space_uuid)
    ));
    md.push_str(&format!("- Link: {}\n", escape::our_url(&url)));
    let at = summary
        .updated_at
        .as_deref()
        .or(details.updated_at.as_deref())
        .or(details.last_updated_at.as_deref());
    if let Some(u) = common::updated(at, summary.updated_by_user.as_deref()) {
        md.push_str(&format!("- Last updated: {u}\n"));
    }
    // The cycle resolves verification into the summary (see `render::chart`).
    if let Some(v) = extras::verification_line(summary.verification.as_deref()) {
        md.push_str(&format!("- {v}\n"));
    }
    if let Some(limit) = details.limit.filter(|l| *l > 0) {
        md.push_str(&format!("- Row limit: {limit}\n"));
    }
    if let Some(t) = tables_text(sql) {
        md.push_str(&format!("- Reads tables: {t}\n"));
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

    let columns = columns(details.config.as_ref());
    if !columns.is_empty() {
        md.push_str("\n## Columns\n\n");
        for c in &columns {
            md.push_str(&format!("- {c}\n"));
        }
    }

    if !escape::is_blank(Some(sql)) {
        md.push_str(&format!(
            "\n## SQL\n\n{}\n",
            code_block(sql, SQL_BLOCK_CHARS)
        ));
    }

    let mut dashboards: Vec<&&DashboardSummary> = shown_on.iter().collect();
    dashboards.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
    dashboards.dedup_by(|a, b| a.uuid == b.uuid);
    if !dashboards.is_empty() {
        md.push_str("\n## Shown on dashboards\n\n");
        for d in dashboards {
            md.push_str(&format!("- {}\n", escape::inline(&d.name)));
        }
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
            views: Some(summary.views.max(details.views.unwrap_or(0))),
            markdown: &md,
        },
    )
}

/// Most tables and columns named in the lead paragraph.
const LEAD_ITEMS: usize = 4;

/// The lead paragraph (see `render::chart`): what the chart is, the columns it shows, the
/// tables it reads, and the dashboards showing it, in plain words.
fn lead(kind: &str, sql: &str, details: &ChartDetails, shown_on: &[&DashboardSummary]) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "An"
    } else {
        "A"
    };
    let mut s = format!("{article} {kind} written in SQL in Lightdash's SQL runner");
    let cols: Vec<String> = columns(details.config.as_ref())
        .into_iter()
        .map(|c| match c.rsplit_once(" (") {
            Some((name, _)) => name.to_owned(),
            None => c,
        })
        .collect();
    if !cols.is_empty() {
        s.push_str(&format!(
            ", showing {}",
            super::chart::and_list(&cols, LEAD_ITEMS)
        ));
    }
    let tables: Vec<String> = sql_tables(sql)
        .iter()
        .map(|t| escape::code(t, 200))
        .collect();
    if !tables.is_empty() {
        s.push_str(&format!(
            ", reading {}",
            super::chart::and_list(&tables, LEAD_ITEMS)
        ));
    }
    s.push('.');
    let mut names: Vec<String> = shown_on.iter().map(|d| escape::inline(&d.name)).collect();
    names.sort();
    names.dedup();
    match names.len() {
        0 => {}
        1 => s.push_str(&format!(" Shown on the dashboard {}.", names[0])),
        _ => s.push_str(&format!(
            " Shown on the dashboards {}.",
            super::chart::and_list(&names, LEAD_ITEMS)
        )),
    }
    s
}

/// `<site>/projects/<p>/sql-runner/<slug>`: where Lightdash opens SQL charts (by slug; the
/// uuid when no slug is known).
fn url(view: &ProjectView<'_>, summary: &ChartSummary, details: &ChartDetails) -> String {
    let id = summary
        .slug
        .as_deref()
        .or(details.slug.as_deref())
        .unwrap_or(&summary.uuid);
    project_link(view, &format!("sql-runner/{id}"))
}

/// The lines a dashboard tile shows for its SQL chart: description, tables, columns.
pub fn tile_lines(
    chart_name: Option<&str>,
    description: Option<&str>,
    details: Option<&ChartDetails>,
) -> Vec<String> {
    let mut out = super::chart::tile_lines(chart_name, description, None, &Default::default());
    let Some(details) = details else {
        return out;
    };
    if let Some(t) = tables_text(details.sql.as_deref().unwrap_or_default()) {
        out.push(format!("- Reads tables: {t}"));
    }
    let columns = columns(details.config.as_ref());
    if !columns.is_empty() {
        out.push(format!("- Columns: {}", columns.join(", ")));
    }
    out
}

/// The tables `sql` reads as inline code spans, at most [`MAX_TABLES`] and a count of the rest.
fn tables_text(sql: &str) -> Option<String> {
    let tables = sql_tables(sql);
    if tables.is_empty() {
        return None;
    }
    let names: Vec<String> = tables
        .iter()
        .take(MAX_TABLES)
        .map(|t| escape::code(t, 200))
        .collect();
    let more = tables.len().saturating_sub(MAX_TABLES);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Some(format!("{}{more}", names.join(", ")))
}

/// A fenced code block holding `sql` verbatim (cleaned of controls, capped): inert in every
/// markdown renderer. The fence is longer than any backtick run inside (BigQuery quotes
/// identifiers with backticks).
pub fn code_block(sql: &str, max: usize) -> String {
    let text = escape::plain(sql.trim(), max, false);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}sql\n{text}\n{fence}")
}

/// The result columns the visualisation uses, escaped, in the config's order: the x axis,
/// the y axes with their aggregation, group-bys, then a table's columns.
/// `fieldConfig: {x: {reference}, y: [{reference, aggregation}], groupBy: [{reference}]}`.
fn columns(config: Option<&Value>) -> Vec<String> {
    let Some(config) = config else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut add = |reference: Option<&str>, role: String| {
        if let Some(r) = reference.filter(|r| !r.trim().is_empty())
            && seen.insert(r.to_owned())
        {
            out.push(format!("{} ({role})", escape::inline(r)));
        }
    };
    let fields = config.get("fieldConfig");
    if let Some(x) = fields.and_then(|f| f.get("x")) {
        add(x.get("reference").and_then(Value::as_str), "x axis".into());
    }
    for y in fields
        .and_then(|f| f.get("y"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = match y.get("aggregation").and_then(Value::as_str) {
            Some(a) if !a.trim().is_empty() => format!("y axis, {}", escape::inline(a)),
            _ => "y axis".into(),
        };
        add(y.get("reference").and_then(Value::as_str), role);
    }
    for g in fields
        .and_then(|f| f.get("groupBy"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add(
            g.get("reference").and_then(Value::as_str),
            "group by".into(),
        );
    }
    if let Some(cols) = config.get("columns").and_then(Value::as_object) {
        for (key, col) in cols {
            if col.get("visible") == Some(&Value::Bool(false)) {
                continue;
            }
            let reference = col.get("reference").and_then(Value::as_str).unwrap_or(key);
            add(Some(reference), "column".into());
        }
    }
    out
}

/// The warehouse tables a SQL query reads: the names after `FROM` and `JOIN`, without the
/// query's own CTE names, quotes removed, once each in order of appearance. A light lexer,
/// not a parser: comments and string literals are skipped, subqueries are looked into.
pub fn sql_tables(sql: &str) -> Vec<String> {
    let tokens = tokenize(sql);
    let mut ctes: BTreeSet<String> = BTreeSet::new();
    // `WITH name AS (` and `, name AS (` at the top of the query.
    for w in tokens.windows(3) {
        if let [Token::Word(name), Token::Word(as_kw), Token::Open] = w
            && as_kw.eq_ignore_ascii_case("as")
        {
            ctes.insert(name.to_ascii_lowercase());
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let is_source_kw = matches!(&tokens[i], Token::Word(w)
            if w.eq_ignore_ascii_case("from") || w.eq_ignore_ascii_case("join"));
        i += 1;
        if !is_source_kw {
            continue;
        }
        // A comma-separated list after FROM: `FROM a, b`.
        while let Some(Token::Name(name) | Token::Word(name)) = tokens.get(i) {
            if is_keyword(name) {
                break;
            }
            let name = name.clone();
            i += 1;
            if !ctes.contains(&name.to_ascii_lowercase()) && !out.contains(&name) {
                out.push(name);
            }
            // Skip an alias (`AS x` or `x`), then continue on a comma.
            if let Some(Token::Word(w)) = tokens.get(i)
                && w.eq_ignore_ascii_case("as")
            {
                i += 1;
            }
            if let Some(Token::Word(w) | Token::Name(w)) = tokens.get(i)
                && !is_keyword(w)
            {
                i += 1;
            }
            if tokens.get(i) == Some(&Token::Comma) {
                i += 1;
                continue;
            }
            break;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A bare word (keyword or identifier), dotted parts joined.
    Word(String),
    /// An identifier with quoted parts, quotes removed, dotted parts joined.
    Name(String),
    Open,
    Comma,
    Other,
}

fn is_keyword(w: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "select",
        "where",
        "group",
        "order",
        "by",
        "having",
        "limit",
        "on",
        "using",
        "join",
        "left",
        "right",
        "inner",
        "outer",
        "full",
        "cross",
        "union",
        "lateral",
        "unnest",
        "as",
        "with",
        "from",
        "window",
        "qualify",
        "offset",
        "natural",
        "table",
        "values",
        "except",
        "intersect",
        "all",
    ];
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

/// Splits SQL into the tokens [`sql_tables`] needs; quoted parts (`` ` ``, `"`, `[]`) and
/// dots join into one name (`` `proj`.`dataset`.`table` `` → `proj.dataset.table`).
fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push(Token::Other);
        } else if c == '(' {
            out.push(Token::Open);
            i += 1;
        } else if c == ',' {
            out.push(Token::Comma);
            i += 1;
        } else if c.is_alphanumeric() || c == '_' || matches!(c, '`' | '"' | '[') {
            let mut name = String::new();
            let mut quoted = false;
            loop {
                match chars.get(i) {
                    Some(&q @ ('`' | '"' | '[')) => {
                        let close = if q == '[' { ']' } else { q };
                        quoted = true;
                        i += 1;
                        while i < chars.len() && chars[i] != close {
                            name.push(chars[i]);
                            i += 1;
                        }
                        i += 1;
                    }
                    Some(&c) if c.is_alphanumeric() || c == '_' || c == '$' || c == '-' => {
                        // `-` only inside names like BigQuery project ids, never leading.
                        if c == '-' && name.is_empty() {
                            break;
                        }
                        name.push(c);
                        i += 1;
                    }
                    _ => break,
                }
                if chars.get(i) == Some(&'.') {
                    name.push('.');
                    i += 1;
                    continue;
                }
                if !matches!(chars.get(i), Some(c) if c.is_alphanumeric() || *c == '_' || matches!(c, '`' | '"' | '['))
                {
                    break;
                }
            }
            out.push(if quoted {
                Token::Name(name)
            } else {
                Token::Word(name)
            });
        } else {
            out.push(Token::Other);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lightdash/lightdash-demo-saas` `lightdash/charts/avg-days-in-sales-cycle.sql.yml`
    /// (reduced): a CTE over a fully quoted BigQuery table.
    const DEMO_SQL: &str = "WITH metrics AS (\n  SELECT DATE_TRUNC(deals.created_date, MONTH) AS m\n  FROM `lightdash-healthcare-demo`.`lightdash_demo_saas`.`deals` AS deals\n  WHERE deals.stage IN ('Closed Won', 'Lost', 'Won')\n)\nSELECT FORMAT_DATE('%Y-%m', m) AS deals_created_month\nFROM metrics\nGROUP BY 1\nORDER BY 1 DESC\nLIMIT 500;";

    #[test]
    fn tables_leave_ctes_out_and_unquote_names() {
        assert_eq!(
            sql_tables(DEMO_SQL),
            ["lightdash-healthcare-demo.lightdash_demo_saas.deals"]
        );
    }

    #[test]
    fn tables_from_joins_lists_subqueries_and_comments() {
        let sql = "select * from analytics.orders o\n-- from commented.out\njoin \"Sales\".\"Customers\" c on c.id = o.cid\nleft join (select id from raw.payments /* from nope */) p on p.id = o.id\nwhere o.note = 'from strings'";
        assert_eq!(
            sql_tables(sql),
            ["analytics.orders", "Sales.Customers", "raw.payments",]
        );
        assert_eq!(sql_tables("SELECT * FROM a x, b AS y"), ["a", "b"]);
        assert!(sql_tables("select 1").is_empty());
    }

    #[test]
    fn code_block_fences_longer_than_any_backtick_run() {
        let b = code_block("select ```x``` from `t`", 100);
        assert!(b.starts_with("````sql\n"), "{b}");
        assert!(b.ends_with("\n````"), "{b}");
        let short = code_block(&"x".repeat(50), 10);
        assert!(short.contains('…') && short.chars().count() < 30, "{short}");
    }

    #[test]
    fn columns_come_from_field_config_and_table_columns() {
        let config: Value = serde_json::json!({
            "fieldConfig": {"x": {"reference": "deals_created_month", "type": "category"},
                            "y": [{"aggregation": "avg", "reference": "avg_days_in_sales_cycle"}]},
            "type": "vertical_bar"
        });
        assert_eq!(
            columns(Some(&config)),
            [
                "deals_created_month (x axis)",
                "avg_days_in_sales_cycle (y axis, avg)"
            ]
        );
        let table: Value = serde_json::json!({"columns": {
            "a": {"reference": "a", "visible": true}, "b": {"visible": false}}});
        assert_eq!(columns(Some(&table)), ["a (column)"]);
    }

    /// The whole asset for the demo-saas SQL chart, reviewed as a snapshot.
    #[test]
    fn sql_chart_asset_snapshot() {
        use crate::lightdash::types::{
            ChartKind, DashboardSummary, Project, ProjectType, SpaceSummary,
        };
        use crate::render::{RenderOptions, SpaceTree};
        let project = Project {
            project_uuid: "p-demo".into(),
            name: "Plumly".into(),
            project_type: ProjectType::Default,
        };
        let spaces = vec![SpaceSummary {
            uuid: "sp-shared".into(),
            name: "Shared".into(),
            ..Default::default()
        }];
        let tree = SpaceTree::new(&spaces);
        let options = RenderOptions {
            site_url: "https://ld.example".into(),
            max_description_chars: 20_000,
        };
        let view = ProjectView {
            project: &project,
            spaces: &tree,
            options: &options,
        };
        let summary = ChartSummary {
            uuid: "5d0c1a43-6a4f-4bd1-9a7e-2f0f6b3a1c11".into(),
            name: "Avg. Days in Sales Cycle".into(),
            description: Some("The average amount of time deals spent from open to close in the sales cycle (regardless of win/lose)".into()),
            slug: Some("avg-days-in-sales-cycle".into()),
            space_uuid: "sp-shared".into(),
            updated_at: Some("2026-10-01T08:00:00.000Z".into()),
            chart_kind: Some(ChartKind::VerticalBar),
            source: Some("sql".into()),
            ..Default::default()
        };
        let details: ChartDetails = serde_json::from_value(serde_json::json!({
            "name": "Avg. Days in Sales Cycle", "slug": "avg-days-in-sales-cycle",
            "chartKind": "vertical_bar", "limit": 500, "sql": DEMO_SQL, "spaceSlug": "shared",
            "config": {"fieldConfig": {"x": {"reference": "deals_created_month", "type": "category"},
                        "y": [{"aggregation": "avg", "reference": "avg_days_in_sales_cycle"}]},
                       "type": "vertical_bar"}
        }))
        .unwrap();
        let board = DashboardSummary {
            uuid: "d".into(),
            name: "Plumly Sales".into(),
            space_uuid: "sp-shared".into(),
            ..Default::default()
        };
        let asset = render(&view, &summary, &details, &[&board]);
        insta::assert_snapshot!(asset.dot_description.unwrap());
    }
}
