//! Sync: one cycle as a pipeline of named stages (DESIGN.md §1).
//!
//! - [`cycle`]: the orchestration, reading like the numbered list (I/O through the stages).
//! - [`context`]: what a cycle talks to and carries (types).
//! - [`listing`]: the listings (I/O) and the empty-listing fail-safe (pure).
//! - [`scope`]: projects, privacy, include/exclude and kinds (pure).
//! - [`detect`]: change detection and propagation along dependencies (pure).
//! - [`fetch`]: details and explores (I/O), through [`details`] (as code first, then legacy).
//! - [`rendering`]: what to render from what (pure; the markdown is [`crate::render`]).
//! - [`plan`]: what to push (pure).
//! - [`push`]: push, commit after acknowledgement, stale marking (I/O).
//! - [`report`]: the cycle report (pure).
pub mod context;
pub mod cycle;
pub mod details;
pub mod detect;
pub mod fetch;
pub mod listing;
pub mod plan;
pub mod push;
pub mod rendering;
pub mod report;
pub mod scope;
#[cfg(test)]
mod testing;

pub use context::{CycleOptions, CycleRun, NoProgress, Progress, SyncContext};
pub use cycle::run_cycle;
pub use report::{CycleKind, CycleReport, Outcome};
