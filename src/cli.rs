//! Command-line interface (clap derive types). No I/O.

use std::path::PathBuf;

use clap::{ArgGroup, Parser, Subcommand};

/// Keeps Dot informed about every Lightdash space, dashboard and chart.
///
/// Without a mode flag or command it runs as a daemon on the config's schedules.
#[derive(Debug, Parser)]
#[command(name = "lightdash-dot-sync", version, about, long_about = None)]
#[command(group(ArgGroup::new("mode").args(["once", "resync", "deep"])))]
pub struct Cli {
    /// Config file (TOML). Env: LDSYNC_CONFIG.
    #[arg(short, long, env = "LDSYNC_CONFIG", global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Run one incremental cycle, then exit.
    #[arg(long)]
    pub once: bool,

    /// Run one full resync (push every asset), then exit.
    #[arg(long)]
    pub resync: bool,

    /// Run one deep cycle (details for everything, push what differs), then exit. Normally
    /// scheduled by `schedule.deep`; exposed for benchmarks and troubleshooting.
    #[arg(long, hide = true)]
    pub deep: bool,

    /// With --once or --resync: print the plan; push nothing, write nothing.
    #[arg(long, requires = "mode")]
    pub dry_run: bool,

    /// Let this run deactivate more than sync.max_deactivate_fraction of a project's assets.
    #[arg(long)]
    pub allow_mass_deactivation: bool,

    /// What to do instead of syncing.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print one asset's ExternalAsset (JSON) and its markdown, fetched live. No Dot, no state.
    Preview {
        /// Dashboard, chart or space uuid or slug.
        id: String,
    },
    /// Validate the config and state directory, call Lightdash, and report what would sync.
    Check {
        /// Validate the config only (no network, no state).
        #[arg(long)]
        offline: bool,
    },
    /// What the state knows: last cycles, asset counts, failures.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Self-contained demo: bundled Lightdash content, in-process mock Lightdash and Dot.
    Demo,
    /// Test aid: serve the demo's mock Lightdash and mock Dot (plus a control server) on
    /// loopback ports until SIGTERM; prints their URLs and credentials as one JSON line.
    #[command(hide = true)]
    MockServers,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn dry_run_needs_a_mode_and_modes_exclude_each_other() {
        assert!(Cli::try_parse_from(["x", "--dry-run"]).is_err());
        assert!(Cli::try_parse_from(["x", "--once", "--resync"]).is_err());
        let cli = Cli::try_parse_from(["x", "-c", "a.toml", "--resync", "--dry-run"]).unwrap();
        assert!(cli.resync && cli.dry_run);
        let cli = Cli::try_parse_from(["x", "preview", "abc", "-c", "c.toml"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Preview { ref id }) if id == "abc"));
    }
}
