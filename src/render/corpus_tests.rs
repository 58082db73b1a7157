//! Snapshot tests over a corpus of real public Lightdash content (`tests/fixtures/corpus/`),
//! reduced and anonymised, each file naming its source. Every file is a "world" in the shape
//! of `shared/field-cases/`: `fragment` holds `project` (optional), `spaces`, `charts`
//! (listing fields and definition in one object, as Lightdash stores them), `dashboards` and
//! `explores`; `expect` says what given assets must and must not contain; `options` may set
//! `max_description_chars`. Each world renders every asset into one snapshot, in id order.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::*;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Fragment {
    project: Option<Project>,
    spaces: Vec<SpaceSummary>,
    charts: Vec<Value>,
    dashboards: Vec<Value>,
    explores: Explores,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Expect {
    contains: Vec<String>,
    not_contains: Vec<String>,
    folder: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct World {
    source: String,
    fragment: Fragment,
    expect: BTreeMap<String, BTreeMap<String, Expect>>,
    options: BTreeMap<String, Value>,
}

/// Every asset of a world, by id.
fn render_world(w: &World) -> BTreeMap<String, ExternalAsset> {
    let f = &w.fragment;
    let project = f.project.clone().unwrap_or(Project {
        project_uuid: "p-corpus".into(),
        name: "Demo project".into(),
        project_type: crate::lightdash::types::ProjectType::Default,
    });
    let tree = SpaceTree::new(&f.spaces);
    let cap = w
        .options
        .get("max_description_chars")
        .and_then(Value::as_u64)
        .unwrap_or(20_000) as usize;
    let opts = RenderOptions {
        site_url: "https://lightdash.example.com".into(),
        max_description_chars: cap,
    };
    let view = ProjectView {
        project: &project,
        spaces: &tree,
        options: &opts,
    };
    let dashboards: Vec<(DashboardSummary, DashboardDetails)> = f
        .dashboards
        .iter()
        .map(|d| {
            (
                serde_json::from_value(d.clone()).unwrap(),
                serde_json::from_value(d.clone()).unwrap(),
            )
        })
        .collect();
    let charts: Vec<(ChartSummary, ChartDetails)> = f
        .charts
        .iter()
        .map(|c| {
            let mut s: ChartSummary = serde_json::from_value(c.clone()).unwrap();
            s.dashboard_name = s.dashboard_uuid.as_deref().and_then(|u| {
                dashboards
                    .iter()
                    .find(|(d, _)| d.uuid == u)
                    .map(|(d, _)| d.name.as_str().into())
            });
            (s, serde_json::from_value(c.clone()).unwrap())
        })
        .collect();
    let mut index = ChartIndex::default();
    for (s, d) in &charts {
        index.insert(s, Some(d));
    }
    let mut out = BTreeMap::new();
    for (s, d) in &dashboards {
        let a = render_dashboard(&view, s, d, &index, &f.explores);
        out.insert(a.id.clone(), a);
    }
    for (s, d) in &charts {
        let shown_on: Vec<&DashboardSummary> = dashboards
            .iter()
            .filter(|(_, dd)| {
                dd.chart_uuids(&std::collections::HashMap::new())
                    .contains(&s.uuid)
            })
            .map(|(ds, _)| ds)
            .collect();
        let a = render_chart(&view, s, d, &f.explores, &shown_on);
        out.insert(a.id.clone(), a);
    }
    for space in &f.spaces {
        let ds: Vec<&DashboardSummary> = dashboards
            .iter()
            .map(|(s, _)| s)
            .filter(|s| s.space_uuid == space.uuid)
            .collect();
        let cs: Vec<&ChartSummary> = charts
            .iter()
            .map(|(s, _)| s)
            .filter(|s| s.space_uuid == space.uuid && s.dashboard_uuid.is_none())
            .collect();
        let a = render_space(&view, space, &ds, &cs, &tree.children(&space.uuid));
        out.insert(a.id.clone(), a);
    }
    out
}

fn check_and_snapshot(name: &str, json: &str) {
    let w: World = serde_json::from_str(json).unwrap();
    assert!(
        !w.source.trim().is_empty(),
        "{name}: every fixture names its source"
    );
    let assets = render_world(&w);
    for (id, exp) in w.expect.get("assets").into_iter().flatten() {
        let md = assets
            .get(id)
            .and_then(|a| a.dot_description.as_deref())
            .unwrap_or_else(|| panic!("{name}: no asset {id}"));
        if let Some(folder) = &exp.folder {
            assert_eq!(assets[id].folder.as_ref(), Some(folder), "{name}: {id}");
        }
        for c in &exp.contains {
            assert!(md.contains(c.as_str()), "{name}: {id} lacks {c:?}:\n{md}");
        }
        for c in &exp.not_contains {
            assert!(!md.contains(c.as_str()), "{name}: {id} has {c:?}:\n{md}");
        }
    }
    let cap = w
        .options
        .get("max_description_chars")
        .and_then(Value::as_u64)
        .unwrap_or(20_000) as usize;
    let mut shown = format!("source: {}\n", w.source);
    for a in assets.values() {
        let md = a.dot_description.as_deref().unwrap_or_default();
        assert!(md.chars().count() <= cap, "{name}: {} over the cap", a.id);
        // Issue 15, point 9: the opening is meaning, in plain words and short enough for a
        // retriever that embeds only the first 256 word pieces; links and bookkeeping follow.
        let lead = md.split("\n\n").nth(1).unwrap_or_default();
        assert!(
            lead.starts_with("A"),
            "{name}: {} opens with {lead:?}",
            a.id
        );
        assert!(
            lead.split_whitespace().count() <= 120,
            "{name}: {} lead too long",
            a.id
        );
        assert!(!lead.contains("://"), "{name}: {} lead holds a link", a.id);
        let link = md.find("Link: ").unwrap_or(usize::MAX);
        assert!(md.find(lead).unwrap_or(0) < link, "{name}: {}", a.id);
        shown.push_str(&format!(
            "\n==================== {} | folder {} ====================\n{md}\n",
            a.id,
            a.folder.as_deref().unwrap_or_default()
        ));
    }
    insta::assert_snapshot!(name, shown);
}

macro_rules! corpus {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check_and_snapshot(
                    concat!("corpus_", stringify!($test)),
                    include_str!(concat!("../../tests/fixtures/corpus/", $file)),
                );
            }
        )*
    };
}

corpus! {
    c03_sales_funnel => "03-sales-funnel.json",
    c04_cumulative_deal_value => "04-cumulative-deal-value.json",
    c05_revenue_share_by_plan => "05-revenue-share-by-plan.json",
    c06_table_calculation_forms => "06-table-calculation-forms.json",
    c07_decode_once_escape_once => "07-decode-once-escape-once.json",
    c08_slash_in_names => "08-slash-in-names.json",
    c09_long_dbt_description => "09-long-dbt-description.json",
    c10_capped_dashboard => "10-capped-dashboard.json",
    c11_customer_360 => "11-customer-360.json",
    c12_product_pulse => "12-product-pulse.json",
}
