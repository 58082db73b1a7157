//! lightdash-dot-sync
#![warn(missing_docs)]
pub mod config;
pub mod dot;
pub mod http;
pub mod lightdash;
pub mod render;
pub mod state;
pub mod stats;
pub mod sync;
