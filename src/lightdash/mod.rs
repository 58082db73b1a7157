//! Lightdash: tolerant API types ([`types`]), the HTTP client ([`client`], I/O) and
//! item-by-item decoding of listings ([`listing`], no I/O).
pub mod client;
pub mod listing;
mod presentation;
pub mod types;

pub use client::{LightdashClient, LightdashError};
