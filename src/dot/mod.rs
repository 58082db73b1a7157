//! Dot: the `ExternalAsset` body ([`types`]).
pub mod types;
