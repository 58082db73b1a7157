//! The scale harness at smoke size against the debug binary: checks the structural targets
//! (requests, detail fetches, pushes), never timings. The full run is `cargo bench --bench scale`.

use lightdash_dot_sync::demo::bench;
use lightdash_dot_sync::demo::synthetic::SyntheticSpec;

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
