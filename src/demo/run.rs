//! The `demo` command (I/O): bundled content served by the in-process mock Lightdash, pushed
//! into the in-process mock Dot, through the real cycle, with a temporary state. Shows a first
//! cycle pushing everything, one full description, a second cycle pushing nothing, and an
//! edit propagating to exactly the assets it affects.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::content::bundled;
use super::mock_dot::{MockDot, MockDotOptions};
use super::mock_lightdash::{MockLightdash, MockLightdashOptions};
use crate::config::{RawSecret, RawSettings};
use crate::sync::{CycleKind, CycleOptions, CycleReport, NoProgress, SyncContext, run_cycle};

/// Runs the demo and returns what to print.
pub async fn run() -> anyhow_free::Result<String> {
    let lightdash = MockLightdash::start(bundled(), MockLightdashOptions::default()).await?;
    let dot_options = MockDotOptions::default();
    let dot_key = dot_options.api_key.clone();
    let dot = MockDot::start(dot_options).await?;
    let state = tempfile_dir()?;

    let mut raw = RawSettings::default();
    raw.lightdash.url = lightdash.url();
    raw.lightdash.api_key = Some(RawSecret(MockLightdashOptions::default().token.into()));
    raw.lightdash.requests_per_second = 1000.0;
    raw.dot.url = dot.url();
    raw.dot.api_key = Some(RawSecret(dot_key.into()));
    raw.dot.requests_per_second = 1000.0;
    raw.state.path = state.path.clone();
    raw.server.listen = String::new();
    let settings = Arc::new(raw.validate(&HashMap::new()).map_err(|e| e.to_string())?);
    let store = crate::app::open_store(&settings).map_err(|e| e.to_string())?;
    let ctx = SyncContext::new(settings, store);
    let opts = CycleOptions {
        kind: CycleKind::Incremental,
        ..Default::default()
    };

    let mut out = String::new();
    let _ = writeln!(out, "lightdash-dot-sync demo");
    let _ = writeln!(
        out,
        "mock Lightdash at {}, mock Dot at {}, state in {}\n",
        lightdash.url(),
        dot.url(),
        state.path.display()
    );

    let first = run_cycle(&ctx, opts, &NoProgress).await.report;
    let _ = writeln!(out, "cycle 1 (empty state):\n{}\n", summary(&first));

    let assets = dot.assets();
    let dashboard = assets
        .values()
        .filter(|a| a.subtype == "lightdash_dashboard")
        .max_by_key(|a| a.dot_description.as_ref().map(|d| d.len()).unwrap_or(0));
    if let Some(d) = dashboard {
        let _ = writeln!(
            out,
            "Dot now holds {} assets. The richest dashboard, as Dot receives it:\n",
            assets.len()
        );
        // The same view as `preview`: the JSON names the description's length instead of
        // printing it twice (a `null` there would read as if Dot received none).
        let _ = writeln!(
            out,
            "{}---------------------------\n",
            crate::app::format_preview(d)
        );
    }

    let dot_before = dot.accepted_count();
    let second = run_cycle(&ctx, opts, &NoProgress).await.report;
    let _ = writeln!(
        out,
        "cycle 2 (nothing changed in Lightdash):\n{}",
        summary(&second)
    );
    let _ = writeln!(
        out,
        "Dot requests in cycle 2: {}\n",
        dot.accepted_count() - dot_before
    );

    // Rename one chart: the chart, the dashboards showing it and its space are re-pushed.
    let renamed = lightdash.update(|c| {
        let project = c.default_project_mut()?;
        let chart = project
            .charts
            .iter_mut()
            .find(|c| c.summary.dashboard_uuid.is_none())?;
        chart.summary.name = format!("{} (renamed)", chart.summary.name);
        Some(chart.summary.name.clone())
    });
    if let Some(name) = renamed {
        dot.clear_requests();
        let third = run_cycle(&ctx, opts, &NoProgress).await.report;
        let mut ids: Vec<String> = dot.requests().into_iter().filter_map(|r| r.id).collect();
        ids.sort();
        let _ = writeln!(
            out,
            "cycle 3 (chart renamed to {name:?}):\n{}",
            summary(&third)
        );
        let _ = writeln!(out, "pushed: {}\n", ids.join(", "));
    }
    let _ = writeln!(
        out,
        "Run `lightdash-dot-sync --help` for the real thing; see README.md."
    );
    Ok(out)
}

fn summary(r: &CycleReport) -> String {
    format!(
        "  outcome {}, listed {:?}, changed {}, details fetched {:?}, explores {}, pushed {:?}, unchanged {}, failed {}\n  Lightdash requests {:?}, Dot requests {}",
        r.outcome.as_str(),
        r.listed,
        r.changed,
        r.fetched,
        r.explores_fetched,
        r.pushed,
        r.unchanged,
        r.failed,
        r.lightdash_requests,
        r.dot_requests
    )
}

struct TempDir {
    path: std::path::PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn tempfile_dir() -> std::io::Result<TempDir> {
    let path = std::env::temp_dir().join(format!(
        "lightdash-dot-sync-demo-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&path)?;
    Ok(TempDir { path })
}

mod anyhow_free {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}
