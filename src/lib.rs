//! lightdash-dot-sync
#![warn(missing_docs)]
pub mod demo;
pub mod dot;
pub mod lightdash;
pub mod render;
