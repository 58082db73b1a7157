//! Lightdash: tolerant API types ([`types`]).
pub mod types;
