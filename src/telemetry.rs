//! Logging setup (tracing). Writes to the given sink (stderr in the binary), so tests can
//! capture or silence it. No other I/O.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Noisy dependencies kept at warn unless RUST_LOG says otherwise.
const QUIET: &str = "tokio_cron_scheduler=warn,sled=warn,hyper=warn,hyper_util=warn,reqwest=warn,h2=warn,rustls=warn";

/// The filter: `RUST_LOG` if set, else the configured level plus [`QUIET`].
pub fn filter(level: &str) -> EnvFilter {
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new(level))
        }
        _ => EnvFilter::try_new(format!("{level},{QUIET}"))
            .unwrap_or_else(|_| EnvFilter::new("info")),
    }
}

/// Installs the global subscriber. Later calls are ignored (tests call it repeatedly).
pub fn init<W>(format: LogFormat, level: &str, sink: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_writer(sink)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
