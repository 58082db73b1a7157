//! Sync: one cycle as a pipeline of named stages (DESIGN.md §1).
//!
//! - [`cycle`]: the orchestration, reading like the numbered list (I/O through the stages).
//! - [`context`]: what a cycle talks to and carries (types).
//! - [`listing`]: the listings, the trash, the verification list, SQL charts found through
//!   tiles on older servers (I/O), and the empty-listing fail-safe (pure).
//! - [`held`]: what undecodable listing items hold back from pushes and deactivations (pure).
//! - [`scope`]: projects, privacy, include/exclude and kinds (pure), with access resolved
//!   by [`privacy`] as Lightdash resolves it (pure).
//! - [`visibility`]: what one synced asset may say about another (pure).
//! - [`detect`]: change detection and propagation along dependencies (pure).
//! - [`fetch`]: details and explores (I/O), through [`details`] (as code first, then legacy).
//! - [`rendering`]: what to render from what (pure; the markdown is [`crate::render`]).
//! - [`plan`]: what to push (pure).
//! - [`push`]: push, commit after acknowledgement, stale marking (I/O).
//! - [`slices`]: fetch → render → plan → push → commit in bounded slices: charts, then
//!   dashboards, then spaces, so memory does not grow with the organisation.
//! - [`report`]: the cycle report (pure).
pub mod context;
pub mod cycle;
pub mod details;
pub mod detect;
pub mod fetch;
pub mod held;
pub mod listing;
pub mod plan;
pub mod privacy;
pub mod push;
pub mod rendering;
pub mod report;
pub mod scope;
pub mod slices;
#[cfg(test)]
mod testing;
pub mod visibility;

pub use context::{CycleOptions, CycleRun, NoProgress, Progress, SyncContext};

/// A hash map for the per-asset loops of a cycle (tens of thousands of lookups by uuid each):
/// foldhash, several times faster than the default SipHash on short keys, randomly seeded.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A hash set for the per-asset loops of a cycle (see [`FastMap`]).
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
pub use cycle::run_cycle;
pub use report::{CycleKind, CycleReport, Outcome};
