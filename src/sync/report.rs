//! The cycle report: one structured summary per cycle, logged, exported as metrics, kept in
//! the state for `status`. No I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which kind of cycle ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CycleKind {
    /// Listings, then details for what changed.
    #[default]
    Incremental,
    /// Details for everything; push what differs.
    Deep,
    /// Details for everything; push everything.
    Resync,
}

impl CycleKind {
    /// How much a cycle covers: a resync covers a deep cycle, which covers an incremental
    /// one. Decides which unfinished cycle is redone at the next start.
    pub fn coverage(self) -> u8 {
        match self {
            CycleKind::Incremental => 0,
            CycleKind::Deep => 1,
            CycleKind::Resync => 2,
        }
    }

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            CycleKind::Incremental => "incremental",
            CycleKind::Deep => "deep",
            CycleKind::Resync => "resync",
        }
    }
}

/// How a cycle ended; decides the exit code of one-shot runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything planned was done.
    #[default]
    Success,
    /// The cycle finished but some assets failed (exit 1).
    PartialFailure,
    /// The cycle could not do its job: a listing failed or the fail-safe tripped (exit 2).
    Failed,
    /// Stopped (SIGTERM, SIGINT) before it finished: what was pushed is committed, the rest
    /// is left for the next start; an interrupted deep cycle or resync is redone then (exit 2).
    Interrupted,
}

impl Outcome {
    /// Exit code for one-shot runs.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Success => 0,
            Outcome::PartialFailure => 1,
            Outcome::Failed | Outcome::Interrupted => 2,
        }
    }

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::PartialFailure => "partial_failure",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// One asset that could not be fetched, rendered or pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetFailure {
    /// Dot id.
    pub id: String,
    /// What went wrong.
    pub error: String,
}

/// A fail-safe trip: a project whose deactivations were withheld.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailsafeTrip {
    /// Project uuid.
    pub project: String,
    /// Assets that would have been deactivated.
    pub would_deactivate: usize,
    /// Active assets of the project in the state.
    pub active: usize,
}

/// Failures kept in a report; the rest are only counted.
pub const FAILURES_KEPT: usize = 50;

/// The summary of one cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CycleReport {
    /// Kind of cycle.
    pub kind: CycleKind,
    /// Whether it was a dry run (nothing pushed or written).
    pub dry_run: bool,
    /// Unix milliseconds at start.
    pub started_at_ms: i64,
    /// Wall time.
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed, for [`Outcome::Failed`].
    pub error: Option<String>,
    /// Projects synced.
    pub projects: usize,
    /// Projects whose listings failed (their deactivations were skipped).
    pub projects_failed: Vec<String>,
    /// Projects Lightdash confirms were deleted (gone from the organisation, and a 404 on
    /// `GET /api/v1/projects/{p}`); their assets were deactivated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects_deleted: Vec<String>,
    /// Assets in scope by kind.
    pub listed: BTreeMap<String, usize>,
    /// Assets whose listing changed (or that are new).
    pub changed: usize,
    /// Details fetched by kind.
    pub fetched: BTreeMap<String, usize>,
    /// Explores fetched.
    pub explores_fetched: usize,
    /// Assets rendered.
    pub rendered: usize,
    /// Assets pushed (content changes, view counts and deactivations) by kind.
    pub pushed: BTreeMap<String, usize>,
    /// Pushes that only refreshed a view count.
    pub view_count_pushes: usize,
    /// Assets deactivated.
    pub deactivated: usize,
    /// Rendered assets that matched what Dot has.
    pub unchanged: usize,
    /// Assets that failed.
    pub failed: usize,
    /// The first failures.
    pub failures: Vec<AssetFailure>,
    /// Fail-safe trips.
    pub failsafe: Vec<FailsafeTrip>,
    /// Lightdash requests by route.
    pub lightdash_requests: BTreeMap<String, u64>,
    /// Dot requests (attempts included).
    pub dot_requests: u64,
}

impl CycleReport {
    /// Records a failed asset.
    pub fn fail(&mut self, id: &str, error: impl std::fmt::Display) {
        self.failed += 1;
        if self.failures.len() < FAILURES_KEPT {
            self.failures.push(AssetFailure {
                id: id.to_owned(),
                error: error.to_string(),
            });
        }
    }

    /// Total pushes.
    pub fn pushed_total(&self) -> usize {
        self.pushed.values().sum()
    }

    /// Total Lightdash requests.
    pub fn lightdash_total(&self) -> u64 {
        self.lightdash_requests.values().sum()
    }

    /// Sets the outcome from what happened, unless already failed.
    pub fn settle(&mut self) {
        if matches!(self.outcome, Outcome::Failed | Outcome::Interrupted) {
            return;
        }
        self.outcome = if !self.projects_failed.is_empty() || !self.failsafe.is_empty() {
            Outcome::Failed
        } else if self.failed > 0 {
            Outcome::PartialFailure
        } else {
            Outcome::Success
        };
        if self.outcome == Outcome::Failed && self.error.is_none() {
            let mut reasons = Vec::new();
            if !self.projects_failed.is_empty() {
                reasons.push(format!(
                    "listing failed for project(s) {}",
                    self.projects_failed.join(", ")
                ));
            }
            for trip in &self.failsafe {
                reasons.push(format!(
                    "fail-safe: project {} would deactivate {} of {} assets; none deactivated (rerun with --allow-mass-deactivation if this is intended)",
                    trip.project, trip.would_deactivate, trip.active
                ));
            }
            self.error = Some(reasons.join("; "));
        }
    }

    /// One line for logs and `status`.
    pub fn one_line(&self) -> String {
        format!(
            "{} cycle {}: listed {}, changed {}, pushed {} ({} view counts), deactivated {}, unchanged {}, failed {}, lightdash requests {}, dot requests {}, {} ms",
            self.kind.as_str(),
            self.outcome.as_str(),
            self.listed.values().sum::<usize>(),
            self.changed,
            self.pushed_total(),
            self.view_count_pushes,
            self.deactivated,
            self.unchanged,
            self.failed,
            self.lightdash_total(),
            self.dot_requests,
            self.duration_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_and_exit_codes() {
        let mut r = CycleReport::default();
        r.settle();
        assert_eq!(r.outcome.exit_code(), 0);
        r.fail("lightdash-chart-1", "boom");
        r.settle();
        assert_eq!(r.outcome, Outcome::PartialFailure);
        assert_eq!(r.outcome.exit_code(), 1);
        r.failsafe.push(FailsafeTrip {
            project: "p".into(),
            would_deactivate: 80,
            active: 100,
        });
        r.settle();
        assert_eq!(r.outcome.exit_code(), 2);
        assert!(
            r.error
                .as_deref()
                .unwrap()
                .contains("--allow-mass-deactivation")
        );
    }
}
