//! Errors in one line with their causes (no I/O).
//!
//! reqwest's own message for a failed connection is only "error sending request"; why (DNS,
//! refused, TLS certificate, timeout) is in its `source()` chain. [`chain`] prints the
//! whole chain, so a log line or `status` says why without a debug build.

use std::error::Error;

/// `error: cause: cause …`, one line, each distinct message once (layers often repeat
/// their source's text). Secrets are the caller's business: pass errors whose messages
/// hold none (reqwest errors with the URL stripped).
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{msg}")]
    struct E {
        msg: String,
        #[source]
        source: Option<Box<E>>,
    }

    fn e(msg: &str, source: Option<E>) -> E {
        E {
            msg: msg.into(),
            source: source.map(Box::new),
        }
    }

    #[test]
    fn the_whole_chain_on_one_line_without_repeats() {
        let err = e(
            "error sending request",
            Some(e(
                "client error (Connect)",
                Some(e("invalid peer certificate: UnknownIssuer\nmore", None)),
            )),
        );
        assert_eq!(
            chain(&err),
            "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer more"
        );
        let repeated = e(
            "timed out: operation timed out",
            Some(e("operation timed out", None)),
        );
        assert_eq!(chain(&repeated), "timed out: operation timed out");
    }
}
