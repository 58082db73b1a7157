//! Dot: the `ExternalAsset` body ([`types`]) and the HTTP client ([`client`], I/O).
pub mod client;
pub mod types;

pub use client::{DotClient, DotError};
