//! The daemon, driven through the real binary: in-process mock Lightdash and mock Dot (in the
//! test's own runtime), a temporary state and config, a 1-2 s cron. Covers cycles and probes,
//! Prometheus counters, SIGTERM mid-cycle, SIGUSR1, the state lock, skipped ticks without
//! overlap, secrets at trace level, `/admin/resync`, `check`, and an invalid cron.
//!
//! Every wait is bounded; the child is killed when its guard drops.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightdash_dot_sync::config::{RawSecret, RawSettings};
use lightdash_dot_sync::demo::content::bundled;
use lightdash_dot_sync::demo::mock_dot::{
    DotFault, DotFaultKind, MockDot, MockDotHandle, MockDotOptions,
};
use lightdash_dot_sync::demo::mock_lightdash::{
    MockLightdash, MockLightdashHandle, MockLightdashOptions,
};
use lightdash_dot_sync::sync::{CycleKind, CycleOptions, NoProgress, SyncContext, run_cycle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_lightdash-dot-sync");
const LD_SENTINEL: &str = "SENTINEL-LD-93817";
const DOT_SENTINEL: &str = "SENTINEL-DOT-22841";
const DOT_QUERY_SENTINEL: &str = "SENTINEL-DOTQ-55120";

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// How a test environment is configured.
#[derive(Clone)]
struct Setup {
    ld_token: String,
    dot_key: String,
    /// `Some((user, token))`: the config uses `dot.auth = "query"`.
    query_auth: Option<(String, String)>,
    sync: String,
    concurrency: usize,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            ld_token: MockLightdashOptions::default().token,
            dot_key: MockDotOptions::default().api_key,
            query_auth: None,
            sync: "*/1 * * * * *".into(),
            concurrency: 4,
        }
    }
}

/// Mocks, a temp dir with the config, tokens and state, and a free port.
struct Env {
    ld: MockLightdashHandle,
    dot: MockDotHandle,
    dir: tempfile::TempDir,
    config: PathBuf,
    port: u16,
    setup: Setup,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Env {
    async fn start(setup: Setup) -> Env {
        let ld = MockLightdash::start(
            bundled(),
            MockLightdashOptions {
                token: setup.ld_token.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let dot = MockDot::start(MockDotOptions {
            api_key: setup.dot_key.clone(),
            query_auth: setup.query_auth.clone(),
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut env = Env {
            ld,
            dot,
            config: dir.path().join("config.toml"),
            dir,
            port: free_port(),
            setup,
        };
        env.write_config();
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// (Re)writes the config (and token files) from `self.setup`.
    fn write_config(&mut self) {
        let s = &self.setup;
        std::fs::write(self.path("lightdash.token"), format!("{}\n", s.ld_token)).unwrap();
        let dot_auth = match &s.query_auth {
            None => {
                std::fs::write(self.path("dot.token"), format!("{}\n", s.dot_key)).unwrap();
                format!(
                    "api_key_file = {:?}",
                    self.path("dot.token").display().to_string()
                )
            }
            Some((user, token)) => {
                std::fs::write(self.path("dot-query.token"), format!("{token}\n")).unwrap();
                format!(
                    "auth = \"query\"\nuser_id = {user:?}\napi_token_file = {:?}",
                    self.path("dot-query.token").display().to_string()
                )
            }
        };
        let config = format!(
            r#"[lightdash]
url = "{ld}"
api_key_file = {ld_token:?}
requests_per_second = 1000
timeout_secs = 30

[dot]
url = "{dot}"
{dot_auth}
requests_per_second = 1000
concurrency = {concurrency}
max_attempts = 2
timeout_secs = 30

[schedule]
sync = "{sync}"
deep = ""
run_on_start = true

[state]
path = {state:?}

[server]
listen = "127.0.0.1:{port}"

[log]
format = "text"
level = "info"
"#,
            ld = self.ld.url(),
            ld_token = self.path("lightdash.token").display().to_string(),
            dot = self.dot.url(),
            concurrency = s.concurrency,
            sync = s.sync,
            state = self.path("state").display().to_string(),
            port = self.port,
        );
        std::fs::write(&self.config, config).unwrap();
    }

    /// Spawns the daemon; stdout and stderr go to `<name>.out` / `<name>.err` in the temp dir.
    fn spawn_daemon(&self, name: &str, rust_log: Option<&str>) -> Daemon {
        let out = self.path(&format!("{name}.out"));
        let err = self.path(&format!("{name}.err"));
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&self.config)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .kill_on_drop(true);
        if let Some(level) = rust_log {
            cmd.env("RUST_LOG", level);
        }
        let child = cmd.spawn().expect("spawn the daemon");
        Daemon {
            child,
            port: self.port,
            out,
            err,
        }
    }

    /// Runs the binary to completion (bounded) with extra args; returns (code, stdout, stderr).
    async fn run(&self, args: &[&str], rust_log: Option<&str>) -> (i32, String, String) {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(level) = rust_log {
            cmd.env("RUST_LOG", level);
        }
        let output = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("the command finishes within 60 s")
            .expect("run the binary");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// How many assets a complete sync of the bundled content puts in Dot: one in-process
    /// cycle against a second mock Dot with a fresh state (same settings otherwise).
    async fn expected_assets(&self) -> usize {
        let dot = MockDot::start(MockDotOptions::default()).await.unwrap();
        let state = tempfile::tempdir().unwrap();
        let mut raw = RawSettings::default();
        raw.lightdash.url = self.ld.url();
        raw.lightdash.api_key = Some(RawSecret(self.setup.ld_token.clone().into()));
        raw.lightdash.requests_per_second = 1000.0;
        raw.dot.url = dot.url();
        raw.dot.api_key = Some(RawSecret(MockDotOptions::default().api_key.into()));
        raw.dot.requests_per_second = 1000.0;
        raw.state.path = state.path().to_owned();
        raw.server.listen = String::new();
        let settings = Arc::new(raw.validate(&HashMap::new()).unwrap());
        let store = lightdash_dot_sync::app::open_store(&settings).unwrap();
        let ctx = SyncContext::new(settings, store);
        let opts = CycleOptions {
            kind: CycleKind::Incremental,
            ..Default::default()
        };
        let report = run_cycle(&ctx, opts, &NoProgress).await.report;
        assert_eq!(report.failed, 0, "reference cycle failed: {report:?}");
        let n = dot.assets().len();
        assert!(
            n > 5,
            "the bundled content should make a few assets, got {n}"
        );
        self.ld.clear_requests();
        n
    }

    /// Every asset in mock Dot is active, and there are `n` of them.
    fn dot_holds_all_active(&self, n: usize) -> bool {
        let assets = self.dot.assets();
        assets.len() == n && assets.values().all(|a| a.active)
    }

    /// Distinct asset ids Dot accepted (200) since the last `clear_requests`.
    fn accepted_ids(&self) -> BTreeSet<String> {
        self.dot
            .requests()
            .into_iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| r.id)
            .collect()
    }
}

/// A running daemon; killed (SIGKILL) on drop if still alive.
struct Daemon {
    child: Child,
    port: u16,
    out: PathBuf,
    err: PathBuf,
}

impl Daemon {
    fn pid(&self) -> String {
        self.child.id().expect("the daemon is running").to_string()
    }

    fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.pid()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits (bounded) for exit; returns the exit code and how long it took.
    async fn wait_exit(&mut self, bound: Duration) -> (Option<i32>, Duration) {
        let start = Instant::now();
        let status = tokio::time::timeout(bound, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the daemon did not exit within {bound:?}; stderr:\n{}",
                    self.stderr()
                )
            })
            .expect("wait for the daemon");
        (status.code(), start.elapsed())
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        http(self.port, "GET", path).await
    }

    async fn metrics(&self) -> String {
        match self.get("/metrics").await {
            Some((200, body)) => body,
            _ => String::new(),
        }
    }

    /// Polls `/metrics` until `f` holds; panics with the last scrape after `bound`.
    async fn wait_metrics(&mut self, bound: Duration, what: &str, f: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + bound;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the daemon exited ({status}) while waiting for {what}; stderr:\n{}",
                    self.stderr()
                );
            }
            last = self.metrics().await;
            if f(&last) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "timed out after {bound:?} waiting for {what}; last /metrics:\n{last}\nstderr:\n{}",
            self.stderr()
        );
    }
}

/// A minimal HTTP/1.1 client (one request per connection). `None` when nothing listens.
async fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_owned()))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

/// Sum of a Prometheus metric's samples whose labels include every `(key, value)`.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_text, value) = if let Some(rest) = rest.strip_prefix('{') {
            let Some((l, v)) = rest.split_once('}') else {
                continue;
            };
            (l, v)
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            continue; // a longer name sharing the prefix
        };
        if !labels
            .iter()
            .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")))
        {
            continue;
        }
        if let Ok(v) = value.trim().parse::<f64>() {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

fn cycles(text: &str, kind: &str, result: &str) -> f64 {
    metric(
        text,
        "ldsync_cycles_total",
        &[("kind", kind), ("result", result)],
    )
    .unwrap_or(0.0)
}

/// Polls `f` until it holds or `bound` passes.
async fn eventually(bound: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn delay_all(dot: &MockDotHandle, delay: Duration, times: Option<usize>) {
    dot.set_fault(DotFault {
        id: None,
        kind: DotFaultKind::Delay(delay),
        times,
    });
}

fn assert_no_sentinel(what: &str, text: &str, sentinels: &[&str]) {
    for s in sentinels {
        if let Some(at) = text.find(s) {
            let from = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
            let to = text[at..].find('\n').map(|i| at + i).unwrap_or(text.len());
            panic!("{what} leaks {s}: {}", &text[from..to]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// 1. The schedule drives cycles (run on start, then the 1 s cron), and the probes answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_cycles_on_schedule_and_answers_probes() {
    let env = Env::start(Setup::default()).await;
    let mut daemon = env.spawn_daemon("daemon", None);
    daemon
        .wait_metrics(Duration::from_secs(40), "two successful cycles", |m| {
            cycles(m, "incremental", "success") >= 2.0
        })
        .await;
    assert_eq!(
        daemon.get("/healthz").await.map(|r| r.0),
        Some(200),
        "/healthz"
    );
    assert_eq!(
        daemon.get("/readyz").await.map(|r| r.0),
        Some(200),
        "/readyz"
    );
    assert_eq!(daemon.get("/nope").await.map(|r| r.0), Some(404));
    // The state's status snapshot saw the cycles too.
    let (code, status, _) = env.run(&["status", "--json"], None).await;
    assert_eq!(
        code, 0,
        "status --json works while the daemon holds the lock"
    );
    let status: serde_json::Value = serde_json::from_str(&status).expect("status is JSON");
    assert!(
        status.to_string().contains("incremental"),
        "status names the cycles: {status}"
    );
    daemon.signal("TERM");
    let (code, _) = daemon.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    let err = daemon.stderr();
    assert!(
        err.contains("cycle finished"),
        "one summary per cycle:\n{err}"
    );
    assert!(
        !err.contains("tokio_cron_scheduler"),
        "scheduler INFO noise is filtered"
    );
}

/// 2. Counters move: pushes equal what Dot accepted; Lightdash request counters grow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_counters_move() {
    let env = Env::start(Setup::default()).await;
    let expected = env.expected_assets().await;
    let mut daemon = env.spawn_daemon("daemon", None);
    daemon
        .wait_metrics(Duration::from_secs(40), "the first cycle", |m| {
            cycles(m, "incremental", "success") >= 1.0
        })
        .await;
    let first = daemon.metrics().await;
    let pushed = metric(&first, "ldsync_assets_pushed_total", &[("result", "ok")])
        .expect("ldsync_assets_pushed_total appears after the first cycle");
    assert_eq!(
        pushed as usize,
        env.dot.accepted_count(),
        "pushed == accepted by Dot"
    );
    assert_eq!(pushed as usize, expected);
    let ld_before = metric(&first, "ldsync_api_requests_total", &[("api", "lightdash")])
        .expect("lightdash request counter");
    assert!(ld_before > 0.0);
    assert!(metric(&first, "ldsync_api_requests_total", &[("api", "dot")]).is_some());
    assert!(
        metric(&first, "ldsync_cycle_duration_seconds_count", &[]).is_some()
            || metric(&first, "ldsync_cycle_duration_seconds", &[]).is_some(),
        "cycle durations are exported:\n{first}"
    );
    assert!(metric(&first, "ldsync_last_success_timestamp_seconds", &[]).unwrap_or(0.0) > 1.6e9);
    daemon
        .wait_metrics(Duration::from_secs(30), "Lightdash requests to grow", |m| {
            metric(m, "ldsync_api_requests_total", &[("api", "lightdash")]).unwrap_or(0.0)
                > ld_before
        })
        .await;
    // Nothing changed, so later cycles push nothing more.
    let later = daemon.metrics().await;
    assert_eq!(
        metric(&later, "ldsync_assets_pushed_total", &[("result", "ok")]),
        Some(pushed)
    );
}

/// 3. SIGTERM while a cycle is in flight: exit 0 within 20 s; a restart converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_cycle_exits_zero_and_restart_converges() {
    let mut env = Env::start(Setup {
        concurrency: 1,
        sync: "*/2 * * * * *".into(),
        ..Setup::default()
    })
    .await;
    let expected = env.expected_assets().await;
    // 1 s per push at concurrency 1: the first cycle takes far longer than the shutdown bound.
    delay_all(&env.dot, Duration::from_secs(1), None);
    let mut daemon = env.spawn_daemon("first", None);
    assert!(
        eventually(Duration::from_secs(30), || env.dot.accepted_count() >= 2).await,
        "pushes started; stderr:\n{}",
        daemon.stderr()
    );
    // Two resync requests while the slow cycle runs: the first is queued, the second has to
    // wait for room. Neither may hold up SIGTERM.
    daemon.signal("USR1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.signal("USR1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.signal("TERM");
    let (code, took) = daemon.wait_exit(Duration::from_secs(40)).await;
    eprintln!("shutdown after SIGTERM mid-cycle took {took:?}");
    assert_eq!(code, Some(0), "stderr:\n{}", daemon.stderr());
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let partial = env.dot.assets().len();
    assert!(
        partial < expected,
        "the cycle was really interrupted ({partial}/{expected})"
    );
    let err = daemon.stderr();
    assert!(err.contains("SIGTERM"), "{err}");
    assert!(err.contains("stopped"), "{err}");

    // Restart on the same state with a healthy Dot: everything arrives, active.
    env.dot.clear_faults();
    env.port = free_port();
    env.write_config();
    let mut second = env.spawn_daemon("second", None);
    assert!(
        eventually(Duration::from_secs(40), || env
            .dot_holds_all_active(expected))
        .await,
        "Dot holds {} of {expected} assets; stderr:\n{}",
        env.dot.assets().len(),
        second.stderr()
    );
    second.signal("TERM");
    let (code, took) = second.wait_exit(Duration::from_secs(20)).await;
    eprintln!("idle shutdown after SIGTERM took {took:?}");
    assert_eq!(code, Some(0));
}

/// 4. SIGUSR1 pushes every asset again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_triggers_a_full_resync() {
    let env = Env::start(Setup::default()).await;
    let expected = env.expected_assets().await;
    let mut daemon = env.spawn_daemon("daemon", None);
    daemon
        .wait_metrics(Duration::from_secs(40), "the first cycle", |m| {
            cycles(m, "incremental", "success") >= 1.0
        })
        .await;
    assert_eq!(env.accepted_ids().len(), expected);
    // Later incremental cycles push nothing; clear the log and ask for a resync.
    env.dot.clear_requests();
    daemon.signal("USR1");
    assert!(
        eventually(Duration::from_secs(30), || env.accepted_ids().len()
            == expected)
        .await,
        "resync pushed {} of {expected}; stderr:\n{}",
        env.accepted_ids().len(),
        daemon.stderr()
    );
    daemon
        .wait_metrics(Duration::from_secs(10), "a resync cycle", |m| {
            cycles(m, "resync", "success") >= 1.0
        })
        .await;
    assert!(daemon.stderr().contains("SIGUSR1"));
    // SIGHUP is ignored (logged), the daemon keeps running.
    daemon.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "SIGHUP must not stop it"
    );
    assert!(
        eventually(Duration::from_secs(5), || daemon
            .stderr()
            .contains("SIGHUP ignored"))
        .await
    );
}

/// 5. A second process on the same state exits 2 and says how to reach the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_process_on_locked_state_exits_2() {
    let env = Env::start(Setup::default()).await;
    let mut daemon = env.spawn_daemon("daemon", None);
    daemon
        .wait_metrics(Duration::from_secs(40), "the first cycle", |m| {
            cycles(m, "incremental", "success") >= 1.0
        })
        .await;
    for args in [&["--once"][..], &["--resync"][..]] {
        let (code, _, err) = env.run(args, None).await;
        assert_eq!(code, 2, "{args:?}: stderr:\n{err}");
        assert!(err.contains("locked"), "{err}");
        assert!(err.contains("USR1"), "{err}");
        assert!(err.contains(&daemon.pid()), "names the pid: {err}");
        assert!(err.contains("/admin/resync"), "{err}");
        assert!(err.contains(&format!("127.0.0.1:{}", env.port)), "{err}");
    }
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon is unaffected"
    );
}

/// 6. A cycle slower than the interval: ticks are skipped and counted, requests never overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_cycle_skips_ticks_without_overlap() {
    let env = Env::start(Setup {
        concurrency: 1,
        ..Setup::default()
    })
    .await;
    let expected = env.expected_assets().await;
    // The first 4 pushes take 1.5 s each: the first cycle lasts > 6 s against a 1 s cron.
    delay_all(&env.dot, Duration::from_millis(1500), Some(4));
    env.dot.reset_max_in_flight();
    let mut daemon = env.spawn_daemon("daemon", None);
    daemon
        .wait_metrics(
            Duration::from_secs(60),
            "skipped ticks and a second cycle",
            |m| {
                metric(m, "ldsync_skipped_ticks_total", &[("kind", "incremental")]).unwrap_or(0.0)
                    >= 2.0
                    && cycles(m, "incremental", "success") >= 2.0
            },
        )
        .await;
    let m = daemon.metrics().await;
    let skipped = metric(&m, "ldsync_skipped_ticks_total", &[]).unwrap_or(0.0);
    eprintln!(
        "skipped ticks: {skipped}, max in flight at Dot: {}",
        env.dot.max_in_flight()
    );
    assert_eq!(
        env.dot.max_in_flight(),
        1,
        "never more than dot.concurrency = 1 in flight"
    );
    assert!(env.dot_holds_all_active(expected));
    // Each asset was pushed exactly once: the skipped ticks did not start a second cycle
    // that re-pushed what the slow one had not acknowledged yet.
    let requests = env.dot.requests();
    assert_eq!(requests.len(), expected, "one push per asset");
    // From the arrival times: the slow pushes were strictly one after another.
    let mut at: Vec<Instant> = requests.iter().map(|r| r.at).collect();
    at.sort();
    for pair in at.windows(2).take(4) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(1400),
            "a push started {gap:?} after a slow one"
        );
    }
    assert!(daemon.stderr().contains("skipping this tick"));
}

/// 7. Trace-level logs never contain the tokens (header auth daemon; query auth --once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_never_print_secrets() {
    let env = Env::start(Setup {
        ld_token: LD_SENTINEL.into(),
        dot_key: DOT_SENTINEL.into(),
        ..Setup::default()
    })
    .await;
    let expected = env.expected_assets().await;
    let mut daemon = env.spawn_daemon("daemon", Some("trace"));
    daemon
        .wait_metrics(Duration::from_secs(60), "a full cycle", |m| {
            cycles(m, "incremental", "success") >= 1.0
        })
        .await;
    assert_eq!(
        env.dot.accepted_count(),
        expected,
        "the sentinel tokens work"
    );
    daemon.signal("TERM");
    let (code, _) = daemon.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    let (out, err) = (daemon.stdout(), daemon.stderr());
    assert!(err.len() > 1000, "trace logging is on:\n{err}");
    assert!(
        err.contains("connecting to"),
        "the HTTP client's own debug/trace events are in the capture"
    );
    assert_no_sentinel("daemon stdout", &out, &[LD_SENTINEL, DOT_SENTINEL]);
    assert_no_sentinel("daemon stderr", &err, &[LD_SENTINEL, DOT_SENTINEL]);

    // Query auth: the token travels in the URL.
    let env = Env::start(Setup {
        ld_token: LD_SENTINEL.into(),
        dot_key: "unused-header-key".into(),
        query_auth: Some(("sync@example.com".into(), DOT_QUERY_SENTINEL.into())),
        ..Setup::default()
    })
    .await;
    let (code, out, err) = env.run(&["--once"], Some("trace")).await;
    assert_eq!(code, 0, "stderr:\n{err}");
    assert_eq!(env.dot.accepted_count(), expected, "query auth works");
    assert!(err.len() > 1000, "trace logging is on");
    assert!(
        err.contains("connecting to"),
        "HTTP client events are captured"
    );
    assert_no_sentinel("--once stdout", &out, &[LD_SENTINEL, DOT_QUERY_SENTINEL]);
    assert_no_sentinel("--once stderr", &err, &[LD_SENTINEL, DOT_QUERY_SENTINEL]);
    // And a failing push (its error names the URL) does not leak it either.
    env.dot.set_fault(DotFault {
        id: None,
        kind: DotFaultKind::Status(500),
        times: None,
    });
    let (code, out, err) = env.run(&["--resync"], Some("trace")).await;
    assert_ne!(code, 0, "pushes fail");
    assert_no_sentinel(
        "failing --resync stdout",
        &out,
        &[LD_SENTINEL, DOT_QUERY_SENTINEL],
    );
    assert_no_sentinel(
        "failing --resync stderr",
        &err,
        &[LD_SENTINEL, DOT_QUERY_SENTINEL],
    );
}

/// 8. `POST /admin/resync` from loopback queues a resync; GET is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_resync_endpoint() {
    let env = Env::start(Setup::default()).await;
    let expected = env.expected_assets().await;
    let mut daemon = env.spawn_daemon("daemon", None);
    daemon
        .wait_metrics(Duration::from_secs(40), "the first cycle", |m| {
            cycles(m, "incremental", "success") >= 1.0
        })
        .await;
    assert_eq!(daemon.get("/admin/resync").await.map(|r| r.0), Some(405));
    env.dot.clear_requests();
    let (status, _) = http(env.port, "POST", "/admin/resync")
        .await
        .expect("answer");
    assert_eq!(status, 202);
    assert!(
        eventually(Duration::from_secs(30), || env.accepted_ids().len()
            == expected)
        .await,
        "resync pushed {} of {expected}",
        env.accepted_ids().len()
    );
    daemon
        .wait_metrics(Duration::from_secs(10), "a resync cycle", |m| {
            cycles(m, "resync", "success") >= 1.0
        })
        .await;
}

/// 9. `check`: offline, online against the mocks, and with a wrong Lightdash token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_command() {
    let mut env = Env::start(Setup::default()).await;
    let (code, out, err) = env.run(&["check", "--offline"], None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("config: ok"), "{out}");
    assert_eq!(env.ld.requests().len(), 0, "offline means no request");

    let (code, out, err) = env.run(&["check"], None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("config: ok"), "{out}");
    let content = env.ld.content();
    let project = content.default_project().expect("a project");
    let name = &project.project.name;
    assert!(
        out.contains(name.as_str()),
        "names the project {name:?}:\n{out}"
    );
    let line = out
        .lines()
        .find(|l| l.contains(name.as_str()))
        .expect("a line for the project");
    assert!(
        line.contains(&format!("{} spaces listed", project.spaces.len()))
            && line.contains("would sync"),
        "counts the spaces that would sync: {line}"
    );
    // Issue 10.2: Dot's URL and credential are verified without writing an asset.
    let dot_line = out
        .lines()
        .find(|l| l.starts_with("dot: "))
        .unwrap_or_else(|| panic!("a line for Dot:\n{out}"));
    assert!(
        dot_line.contains("credential accepted") && dot_line.contains("422"),
        "{dot_line}"
    );
    assert!(env.dot.assets().is_empty(), "check writes no asset");
    assert_eq!(env.dot.requests().len(), 1, "one harmless request to Dot");

    let good_dot_key = env.setup.dot_key.clone();
    env.setup.dot_key = "wrong-dot-key-SENTINEL".into();
    env.write_config();
    let (code, out, err) = env.run(&["check"], None).await;
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("Dot refused our credentials (403)"),
        "names Dot's refusal:\n{err}"
    );
    assert!(
        !err.contains("SENTINEL") && !out.contains("SENTINEL"),
        "{err}"
    );
    env.setup.dot_key = good_dot_key;

    env.setup.ld_token = "wrong-token".into();
    env.write_config();
    let (code, out, err) = env.run(&["check"], None).await;
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("401"), "names the 401:\n{err}");
}

/// 10. An invalid cron is a configuration error (78) before any request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_cron_exits_78_before_any_request() {
    let mut env = Env::start(Setup::default()).await;
    env.setup.sync = "61 * * * * *".into();
    env.write_config();
    let mut daemon = env.spawn_daemon("daemon", None);
    let (code, _) = daemon.wait_exit(Duration::from_secs(20)).await;
    let err = daemon.stderr();
    assert_eq!(code, Some(78), "{err}");
    assert!(err.contains("schedule.sync"), "names the key:\n{err}");
    assert_eq!(env.ld.requests().len(), 0, "no request to Lightdash");
    assert_eq!(env.dot.requests().len(), 0, "no request to Dot");
    assert_eq!(http(env.port, "GET", "/healthz").await, None, "no listener");
}

/// The "cycle finished" lines of a daemon's text log that report this kind and outcome.
fn finished_lines(stderr: &str, kind: &str, outcome: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains("cycle finished"))
        .filter(|l| {
            l.contains(&format!("kind=\"{kind}\"")) && l.contains(&format!("outcome=\"{outcome}\""))
        })
        .count()
}

/// Issue 14.3: a resync cut short by SIGTERM reports "interrupted", is recorded in the state,
/// and the next start redoes it before anything else (Dot gets every asset again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_resync_is_reported_and_redone_at_the_next_start() {
    let mut env = Env::start(Setup {
        concurrency: 1,
        sync: "0 0 0 1 1 *".into(),
        ..Setup::default()
    })
    .await;
    let expected = env.expected_assets().await;
    let mut daemon = env.spawn_daemon("first", None);
    daemon
        .wait_metrics(Duration::from_secs(40), "the first cycle", |m| {
            cycles(m, "incremental", "success") >= 1.0
        })
        .await;
    delay_all(&env.dot, Duration::from_millis(400), None);
    env.dot.clear_requests();
    daemon.signal("USR1");
    assert!(
        eventually(Duration::from_secs(30), || env.accepted_ids().len() >= 2).await,
        "resync pushes started; stderr:\n{}",
        daemon.stderr()
    );
    daemon.signal("TERM");
    let (code, _) = daemon.wait_exit(Duration::from_secs(40)).await;
    assert_eq!(code, Some(0), "stderr:\n{}", daemon.stderr());
    let partial = env.accepted_ids().len();
    assert!(
        partial < expected,
        "the resync was cut short ({partial}/{expected})"
    );
    let err = daemon.stderr();
    assert_eq!(finished_lines(&err, "resync", "interrupted"), 1, "{err}");
    assert_eq!(finished_lines(&err, "resync", "success"), 0, "{err}");

    // The next start redoes the resync (the schedule never fires; run_on_start would only
    // run an incremental cycle, which pushes nothing here).
    env.dot.clear_faults();
    env.dot.clear_requests();
    env.port = free_port();
    env.write_config();
    let mut second = env.spawn_daemon("second", None);
    second
        .wait_metrics(Duration::from_secs(40), "the redone resync", |m| {
            cycles(m, "resync", "success") >= 1.0
        })
        .await;
    assert_eq!(env.accepted_ids().len(), expected, "{}", second.stderr());
    assert!(
        second.stderr().contains("did not finish"),
        "{}",
        second.stderr()
    );
    second.signal("TERM");
    assert_eq!(second.wait_exit(Duration::from_secs(20)).await.0, Some(0));

    // Finished now: a third start runs the usual incremental cycle, not another resync.
    env.dot.clear_requests();
    env.port = free_port();
    env.write_config();
    let mut third = env.spawn_daemon("third", None);
    third
        .wait_metrics(Duration::from_secs(40), "the start-up cycle", |m| {
            cycles(m, "incremental", "success") >= 1.0
        })
        .await;
    assert_eq!(env.accepted_ids().len(), 0, "{}", third.stderr());
}

/// Issue 14.6: SIGTERM while a Lightdash listing hangs cancels it at once: the daemon exits 0
/// through the normal path (the cycle reports "interrupted"), not by abandoning the cycle
/// after the shutdown bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_a_hanging_lightdash_request() {
    use lightdash_dot_sync::demo::mock_lightdash::{Fault, Route};
    let env = Env::start(Setup {
        sync: "0 0 0 1 1 *".into(),
        ..Setup::default()
    })
    .await;
    env.ld.set_fault(Route::Charts, Fault::Hang, None);
    let mut daemon = env.spawn_daemon("daemon", None);
    assert!(
        eventually(Duration::from_secs(30), || env.ld.count(Route::Charts) >= 1).await,
        "the charts listing was requested; stderr:\n{}",
        daemon.stderr()
    );
    daemon.signal("TERM");
    let (code, _) = daemon.wait_exit(Duration::from_secs(60)).await;
    let err = daemon.stderr();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        finished_lines(&err, "incremental", "interrupted"),
        1,
        "{err}"
    );
    assert!(
        !err.contains("abandoned"),
        "the cycle was waited for: {err}"
    );
}

/// Field report: SIGUSR1 in the first milliseconds of a start killed the daemon (its
/// handler was installed only after the state, the listener and the scheduler). Now it is
/// installed before anything is logged: a SIGUSR1 sent as soon as the first log line
/// appears is kept and runs a resync once the loop starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_during_start_up_queues_a_resync() {
    let env = Env::start(Setup::default()).await;
    let mut daemon = env.spawn_daemon("daemon", None);
    assert!(
        eventually(Duration::from_secs(20), || !daemon.stderr().is_empty()).await,
        "the daemon logs at start"
    );
    daemon.signal("USR1");
    daemon
        .wait_metrics(Duration::from_secs(40), "a resync cycle", |m| {
            cycles(m, "resync", "success") >= 1.0
        })
        .await;
    assert!(daemon.child.try_wait().unwrap().is_none(), "still running");
    assert!(daemon.stderr().contains("SIGUSR1"));
}

/// Field report: after a temporary ENOSPC every later cycle failed even once space was free,
/// `/readyz` stayed green and SIGTERM exited 2. On a real full file system (a tmpfs this test
/// mounts over the state directory): cycles fail, `/readyz` says the state cannot be written
/// (`/healthz` stays up); once space is free the daemon reopens the state by itself, cycles
/// succeed, `/readyz` is green again and SIGTERM exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_full_disk_is_survived_and_readiness_says_so() {
    let env = Env::start(Setup::default()).await;
    let Some(fs) = support::Tmpfs::mount(env.path("state"), "16m") else {
        eprintln!("skipped: mounting a tmpfs is not allowed here");
        return;
    };
    let mut daemon = env.spawn_daemon("daemon", None);
    daemon
        .wait_metrics(Duration::from_secs(40), "the first cycle", |m| {
            cycles(m, "incremental", "success") >= 1.0
        })
        .await;
    let filler = fs.fill();
    let uuid = env.ld.content().projects[0].charts[0].summary.uuid.clone();
    env.ld.update(|c| {
        c.chart_mut(&uuid).unwrap().summary.name = "Renamed on a full disk".into();
    });
    daemon
        .wait_metrics(Duration::from_secs(30), "a failed cycle", |m| {
            cycles(m, "incremental", "failed") >= 1.0
        })
        .await;
    let (status, body) = daemon.get("/readyz").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("No space left on device"), "{body}");
    assert_eq!(daemon.get("/healthz").await.unwrap().0, 200);

    std::fs::remove_file(filler).unwrap();
    let succeeded = cycles(&daemon.metrics().await, "incremental", "success");
    daemon
        .wait_metrics(
            Duration::from_secs(30),
            "a successful cycle after the fault",
            |m| cycles(m, "incremental", "success") > succeeded,
        )
        .await;
    assert_eq!(daemon.get("/readyz").await.unwrap().0, 200);
    assert!(
        env.accepted_ids()
            .contains(&format!("lightdash-chart-{uuid}")),
        "the change made during the fault is pushed"
    );
    assert!(
        daemon.stderr().contains("writable again"),
        "{}",
        daemon.stderr()
    );
    daemon.signal("TERM");
    let (code, _) = daemon.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0), "{}", daemon.stderr());
}

/// A daemon started while its state's file system is full keeps running (no crash loop),
/// not ready; once space is free its next cycle opens the state and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_started_on_a_full_disk_waits_for_space() {
    let env = Env::start(Setup::default()).await;
    let Some(fs) = support::Tmpfs::mount(env.path("state"), "16m") else {
        eprintln!("skipped: mounting a tmpfs is not allowed here");
        return;
    };
    // A healthy state from a first run, then a full disk.
    let (code, _, err) = env.run(&["--once"], None).await;
    assert_eq!(code, 0, "{err}");
    let filler = fs.fill();
    let mut daemon = env.spawn_daemon("daemon", None);
    daemon
        .wait_metrics(Duration::from_secs(30), "a failed cycle", |m| {
            cycles(m, "incremental", "failed") >= 1.0
        })
        .await;
    let (status, body) = daemon.get("/readyz").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("No space left on device"), "{body}");
    assert!(daemon.child.try_wait().unwrap().is_none(), "still running");
    assert!(
        daemon
            .stderr()
            .contains("the state cannot be opened (not corruption"),
        "{}",
        daemon.stderr()
    );
    std::fs::remove_file(filler).unwrap();
    daemon
        .wait_metrics(Duration::from_secs(30), "a successful cycle", |m| {
            cycles(m, "incremental", "success") >= 1.0
        })
        .await;
    assert_eq!(daemon.get("/readyz").await.unwrap().0, 200);
    let moved = std::fs::read_dir(env.path("state"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("db.corrupt-"))
        .count();
    assert_eq!(moved, 0, "a full disk is not corruption");
    daemon.signal("TERM");
    let (code, _) = daemon.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0), "{}", daemon.stderr());
}
