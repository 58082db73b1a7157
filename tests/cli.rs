//! The real binary: exit codes and messages (DESIGN.md §2).

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

use lightdash_dot_sync::demo::content::bundled;
use lightdash_dot_sync::demo::mock_dot::{MockDot, MockDotHandle, MockDotOptions};
use lightdash_dot_sync::demo::mock_lightdash::{
    MockLightdash, MockLightdashHandle, MockLightdashOptions,
};
use lightdash_dot_sync::state::{Owner, Store};

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("lightdash-dot-sync").expect("binary built");
    // Keep the environment from leaking configuration into the tests.
    for (key, _) in std::env::vars() {
        if key.starts_with("LDSYNC_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the command off the async runtime, so the in-process mocks keep answering.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
        .await
        .expect("join")
}

#[test]
fn demo_runs_two_cycles_and_the_second_pushes_nothing() {
    let out = bin().arg("demo").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("cycle 2"), "{text}");
    assert!(text.contains("Dot requests in cycle 2: 0"), "{text}");
    // What Dot gets is shown, never a `null` description (issue 15, point 8).
    assert!(!text.contains("\"dot_description\": null"), "{text}");
    assert!(text.contains("characters, shown below>"), "{text}");
    // A cycle that changes nothing reports every listed asset as unchanged.
    let cycle2 = &text[text.find("cycle 2").unwrap()..];
    let listed = &cycle2[cycle2.find("listed {").unwrap() + 8..];
    let listed: usize = listed[..listed.find('}').unwrap()]
        .split(',')
        .map(|kv| {
            kv.rsplit(':')
                .next()
                .unwrap()
                .trim()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    let unchanged = &cycle2[cycle2.find("unchanged ").unwrap() + 10..];
    let unchanged: usize = unchanged[..unchanged.find(',').unwrap()].parse().unwrap();
    assert!(listed > 5, "{text}");
    assert_eq!(unchanged, listed, "{text}");
}

#[test]
fn bad_config_exits_78_and_names_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        r#"
[lightdash]
api_key = "x"

[dot]
url = "http://127.0.0.1:9"
api_key = "y"
concurrency = 0
"#,
    )
    .unwrap();
    let out = bin().arg("-c").arg(&config).arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("dot.concurrency"), "{err}");
    assert!(err.contains("lightdash.url"), "{err}");
}

#[test]
fn dry_run_without_a_mode_is_a_usage_error() {
    let out = bin()
        .args(["-c", "/nonexistent.toml", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("--once"), "{err}");
}

struct Mocks {
    lightdash: MockLightdashHandle,
    dot: MockDotHandle,
    dir: tempfile::TempDir,
    config: PathBuf,
    state: PathBuf,
}

async fn mocks_and_config() -> Mocks {
    let ld_options = MockLightdashOptions::default();
    let ld_token = ld_options.token.clone();
    let lightdash = MockLightdash::start(bundled(), ld_options).await.unwrap();
    let dot_options = MockDotOptions::default();
    let dot_key = dot_options.api_key.clone();
    let dot = MockDot::start(dot_options).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let ld_key = write("lightdash.key", &format!("{ld_token}\n"));
    let dot_key = write("dot.key", &format!("{dot_key}\n"));
    let state = dir.path().join("state");
    let config = write(
        "config.toml",
        &format!(
            r#"
[lightdash]
url = "{ld_url}"
api_key_file = "{ld_key}"
requests_per_second = 1000

[dot]
url = "{dot_url}"
api_key_file = "{dot_key}"
requests_per_second = 1000
max_attempts = 2

[state]
path = "{state}"

[server]
listen = ""

[log]
level = "warn"
"#,
            ld_url = lightdash.url(),
            ld_key = toml_path(&ld_key),
            dot_url = dot.url(),
            dot_key = toml_path(&dot_key),
            state = toml_path(&state),
        ),
    );
    Mocks {
        lightdash,
        dot,
        dir,
        config,
        state,
    }
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "\\\\")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_against_mocks_pushes_then_pushes_nothing() {
    let m = mocks_and_config().await;
    let mut cmd = bin();
    cmd.arg("-c").arg(&m.config).arg("--once");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = m.dot.accepted_count();
    assert!(first > 0);
    assert!(m.lightdash.requests().len() > 1);

    m.dot.clear_requests();
    let mut cmd = bin();
    cmd.arg("-c").arg(&m.config).arg("--once");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(m.dot.requests().is_empty(), "second run pushed");
    assert!(m.state.exists());
    drop(m.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_says_what_it_would_push_and_pushes_nothing() {
    let m = mocks_and_config().await;
    let mut cmd = bin();
    cmd.arg("-c").arg(&m.config).args(["--once", "--dry-run"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("nothing was pushed or written"), "{text}");
    let err = stderr(&out);
    let summary = err
        .lines()
        .find(|l| l.starts_with("incremental cycle"))
        .unwrap_or_else(|| panic!("no summary line in:\n{err}"));
    assert!(summary.contains("(dry run)"), "{summary}");
    assert!(summary.contains("would push"), "{summary}");
    assert!(!summary.contains("pushed"), "{summary}");
    assert!(m.dot.requests().is_empty(), "a dry run called Dot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_on_a_fresh_state_path_plans_everything_and_creates_nothing() {
    let m = mocks_and_config().await;
    for mode in ["--once", "--resync"] {
        let mut cmd = bin();
        cmd.arg("-c").arg(&m.config).args([mode, "--dry-run"]);
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("nothing was pushed or written"), "{text}");
        // Against an empty state every in-scope asset is planned as an upsert.
        assert!(!text.contains("dry run: 0 upserts"), "{mode}: {text}");
        assert!(
            !m.state.exists(),
            "{mode}: a dry run created {}",
            m.state.display()
        );
        assert!(m.dot.requests().is_empty(), "{mode}: a dry run called Dot");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_without_a_state_says_so_and_creates_none() {
    let m = mocks_and_config().await;
    let mut cmd = bin();
    cmd.arg("-c").arg(&m.config).arg("status");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("no state at"), "{text}");
    assert!(text.contains("no cycle has run yet"), "{text}");
    assert!(!m.state.exists(), "status created a state");
    assert!(m.lightdash.requests().is_empty(), "status called Lightdash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_while_the_state_is_locked_exits_2_and_says_how_to_trigger_the_daemon() {
    let m = mocks_and_config().await;
    let owner = Owner {
        pid: std::process::id(),
        listen: None,
    };
    let (store, _) = Store::open(&m.state, &owner).expect("state opens in the test");
    let mut cmd = bin();
    cmd.arg("-c").arg(&m.config).arg("--once");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("locked"), "{err}");
    assert!(err.contains("USR1"), "{err}");
    assert!(m.dot.requests().is_empty());
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_one_shot_run_logs_progress_when_stderr_is_not_a_terminal() {
    use lightdash_dot_sync::demo::mock_dot::{DotFault, DotFaultKind};
    let m = mocks_and_config().await;
    // Slow Dot down so the pushes span more than one 5 s progress interval.
    m.dot.set_fault(DotFault {
        id: None,
        kind: DotFaultKind::Delay(std::time::Duration::from_millis(400)),
        times: None,
    });
    let mut cmd = bin();
    cmd.arg("-c")
        .arg(&m.config)
        .arg("--resync")
        .env("LDSYNC_DOT__CONCURRENCY", "1")
        .env("LDSYNC_LOG__LEVEL", "info");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("progress"))
        .unwrap_or_else(|| panic!("no progress line in:\n{err}"));
    assert!(
        line.contains("pushed=") && line.contains("planned="),
        "{line}"
    );
    // The bar is for terminals only: no carriage-return redraws in a captured stream.
    assert!(!err.contains('\r'));
}

/// Issue 14.1: a host without CA certificates (here: `SSL_CERT_FILE` naming an empty bundle).
/// Plain http works; an https URL is a configuration error (78) naming the key and the fix,
/// never a panic; `check --offline` needs no certificates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ca_certificates_http_works_and_https_exits_78_naming_the_fix() {
    let m = mocks_and_config().await;
    // The binary on a host whose CA bundle is empty.
    let without_roots = |args: &[&str]| {
        let mut cmd = bin();
        cmd.env("SSL_CERT_FILE", "/dev/null")
            .env_remove("SSL_CERT_DIR")
            .arg("-c")
            .arg(&m.config)
            .args(args);
        run(cmd)
    };
    let out = without_roots(&["--once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(m.dot.accepted_count() > 0, "pushed over http");

    let text = std::fs::read_to_string(&m.config).unwrap();
    let https = text.replace(&m.dot.url(), "https://dot.invalid");
    std::fs::write(&m.config, https).unwrap();
    let out = without_roots(&["--once"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("dot.url is https://dot.invalid/"), "{err}");
    assert!(err.contains("apt-get install ca-certificates"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = without_roots(&["check", "--offline"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Issue 14.2: with stderr being the journal stream (`JOURNAL_STREAM` naming its device and
/// inode, as systemd sets it), every line carries its syslog priority: the failed cycle at
/// `<3>` (err), the summary at `<6>` (info). Without a matching stream, no prefixes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_journal_lines_carry_their_priority() {
    use std::os::unix::fs::MetadataExt;
    let m = mocks_and_config().await;
    // A wrong Lightdash token: the cycle fails (an error event) after its summary (info).
    std::fs::write(m.dir.path().join("lightdash.key"), "wrong-token\n").unwrap();
    let text = std::fs::read_to_string(&m.config).unwrap();
    std::fs::write(
        &m.config,
        text.replace("level = \"warn\"", "level = \"info\""),
    )
    .unwrap();
    for journal in [true, false] {
        let log = m.dir.path().join(format!("stderr-{journal}"));
        let file = std::fs::File::create(&log).unwrap();
        let meta = file.metadata().unwrap();
        let stream = if journal {
            format!("{}:{}", meta.dev(), meta.ino())
        } else {
            format!("{}:{}", meta.dev(), meta.ino() + 1)
        };
        // assert_cmd captures stderr; the stream must be this very file.
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lightdash-dot-sync"));
        cmd.env("JOURNAL_STREAM", stream)
            .arg("-c")
            .arg(&m.config)
            .arg("--once")
            .stderr(file);
        let status = tokio::task::spawn_blocking(move || cmd.status().expect("binary runs"))
            .await
            .expect("join");
        assert_eq!(status.code(), Some(2));
        let err = std::fs::read_to_string(&log).unwrap();
        let line = |needle: &str| {
            err.lines()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no {needle:?} in {err}"))
                .to_owned()
        };
        if journal {
            assert!(line("ERROR cycle failed").starts_with("<3>"), "{err}");
            assert!(line("INFO cycle finished").starts_with("<6>"), "{err}");
        } else {
            assert!(line("ERROR cycle failed").starts_with("20"), "{err}");
            assert!(!err.contains("<3>") && !err.contains("<6>"), "{err}");
        }
    }
}

/// Field report: SIGUSR1 sent to `--once`/`--resync` killed it (the default action). A
/// one-shot run logs and ignores it, finishes its cycle and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_and_sighup_do_not_kill_a_one_shot_run() {
    use lightdash_dot_sync::demo::mock_dot::{DotFault, DotFaultKind};
    let m = mocks_and_config().await;
    m.dot.set_fault(DotFault {
        id: None,
        kind: DotFaultKind::Delay(std::time::Duration::from_millis(100)),
        times: None,
    });
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("lightdash-dot-sync"));
    cmd.arg("-c")
        .arg(&m.config)
        .arg("--resync")
        .env("LDSYNC_DOT__CONCURRENCY", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id().to_string();
    // Signal once the run is pushing (its handlers are in place by then either way).
    while m.dot.requests().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for sig in ["-USR1", "-HUP"] {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("SIGUSR1 ignored"), "{err}");
    assert!(err.contains("SIGHUP ignored"), "{err}");
    assert_eq!(
        m.dot.accepted_count(),
        m.dot
            .requests()
            .iter()
            .filter_map(|r| r.id.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        "every asset pushed once, to the end"
    );
}

/// Field report: `requests_per_second = 1e-30` passed `check --offline`, then the run
/// panicked (exit 101, a restart loop). Both now exit 78 naming the key and its range.
#[test]
fn a_rate_the_limiter_cannot_use_is_a_config_error_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        r#"
[lightdash]
url = "http://127.0.0.1:9"
api_key = "x"
requests_per_second = 1e-30

[dot]
url = "http://127.0.0.1:9"
api_key = "y"
"#,
    )
    .unwrap();
    for args in [&["check", "--offline"][..], &["--once"][..]] {
        let out = bin().arg("-c").arg(&config).args(args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {err}");
        assert!(err.contains("lightdash.requests_per_second"), "{err}");
        assert!(err.contains("must be between 0.01 and"), "{err}");
    }
}
