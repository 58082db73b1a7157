//! The long-running service (I/O): cron schedules, one cycle at a time, signals, the HTTP
//! listener (`/healthz`, `/readyz`, `/metrics`, `POST /admin/resync`) and systemd notify.
//!
//! Cycles run on one runner task fed by a channel. A cron tick that finds a cycle running is
//! skipped and counted (tokio-cron-scheduler has no overlap guard of its own); a resync
//! request (SIGUSR1, `/admin/resync`) waits for the running cycle instead, because an
//! operator asked for it. SIGHUP is ignored (restart to reload the config): reloading in
//! place would have to reopen clients and the state mid-flight for little gain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::mpsc;
use tokio_cron_scheduler::JobScheduler;

use crate::config::Settings;
use crate::listener::{AdminAccess, admin_access};
use crate::liveness::Liveness;
use crate::state::StateError;
use crate::sync::{CycleKind, CycleOptions, CycleReport, NoProgress, Outcome, SyncContext};

/// How long in-flight work may take to finish after SIGTERM before it is abandoned (it is
/// simply redone next start). Below the 20 s promised to operators, leaving time to flush.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(15);

/// `/healthz` fails when the liveness check has not passed for this long (it runs every
/// 5 s at most; see [`crate::liveness`] for what passing means).
const HEARTBEAT_STALE: i64 = 60;

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state could not be opened (locked, unwritable).
    #[error(transparent)]
    State(#[from] StateError),
    /// The scheduler rejected a job (an invalid cron slipped through validation).
    #[error("scheduler: {0}")]
    Schedule(String),
    /// The listener could not bind.
    #[error("cannot listen on {addr}: {source}; change server.listen or set it to \"\"")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl DaemonError {
    /// Exit code: 78 for configuration problems, 2 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Schedule(_) => 78,
            _ => 2,
        }
    }
}

/// Shared between the loop, the scheduler jobs and the HTTP handlers.
struct Shared {
    tx: mpsc::Sender<CycleKind>,
    busy: AtomicBool,
    /// A resync is queued (or on its way into the queue) and has not started yet.
    resync_pending: AtomicBool,
    ready: AtomicBool,
    /// Unix seconds of the last passed liveness check.
    heartbeat: AtomicI64,
    liveness: Liveness,
    metrics: Option<PrometheusHandle>,
    allow_remote_admin: bool,
    admin_token: Option<secrecy::SecretString>,
    /// Readiness also needs a state that can be written.
    store: crate::state::Store,
}

impl Shared {
    /// A scheduled tick: skipped (and counted) when a cycle is running or already queued.
    fn tick(&self, kind: CycleKind) {
        if self.busy.load(Ordering::SeqCst) || self.tx.try_send(kind).is_err() {
            metrics::counter!("ldsync_skipped_ticks_total", "kind" => kind.as_str()).increment(1);
            tracing::warn!(
                kind = kind.as_str(),
                "a cycle is still running; skipping this tick"
            );
        }
    }

    /// An operator's resync: queued behind a running cycle, never dropped; requests made
    /// while one is already waiting join it. Never blocks the caller: the signal task must
    /// stay free to see SIGTERM while a long cycle runs, and `/admin/resync` answers at once.
    fn resync(self: &Arc<Self>, source: &str) {
        if self.resync_pending.swap(true, Ordering::SeqCst) {
            tracing::info!(source, "full resync requested; one is already queued");
            return;
        }
        tracing::info!(source, "full resync requested");
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(CycleKind::Resync).await;
        });
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Seconds on the monotonic clock since the first call: liveness and the heartbeat must not
/// go stale (or fresh) when the wall clock is stepped.
fn monotonic_secs() -> i64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs() as i64
}

/// Records a finished cycle in the metrics.
pub fn record_cycle_metrics(report: &CycleReport) {
    metrics::counter!("ldsync_cycles_total", "kind" => report.kind.as_str(), "result" => report.outcome.as_str())
        .increment(1);
    metrics::histogram!("ldsync_cycle_duration_seconds", "kind" => report.kind.as_str())
        .record(report.duration_ms as f64 / 1000.0);
    if matches!(report.outcome, Outcome::Success | Outcome::PartialFailure) {
        metrics::gauge!("ldsync_last_success_timestamp_seconds").set(now() as f64);
    }
    metrics::gauge!("ldsync_last_cycle_assets_failed").set(report.failed as f64);
}

/// The daemon's signal streams. Installed first thing in `main`, before the config is read:
/// SIGUSR1's default action kills the process, so one sent in the first milliseconds of a
/// start (a deploy hook, a resync requested as the unit restarts) must already find a
/// handler. Signals that arrive before the loop runs are kept by the streams and handled
/// when it starts (a SIGUSR1 then queues a resync, a SIGTERM stops the daemon).
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (needs a tokio runtime).
    ///
    /// # Errors
    /// When the OS refuses a handler (practically never).
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr1: signal(SignalKind::user_defined1())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Feeds the daemon: SIGUSR1 queues a resync, SIGHUP is logged, SIGTERM/SIGINT flip
    /// `stop`.
    fn spawn(mut self, shared: Arc<Shared>, stop: tokio::sync::watch::Sender<bool>) {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = self.term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
                    _ = self.int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
                    _ = self.usr1.recv() => shared.resync("SIGUSR1"),
                    _ = self.hup.recv() => tracing::info!("SIGHUP ignored: restart the service to reload the configuration"),
                }
            }
            let _ = stop.send(true);
        });
    }
}

/// For one-shot runs (`--once`, `--resync`, `--deep`): SIGUSR1 and SIGHUP are logged and
/// ignored instead of killing the run (a resync request meant for a daemon, a closed
/// terminal). SIGTERM and SIGINT keep their default action: a killed one-shot run loses
/// nothing (at-least-once delivery, RELIABILITY.md G1).
///
/// # Errors
/// When the OS refuses a handler (practically never).
pub fn ignore_signals_in_one_shot() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = usr1.recv() => tracing::warn!("SIGUSR1 ignored: a one-shot run is already running; it requests a resync from a daemon only"),
                Some(()) = hup.recv() => tracing::warn!("SIGHUP ignored by a one-shot run"),
                else => break,
            }
        }
    });
    Ok(())
}

/// Runs until SIGTERM or SIGINT, with the handlers installed by [`Signals::install`].
pub async fn run(
    settings: Arc<Settings>,
    allow_mass_deactivation: bool,
    signals: Signals,
) -> Result<(), DaemonError> {
    let metrics = PrometheusBuilder::new().install_recorder().ok();
    let store = crate::app::open_store_for_daemon(&settings)?;
    let ctx = SyncContext::new(settings.clone(), store.clone());
    let (tx, rx) = mpsc::channel::<CycleKind>(1);
    let shared = Arc::new(Shared {
        tx,
        busy: AtomicBool::new(false),
        resync_pending: AtomicBool::new(false),
        ready: AtomicBool::new(true),
        heartbeat: AtomicI64::new(monotonic_secs()),
        liveness: Liveness::new(crate::liveness::bound(&settings), monotonic_secs()),
        metrics,
        allow_remote_admin: settings.server.allow_remote_admin,
        admin_token: settings.server.admin_token.clone(),
        store: store.clone(),
    });
    let server = start_listener(&settings, &shared).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut scheduler = start_schedules(&settings, &shared, &stop_rx).await?;
    first_cycle(&settings, &shared, &store);

    // Readiness and watchdog: both fed only while the loop is alive (idle, or its cycle
    // completing requests within the liveness bound), so a wedged loop is restarted.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let watchdog = sd_notify::watchdog_enabled();
    tracing::info!(
        liveness_bound_s = shared.liveness.bound().as_secs(),
        watchdog_s = watchdog.map(|w| w.as_secs()),
        "liveness: a cycle must complete a request at least this often"
    );
    let heartbeat = spawn_heartbeat(
        shared.clone(),
        [ctx.lightdash_counters.clone(), ctx.dot_counters.clone()],
        watchdog,
    );
    signals.spawn(shared.clone(), stop_tx);

    run_cycles(&ctx, &shared, rx, stop_rx, allow_mass_deactivation).await;

    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    shared.ready.store(false, Ordering::SeqCst);
    let _ = scheduler.shutdown().await;
    heartbeat.abort();
    if let Some(server) = server {
        server.abort();
    }
    // A store faulted earlier gets one more chance; everything acknowledged but unrecorded
    // is pushed again next start, so a state that still cannot be written loses nothing.
    if store.fault().is_some() {
        let _ = store.recover();
    }
    store.flush()?;
    tracing::info!("stopped");
    Ok(())
}

/// Binds `server.listen` (if set) and serves the probes, metrics and admin endpoint.
async fn start_listener(
    settings: &Settings,
    shared: &Arc<Shared>,
) -> Result<Option<tokio::task::JoinHandle<()>>, DaemonError> {
    let Some(addr) = settings.server.listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Listen { addr, source })?;
    let app = router(shared.clone());
    tracing::info!(%addr, "listening for /healthz /readyz /metrics /admin/resync");
    if settings.server.allow_remote_admin && settings.server.admin_token.is_none() {
        tracing::warn!(
            "server.allow_remote_admin is set without server.admin_token_file: any peer that reaches {addr} can trigger a full resync"
        );
    }
    let limits = crate::listener::Limits {
        max_connections: settings.server.max_connections,
        header_read_timeout: settings.server.header_read_timeout,
    };
    Ok(Some(tokio::spawn(crate::listener::serve(
        listener, app, limits,
    ))))
}

/// Starts tokio-cron-scheduler and one [`Armer`](crate::schedule::Armer) per schedule: each
/// run is armed as a one-shot job from the cron evaluated in `schedule.timezone` when it is
/// needed, and re-armed after a clock step (see [`crate::schedule`]).
async fn start_schedules(
    settings: &Settings,
    shared: &Arc<Shared>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<JobScheduler, DaemonError> {
    use crate::schedule::{Armer, SchedulerTimers, SystemClock, Timers};
    let scheduler = JobScheduler::new()
        .await
        .map_err(|e| DaemonError::Schedule(e.to_string()))?;
    scheduler
        .start()
        .await
        .map_err(|e| DaemonError::Schedule(e.to_string()))?;
    let timers: Arc<dyn Timers> = Arc::new(SchedulerTimers::new(scheduler.clone()));
    let mut jobs = vec![(
        "schedule.sync",
        &settings.schedule.sync,
        CycleKind::Incremental,
    )];
    if let Some(deep) = &settings.schedule.deep {
        jobs.push(("schedule.deep", deep, CycleKind::Deep));
    }
    for (name, expr, kind) in jobs {
        let cron = crate::schedule::parse(expr)
            .map_err(|e| DaemonError::Schedule(format!("{name} {expr:?}: {e}")))?;
        let armer = Armer {
            name,
            cron,
            tz: settings.schedule.timezone,
            clock: Arc::new(SystemClock),
            timers: timers.clone(),
        };
        let s = shared.clone();
        tokio::spawn(armer.run(stop.clone(), move || s.tick(kind)));
    }
    Ok(scheduler)
}

/// The cycle at start: a deep cycle or resync cut short by the last stop (or a crash) is
/// redone first (it covers the start-up incremental cycle); else `run_on_start`.
fn first_cycle(settings: &Settings, shared: &Arc<Shared>, store: &crate::state::Store) {
    if let Some(kind) = store.unfinished_full_cycle() {
        tracing::info!(
            kind = kind.as_str(),
            "the last {} did not finish (stopped or crashed); redoing it now",
            kind.as_str()
        );
        if kind == CycleKind::Resync {
            shared.resync_pending.store(true, Ordering::SeqCst);
        }
        let _ = shared.tx.try_send(kind);
    } else if settings.schedule.run_on_start {
        shared.tick(CycleKind::Incremental);
    }
}

/// One cycle at a time until `stop`; a cycle running at shutdown gets [`SHUTDOWN_BOUND`].
async fn run_cycles(
    ctx: &SyncContext,
    shared: &Arc<Shared>,
    mut rx: mpsc::Receiver<CycleKind>,
    mut stop_rx: tokio::sync::watch::Receiver<bool>,
    allow_mass_deactivation: bool,
) {
    loop {
        let kind = tokio::select! {
            _ = stop_rx.changed() => break,
            kind = rx.recv() => match kind { Some(k) => k, None => break },
        };
        shared.busy.store(true, Ordering::SeqCst);
        shared.liveness.cycle_started(monotonic_secs());
        if kind == CycleKind::Resync {
            shared.resync_pending.store(false, Ordering::SeqCst);
        }
        let opts = CycleOptions {
            kind,
            dry_run: false,
            allow_mass_deactivation,
        };
        let cycle_ctx = ctx.clone();
        let mut cycle = tokio::spawn(async move {
            crate::app::run_cycle_guarded(&cycle_ctx, opts, &NoProgress).await
        });
        let finished = tokio::select! {
            r = &mut cycle => r.ok(),
            _ = stop_rx.changed() => {
                ctx.request_stop();
                tracing::info!(bound_s = SHUTDOWN_BOUND.as_secs(), "stopping the cycle: Lightdash requests cancelled, waiting for the Dot pushes in flight");
                match tokio::time::timeout(SHUTDOWN_BOUND, &mut cycle).await {
                    Ok(r) => r.ok(),
                    Err(_) => {
                        cycle.abort();
                        tracing::warn!("cycle abandoned at shutdown; unacknowledged assets are pushed next start");
                        None
                    }
                }
            }
        };
        if let Some(run) = finished {
            let report = run.report;
            record_cycle_metrics(&report);
            metrics::gauge!("ldsync_state_writable").set(if ctx.store.fault().is_none() {
                1.0
            } else {
                0.0
            });
            crate::app::publish_status(&ctx.store);
            let line = report.one_line();
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&line)]);
            log_summary(&report, ctx.store.size_on_disk());
            crate::stats::release_free_memory();
        }
        // Idle only now: a hang in the bookkeeping above counts against liveness too.
        shared.liveness.cycle_ended();
        shared.busy.store(false, Ordering::SeqCst);
        if *stop_rx.borrow() {
            break;
        }
    }
}

/// Checks liveness every min(5 s, WatchdogSec/2); while it passes, refreshes `/healthz` and
/// sends `WATCHDOG=1` (when systemd asked for it); the first failure is logged at error.
fn spawn_heartbeat(
    s: Arc<Shared>,
    counters: [Arc<crate::stats::ApiCounters>; 2],
    watchdog: Option<Duration>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = watchdog
            .map(|w| w / 2)
            .unwrap_or(Duration::from_secs(5))
            .min(Duration::from_secs(5));
        let mut interval = tokio::time::interval(every);
        let mut reported = false;
        loop {
            interval.tick().await;
            let t = monotonic_secs();
            let requests = counters.iter().map(|c| c.total()).sum();
            if s.liveness.observe(t, requests) {
                reported = false;
                s.heartbeat.store(t, Ordering::SeqCst);
                if watchdog.is_some() {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
            } else if !reported {
                reported = true;
                tracing::error!(
                    stalled_s = s.liveness.stalled_for(t),
                    bound_s = s.liveness.bound().as_secs(),
                    "the running cycle has completed no request within the liveness bound; /healthz fails and the watchdog is no longer fed"
                );
            }
        }
    })
}

/// The one summary event per cycle (counts and process figures; no content, no secrets).
/// A failed cycle adds an error event with the reason.
pub fn log_summary(report: &CycleReport, state_bytes: u64) {
    tracing::info!(
        kind = report.kind.as_str(),
        outcome = report.outcome.as_str(),
        pushed = report.pushed_total(),
        deactivated = report.deactivated,
        unchanged = report.unchanged,
        failed = report.failed,
        lightdash_requests = report.lightdash_total(),
        dot_requests = report.dot_requests,
        duration_ms = report.duration_ms,
        cpu_ms = crate::stats::cpu_ms().unwrap_or(0),
        peak_rss_kb = crate::stats::peak_rss_kb().unwrap_or(0),
        state_bytes,
        "cycle finished"
    );
    if report.outcome == Outcome::Failed {
        tracing::error!(
            kind = report.kind.as_str(),
            error = report.error.as_deref().unwrap_or(""),
            "cycle failed"
        );
    }
}

fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/admin/resync", post(admin_resync))
        .with_state(shared)
}

async fn healthz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let age = monotonic_secs() - s.heartbeat.load(Ordering::SeqCst);
    if age <= HEARTBEAT_STALE {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "loop stalled: the running cycle completed no request for {} s (bound {} s)\n",
                s.liveness.stalled_for(monotonic_secs()),
                s.liveness.bound().as_secs()
            ),
        )
    }
}

async fn readyz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    if !s.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_owned());
    }
    match s.store.fault() {
        None => (StatusCode::OK, "ready\n".to_owned()),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the state cannot be written ({reason})\n"),
        ),
    }
}

async fn metrics_text(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    match &s.metrics {
        Some(h) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            h.render(),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "text/plain; version=0.0.4")],
            "metrics recorder unavailable\n".to_owned(),
        ),
    }
}

async fn admin_resync(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match admin_access(
        peer.ip(),
        authorization,
        s.admin_token.as_ref(),
        s.allow_remote_admin,
    ) {
        AdminAccess::Allow => {
            s.resync("POST /admin/resync");
            (StatusCode::ACCEPTED, "resync queued\n").into_response()
        }
        AdminAccess::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
            "send the token of server.admin_token_file as `Authorization: Bearer <token>`\n",
        )
            .into_response(),
        AdminAccess::Forbidden => (
            StatusCode::FORBIDDEN,
            "admin endpoints accept loopback peers only; set server.admin_token_file to allow others with a token\n",
        )
            .into_response(),
    }
}
