//! The scale benchmark harness (I/O): a synthetic Lightdash served by the in-process mock, a
//! mock Dot, and the real binary run once per scenario so its CPU time and peak RSS are its
//! own. Used by `benches/scale.rs` (full size, release build) and by a smoke test (small,
//! debug build, no timing assertions).
//!
//! Scenarios, on one state: cold full cycle, no-change incremental, one chart edited, deep,
//! full resync, a resync with Dot rate-limited, and the naive crawl of existing connectors
//! (every detail through the legacy per-item routes, push everything) for comparison.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::synthetic::{SyntheticSpec, synthetic};
use lightdash_dot_sync::demo::content::LightdashContent;
use lightdash_dot_sync::demo::mock_dot::{MockDot, MockDotHandle, MockDotOptions};
use lightdash_dot_sync::demo::mock_lightdash::{
    MockLightdash, MockLightdashHandle, MockLightdashOptions, Route,
};
use lightdash_dot_sync::dot::DotClient;
use lightdash_dot_sync::dot::types::{AssetKind, ExternalAsset};
use lightdash_dot_sync::lightdash::LightdashClient;
use lightdash_dot_sync::stats::ApiCounters;

/// One scenario's figures.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Measurement {
    /// Scenario name.
    pub name: String,
    /// Exit code of the binary (0 for in-process runs).
    pub exit_code: i32,
    /// Lightdash requests by route.
    pub lightdash_requests: BTreeMap<String, usize>,
    /// Lightdash requests in all.
    pub lightdash_total: usize,
    /// Dot requests.
    pub dot_requests: usize,
    /// Wall time.
    pub wall_ms: u64,
    /// CPU time of the sync process.
    pub cpu_ms: u64,
    /// Peak RSS of the sync process.
    pub peak_rss_kb: u64,
    /// State size on disk after the scenario.
    pub state_bytes: u64,
    /// Dot requests per second over the push phase (first to last Dot request).
    pub dot_rate: f64,
    /// Ids pushed to Dot.
    pub pushed_ids: Vec<String>,
    /// Uuids or slugs requested through the as-code `ids=` parameter.
    pub detail_ids: Vec<String>,
}

/// The whole run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BenchResult {
    /// Content size.
    pub spec: String,
    /// Assets in scope (spaces + dashboards + charts).
    pub assets: usize,
    /// The chart edited in the one-edit scenario.
    pub edited_chart: String,
    /// Dashboards showing it.
    pub edited_chart_dashboards: Vec<String>,
    /// Logical bytes in the state after the runs.
    pub state_logical_bytes: u64,
    /// Per scenario.
    pub scenarios: Vec<Measurement>,
}

struct Env {
    lightdash: MockLightdashHandle,
    dot: MockDotHandle,
    config: PathBuf,
    state: PathBuf,
}

fn write_config(dir: &Path, ld: &str, dot: &str, dot_rps: f64) -> std::io::Result<PathBuf> {
    std::fs::write(
        dir.join("lightdash.token"),
        MockLightdashOptions::default().token,
    )?;
    std::fs::write(dir.join("dot.token"), MockDotOptions::default().api_key)?;
    let config = dir.join(format!("config-{dot_rps}.toml"));
    std::fs::write(
        &config,
        format!(
            "[lightdash]\nurl = \"{ld}\"\napi_key_file = \"{}\"\nrequests_per_second = 2000.0\ntimeout_secs = 300\n\
             [dot]\nurl = \"{dot}\"\napi_key_file = \"{}\"\nrequests_per_second = {dot_rps:.1}\nconcurrency = 8\nmax_attempts = 3\n\
             [state]\npath = \"{}\"\n[server]\nlisten = \"\"\n[log]\nformat = \"json\"\nlevel = \"info\"\n",
            dir.join("lightdash.token").display(),
            dir.join("dot.token").display(),
            dir.join("state").display()
        ),
    )?;
    Ok(config)
}

fn route_name(r: Option<Route>) -> String {
    r.map(|r| format!("{r:?}"))
        .unwrap_or_else(|| "other".into())
}

async fn run_binary(
    binary: &Path,
    env: &Env,
    config: &Path,
    name: &str,
    args: &[&str],
) -> Measurement {
    eprintln!("bench: {name}");
    env.lightdash.clear_requests();
    env.dot.clear_requests();
    let started = Instant::now();
    let output = tokio::process::Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .envs(
            std::env::var("LDSYNC_BENCH_CHILD_LOG")
                .ok()
                .map(|l| ("RUST_LOG", l)),
        )
        .output()
        .await
        .expect("the binary runs");
    let wall_ms = started.elapsed().as_millis() as u64;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Value = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("message").and_then(Value::as_str) == Some("cycle finished"))
        .unwrap_or(Value::Null);
    let mut m = measure_mocks(env, name);
    m.exit_code = output.status.code().unwrap_or(-1);
    m.wall_ms = wall_ms;
    m.cpu_ms = summary.get("cpu_ms").and_then(Value::as_u64).unwrap_or(0);
    m.peak_rss_kb = summary
        .get("peak_rss_kb")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    m.state_bytes = dir_size(&env.state);
    if std::env::var_os("LDSYNC_BENCH_CHILD_LOG").is_some() {
        eprintln!("{stderr}");
    }
    if m.exit_code != 0 {
        eprintln!("{name}: exit {}: {stderr}", m.exit_code);
    }
    m
}

fn measure_mocks(env: &Env, name: &str) -> Measurement {
    let mut m = Measurement {
        name: name.to_owned(),
        ..Default::default()
    };
    for r in env.lightdash.requests() {
        *m.lightdash_requests.entry(route_name(r.route)).or_default() += 1;
        m.lightdash_total += 1;
        m.detail_ids.extend(r.query_values("ids"));
    }
    let dot = env.dot.requests();
    m.dot_requests = dot.len();
    m.pushed_ids = dot.iter().filter_map(|r| r.id.clone()).collect();
    m.pushed_ids.sort();
    if let (Some(first), Some(last)) = (dot.first(), dot.last()) {
        let span = last.at.duration_since(first.at).as_secs_f64();
        if span > 0.0 {
            m.dot_rate = (dot.len() - 1) as f64 / span;
        }
    }
    m
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The strategy of existing connectors: list, then every chart and dashboard through the
/// legacy per-item routes, then push everything. Run in-process with our clients.
async fn naive(env: &Env, content: &LightdashContent, concurrency: usize) -> Measurement {
    use futures_util::StreamExt;
    eprintln!("bench: naive crawl");
    env.lightdash.clear_requests();
    env.dot.clear_requests();
    let started = Instant::now();
    let base = url::Url::parse(&env.lightdash.url()).expect("mock url");
    let ld = LightdashClient::new(
        base,
        &MockLightdashOptions::default().token.into(),
        2000.0,
        Duration::from_secs(30),
        Arc::new(ApiCounters::new("naive-lightdash")),
    );
    let dot = DotClient::new(
        &url::Url::parse(&env.dot.url()).expect("mock url"),
        lightdash_dot_sync::config::DotAuth::Header {
            api_key: MockDotOptions::default().api_key.into(),
        },
        2000.0,
        3,
        Duration::from_secs(30),
        Arc::new(ApiCounters::new("naive-dot")),
    );
    for p in &content.projects {
        let uuid = p.project.project_uuid.clone();
        let _ = ld.projects().await;
        let (spaces, dashboards, charts) = (
            ld.spaces(&uuid).await,
            ld.dashboards(&uuid).await,
            ld.charts(&uuid).await,
        );
        let (Ok(spaces), Ok(dashboards), Ok(charts)) = (spaces, dashboards, charts) else {
            continue;
        };
        let mut assets: Vec<ExternalAsset> = Vec::new();
        let chart_details: Vec<_> =
            futures_util::stream::iter(charts.iter().map(|c| c.uuid.clone()))
                .map(|u| {
                    let ld = ld.clone();
                    async move { (u.clone(), ld.saved_chart(&u).await) }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        let dash_details: Vec<_> =
            futures_util::stream::iter(dashboards.iter().map(|d| d.uuid.clone()))
                .map(|u| {
                    let ld = ld.clone();
                    async move { (u.clone(), ld.dashboard(&u).await) }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        let minimal = |kind: AssetKind, uuid: &str, name: &str, body: String| ExternalAsset {
            id: kind.asset_id(uuid),
            subtype: kind.subtype().into(),
            folder: None,
            name: Some(name.to_owned()),
            description: None,
            url: None,
            active: true,
            view_count: None,
            last_accessed_at: None,
            dot_description: Some(body),
        };
        for (u, d) in chart_details {
            if let Ok(d) = d {
                assets.push(minimal(
                    AssetKind::Chart,
                    &u,
                    &d.name,
                    serde_json::to_string(&d.metric_query).unwrap_or_default(),
                ));
            }
        }
        for (u, d) in dash_details {
            if let Ok(d) = d {
                assets.push(minimal(
                    AssetKind::Dashboard,
                    &u,
                    &d.name,
                    format!("{} tiles", d.tiles.len()),
                ));
            }
        }
        for s in &spaces {
            assets.push(minimal(AssetKind::Space, &s.uuid, &s.name, String::new()));
        }
        let _: Vec<_> = futures_util::stream::iter(assets)
            .map(|a| {
                let dot = dot.clone();
                async move { dot.upsert(&a).await.is_ok() }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    }
    let mut m = measure_mocks(env, "naive crawl (legacy routes, push all)");
    m.wall_ms = started.elapsed().as_millis() as u64;
    m
}

/// Which scenarios to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenarios {
    /// Cold, no-change, one chart edited, deep, full resync; plus, with `extras`, the
    /// rate-limited resync and the naive crawl.
    All {
        /// Also the rate-limited resync and the naive crawl (slow at large sizes).
        extras: bool,
    },
    /// Cold, no-change, deep and full resync: the full cycles and the listing-only baseline,
    /// for memory checks.
    Full,
}

/// Runs `scenarios` against `binary` on content of size `spec`; `dot_limit` is the Dot rate
/// for the rate-limited resync.
pub async fn run(binary: &Path, spec: SyntheticSpec, dot_limit: f64) -> BenchResult {
    run_scenarios(binary, spec, dot_limit, Scenarios::All { extras: true }).await
}

/// Runs `scenarios` on one state (see [`run`]).
pub async fn run_scenarios(
    binary: &Path,
    spec: SyntheticSpec,
    dot_limit: f64,
    scenarios: Scenarios,
) -> BenchResult {
    let content = synthetic(spec);
    let dir = tempfile_dir();
    let lightdash = MockLightdash::start(content.clone(), MockLightdashOptions::default())
        .await
        .expect("mock lightdash");
    let dot = MockDot::start(MockDotOptions::default())
        .await
        .expect("mock dot");
    let config = write_config(&dir, &lightdash.url(), &dot.url(), 100_000.0).expect("config");
    let limited = write_config(&dir, &lightdash.url(), &dot.url(), dot_limit).expect("config");
    let env = Env {
        lightdash,
        dot,
        config,
        state: dir.join("state"),
    };
    let project = &content.projects[0];
    let edited = project.charts[project.charts.len() / 2].summary.clone();
    let mut result = BenchResult {
        spec: format!("{spec:?}"),
        assets: content
            .projects
            .iter()
            .map(|p| p.spaces.len() + p.dashboards.len() + p.charts.len())
            .sum(),
        edited_chart: edited.uuid.clone(),
        edited_chart_dashboards: project
            .dashboards
            .iter()
            .filter(|d| {
                d.details
                    .tiles
                    .iter()
                    .any(|t| t.properties.saved_chart_uuid.as_deref() == Some(edited.uuid.as_str()))
            })
            .map(|d| d.summary.uuid.clone())
            .collect(),
        ..Default::default()
    };
    let cfg = env.config.clone();
    let mut run = async |name: &str, config: &Path, args: &[&str]| {
        let m = run_binary(binary, &env, config, name, args).await;
        result.scenarios.push(m);
    };
    run("cold full cycle", &cfg, &["--once"]).await;
    if scenarios == Scenarios::Full {
        run("no-change incremental", &cfg, &["--once"]).await;
        run("deep cycle", &cfg, &["--deep"]).await;
        run("full resync", &cfg, &["--resync"]).await;
    } else {
        run("no-change incremental", &cfg, &["--once"]).await;
        edit_chart(&env, &edited.uuid);
        run("one chart edited", &cfg, &["--once"]).await;
        run("deep cycle", &cfg, &["--deep"]).await;
        run("full resync", &cfg, &["--resync"]).await;
        if scenarios == (Scenarios::All { extras: true }) {
            let name = format!("full resync, Dot limited to {dot_limit}/s");
            run(&name, &limited, &["--resync"]).await;
        }
    }
    if scenarios == (Scenarios::All { extras: true }) {
        result.scenarios.push(naive(&env, &content, 8).await);
    }
    if let Ok((store, _)) = lightdash_dot_sync::state::Store::open(
        &env.state,
        &lightdash_dot_sync::state::Owner {
            pid: 0,
            listen: None,
        },
    ) {
        result.state_logical_bytes = store.logical_bytes();
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Serves content of size `spec` from the mocks until the process is killed, for profiling
/// the binary by hand (`LDSYNC_BENCH_SERVE=50000 cargo bench --bench scale`): prints the
/// config to run it with. The state directory is kept between runs of the binary.
pub async fn serve(spec: SyntheticSpec) {
    let content = synthetic(spec);
    let dir = tempfile_dir();
    let lightdash = MockLightdash::start(content, MockLightdashOptions::default())
        .await
        .expect("mock lightdash");
    let dot = MockDot::start(MockDotOptions::default())
        .await
        .expect("mock dot");
    let config = write_config(&dir, &lightdash.url(), &dot.url(), 100_000.0).expect("config");
    println!(
        "serving; run: lightdash-dot-sync --config {}",
        config.display()
    );
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        // Keeps the request logs from growing while serving for hours.
        lightdash.clear_requests();
        dot.clear_requests();
    }
}

/// The one-edit scenario's edit: a versioned change of the chart's query.
fn edit_chart(env: &Env, uuid: &str) {
    env.lightdash.update(|c| {
        if let Some(chart) = c.chart_mut(uuid) {
            chart.details.metric_query.limit = Some(42);
            chart
                .details
                .metric_query
                .sorts
                .iter_mut()
                .for_each(|s| s.descending = !s.descending);
            chart.summary.updated_at = Some("2026-11-22T12:00:00.000Z".into());
        }
    });
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ldsync-bench-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A markdown table of the results, for BENCHMARKS.md.
pub fn table(r: &BenchResult) -> String {
    let mut out = format!(
        "content: {} ({} assets); state: {:.1} MiB on disk for {:.1} MiB logical\n\n",
        r.spec,
        r.assets,
        r.scenarios.iter().map(|s| s.state_bytes).max().unwrap_or(0) as f64 / 1_048_576.0,
        r.state_logical_bytes as f64 / 1_048_576.0
    );
    out.push_str("| scenario | Lightdash requests | Dot requests | wall | CPU | peak RSS | state on disk | Dot req/s | exit |\n|---|---|---|---|---|---|---|---|---|\n");
    for s in &r.scenarios {
        let routes = s
            .lightdash_requests
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| {} | {} ({}) | {} | {:.2} s | {:.2} s | {} | {:.1} MiB | {:.0} | {} |\n",
            s.name,
            s.lightdash_total,
            routes,
            s.dot_requests,
            s.wall_ms as f64 / 1000.0,
            s.cpu_ms as f64 / 1000.0,
            if s.peak_rss_kb > 0 {
                format!("{:.0} MB", s.peak_rss_kb as f64 / 1024.0)
            } else {
                "-".into()
            },
            s.state_bytes as f64 / 1_048_576.0,
            s.dot_rate,
            s.exit_code
        ));
    }
    out
}

/// Peak RSS of the full cycles (cold, deep, resync) ≤ 150 MB; the no-change cycle ≤ 100 MB
/// and ≤ 1 s of CPU.
fn memory_targets(r: &BenchResult, line: &mut impl FnMut(bool, String)) {
    let mb = |kb: u64| kb as f64 / 1024.0;
    let full = r
        .scenarios
        .iter()
        .filter(|s| {
            ["cold", "deep", "full resync"]
                .iter()
                .any(|p| s.name.starts_with(p))
        })
        .map(|s| s.peak_rss_kb)
        .max()
        .unwrap_or(0);
    line(
        full <= 150 * 1024,
        format!(
            "full cycles peak RSS: {:.0} MB (target <= 150 MB)",
            mb(full)
        ),
    );
    if let Some(s) = r.scenarios.iter().find(|s| s.name.starts_with("no-change")) {
        line(
            s.peak_rss_kb <= 100 * 1024 && s.cpu_ms <= 1_000,
            format!(
                "no-change cycle: {:.0} MB peak RSS, {:.2} s CPU (target <= 100 MB, <= 1 s)",
                mb(s.peak_rss_kb),
                s.cpu_ms as f64 / 1000.0
            ),
        );
    }
}

/// Checks the BENCHMARKS.md targets; one line per target, `ok` or `MISS` with the figures.
pub fn check_targets(r: &BenchResult, dot_limit: f64) -> Vec<String> {
    let mut out = Vec::new();
    let find = |prefix: &str| r.scenarios.iter().find(|s| s.name.starts_with(prefix));
    let mut line =
        |ok: bool, text: String| out.push(format!("{} {text}", if ok { "ok  " } else { "MISS" }));
    let projects = 1; // the synthetic organisation used by the harness has one project
    if let Some(s) = find("no-change") {
        line(
            s.dot_requests == 0,
            format!(
                "no-change cycle: {} Dot requests (target 0)",
                s.dot_requests
            ),
        );
        // The mock serves the newest server generation: per project the three listings, the
        // trash and the verification list (older servers: the three listings only).
        let listing_requests = 1 + 5 * projects;
        line(
            s.lightdash_total <= listing_requests,
            format!(
                "no-change cycle: {} Lightdash requests (target <= {listing_requests})",
                s.lightdash_total,
            ),
        );
        line(
            s.detail_ids.is_empty(),
            format!(
                "no-change cycle: {} detail ids fetched (target 0)",
                s.detail_ids.len()
            ),
        );
        line(
            s.wall_ms < 2_000,
            format!(
                "no-change cycle: {:.2} s (target < 2 s)",
                s.wall_ms as f64 / 1000.0
            ),
        );
    }
    if let Some(s) = find("one chart") {
        let only_it = s
            .detail_ids
            .iter()
            .all(|id| id == &r.edited_chart || id.starts_with("chart-"))
            && s.detail_ids.len() == 1;
        line(
            only_it,
            format!(
                "one chart edited: detail ids fetched {:?} (target: that chart only)",
                s.detail_ids
            ),
        );
        let mut expected: Vec<String> = r
            .edited_chart_dashboards
            .iter()
            .map(|d| AssetKind::Dashboard.asset_id(d))
            .collect();
        expected.push(AssetKind::Chart.asset_id(&r.edited_chart));
        expected.sort();
        let pushed: Vec<String> = s
            .pushed_ids
            .iter()
            .filter(|id| !id.starts_with("lightdash-space-"))
            .cloned()
            .collect();
        line(
            pushed == expected,
            format!(
                "one chart edited: pushed {} (target: the chart + its {} dashboards)",
                s.pushed_ids.len(),
                r.edited_chart_dashboards.len()
            ),
        );
    }
    if let Some(s) = find("cold") {
        let rate = s.dot_requests as f64 / (s.wall_ms.max(1) as f64 / 1000.0);
        line(
            rate >= 500.0,
            format!("cold full push: {rate:.0} assets/s end to end (target >= 500)"),
        );
    }
    if let Some(s) = find("full resync, Dot limited") {
        line(
            s.dot_rate >= 0.95 * dot_limit,
            format!(
                "rate-limited resync: {:.1} req/s achieved of {dot_limit} (target >= {:.1})",
                s.dot_rate,
                0.95 * dot_limit
            ),
        );
    }
    memory_targets(r, &mut line);
    let disk = r.scenarios.iter().map(|s| s.state_bytes).max().unwrap_or(0);
    line(
        r.state_logical_bytes > 0 && disk <= 3 * r.state_logical_bytes,
        format!(
            "state on disk: {:.1} MiB for {:.1} MiB logical (target <= 3x)",
            disk as f64 / 1_048_576.0,
            r.state_logical_bytes as f64 / 1_048_576.0
        ),
    );
    let legacy: usize = r
        .scenarios
        .iter()
        .filter(|s| !s.name.starts_with("naive"))
        .map(|s| {
            s.lightdash_requests
                .get("LegacyDashboard")
                .copied()
                .unwrap_or(0)
        })
        .sum();
    line(
        legacy == 0,
        format!("view-counting dashboard GETs: {legacy} (target 0)"),
    );
    if let (Some(naive), Some(nochange), Some(cold)) =
        (find("naive"), find("no-change"), find("cold"))
    {
        out.push(format!(
            "naive crawl: {} Lightdash + {} Dot requests in {:.2} s; vs no-change cycle: {:.0}x the requests, {:.0}x the time; vs cold cycle: {:.1}x the requests, {:.1}x the time",
            naive.lightdash_total,
            naive.dot_requests,
            naive.wall_ms as f64 / 1000.0,
            (naive.lightdash_total + naive.dot_requests) as f64 / (nochange.lightdash_total + nochange.dot_requests).max(1) as f64,
            naive.wall_ms as f64 / nochange.wall_ms.max(1) as f64,
            (naive.lightdash_total + naive.dot_requests) as f64 / (cold.lightdash_total + cold.dot_requests).max(1) as f64,
            naive.wall_ms as f64 / cold.wall_ms.max(1) as f64,
        ));
    }
    out
}
