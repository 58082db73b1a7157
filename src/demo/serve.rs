//! The hidden `mock-servers` command (I/O): the in-process mock Lightdash (bundled content) and
//! mock Dot as standalone loopback servers, plus a small control server, so a real daemon
//! (under systemd in `.ci/e2e-systemd`) can be pointed at them and the test can see what Dot
//! received and inject faults. Loopback only; not for production use.
//!
//! Control routes (JSON, loopback):
//! - `GET /dot/assets`: `{id: {"url", "active", "name"}}` of every asset Dot holds;
//! - `GET /dot/accepted`: `{"accepted": N}`, import requests answered 200 so far;
//! - `POST /dot/delay?ms=N`: every import waits N ms before it is handled (0 clears);
//! - `POST /lightdash/hang?route=charts|dashboards|spaces|projects`: that listing never answers;
//! - `GET /lightdash/count?route=…` (same routes): `{"count": N}`, requests received so far;
//! - `POST /clear`: drop every fault.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::content::bundled;
use super::mock_dot::{DotFault, DotFaultKind, MockDot, MockDotHandle, MockDotOptions};
use super::mock_lightdash::{
    Fault, MockLightdash, MockLightdashHandle, MockLightdashOptions, Route,
};

struct Mocks {
    lightdash: MockLightdashHandle,
    dot: MockDotHandle,
}

/// What [`start`] bound, printed as one JSON line by the command.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Endpoints {
    /// Mock Lightdash base URL.
    pub lightdash: String,
    /// Token the mock Lightdash accepts.
    pub lightdash_token: String,
    /// Mock Dot base URL.
    pub dot: String,
    /// API key the mock Dot accepts.
    pub dot_key: String,
    /// Control server base URL.
    pub control: String,
}

/// A running set of mocks; dropping it stops them.
pub struct Running {
    /// Where they listen.
    pub endpoints: Endpoints,
    _control: super::server::Running,
    _mocks: Arc<Mocks>,
}

/// Starts both mocks and the control server on loopback ports.
pub async fn start() -> std::io::Result<Running> {
    let lightdash_options = MockLightdashOptions::default();
    let dot_options = MockDotOptions::default();
    let endpoints_tokens = (lightdash_options.token.clone(), dot_options.api_key.clone());
    let lightdash = MockLightdash::start(bundled(), lightdash_options).await?;
    let dot = MockDot::start(dot_options).await?;
    let mocks = Arc::new(Mocks { lightdash, dot });
    let app = axum::Router::new()
        .route("/dot/assets", get(assets))
        .route("/dot/accepted", get(accepted))
        .route("/dot/delay", post(delay))
        .route("/lightdash/hang", post(hang))
        .route("/lightdash/count", get(count))
        .route("/clear", post(clear))
        .with_state(mocks.clone());
    let control = super::server::bind().await?.serve(app, "mock control");
    let endpoints = Endpoints {
        lightdash: mocks.lightdash.url(),
        lightdash_token: endpoints_tokens.0,
        dot: mocks.dot.url(),
        dot_key: endpoints_tokens.1,
        control: control.url(),
    };
    Ok(Running {
        endpoints,
        _control: control,
        _mocks: mocks,
    })
}

async fn assets(State(m): State<Arc<Mocks>>) -> Json<BTreeMap<String, Value>> {
    Json(
        m.dot
            .assets()
            .into_iter()
            .map(|(id, a)| {
                (
                    id,
                    json!({"url": a.url, "active": a.active, "name": a.name}),
                )
            })
            .collect(),
    )
}

async fn accepted(State(m): State<Arc<Mocks>>) -> Json<Value> {
    Json(json!({ "accepted": m.dot.accepted_count() }))
}

async fn delay(
    State(m): State<Arc<Mocks>>,
    Query(q): Query<HashMap<String, u64>>,
) -> (StatusCode, &'static str) {
    m.dot.clear_faults();
    match q.get("ms") {
        Some(0) => (StatusCode::OK, "cleared\n"),
        Some(ms) => {
            m.dot.set_fault(DotFault {
                id: None,
                kind: DotFaultKind::Delay(Duration::from_millis(*ms)),
                times: None,
            });
            (StatusCode::OK, "delayed\n")
        }
        None => (StatusCode::BAD_REQUEST, "ms is required\n"),
    }
}

const ROUTE_NAMES: &str = "route must be charts, dashboards, spaces or projects\n";

/// The listing route named by `?route=`.
fn listing_route(q: &HashMap<String, String>) -> Option<Route> {
    match q.get("route").map(String::as_str) {
        Some("charts") => Some(Route::Charts),
        Some("dashboards") => Some(Route::Dashboards),
        Some("spaces") => Some(Route::Spaces),
        Some("projects") => Some(Route::Projects),
        _ => None,
    }
}

async fn hang(
    State(m): State<Arc<Mocks>>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, &'static str) {
    let Some(route) = listing_route(&q) else {
        return (StatusCode::BAD_REQUEST, ROUTE_NAMES);
    };
    m.lightdash.set_fault(route, Fault::Hang, None);
    (StatusCode::OK, "hanging\n")
}

async fn count(
    State(m): State<Arc<Mocks>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, (StatusCode, &'static str)> {
    let route = listing_route(&q).ok_or((StatusCode::BAD_REQUEST, ROUTE_NAMES))?;
    Ok(Json(json!({ "count": m.lightdash.count(route) })))
}

async fn clear(State(m): State<Arc<Mocks>>) -> &'static str {
    m.lightdash.clear_faults();
    m.dot.clear_faults();
    "cleared\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn control_routes_report_and_inject() {
        let running = start().await.unwrap();
        let e = &running.endpoints;
        let http = crate::demo::test_client();
        let get_json = |path: &str| {
            let request = http.get(format!("{}{path}", e.control));
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        assert_eq!(get_json("/dot/accepted").await, json!({"accepted": 0}));
        let bad = http
            .post(format!("{}/lightdash/hang?route=nope", e.control))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let ok = http
            .post(format!("{}/lightdash/hang?route=charts", e.control))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        // The charts listing now hangs: a short client timeout proves it.
        let hung = http
            .get(format!("{}/api/v1/projects/x/charts", e.lightdash))
            .timeout(Duration::from_millis(300))
            .send()
            .await;
        assert!(hung.is_err_and(|e| e.is_timeout()));
        assert_eq!(
            get_json("/lightdash/count?route=charts").await,
            json!({"count": 1})
        );
        http.post(format!("{}/clear", e.control))
            .send()
            .await
            .unwrap();
        let after = http
            .get(format!("{}/api/v1/projects/x/charts", e.lightdash))
            .send()
            .await
            .unwrap();
        assert_ne!(after.status(), 200, "unauthenticated, but answered");
    }
}
