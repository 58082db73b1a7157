//! The scale harness at smoke size against the debug binary: checks the structural targets
//! (requests, detail fetches, pushes), never timings. The full run is `cargo bench --bench scale`.

#[path = "../benches/support/mod.rs"]
mod bench_support;

use bench_support::bench;
use bench_support::synthetic::{SyntheticSpec, synthetic};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_size_meets_the_structural_targets() {
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_lightdash-dot-sync"));
    let r = bench::run(&binary, SyntheticSpec::smoke(), 1000.0).await;
    let s = |name: &str| {
        r.scenarios
            .iter()
            .find(|s| s.name.starts_with(name))
            .unwrap()
            .clone()
    };
    for m in &r.scenarios {
        assert_eq!(m.exit_code, 0, "{} failed", m.name);
    }
    assert_eq!(
        s("cold").dot_requests,
        r.assets,
        "cold cycle pushes every asset"
    );
    let quiet = s("no-change");
    assert_eq!(quiet.dot_requests, 0);
    assert_eq!(quiet.lightdash_total, 1 + 3);
    assert!(quiet.detail_ids.is_empty());
    let edit = s("one chart");
    assert_eq!(edit.detail_ids.len(), 1, "{:?}", edit.detail_ids);
    let mut expected: Vec<String> = r
        .edited_chart_dashboards
        .iter()
        .map(|d| format!("lightdash-dashboard-{d}"))
        .collect();
    expected.push(format!("lightdash-chart-{}", r.edited_chart));
    expected.sort();
    let pushed: Vec<String> = edit
        .pushed_ids
        .iter()
        .filter(|i| !i.starts_with("lightdash-space-"))
        .cloned()
        .collect();
    assert_eq!(pushed, expected);
    assert_eq!(
        s("deep").dot_requests,
        0,
        "nothing differs after the edit was pushed"
    );
    assert_eq!(s("full resync").dot_requests, r.assets);
    assert!(
        r.scenarios
            .iter()
            .filter(|m| !m.name.starts_with("naive"))
            .all(|m| !m.lightdash_requests.contains_key("LegacyDashboard"))
    );
    let naive = s("naive");
    assert!(naive.lightdash_requests["LegacyDashboard"] > 0 && naive.dot_requests >= r.assets);
    assert!(r.state_logical_bytes > 0);
}

/// The synthetic organisation has the sizes asked for, is deterministic, and every chart's
/// fields exist in its explores.
#[test]
fn synthetic_sizes_and_determinism() {
    let spec = SyntheticSpec {
        projects: 2,
        spaces: 21,
        dashboards: 11,
        charts: 51,
        explores: 3,
        seed: 1,
    };
    let a = synthetic(spec);
    assert_eq!(a, synthetic(spec));
    assert_eq!(a.projects.iter().map(|p| p.charts.len()).sum::<usize>(), 51);
    assert_eq!(
        a.projects.iter().map(|p| p.dashboards.len()).sum::<usize>(),
        11
    );
    assert_eq!(a.projects.iter().map(|p| p.spaces.len()).sum::<usize>(), 21);
    for p in &a.projects {
        let fields: std::collections::HashSet<String> = p
            .explores
            .iter()
            .flat_map(|e| e.tables.values())
            .flat_map(|t| t.dimensions.values().chain(t.metrics.values()))
            .map(|f| format!("{}_{}", f.table, f.name))
            .collect();
        for c in &p.charts {
            for id in c
                .details
                .metric_query
                .metrics
                .iter()
                .chain(&c.details.metric_query.dimensions)
            {
                assert!(fields.contains(id), "{id} not in explores");
            }
        }
        for d in &p.dashboards {
            assert!((6..=12).contains(&d.details.tiles.len()));
        }
    }
}
