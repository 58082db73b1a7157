//! Keeps secrets and terminal control sequences out of text that operators see (pure).
//!
//! Everything derived from a Lightdash or Dot response (error details, redirect targets) goes
//! through a [`Redactor`] before it is logged, stored in the state, written to `status.json`
//! or printed: an error page that echoes the request URL must not put the query `api_token`
//! into a WARN line. Config errors go through [`redact_config_text`], because a TOML syntax
//! error quotes the offending line.

use secrecy::{ExposeSecret, SecretString};

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets shorter than this are not searched for: a 2-character "token" would blank out
/// ordinary words. Real tokens are far longer; the query-string rule still hides short ones.
const MIN_SECRET_CHARS: usize = 4;

/// Removes configured secrets (as written, percent-encoded and form-encoded), secret-looking
/// query parameters and terminal control sequences from text.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    needles: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} needles)", self.needles.len())
    }
}

impl Redactor {
    /// A redactor for these secrets.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a SecretString>) -> Self {
        let mut needles = Vec::new();
        for secret in secrets {
            let s = secret.expose_secret().trim();
            if s.chars().count() < MIN_SECRET_CHARS {
                continue;
            }
            let form: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
            let percent = form.replace('+', "%20");
            for n in [s.to_owned(), form, percent] {
                if !needles.contains(&n) {
                    needles.push(n);
                }
            }
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Self { needles }
    }

    /// `text` with every secret and secret-looking query value replaced by [`REDACTED`] and
    /// terminal control sequences removed (newlines become spaces: callers show one line).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = strip_terminal_controls(text);
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        redact_query_values(&out)
    }
}

/// Query parameter names whose values are hidden wherever they appear in response text.
fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "key",
        "secret",
        "password",
        "passwd",
        "auth",
        "credential",
        "signature",
        "session",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Hides the values of `name=value` pairs in text whose name looks like a secret
/// (`api_token`, `apiKey`, `X-API-KEY: ...` is covered by the configured secrets instead).
fn redact_query_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        let name_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .map(|i| i + before[i..].chars().next().map_or(1, char::len_utf8))
            .unwrap_or(0);
        let name = &before[name_start..];
        out.push_str(before);
        out.push('=');
        let value = &after[1..];
        let end = value
            .find(|c: char| c == '&' || c == '#' || c.is_whitespace() || "\"'<>;,)]}".contains(c))
            .unwrap_or(value.len());
        if !name.is_empty() && is_secret_name(name) && end > 0 {
            out.push_str(REDACTED);
        } else {
            out.push_str(&value[..end]);
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// Removes ANSI/VT escape sequences (CSI `ESC [ ... final`, OSC `ESC ] ... BEL|ST`, and
/// two-byte `ESC x`), C1 controls and every other control character; newlines and tabs
/// become spaces. Text from Lightdash or Dot shown in a terminal must not move the cursor,
/// retitle the window or hide the lines before it.
pub fn strip_terminal_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => {
                    // CSI: parameters and intermediates, then one final byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    // OSC/DCS/SOS/PM/APC: up to BEL or ST (ESC \).
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Redacts a config error message: every value in `secrets`, and the rest of any line
/// (after `=` or `:`) that names a key that looks like a secret (`api_key`, `api_token`,
/// `admin_token`, `password`). The `config` crate quotes the offending TOML line verbatim.
pub fn redact_config_text(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    let mut secrets: Vec<&String> = secrets
        .iter()
        .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        out = out.replace(s.as_str(), REDACTED);
    }
    out.lines()
        .map(|line| {
            let lower = line.to_ascii_lowercase();
            let secret_key = [
                "api_key",
                "api_token",
                "admin_token",
                "token =",
                "password",
                "secret",
            ]
            .iter()
            .any(|k| lower.contains(k))
                && !lower.contains("_file");
            match line.find('=') {
                Some(eq) if secret_key => format!("{} {REDACTED}", &line[..=eq]),
                _ => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Values assigned to secret-looking keys in TOML text (`api_key = "x"`), found line by line
/// without parsing (the text may not parse: that is when it is needed).
pub fn secret_values_in_toml(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().trim_matches('"').to_ascii_lowercase();
        if key.ends_with("_file") || !is_secret_name(&key) {
            continue;
        }
        let value = value.trim();
        let value = value
            .strip_prefix("\"\"\"")
            .or_else(|| value.strip_prefix("'''"))
            .or_else(|| value.strip_prefix('"'))
            .or_else(|| value.strip_prefix('\''))
            .unwrap_or(value);
        let end = value.find(['"', '\'']).unwrap_or(value.len());
        let value = value[..end].trim();
        if !value.is_empty() {
            found.push(value.to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn secrets_in_every_encoding_are_replaced() {
        let r = Redactor::new([&secret("tok/en+ 1"), &secret("ab")]);
        let text = "echo tok/en+ 1 and tok%2Fen%2B+1 and tok%2Fen%2B%201, ab stays";
        assert_eq!(
            r.scrub(text),
            "echo [REDACTED] and [REDACTED] and [REDACTED], ab stays"
        );
    }

    #[test]
    fn secret_query_values_are_hidden_others_kept() {
        let r = Redactor::default();
        assert_eq!(
            r.scrub("<p>POST /api/import?user_id=u7&api_token=abc123 not found</p>"),
            "<p>POST /api/import?user_id=u7&api_token=[REDACTED] not found</p>"
        );
        assert_eq!(
            r.scrub("see https://x/cb?apiKey=zz#frag and a=b"),
            "see https://x/cb?apiKey=[REDACTED]#frag and a=b"
        );
    }

    #[test]
    fn terminal_sequences_are_removed() {
        let text = "ok\u{1b}[2J\u{1b}[1;31mred\u{1b}[0m\u{1b}]0;title\u{7}\u{9b}x\nnext\u{1b}]8;;http://e\u{1b}\\link";
        assert_eq!(strip_terminal_controls(text), "okredx nextlink");
    }

    #[test]
    fn config_lines_with_secret_keys_are_redacted() {
        let err = "TOML parse error at line 3, column 11\n  |\n3 | api_key = \"s3cr3t-value\n  |           ^\ninvalid basic string\nname = \"x\"";
        let out = redact_config_text(err, &["s3cr3t-value".into()]);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(out.contains("3 | api_key = [REDACTED]"), "{out}");
        assert!(out.contains("name = \"x\""), "{out}");
        let out = redact_config_text("api_key_file = \"/run/k\"", &[]);
        assert_eq!(out, "api_key_file = \"/run/k\"");
    }

    #[test]
    fn toml_secret_values_are_found_without_parsing() {
        let text =
            "[dot]\napi_key = \"k-123\nuser_id = \"u\"\napi_token='t-456'\napi_key_file = \"/x\"\n";
        assert_eq!(secret_values_in_toml(text), vec!["k-123", "t-456"]);
    }
}
