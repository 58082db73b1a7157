//! Lightdash: tolerant API types ([`types`]) and the HTTP client ([`client`], I/O).
pub mod client;
mod presentation;
pub mod types;

pub use client::{LightdashClient, LightdashError};
