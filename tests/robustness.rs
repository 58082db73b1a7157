//! Robustness (issue 13): content, listing, disk and clock faults never crash the daemon,
//! loop it or destroy its state. Cycle-level tests against the in-process mocks; the
//! binary-level ones live in `tests/reliability.rs`.

mod support;

use lightdash_dot_sync::sync::{CycleKind, CycleOptions, CycleRun, Outcome};

use support::*;

/// Field report: a date-dimension label with `İ` panicked every cycle. Every date-part label
/// of the default project gets case-mapping characters; the cycle succeeds and the charts
/// using them show the label with the interval in parentheses.
#[tokio::test]
async fn case_mapping_labels_render_and_the_cycle_succeeds() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    app.lightdash.update(|c| {
        let p = c.default_project_mut().unwrap();
        for e in &mut p.explores {
            for t in e.tables.values_mut() {
                for f in t.dimensions.values_mut() {
                    let Some(interval) = f.time_interval.clone() else {
                        continue;
                    };
                    let interval = interval.to_lowercase().replace('_', " ");
                    let words = f.name.replace('_', " ");
                    let Some(stem) = words.strip_suffix(&format!(" {interval}")) else {
                        continue;
                    };
                    f.label = Some(format!("İİ Straẞe \u{212A} {words}"));
                    expected.push(format!("İİ Straẞe \u{212A} {stem} ({interval})"));
                }
            }
        }
    });
    assert!(!expected.is_empty(), "the bundled content has date parts");
    let run = app.cycle().await;
    assert_eq!(
        run.report.outcome,
        Outcome::Success,
        "{:?}",
        run.report.error
    );
    let mut shown = 0;
    for r in app.dot.requests() {
        let Some(md) = r.body["external_asset"]["dot_description"].as_str() else {
            continue;
        };
        for line in md.lines().filter(|l| l.contains("İİ Straẞe")) {
            assert!(
                expected.iter().any(|e| line.contains(e.as_str())),
                "garbled date-part label: {line}"
            );
            shown += 1;
        }
    }
    assert!(shown > 0, "some chart shows a date part");
}

/// A panic inside a cycle is a failed cycle: reported (outcome, error, exit code 2) and
/// written to the state for `status`, never a dead process.
#[tokio::test]
async fn a_panicking_cycle_is_reported_as_a_failed_cycle() {
    let app = spawn_app().await;
    let opts = CycleOptions {
        kind: CycleKind::Deep,
        ..Default::default()
    };
    let run: CycleRun = lightdash_dot_sync::app::guard_cycle(app.ctx(), opts, async {
        if opts.kind == CycleKind::Deep {
            panic!("byte index 3 is not a char boundary");
        }
        unreachable!()
    })
    .await;
    assert_eq!(run.report.outcome, Outcome::Failed);
    assert_eq!(run.report.outcome.exit_code(), 2);
    assert_eq!(run.report.kind, CycleKind::Deep);
    let error = run.report.error.clone().unwrap();
    assert!(
        error.contains("panicked (byte index 3 is not a char boundary)"),
        "{error}"
    );
    let stored = app.ctx().store.reports(10).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].outcome, Outcome::Failed);
    assert_eq!(stored[0].error.as_deref(), Some(error.as_str()));
    // The next (real) cycle runs as usual.
    let next = app.cycle().await;
    assert_eq!(next.report.outcome, Outcome::Success);
}

/// In-scope chart uuids of the default project, and the space of each.
fn in_scope_charts(app: &TestApp) -> Vec<(String, String)> {
    let content = app.content();
    let expected = expected_ids(&content);
    content
        .default_project()
        .unwrap()
        .charts
        .iter()
        .filter(|c| expected.contains(&chart_id(&c.summary.uuid)))
        .map(|c| (c.summary.uuid.clone(), c.summary.space_uuid.clone()))
        .collect()
}

/// Ids Dot received with `active: false` since the last clear.
fn deactivated(app: &TestApp) -> Vec<String> {
    app.dot
        .requests()
        .into_iter()
        .filter(|r| r.body["external_asset"]["active"] == serde_json::json!(false))
        .filter_map(|r| r.id)
        .collect()
}

/// Field report: one wrongly typed field in one listing item blocked its whole project (exit
/// 2 every cycle) and the error did not name it. Now that asset fails alone, named by uuid,
/// field and route; everything else syncs; the item is not taken for deleted.
#[tokio::test]
async fn a_wrongly_typed_listing_field_fails_only_that_asset() {
    let app = spawn_app().await;
    assert_eq!(app.cycle().await.report.outcome, Outcome::Success);
    let charts = in_scope_charts(&app);
    let (bad, _) = &charts[0];
    app.lightdash
        .set_listing_override(bad, "views", serde_json::json!("many"));
    // Something else changes too, to show the project still syncs.
    let (good, _) = &charts[1];
    app.lightdash.update(|c| {
        c.chart_mut(good).unwrap().summary.name = "Renamed while a neighbour is broken".into();
    });
    app.clear_requests();
    for _ in 0..2 {
        let run = app.cycle_kind(CycleKind::Deep).await;
        let r = &run.report;
        assert_eq!(r.outcome, Outcome::PartialFailure, "{:?}", r.error);
        assert_eq!(r.failed, 1, "{:?}", r.failures);
        let f = &r.failures[0];
        assert_eq!(f.id, chart_id(bad));
        assert!(
            f.error
                .contains(&format!("item {bad} of /api/v1/projects/")),
            "{}",
            f.error
        );
        assert!(f.error.contains("/charts"), "{}", f.error);
        assert!(
            f.error.contains("views: invalid type: string \"many\""),
            "{}",
            f.error
        );
    }
    assert!(deactivated(&app).is_empty(), "{:?}", deactivated(&app));
    assert!(
        app.dot_id_set().contains(&chart_id(good)),
        "the project still syncs"
    );
    assert!(!app.dot_id_set().contains(&chart_id(bad)));
    // Fixed in Lightdash: the next cycle pushes it again and succeeds.
    app.lightdash.clear_item_overrides();
    let run = app.cycle().await;
    assert_eq!(
        run.report.outcome,
        Outcome::Success,
        "{:?}",
        run.report.failures
    );
}

/// A space that does not decode holds its sub-spaces and content: none is pushed (their
/// privacy is unknown) and none is deactivated.
#[tokio::test]
async fn content_of_an_undecodable_space_is_held_not_deactivated() {
    let app = spawn_app().await;
    assert_eq!(app.cycle().await.report.outcome, Outcome::Success);
    let (chart, space) = in_scope_charts(&app)[0].clone();
    app.lightdash
        .set_listing_override(&space, "isPrivate", serde_json::json!("no"));
    app.clear_requests();
    let run = app.cycle_kind(CycleKind::Resync).await;
    assert_eq!(run.report.outcome, Outcome::PartialFailure);
    let failed: Vec<&str> = run.report.failures.iter().map(|f| f.id.as_str()).collect();
    assert!(failed.contains(&space_id(&space).as_str()), "{failed:?}");
    assert!(failed.contains(&chart_id(&chart).as_str()), "{failed:?}");
    assert!(deactivated(&app).is_empty(), "{:?}", deactivated(&app));
    let pushed = app.dot_id_set();
    assert!(!pushed.contains(&chart_id(&chart)) && !pushed.contains(&space_id(&space)));
    assert!(pushed.len() > 3, "the rest is pushed: {pushed:?}");
}

/// Field report: an as-code item nested deeper than serde's limit failed its whole page of
/// 100 charts every cycle. Now only that chart fails.
#[tokio::test]
async fn an_as_code_item_nested_too_deep_fails_alone() {
    let app = spawn_app().await;
    let charts = in_scope_charts(&app);
    let (bad, _) = &charts[0];
    let mut deep = serde_json::json!(1);
    for _ in 0..300 {
        deep = serde_json::json!([deep]);
    }
    app.lightdash.set_item_override(bad, "chartConfig", deep);
    let run = app.cycle().await;
    assert_eq!(
        run.report.outcome,
        Outcome::PartialFailure,
        "{:?}",
        run.report.error
    );
    let failed: Vec<&str> = run.report.failures.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(failed, [chart_id(bad).as_str()]);
    let pushed = app.dot_id_set();
    for (uuid, _) in &charts[1..] {
        assert!(pushed.contains(&chart_id(uuid)), "{uuid} not pushed");
    }
}

/// Field report: the same uuid twice in a listing made it "changed" every cycle. One copy is
/// kept (deterministically), so the second cycle pushes nothing.
#[tokio::test]
async fn a_duplicated_listing_item_is_not_changed_every_cycle() {
    let app = spawn_app().await;
    let charts = in_scope_charts(&app);
    let (dup, _) = &charts[0];
    app.lightdash
        .set_listing_duplicate(dup, "name", serde_json::json!("A stale copy"));
    let first = app.cycle().await;
    assert_eq!(first.report.outcome, Outcome::Success);
    assert!(app.dot_id_set().contains(&chart_id(dup)));
    for _ in 0..2 {
        app.clear_requests();
        let again = app.cycle().await;
        assert_eq!(again.report.outcome, Outcome::Success);
        assert_eq!(again.report.changed, 0);
        assert!(app.dot.requests().is_empty(), "{:?}", app.dot_ids());
    }
}

/// Field report: after a temporary ENOSPC every later cycle failed even once space was free.
/// A cycle that cannot write its state fails (outcome, error naming the fault), nothing is
/// moved aside; once the storage works the next cycle reopens the state, pushes what was not
/// recorded, and succeeds.
#[tokio::test]
async fn a_transient_storage_fault_fails_the_cycle_then_the_state_recovers() {
    use lightdash_dot_sync::app::run_cycle_guarded;
    use lightdash_dot_sync::sync::NoProgress;
    let app = spawn_app().await;
    let store = app.ctx().store.clone();
    assert_eq!(app.cycle().await.report.outcome, Outcome::Success);
    let (renamed, _) = in_scope_charts(&app)[0].clone();
    app.lightdash.update(|c| {
        c.chart_mut(&renamed).unwrap().summary.name = "Renamed on a full disk".into();
    });
    store.inject_fault(Some(28));
    let opts = CycleOptions::default();
    let run = run_cycle_guarded(app.ctx(), opts, &NoProgress).await;
    assert_eq!(run.report.outcome, Outcome::Failed);
    let error = run.report.error.clone().unwrap();
    assert!(error.contains("No space left on device"), "{error}");
    assert!(store.fault().is_some(), "readiness sees the fault");
    // Still full: the next cycle fails at once, without touching either API.
    app.clear_requests();
    let run = run_cycle_guarded(app.ctx(), opts, &NoProgress).await;
    assert_eq!(run.report.outcome, Outcome::Failed);
    assert!(app.dot.requests().is_empty() && app.lightdash.requests().is_empty());
    // Space is back.
    store.inject_fault(None);
    let run = run_cycle_guarded(app.ctx(), opts, &NoProgress).await;
    assert_eq!(
        run.report.outcome,
        Outcome::Success,
        "{:?}",
        run.report.error
    );
    assert_eq!(store.fault(), None);
    assert!(app.dot_id_set().contains(&chart_id(&renamed)));
    let moved = std::fs::read_dir(app.state_path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("db.corrupt-")
        })
        .count();
    assert_eq!(moved, 0, "a full disk is not corruption");
    let reports = store.reports(10).unwrap();
    assert_eq!(
        reports[0].outcome,
        Outcome::Success,
        "the recovered cycle is recorded"
    );
    // And the next cycle has nothing left to push.
    app.clear_requests();
    assert_eq!(app.cycle().await.report.outcome, Outcome::Success);
    assert!(app.dot.requests().is_empty(), "{:?}", app.dot_ids());
}

fn client_for(base: &str) -> lightdash_dot_sync::lightdash::LightdashClient {
    lightdash_dot_sync::lightdash::LightdashClient::new(
        url::Url::parse(base).unwrap(),
        &secrecy::SecretString::from("ldpat_0123456789abcdef".to_owned()),
        1000.0,
        std::time::Duration::from_secs(5),
        std::sync::Arc::new(lightdash_dot_sync::stats::ApiCounters::new("lightdash")),
    )
}

/// Field report: TLS and connect failures showed only "error sending request". The error
/// carries its cause chain on one line.
#[tokio::test]
async fn transport_errors_say_why() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = client_for(&format!("http://127.0.0.1:{port}"))
        .projects()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("Connection refused"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    // TLS spoken to a plain-HTTP server.
    let plain = wiremock::MockServer::start().await;
    let e = client_for(&plain.uri().replace("http://", "https://"))
        .projects()
        .await
        .unwrap_err()
        .to_string();
    // rustls reads the plain-HTTP answer as a corrupt TLS record.
    assert!(e.contains("received corrupt message"), "{e}");
    // Dot's client says why as well.
    let dot = lightdash_dot_sync::dot::client::DotClient::new(
        &url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        lightdash_dot_sync::config::DotAuth::Header {
            api_key: secrecy::SecretString::from("k".to_owned()),
        },
        1000.0,
        1,
        std::time::Duration::from_secs(5),
        std::sync::Arc::new(lightdash_dot_sync::stats::ApiCounters::new("dot")),
    );
    let asset = lightdash_dot_sync::dot::types::ExternalAsset {
        id: "lightdash-chart-x".into(),
        subtype: "lightdash_chart".into(),
        folder: None,
        name: Some("x".into()),
        description: None,
        url: None,
        active: true,
        view_count: None,
        last_accessed_at: None,
        dot_description: None,
    };
    let e = dot.upsert(&asset).await.unwrap_err().to_string();
    assert!(e.contains("Connection refused"), "{e}");
}

/// Field report: a redirect to another host (which reqwest does not send the token to) read
/// as "rejected the token". Such a redirect is not followed (the sec issue) and the error
/// says where it led and what to fix.
#[tokio::test]
async fn a_redirect_that_would_drop_the_token_is_named() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let elsewhere = MockServer::start().await;
    let front = MockServer::start().await;
    // Another port on the same host is another origin, as another host is.
    let target = elsewhere.uri().replace("127.0.0.1", "localhost");
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{target}/api/v1/org/projects").as_str()),
        )
        .mount(&front)
        .await;
    let text = client_for(&front.uri())
        .projects()
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains(&target), "{text}");
    assert!(text.contains("set lightdash.url"), "{text}");
    assert!(!text.contains("rejected the token"), "{text}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

/// Field report: delete the state, then delete a chart in Lightdash: it stayed active in Dot
/// forever (neither `--resync` nor a deep cycle fixed it). Dot's API cannot list our assets,
/// so the ledger of pushed ids outlives the database: the first cycle on a new database
/// deactivates what Lightdash no longer has, re-pushes the rest, and nothing else.
#[tokio::test]
async fn a_lost_database_still_deactivates_content_deleted_meanwhile() {
    let mut app = spawn_app().await;
    assert_eq!(app.cycle().await.report.outcome, Outcome::Success);
    let expected_before = expected_ids(&app.content());
    let (gone, _) = in_scope_charts(&app)[0].clone();
    app.ctx = None;
    std::fs::remove_dir_all(app.state_path().join("db")).unwrap();
    app.lightdash.update(|c| {
        c.default_project_mut()
            .unwrap()
            .remove_chart_everywhere(&gone)
            .unwrap();
    });
    app.restart();
    app.clear_requests();
    let run = app.cycle_kind(CycleKind::Resync).await;
    assert_eq!(
        run.report.outcome,
        Outcome::Success,
        "{:?}",
        run.report.error
    );
    assert_eq!(deactivated(&app), [chart_id(&gone)]);
    let expected_after = expected_ids(&app.content());
    assert_eq!(expected_after.len() + 1, expected_before.len());
    let upserted: std::collections::BTreeSet<String> = app
        .dot
        .requests()
        .into_iter()
        .filter(|r| r.body["external_asset"]["active"] == serde_json::json!(true))
        .filter_map(|r| r.id)
        .collect();
    assert_eq!(upserted, expected_after);
    // Dot ends with exactly Lightdash's content active.
    let active: std::collections::BTreeSet<String> = app
        .dot
        .assets()
        .into_iter()
        .filter(|(_, a)| a.active)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(active, expected_after);
}
