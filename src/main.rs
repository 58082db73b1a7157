//! The `lightdash-dot-sync` binary: parse the CLI, load the config, set up logging, dispatch.
//! `anyhow` lives only here; exit codes follow DESIGN.md §2.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use lightdash_dot_sync::cli::{Cli, Command};
use lightdash_dot_sync::config::{self, ConfigError, LogFormat, Settings};
use lightdash_dot_sync::state::StateError;
use lightdash_dot_sync::sync::{CycleKind, CycleOptions};
use lightdash_dot_sync::{app, redact, telemetry};

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
            eprintln!("error: cannot start the async runtime: {e}");
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

async fn dispatch(cli: Cli) -> ExitCode {
    if let Some(Command::Demo) = cli.command {
        telemetry::init(LogFormat::Text, "warn", std::io::stderr);
        return match lightdash_dot_sync::demo::run::run().await {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: demo failed: {e}");
                ExitCode::from(EXIT_CYCLE_FAILED)
            }
        };
    }
    let settings = match load_settings(&cli) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    telemetry::init(settings.log.format, &settings.log.level, std::io::stderr);
    for (key, url) in settings.insecure_urls() {
        tracing::warn!(
            key,
            host = url.host_str().unwrap_or(""),
            "{key} uses plain http:// to a host that is not loopback: the token crosses the network in clear text; use https://"
        );
    }

    match cli.command {
        Some(Command::Demo) => unreachable!("handled above"),
        Some(Command::Check { offline }) => check(&settings, offline).await,
        Some(Command::Status { json }) => match app::status(&settings, json) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_CYCLE_FAILED)
            }
        },
        Some(Command::Preview { id }) => match app::preview(&settings, &id).await {
            Ok(asset) => {
                print!("{}", app::format_preview(&asset));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
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
            match lightdash_dot_sync::daemon::run(settings, cli.allow_mass_deactivation).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
    }
}

async fn one_shot(settings: Arc<Settings>, opts: CycleOptions) -> ExitCode {
    let store = match app::open_store(&settings) {
        Ok(s) => s,
        Err(e @ StateError::Locked { .. }) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CYCLE_FAILED);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CYCLE_FAILED);
        }
    };
    let run = app::run_once(settings, store.clone(), opts).await;
    let report = run.report;
    let _ = store.flush();
    let store_bytes = store.size_on_disk();
    if opts.dry_run {
        print!("{}", app::format_plan(&run.planned));
        println!(
            "dry run: {} upserts/view counts, {} deactivations planned; nothing was pushed or written",
            report.pushed_total() - report.deactivated,
            report.deactivated
        );
    }
    lightdash_dot_sync::daemon::log_summary(&report, store_bytes);
    eprintln!("{}", report.one_line());
    if let Some(e) = &report.error {
        eprintln!("error: {}", redact::strip_terminal_controls(e));
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
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CYCLE_FAILED)
        }
    }
}
