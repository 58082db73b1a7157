//! Liveness of the daemon's cycle loop (PURE: time and request counts are passed in).
//!
//! `/healthz` and systemd's `WATCHDOG=1` are fed from here, so they mean "the loop is
//! working", not "a timer is running": the loop is alive while it is idle between ticks, or
//! while its cycle keeps making progress, i.e. a Lightdash or Dot request completes (either
//! way) at least every [`Liveness::bound`]. The bound comes from the configured timeouts
//! ([`bound_for`]), so a slow but progressing cold push of thousands of assets stays alive
//! while a cycle wedged on something that never returns stops feeding the watchdog.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::config::Settings;

/// Slack on top of the longest single request: rendering, state commits and scheduling
/// between requests.
pub const SLACK: Duration = Duration::from_secs(60);

/// PURE: the longest a progressing cycle can go without any request completing: the slower
/// API's worst single request (every attempt timing out, each retry waiting the longest
/// `Retry-After` we accept) plus [`SLACK`].
///
/// `lightdash_attempts` and `dot_attempts` count tries per request (first try included).
pub fn bound_for(
    lightdash_timeout: Duration,
    lightdash_attempts: u32,
    dot_timeout: Duration,
    dot_attempts: u32,
) -> Duration {
    let worst = |timeout: Duration, attempts: u32| {
        let attempts = attempts.max(1);
        timeout.saturating_mul(attempts) + crate::http::MAX_RETRY_AFTER.saturating_mul(attempts - 1)
    };
    worst(lightdash_timeout, lightdash_attempts).max(worst(dot_timeout, dot_attempts)) + SLACK
}

/// The bound for validated settings (see [`bound_for`]).
pub fn bound(settings: &Settings) -> Duration {
    bound_for(
        settings.lightdash.timeout,
        crate::lightdash::client::MAX_ATTEMPTS,
        settings.dot.timeout,
        settings.dot.max_attempts,
    )
}

/// Shared liveness state: the loop marks cycles, a periodic observer feeds request counts.
/// Times are unix seconds.
#[derive(Debug)]
pub struct Liveness {
    bound_s: i64,
    busy: AtomicBool,
    last_progress: AtomicI64,
    last_requests: AtomicU64,
}

impl Liveness {
    /// Idle, with no progress seen yet.
    pub fn new(bound: Duration, now: i64) -> Self {
        Self {
            bound_s: bound.as_secs().min(i64::MAX as u64) as i64,
            busy: AtomicBool::new(false),
            last_progress: AtomicI64::new(now),
            last_requests: AtomicU64::new(0),
        }
    }

    /// The configured bound.
    pub fn bound(&self) -> Duration {
        Duration::from_secs(self.bound_s as u64)
    }

    /// The loop took up a cycle (starting counts as progress).
    pub fn cycle_started(&self, now: i64) {
        self.last_progress.store(now, Ordering::SeqCst);
        self.busy.store(true, Ordering::SeqCst);
    }

    /// The loop is back to waiting for the next tick.
    pub fn cycle_ended(&self) {
        self.busy.store(false, Ordering::SeqCst);
    }

    /// Records the requests completed so far (both APIs, monotonic) and answers whether the
    /// loop is alive at `now`: idle, or busy with progress within the bound.
    pub fn observe(&self, now: i64, requests_completed: u64) -> bool {
        if self
            .last_requests
            .swap(requests_completed, Ordering::SeqCst)
            != requests_completed
        {
            self.last_progress.store(now, Ordering::SeqCst);
        }
        !self.busy.load(Ordering::SeqCst) || self.stalled_for(now) <= self.bound_s
    }

    /// Seconds since the last progress of the running cycle (0 when idle).
    pub fn stalled_for(&self, now: i64) -> i64 {
        if self.busy.load(Ordering::SeqCst) {
            (now - self.last_progress.load(Ordering::SeqCst)).max(0)
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_covers_the_slowest_request_with_every_retry() {
        let s = Duration::from_secs;
        // Dot: 5 × 30 s + 4 × 120 s = 630 s; Lightdash: 3 × 30 s + 2 × 120 s = 330 s.
        assert_eq!(bound_for(s(30), 3, s(30), 5), s(630) + SLACK);
        // The slower API decides.
        assert_eq!(bound_for(s(300), 3, s(30), 1), s(900 + 240) + SLACK);
        // Zero attempts is treated as one.
        assert_eq!(bound_for(s(10), 0, s(5), 0), s(10) + SLACK);
    }

    #[test]
    fn idle_is_alive_however_long_between_ticks() {
        let l = Liveness::new(Duration::from_secs(100), 0);
        assert!(l.observe(10_000, 0));
        assert_eq!(l.stalled_for(10_000), 0);
    }

    #[test]
    fn a_cycle_is_alive_while_requests_complete_and_dead_once_they_stop() {
        let l = Liveness::new(Duration::from_secs(100), 0);
        l.cycle_started(1_000);
        assert!(l.observe(1_050, 0), "within the bound of the start");
        // Requests keep completing: alive long past the bound from the start.
        for (i, t) in (1_100..2_000).step_by(90).enumerate() {
            assert!(l.observe(t, i as u64 + 1), "progress at {t}");
        }
        // Wedged: same count, past the bound.
        let last = l.last_progress.load(Ordering::SeqCst);
        let count = l.last_requests.load(Ordering::SeqCst);
        assert!(l.observe(last + 100, count));
        assert!(!l.observe(last + 101, count));
        assert_eq!(l.stalled_for(last + 101), 101);
        // A request completes: alive again; the cycle ends: alive whatever the time.
        assert!(l.observe(last + 200, count + 1));
        assert!(!l.observe(last + 301, count + 1));
        l.cycle_ended();
        assert!(l.observe(last + 10_000, count + 1));
    }
}
