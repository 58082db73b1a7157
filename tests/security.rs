//! Issue 10 ("credentials stay where they belong, and an acknowledgement means Dot really has
//! it"): every reproduction, through the real Dot and Lightdash clients, against loopback
//! wiremock servers. A second server on another port stands for "another host": a
//! different port is a different origin, exactly like a different host name.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use lightdash_dot_sync::config::DotAuth;
use lightdash_dot_sync::dot::client::{DotClient, DotError, IMPORT_PATH};
use lightdash_dot_sync::dot::types::ExternalAsset;
use lightdash_dot_sync::lightdash::client::{
    LightdashClient, LightdashError, api_path, api_path_in,
};
use lightdash_dot_sync::stats::ApiCounters;
use secrecy::SecretString;
use serde_json::json;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const DOT_KEY: &str = "SENTINEL-DOTKEY-4417";
const DOT_TOKEN: &str = "SENTINEL-DOTTOKEN-9082";
const LD_TOKEN: &str = "ldpat_SENTINEL-LD-6630";
const PROJECT: &str = "3675b69e-8324-4110-bdca-059031aa8da3";

fn header_auth() -> DotAuth {
    DotAuth::Header {
        api_key: SecretString::from(DOT_KEY.to_owned()),
    }
}

fn query_auth() -> DotAuth {
    DotAuth::Query {
        user_id: "user-42".into(),
        api_token: SecretString::from(DOT_TOKEN.to_owned()),
    }
}

fn dot(server: &MockServer, auth: DotAuth) -> DotClient {
    DotClient::new(
        &Url::parse(&server.uri()).unwrap(),
        auth,
        1000.0,
        3,
        Duration::from_secs(10),
        Arc::new(ApiCounters::new("dot")),
    )
}

fn lightdash(server: &MockServer) -> LightdashClient {
    LightdashClient::new(
        Url::parse(&server.uri()).unwrap(),
        &SecretString::from(LD_TOKEN.to_owned()),
        1000.0,
        Duration::from_secs(10),
        Arc::new(ApiCounters::new("lightdash")),
    )
}

fn asset() -> ExternalAsset {
    ExternalAsset {
        id: "lightdash-dashboard-6b1a4c2e".into(),
        subtype: "lightdash_dashboard".into(),
        folder: Some("Jaffle/Shared".into()),
        name: Some("Revenue".into()),
        description: None,
        url: Some("https://ld.example.com/projects/p/dashboards/6b1a4c2e/view".into()),
        active: true,
        view_count: Some(3),
        last_accessed_at: None,
        dot_description: Some("# Revenue".into()),
    }
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

fn assert_no_secret(what: &str, text: &str) {
    for s in [DOT_KEY, DOT_TOKEN, LD_TOKEN, "SENTINEL"] {
        assert!(!text.contains(s), "{what} leaks {s}:\n{text}");
    }
}

/// Answers every request with `status` and a `Location` on `target` that carries a token in
/// its query (as a hostile or misconfigured server would).
async fn redirect_all(server: &MockServer, status: u16, target: &str) {
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(status).insert_header(
            "location",
            format!("{target}?api_token=SENTINEL-LOC").as_str(),
        ))
        .mount(server)
        .await;
}

// ---------------------------------------------------------------------------------------
// 1. No credential follows a redirect; no Referer.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn dot_push_follows_no_redirect_and_names_the_target() {
    for auth in [header_auth(), query_auth()] {
        for status in [301, 302, 303, 307, 308] {
            let origin = MockServer::start().await;
            let elsewhere = MockServer::start().await;
            let target = format!(
                "{}/api/import_and_overwrite_external_asset",
                elsewhere.uri()
            );
            redirect_all(&origin, status, &target).await;
            let err = dot(&origin, auth.clone())
                .upsert(&asset())
                .await
                .unwrap_err();
            match &err {
                DotError::Redirect {
                    status: s,
                    location,
                } => {
                    assert_eq!(*s, status);
                    assert_eq!(location, &target, "names the target, without its query");
                }
                other => panic!("{status}: expected a redirect error, got {other:?}"),
            }
            let text = err.to_string();
            assert!(text.contains("dot.url"), "says what to fix: {text}");
            assert_no_secret("redirect error", &text);
            assert!(!text.contains("SENTINEL-LOC"), "{text}");
            assert_eq!(requests(&origin).await.len(), 1, "not retried");
            assert!(
                requests(&elsewhere).await.is_empty(),
                "{status}: nothing (no key, no body) reaches the redirect target"
            );
        }
    }
}

#[tokio::test]
async fn lightdash_follows_same_origin_redirects_only() {
    // Same origin: followed, with the token, and without a Referer.
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/health"))
        .respond_with(ResponseTemplate::new(308).insert_header("location", "/ld/api/v1/health"))
        .mount(&server)
        .await;
    Mock::given(path("/ld/api/v1/health"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "ok", "results": {"healthy": true}})),
        )
        .mount(&server)
        .await;
    lightdash(&server)
        .health()
        .await
        .expect("same-origin redirect followed");
    let seen = requests(&server).await;
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert!(r.headers.get("referer").is_none(), "no Referer: {r:?}");
        assert!(r.headers.get("authorization").is_some());
    }

    // Another port (another origin), and a scheme change: not followed.
    for (status, scheme_change) in [(301, false), (302, false), (307, false), (308, true)] {
        let origin = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        let target = if scheme_change {
            // Same host and port, other scheme: a different origin all the same.
            format!(
                "{}/api/v1/org/projects",
                origin.uri().replace("http://", "https://")
            )
        } else {
            format!("{}/api/v1/org/projects", elsewhere.uri())
        };
        redirect_all(&origin, status, &target).await;
        let err = lightdash(&origin).projects().await.unwrap_err();
        let LightdashError::Redirect {
            status: s,
            location,
            route,
        } = &err
        else {
            panic!("{status}: expected a redirect error, got {err:?}");
        };
        assert_eq!((*s, location.as_str()), (status, target.as_str()));
        assert_eq!(route, "/api/v1/org/projects");
        let text = err.to_string();
        assert!(text.contains("lightdash.url"), "{text}");
        assert_no_secret("redirect error", &text);
        assert!(!text.contains("SENTINEL-LOC"), "{text}");
        assert!(
            requests(&elsewhere).await.is_empty(),
            "{status}: not followed"
        );
        assert_eq!(requests(&origin).await.len(), 1, "{status}: not retried");
    }
}

// ---------------------------------------------------------------------------------------
// 2. An acknowledgement means the asset arrived.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn only_a_json_2xx_from_the_import_route_is_an_acknowledgement() {
    let cases = [
        (
            ResponseTemplate::new(200).set_body_raw(
                "<!doctype html><title>Sign in</title><form>SSO</form>",
                "text/html; charset=utf-8",
            ),
            "text/html",
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>login</html>"),
            "text/plain",
        ),
        (ResponseTemplate::new(204), "no content type"),
        (
            ResponseTemplate::new(200).set_body_raw("{}", "text/html"),
            "text/html",
        ),
    ];
    for (answer, content_type) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(IMPORT_PATH))
            .respond_with(answer)
            .mount(&server)
            .await;
        let err = dot(&server, header_auth())
            .upsert(&asset())
            .await
            .unwrap_err();
        let DotError::NotJson {
            content_type: ct, ..
        } = &err
        else {
            panic!("expected NotJson, got {err:?}");
        };
        assert!(ct.starts_with(content_type), "{ct}");
        assert!(err.to_string().contains("dot.url"), "{err}");
        assert_eq!(
            requests(&server).await.len(),
            1,
            "failed, not retried in-cycle"
        );
    }
    // A JSON answer larger than Dot's cap (1 MiB) is not Dot's either.
    let server = MockServer::start().await;
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .mount(&server)
        .await;
    let err = dot(&server, header_auth())
        .upsert(&asset())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DotError::NotJson { detail, .. } if detail.contains("larger than 1048576 bytes")),
        "{err:?}"
    );
    // Dot's own answer (JSON, with or without a content type) is an acknowledgement.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(IMPORT_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    dot(&server, header_auth()).upsert(&asset()).await.unwrap();
}

#[tokio::test]
async fn probe_verifies_url_and_credential_without_writing() {
    // Like Dot (FastAPI): authenticate first, then validate the body.
    struct Dot;
    impl Respond for Dot {
        fn respond(&self, r: &Request) -> ResponseTemplate {
            let key = r.headers.get("x-api-key").and_then(|v| v.to_str().ok());
            if key != Some(DOT_KEY) {
                return ResponseTemplate::new(403)
                    .set_body_json(json!({"detail": "Could not validate credentials"}));
            }
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            if body.get("external_asset").is_none() {
                return ResponseTemplate::new(422).set_body_json(json!({"detail": [
                    {"type": "missing", "loc": ["body", "external_asset"], "msg": "Field required", "input": body}
                ]}));
            }
            ResponseTemplate::new(200).set_body_json(json!({}))
        }
    }
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(IMPORT_PATH))
        .respond_with(Dot)
        .mount(&server)
        .await;
    let seen = dot(&server, header_auth()).probe().await.unwrap();
    assert!(
        seen.contains("credential accepted")
            && seen.contains("body.external_asset: Field required"),
        "{seen}"
    );
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, b"{}", "an empty import: no asset in it");

    let wrong = DotAuth::Header {
        api_key: SecretString::from("wrong-key-xyz".to_owned()),
    };
    let err = dot(&server, wrong).probe().await.unwrap_err();
    assert!(
        matches!(err, DotError::Unauthorized { status: 403, .. }),
        "{err:?}"
    );

    // A login page or a catch-all that says 200 to anything is not Dot.
    for answer in [
        ResponseTemplate::new(200).set_body_string("<html>SSO</html>"),
        ResponseTemplate::new(200).set_body_json(json!({"ok": true})),
    ] {
        let other = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(answer)
            .mount(&other)
            .await;
        let err = dot(&other, header_auth()).probe().await.unwrap_err();
        assert!(
            matches!(
                err,
                DotError::NotJson { .. } | DotError::Status { status: 200, .. }
            ),
            "{err:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 3. Secrets never echo back.
// ---------------------------------------------------------------------------------------

/// An error page that echoes the request line, headers and body, with terminal escapes.
struct Echo(u16);

impl Respond for Echo {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let headers: String = r
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or("")))
            .collect();
        ResponseTemplate::new(self.0).set_body_raw(
            format!(
                "<h1>\u{1b}[2J\u{1b}]0;pwned\u{7}Error</h1><p>{} {} not handled</p><pre>{headers}</pre>",
                r.method,
                r.url
            ),
            "text/html",
        )
    }
}

#[tokio::test]
async fn error_pages_echoing_the_request_are_scrubbed() {
    for (status, auth) in [
        (404, query_auth()),
        (500, query_auth()),
        (400, header_auth()),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(Echo(status))
            .mount(&server)
            .await;
        let err = dot(&server, auth).upsert(&asset()).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("not handled"),
            "keeps the server's words: {text}"
        );
        assert_no_secret("Dot error", &text);
        assert!(
            !text.contains("user_id=user-42"),
            "the query string goes: {text}"
        );
        assert!(
            !text.contains('\u{1b}') && !text.contains("pwned"),
            "{text:?}"
        );
        let debug = format!("{err:?}");
        assert_no_secret("Dot error (Debug)", &debug);
    }
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Echo(502))
        .mount(&server)
        .await;
    let err = lightdash(&server).projects().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("502"), "{text}");
    assert_no_secret("Lightdash error", &text);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    // The error envelope's own message is scrubbed too.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "status": "error",
            "error": {"statusCode": 401, "name": "AuthorizationError",
                      "message": format!("token ApiKey {LD_TOKEN} \u{1b}[31mis invalid")}
        })))
        .mount(&server)
        .await;
    let text = lightdash(&server).projects().await.unwrap_err().to_string();
    assert!(text.contains("is invalid"), "{text}");
    assert_no_secret("Lightdash 401", &text);
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

// ---------------------------------------------------------------------------------------
// 8. Bounded responses.
// ---------------------------------------------------------------------------------------

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn decompressed_bodies_are_capped_and_the_error_names_the_route() {
    // A small gzipped listing that expands to 8 MiB, against a 1 MiB cap.
    let mut listing = br#"{"status":"ok","results":[{"name":""#.to_vec();
    listing.extend(std::iter::repeat_n(b'a', 8 * 1024 * 1024));
    listing.extend(br#""}]}"#);
    let compressed = gzip(&listing);
    assert!(compressed.len() < 64 * 1024, "{}", compressed.len());
    let server = MockServer::start().await;
    Mock::given(path(format!("/api/v1/projects/{PROJECT}/spaces")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .insert_header("content-encoding", "gzip")
                .set_body_bytes(compressed),
        )
        .mount(&server)
        .await;
    // The same, not compressed (Content-Length over the cap).
    Mock::given(path(format!("/api/v1/projects/{PROJECT}/charts")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_bytes(listing.clone()),
        )
        .mount(&server)
        .await;
    let client = lightdash(&server).with_max_response_bytes(1024 * 1024);
    for (err, route) in [
        (client.spaces(PROJECT).await.unwrap_err(), "spaces"),
        (client.charts(PROJECT).await.unwrap_err(), "charts"),
    ] {
        let LightdashError::TooLarge {
            route: r,
            limit_mib,
        } = &err
        else {
            panic!("expected TooLarge, got {err:?}");
        };
        assert_eq!(r, &format!("/api/v1/projects/{PROJECT}/{route}"));
        assert_eq!(*limit_mib, 1);
        assert!(
            err.to_string().contains("lightdash.max_response_mib"),
            "{err}"
        );
    }
    assert_eq!(requests(&server).await.len(), 2, "not retried");
    // Under the default cap the same listing decodes.
    let spaces = lightdash(&server).spaces(PROJECT).await;
    assert!(
        !matches!(spaces, Err(LightdashError::TooLarge { .. })),
        "the default cap is generous: {spaces:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 9. Paths built safely.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn ids_from_lightdash_stay_inside_their_path_segment() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "status": "error", "error": {"statusCode": 404, "name": "NotFoundError", "message": "nope"}
        })))
        .mount(&server)
        .await;
    let hostile = [
        ("../../org", "..%2F..%2Forg"),
        ("a/b?c=d#e", "a%2Fb%3Fc%3Dd%23e"),
        ("%2e%2e", "%252e%252e"),
        ("...", "..."),
        ("sp ace", "sp%20ace"),
    ];
    for (id, encoded) in hostile {
        // A fresh client each time: a 404 on the as-code routes is remembered.
        let client = lightdash(&server);
        let _ = client.saved_chart(id).await;
        let _ = client.dashboard(id).await;
        let _ = client.spaces(id).await;
        let _ = client.explore(PROJECT, id).await;
        let _ = client.charts_as_code(id, &["x".into()]).await;
        let seen: Vec<String> = requests(&server)
            .await
            .iter()
            .map(|r| r.url.path().to_owned())
            .collect();
        for p in [
            format!("/api/v1/saved/{encoded}"),
            format!("/api/v1/dashboards/{encoded}"),
            format!("/api/v1/projects/{encoded}/spaces"),
            format!("/api/v1/projects/{PROJECT}/explores/{encoded}"),
            format!("/api/v1/projects/{encoded}/code/charts"),
        ] {
            assert!(seen.contains(&p), "{id:?}: expected {p} in {seen:?}");
        }
        for p in &seen {
            assert!(p.starts_with("/api/v1/"), "{p}");
            assert!(p.split('/').all(|s| s != ".." && s != "."), "{p}");
        }
        server.reset().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
    }
    // Dot segments cannot be encoded safely: refused before any request.
    server.reset().await;
    let client = lightdash(&server);
    for id in ["..", ".", ""] {
        let err = client.saved_chart(id).await.unwrap_err();
        assert!(
            matches!(err, LightdashError::InvalidId { .. }),
            "{id:?}: {err:?}"
        );
        let err = client.spaces(id).await.unwrap_err();
        assert!(
            matches!(err, LightdashError::InvalidId { .. }),
            "{id:?}: {err:?}"
        );
    }
    assert!(requests(&server).await.is_empty(), "nothing was sent");
    assert_eq!(
        api_path(&["projects", PROJECT, "code", "charts"]).unwrap(),
        format!("/api/v1/projects/{PROJECT}/code/charts")
    );
    assert_eq!(
        api_path_in("/api/v2", &["content", "a/b"]).unwrap(),
        "/api/v2/content/a%2Fb"
    );
}

// ---------------------------------------------------------------------------------------
// 10. Files are private.
// ---------------------------------------------------------------------------------------

#[test]
fn state_directory_and_files_are_owner_only() {
    use lightdash_dot_sync::state::{Owner, Store};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A state path whose parents do not exist yet, under a permissive umask.
    let root = dir.path().join("a/b/state");
    let owner = Owner {
        pid: 1,
        listen: None,
    };
    {
        let (store, _) = Store::open(&root, &owner).unwrap();
        lightdash_dot_sync::app::publish_status(&store);
        store.flush().unwrap();
    }
    let mut checked = 0;
    let mut stack = vec![root.clone()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{}", p.display());
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        checked += 1;
    }
    assert!(root.join("status.json").exists() && root.join("owner.json").exists());
    assert!(checked >= 5, "walked {checked} entries");
    for created in [dir.path().join("a"), dir.path().join("a/b")] {
        let mode = std::fs::metadata(&created).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", created.display());
    }
}

// ---------------------------------------------------------------------------------------
// The same reproductions through the real binary: what operators see (logs, `status`,
// `status.json`), what the state keeps, and the admin endpoint.
// ---------------------------------------------------------------------------------------

mod binary {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use lightdash_dot_sync::demo::content::bundled;
    use lightdash_dot_sync::demo::mock_dot::{MockDot, MockDotOptions};
    use lightdash_dot_sync::demo::mock_lightdash::{MockLightdash, MockLightdashOptions};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::{DOT_TOKEN, Echo, assert_no_secret};

    const BIN: &str = env!("CARGO_BIN_EXE_lightdash-dot-sync");
    const USER: &str = "user-42";

    /// Writes a config for these URLs with query auth (the token travels in the URL, the
    /// worst case for echoes), plus `extra` appended verbatim.
    fn write_config(dir: &Path, ld: &str, dot: &str, extra: &str) -> PathBuf {
        let ld_token = dir.join("ld.token");
        std::fs::write(&ld_token, MockLightdashOptions::default().token).unwrap();
        let dot_token = dir.join("dot.token");
        std::fs::write(&dot_token, DOT_TOKEN).unwrap();
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                r#"[lightdash]
url = "{ld}"
api_key_file = {ld_token:?}
requests_per_second = 1000

[dot]
url = "{dot}"
auth = "query"
user_id = "{USER}"
api_token_file = {dot_token:?}
requests_per_second = 1000
max_attempts = 1

[state]
path = {state:?}

{extra}
"#,
                state = dir.join("state"),
            ),
        )
        .unwrap();
        config
    }

    async fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
        let out = tokio::process::Command::new(BIN)
            .arg("--config")
            .arg(config)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Issues 10.2 and 10.3 end to end: an HTML 200 (a login page behind a wrong `dot.url`)
    /// and an error page echoing the URL with the token are failed pushes, nothing is
    /// committed, no token reaches logs, `status` or `status.json`, and the next run against
    /// the real Dot pushes everything.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fake_acknowledgements_commit_nothing_and_echoes_leak_nothing() {
        let ld = MockLightdash::start(bundled(), MockLightdashOptions::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();

        let login = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw("<html><body>Sign in with SSO</body></html>", "text/html"),
            )
            .mount(&login)
            .await;
        let config = write_config(dir.path(), &ld.url(), &login.uri(), "");
        let (code, _, err) = run(&config, &["--once"]).await;
        assert_ne!(code, 0, "{err}");
        assert!(err.contains("not JSON"), "says why:\n{err}");
        assert_no_secret("stderr after an HTML 200", &err);
        let (_, status, _) = run(&config, &["status", "--json"]).await;
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(
            status["active"],
            serde_json::json!({}),
            "no asset counted as pushed: {status}"
        );
        let tried = login.received_requests().await.unwrap().len();
        assert!(tried > 0);

        let echo = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(Echo(404))
            .mount(&echo)
            .await;
        let config = write_config(dir.path(), &ld.url(), &echo.uri(), "");
        let (code, _, err) = run(&config, &["--once"]).await;
        assert_ne!(code, 0, "{err}");
        assert!(
            err.contains("not handled"),
            "the server's words are kept:\n{err}"
        );
        assert_no_secret("stderr after an echoing 404", &err);
        assert!(!err.contains('\u{1b}'), "{err:?}");
        for args in [&["status"][..], &["status", "--json"][..]] {
            let (code, out, err) = run(&config, args).await;
            assert_eq!(code, 0, "{err}");
            assert!(
                out.contains("not handled"),
                "{args:?} shows the failure:\n{out}"
            );
            assert_no_secret("status", &out);
            assert!(!out.contains('\u{1b}') && !out.contains("\\u001b"), "{out}");
        }
        let status_json = std::fs::read_to_string(dir.path().join("state/status.json")).unwrap();
        assert_no_secret("status.json", &status_json);

        let dot = MockDot::start(MockDotOptions {
            api_key: "unused".into(),
            query_auth: Some((USER.into(), DOT_TOKEN.into())),
        })
        .await
        .unwrap();
        let config = write_config(dir.path(), &ld.url(), &dot.url(), "");
        let (code, _, err) = run(&config, &["--once"]).await;
        assert_eq!(code, 0, "{err}");
        // A fresh state against another Dot pushes the same set: the failed runs committed
        // nothing that would have been skipped.
        let reference_dot = MockDot::start(MockDotOptions {
            api_key: "unused".into(),
            query_auth: Some((USER.into(), DOT_TOKEN.into())),
        })
        .await
        .unwrap();
        let fresh = tempfile::tempdir().unwrap();
        let config = write_config(fresh.path(), &ld.url(), &reference_dot.url(), "");
        let (code, _, err) = run(&config, &["--once"]).await;
        assert_eq!(code, 0, "{err}");
        let expected: Vec<String> = reference_dot.assets().into_keys().collect();
        assert!(!expected.is_empty());
        assert_eq!(
            dot.assets().into_keys().collect::<Vec<_>>(),
            expected,
            "everything is pushed once Dot really answers"
        );
    }

    /// Issue 10.10: one warning per insecure URL at start, naming the key; none for loopback.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_http_to_a_remote_host_is_warned_once() {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            "http://lightdash.example.com",
            "http://127.0.0.1:9",
            "",
        );
        let (code, _, err) = run(&config, &["check", "--offline"]).await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            err.matches("lightdash.url uses plain http://").count(),
            1,
            "{err}"
        );
        assert!(!err.contains("dot.url uses"), "loopback is fine:\n{err}");
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// POST /admin/resync over IPv4 loopback with optional extra headers; the status code.
    async fn post_resync(port: u16, headers: &str) -> Option<u16> {
        request(port, "POST /admin/resync", headers).await
    }

    /// One request over IPv4 loopback (`line` is method and path); the status code.
    async fn request(port: u16, line: &str, headers: &str) -> Option<u16> {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let req = format!(
            "{line} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n{headers}\r\n"
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        String::from_utf8_lossy(&buf)
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    async fn with_daemon(config: &Path, port: u16, f: impl AsyncFnOnce(u32)) {
        let mut child = tokio::process::Command::new(BIN)
            .arg("--config")
            .arg(config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut up = false;
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(up, "the daemon listens on port {port}");
        f(child.id().expect("running")).await;
        child.kill().await.unwrap();
    }

    /// Issue 10.6: on a `[::]` listener, IPv4 loopback arrives as `::ffff:127.0.0.1` and is
    /// loopback; with `server.admin_token_file`, every peer must bear the token.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admin_resync_on_a_dual_stack_listener_and_with_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let server = format!(
            "[schedule]\nsync = \"0 0 0 1 1 *\"\ndeep = \"\"\nrun_on_start = false\n\n[server]\nlisten = \"[::]:{port}\"\n"
        );
        let unreachable = "http://127.0.0.1:9";
        let config = write_config(dir.path(), unreachable, unreachable, &server);
        with_daemon(&config, port, async |_| {
            assert_eq!(
                post_resync(port, "").await,
                Some(202),
                "IPv4-mapped loopback"
            );
        })
        .await;

        let token_file = dir.path().join("admin.token");
        std::fs::write(&token_file, "adm1n-t0ken-value\n").unwrap();
        let server = format!("{server}admin_token_file = {token_file:?}\n");
        let config = write_config(dir.path(), unreachable, unreachable, &server);
        with_daemon(&config, port, async |_| {
            assert_eq!(
                post_resync(port, "").await,
                Some(401),
                "loopback alone is not enough"
            );
            assert_eq!(
                post_resync(port, "authorization: Bearer wrong\r\n").await,
                Some(401)
            );
            assert_eq!(
                post_resync(port, "authorization: Bearer adm1n-t0ken-value\r\n").await,
                Some(202)
            );
        })
        .await;
    }

    /// Issue 10.7 on the real daemon: 1,024 idle connections hold at most
    /// `server.max_connections` descriptors in the daemon (v1 held one each until it ran
    /// out), and `/healthz` answers again once they go.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_connection_flood_keeps_the_daemons_descriptors_bounded() {
        const MAX: usize = 16;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let server = format!(
            "[schedule]\nsync = \"0 0 0 1 1 *\"\ndeep = \"\"\nrun_on_start = false\n\n[server]\nlisten = \"127.0.0.1:{port}\"\nmax_connections = {MAX}\n"
        );
        let unreachable = "http://127.0.0.1:9";
        let config = write_config(dir.path(), unreachable, unreachable, &server);
        with_daemon(&config, port, async |pid| {
            let fds = || {
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .map(|d| d.count())
                    .unwrap_or(0)
            };
            assert_eq!(request(port, "GET /healthz", "").await, Some(200));
            let baseline = fds();
            let mut idle = Vec::new();
            for _ in 0..1024 {
                idle.push(
                    tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .unwrap(),
                );
            }
            let mut peak = 0;
            for _ in 0..20 {
                peak = peak.max(fds());
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert!(
                peak <= baseline + MAX + 2,
                "the daemon held {peak} descriptors (baseline {baseline}, limit {MAX})"
            );
            drop(idle);
            let mut healthy = false;
            for _ in 0..200 {
                if request(port, "GET /healthz", "").await == Some(200) {
                    healthy = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert!(healthy, "/healthz answers once the flood is gone");
        })
        .await;
    }
}
