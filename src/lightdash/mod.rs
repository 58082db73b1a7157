//! Lightdash: tolerant API types ([`types`]), the HTTP client ([`client`], I/O) and
//! item-by-item decoding of listings ([`listing`], no I/O) and of the envelope as the body
//! arrives ([`stream`], reads from a channel the client fills).
pub mod client;
pub mod listing;
mod presentation;
pub mod stream;
pub mod types;

pub use client::{LightdashClient, LightdashError};
