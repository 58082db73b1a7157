//! Bundled sample content and the in-process mock servers behind the `demo` command, also used
//! by the integration tests and benchmarks (whose harness and synthetic organisation live apart,
//! in `benches/support/`, out of the shipped library).
//!
//! - [`content`]: the sample Lightdash organisation (no I/O).
//! - [`mock_lightdash`]: an HTTP mock of the Lightdash API serving that content, with fault
//!   injection and request recording (I/O: binds a loopback port).
//! - [`mock_dot`]: an HTTP mock of Dot's import endpoint that validates bodies against Dot's
//!   schema and records what it accepted (I/O: binds a loopback port).
//! - [`serve`]: both mocks as standalone servers behind the hidden `mock-servers` command.
pub mod content;
pub mod mock_dot;
pub mod mock_lightdash;
pub mod run;
pub mod serve;
pub mod server;

/// A reqwest client for the mocks' tests. reqwest is built without a default crypto provider;
/// plain `http://` needs no TLS, but building a client still wants one installed.
#[cfg(test)]
pub(crate) fn test_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}
