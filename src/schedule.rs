//! Schedules that follow the wall clock and the time zone (timers are I/O; [`next_run`] is
//! pure).
//!
//! tokio-cron-scheduler evaluates a cron job's time zone once, when the job is created, and
//! keeps the resulting UTC offset: "03:00 Europe/Berlin" ran at 04:00 after the DST change
//! until a restart. It also keeps a job's next run as a wall-clock time, so stepping the
//! clock back a day stopped every cycle for a day. So each schedule is armed one run at a
//! time: [`next_run`] evaluates the cron in `schedule.timezone` at the moment the next run
//! is needed, a one-shot timer waits for it, and an [`Armer`] watches the wall clock against
//! the monotonic one while it waits, re-arming from the new wall time when they disagree by
//! more than [`JUMP_TOLERANCE`] (a step, not NTP's slewing).
//!
//! The timers are one-shot jobs of tokio-cron-scheduler in the daemon
//! ([`SchedulerTimers`]), and plain tokio sleeps in tests ([`TokioTimers`], driven by tokio's
//! paused clock with an injected [`WallClock`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// How often the wall clock is compared with the monotonic clock while waiting.
pub const JUMP_CHECK: Duration = Duration::from_secs(30);

/// A disagreement between wall and monotonic time larger than this is a clock step: re-arm.
pub const JUMP_TOLERANCE: Duration = Duration::from_secs(5);

/// Parses a 6-field cron (seconds first) exactly as config validation does.
pub fn parse(expr: &str) -> Result<Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

/// The first run of `cron` strictly after `after`, with the cron read as local time in `tz`
/// (with the offset in force on that date, so DST changes are followed). `None` when the
/// cron never matches again.
pub fn next_run(cron: &Cron, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&after.with_timezone(&tz), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The wall clock (injected in tests).
pub trait WallClock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A future that completes when a timer fires (or never, if the backend lost it; the armer
/// re-checks every [`JUMP_CHECK`] anyway).
pub type Fired = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Arms one-shot timers.
pub trait Timers: Send + Sync {
    /// A timer firing at wall time `at`, `wait` from now. Dropping the future disarms it.
    fn arm(&self, at: DateTime<Utc>, wait: Duration) -> Fired;
}

/// Timers as tokio sleeps (monotonic; tokio's paused clock drives them in tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioTimers;

impl Timers for TokioTimers {
    fn arm(&self, _at: DateTime<Utc>, wait: Duration) -> Fired {
        Box::pin(tokio::time::sleep(wait))
    }
}

/// Timers as one-shot jobs of tokio-cron-scheduler (which fires them by the wall clock).
#[derive(Clone)]
pub struct SchedulerTimers {
    scheduler: tokio_cron_scheduler::JobScheduler,
}

impl SchedulerTimers {
    /// Uses a started scheduler.
    pub fn new(scheduler: tokio_cron_scheduler::JobScheduler) -> Self {
        Self { scheduler }
    }
}

/// Removes a one-shot job when its timer future is dropped (re-armed or stopped).
struct Disarm {
    scheduler: tokio_cron_scheduler::JobScheduler,
    id: Arc<Mutex<Option<uuid::Uuid>>>,
}

impl Drop for Disarm {
    fn drop(&mut self) {
        let id = self
            .id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(id) = id {
            let scheduler = self.scheduler.clone();
            tokio::spawn(async move {
                let _ = scheduler.remove(&id).await;
            });
        }
    }
}

impl Timers for SchedulerTimers {
    fn arm(&self, at: DateTime<Utc>, wait: Duration) -> Fired {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let tx = Arc::new(Mutex::new(Some(tx)));
        let scheduler = self.scheduler.clone();
        let id = Arc::new(Mutex::new(None));
        let disarm = Disarm {
            scheduler: scheduler.clone(),
            id: id.clone(),
        };
        Box::pin(async move {
            let _disarm = disarm;
            // The scheduler counts whole seconds: round up so it never fires early.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let job = tokio_cron_scheduler::Job::new_one_shot_async(
                Duration::from_secs(secs),
                move |_, _| {
                    let tx = tx.lock().unwrap_or_else(PoisonError::into_inner).take();
                    Box::pin(async move {
                        if let Some(tx) = tx {
                            let _ = tx.send(());
                        }
                    })
                },
            );
            let added = match job {
                Ok(job) => scheduler.add(job).await,
                Err(e) => Err(e),
            };
            match added {
                Ok(job_id) => *id.lock().unwrap_or_else(PoisonError::into_inner) = Some(job_id),
                Err(e) => {
                    tracing::error!(error = %e, at = %at, "the scheduler refused a one-shot job; waiting with a plain timer");
                    tokio::time::sleep(wait).await;
                    return;
                }
            }
            if rx.await.is_ok() {
                id.lock().unwrap_or_else(PoisonError::into_inner).take();
            } else {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// Arms one schedule run after run, re-arming after clock steps.
pub struct Armer {
    /// Which schedule (for logs), e.g. `schedule.sync`.
    pub name: &'static str,
    /// The cron.
    pub cron: Cron,
    /// `schedule.timezone`.
    pub tz: Tz,
    /// The wall clock.
    pub clock: Arc<dyn WallClock>,
    /// The timers.
    pub timers: Arc<dyn Timers>,
}

impl Armer {
    /// Runs until `stop` turns true (or its sender is dropped), calling `fire` at every run.
    pub async fn run(
        self,
        mut stop: tokio::sync::watch::Receiver<bool>,
        fire: impl Fn() + Send + Sync + 'static,
    ) {
        loop {
            let now = self.clock.now();
            let Some(next) = next_run(&self.cron, self.tz, now) else {
                tracing::warn!(
                    schedule = self.name,
                    "the cron never matches again; no more runs of this schedule"
                );
                return;
            };
            let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
            tracing::debug!(schedule = self.name, next = %next, wait_s = wait.as_secs(), "armed");
            let armed_wall = now;
            let armed_mono = tokio::time::Instant::now();
            let mut timer = self.timers.arm(next, wait);
            let jumped = |label: &str| {
                let expected = armed_wall
                    + chrono::Duration::from_std(armed_mono.elapsed()).unwrap_or_default();
                let drift = self.clock.now() - expected;
                let jumped = drift.abs().to_std().unwrap_or(Duration::MAX) > JUMP_TOLERANCE;
                if jumped {
                    metrics::counter!("ldsync_clock_jumps_total").increment(1);
                    tracing::warn!(
                        schedule = self.name,
                        drift_s = drift.num_seconds(),
                        when = label,
                        "the wall clock jumped; re-arming the schedule from the new time"
                    );
                }
                jumped
            };
            loop {
                tokio::select! {
                    _ = &mut timer => {
                        // A timer on monotonic time can fire before a step back was noticed:
                        // never run "early" by the wall clock; re-arm instead.
                        if jumped("at the run") || self.clock.now() + chrono::Duration::seconds(1) < next {
                            break;
                        }
                        fire();
                        break;
                    }
                    _ = tokio::time::sleep(JUMP_CHECK) => {
                        if jumped("while waiting") {
                            break;
                        }
                    }
                    changed = stop.changed() => {
                        if changed.is_err() || *stop.borrow() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn next_run_follows_the_offset_in_force_on_that_date() {
        let cron = parse("0 0 3 * * *").unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Winter (CET, +1), then summer (CEST, +2) from 2026-03-29.
        assert_eq!(
            next_run(&cron, berlin, at("2026-03-27T12:00:00Z")),
            Some(at("2026-03-28T02:00:00Z"))
        );
        assert_eq!(
            next_run(&cron, berlin, at("2026-03-28T02:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        // And back on 2026-10-25.
        assert_eq!(
            next_run(&cron, berlin, at("2026-10-24T01:00:00Z")),
            Some(at("2026-10-25T02:00:00Z"))
        );
        assert_eq!(
            next_run(
                &parse("0 */15 * * * *").unwrap(),
                Tz::UTC,
                at("2026-06-01T12:14:59Z")
            ),
            Some(at("2026-06-01T12:15:00Z"))
        );
    }

    /// A wall clock that moves with tokio's (paused) clock, plus steps the test makes.
    struct FakeClock {
        base: DateTime<Utc>,
        start: tokio::time::Instant,
        step: Mutex<chrono::Duration>,
    }

    impl FakeClock {
        fn new(base: &str) -> Arc<Self> {
            Arc::new(Self {
                base: at(base),
                start: tokio::time::Instant::now(),
                step: Mutex::new(chrono::Duration::zero()),
            })
        }
        fn step(&self, by: chrono::Duration) {
            *self.step.lock().unwrap() += by;
        }
    }

    impl WallClock for FakeClock {
        fn now(&self) -> DateTime<Utc> {
            self.base
                + chrono::Duration::from_std(self.start.elapsed()).unwrap()
                + *self.step.lock().unwrap()
        }
    }

    type Fires = Arc<Mutex<Vec<DateTime<Utc>>>>;

    fn start(
        cron: &str,
        tz: &str,
        clock: Arc<FakeClock>,
    ) -> (Fires, tokio::sync::watch::Sender<bool>) {
        let fires: Fires = Arc::default();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let armer = Armer {
            name: "schedule.sync",
            cron: parse(cron).unwrap(),
            tz: tz.parse().unwrap(),
            clock: clock.clone(),
            timers: Arc::new(TokioTimers),
        };
        let f = fires.clone();
        tokio::spawn(armer.run(stop_rx, move || f.lock().unwrap().push(clock.now())));
        (fires, stop_tx)
    }

    fn taken(fires: &Fires) -> Vec<DateTime<Utc>> {
        fires.lock().unwrap().clone()
    }

    /// Field report: "03:00 Europe/Berlin" ran at 04:00 after the spring DST change until a
    /// restart. Each run is armed from the cron in the time zone at that moment.
    #[tokio::test(start_paused = true)]
    async fn spring_forward_keeps_local_time() {
        let clock = FakeClock::new("2026-03-27T12:00:00Z");
        let (fires, _stop) = start("0 0 3 * * *", "Europe/Berlin", clock);
        tokio::time::sleep(Duration::from_secs(4 * 86_400)).await;
        assert_eq!(
            taken(&fires),
            [
                at("2026-03-28T02:00:00Z"), // 03:00 CET
                at("2026-03-29T01:00:00Z"), // 03:00 CEST, the day of the change
                at("2026-03-30T01:00:00Z"),
                at("2026-03-31T01:00:00Z"),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fall_back_keeps_local_time_and_runs_once() {
        let clock = FakeClock::new("2026-10-23T12:00:00Z");
        let (fires, _stop) = start("0 30 2 * * *", "Europe/Berlin", clock);
        tokio::time::sleep(Duration::from_secs(3 * 86_400)).await;
        let got = taken(&fires);
        // 02:30 happens twice on 2026-10-25 (CEST, then CET): one run that day.
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], at("2026-10-24T00:30:00Z")); // 02:30 CEST
        assert!(
            got[1] == at("2026-10-25T00:30:00Z") || got[1] == at("2026-10-25T01:30:00Z"),
            "{got:?}"
        );
        assert_eq!(got[2], at("2026-10-26T01:30:00Z")); // 02:30 CET
    }

    /// Field report: stepping the clock back a day stopped every cycle for a day. The step is
    /// noticed within [`JUMP_CHECK`] and the schedule re-armed from the new wall time.
    #[tokio::test(start_paused = true)]
    async fn a_clock_stepped_back_re_arms_at_once() {
        let clock = FakeClock::new("2026-06-01T12:00:00Z");
        let (fires, _stop) = start("0 */15 * * * *", "UTC", clock.clone());
        tokio::time::sleep(Duration::from_secs(20 * 60)).await; // 12:20, ran at 12:15
        assert_eq!(taken(&fires), [at("2026-06-01T12:15:00Z")]);
        clock.step(chrono::Duration::days(-1)); // now 2026-05-31T12:20
        tokio::time::sleep(Duration::from_secs(30 * 60)).await;
        assert_eq!(
            taken(&fires),
            [
                at("2026-06-01T12:15:00Z"),
                at("2026-05-31T12:30:00Z"),
                at("2026-05-31T12:45:00Z"),
            ]
        );
    }

    /// A step forward runs the schedule at the next slot of the new time (missed slots are
    /// not replayed: each run is a full sync anyway).
    #[tokio::test(start_paused = true)]
    async fn a_clock_stepped_forward_re_arms_too() {
        let clock = FakeClock::new("2026-06-01T12:00:00Z");
        let (fires, stop) = start("0 0 * * * *", "UTC", clock.clone());
        tokio::time::sleep(Duration::from_secs(60)).await;
        clock.step(chrono::Duration::hours(5)); // now 17:01
        tokio::time::sleep(Duration::from_secs(60 * 60)).await;
        assert_eq!(taken(&fires), [at("2026-06-01T18:00:00Z")]);
        // Stopping ends the armer: no more runs.
        stop.send(true).unwrap();
        tokio::time::sleep(Duration::from_secs(3 * 60 * 60)).await;
        assert_eq!(taken(&fires).len(), 1);
    }
}
