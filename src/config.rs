//! Configuration: [`RawSettings`] (serde, defaults defined once here) → [`Settings`]
//! (validated, secrets resolved, crons parsed). Reads the config file and secret files; no
//! network.
//!
//! Sources, later wins: built-in defaults, the TOML file, then `LDSYNC_<SECTION>__<KEY>`
//! environment variables. Every problem found is reported at once, each naming its key and
//! the fix, so an operator fixes a config in one round trip.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::dot::types::AssetKind;

/// Env vars with this prefix (and a `__` between section and key) override the file.
pub const ENV_PREFIX: &str = "LDSYNC_";

/// Keys whose env override is a comma-separated list.
const LIST_KEYS: [&str; 4] = [
    "lightdash.projects",
    "lightdash.include_spaces",
    "lightdash.exclude_spaces",
    "sync.kinds",
];

/// A secret as written in the file or env. Compares by value (for the defaults test) and
/// never prints its value.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct RawSecret(pub SecretString);

impl PartialEq for RawSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl fmt::Debug for RawSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The config file, as written, before validation.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawSettings {
    /// `[lightdash]`
    pub lightdash: RawLightdash,
    /// `[dot]`
    pub dot: RawDot,
    /// `[sync]`
    pub sync: RawSync,
    /// `[schedule]`
    pub schedule: RawSchedule,
    /// `[state]`
    pub state: RawState,
    /// `[server]`
    pub server: RawServer,
    /// `[log]`
    pub log: RawLog,
}

/// `[lightdash]` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RawLightdash {
    /// API base and deep-link base (required).
    pub url: String,
    /// Base for links when users reach Lightdash elsewhere; empty = `url`.
    pub public_url: String,
    /// The token itself (prefer `api_key_file`).
    pub api_key: Option<RawSecret>,
    /// A file holding the token.
    pub api_key_file: Option<PathBuf>,
    /// Project uuids; empty = every non-preview project visible.
    pub projects: Vec<String>,
    /// Sync private spaces and their content.
    pub include_private: bool,
    /// Globs on space paths by name; empty = all.
    pub include_spaces: Vec<String>,
    /// Globs on space paths by name to leave out.
    pub exclude_spaces: Vec<String>,
    /// Request rate limit.
    pub requests_per_second: f64,
    /// Total timeout per request.
    pub timeout_secs: u64,
    /// Cap on one decompressed answer, in MiB.
    pub max_response_mib: u64,
}

impl Default for RawLightdash {
    fn default() -> Self {
        Self {
            url: String::new(),
            public_url: String::new(),
            api_key: None,
            api_key_file: None,
            projects: Vec::new(),
            include_private: false,
            include_spaces: Vec::new(),
            exclude_spaces: Vec::new(),
            requests_per_second: 10.0,
            timeout_secs: 30,
            max_response_mib: 256,
        }
    }
}

/// `[dot]` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RawDot {
    /// Dot base URL.
    pub url: String,
    /// `header` (X-API-KEY) or `query` (user_id + api_token in the URL).
    pub auth: String,
    /// The X-API-KEY value (prefer `api_key_file`).
    pub api_key: Option<RawSecret>,
    /// A file holding the X-API-KEY value.
    pub api_key_file: Option<PathBuf>,
    /// Query auth: the user id.
    pub user_id: String,
    /// Query auth: the token.
    pub api_token: Option<RawSecret>,
    /// Query auth: a file holding the token.
    pub api_token_file: Option<PathBuf>,
    /// Request rate limit.
    pub requests_per_second: f64,
    /// Pushes in flight.
    pub concurrency: usize,
    /// Attempts per push, first included.
    pub max_attempts: u32,
    /// Total timeout per request.
    pub timeout_secs: u64,
}

impl Default for RawDot {
    fn default() -> Self {
        Self {
            url: "https://app.getdot.ai".into(),
            auth: "header".into(),
            api_key: None,
            api_key_file: None,
            user_id: String::new(),
            api_token: None,
            api_token_file: None,
            requests_per_second: 5.0,
            concurrency: 4,
            max_attempts: 5,
            timeout_secs: 30,
        }
    }
}

/// `[sync]` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RawSync {
    /// Asset kinds to sync.
    pub kinds: Vec<String>,
    /// Fail-safe share of a project's assets one cycle may deactivate.
    pub max_deactivate_fraction: f64,
    /// Minimum interval between view-count-only pushes of one asset.
    pub view_count_refresh: String,
    /// Cap on `dot_description`.
    pub max_description_chars: usize,
}

impl Default for RawSync {
    fn default() -> Self {
        Self {
            kinds: vec!["dashboard".into(), "chart".into(), "space".into()],
            max_deactivate_fraction: 0.5,
            view_count_refresh: "24h".into(),
            max_description_chars: 20_000,
        }
    }
}

/// `[schedule]` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RawSchedule {
    /// Incremental cycles (6-field cron).
    pub sync: String,
    /// Deep cycles (6-field cron); empty = none.
    pub deep: String,
    /// IANA time zone for both.
    pub timezone: String,
    /// Run an incremental cycle at start.
    pub run_on_start: bool,
}

impl Default for RawSchedule {
    fn default() -> Self {
        Self {
            sync: "0 */15 * * * *".into(),
            deep: "0 30 2 * * *".into(),
            timezone: "UTC".into(),
            run_on_start: true,
        }
    }
}

/// `[state]` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RawState {
    /// Directory of the sled state.
    pub path: PathBuf,
}

impl Default for RawState {
    fn default() -> Self {
        Self {
            path: PathBuf::from("/var/lib/lightdash-dot-sync"),
        }
    }
}

/// `[server]` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RawServer {
    /// Listen address; empty disables the listener.
    pub listen: String,
    /// Accept `POST /admin/resync` from non-loopback peers.
    pub allow_remote_admin: bool,
    /// Bearer token required by `POST /admin/resync` (prefer `admin_token_file`).
    pub admin_token: Option<RawSecret>,
    /// A file holding the admin bearer token.
    pub admin_token_file: Option<PathBuf>,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (idle keep-alive included).
    pub header_read_timeout_secs: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9464".into(),
            allow_remote_admin: false,
            admin_token: None,
            admin_token_file: None,
            max_connections: 64,
            header_read_timeout_secs: 10,
        }
    }
}

/// `[log]` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RawLog {
    /// `text` or `json`.
    pub format: String,
    /// Level or `EnvFilter` directives; `RUST_LOG` overrides.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lightdash access and scope.
    pub lightdash: LightdashSettings,
    /// Dot access.
    pub dot: DotSettings,
    /// Sync behaviour.
    pub sync: SyncSettings,
    /// Cron schedules.
    pub schedule: ScheduleSettings,
    /// State location.
    pub state: StateSettings,
    /// HTTP listener.
    pub server: ServerSettings,
    /// Logging.
    pub log: LogSettings,
}

/// Validated `[lightdash]`.
#[derive(Debug, Clone)]
pub struct LightdashSettings {
    /// API base.
    pub url: Url,
    /// Base for deep links.
    pub public_url: Url,
    /// The token (sent as `ApiKey`, or `Bearer` for `ldsvc_` tokens).
    pub api_key: SecretString,
    /// Project uuids; empty = all non-preview.
    pub projects: Vec<String>,
    /// Sync private spaces.
    pub include_private: bool,
    /// Space path filter.
    pub spaces: SpaceFilter,
    /// Request rate.
    pub requests_per_second: f64,
    /// Total timeout per request.
    pub timeout: Duration,
    /// Cap on one decompressed answer, in bytes.
    pub max_response_bytes: u64,
}

/// How Dot authenticates us.
#[derive(Clone)]
pub enum DotAuth {
    /// `X-API-KEY: <key>`.
    Header {
        /// The key.
        api_key: SecretString,
    },
    /// `?user_id=..&api_token=..`.
    Query {
        /// The user.
        user_id: String,
        /// The token.
        api_token: SecretString,
    },
}

impl fmt::Debug for DotAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DotAuth::Header { .. } => f.write_str("Header { api_key: [REDACTED] }"),
            DotAuth::Query { user_id, .. } => {
                write!(f, "Query {{ user_id: {user_id:?}, api_token: [REDACTED] }}")
            }
        }
    }
}

/// Validated `[dot]`.
#[derive(Debug, Clone)]
pub struct DotSettings {
    /// Dot base URL.
    pub url: Url,
    /// Credentials.
    pub auth: DotAuth,
    /// Request rate.
    pub requests_per_second: f64,
    /// Pushes in flight.
    pub concurrency: usize,
    /// Attempts per push.
    pub max_attempts: u32,
    /// Total timeout per request.
    pub timeout: Duration,
}

/// Validated `[sync]`.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Kinds to sync.
    pub kinds: Vec<AssetKind>,
    /// Fail-safe share.
    pub max_deactivate_fraction: f64,
    /// View-count-only push interval.
    pub view_count_refresh: Duration,
    /// Description cap in characters.
    pub max_description_chars: usize,
}

/// Validated `[schedule]`.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// Incremental cron.
    pub sync: String,
    /// Deep cron, if any.
    pub deep: Option<String>,
    /// Time zone.
    pub timezone: chrono_tz::Tz,
    /// Run at start.
    pub run_on_start: bool,
}

/// Validated `[state]`.
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// State directory.
    pub path: PathBuf,
}

/// Validated `[server]`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Listen address, `None` = disabled.
    pub listen: Option<SocketAddr>,
    /// Admin endpoint open to non-loopback peers.
    pub allow_remote_admin: bool,
    /// Bearer token `POST /admin/resync` requires from every peer, when set.
    pub admin_token: Option<SecretString>,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time a client has to send a request's headers.
    pub header_read_timeout: Duration,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Validated `[log]`.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// Filter directives.
    pub level: String,
}

impl Settings {
    /// The API URLs that send a credential over plain `http://` to a host that is not
    /// loopback, with their keys: anyone on the path can read the token. Loopback (a sidecar,
    /// a port-forward, the demo) is fine.
    pub fn insecure_urls(&self) -> Vec<(&'static str, &Url)> {
        [
            ("lightdash.url", &self.lightdash.url),
            ("dot.url", &self.dot.url),
        ]
        .into_iter()
        .filter(|(_, url)| url.scheme() == "http" && !is_loopback_host(url))
        .collect()
    }
}

/// Whether a URL's host is `localhost` or a loopback address (IPv4-mapped included).
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.to_canonical().is_loopback(),
        None => false,
    }
}

/// Space path include/exclude globs (`Sales/**`), matched against `Parent/Child` names.
#[derive(Debug, Clone, Default)]
pub struct SpaceFilter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl SpaceFilter {
    /// Compiles the globs; the error names the bad pattern.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, (String, String)> {
        fn build(patterns: &[String]) -> Result<Option<GlobSet>, (String, String)> {
            if patterns.is_empty() {
                return Ok(None);
            }
            let mut b = GlobSetBuilder::new();
            for p in patterns {
                let glob = globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| (p.clone(), e.kind().to_string()))?;
                b.add(glob);
                // `Sales/**` should match `Sales` itself too, as operators expect.
                if let Some(base) = p.strip_suffix("/**") {
                    b.add(Glob::new(base).map_err(|e| (p.clone(), e.kind().to_string()))?);
                }
            }
            b.build()
                .map(Some)
                .map_err(|e| (String::new(), e.to_string()))
        }
        Ok(Self {
            include: build(include)?,
            exclude: build(exclude)?,
        })
    }

    /// Whether a space path (`Sales/EMEA`) is in scope.
    pub fn allows(&self, path: &str) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(path))
            && !self.exclude.as_ref().is_some_and(|g| g.is_match(path))
    }
}

/// One invalid key.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `section.key`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}; {}", self.key, self.problem, self.fix)
    }
}

/// Why the configuration could not be loaded. Every variant maps to exit code 78.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing.
    #[error(
        "config file {path} does not exist; pass an existing file with --config or LDSYNC_CONFIG (see config/example.toml)"
    )]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// The file or an env var does not parse, or names an unknown key.
    #[error("config {origin} is not valid: {message}")]
    Parse {
        /// File path or "environment".
        origin: String,
        /// The parser's message (names the key), with secret values and the value part of
        /// any line naming a secret-like key redacted: the TOML parser quotes the bad line.
        message: String,
    },
    /// Keys with invalid values.
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The process exit code for configuration errors (`EX_CONFIG`).
    pub const EXIT_CODE: i32 = 78;
}

/// Loads the file (if any) plus `LDSYNC_*` overrides from `env`, then validates.
pub fn load(path: Option<&Path>, env: &HashMap<String, String>) -> Result<Settings, ConfigError> {
    let raw = load_raw(path, env)?;
    raw.validate(env)
}

/// Loads the file (if any) plus overrides, without validating.
pub fn load_raw(
    path: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<RawSettings, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = path {
        if !path.exists() {
            return Err(ConfigError::Missing {
                path: path.to_owned(),
            });
        }
        builder = builder.add_source(
            config::File::from(path)
                .format(config::FileFormat::Toml)
                .required(true),
        );
    }
    // Only `LDSYNC_<SECTION>__<KEY>` are config keys; other LDSYNC_ vars (LDSYNC_CONFIG) are
    // for the CLI, and must not trip `deny_unknown_fields`.
    let mut overrides: HashMap<String, String> = env
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix(ENV_PREFIX)
                .is_some_and(|rest| rest.contains("__"))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Lists are split here: the `config` crate splits only when it also guesses types.
    for key in LIST_KEYS {
        let var = format!("{ENV_PREFIX}{}", key.replacen('.', "__", 1).to_uppercase());
        if let Some(value) = overrides.remove(&var) {
            let items: Vec<String> = value
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            builder = builder
                .set_override(key, items)
                .map_err(|source| ConfigError::Parse {
                    origin: "environment".into(),
                    message: source.to_string(),
                })?;
        }
    }
    builder = builder.add_source(
        config::Environment::with_prefix("LDSYNC")
            .prefix_separator("_")
            .separator("__")
            // No type guessing: `000123`, `1e3` and `True` are tokens and must reach string
            // keys verbatim. Numeric and boolean keys still parse, on deserialisation.
            .try_parsing(false)
            .source(Some(overrides.into_iter().collect())),
    );
    let origin = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "environment".into());
    builder
        .build()
        .and_then(|c| c.try_deserialize::<RawSettings>())
        .map_err(|source| ConfigError::Parse {
            origin,
            message: redacted_parse_message(&source.to_string(), path, env),
        })
}

/// A parse error's text without secrets: the values of secret-like keys in the file (found
/// line by line, since the file may not parse) and in `LDSYNC_*` variables are replaced, and
/// so is the rest of any quoted line naming a secret-like key.
fn redacted_parse_message(
    message: &str,
    path: Option<&Path>,
    env: &HashMap<String, String>,
) -> String {
    let mut secrets = path
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|text| crate::redact::secret_values_in_toml(&text))
        .unwrap_or_default();
    for (key, value) in env {
        let key = key.to_ascii_lowercase();
        if key.starts_with("ldsync_")
            && !key.ends_with("_file")
            && ["api_key", "api_token", "admin_token"]
                .iter()
                .any(|s| key.ends_with(s))
        {
            secrets.push(value.trim().to_owned());
        }
    }
    crate::redact::redact_config_text(message, &secrets)
}

fn problem(key: &str, problem: impl Into<String>, fix: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// Expands `$CREDENTIALS_DIRECTORY` / `${CREDENTIALS_DIRECTORY}` in a secret file path, so
/// one config works with systemd's `LoadCredential=`.
fn expand_credentials_dir(path: &Path, env: &HashMap<String, String>) -> Result<PathBuf, String> {
    let s = path.to_string_lossy();
    if !s.contains("$CREDENTIALS_DIRECTORY") && !s.contains("${CREDENTIALS_DIRECTORY}") {
        return Ok(path.to_owned());
    }
    let dir = env
        .get("CREDENTIALS_DIRECTORY")
        .ok_or_else(|| "it uses $CREDENTIALS_DIRECTORY, which is not set".to_string())?;
    Ok(PathBuf::from(
        s.replace("${CREDENTIALS_DIRECTORY}", dir)
            .replace("$CREDENTIALS_DIRECTORY", dir),
    ))
}

/// Resolves a secret given as a value or a file; exactly one must be set.
fn resolve_secret(
    value_key: &str,
    file_key: &str,
    value: &Option<RawSecret>,
    file: &Option<PathBuf>,
    env: &HashMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Option<SecretString> {
    match (value, file) {
        (Some(_), Some(_)) => {
            problems.push(problem(
                value_key,
                format!("both `{value_key}` and `{file_key}` are set"),
                format!("keep only one of them (prefer `{file_key}`)"),
            ));
            None
        }
        (None, None) => {
            let env_name = format!(
                "{ENV_PREFIX}{}",
                value_key.replacen('.', "__", 1).to_uppercase()
            );
            problems.push(problem(
                value_key,
                "no token is configured",
                format!("set `{file_key}` to a file holding the token, or `{value_key}`, or the env var {env_name}"),
            ));
            None
        }
        (Some(v), None) => {
            let v = &v.0;
            if v.expose_secret().trim().is_empty() {
                problems.push(problem(
                    value_key,
                    "the token is empty",
                    "set it to the token",
                ));
                return None;
            }
            Some(SecretString::from(v.expose_secret().trim().to_owned()))
        }
        (None, Some(path)) => {
            let path = match expand_credentials_dir(path, env) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(problem(
                        file_key,
                        e,
                        "run under systemd with LoadCredential=, or give an absolute path",
                    ));
                    return None;
                }
            };
            match std::fs::read_to_string(&path) {
                Ok(s) if s.trim().is_empty() => {
                    problems.push(problem(
                        file_key,
                        format!("{} is empty", path.display()),
                        "write the token into it",
                    ));
                    None
                }
                Ok(s) => Some(SecretString::from(s.trim().to_owned())),
                Err(e) => {
                    problems.push(problem(
                        file_key,
                        format!("cannot read {}: {e}", path.display()),
                        "point it at a readable file holding the token",
                    ));
                    None
                }
            }
        }
    }
}

fn parse_url(key: &str, value: &str, problems: &mut Vec<Problem>) -> Option<Url> {
    if value.trim().is_empty() {
        problems.push(problem(
            key,
            "is required",
            "set it to the base URL, e.g. https://app.lightdash.cloud",
        ));
        return None;
    }
    match Url::parse(value.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(_) => {
            problems.push(problem(
                key,
                format!("{value:?} is not an http(s) URL"),
                "use a URL like https://app.lightdash.cloud",
            ));
            None
        }
        Err(e) => {
            problems.push(problem(
                key,
                format!("{value:?} is not a valid URL ({e})"),
                "use a URL like https://app.lightdash.cloud",
            ));
            None
        }
    }
}

/// The range every numeric setting must fall in: what the code can use without overflow,
/// a hang or a panic (a rate of `1e-30` overflowed the limiter's period; a timeout of
/// `u64::MAX` seconds overflows deadlines), and what is sensible for an operator.
pub mod limits {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    /// `lightdash.requests_per_second`, `dot.requests_per_second`: one request per 100 s up
    /// to a million per second (the benchmarks run "unlimited" at 100,000).
    pub const REQUESTS_PER_SECOND: RangeInclusive<f64> = 0.01..=1_000_000.0;
    /// `lightdash.timeout_secs`, `dot.timeout_secs`: up to an hour.
    pub const TIMEOUT_SECS: RangeInclusive<u64> = 1..=3_600;
    /// `dot.concurrency`: pushes in flight.
    pub const CONCURRENCY: RangeInclusive<usize> = 1..=64;
    /// `dot.max_attempts`: attempts per push, the first included.
    pub const MAX_ATTEMPTS: RangeInclusive<u32> = 1..=20;
    /// `sync.max_deactivate_fraction`.
    pub const MAX_DEACTIVATE_FRACTION: RangeInclusive<f64> = 0.0..=1.0;
    /// `sync.view_count_refresh`: up to ten years.
    pub const VIEW_COUNT_REFRESH: RangeInclusive<Duration> =
        Duration::ZERO..=Duration::from_secs(3_650 * 86_400);
    /// `sync.max_description_chars`.
    pub const MAX_DESCRIPTION_CHARS: RangeInclusive<usize> = 1_000..=1_000_000;
    /// `lightdash.max_response_mib`.
    pub const MAX_RESPONSE_MIB: RangeInclusive<u64> = 1..=65_536;
    /// `server.max_connections`.
    pub const MAX_CONNECTIONS: RangeInclusive<usize> = 1..=65_536;
    /// `server.header_read_timeout_secs`.
    pub const HEADER_READ_TIMEOUT_SECS: RangeInclusive<u64> = 1..=3_600;
}

/// Checks that `v` lies in `range` (NaN never does); the problem names the range and an
/// example value.
fn bounded<T: PartialOrd + fmt::Debug>(
    key: &str,
    v: T,
    range: std::ops::RangeInclusive<T>,
    example: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    if range.contains(&v) {
        return Some(v);
    }
    problems.push(problem(
        key,
        format!(
            "must be between {:?} and {:?} (got {v:?})",
            range.start(),
            range.end()
        ),
        format!("set {example}"),
    ));
    None
}

/// Parses a 6-field cron exactly as the daemon's schedules do ([`crate::schedule::parse`]).
pub fn parse_cron(expr: &str) -> Result<(), String> {
    crate::schedule::parse(expr).map(|_| ())
}

impl RawSettings {
    /// Checks every key and resolves secrets; `env` supplies `CREDENTIALS_DIRECTORY`.
    /// Every problem is collected (one round trip for the operator), section by section.
    pub fn validate(&self, env: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        let mut p = Vec::new();
        let lightdash = self.lightdash.validate(env, &mut p);
        let dot = self.dot.validate(env, &mut p);
        let sync = self.sync.validate(&mut p);
        let schedule = self.schedule.validate(&mut p);
        let state = self.state.validate(&mut p);
        let server = self.server.validate(env, &mut p);
        let log = self.log.validate(&mut p);
        match (lightdash, dot, sync, schedule, state, server, log) {
            (
                Some(lightdash),
                Some(dot),
                Some(sync),
                Some(schedule),
                Some(state),
                Some(server),
                Some(log),
            ) if p.is_empty() => Ok(Settings {
                lightdash,
                dot,
                sync,
                schedule,
                state,
                server,
                log,
            }),
            _ => Err(ConfigError::Invalid(p)),
        }
    }
}

impl RawLightdash {
    fn validate(
        &self,
        env: &HashMap<String, String>,
        p: &mut Vec<Problem>,
    ) -> Option<LightdashSettings> {
        let url = parse_url("lightdash.url", &self.url, p);
        let public_url = if self.public_url.trim().is_empty() {
            url.clone()
        } else {
            parse_url("lightdash.public_url", &self.public_url, p)
        };
        let api_key = resolve_secret(
            "lightdash.api_key",
            "lightdash.api_key_file",
            &self.api_key,
            &self.api_key_file,
            env,
            p,
        );
        for (i, project) in self.projects.iter().enumerate() {
            if project.trim().is_empty() {
                p.push(problem(
                    &format!("lightdash.projects[{i}]"),
                    "is empty",
                    "list project uuids, or leave the list empty for all projects",
                ));
            }
        }
        let spaces = match SpaceFilter::new(&self.include_spaces, &self.exclude_spaces) {
            Ok(f) => Some(f),
            Err((pattern, e)) => {
                p.push(problem(
                    "lightdash.include_spaces/exclude_spaces",
                    format!("glob {pattern:?} is invalid: {e}"),
                    "use globs on space paths like \"Sales/**\"",
                ));
                None
            }
        };
        let rate = bounded(
            "lightdash.requests_per_second",
            self.requests_per_second,
            limits::REQUESTS_PER_SECOND,
            "the allowed requests per second, e.g. 10",
            p,
        );
        let timeout = bounded(
            "lightdash.timeout_secs",
            self.timeout_secs,
            limits::TIMEOUT_SECS,
            "a timeout in seconds, e.g. 30",
            p,
        );
        let max_response_mib = bounded(
            "lightdash.max_response_mib",
            self.max_response_mib,
            limits::MAX_RESPONSE_MIB,
            "a cap in MiB, e.g. 256",
            p,
        );
        Some(LightdashSettings {
            url: url?,
            public_url: public_url?,
            api_key: api_key?,
            projects: self.projects.iter().map(|s| s.trim().to_owned()).collect(),
            include_private: self.include_private,
            spaces: spaces?,
            requests_per_second: rate?,
            timeout: Duration::from_secs(timeout?),
            max_response_bytes: max_response_mib?.saturating_mul(1024 * 1024),
        })
    }
}

impl RawDot {
    fn validate(&self, env: &HashMap<String, String>, p: &mut Vec<Problem>) -> Option<DotSettings> {
        let url = parse_url("dot.url", &self.url, p);
        let auth = self.auth(env, p);
        let rate = bounded(
            "dot.requests_per_second",
            self.requests_per_second,
            limits::REQUESTS_PER_SECOND,
            "the allowed requests per second, e.g. 5",
            p,
        );
        let concurrency = bounded(
            "dot.concurrency",
            self.concurrency,
            limits::CONCURRENCY,
            "the number of pushes in flight, e.g. 4",
            p,
        );
        let max_attempts = bounded(
            "dot.max_attempts",
            self.max_attempts,
            limits::MAX_ATTEMPTS,
            "the attempts per push, e.g. 5",
            p,
        );
        let timeout = bounded(
            "dot.timeout_secs",
            self.timeout_secs,
            limits::TIMEOUT_SECS,
            "a timeout in seconds, e.g. 30",
            p,
        );
        Some(DotSettings {
            url: url?,
            auth: auth?,
            requests_per_second: rate?,
            concurrency: concurrency?,
            max_attempts: max_attempts?,
            timeout: Duration::from_secs(timeout?),
        })
    }

    fn auth(&self, env: &HashMap<String, String>, p: &mut Vec<Problem>) -> Option<DotAuth> {
        match self.auth.as_str() {
            "header" => resolve_secret(
                "dot.api_key",
                "dot.api_key_file",
                &self.api_key,
                &self.api_key_file,
                env,
                p,
            )
            .map(|api_key| DotAuth::Header { api_key }),
            "query" => {
                if self.user_id.trim().is_empty() {
                    p.push(problem(
                        "dot.user_id",
                        "is required when dot.auth = \"query\"",
                        "set it to the Dot user the token belongs to",
                    ));
                }
                let token = resolve_secret(
                    "dot.api_token",
                    "dot.api_token_file",
                    &self.api_token,
                    &self.api_token_file,
                    env,
                    p,
                );
                token
                    .filter(|_| !self.user_id.trim().is_empty())
                    .map(|api_token| DotAuth::Query {
                        user_id: self.user_id.trim().to_owned(),
                        api_token,
                    })
            }
            other => {
                p.push(problem(
                    "dot.auth",
                    format!("unknown value {other:?}"),
                    "use \"header\" (X-API-KEY) or \"query\" (user_id + api_token)",
                ));
                None
            }
        }
    }
}

impl RawSync {
    fn validate(&self, p: &mut Vec<Problem>) -> Option<SyncSettings> {
        let mut kinds = Vec::new();
        for k in &self.kinds {
            match AssetKind::parse(k) {
                Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
                Some(_) => {}
                None => p.push(problem(
                    "sync.kinds",
                    format!("unknown kind {k:?}"),
                    "use any of \"dashboard\", \"chart\", \"space\"",
                )),
            }
        }
        if self.kinds.is_empty() {
            p.push(problem(
                "sync.kinds",
                "is empty",
                "list at least one of \"dashboard\", \"chart\", \"space\"",
            ));
        }
        kinds.sort();
        let fraction = bounded(
            "sync.max_deactivate_fraction",
            self.max_deactivate_fraction,
            limits::MAX_DEACTIVATE_FRACTION,
            "a share like 0.5",
            p,
        );
        let view_count_refresh = match humantime::parse_duration(self.view_count_refresh.trim()) {
            Ok(d) if limits::VIEW_COUNT_REFRESH.contains(&d) => Some(d),
            Ok(_) => {
                p.push(problem(
                    "sync.view_count_refresh",
                    format!("{:?} is longer than ten years", self.view_count_refresh),
                    "use a duration like \"24h\" or \"30m\"",
                ));
                None
            }
            Err(e) => {
                p.push(problem(
                    "sync.view_count_refresh",
                    format!("{:?} is not a duration ({e})", self.view_count_refresh),
                    "use a duration like \"24h\" or \"30m\"",
                ));
                None
            }
        };
        let max_description_chars = bounded(
            "sync.max_description_chars",
            self.max_description_chars,
            limits::MAX_DESCRIPTION_CHARS,
            "a cap like 20000",
            p,
        );
        Some(SyncSettings {
            kinds,
            max_deactivate_fraction: fraction?,
            view_count_refresh: view_count_refresh?,
            max_description_chars: max_description_chars?,
        })
    }
}

impl RawSchedule {
    fn validate(&self, p: &mut Vec<Problem>) -> Option<ScheduleSettings> {
        if let Err(e) = parse_cron(&self.sync) {
            p.push(problem(
                "schedule.sync",
                format!("{:?} is not a valid cron ({e})", self.sync),
                "use 6 fields: sec min hour day-of-month month day-of-week, e.g. \"0 */15 * * * *\"",
            ));
        }
        let deep = (!self.deep.trim().is_empty()).then(|| self.deep.clone());
        if let Some(deep) = &deep
            && let Err(e) = parse_cron(deep)
        {
            p.push(problem(
                "schedule.deep",
                format!("{deep:?} is not a valid cron ({e})"),
                "use 6 fields, e.g. \"0 30 2 * * *\", or \"\" for no deep cycles",
            ));
        }
        let timezone = match self.timezone.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                p.push(problem(
                    "schedule.timezone",
                    format!("unknown time zone {:?}", self.timezone),
                    "use an IANA name like \"UTC\" or \"Europe/Berlin\"",
                ));
                None
            }
        };
        Some(ScheduleSettings {
            sync: self.sync.clone(),
            deep,
            timezone: timezone?,
            run_on_start: self.run_on_start,
        })
    }
}

impl RawState {
    fn validate(&self, p: &mut Vec<Problem>) -> Option<StateSettings> {
        if self.path.as_os_str().is_empty() {
            p.push(problem(
                "state.path",
                "is empty",
                "set a writable directory, e.g. /var/lib/lightdash-dot-sync",
            ));
            return None;
        }
        Some(StateSettings {
            path: self.path.clone(),
        })
    }
}

impl RawServer {
    fn validate(
        &self,
        env: &HashMap<String, String>,
        p: &mut Vec<Problem>,
    ) -> Option<ServerSettings> {
        // Optional: without it, loopback peers may resync (the documented port-forward).
        // `Some(None)`: configured but unusable (the problem is recorded).
        let admin_token = match (&self.admin_token, &self.admin_token_file) {
            (None, None) => None,
            (value, file) => Some(resolve_secret(
                "server.admin_token",
                "server.admin_token_file",
                value,
                file,
                env,
                p,
            )),
        };
        let max_connections = bounded(
            "server.max_connections",
            self.max_connections,
            limits::MAX_CONNECTIONS,
            "the connections served at once, e.g. 64",
            p,
        );
        let header_read_timeout = bounded(
            "server.header_read_timeout_secs",
            self.header_read_timeout_secs,
            limits::HEADER_READ_TIMEOUT_SECS,
            "a timeout in seconds, e.g. 10",
            p,
        );
        let listen = if self.listen.trim().is_empty() {
            None
        } else {
            match self.listen.trim().parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    p.push(problem(
                        "server.listen",
                        format!("{:?} is not an address", self.listen),
                        "use ip:port like \"127.0.0.1:9464\", or \"\" to disable",
                    ));
                    return None;
                }
            }
        };
        Some(ServerSettings {
            listen,
            allow_remote_admin: self.allow_remote_admin,
            admin_token: match admin_token {
                Some(token) => Some(token?),
                None => None,
            },
            max_connections: max_connections?,
            header_read_timeout: Duration::from_secs(header_read_timeout?),
        })
    }
}

impl RawLog {
    fn validate(&self, p: &mut Vec<Problem>) -> Option<LogSettings> {
        let format = match self.format.as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            other => {
                p.push(problem(
                    "log.format",
                    format!("unknown format {other:?}"),
                    "use \"text\" or \"json\"",
                ));
                None
            }
        };
        if tracing_subscriber::EnvFilter::try_new(&self.level).is_err() {
            p.push(problem(
                "log.level",
                format!("{:?} is not a level or filter", self.level),
                "use error, warn, info, debug or trace",
            ));
            return None;
        }
        Some(LogSettings {
            format: format?,
            level: self.level.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write(dir: &tempfile::TempDir, name: &str, body: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        path
    }

    fn minimal(dir: &tempfile::TempDir) -> String {
        let ld = write(dir, "ld", "ldpat_secret_1\n");
        format!(
            "[lightdash]\nurl = \"https://ld.example.com\"\napi_key_file = \"{}\"\n[dot]\napi_key = \"dot-secret-2\"\n[state]\npath = \"{}\"\n",
            ld.display(),
            dir.path().join("state").display()
        )
    }

    fn problems(err: ConfigError) -> Vec<Problem> {
        match err {
            ConfigError::Invalid(p) => p,
            other => panic!("expected Invalid, got {other}"),
        }
    }

    #[test]
    fn default_toml_equals_code_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let raw = load_raw(Some(&path), &HashMap::new()).unwrap();
        assert_eq!(raw, RawSettings::default());
    }

    #[test]
    fn example_toml_parses_with_its_secrets() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
        let raw = load_raw(Some(&path), &HashMap::new()).unwrap();
        assert_eq!(raw.dot.concurrency, 4);
        assert!(!raw.lightdash.url.is_empty());
    }

    #[test]
    fn minimal_config_validates_and_reads_secret_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "c.toml", &minimal(&dir));
        let s = load(Some(&path), &HashMap::new()).unwrap();
        assert_eq!(s.lightdash.api_key.expose_secret(), "ldpat_secret_1");
        assert_eq!(s.lightdash.public_url.as_str(), "https://ld.example.com/");
        assert!(
            matches!(&s.dot.auth, DotAuth::Header { api_key } if api_key.expose_secret() == "dot-secret-2")
        );
        assert_eq!(s.schedule.deep.as_deref(), Some("0 30 2 * * *"));
        assert_eq!(s.sync.view_count_refresh, Duration::from_secs(86_400));
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("ldpat_secret_1") && !debug.contains("dot-secret-2"),
            "{debug}"
        );
    }

    #[test]
    fn env_overrides_file_and_lists_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "c.toml", &minimal(&dir));
        let s = load(
            Some(&path),
            &env(&[
                ("LDSYNC_DOT__CONCURRENCY", "9"),
                ("LDSYNC_LIGHTDASH__PROJECTS", "p1,p2"),
                ("LDSYNC_SYNC__KINDS", "chart"),
                ("LDSYNC_CONFIG", "/ignored/by/config"),
            ]),
        )
        .unwrap();
        assert_eq!(s.dot.concurrency, 9);
        assert_eq!(s.lightdash.projects, vec!["p1", "p2"]);
        assert_eq!(s.sync.kinds, vec![AssetKind::Chart]);
    }

    /// Issue 10.5: env overrides of string keys stay strings, whatever they look like;
    /// numbers and booleans still parse from env.
    #[test]
    fn env_overrides_keep_secret_strings_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let body = minimal(&dir).replace("api_key_file", "# api_key_file");
        let path = write(&dir, "c.toml", &body);
        for value in [
            "000123",
            "1e3",
            "True",
            "12345678901234567890123",
            "0x1F",
            "-0",
            "1_000",
        ] {
            let s = load(
                Some(&path),
                &env(&[
                    ("LDSYNC_LIGHTDASH__API_KEY", value),
                    ("LDSYNC_DOT__AUTH", "query"),
                    ("LDSYNC_DOT__USER_ID", value),
                    ("LDSYNC_DOT__API_TOKEN", value),
                    ("LDSYNC_DOT__CONCURRENCY", "7"),
                    ("LDSYNC_LIGHTDASH__INCLUDE_PRIVATE", "true"),
                    ("LDSYNC_LIGHTDASH__REQUESTS_PER_SECOND", "2.5"),
                    ("LDSYNC_LIGHTDASH__PROJECTS", "0012,1e3"),
                ]),
            )
            .unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(s.lightdash.api_key.expose_secret(), value);
            let DotAuth::Query { user_id, api_token } = &s.dot.auth else {
                panic!("query auth expected");
            };
            assert_eq!(user_id, value);
            assert_eq!(api_token.expose_secret(), value);
            assert_eq!(s.lightdash.projects, vec!["0012", "1e3"]);
            assert_eq!(s.dot.concurrency, 7);
            assert!(s.lightdash.include_private);
            assert_eq!(s.lightdash.requests_per_second, 2.5);
        }
    }

    /// Issue 10.4: a TOML syntax error on a token line names the line but not the token.
    #[test]
    fn syntax_errors_never_print_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            "[dot]\napi_key = \"dot-SECRET-1234\n",
            "[dot]\napi_key = \"dot-SECRET-1234\" trailing\n",
            "[dot]\napi_key = dot-SECRET-1234\n",
            "[lightdash]\nurl = \"https://x\"\napi_key = 'dot-SECRET-1234' = 2\n",
            "[server]\nadmin_token = \"\"\"dot-SECRET-1234\n",
        ];
        for body in cases {
            let path = write(&dir, "c.toml", body);
            let err = load(Some(&path), &HashMap::new()).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, ConfigError::Parse { .. }), "{text}");
            assert!(!text.contains("SECRET"), "{body:?} printed:\n{text}");
            assert!(text.contains("line"), "still says where: {text}");
        }
        // A secret given by env and echoed in a type error is redacted too.
        let path = write(&dir, "c.toml", &minimal(&dir));
        let err = load(
            Some(&path),
            &env(&[
                ("LDSYNC_DOT__API_KEY", "env-SECRET-99"),
                ("LDSYNC_DOT__CONCURRENCY", "env-SECRET-99"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("SECRET"), "{err}");
        assert!(err.contains("concurrency"), "names the key: {err}");
    }

    #[test]
    fn listener_and_response_caps_reach_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "c.toml", &minimal(&dir));
        let s = load(Some(&path), &HashMap::new()).unwrap();
        assert_eq!(s.lightdash.max_response_bytes, 256 * 1024 * 1024);
        assert_eq!(s.server.max_connections, 64);
        assert_eq!(s.server.header_read_timeout, Duration::from_secs(10));
        assert!(s.server.admin_token.is_none());
        let token = write(&dir, "admin", "adm-token-1\n");
        let s = load(
            Some(&path),
            &env(&[
                ("LDSYNC_LIGHTDASH__MAX_RESPONSE_MIB", "3"),
                ("LDSYNC_SERVER__ADMIN_TOKEN_FILE", token.to_str().unwrap()),
            ]),
        )
        .unwrap();
        assert_eq!(s.lightdash.max_response_bytes, 3 * 1024 * 1024);
        assert_eq!(
            s.server
                .admin_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            Some("adm-token-1".to_owned())
        );
        let err = load(
            Some(&path),
            &env(&[
                ("LDSYNC_LIGHTDASH__MAX_RESPONSE_MIB", "0"),
                ("LDSYNC_SERVER__MAX_CONNECTIONS", "0"),
                (
                    "LDSYNC_SERVER__HEADER_READ_TIMEOUT_SECS",
                    "9000000000000000000",
                ),
                ("LDSYNC_SERVER__ADMIN_TOKEN", "x"),
                ("LDSYNC_SERVER__ADMIN_TOKEN_FILE", token.to_str().unwrap()),
            ]),
        )
        .unwrap_err();
        let keys: Vec<String> = problems(err).into_iter().map(|p| p.key).collect();
        for key in [
            "lightdash.max_response_mib",
            "server.max_connections",
            "server.header_read_timeout_secs",
            "server.admin_token",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
    }

    /// Issue 10.10: plain http to anything but loopback is reported, with its key.
    #[test]
    fn insecure_urls_are_the_non_loopback_http_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "c.toml", &minimal(&dir));
        let with = |ld: &str, dot: &str| {
            load(
                Some(&path),
                &env(&[("LDSYNC_LIGHTDASH__URL", ld), ("LDSYNC_DOT__URL", dot)]),
            )
            .unwrap()
        };
        let s = with("http://lightdash.internal:8080", "https://app.getdot.ai");
        let keys: Vec<_> = s.insecure_urls().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec!["lightdash.url"]);
        let s = with("http://127.0.0.5:8080", "http://10.0.0.1");
        let keys: Vec<_> = s.insecure_urls().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec!["dot.url"]);
        for ok in [
            "http://localhost:1",
            "http://[::1]:2",
            "http://[::ffff:127.0.0.1]:3",
        ] {
            assert!(with(ok, ok).insecure_urls().is_empty(), "{ok}");
        }
    }

    #[test]
    fn credentials_directory_is_expanded() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir, "dot", "from-credentials");
        let mut body = minimal(&dir);
        body = body.replace(
            "api_key = \"dot-secret-2\"",
            "api_key_file = \"$CREDENTIALS_DIRECTORY/dot\"",
        );
        let path = write(&dir, "c.toml", &body);
        let s = load(
            Some(&path),
            &env(&[("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap())]),
        )
        .unwrap();
        assert!(
            matches!(&s.dot.auth, DotAuth::Header { api_key } if api_key.expose_secret() == "from-credentials")
        );
        let err = problems(load(Some(&path), &HashMap::new()).unwrap_err());
        assert_eq!(err[0].key, "dot.api_key_file");
    }

    #[test]
    fn every_problem_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let body = "[lightdash]\nurl = \"ftp:/nope\"\napi_key = \"a\"\napi_key_file = \"/x\"\nrequests_per_second = 0\n\
                    [dot]\nconcurrency = 0\nmax_attempts = 0\n\
                    [sync]\nkinds = [\"dashboard\", \"widget\"]\nview_count_refresh = \"soon\"\nmax_deactivate_fraction = 2.0\n\
                    [schedule]\nsync = \"*/15 * * * *\"\ntimezone = \"Mars/Olympus\"\n\
                    [server]\nlisten = \"nowhere\"\n[log]\nformat = \"xml\"\n";
        let path = write(&dir, "c.toml", body);
        let keys: Vec<String> = problems(load(Some(&path), &HashMap::new()).unwrap_err())
            .into_iter()
            .map(|p| p.key)
            .collect();
        for key in [
            "lightdash.url",
            "lightdash.api_key",
            "lightdash.requests_per_second",
            "dot.api_key",
            "dot.concurrency",
            "dot.max_attempts",
            "sync.kinds",
            "sync.view_count_refresh",
            "sync.max_deactivate_fraction",
            "schedule.sync",
            "schedule.timezone",
            "server.listen",
            "log.format",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
    }

    /// Field report: `requests_per_second = 1e-30` passed `check --offline`, then panicked
    /// (exit 101, a restart loop). Every numeric setting is bounded to what the code can use,
    /// at both ends, and the problem names the key and the range.
    #[test]
    fn every_numeric_setting_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let base = minimal(&dir);
        let cases: &[(&str, &str, &str)] = &[
            (
                "lightdash",
                "requests_per_second = 1e-30",
                "lightdash.requests_per_second",
            ),
            (
                "lightdash",
                "requests_per_second = 1e300",
                "lightdash.requests_per_second",
            ),
            (
                "lightdash",
                "requests_per_second = nan",
                "lightdash.requests_per_second",
            ),
            (
                "lightdash",
                "requests_per_second = -1.0",
                "lightdash.requests_per_second",
            ),
            ("lightdash", "timeout_secs = 0", "lightdash.timeout_secs"),
            (
                "lightdash",
                "timeout_secs = 9223372036854775807",
                "lightdash.timeout_secs",
            ),
            (
                "dot",
                "requests_per_second = 0.0",
                "dot.requests_per_second",
            ),
            (
                "dot",
                "requests_per_second = inf",
                "dot.requests_per_second",
            ),
            ("dot", "concurrency = 0", "dot.concurrency"),
            ("dot", "concurrency = 1000000", "dot.concurrency"),
            ("dot", "max_attempts = 0", "dot.max_attempts"),
            ("dot", "max_attempts = 4294967295", "dot.max_attempts"),
            ("dot", "timeout_secs = 99999999999", "dot.timeout_secs"),
            (
                "sync",
                "max_deactivate_fraction = -0.1",
                "sync.max_deactivate_fraction",
            ),
            (
                "sync",
                "max_deactivate_fraction = nan",
                "sync.max_deactivate_fraction",
            ),
            (
                "sync",
                "max_description_chars = 999",
                "sync.max_description_chars",
            ),
            (
                "sync",
                "max_description_chars = 9223372036854775807",
                "sync.max_description_chars",
            ),
            (
                "sync",
                "view_count_refresh = \"500000000years\"",
                "sync.view_count_refresh",
            ),
        ];
        for (section, line, key) in cases {
            let body = if base.contains(&format!("[{section}]\n")) {
                base.replace(&format!("[{section}]\n"), &format!("[{section}]\n{line}\n"))
            } else {
                format!("{base}[{section}]\n{line}\n")
            };
            let path = write(&dir, "c.toml", &body);
            let p = problems(load(Some(&path), &HashMap::new()).unwrap_err());
            assert_eq!(p.len(), 1, "{line}: {p:?}");
            assert_eq!(p[0].key, *key, "{line}");
            assert!(
                p[0].problem.starts_with("must be between") || p[0].problem.contains("ten years"),
                "{line}: {}",
                p[0].problem
            );
        }
        // The ends of each range are accepted.
        let body = base
            .replace("[lightdash]\n", "[lightdash]\nrequests_per_second = 0.01\ntimeout_secs = 3600\n")
            .replace("[dot]\n", "[dot]\nrequests_per_second = 1000000.0\nconcurrency = 64\nmax_attempts = 20\ntimeout_secs = 1\n")
            + "[sync]\nmax_description_chars = 1000000\nview_count_refresh = \"0s\"\nmax_deactivate_fraction = 0.0\n";
        let path = write(&dir, "c.toml", &body);
        let s = load(Some(&path), &HashMap::new()).unwrap();
        assert_eq!(s.dot.concurrency, 64);
        assert_eq!(s.lightdash.requests_per_second, 0.01);
        assert_eq!(s.sync.view_count_refresh, Duration::ZERO);
    }

    #[test]
    fn unreadable_secret_file_and_unknown_key() {
        let dir = tempfile::tempdir().unwrap();
        let body = minimal(&dir).replace(
            "api_key = \"dot-secret-2\"",
            "api_key_file = \"/definitely/not/here\"",
        );
        let path = write(&dir, "c.toml", &body);
        let p = problems(load(Some(&path), &HashMap::new()).unwrap_err());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "dot.api_key_file");
        assert!(p[0].problem.contains("/definitely/not/here"));

        let path = write(
            &dir,
            "typo.toml",
            &format!("{}\n[sync]\nkindz = []\n", minimal(&dir)),
        );
        let err = load(Some(&path), &HashMap::new()).unwrap_err().to_string();
        assert!(err.contains("kindz"), "{err}");
    }

    #[test]
    fn query_auth_needs_user_and_token() {
        let dir = tempfile::tempdir().unwrap();
        let body = minimal(&dir).replace("api_key = \"dot-secret-2\"", "auth = \"query\"");
        let path = write(&dir, "c.toml", &body);
        let keys: Vec<_> = problems(load(Some(&path), &HashMap::new()).unwrap_err())
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(keys, vec!["dot.user_id", "dot.api_token"]);
        let s = load(
            Some(&path),
            &env(&[
                ("LDSYNC_DOT__USER_ID", "sync@example.com"),
                ("LDSYNC_DOT__API_TOKEN", "tok"),
            ]),
        )
        .unwrap();
        assert!(
            matches!(s.dot.auth, DotAuth::Query { ref user_id, .. } if user_id == "sync@example.com")
        );
        assert!(!format!("{:?}", s.dot.auth).contains("tok\""));
    }

    #[test]
    fn space_filter_globs() {
        let f = SpaceFilter::new(&["Sales/**".into()], &["Sales/Drafts".into()]).unwrap();
        assert!(f.allows("Sales"));
        assert!(f.allows("Sales/EMEA/UK"));
        assert!(!f.allows("Sales/Drafts"));
        assert!(!f.allows("Marketing"));
        assert!(SpaceFilter::default().allows("anything"));
        let f = SpaceFilter::new(&["*".into()], &[]).unwrap();
        assert!(f.allows("Top") && !f.allows("Top/Child"));
    }
}
