//! # lightdash-dot-sync
//!
//! Keeps Dot (getdot.ai) informed about every Lightdash space, dashboard and chart: polls
//! Lightdash, renders a markdown description of each asset, diffs against a local sled
//! state, and pushes only what changed through Dot's
//! `POST /api/import_and_overwrite_external_asset`.
//!
//! # Layout
//! - [`config`]: raw settings with defaults → validated [`config::Settings`] (reads files).
//! - [`cli`]: clap types. [`telemetry`]: tracing setup.
//! - [`http`]: client builder (redirect policy, no Referer), capped bodies, rate limiters, pure retry rules.
//! - [`redact`]: PURE scrubbing of secrets and terminal controls from operator-facing text.
//! - [`lightdash`]: tolerant API types and the Lightdash client (I/O).
//! - [`dot`]: the `ExternalAsset` body and the Dot client (I/O).
//! - [`render`]: PURE markdown rendering of dashboards, charts and spaces.
//! - [`state`]: the sled store (I/O) and fingerprints (pure).
//! - [`sync`]: the cycle as named stages: listing, scope, change detection, fetch, render,
//!   plan, push and commit, report (pure where they decide, I/O where they talk).
//! - [`app`]: one-shot runs, `status`, `preview`, `check` wiring.
//! - [`daemon`]: schedules, signals, systemd notify (I/O).
//! - [`listener`]: the daemon's HTTP listener with connection limits (I/O), admin access rule (pure).
//! - [`stats`]: request counters.
//! - [`demo`]: bundled sample content and in-process mock Lightdash and Dot (I/O).
#![warn(missing_docs)]

pub mod app;
pub mod cause;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod dot;
pub mod http;
pub mod lightdash;
pub mod listener;
pub mod liveness;
pub mod redact;
pub mod render;
pub mod schedule;
pub mod state;
pub mod stats;
pub mod sync;
pub mod telemetry;
