//! The `lightdash-dot-sync` binary: parse the CLI, load the config, set up logging, dispatch.
//! `anyhow` lives only here; exit codes follow DESIGN.md §2.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use lightdash_dot_sync::cli::{Cli, Command};
use lightdash_dot_sync::config::{self, ConfigError, LogFormat, Settings};
use lightdash_dot_sync::state::store::LEDGER_FILE;
use lightdash_dot_sync::state::{StateError, Store};
use lightdash_dot_sync::sync::{CycleKind, CycleOptions};
use lightdash_dot_sync::{app, daemon, redact, telemetry};

/// Prints `error: …` on stderr; when stderr is the journal, every line at priority err
/// (`<3>`, sd-daemon(3)), so `journalctl -p err` shows why the service stopped.
macro_rules! fatal {
    ($($arg:tt)*) => {
        print_fatal(&format!($($arg)*))
    };
}

fn print_fatal(message: &str) {
    let journal = telemetry::stderr_is_journal();
    let mut text = String::new();
    for line in format!("error: {message}").lines() {
        if journal {
            text.push_str("<3>");
        }
        text.push_str(line);
        text.push('\n');
    }
    eprint!("{text}");
}

/// Exit codes (DESIGN.md §2).
const EXIT_CYCLE_FAILED: u8 = 2;
const EXIT_CONFIG: u8 = ConfigError::EXIT_CODE as u8;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                // A bad command line is a configuration error: nothing has run yet.
                _ => ExitCode::from(EXIT_CONFIG),
            };
        }
    };
    lightdash_dot_sync::stats::limit_malloc_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            fatal!("cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_CYCLE_FAILED);
        }
    };
    runtime.block_on(dispatch(cli))
}

fn load_settings(cli: &Cli) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    if cli.config.is_none()
        && !env
            .keys()
            .any(|k| k.starts_with(config::ENV_PREFIX) && k.contains("__"))
    {
        return Err(ConfigError::Invalid(vec![config::Problem {
            key: "--config".into(),
            problem: "no configuration given".into(),
            fix: "pass --config PATH (or set LDSYNC_CONFIG); see config/example.toml, or run `lightdash-dot-sync demo`".into(),
        }]));
    }
    config::load(cli.config.as_deref(), &env)
}

/// Signal handlers, first thing: a SIGUSR1 during start-up must not kill the process. The
/// daemon gets its streams; one-shot runs ignore SIGUSR1 and SIGHUP; other commands keep
/// the defaults.
fn install_signals(cli: &Cli) -> std::io::Result<Option<daemon::Signals>> {
    if cli.command.is_some() {
        return Ok(None);
    }
    if cli.once || cli.resync || cli.deep {
        daemon::ignore_signals_in_one_shot()?;
        return Ok(None);
    }
    daemon::Signals::install().map(Some)
}

async fn dispatch(cli: Cli) -> ExitCode {
    let signals = match install_signals(&cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return ExitCode::from(EXIT_CYCLE_FAILED);
        }
    };
    if let Some(Command::Demo) = cli.command {
        telemetry::init(LogFormat::Text, "warn", std::io::stderr);
        return match lightdash_dot_sync::demo::run::run().await {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                fatal!("demo failed: {e}");
                ExitCode::from(EXIT_CYCLE_FAILED)
            }
        };
    }
    if let Some(Command::MockServers) = cli.command {
        telemetry::init(LogFormat::Text, "warn", std::io::stderr);
        return mock_servers().await;
    }
    let settings = match load_settings(&cli) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            fatal!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    telemetry::init_stderr(settings.log.format, &settings.log.level);
    if let Err(e) = require_ca_roots(&settings, &cli.command) {
        fatal!("{e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    for (key, url) in settings.insecure_urls() {
        tracing::warn!(
            key,
            host = url.host_str().unwrap_or(""),
            "{key} uses plain http:// to a host that is not loopback: the token crosses the network in clear text; use https://"
        );
    }

    match cli.command {
        Some(Command::Demo) | Some(Command::MockServers) => unreachable!("handled above"),
        Some(Command::Check { offline }) => check(&settings, offline).await,
        Some(Command::Status { json }) => match app::status(&settings, json) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                fatal!("{e}");
                ExitCode::from(EXIT_CYCLE_FAILED)
            }
        },
        Some(Command::Preview { id }) => match app::preview(&settings, &id).await {
            Ok(asset) => {
                print!("{}", app::format_preview(&asset));
                ExitCode::SUCCESS
            }
            Err(e) => {
                fatal!("{e}");
                ExitCode::from(EXIT_CYCLE_FAILED)
            }
        },
        None if cli.once || cli.resync || cli.deep => {
            let kind = if cli.resync {
                CycleKind::Resync
            } else if cli.deep {
                CycleKind::Deep
            } else {
                CycleKind::Incremental
            };
            let opts = CycleOptions {
                kind,
                dry_run: cli.dry_run,
                allow_mass_deactivation: cli.allow_mass_deactivation,
            };
            one_shot(settings, opts).await
        }
        None => {
            let Some(signals) = signals else {
                eprintln!("error: signal handlers are missing");
                return ExitCode::from(EXIT_CYCLE_FAILED);
            };
            match daemon::run(settings, cli.allow_mass_deactivation, signals).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    fatal!("{e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
    }
}

/// The hidden `mock-servers` command: serves until SIGTERM or SIGINT.
async fn mock_servers() -> ExitCode {
    use tokio::signal::unix::{SignalKind, signal};
    let running = match lightdash_dot_sync::demo::serve::start().await {
        Ok(r) => r,
        Err(e) => {
            fatal!("cannot start the mock servers: {e}");
            return ExitCode::from(EXIT_CYCLE_FAILED);
        }
    };
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        fatal!("cannot install signal handlers");
        return ExitCode::from(EXIT_CYCLE_FAILED);
    };
    println!(
        "{}",
        serde_json::to_string(&running.endpoints).unwrap_or_default()
    );
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    ExitCode::SUCCESS
}

/// An https URL this command will call needs the host's CA certificates: without them, exit
/// 78 (restarting cannot install them) instead of failing every request.
fn require_ca_roots(
    settings: &Settings,
    command: &Option<Command>,
) -> Result<(), lightdash_dot_sync::http::NoCaRoots> {
    let lightdash = ("lightdash.url", &settings.lightdash.url);
    let dot = ("dot.url", &settings.dot.url);
    let urls: &[(&str, &url::Url)] = match command {
        Some(Command::Check { offline: true }) | Some(Command::Status { .. }) => return Ok(()),
        Some(Command::Preview { .. }) => &[lightdash],
        _ => &[lightdash, dot],
    };
    lightdash_dot_sync::http::require_roots_for(
        urls,
        lightdash_dot_sync::http::system_roots_problem().as_deref(),
    )
}

async fn one_shot(settings: Arc<Settings>, opts: CycleOptions) -> ExitCode {
    // A dry run promises to write nothing: with no state yet, it plans against an empty
    // scratch state in the temporary directory, removed afterwards, so `state.path` is
    // never created.
    let scratch = (opts.dry_run && !Store::exists(&settings.state.path)).then(scratch_state_dir);
    if let Some(dir) = &scratch {
        // A state path holding only the ledger (the database was lost) seeds the new
        // database from it, so the plan includes the deactivations a real run would make.
        let ledger = settings.state.path.join(LEDGER_FILE);
        if ledger.exists() {
            let copied = lightdash_dot_sync::state::private::create_dir(dir)
                .and_then(|()| std::fs::copy(&ledger, dir.join(LEDGER_FILE)));
            if let Err(e) = copied {
                tracing::warn!(error = %e, "could not copy the ledger for the dry run; planning without it");
            }
        }
    }
    let settings = match &scratch {
        Some(dir) => {
            let mut s = (*settings).clone();
            s.state.path = dir.clone();
            Arc::new(s)
        }
        None => settings,
    };
    let code = one_shot_with(settings, opts).await;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(&dir);
    }
    code
}

/// A fresh, unused directory path under the system temporary directory for a dry run's
/// throwaway state (not created here; the store creates it).
fn scratch_state_dir() -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "lightdash-dot-sync-dry-run-{}-{nanos}",
        std::process::id()
    ))
}

async fn one_shot_with(settings: Arc<Settings>, opts: CycleOptions) -> ExitCode {
    let store = match app::open_store(&settings) {
        Ok(s) => s,
        Err(e @ StateError::Locked { .. }) => {
            fatal!("{e}");
            return ExitCode::from(EXIT_CYCLE_FAILED);
        }
        Err(e) => {
            fatal!("{e}");
            return ExitCode::from(EXIT_CYCLE_FAILED);
        }
    };
    let run = app::run_once(settings, store.clone(), opts).await;
    let report = run.report;
    if !opts.dry_run {
        let _ = store.flush();
    }
    let store_bytes = store.size_on_disk();
    if opts.dry_run {
        print!("{}", app::format_plan(&run.planned));
        println!(
            "dry run: {} upserts/view counts, {} deactivations planned; nothing was pushed or written",
            report.pushed_total() - report.deactivated,
            report.deactivated
        );
    }
    daemon::log_summary(&report, store_bytes);
    eprintln!("{}", report.one_line());
    if let Some(e) = &report.error {
        fatal!("{}", redact::strip_terminal_controls(e));
    }
    ExitCode::from(report.outcome.exit_code() as u8)
}

async fn check(settings: &Settings, offline: bool) -> ExitCode {
    println!("config: ok");
    if offline {
        return ExitCode::SUCCESS;
    }
    match app::check_online(settings).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            fatal!("{e}");
            ExitCode::from(EXIT_CYCLE_FAILED)
        }
    }
}
