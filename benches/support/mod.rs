//! Benchmark support, kept out of the shipped library: the scale harness ([`bench`]) and the
//! synthetic organisation it serves ([`synthetic`]). Included by `benches/scale.rs` and, with
//! `#[path]`, by the integration tests that use them (`tests/scale_smoke.rs`,
//! `tests/reliability.rs`).
// Each including target uses a different part.
#![allow(dead_code)]

pub mod bench;
pub mod synthetic;
