//! Sync: the cycle ([`cycle`], I/O orchestration), detail fetching ([`details`], I/O), the
//! plan ([`plan`], pure) and the cycle report ([`report`], pure).
pub mod cycle;
pub mod details;
pub mod plan;
pub mod privacy;
pub mod report;
pub mod visibility;

pub use cycle::{CycleOptions, CycleRun, NoProgress, Progress, SyncContext, run_cycle};
pub use report::{CycleKind, CycleReport, Outcome};
