//! Logging setup (tracing). Writes to the given sink (stderr in the binary), so tests can
//! capture or silence it. Under systemd (stderr is the journal stream named by
//! `JOURNAL_STREAM`) every event is prefixed with its syslog priority (`<3>` error … `<7>`
//! debug, sd-daemon(3)), which journald strips and records as `PRIORITY=`, so
//! `journalctl -p err` finds failed cycles. Only I/O: `fstat` of stderr to recognise the
//! journal stream.

use std::io::Write;

use tracing::{Level, Metadata};
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

/// PURE: the syslog priority journald records for a tracing level (sd-daemon(3)):
/// error 3 (`err`), warn 4 (`warning`), info 6, debug and trace 7.
pub fn journal_priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// PURE: whether `JOURNAL_STREAM` (`"<device>:<inode>"`, set by systemd for a service whose
/// stderr is the journal) names the stream with this device and inode. Checking both, as
/// sd_journal_stream_fd(3) advises, keeps a redirected stderr (`2>file` in a unit's shell
/// wrapper, a child process) from getting `<N>` prefixes it would print literally.
pub fn is_journal_stream(journal_stream: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = journal_stream.trim().split_once(':') else {
        return false;
    };
    d.parse::<u64>().ok() == Some(dev) && i.parse::<u64>().ok() == Some(ino)
}

/// Whether this process's stderr is the journal stream systemd connected.
pub fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(meta) => is_journal_stream(&stream, meta.dev(), meta.ino()),
        Err(_) => false,
    }
}

/// A [`MakeWriter`] that starts every event with its `<N>` journal priority. The fmt layer
/// writes each event in one piece, so the prefix lands at the start of its first line.
pub struct JournalPrefixed<W>(pub W);

/// The writer [`JournalPrefixed`] hands out for one event.
pub struct PrefixedWriter<W> {
    inner: W,
    prefix: Option<u8>,
}

impl<W: Write> Write for PrefixedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let Some(priority) = self.prefix.take() else {
            return self.inner.write_all(buf);
        };
        // One write, so concurrent events cannot split a prefix from its line.
        let mut line = Vec::with_capacity(buf.len() + 3);
        line.extend_from_slice(format!("<{priority}>").as_bytes());
        line.extend_from_slice(buf);
        self.inner.write_all(&line)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for JournalPrefixed<W> {
    type Writer = PrefixedWriter<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        PrefixedWriter {
            inner: self.0.make_writer(),
            prefix: Some(6),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        PrefixedWriter {
            inner: self.0.make_writer_for(meta),
            prefix: Some(journal_priority(meta.level())),
        }
    }
}

/// Installs the global subscriber, with journal priorities when stderr is the journal (see
/// the module doc). Later calls are ignored (tests call it repeatedly).
pub fn init_stderr(format: LogFormat, level: &str) {
    if stderr_is_journal() {
        init(format, level, JournalPrefixed(std::io::stderr));
    } else {
        init(format, level, std::io::stderr);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(journal_priority(&Level::ERROR), 3);
        assert_eq!(journal_priority(&Level::WARN), 4);
        assert_eq!(journal_priority(&Level::INFO), 6);
        assert_eq!(journal_priority(&Level::DEBUG), 7);
        assert_eq!(journal_priority(&Level::TRACE), 7);
    }

    #[test]
    fn journal_stream_must_match_device_and_inode() {
        assert!(is_journal_stream("8:12345", 8, 12345));
        assert!(is_journal_stream(" 8:12345\n", 8, 12345));
        assert!(!is_journal_stream("8:12345", 8, 12346));
        assert!(!is_journal_stream("9:12345", 8, 12345));
        assert!(!is_journal_stream("", 8, 12345));
        assert!(!is_journal_stream("garbage", 8, 12345));
    }

    #[test]
    fn every_event_line_starts_with_its_priority_in_both_formats() {
        for format in [LogFormat::Json, LogFormat::Text] {
            let buffer = Buffer::default();
            let sink = JournalPrefixed(buffer.clone());
            let builder = tracing_subscriber::fmt()
                .with_env_filter(EnvFilter::new("trace"))
                .with_writer(sink)
                .with_ansi(false);
            let dispatch: tracing::Dispatch = match format {
                LogFormat::Json => builder.json().flatten_event(true).finish().into(),
                LogFormat::Text => builder.finish().into(),
            };
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::error!(kind = "incremental", "cycle failed");
                tracing::warn!("push failed");
                tracing::info!(pushed = 3, "cycle finished");
                tracing::debug!("detail");
            });
            let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 4, "{text}");
            for (line, (prefix, message)) in lines.iter().zip([
                ("<3>", "cycle failed"),
                ("<4>", "push failed"),
                ("<6>", "cycle finished"),
                ("<7>", "detail"),
            ]) {
                assert!(line.starts_with(prefix), "{format:?}: {line}");
                assert!(line.contains(message), "{format:?}: {line}");
            }
            if format == LogFormat::Json {
                let json: serde_json::Value = serde_json::from_str(&lines[0][3..]).unwrap();
                assert_eq!(json["message"], "cycle failed");
            }
        }
    }
}
