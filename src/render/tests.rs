//! Snapshot and property tests of the three renderers, over realistic fixtures in the real
//! Lightdash shapes (`tests/fixtures/render/project.json`) and the real examples in
//! `tests/fixtures/shared`.

use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use super::*;
use crate::lightdash::types::AsCodePage;

#[derive(Deserialize)]
struct Item<S, D> {
    summary: S,
    details: Option<D>,
}

#[derive(Deserialize)]
struct Fixture {
    project: Project,
    spaces: Vec<SpaceSummary>,
    explores: Explores,
    charts: Vec<Item<ChartSummary, ChartDetails>>,
    dashboards: Vec<Item<DashboardSummary, DashboardDetails>>,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("../../tests/fixtures/render/project.json")).unwrap()
}

fn options(cap: usize) -> RenderOptions {
    RenderOptions {
        site_url: "https://lightdash.example.com/".into(),
        max_description_chars: cap,
    }
}

/// The asset's fields, then its markdown: what a reviewer needs to judge the output.
fn show(a: &ExternalAsset) -> String {
    let mut meta = serde_json::to_value(a).unwrap();
    let md = meta["dot_description"].take();
    // As `preview` shows it: the markdown follows, so the JSON only says how long it is.
    meta["dot_description"] = format!(
        "<{} characters, shown below>",
        md.as_str().map_or(0, |m| m.chars().count())
    )
    .into();
    format!(
        "{}\n---\n{}\n",
        serde_json::to_string_pretty(&meta).unwrap(),
        md.as_str().unwrap_or("<none>")
    )
}

fn render_fixture_dashboard(f: &Fixture, cap: usize) -> ExternalAsset {
    let tree = SpaceTree::new(&f.spaces);
    let opts = options(cap);
    let view = ProjectView {
        project: &f.project,
        spaces: &tree,
        options: &opts,
    };
    let mut index = ChartIndex::default();
    for c in &f.charts {
        index.insert(&c.summary, c.details.as_ref());
    }
    let d = &f.dashboards[0];
    render_dashboard(
        &view,
        &d.summary,
        d.details.as_ref().unwrap(),
        &index,
        &f.explores,
    )
}

fn render_fixture_chart(f: &Fixture, i: usize) -> ExternalAsset {
    let tree = SpaceTree::new(&f.spaces);
    let opts = options(20_000);
    let view = ProjectView {
        project: &f.project,
        spaces: &tree,
        options: &opts,
    };
    let c = &f.charts[i];
    let other = DashboardSummary {
        uuid: "db-exec".into(),
        name: "Executive summary".into(),
        space_uuid: "sp-sales".into(),
        ..Default::default()
    };
    let shown_on = [&other, &f.dashboards[0].summary];
    render_chart(
        &view,
        &c.summary,
        c.details.as_ref().unwrap(),
        &f.explores,
        &shown_on,
    )
}

#[test]
fn dashboard_snapshot() {
    let f = fixture();
    let a = render_fixture_dashboard(&f, 20_000);
    assert_eq!(a.id, "lightdash-dashboard-db-sales");
    assert_eq!(a.folder.as_deref(), Some("Jaffle Shop/Sales"));
    assert_eq!(a.view_count, Some(1234));
    insta::assert_snapshot!("dashboard_sales_overview", show(&a));
}

#[test]
fn chart_snapshots() {
    let f = fixture();
    for (i, name) in [
        (0, "chart_monthly_revenue"),
        (1, "chart_revenue_by_industry"),
        (2, "chart_orders_kpi"),
    ] {
        let a = render_fixture_chart(&f, i);
        assert_eq!(a.subtype, "lightdash_chart");
        insta::assert_snapshot!(name, show(&a));
    }
}

#[test]
fn space_snapshots() {
    let f = fixture();
    let tree = SpaceTree::new(&f.spaces);
    let opts = options(20_000);
    let view = ProjectView {
        project: &f.project,
        spaces: &tree,
        options: &opts,
    };
    let sales = tree.get("sp-sales").unwrap();
    let dashboards: Vec<&DashboardSummary> = f.dashboards.iter().map(|d| &d.summary).collect();
    let charts: Vec<&ChartSummary> = f
        .charts
        .iter()
        .map(|c| &c.summary)
        .filter(|c| c.space_uuid == "sp-sales")
        .collect();
    let children = tree.children("sp-sales");
    let a = render_space(&view, sales, &dashboards, &charts, &children);
    assert_eq!(a.folder.as_deref(), Some("Jaffle Shop"));
    assert_eq!(a.view_count, None);
    insta::assert_snapshot!("space_sales", show(&a));

    // A nested space sits in its parent's folder.
    let emea = tree.get("sp-emea").unwrap();
    let charts: Vec<&ChartSummary> = f
        .charts
        .iter()
        .map(|c| &c.summary)
        .filter(|c| c.space_uuid == "sp-emea")
        .collect();
    let a = render_space(&view, emea, &[], &charts, &tree.children("sp-emea"));
    assert_eq!(a.folder.as_deref(), Some("Jaffle Shop/Sales"));
    assert_eq!(a.id, "lightdash-space-sp-emea");
    insta::assert_snapshot!("space_emea_nested", show(&a));
}

#[test]
fn rendering_is_deterministic() {
    let f = fixture();
    let a = render_fixture_dashboard(&f, 20_000);
    for _ in 0..5 {
        // A fresh fixture means fresh HashMaps with fresh random iteration orders.
        assert_eq!(render_fixture_dashboard(&fixture(), 20_000), a);
    }
    assert_eq!(
        render_fixture_chart(&fixture(), 0),
        render_fixture_chart(&f, 0)
    );
}

#[test]
fn cap_is_applied_to_rendered_assets() {
    let f = fixture();
    let full = render_fixture_dashboard(&f, 100_000)
        .dot_description
        .unwrap();
    let cut = render_fixture_dashboard(&f, 700).dot_description.unwrap();
    assert!(full.chars().count() > 700);
    assert!(cut.chars().count() <= 700);
    assert!(cut.contains("… (truncated: "), "{cut}");
    let kept = cut.split("\n\n… (truncated").next().unwrap();
    assert!(full.starts_with(kept));
}

/// The real as-code examples (01 chart, 02 dashboard) and the real explore (06).
#[test]
fn real_examples_snapshot() {
    let project = Project {
        project_uuid: "p-demo".into(),
        name: "Lightdash demo SaaS".into(),
        project_type: crate::lightdash::types::ProjectType::Default,
    };
    let spaces = vec![SpaceSummary {
        uuid: "sp-shared".into(),
        name: "Shared".into(),
        ..Default::default()
    }];
    let tree = SpaceTree::new(&spaces);
    let opts = options(20_000);
    let view = ProjectView {
        project: &project,
        spaces: &tree,
        options: &opts,
    };
    let charts: Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/shared/01-charts-as-code.2025-08.json"
    ))
    .unwrap();
    let charts: AsCodePage<ChartDetails> =
        serde_json::from_value(charts["results"].clone()).unwrap();
    let chart = &charts.charts[0];
    let chart_summary = ChartSummary {
        uuid: "c-monthly-loss-rate".into(),
        name: chart.name.clone(),
        description: chart.description.as_deref().map(Into::into),
        slug: chart.slug.as_deref().map(Into::into),
        space_uuid: "sp-shared".into(),
        updated_at: chart.updated_at.clone(),
        views: 12,
        ..Default::default()
    };
    let dashboards: Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/shared/02-dashboards-as-code.2025-08.json"
    ))
    .unwrap();
    let dashboards: AsCodePage<DashboardDetails> =
        serde_json::from_value(dashboards["results"].clone()).unwrap();
    let dash = &dashboards.dashboards[0];
    let dash_summary = DashboardSummary {
        uuid: "d-various".into(),
        name: dash.name.clone(),
        description: dash.description.as_deref().map(Into::into),
        space_uuid: "sp-shared".into(),
        updated_at: dash.updated_at.clone(),
        views: 5,
        slug: dash.slug.as_deref().map(Into::into),
        ..Default::default()
    };
    let mut index = ChartIndex::default();
    index.insert(&chart_summary, Some(chart));
    // No deals explore in the examples: labels fall back to ids, which must still read.
    let no_explores = Explores::new();
    let d = render_dashboard(&view, &dash_summary, dash, &index, &no_explores);
    assert!(
        d.dot_description
            .as_deref()
            .unwrap()
            .contains("Monthly Loss Rate (line chart)")
    );
    insta::assert_snapshot!("real_02_dashboard", show(&d));
    let c = render_chart(&view, &chart_summary, chart, &no_explores, &[&dash_summary]);
    assert!(c.description.is_none(), "empty description must be None");
    insta::assert_snapshot!("real_01_chart", show(&c));

    // A table chart over the real airports explore.
    let explore: Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/shared/06-explore.airports.json"
    ))
    .unwrap();
    let explore: Explore = serde_json::from_value(explore["results"].clone()).unwrap();
    let explores = Explores::from([("airports".to_owned(), explore)]);
    let details: ChartDetails = serde_json::from_value(serde_json::json!({
        "name": "Busiest airports",
        "tableName": "airports",
        "metricQuery": {"exploreName": "airports", "dimensions": ["airports_name", "airports_lat", "airports_lon"],
            "metrics": ["airports_total_passenger_volume"],
            "filters": {"dimensions": {"id": "g", "and": [{"id": "r", "target": {"fieldId": "airports_volume"}, "operator": "notNull", "values": []}]}},
            "sorts": [{"fieldId": "airports_total_passenger_volume", "descending": true}], "limit": 50},
        "chartConfig": {"type": "table"}
    }))
    .unwrap();
    let summary = ChartSummary {
        uuid: "c-airports".into(),
        name: "Busiest airports".into(),
        space_uuid: "sp-shared".into(),
        ..Default::default()
    };
    let a = render_chart(&view, &summary, &details, &explores, &[]);
    let md = a.dot_description.as_deref().unwrap();
    assert!(
        md.contains("| Total passenger volume | metric (sum) | Sum of annual passenger volume")
    );
    insta::assert_snapshot!("real_06_airports_chart", show(&a));
}

// ---- hostile input --------------------------------------------------------------------

/// Removes inline code spans (CommonMark: a run of n backticks up to the next run of exactly
/// n), honouring backslash escapes outside them. Code spans are inert in every renderer.
fn strip_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i]);
                out.push(chars[i + 1]);
                i += 2;
            }
            '`' => {
                let n = chars[i..].iter().take_while(|c| **c == '`').count();
                let mut j = i + n;
                let mut closed = None;
                while j < chars.len() {
                    if chars[j] == '`' {
                        let m = chars[j..].iter().take_while(|c| **c == '`').count();
                        if m == n {
                            closed = Some(j + m);
                            break;
                        }
                        j += m;
                    } else {
                        j += 1;
                    }
                }
                match closed {
                    Some(end) => {
                        out.push_str("CODE");
                        i = end;
                    }
                    None => {
                        out.push_str(&"`".repeat(n));
                        i += n;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Unescaped `|` in a line.
fn cell_separators(line: &str) -> usize {
    let mut n = 0;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => n += 1,
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
    }
    n
}

fn assert_safe(md: &str) {
    for (i, line) in md.lines().enumerate() {
        if line.starts_with('|') {
            assert_eq!(cell_separators(line), 4, "table row broken: {line:?}");
            assert!(line.ends_with('|'), "table row broken: {line:?}");
        }
        if line.starts_with('#') {
            assert!(
                (i == 0 && line.starts_with("# "))
                    || line.starts_with("## ")
                    || line.starts_with("### "),
                "user text made a heading: {line:?}"
            );
        }
        if line.starts_with("- Link: ") {
            // Our own deep link; its characters are checked by `escape::our_url`'s tests.
            continue;
        }
        let text = strip_code_spans(line);
        let chars: Vec<char> = text.chars().collect();
        for w in chars.windows(2) {
            assert!(
                !(w[0] == '<' && (w[1].is_alphabetic() || w[1] == '/' || w[1] == '!')),
                "raw HTML: {line:?}"
            );
            assert!(!(w[0] == ']' && w[1] == '('), "link: {line:?}");
            assert!(!(w[0] == '!' && w[1] == '['), "image: {line:?}");
        }
        assert!(!text.contains("://"), "bare URL outside code: {line:?}");
        assert!(
            !text.to_lowercase().contains("www."),
            "bare URL outside code: {line:?}"
        );
        assert!(
            !line.chars().any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{FEFF}') || (c.is_control() && c != '\n')),
            "invisible character: {line:?}"
        );
    }
}

fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "|",
        "\n",
        "\r\n",
        "<script>alert(1)</script>",
        "[x](http://e.com)",
        "![i](u)",
        "<http://x>",
        "\u{202E}",
        "\u{2066}",
        "\u{200B}",
        "\u{FEFF}",
        "`",
        "```",
        "#",
        "# ",
        "- ",
        "1. ",
        "*",
        "_",
        "~",
        "\\",
        "&amp;",
        "&lt;script&gt;",
        "&#x3C;img src=x&#62;",
        "&#60;a href=y&gt;",
        "&amp;lt;b&amp;gt;",
        "&#x202E;",
        "&",
        "&nbsp;",
        "<!-- c -->",
        "</div>",
        "www.x.io",
        "a@b.io",
        "]",
        "(",
        "> ",
        "\t",
        "\u{0007}",
        "Revenue",
        " ",
        "é",
        "ü漢",
        // Case mapping changes byte lengths (field report: `İ` panicked date-part labels).
        "İ",
        "ẞ",
        "\u{212A}",
        "ǅ",
        "ΐ",
        " month",
        " MONTH",
        " Year",
    ]);
    prop::collection::vec(
        prop_oneof![pieces.prop_map(str::to_owned), any::<String>()],
        0..8,
    )
    .prop_map(|v| v.concat())
}

fn hostile_fixture(s: &[String]) -> Fixture {
    let mut f = fixture();
    let h = |i: usize| s[i % s.len()].clone();
    f.project.name = h(0);
    for (i, sp) in f.spaces.iter_mut().enumerate() {
        sp.name = h(i + 1);
    }
    if let Some(e) = f.explores.get_mut("orders") {
        e.label = Some(h(2));
        for t in e.tables.values_mut() {
            t.label = Some(h(3));
            for (i, fld) in t
                .dimensions
                .values_mut()
                .chain(t.metrics.values_mut())
                .enumerate()
            {
                fld.label = Some(h(4 + i));
                fld.table_label = Some(h(5 + i));
                fld.description = Some(h(6 + i));
                fld.ai_hint = Some(h(7 + i));
            }
        }
    }
    for (i, c) in f.charts.iter_mut().enumerate() {
        c.summary.name = h(i);
        c.summary.description = Some(h(i + 3).into());
        c.summary.dashboard_name = Some(h(i + 5).into());
        c.summary.updated_by_user = Some(
            crate::lightdash::types::UserRef {
                first_name: Some(h(i + 6).into()),
                ..Default::default()
            }
            .into(),
        );
        if let Some(d) = c.details.as_mut() {
            let q = &mut d.metric_query;
            for m in &mut q.additional_metrics {
                m.label = Some(h(i + 1));
            }
            for cd in &mut q.custom_dimensions {
                cd.name = h(i + 2);
                cd.sql = Some(h(i + 3));
            }
            for t in &mut q.table_calculations {
                t.display_name = h(i + 4);
                t.sql = h(i + 5);
            }
            q.metrics.push(h(i + 6));
            set_values(&mut q.filters.dimensions, &h(i + 7));
        }
    }
    let d = &mut f.dashboards[0];
    d.summary.name = h(1);
    d.summary.description = Some(h(2).into());
    let det = d.details.as_mut().unwrap();
    for (i, t) in det.tabs.iter_mut().enumerate() {
        t.name = h(i + 3);
    }
    for (i, t) in det.tiles.iter_mut().enumerate() {
        t.properties.title = Some(h(i));
        t.properties.content = Some(h(i + 1));
        t.properties.text = Some(h(i + 2));
        t.properties.url = Some(h(i + 3));
        t.properties.chart_name = Some(h(i + 4));
    }
    for (i, r) in det.filters.dimensions.iter_mut().enumerate() {
        r.label = Some(h(i + 5));
        r.values.push(Value::String(h(i + 6)));
        r.operator = crate::lightdash::types::FilterOperator::from(h(i + 7).as_str());
    }
    f
}

fn set_values(node: &mut Option<crate::lightdash::types::FilterNode>, v: &str) {
    use crate::lightdash::types::FilterNode;
    fn walk(n: &mut FilterNode, v: &str) {
        match n {
            FilterNode::Rule(r) => r.values.push(Value::String(v.to_owned())),
            FilterNode::And(c) | FilterNode::Or(c) => c.iter_mut().for_each(|c| walk(c, v)),
        }
    }
    if let Some(n) = node {
        walk(n, v);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn hostile_text_never_escapes(s in prop::collection::vec(hostile(), 12)) {
        let f = hostile_fixture(&s);
        let d = render_fixture_dashboard(&f, 100_000);
        assert_safe(d.dot_description.as_deref().unwrap());
        for i in 0..3 {
            let c = render_fixture_chart(&f, i);
            assert_safe(c.dot_description.as_deref().unwrap());
        }
        let tree = SpaceTree::new(&f.spaces);
        let opts = options(100_000);
        let view = ProjectView { project: &f.project, spaces: &tree, options: &opts };
        let charts: Vec<&ChartSummary> = f.charts.iter().map(|c| &c.summary).collect();
        let dashboards: Vec<&DashboardSummary> = f.dashboards.iter().map(|d| &d.summary).collect();
        let sp = tree.get("sp-emea").unwrap();
        let a = render_space(&view, sp, &dashboards, &charts, &tree.children("sp-emea"));
        assert_safe(a.dot_description.as_deref().unwrap());
    }
}
