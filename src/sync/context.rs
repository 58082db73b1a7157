//! What a cycle talks to and carries: the clients, the store, the options and the progress
//! callbacks. Types only, no I/O of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::plan::Action;
use super::report::{CycleKind, CycleReport};
use crate::config::Settings;
use crate::dot::DotClient;
use crate::dot::types::AssetKind;
use crate::lightdash::LightdashClient;
use crate::state::Store;
use crate::stats::ApiCounters;

/// Everything a cycle talks to. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SyncContext {
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Lightdash client.
    pub lightdash: LightdashClient,
    /// Dot client.
    pub dot: DotClient,
    /// State.
    pub store: Store,
    /// Lightdash request counters.
    pub lightdash_counters: Arc<ApiCounters>,
    /// Dot request counters.
    pub dot_counters: Arc<ApiCounters>,
    /// Set on shutdown: no new push starts; pushes in flight finish and are committed.
    /// Set it with [`SyncContext::request_stop`], which also cancels Lightdash requests.
    pub stopping: Arc<AtomicBool>,
    /// Dot pushes started and not yet committed (or counted as failed).
    pub(crate) pushes_in_flight: Arc<AtomicUsize>,
    /// Wakes a running cycle when a stop is requested.
    stop_signal: Arc<tokio::sync::watch::Sender<bool>>,
}

impl SyncContext {
    /// Wires clients and counters for `settings` around an open store.
    pub fn new(settings: Arc<Settings>, store: Store) -> Self {
        let lightdash_counters = Arc::new(ApiCounters::new("lightdash"));
        let dot_counters = Arc::new(ApiCounters::new("dot"));
        let lightdash =
            LightdashClient::from_settings(&settings.lightdash, lightdash_counters.clone());
        let d = &settings.dot;
        let dot = DotClient::new(
            &d.url,
            d.auth.clone(),
            d.requests_per_second,
            d.max_attempts,
            d.timeout,
            dot_counters.clone(),
        );
        Self {
            settings,
            lightdash,
            dot,
            store,
            lightdash_counters,
            dot_counters,
            stopping: Arc::new(AtomicBool::new(false)),
            pushes_in_flight: Arc::new(AtomicUsize::new(0)),
            stop_signal: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Stops the running cycle (if any) as soon as no Dot push is in flight: pushes not
    /// started are not started, Lightdash requests are dropped at once (nothing depends on
    /// them), pushes in flight finish and are committed. The cycle reports
    /// [`super::Outcome::Interrupted`].
    pub fn request_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_signal.send_replace(true);
    }

    /// Resolves once a stop was requested and no push is in flight. Pushes decrement the
    /// count only after their commit, so cancelling the cycle here loses no acknowledged push.
    pub(crate) async fn stopped_between_pushes(&self) {
        let mut stop = self.stop_signal.subscribe();
        let _ = stop.wait_for(|stopped| *stopped).await;
        // Pushes in flight take at most a request timeout each; polling is cheap next to that.
        while self.pushes_in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Releases one counted push in flight when dropped (after its commit).
pub(crate) struct InFlight<'a>(pub(crate) &'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How to run a cycle.
#[derive(Debug, Clone, Copy, Default)]
pub struct CycleOptions {
    /// Incremental, deep or resync.
    pub kind: CycleKind,
    /// Plan only: push nothing, write nothing.
    pub dry_run: bool,
    /// Override the deactivation fail-safe for this cycle.
    pub allow_mass_deactivation: bool,
}

impl CycleOptions {
    /// Deep and resync cycles fetch and render everything; incremental ones only what changed.
    pub fn full(&self) -> bool {
        self.kind != CycleKind::Incremental
    }
}

/// Progress callbacks (a progress bar, a periodic log line, or nothing).
pub trait Progress: Send + Sync {
    /// More pushes are planned.
    fn add_planned(&self, _n: usize) {}
    /// One push finished (either way).
    fn push_done(&self) {}
}

/// No progress output.
#[derive(Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// One planned action, for `--dry-run` output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Planned {
    /// Project uuid.
    pub project: String,
    /// The action.
    #[serde(flatten)]
    pub action: Action,
}

/// What a cycle did.
#[derive(Debug, Clone)]
pub struct CycleRun {
    /// The summary.
    pub report: CycleReport,
    /// Every planned action (filled for dry runs only).
    pub planned: Vec<Planned>,
}

/// What one project's stages write into: the cycle's report and, for dry runs, the plan.
pub struct Sink<'a> {
    /// The cycle's report.
    pub report: &'a mut CycleReport,
    /// Planned actions (dry runs only).
    pub planned: &'a mut Vec<Planned>,
    /// Progress callbacks.
    pub progress: &'a dyn Progress,
}

/// Now, in unix seconds.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `dashboard`, `chart` or `space` for a Dot id (metric labels, report keys).
pub fn kind_label(id: &str) -> &'static str {
    AssetKind::split_id(id)
        .map(|(k, _)| k.as_str())
        .unwrap_or("unknown")
}
