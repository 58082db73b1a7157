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
