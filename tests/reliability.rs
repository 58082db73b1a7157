//! Reliability proof suite (issue #6, RELIABILITY.md): the real binary against in-process
//! fault-injecting mocks of Lightdash and Dot.
//!
//! Every test checks the same two invariants over the full Dot request log on top of its own:
//! - **no wrongful deactivation**: no request ever carried `active: false` for an asset that
//!   is in scope in the mock Lightdash content;
//! - **contract**: every body the client sent validates against the `ExternalAsset` request
//!   schema of `../shared/specs/dot-openapi.json`, checked by the `jsonschema` crate fed that
//!   file (not by our serde types).
//!
//! Convergence means: after a clean run, Dot holds every in-scope asset, active, with the same
//! fields (all but `view_count`) as a reference Dot filled by one clean run on a fresh state.
//!
//! Figures are printed as `RELIABILITY-FIGURE test key=value` lines on stderr (visible with
//! `--nocapture`). `LDSYNC_CRASH_ITERATIONS` (default 30) and `LDSYNC_CRASH_SEED` set the
//! length and seed of the crash test; `LDSYNC_FAULT_SEED` the seed of the fault-rate tests.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lightdash_dot_sync::demo::content::{LightdashContent, bundled};
use lightdash_dot_sync::demo::mock_dot::{
    DotFault, DotFaultKind, DotFaultRate, DotRequest, MockDot, MockDotHandle, MockDotOptions,
};
use lightdash_dot_sync::demo::mock_lightdash::{
    Fault, FaultRate, MockLightdash, MockLightdashHandle, MockLightdashOptions, Route,
};
#[path = "../benches/support/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;
use serde_json::{Value, json};
use support::{Tmpfs, chart_id, expected_ids};
use synthetic::{SyntheticSpec, synthetic};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lightdash-dot-sync");
const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/specs/dot-openapi.json"
);
const LD_SECRET: &str = "SENTINEL-LD-SECRET-71623";
const DOT_SECRET: &str = "SENTINEL-DOT-SECRET-40981";

/// The timing-sensitive tests (rate limits, Retry-After) run alone; the others share.
static TIMING: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn figure(test: &str, key: &str, value: impl std::fmt::Display) {
    eprintln!("RELIABILITY-FIGURE {test} {key}={value}");
}

/// Settings the tests vary.
#[derive(Clone)]
struct Knobs {
    ld_rps: f64,
    dot_rps: f64,
    dot_attempts: u32,
    dot_timeout: u64,
    ld_timeout: u64,
    concurrency: usize,
    /// Items per as-code page served by the mock Lightdash (100 on real servers).
    ld_page_size: usize,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            ld_rps: 1000.0,
            dot_rps: 1000.0,
            dot_attempts: 3,
            dot_timeout: 10,
            ld_timeout: 10,
            concurrency: 4,
            ld_page_size: 100,
        }
    }
}

/// Mocks, a temp dir with tokens, config and state.
struct Rig {
    ld: MockLightdashHandle,
    dot: MockDotHandle,
    dir: tempfile::TempDir,
    knobs: Knobs,
    config: PathBuf,
}

/// One finished run of the binary.
#[derive(Debug)]
struct Run {
    code: i32,
    stderr: String,
    elapsed: Duration,
}

impl Rig {
    async fn start(content: LightdashContent, knobs: Knobs) -> Rig {
        let ld = MockLightdash::start(
            content,
            MockLightdashOptions {
                page_size: knobs.ld_page_size,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let dot = MockDot::start(MockDotOptions::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        let rig = Rig {
            ld,
            dot,
            dir,
            knobs,
            config,
        };
        rig.write_config(&rig.config, &rig.dot.url(), &rig.path("state"));
        rig
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn state(&self) -> PathBuf {
        self.path("state")
    }

    fn write_config(&self, at: &Path, dot_url: &str, state: &Path) {
        std::fs::write(
            self.path("lightdash.token"),
            format!("{}\n", MockLightdashOptions::default().token),
        )
        .unwrap();
        std::fs::write(
            self.path("dot.token"),
            format!("{}\n", MockDotOptions::default().api_key),
        )
        .unwrap();
        let k = &self.knobs;
        let text = format!(
            r#"[lightdash]
url = "{ld}"
api_key_file = {ld_token:?}
requests_per_second = {ld_rps:?}
timeout_secs = {ld_timeout}

[dot]
url = "{dot_url}"
api_key_file = {dot_token:?}
requests_per_second = {dot_rps:?}
concurrency = {concurrency}
max_attempts = {attempts}
timeout_secs = {dot_timeout}

[state]
path = {state:?}

[server]
listen = ""

[log]
format = "text"
level = "info"
"#,
            ld = self.ld.url(),
            ld_token = self.path("lightdash.token").display().to_string(),
            ld_rps = k.ld_rps,
            ld_timeout = k.ld_timeout,
            dot_token = self.path("dot.token").display().to_string(),
            dot_rps = k.dot_rps,
            concurrency = k.concurrency,
            attempts = k.dot_attempts,
            dot_timeout = k.dot_timeout,
            state = state.display().to_string(),
        );
        std::fs::write(at, text).unwrap();
    }

    fn command(&self, config: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(config).args(args);
        for (key, _) in std::env::vars() {
            if key.starts_with("LDSYNC_") {
                cmd.env_remove(key);
            }
        }
        cmd.env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn run_config(&self, config: &Path, args: &[&str]) -> Run {
        let start = Instant::now();
        let out = tokio::time::timeout(
            Duration::from_secs(120),
            self.command(config, args).output(),
        )
        .await
        .expect("the binary finishes within 120 s")
        .expect("the binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: start.elapsed(),
        }
    }

    /// Runs the binary on the rig's config.
    async fn run(&self, args: &[&str]) -> Run {
        self.run_config(&self.config, args).await
    }

    /// What a clean run makes of the current content: one `--once` on a fresh state against a
    /// second, fault-free mock Dot. Returns that Dot's assets.
    async fn reference(&self) -> BTreeMap<String, Value> {
        let dot = MockDot::start(MockDotOptions::default()).await.unwrap();
        let state = tempfile::tempdir().unwrap();
        let config = self.path("reference.toml");
        self.write_config(&config, &dot.url(), &state.path().join("state"));
        let run = self.run_config(&config, &["--once"]).await;
        assert_eq!(run.code, 0, "the reference run failed:\n{}", run.stderr);
        let assets = dot.raw_assets();
        let expected = expected_ids(&self.ld.content());
        let active: BTreeSet<String> = assets
            .iter()
            .filter(|(_, a)| is_active(a))
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(
            active, expected,
            "the reference run should hold exactly the in-scope assets"
        );
        assets
    }

    fn expected(&self) -> BTreeSet<String> {
        expected_ids(&self.ld.content())
    }

    /// Dot equals the reference on every in-scope asset, and holds nothing else active.
    fn assert_converged(&self, reference: &BTreeMap<String, Value>) {
        let problems = diff_dot(&self.dot.raw_assets(), reference, &self.expected());
        assert!(
            problems.is_empty(),
            "Dot differs from expected: {problems:#?}"
        );
    }

    /// The invariants every test checks over the whole Dot log.
    fn assert_invariants(&self) {
        let wrongful = wrongful_deactivations(&self.dot.requests(), &self.expected());
        assert!(wrongful.is_empty(), "live assets deactivated: {wrongful:?}");
        assert_contract(&self.dot.requests());
    }

    fn corrupt_dirs(&self) -> usize {
        std::fs::read_dir(self.state())
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("db.corrupt-"))
                    .count()
            })
            .unwrap_or(0)
    }
}

fn is_active(asset: &Value) -> bool {
    asset.get("active").and_then(Value::as_bool) != Some(false)
}

/// Differences between what Dot holds and the reference, on the fields the fingerprint
/// covers (everything but `view_count`).
fn diff_dot(
    dot: &BTreeMap<String, Value>,
    reference: &BTreeMap<String, Value>,
    expected: &BTreeSet<String>,
) -> Vec<String> {
    let strip = |a: &Value| {
        let mut a = a.clone();
        if let Some(map) = a.as_object_mut() {
            map.remove("view_count");
        }
        a
    };
    let mut problems = Vec::new();
    for id in expected {
        match (dot.get(id), reference.get(id)) {
            (None, _) => problems.push(format!("{id}: missing from Dot")),
            (Some(_), None) => problems.push(format!("{id}: missing from the reference")),
            (Some(got), Some(want)) => {
                if !is_active(got) {
                    problems.push(format!("{id}: inactive"));
                } else if strip(got) != strip(want) {
                    problems.push(format!("{id}: differs: got {got} want {want}"));
                }
            }
        }
    }
    for (id, asset) in dot {
        if !expected.contains(id) && is_active(asset) {
            problems.push(format!("{id}: active but not in scope"));
        }
    }
    problems
}

/// Requests that deactivated an in-scope asset.
fn wrongful_deactivations(requests: &[DotRequest], expected: &BTreeSet<String>) -> Vec<String> {
    requests
        .iter()
        .filter(|r| {
            r.body
                .pointer("/external_asset/active")
                .and_then(Value::as_bool)
                == Some(false)
        })
        .filter_map(|r| r.id.clone())
        .filter(|id| expected.contains(id))
        .collect()
}

/// The request-body schema of Dot's import route, straight from the OpenAPI file: the
/// operation's `$ref` resolved by the validator against the file's own `components`.
fn contract() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        // A worktree checked out away from `../shared` names the spec with LDSYNC_DOT_SPEC.
        let path = std::env::var("LDSYNC_DOT_SPEC").unwrap_or_else(|_| SPEC.to_owned());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let spec: Value = serde_json::from_str(&text).expect("the spec is JSON");
        let body_ref = spec
            .pointer("/paths/~1api~1import_and_overwrite_external_asset/post/requestBody/content/application~1json/schema/$ref")
            .and_then(Value::as_str)
            .expect("the import operation has a body schema $ref")
            .to_owned();
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": body_ref,
            "components": spec["components"].clone(),
        });
        jsonschema::validator_for(&schema).expect("the spec's schema compiles")
    })
}

/// Every body sent validates; returns how many were checked.
fn assert_contract(requests: &[DotRequest]) -> usize {
    let validator = contract();
    let mut bad = Vec::new();
    for r in requests {
        let errors: Vec<String> = validator
            .iter_errors(&r.body)
            .map(|e| e.to_string())
            .collect();
        if !errors.is_empty() {
            bad.push(format!("{:?}: {errors:?}", r.id));
        }
    }
    assert!(
        bad.is_empty(),
        "bodies violating the Dot contract: {bad:#?}"
    );
    requests.len()
}

/// The most timestamps in any window `[t, t + width)`.
fn max_in_window(times: &[Instant], width: Duration) -> usize {
    let mut times = times.to_vec();
    times.sort();
    let mut best = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while j < times.len() && times[j] < times[i] + width {
            j += 1;
        }
        best = best.max(j - i);
    }
    best
}

fn small_synthetic(spaces: usize, dashboards: usize, charts: usize, seed: u64) -> LightdashContent {
    synthetic(SyntheticSpec {
        projects: 1,
        spaces,
        dashboards,
        charts,
        explores: 2,
        seed,
    })
}

// ---------------------------------------------------------------------------------------
// 2. Crash consistency
// ---------------------------------------------------------------------------------------

/// SIGKILL `--once`, `--resync` and the daemon at seeded random points (some during start-up), with content
/// edits between runs and Dot slowed 5–20 ms per push so kills land mid-push; then one clean
/// run must make Dot equal the reference, and no live asset may ever have been deactivated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_consistency_sigkill_at_random_points() {
    let _shared = TIMING.read().await;
    const T: &str = "crash";
    let iterations = env_u64("LDSYNC_CRASH_ITERATIONS", 30);
    let seed = env_u64("LDSYNC_CRASH_SEED", 0x5eed);
    let started = Instant::now();
    let content = synthetic(SyntheticSpec {
        projects: 2,
        spaces: 12,
        dashboards: 24,
        charts: 80,
        explores: 2,
        seed: 11,
    });
    let rig = Rig::start(content, Knobs::default()).await;
    let delays = [5u64, 10, 15, 20]
        .map(|ms| DotFaultKind::Delay(Duration::from_millis(ms)))
        .to_vec();
    rig.dot.set_fault_rate(
        DotFaultRate {
            rate: 1.0,
            kinds: delays,
        },
        seed,
    );
    // How long one clean resync takes against the slowed Dot: kills are drawn over that span
    // (at least 0-300 ms), so they land in start-up, listings, fetches and pushes alike.
    let probe_dot = MockDot::start(MockDotOptions::default()).await.unwrap();
    probe_dot.set_fault_rate(
        DotFaultRate {
            rate: 1.0,
            kinds: vec![DotFaultKind::Delay(Duration::from_millis(12))],
        },
        seed,
    );
    let probe_state = tempfile::tempdir().unwrap();
    let probe_config = rig.path("probe.toml");
    rig.write_config(
        &probe_config,
        &probe_dot.url(),
        &probe_state.path().join("s"),
    );
    let probe = rig.run_config(&probe_config, &["--once"]).await;
    assert_eq!(probe.code, 0, "{}", probe.stderr);
    drop(probe_dot);
    let window_ms = (probe.elapsed.as_millis() as u64).max(300);
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut killed, mut startup_kills, mut finished_first, mut edits) = (0, 0, 0, 0);
    let mut daemons = 0;
    for i in 0..iterations {
        if rng.bool() {
            // Rename a few charts so incremental runs have pushes to be killed in.
            edits += 1;
            rig.ld.update(|c| {
                for _ in 0..5 {
                    let p = rng.usize(..c.projects.len());
                    let project = &mut c.projects[p];
                    if project.charts.is_empty() {
                        continue;
                    }
                    let n = rng.usize(..project.charts.len());
                    let chart = &mut project.charts[n];
                    let name = format!("chart edit {i}-{}", rng.u32(..));
                    chart.summary.name = name.clone();
                    chart.details.name = name;
                }
            });
        }
        // One-shot incremental runs, full resyncs, and the daemon (its start-up cycle).
        let args: &[&str] = match rng.u8(..6) {
            0 | 1 => &["--resync"],
            2 => {
                daemons += 1;
                &[]
            }
            _ => &["--once"],
        };
        let delay_ms = if rng.u8(..5) == 0 {
            rng.u64(0..20)
        } else {
            rng.u64(0..=window_ms)
        };
        let mut child = rig.command(&rig.config, args).spawn().expect("spawn");
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        if child.try_wait().expect("poll the child").is_none() {
            let pid = child.id().expect("running").to_string();
            let status = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .expect("run kill");
            assert!(status.success());
            killed += 1;
            if delay_ms < 20 {
                startup_kills += 1;
            }
        } else {
            finished_first += 1;
        }
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("the killed child is reaped")
            .expect("wait");
    }
    let corrupt = rig.corrupt_dirs();
    let accepted_during_kills = rig.dot.accepted_count();
    rig.dot.clear_faults();
    let run = rig.run(&["--once"]).await;
    assert_eq!(
        run.code, 0,
        "the clean run after the kills failed:\n{}",
        run.stderr
    );
    let reference = rig.reference().await;
    rig.assert_converged(&reference);
    rig.assert_invariants();
    let requests = rig.dot.requests();
    figure(T, "iterations", iterations);
    figure(T, "clean_run_ms", probe.elapsed.as_millis());
    figure(T, "kill_window_ms", window_ms);
    figure(T, "dot_accepted_while_killing", accepted_during_kills);
    figure(T, "seed", seed);
    figure(T, "killed_mid_run", killed);
    figure(T, "killed_during_startup_lt20ms", startup_kills);
    figure(T, "finished_before_kill", finished_first);
    figure(T, "content_edits", edits);
    figure(T, "daemon_runs", daemons);
    figure(T, "states_moved_aside", corrupt);
    figure(T, "dot_requests", requests.len());
    figure(T, "assets_expected", rig.expected().len());
    figure(T, "seconds", started.elapsed().as_secs_f64());
    assert!(
        killed * 2 >= iterations as usize,
        "most runs should be killed mid-run ({killed}/{iterations})"
    );
}

// ---------------------------------------------------------------------------------------
// 3. Dot faults
// ---------------------------------------------------------------------------------------

/// 30 % of Dot requests fail (429, 500, 502, 503, 429/503 with Retry-After, a 1.5 s delay past
/// the 1 s timeout, a hang): repeated `--once` converges within 6 cycles with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_faults_converge_within_bounded_cycles() {
    let _shared = TIMING.read().await;
    const T: &str = "dot_faults";
    const MAX_CYCLES: usize = 6;
    let seed = env_u64("LDSYNC_FAULT_SEED", 42);
    let started = Instant::now();
    let rig = Rig::start(
        small_synthetic(6, 10, 30, 3),
        Knobs {
            // Few attempts, so some pushes fail a whole cycle and are caught up by the next.
            dot_attempts: 2,
            dot_timeout: 1,
            ..Knobs::default()
        },
    )
    .await;
    let retry_after = |status| DotFaultKind::RetryAfter {
        status,
        after: "1".into(),
    };
    rig.dot.set_fault_rate(
        DotFaultRate {
            rate: 0.3,
            kinds: vec![
                DotFaultKind::Status(429),
                DotFaultKind::Status(500),
                DotFaultKind::Status(502),
                DotFaultKind::Status(503),
                retry_after(429),
                retry_after(503),
                DotFaultKind::Delay(Duration::from_millis(1500)),
                DotFaultKind::Hang,
            ],
        },
        seed,
    );
    let mut cycles = 0;
    let mut codes = Vec::new();
    let mut converged = false;
    while cycles < MAX_CYCLES {
        cycles += 1;
        let run = rig.run(&["--once"]).await;
        codes.push(run.code);
        // Exit 0 means every planned push was acknowledged; check Dot too.
        if run.code == 0 && rig.dot.raw_assets().len() >= rig.expected().len() {
            converged = true;
            break;
        }
        assert!(run.code == 0 || run.code == 1, "unexpected exit: {run:?}");
    }
    assert!(
        converged,
        "no convergence in {MAX_CYCLES} cycles: {codes:?}"
    );
    rig.dot.clear_faults();
    let reference = rig.reference().await;
    rig.assert_converged(&reference);
    rig.assert_invariants();
    let requests = rig.dot.requests();
    let faulted = requests.iter().filter(|r| r.status != 200).count();
    let hangs = requests.iter().filter(|r| r.status == 0).count();
    figure(T, "seed", seed);
    figure(T, "cycles_to_converge", cycles);
    figure(T, "exit_codes", format!("{codes:?}"));
    figure(T, "assets", rig.expected().len());
    figure(T, "dot_requests", requests.len());
    figure(T, "faulted_responses", faulted);
    figure(T, "hangs_and_timeouts", hangs);
    figure(T, "retries", requests.len() - rig.dot.accepted_count());
    figure(T, "seconds", started.elapsed().as_secs_f64());
}

/// A 429 with `Retry-After: 2` is not retried before 2 s; a hung connection is cut by the
/// 1 s timeout and retried; Lightdash's `Retry-After` is honoured the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_hangs_are_cut_by_the_timeout() {
    let _alone = TIMING.write().await;
    const T: &str = "retry_after";
    let rig = Rig::start(
        bundled(),
        Knobs {
            dot_timeout: 1,
            ld_timeout: 1,
            ..Knobs::default()
        },
    )
    .await;
    let ids: Vec<String> = rig.expected().into_iter().collect();
    let (slow, hung) = (ids[0].clone(), ids[1].clone());
    rig.dot.set_fault(DotFault {
        id: Some(slow.clone()),
        kind: DotFaultKind::RetryAfter {
            status: 429,
            after: "2".into(),
        },
        times: Some(1),
    });
    rig.dot.set_fault(DotFault {
        id: Some(hung.clone()),
        kind: DotFaultKind::Hang,
        times: Some(1),
    });
    rig.ld.set_fault(
        Route::Spaces,
        Fault::RetryAfter {
            status: 503,
            after: "1".into(),
        },
        Some(1),
    );
    rig.ld.set_fault(Route::Dashboards, Fault::Hang, Some(1));
    let run = rig.run(&["--once"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = rig.dot.requests();
    let of = |id: &str| -> Vec<&DotRequest> {
        requests
            .iter()
            .filter(|r| r.id.as_deref() == Some(id))
            .collect()
    };
    let slow_reqs = of(&slow);
    assert_eq!(slow_reqs.len(), 2, "one 429, one retry: {slow_reqs:?}");
    assert_eq!((slow_reqs[0].status, slow_reqs[1].status), (429, 200));
    let gap = slow_reqs[1].at - slow_reqs[0].at;
    assert!(
        gap >= Duration::from_secs(2),
        "Retry-After: 2 not honoured: {gap:?}"
    );
    assert!(
        gap < Duration::from_secs(4),
        "waited far past Retry-After: {gap:?}"
    );
    let hung_reqs = of(&hung);
    assert_eq!(hung_reqs.len(), 2, "one hang, one retry: {hung_reqs:?}");
    assert_eq!((hung_reqs[0].status, hung_reqs[1].status), (0, 200));
    let cut = hung_reqs[1].at - hung_reqs[0].at;
    assert!(
        cut >= Duration::from_secs(1),
        "retried before the timeout: {cut:?}"
    );
    assert!(
        cut < Duration::from_secs(4),
        "the hang was not cut by the 1 s timeout: {cut:?}"
    );
    let spaces: Vec<Instant> = rig
        .ld
        .requests()
        .iter()
        .filter(|r| r.route == Some(Route::Spaces))
        .map(|r| r.at)
        .collect();
    assert!(spaces.len() >= 2, "the Spaces listing was retried");
    let ld_gap = spaces[1] - spaces[0];
    assert!(
        ld_gap >= Duration::from_secs(1),
        "Lightdash Retry-After: {ld_gap:?}"
    );
    let dashboards: Vec<Instant> = rig
        .ld
        .requests()
        .iter()
        .filter(|r| r.route == Some(Route::Dashboards))
        .map(|r| r.at)
        .collect();
    assert!(
        dashboards.len() >= 2,
        "the hung Dashboards listing was retried"
    );
    let ld_cut = dashboards[1] - dashboards[0];
    assert!(
        ld_cut >= Duration::from_secs(1),
        "Lightdash hang: {ld_cut:?}"
    );
    assert!(
        ld_cut < Duration::from_secs(4),
        "Lightdash hang not cut: {ld_cut:?}"
    );
    rig.assert_converged(&rig.reference().await);
    rig.assert_invariants();
    figure(T, "lightdash_hang_cut_after_ms", ld_cut.as_millis());
    figure(T, "dot_retry_after_2s_gap_ms", gap.as_millis());
    figure(T, "dot_hang_cut_after_ms", cut.as_millis());
    figure(T, "lightdash_retry_after_1s_gap_ms", ld_gap.as_millis());
    figure(T, "seconds", run.elapsed.as_secs_f64());
}

// ---------------------------------------------------------------------------------------
// 4. Lightdash faults
// ---------------------------------------------------------------------------------------

/// A listing that fails (500, truncated JSON, HTML 200, 401) or comes back empty never
/// deactivates anything, and the run reports failure; once the fault clears, one run
/// converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightdash_listing_faults_never_deactivate() {
    let _shared = TIMING.read().await;
    const T: &str = "lightdash_faults";
    let started = Instant::now();
    let rig = Rig::start(bundled(), Knobs::default()).await;
    let first = rig.run(&["--once"]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let routes = [
        Route::Projects,
        Route::Spaces,
        Route::Dashboards,
        Route::Charts,
    ];
    let faults = [
        Fault::Status(500),
        Fault::TruncatedJson,
        Fault::Html200,
        Fault::Status(401),
        Fault::EmptyList,
    ];
    let mut failures = Vec::new();
    let mut cases = 0;
    for route in routes {
        for fault in &faults {
            cases += 1;
            // Something to push, so a wrong deactivation has company.
            rig.ld.update(|c| {
                let chart = &mut c.projects[0].charts[0];
                chart.summary.name = format!("renamed {cases}");
                chart.details.name = format!("renamed {cases}");
            });
            rig.ld.set_fault(route, fault.clone(), None);
            rig.dot.clear_requests();
            let run = rig.run(&["--once"]).await;
            rig.ld.clear_faults();
            let deactivations: Vec<String> = rig
                .dot
                .requests()
                .iter()
                .filter(|r| !is_active(r.body.get("external_asset").unwrap_or(&Value::Null)))
                .filter_map(|r| r.id.clone())
                .collect();
            if !deactivations.is_empty() {
                failures.push(format!(
                    "{route:?} {fault:?}: deactivated {deactivations:?}"
                ));
            }
            if run.code != 2 {
                failures.push(format!(
                    "{route:?} {fault:?}: exit {} (want 2, the cycle failed)",
                    run.code
                ));
            }
            assert_contract(&rig.dot.requests());
            // Put back whatever a wrong deactivation took away, so cases stay independent.
            if !deactivations.is_empty() {
                assert_eq!(rig.run(&["--resync"]).await.code, 0);
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let run = rig.run(&["--once"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    rig.assert_converged(&rig.reference().await);
    rig.assert_invariants();
    figure(T, "cases", cases);
    figure(T, "seconds", started.elapsed().as_secs_f64());
}

/// 30 % of all Lightdash requests fail (429, 500, 502, 503, 429 with `Retry-After: 1`), seeded:
/// cycles whose listings still fail after the retries exit 2 and deactivate nothing; repeated
/// runs converge within 8 cycles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightdash_fault_rate_converges_without_deactivation() {
    let _shared = TIMING.read().await;
    const T: &str = "lightdash_fault_rate";
    const MAX_CYCLES: usize = 8;
    let seed = env_u64("LDSYNC_FAULT_SEED", 42);
    let started = Instant::now();
    let rig = Rig::start(
        small_synthetic(6, 10, 30, 4),
        Knobs {
            // Small as-code pages: more Lightdash requests, more of them faulted.
            ld_page_size: 2,
            ..Knobs::default()
        },
    )
    .await;
    rig.ld.set_fault_rate(
        None,
        FaultRate {
            rate: 0.3,
            faults: vec![
                Fault::Status(429),
                Fault::Status(500),
                Fault::Status(502),
                Fault::Status(503),
                Fault::RetryAfter {
                    status: 429,
                    after: "1".into(),
                },
            ],
        },
        seed,
    );
    let mut codes = Vec::new();
    let mut converged = false;
    while codes.len() < MAX_CYCLES {
        let run = rig.run(&["--once"]).await;
        codes.push(run.code);
        let expected = rig.expected();
        let active = rig
            .dot
            .raw_assets()
            .iter()
            .filter(|(id, a)| expected.contains(*id) && is_active(a))
            .count();
        if run.code == 0 && active == expected.len() {
            converged = true;
            break;
        }
        rig.assert_invariants();
    }
    assert!(
        converged,
        "no convergence in {MAX_CYCLES} cycles: {codes:?}"
    );
    rig.ld.clear_faults();
    rig.assert_converged(&rig.reference().await);
    rig.assert_invariants();
    figure(T, "seed", seed);
    figure(T, "exit_codes", format!("{codes:?}"));
    figure(T, "lightdash_requests", rig.ld.requests().len());
    figure(T, "seconds", started.elapsed().as_secs_f64());
}

/// One chart whose as-code item has a wrong-typed field (`metricQuery: "oops"`): that chart
/// fails (exit 1), every other asset is pushed, nothing is deactivated; once fixed, the next
/// incremental run pushes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_details_fail_only_that_asset() {
    let _shared = TIMING.read().await;
    let rig = Rig::start(bundled(), Knobs::default()).await;
    assert_eq!(rig.run(&["--once"]).await.code, 0);
    let content = rig.ld.content();
    let in_scope = rig.expected();
    let charts: Vec<String> = content.projects[0]
        .charts
        .iter()
        .map(|c| c.summary.uuid.clone())
        .filter(|u| in_scope.contains(&chart_id(u)))
        .collect();
    let (bad, good) = (charts[0].clone(), charts[1].clone());
    rig.ld.update(|c| {
        for uuid in [&bad, &good] {
            let chart = c.projects[0]
                .charts
                .iter_mut()
                .find(|ch| &ch.summary.uuid == uuid)
                .unwrap();
            // A versioned edit: the next incremental cycle fetches its details again.
            chart.summary.name = format!("{} v2", chart.summary.name);
            chart.details.name = chart.summary.name.clone();
            chart.summary.updated_at = Some("2030-01-01T00:00:00.000Z".into());
            chart.details.updated_at = Some("2030-01-01T00:00:00.000Z".into());
        }
    });
    rig.ld.set_item_override(&bad, "metricQuery", json!("oops"));

    // Incremental: both charts changed; only the malformed one fails.
    rig.dot.clear_requests();
    let run = rig.run(&["--once"]).await;
    assert_eq!(
        run.code, 1,
        "one asset failed: partial failure\n{}",
        run.stderr
    );
    let accepted: BTreeSet<String> = rig
        .dot
        .requests()
        .iter()
        .filter(|r| r.status == 200)
        .filter_map(|r| r.id.clone())
        .collect();
    assert!(
        !accepted.contains(&chart_id(&bad)),
        "the malformed chart was pushed"
    );
    assert!(
        accepted.contains(&chart_id(&good)),
        "the good chart was not pushed"
    );

    // Resync: everything else is pushed.
    rig.dot.clear_requests();
    let run = rig.run(&["--resync"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let accepted: BTreeSet<String> = rig
        .dot
        .requests()
        .iter()
        .filter(|r| r.status == 200)
        .filter_map(|r| r.id.clone())
        .collect();
    let mut others = in_scope.clone();
    others.remove(&chart_id(&bad));
    let missing: Vec<_> = others.difference(&accepted).collect();
    assert!(missing.is_empty(), "others not pushed: {missing:?}");
    rig.assert_invariants();

    rig.ld.clear_item_overrides();
    rig.dot.clear_requests();
    let run = rig.run(&["--once"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        rig.dot
            .requests()
            .iter()
            .any(|r| r.id.as_deref() == Some(&chart_id(&bad)) && r.status == 200),
        "the fixed chart is pushed by the next incremental run"
    );
    rig.assert_converged(&rig.reference().await);
    rig.assert_invariants();
}

// ---------------------------------------------------------------------------------------
// 5. Rate limits
// ---------------------------------------------------------------------------------------

/// lightdash.requests_per_second = 20, dot.requests_per_second = 10: in every 1 s sliding
/// window each mock sees at most rps + burst (burst = floor(rps)) requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_hold_in_every_window() {
    let _alone = TIMING.write().await;
    const T: &str = "rate_limits";
    // Low rates keep the check robust: arrival jitter would have to exceed one period
    // (50 ms, 100 ms) to push a correctly paced client past the bound.
    let (ld_rps, dot_rps) = (20.0, 10.0);
    let rig = Rig::start(
        small_synthetic(3, 4, 40, 5),
        Knobs {
            ld_rps,
            dot_rps,
            // One item per as-code page: enough Lightdash requests to exceed its burst.
            ld_page_size: 1,
            ..Knobs::default()
        },
    )
    .await;
    let run = rig.run(&["--resync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ld: Vec<Instant> = rig.ld.requests().iter().map(|r| r.at).collect();
    let dot: Vec<Instant> = rig.dot.requests().iter().map(|r| r.at).collect();
    assert!(
        dot.len() >= 40,
        "enough pushes to exceed one burst: {}",
        dot.len()
    );
    assert!(
        ld.len() >= 45,
        "enough listings to exceed one burst: {}",
        ld.len()
    );
    let second = Duration::from_secs(1);
    let (ld_max, dot_max) = (max_in_window(&ld, second), max_in_window(&dot, second));
    let bound = |rps: f64| (rps + rps.floor()) as usize;
    figure(T, "lightdash_requests", ld.len());
    figure(T, "dot_requests", dot.len());
    figure(T, "lightdash_max_per_1s_window", ld_max);
    figure(T, "dot_max_per_1s_window", dot_max);
    figure(T, "lightdash_bound", bound(ld_rps));
    figure(T, "dot_bound", bound(dot_rps));
    figure(T, "seconds", run.elapsed.as_secs_f64());
    assert!(ld_max <= bound(ld_rps), "Lightdash saw {ld_max} in 1 s");
    assert!(dot_max <= bound(dot_rps), "Dot saw {dot_max} in 1 s");
    assert!(
        run.elapsed >= Duration::from_secs(2),
        "the limiter paced the run"
    );
    rig.assert_converged(&rig.reference().await);
    rig.assert_invariants();
}

// ---------------------------------------------------------------------------------------
// 6. State corruption
// ---------------------------------------------------------------------------------------

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Truncated, bit-flipped and garbage state files: the run never crashes, a corrupt state is
/// moved aside (`db.corrupt-*`) and rebuilt, the next run does not move anything again, and
/// Dot converges with nothing wrongly deactivated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_state_is_moved_aside_and_rebuilt() {
    let _shared = TIMING.read().await;
    const T: &str = "state_corruption";
    let rig = Rig::start(bundled(), Knobs::default()).await;
    let reference = rig.reference().await;
    let cases = [
        "truncate-all",
        "truncate-db",
        "bitflip-db",
        "garbage-conf",
        "zero-db",
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    let mut detected = Vec::new();
    for case in cases {
        let _ = std::fs::remove_dir_all(rig.state());
        let run = rig.run(&["--once"]).await;
        assert_eq!(run.code, 0, "{case}: clean run: {}", run.stderr);
        let db = rig.state().join("db");
        let files = files_under(&db);
        assert!(!files.is_empty(), "sled wrote files");
        for f in &files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let mut bytes = std::fs::read(f).unwrap();
            let touch = match case {
                "truncate-all" => {
                    bytes.truncate(bytes.len() / 2);
                    true
                }
                "truncate-db" if name == "db" => {
                    bytes.truncate(bytes.len() / 3);
                    true
                }
                "bitflip-db" if name == "db" && !bytes.is_empty() => {
                    for _ in 0..32 {
                        let i = rng.usize(..bytes.len());
                        bytes[i] ^= 1 << rng.u8(..8);
                    }
                    true
                }
                "garbage-conf" if name == "conf" => {
                    bytes = b"\x00\xffnot a sled config\n".to_vec();
                    true
                }
                "zero-db" if name == "db" => {
                    bytes.iter_mut().for_each(|b| *b = 0);
                    true
                }
                _ => false,
            };
            if touch {
                std::fs::write(f, &bytes).unwrap();
            }
        }
        let before = rig.corrupt_dirs();
        let run = rig.run(&["--once"]).await;
        assert_eq!(
            run.code, 0,
            "{case}: the run on a corrupt state failed:\n{}",
            run.stderr
        );
        let moved = rig.corrupt_dirs() > before;
        detected.push(format!(
            "{case}:{}",
            if moved { "moved-aside" } else { "readable" }
        ));
        let again = rig.run(&["--once"]).await;
        assert_eq!(again.code, 0, "{case}: second run: {}", again.stderr);
        assert_eq!(
            rig.corrupt_dirs(),
            before + usize::from(moved),
            "{case}: the state was moved aside again (loop)"
        );
        rig.assert_converged(&reference);
        rig.assert_invariants();
    }
    figure(T, "cases", format!("{detected:?}"));
    // A state sled cannot open must be detected; one it recovers (sled is log-structured:
    // a cut or zeroed log replays to an earlier consistent point) only has to converge,
    // which is asserted above for every case.
    for d in &detected {
        if d.starts_with("truncate-all") || d.starts_with("garbage-conf") {
            assert!(d.ends_with("moved-aside"), "not detected: {d}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 7. Bad configuration
// ---------------------------------------------------------------------------------------

/// A base config (inline secrets) with one edit per case.
fn config_text(ld: &str, dot: &str, state: &Path, edits: &[(&str, &str, Option<&str>)]) -> String {
    let mut sections: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "lightdash",
            vec![
                ("url".into(), format!("{ld:?}")),
                ("api_key".into(), format!("{LD_SECRET:?}")),
                ("requests_per_second".into(), "50".into()),
            ],
        ),
        (
            "dot",
            vec![
                ("url".into(), format!("{dot:?}")),
                ("api_key".into(), format!("{DOT_SECRET:?}")),
            ],
        ),
        ("sync", vec![]),
        ("schedule", vec![]),
        (
            "state",
            vec![("path".into(), format!("{:?}", state.display().to_string()))],
        ),
        ("server", vec![("listen".into(), "\"\"".into())]),
        ("log", vec![]),
    ];
    for (section, key, value) in edits {
        let entries = &mut sections
            .iter_mut()
            .find(|(s, _)| s == section)
            .expect("known section")
            .1;
        entries.retain(|(k, _)| k != key);
        if let Some(v) = value {
            entries.push(((*key).into(), (*v).into()));
        }
    }
    let mut text = String::new();
    for (section, entries) in sections {
        text.push_str(&format!("[{section}]\n"));
        for (k, v) in entries {
            text.push_str(&format!("{k} = {v}\n"));
        }
        text.push('\n');
    }
    text
}

/// Each broken config exits 78, names the offending key, makes no network call and prints
/// neither secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_exit_78_name_the_key_and_stay_offline() {
    let _shared = TIMING.read().await;
    const T: &str = "bad_config";
    let rig = Rig::start(bundled(), Knobs::default()).await;
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str, Option<&'static str>)>,
    );
    let cases: Vec<Case> = vec![
        ("lightdash.url", vec![("lightdash", "url", None)]),
        (
            "lightdash.url",
            vec![("lightdash", "url", Some("\"ftp://lightdash\""))],
        ),
        (
            "lightdash.url",
            vec![("lightdash", "url", Some("\"not a url\""))],
        ),
        ("dot.url", vec![("dot", "url", Some("\"::\""))]),
        ("lightdash.api_key", vec![("lightdash", "api_key", None)]),
        (
            "lightdash.api_key_file",
            vec![
                ("lightdash", "api_key", None),
                ("lightdash", "api_key_file", Some("\"/nonexistent/token\"")),
            ],
        ),
        ("dot.api_key", vec![("dot", "api_key", Some("\"\""))]),
        (
            "lightdash.requests_per_second",
            vec![("lightdash", "requests_per_second", Some("0"))],
        ),
        (
            "dot.requests_per_second",
            vec![("dot", "requests_per_second", Some("-5"))],
        ),
        ("dot.concurrency", vec![("dot", "concurrency", Some("0"))]),
        ("dot.max_attempts", vec![("dot", "max_attempts", Some("0"))]),
        ("dot.auth", vec![("dot", "auth", Some("\"bogus\""))]),
        ("dot.user_id", vec![("dot", "auth", Some("\"query\""))]),
        (
            "lightdash.timeout_secs",
            vec![("lightdash", "timeout_secs", Some("0"))],
        ),
        (
            "sync.max_deactivate_fraction",
            vec![("sync", "max_deactivate_fraction", Some("1.5"))],
        ),
        ("sync.kinds", vec![("sync", "kinds", Some("[\"bogus\"]"))]),
        (
            "schedule.sync",
            vec![("schedule", "sync", Some("\"not a cron\""))],
        ),
        (
            "schedule.timezone",
            vec![("schedule", "timezone", Some("\"Mars/Olympus\""))],
        ),
        ("log.format", vec![("log", "format", Some("\"xml\""))]),
        (
            "dot.concurrency",
            vec![("dot", "concurrency", Some("\"four\""))],
        ),
    ];
    let mut failures = Vec::new();
    for (i, (key, edits)) in cases.iter().enumerate() {
        let path = rig.path(&format!("bad-{i}.toml"));
        let state = rig.path(&format!("bad-state-{i}"));
        std::fs::write(
            &path,
            config_text(&rig.ld.url(), &rig.dot.url(), &state, edits),
        )
        .unwrap();
        for args in [&["--once"][..], &[][..]] {
            let Ok(out) =
                tokio::time::timeout(Duration::from_secs(10), rig.command(&path, args).output())
                    .await
            else {
                failures.push(format!(
                    "{key} {edits:?} {args:?}: still running after 10 s"
                ));
                continue;
            };
            let out = out.unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let code = out.status.code();
            if code != Some(78) {
                failures.push(format!("{key} {edits:?} {args:?}: exit {code:?}: {text}"));
            }
            if !text.contains(key) {
                failures.push(format!("{key} {edits:?}: key not named: {text}"));
            }
            if text.contains(LD_SECRET) || text.contains(DOT_SECRET) {
                failures.push(format!("{key} {edits:?}: printed a secret: {text}"));
            }
        }
    }
    let (ld_calls, dot_calls) = (rig.ld.requests().len(), rig.dot.requests().len());
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        (ld_calls, dot_calls),
        (0, 0),
        "a bad config made network calls"
    );
    figure(T, "cases", cases.len());
}

// ---------------------------------------------------------------------------------------
// 8. Hostile content
// ---------------------------------------------------------------------------------------

/// Markdown text with its code spans removed (a backslash-escaped backtick opens none): what
/// a renderer would interpret as markup.
fn outside_code_spans(md: &str) -> String {
    let mut out = String::new();
    let (mut in_code, mut escaped) = (false, false);
    for c in md.chars() {
        if c == '`' && !escaped {
            in_code = !in_code;
        } else if !in_code {
            out.push(c);
        }
        escaped = c == '\\' && !escaped;
    }
    out
}

const BIDI_AND_CONTROLS: [char; 11] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200B}', '\u{0007}',
];

/// Names and descriptions with markdown, HTML, pipes, newlines, bidi characters and
/// multi-megabyte strings: every request is valid, the markdown is sanitised and the size
/// cap holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_content_stays_valid_sanitised_and_capped() {
    let _shared = TIMING.read().await;
    const T: &str = "hostile";
    let markdown = "**bold** _it_ [link](http://evil.example/x) ![img](http://evil.example/i.png) `code`\n# heading\n> quote";
    let html = "<script>alert(1)</script><img src=x onerror=alert(1)><b>b</b>";
    let pipes = "a | b | c\n|---|---|---|\n| row | x | y |";
    let newlines = "line1\nline2\r\nline3\u{2028}line4\rline5";
    let bidi = "abc\u{202E}cba\u{2066}iso\u{2069}\u{200B}zero\u{FEFF}bom\u{0007}bell";
    let huge = format!("{markdown} {html} ").repeat(20_000); // ~3 MB
    let huge_multibyte = "é🙂|<".repeat(250_000); // ~2.5 MB, 1 M chars
    let mut content = bundled();
    {
        let p = &mut content.projects[0];
        let names = [
            format!("{markdown}{bidi}"),
            html.to_string(),
            pipes.to_string(),
            newlines.to_string(),
            format!("{bidi}{huge_multibyte}"),
        ];
        for (i, chart) in p.charts.iter_mut().enumerate().take(names.len()) {
            chart.summary.name = names[i].clone();
            chart.details.name = names[i].clone();
            let description = if i == 0 {
                huge.clone()
            } else {
                format!("{pipes}\n{newlines}\n{bidi}")
            };
            chart.summary.description = Some(description.as_str().into());
            chart.details.description = Some(description);
        }
        for (i, d) in p.dashboards.iter_mut().enumerate() {
            let name = if i == 0 {
                huge_multibyte.clone()
            } else {
                format!("{html}{pipes}")
            };
            d.summary.name = name.clone();
            d.details.name = name;
            let description = if i == 0 {
                huge.clone()
            } else {
                format!("{markdown}\n{pipes}")
            };
            d.summary.description = Some(description.as_str().into());
            d.details.description = Some(description);
        }
        for s in p.spaces.iter_mut() {
            s.name = format!("{markdown}{newlines}{bidi}");
        }
    }
    let rig = Rig::start(content, Knobs::default()).await;
    let run = rig.run(&["--once"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cap = 20_000; // sync.max_description_chars default
    let requests = rig.dot.requests();
    let mut biggest_body = 0;
    let mut biggest_description = 0;
    let mut problems = Vec::new();
    for r in &requests {
        assert_eq!(r.status, 200, "rejected: {:?}", r.body);
        biggest_body = biggest_body.max(r.body.to_string().len());
        let asset = &r.body["external_asset"];
        let id = r.id.clone().unwrap_or_default();
        for (field, value) in asset.as_object().unwrap() {
            let Some(s) = value.as_str() else { continue };
            if let Some(c) = s.chars().find(|c| BIDI_AND_CONTROLS.contains(c)) {
                problems.push(format!("{id}.{field}: contains U+{:04X}", c as u32));
            }
            if s.contains('\r')
                || (field != "dot_description" && field != "description" && s.contains('\n'))
            {
                problems.push(format!("{id}.{field}: contains a line break"));
            }
            if field == "dot_description" {
                let n = s.chars().count();
                biggest_description = biggest_description.max(n);
                if n > cap {
                    problems.push(format!("{id}.dot_description: {n} chars > {cap}"));
                }
                let prose = outside_code_spans(s);
                for raw in ["<script", "<img", "](", "\r"] {
                    if let Some(at) = prose.find(raw) {
                        let s = &prose;
                        let context: String =
                            s[at.saturating_sub(60)..].chars().take(120).collect();
                        problems.push(format!(
                            "{id}.dot_description: unescaped {raw:?}: {context:?}"
                        ));
                    }
                }
            } else if s.chars().count() > cap {
                problems.push(format!("{id}.{field}: {} chars > {cap}", s.chars().count()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    rig.assert_converged(&rig.reference().await);
    rig.assert_invariants();
    figure(T, "requests", requests.len());
    figure(T, "largest_body_bytes", biggest_body);
    figure(T, "largest_dot_description_chars", biggest_description);
    figure(T, "seconds", run.elapsed.as_secs_f64());
}

// ---------------------------------------------------------------------------------------
// 9. Contract
// ---------------------------------------------------------------------------------------

/// The independent validator is not a rubber stamp: it rejects bodies that break the schema.
#[test]
fn contract_validator_rejects_what_the_spec_forbids() {
    let v = contract();
    let good = json!({"external_asset": {"id": "x", "subtype": "lightdash_chart", "active": true, "view_count": 3, "name": null}});
    assert!(v.is_valid(&good));
    for bad in [
        json!({}),
        json!({"external_asset": {"subtype": "lightdash_chart"}}),
        json!({"external_asset": {"id": "x"}}),
        json!({"external_asset": {"id": 7, "subtype": "s"}}),
        json!({"external_asset": {"id": "x", "subtype": "s", "view_count": "3"}}),
        json!({"external_asset": {"id": "x", "subtype": "s", "view_count": 1.5}}),
        json!({"external_asset": {"id": "x", "subtype": "s", "active": "yes"}}),
        json!({"external_asset": {"id": "x", "subtype": "s", "name": 5}}),
    ] {
        assert!(!v.is_valid(&bad), "accepted {bad}");
    }
}

/// A full sync of a synthetic org plus a deactivation: every body (upserts and deactivations)
/// validates against the spec's schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_sent_validates_against_the_openapi_schema() {
    let _shared = TIMING.read().await;
    const T: &str = "contract";
    let rig = Rig::start(small_synthetic(8, 20, 60, 9), Knobs::default()).await;
    assert_eq!(rig.run(&["--once"]).await.code, 0);
    rig.ld.update(|c| {
        let chart = c.projects[0].charts.pop().unwrap();
        let _ = chart;
    });
    assert_eq!(rig.run(&["--once"]).await.code, 0);
    assert_eq!(rig.run(&["--resync"]).await.code, 0);
    let requests = rig.dot.requests();
    let deactivations = requests
        .iter()
        .filter(|r| !is_active(&r.body["external_asset"]))
        .count();
    assert!(deactivations >= 1, "the removed chart was deactivated");
    let checked = assert_contract(&requests);
    rig.assert_invariants();
    figure(T, "bodies_validated", checked);
}

fn moved_aside(state: &Path) -> usize {
    std::fs::read_dir(state)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("db.corrupt-"))
                .count()
        })
        .unwrap_or(0)
}

/// Field report: ENOSPC at open was taken as corruption (the healthy state moved aside and
/// later deleted; everything re-pushed). On a real full file system (a small tmpfs) the run
/// fails with exit 2 naming the fault, the state stays where it is, and once space is free
/// the next run succeeds on the same state, pushing only what changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_not_corruption() {
    let _shared = TIMING.read().await;
    let rig = Rig::start(bundled(), Knobs::default()).await;
    let Some(fs) = Tmpfs::mount(rig.path("tmpfs"), "16m") else {
        eprintln!("skipped: mounting a tmpfs is not allowed here");
        return;
    };
    let state = fs.0.join("state");
    let config = rig.path("tmpfs.toml");
    rig.write_config(&config, &rig.dot.url(), &state);
    let run = rig.run_config(&config, &["--once"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    let filler = fs.fill();
    let uuid = rig.ld.content().projects[0].charts[0].summary.uuid.clone();
    rig.ld.update(|c| {
        c.chart_mut(&uuid).unwrap().summary.name = "Renamed on a full disk".into();
    });
    for _ in 0..3 {
        let run = rig.run_config(&config, &["--once"]).await;
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("No space left on device"),
            "{}",
            run.stderr
        );
        assert_eq!(moved_aside(&state), 0, "{}", run.stderr);
    }
    std::fs::remove_file(filler).unwrap();
    rig.dot.clear_requests();
    let run = rig.run_config(&config, &["--once"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(moved_aside(&state), 0);
    let pushed: BTreeSet<String> = rig
        .dot
        .requests()
        .iter()
        .filter_map(|r| r.id.clone())
        .collect();
    assert!(pushed.contains(&chart_id(&uuid)), "{pushed:?}");
    assert!(
        pushed.len() < expected_ids(&rig.ld.content()).len(),
        "the old state was used: not everything re-pushed ({} ids)",
        pushed.len()
    );
    figure(
        "a_full_disk_is_not_corruption",
        "pushed_after_recovery",
        pushed.len(),
    );
    rig.assert_invariants();
}
