//! The scale harness at smoke size against the debug binary: checks the structural targets
//! (requests, detail fetches, pushes), never timings. The full run is `cargo bench --bench scale`.

#[path = "../benches/support/mod.rs"]
mod bench_support;

use bench_support::bench::{self, Scenarios};
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
    // Projects, then per project the three listings, the trash and the verification list.
    assert_eq!(quiet.lightdash_total, 1 + 5);
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

/// Memory does not grow with the organisation. At the base size every slice is already full
/// (500 charts, 100 dashboards) and the state's page cache is warm, so from the base (1,540
/// assets) to four times its size:
/// - what a full cycle (cold, deep, resync) needs beyond the no-change cycle (which holds the
///   listings and the state index only) grows by at most [`OVERHEAD_MARGIN_KB`]: the slices
///   are bounded, and only the per-project ids, tiles and signatures grow (about 1 KB per
///   asset; measured +5 MB). A cycle that held every asset's details and rendered body grew
///   by about 7 KB per asset, over 30 MB here;
/// - the peak itself grows by at most [`PEAK_MARGIN_KB`], which also covers the listings and
///   state index (about 3.5 KB per asset in a debug build; measured +21 MB in all; compacting
///   them is the next step, see BENCHMARKS.md).
///
/// Structural, never timed: peak RSS comes from the binary's own `/proc/self/status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_memory_does_not_grow_with_the_organisation() {
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_lightdash-dot-sync"));
    let base = SyntheticSpec {
        spaces: 40,
        dashboards: 500,
        charts: 1_000,
        ..SyntheticSpec::smoke()
    };
    let small = bench::run_scenarios(&binary, base, 1000.0, Scenarios::Full).await;
    let large = bench::run_scenarios(&binary, base.times(4), 1000.0, Scenarios::Full).await;
    assert_eq!(large.assets, 4 * small.assets);
    let ((small_peak, small_base), (large_peak, large_base)) = (peaks(&small), peaks(&large));
    let (small_over, large_over) = (
        small_peak.saturating_sub(small_base),
        large_peak.saturating_sub(large_base),
    );
    eprintln!(
        "peak RSS {small_peak} kB (no-change {small_base} kB) at {} assets; {large_peak} kB (no-change {large_base} kB) at 4x",
        base.total()
    );
    assert!(
        large_over <= small_over + OVERHEAD_MARGIN_KB,
        "a full cycle's memory beyond the listings grew from {small_over} kB to {large_over} kB at 4x the assets (margin {OVERHEAD_MARGIN_KB} kB)"
    );
    assert!(
        large_peak <= small_peak + PEAK_MARGIN_KB,
        "peak RSS grew from {small_peak} kB to {large_peak} kB at 4x the assets (margin {PEAK_MARGIN_KB} kB)"
    );
}

/// How much a full cycle's memory beyond the no-change cycle may grow from the base size to
/// four times it.
const OVERHEAD_MARGIN_KB: u64 = 10 * 1024;

/// How much the peak may grow from the base size to four times it.
const PEAK_MARGIN_KB: u64 = 30 * 1024;

/// The highest peak RSS of the full cycles, and the no-change cycle's, in kB.
fn peaks(r: &bench::BenchResult) -> (u64, u64) {
    for m in &r.scenarios {
        assert_eq!(m.exit_code, 0, "{} failed", m.name);
        assert!(m.peak_rss_kb > 0, "{} reported no peak RSS", m.name);
    }
    let of = |prefix: &str| {
        r.scenarios
            .iter()
            .filter(|m| m.name.starts_with(prefix))
            .map(|m| m.peak_rss_kb)
            .max()
            .unwrap()
    };
    let full = of("cold").max(of("deep")).max(of("full resync"));
    (full, of("no-change"))
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
