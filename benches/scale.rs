//! Scale benchmark: `cargo bench --bench scale` (release build). Runs the scenarios at 12,500,
//! 50,000 and 100,000 assets in one run, prints a markdown table per size and checks the
//! targets of BENCHMARKS.md, reporting misses (never failing on timing: these machines are
//! noisy). `LDSYNC_BENCH_SIZE=smoke` runs the small size only; `LDSYNC_BENCH_SIZES=12500,50000`
//! picks sizes. The rate-limited resync and the naive crawl run at the smallest size only.

mod support;

use support::bench::{self, Scenarios};
use support::synthetic::SyntheticSpec;

fn sizes() -> Vec<SyntheticSpec> {
    if std::env::var("LDSYNC_BENCH_SIZE").as_deref() == Ok("smoke") {
        return vec![SyntheticSpec::smoke()];
    }
    let sizes = std::env::var("LDSYNC_BENCH_SIZES").unwrap_or_else(|_| "12500,50000,100000".into());
    sizes
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .map(SyntheticSpec::assets)
        .collect()
}

fn main() {
    let dot_limit: f64 = std::env::var("LDSYNC_BENCH_DOT_RPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200.0);
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_lightdash-dot-sync"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(assets) = std::env::var("LDSYNC_BENCH_SERVE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        runtime.block_on(bench::serve(SyntheticSpec::assets(assets)));
        return;
    }
    let mut results = Vec::new();
    for (i, spec) in sizes().into_iter().enumerate() {
        let scenarios = Scenarios::All { extras: i == 0 };
        let result = runtime.block_on(bench::run_scenarios(&binary, spec, dot_limit, scenarios));
        println!("\n### {} assets\n", result.assets);
        println!("{}", bench::table(&result));
        for line in bench::check_targets(&result, dot_limit) {
            println!("{line}");
        }
        results.push(result);
    }
    if let Ok(path) = std::env::var("LDSYNC_BENCH_JSON") {
        let _ = std::fs::write(
            path,
            serde_json::to_vec_pretty(&results).unwrap_or_default(),
        );
    }
}
