//! Bundled sample content and the in-process mock servers behind the `demo` command, also used
//! by the integration tests and benchmarks.
//!
//! - [`content`]: the sample Lightdash organisation (no I/O).
//! - [`mock_lightdash`]: an HTTP mock of the Lightdash API serving that content, with fault
//!   injection and request recording (I/O: binds a loopback port).
//! - [`mock_dot`]: an HTTP mock of Dot's import endpoint that validates bodies against Dot's
//!   schema and records what it accepted (I/O: binds a loopback port).
pub mod content;
pub mod mock_dot;
pub mod mock_lightdash;
