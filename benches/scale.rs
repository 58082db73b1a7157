//! Scale benchmark: `cargo bench --bench scale` (release build). Prints a markdown table and
//! the raw JSON, and checks the targets of BENCHMARKS.md, reporting misses (never failing on
//! timing: these machines are noisy). `LDSYNC_BENCH_SIZE=smoke` runs the small size.

mod support;

use support::bench;
use support::synthetic::SyntheticSpec;

fn main() {
    let spec = match std::env::var("LDSYNC_BENCH_SIZE").as_deref() {
        Ok("smoke") => SyntheticSpec::smoke(),
        _ => SyntheticSpec::large(),
    };
    let dot_limit: f64 = std::env::var("LDSYNC_BENCH_DOT_RPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200.0);
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_lightdash-dot-sync"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = runtime.block_on(bench::run(&binary, spec, dot_limit));
    println!("{}", bench::table(&result));
    for line in bench::check_targets(&result, dot_limit) {
        println!("{line}");
    }
    if let Ok(path) = std::env::var("LDSYNC_BENCH_JSON") {
        let _ = std::fs::write(path, serde_json::to_vec_pretty(&result).unwrap_or_default());
    }
}
