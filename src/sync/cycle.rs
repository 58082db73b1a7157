//! One sync cycle (I/O orchestration, no business rules of its own), as the numbered list of
//! DESIGN.md §1: list → scope → detect change → propagate → fetch → render → plan → push →
//! commit → report. Each stage is a function of its own module:
//!
//! | stage | module | I/O? |
//! |---|---|---|
//! | list, empty-listing fail-safe | [`super::listing`] | listing: yes; fail-safe: pure |
//! | scope | [`super::scope`] | pure |
//! | detect change, propagate | [`super::detect`] | pure |
//! | fetch details and explores | [`super::fetch`] | yes |
//! | render | [`super::rendering`] | pure |
//! | plan | [`super::plan`] | pure |
//! | push, commit | [`super::push`] | yes |
//! | fetch → render → plan → push → commit in bounded slices | [`super::slices`] | through the above |
//! | report | [`super::report`] | pure |

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

// The types callers name as `sync::cycle::…` stay reachable here.
pub use super::context::{CycleOptions, CycleRun, NoProgress, Planned, Progress, SyncContext};
use super::context::{Sink, now_secs};
use super::detect::{self, Detected};
use super::listing::{self, Listings};
use super::plan::{self, PlanInput};
use super::push::{self, PushScope};
use super::rendering::{self, SpaceContents};
use super::report::{CycleReport, Outcome};
use super::scope::{self, ScopeRules, SpaceScopes};
use super::slices::{self, Carry, Stages};
use super::visibility;
use crate::dot::types::AssetKind;
use crate::lightdash::types::Project;
use crate::render::{ProjectView, RenderOptions, SpaceTree};
use crate::state::{ActiveIds, EntryLookup, IndexEntry, Known};
use crate::stats;

/// Runs one cycle. Errors of single assets are counted in the report; only a failure to
/// list projects or to use the state makes the whole cycle fail (also in the report).
pub async fn run_cycle(ctx: &SyncContext, opts: CycleOptions, progress: &dyn Progress) -> CycleRun {
    let started = Instant::now();
    let mut report = CycleReport {
        kind: opts.kind,
        dry_run: opts.dry_run,
        started_at_ms: chrono::Utc::now().timestamp_millis(),
        ..CycleReport::default()
    };
    let ld_before = ctx.lightdash_counters.by_route();
    let dot_before = ctx.dot_counters.total();
    let mut planned = Vec::new();
    ctx.lightdash.reset_route_probe();

    let mut sink = Sink {
        report: &mut report,
        planned: &mut planned,
        progress,
    };
    let durable = !opts.dry_run && opts.full();
    if durable && let Err(e) = ctx.store.start_full_cycle(opts.kind) {
        tracing::error!(error = %e, "could not record the start of the cycle in the state; if it is cut short it is not redone at the next start");
    }
    let finished = tokio::select! {
        biased;
        r = run_projects(ctx, opts, &mut sink) => Some(r),
        () = ctx.stopped_between_pushes() => None,
    };
    // A stop requested before the cycle ended may have left pushes unstarted.
    let interrupted = finished.is_none() || ctx.stopping.load(Ordering::SeqCst);
    if let Some(Err(e)) = finished {
        report.outcome = Outcome::Failed;
        report.error = Some(e);
    }
    // 10. Report.
    report.settle();
    if interrupted {
        report.outcome = Outcome::Interrupted;
        report.error = Some(if durable {
            format!(
                "stopped before the {} finished; it is redone at the next start",
                opts.kind.as_str()
            )
        } else {
            "stopped before the cycle finished; what it did not push is pushed by the next cycle"
                .to_owned()
        });
    } else if durable && let Err(e) = ctx.store.finish_full_cycle(opts.kind) {
        tracing::error!(error = %e, "could not record the end of the cycle in the state; it is redone at the next start");
    }
    report.lightdash_requests = stats::delta(&ctx.lightdash_counters.by_route(), &ld_before);
    report.dot_requests = ctx.dot_counters.total() - dot_before;
    report.duration_ms = started.elapsed().as_millis() as u64;
    if !opts.dry_run
        && let Err(e) = ctx
            .store
            .add_report(&report)
            .and_then(|_| ctx.store.flush())
    {
        tracing::error!(error = %e, "could not write the cycle report to the state");
    }
    CycleRun { report, planned }
}

async fn run_projects(
    ctx: &SyncContext,
    opts: CycleOptions,
    sink: &mut Sink<'_>,
) -> Result<(), String> {
    let all = ctx
        .lightdash
        .projects()
        .await
        .map_err(|e| format!("listing Lightdash projects failed: {e}"))?;
    for bad in &all.undecodable {
        tracing::error!(error = %bad, "a Lightdash project could not be decoded; its assets are left as they are");
        sink.report.projects_failed.push(
            bad.uuid
                .clone()
                .unwrap_or_else(|| format!("{}#{}", bad.route, bad.index)),
        );
    }
    let wanted = &ctx.settings.lightdash.projects;
    let (projects, missing) = scope::select_projects(all.items, wanted);
    for uuid in missing {
        tracing::error!(project = %uuid, "configured project is not visible to the Lightdash token; its assets are left as they are");
        sink.report.projects_failed.push(uuid);
    }
    sink.report.projects = projects.len();
    let mut active = active_by_project(ctx)?;
    // That pass read every page of the index; nothing later in the cycle reads most of them.
    release_cache(ctx).await?;
    let writes = ctx.store.writes();
    debug_rss("", "state index read");
    // No project at all while the state knows live assets is a permission or proxy glitch far
    // more often than a real deletion of everything: fail the cycle (nothing is deactivated
    // for unlisted projects anyway).
    if projects.is_empty() && wanted.is_empty() && !active.is_empty() {
        let known: Vec<String> = active.keys().cloned().collect();
        tracing::error!(projects = ?known, "Lightdash listed no project although the state knows live assets; their assets are left as they are");
        sink.report.projects_failed.extend(known);
    }
    for project in &projects {
        let p = project.project_uuid.as_str();
        let lookup = StateLookup {
            store: &ctx.store,
            project: p,
        };
        let known = Known::new(active.remove(p).unwrap_or_default(), &lookup);
        sync_project(ctx, opts, project, &known, sink).await;
    }
    for (uuid, ids) in active {
        let configured = wanted.is_empty() || wanted.contains(&uuid);
        if configured {
            let lookup = StateLookup {
                store: &ctx.store,
                project: &uuid,
            };
            deactivate_if_deleted(ctx, opts, &uuid, &Known::new(ids, &lookup), sink).await;
        }
    }
    // Leaves sled a fresh snapshot for the next start, and lets go of what the writes kept.
    if ctx.store.writes() != writes
        && let Err(e) = release_cache(ctx).await
    {
        // The cycle's work is committed; the next cycle reopens the state first.
        tracing::warn!(error = %e, "could not reopen the state after the cycle");
    }
    Ok(())
}

/// [`crate::state::Store::release_cache`], off the async threads (it flushes, and may wait
/// for sled's lock).
async fn release_cache(ctx: &SyncContext) -> Result<(), String> {
    let store = ctx.store.clone();
    match tokio::task::spawn_blocking(move || store.release_cache()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("reopening the state failed: {e}")),
        Err(e) => Err(format!("reopening the state failed: {e}")),
    }
}

/// A project the state knows live assets of is no longer listed. Its assets are deactivated
/// only when Lightdash confirms the deletion: a `NotFoundError` envelope on
/// `GET /api/v1/projects/{p}` (a 403, a transport error or an HTML page confirm nothing, and
/// the assets are left as they are). Confirmed deletions pass the fail-safe.
async fn deactivate_if_deleted(
    ctx: &SyncContext,
    opts: CycleOptions,
    p: &str,
    entries: &Known<'_>,
    sink: &mut Sink<'_>,
) {
    match ctx.lightdash.project(p).await {
        Err(crate::lightdash::LightdashError::NotFound { name, .. }) if !name.is_empty() => {}
        Ok(()) => {
            tracing::info!(
                project = p,
                "project not listed for this token but still exists in Lightdash; its assets are left as they are"
            );
            return;
        }
        Err(e) => {
            tracing::warn!(project = p, error = %e, "project not listed and its deletion not confirmed; its assets are left as they are");
            return;
        }
    }
    let confirmed: BTreeSet<String> = entries.active().map(str::to_owned).collect();
    tracing::warn!(
        project = p,
        assets = confirmed.len(),
        "Lightdash confirms the project was deleted; deactivating its assets"
    );
    sink.report.projects_deleted.push(p.to_owned());
    sink.report.projects_failed.retain(|f| f != p);
    let (none, now) = (BTreeMap::new(), now_secs());
    let (actions, _) = plan::plan_deactivations(&PlanInput {
        kind: opts.kind,
        now,
        view_count_refresh_secs: 0,
        max_deactivate_fraction: ctx.settings.sync.max_deactivate_fraction,
        allow_mass_deactivation: opts.allow_mass_deactivation,
        project: p,
        entries,
        rendered: Vec::new(),
        unrendered_views: &none,
        out_of_scope: &BTreeMap::new(),
        in_scope: &BTreeSet::<String>::new(),
        confirmed_deleted: &confirmed,
    });
    if opts.dry_run {
        for action in actions {
            push::count_action(sink.report, &push::tally(&action));
            sink.planned.push(Planned {
                project: p.to_owned(),
                action,
            });
        }
        return;
    }
    let scope = PushScope {
        project: p,
        entries,
        now,
    };
    push::push_and_commit(ctx, opts, &scope, actions, &mut HashMap::new(), sink).await;
}

/// The Dot ids of the assets active in Dot, with their briefs, by project: one streamed pass
/// over the state, keeping only those (see [`Known`]).
fn active_by_project(ctx: &SyncContext) -> Result<BTreeMap<String, ActiveIds>, String> {
    let mut active: BTreeMap<String, ActiveIds> = BTreeMap::new();
    // The index yields ids in order, so each project's ids arrive sorted.
    ctx.store
        .for_each_brief(|id, project, is_active, brief| {
            if !is_active {
                return;
            }
            match active.get_mut(project) {
                Some(ids) => ids.push(id, brief),
                None => {
                    let mut ids = ActiveIds::default();
                    ids.push(id, brief);
                    active.insert(project.to_owned(), ids);
                }
            }
        })
        .map_err(|e| format!("reading the state failed: {e}"))?;
    Ok(active)
}

/// Entries read from the state one at a time, for one project (I/O: a sled read each).
struct StateLookup<'a> {
    store: &'a crate::state::Store,
    project: &'a str,
}

impl EntryLookup for StateLookup<'_> {
    fn entry(&self, id: &str) -> Option<IndexEntry> {
        match self.store.entry(id) {
            Ok(Some(e)) if e.project == self.project => Some(e),
            Ok(_) => None,
            Err(e) => {
                // Counting the asset as new costs a render and a push; never a deactivation.
                tracing::warn!(id, error = %e, "could not read the asset's state entry; it is rendered as new");
                None
            }
        }
    }
}

/// Stages 1–9 for one project. Failures are recorded in the report, never returned: one
/// project's trouble does not stop the others.
async fn sync_project(
    ctx: &SyncContext,
    opts: CycleOptions,
    project: &Project,
    entries: &Known<'_>,
    sink: &mut Sink<'_>,
) {
    let p = project.project_uuid.as_str();
    // 1. List.
    let listed = match listing::list(ctx, p, entries).await {
        Ok(mut l) => listing::discover_sql_charts(ctx, p, &mut l)
            .await
            .map(|()| l),
        Err(e) => Err(e),
    };
    let mut listings = match listed {
        Ok(l) => l,
        Err(errors) => {
            tracing::error!(project = p, errors = ?errors, "listing failed; skipping this project (no deactivations) until a later cycle");
            sink.report.projects_failed.push(p.to_owned());
            return;
        }
    };
    debug_rss(p, "listed");
    for (id, error) in &listings.held.failures {
        tracing::warn!(project = p, id = %id, error = %error, "asset skipped this cycle");
        sink.report.fail(id, error);
        push::mark_stale(ctx, opts, entries, id);
    }
    if !opts.allow_mass_deactivation
        && let Some(e) = listing::empty_listing_trip(p, &listings, entries)
    {
        tracing::error!(project = p, empty = ?e.empty, would_deactivate = e.trip.would_deactivate, active = e.trip.active, "fail-safe: a listing came back empty although the state knows live assets of that kind; skipping this project (nothing deactivated); if they were really all deleted, run once with --allow-mass-deactivation");
        metrics::counter!("ldsync_failsafe_trips_total").increment(1);
        sink.report.failsafe.push(e.trip);
        return;
    }
    let settings = &ctx.settings;
    let kinds: HashSet<AssetKind> = settings.sync.kinds.iter().copied().collect();
    let rules = ScopeRules {
        include_private: settings.lightdash.include_private,
        spaces: &settings.lightdash.spaces,
        kinds: &kinds,
    };
    // Nothing out of scope shows through another asset: references to dashboards that are
    // not synced are blanked here, once, for every later stage.
    visibility::redact(&mut listings, &rules);
    let options = render_options(ctx);
    let tree = SpaceTree::new(&listings.spaces);
    let view = ProjectView {
        project,
        spaces: &tree,
        options: &options,
    };
    let project = ProjectRun {
        ctx,
        opts,
        p,
        entries,
        listings: &listings,
        view: &view,
        rules: &rules,
    };
    project.run(sink).await;
}

fn render_options(ctx: &SyncContext) -> RenderOptions {
    RenderOptions {
        site_url: ctx
            .settings
            .lightdash
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_owned(),
        max_description_chars: ctx.settings.sync.max_description_chars,
    }
}

/// One project's listed content and what the stages after the listing share.
struct ProjectRun<'a> {
    ctx: &'a SyncContext,
    opts: CycleOptions,
    p: &'a str,
    entries: &'a Known<'a>,
    listings: &'a Listings,
    view: &'a ProjectView<'a>,
    rules: &'a ScopeRules<'a>,
}

impl ProjectRun<'_> {
    /// Stages 2–9.
    async fn run(&self, sink: &mut Sink<'_>) {
        let (listings, entries, full) = (self.listings, self.entries, self.opts.full());
        // 2. Scope.
        let scopes = SpaceScopes::new(self.view.spaces, &listings.spaces, self.rules);
        // 3. Detect change, from the listings alone.
        let mut detected = detect::detect(listings, self.view, &scopes, self.rules, entries);
        count_listed(sink.report, &detected);
        debug_rss(self.p, "detected");
        // Held assets (undecodable, or in an undecodable space) count as present: never
        // deactivated as gone. They are not in the listings, so nothing renders them.
        detected.hold(listings.held.ids.iter().cloned());
        let confirmed = listing::confirmed_deleted(listings);
        let st = self.stages(&detected, &scopes, &confirmed);
        self.clear_scratch();
        // Deactivations need nothing rendered: decided (fail-safe first) and pushed first.
        slices::deactivations(&st, sink).await;
        // 4. Propagate: dashboards showing changed charts, and their tiles (their details
        //    are fetched now and parked for their slice); then the charts this moves.
        let mut carry = Carry::default();
        let showing = detect::showing_changed_charts(&detected, listings, entries);
        let dash_render = detect::dashboards_to_render(&detected, &showing, full, self.rules);
        let tiles = slices::dashboard_tiles(&st, &mut carry, &dash_render, sink.report).await;
        let chart_render =
            detect::charts_to_render(&detected, &dash_render, &tiles, entries, full, self.rules);
        let shown_on = rendering::shown_on(&chart_render, &detected, listings, &tiles, entries);
        let on_tiles: HashSet<&str> = tiles.charts().collect();
        // 5–9. Fetch, render, plan, push and commit in bounded slices: charts, then
        //    dashboards, then spaces; then view counts of what was not rendered. A chart
        //    commit ends its "changed" state, so the dashboards it moves are marked due first.
        debug_rss(self.p, "propagated");
        slices::mark_dependents(&st, &dash_render, &showing);
        slices::charts(&st, &mut carry, &chart_render, &shown_on, &on_tiles, sink).await;
        debug_rss(self.p, "charts");
        slices::dashboards(&st, &mut carry, &dash_render, &tiles, sink).await;
        debug_rss(self.p, "dashboards");
        let contents = SpaceContents::new(&detected, &listings.spaces, &scopes);
        slices::spaces(&st, &contents, sink).await;
        debug_rss(self.p, "spaces");
        slices::view_counts(&st, &carry, &dash_render, &chart_render, sink).await;
        debug_rss(self.p, "view counts");
        self.clear_scratch();
    }

    fn stages<'s>(
        &'s self,
        detected: &'s Detected<'s>,
        scopes: &'s SpaceScopes,
        confirmed_deleted: &'s BTreeSet<String>,
    ) -> Stages<'s> {
        Stages {
            ctx: self.ctx,
            opts: self.opts,
            p: self.p,
            entries: self.entries,
            listings: self.listings,
            view: self.view,
            detected,
            scopes,
            maps: Default::default(),
            now: now_secs(),
            confirmed_deleted,
        }
    }

    /// Dry runs park details too: the scratch tree is never part of what the state keeps.
    fn clear_scratch(&self) {
        if let Err(e) = self.ctx.store.clear_scratch() {
            tracing::warn!(error = %e, "could not clear the scratch details");
        }
    }
}

/// Memory at the end of a stage (`RUST_LOG=lightdash_dot_sync=debug`): how BENCHMARKS.md
/// finds where a cycle's peak is reached.
fn debug_rss(project: &str, phase: &str) {
    tracing::debug!(
        project,
        peak_rss_kb = stats::peak_rss_kb(),
        current_rss_kb = stats::current_rss_kb(),
        "{phase} done"
    );
}

/// Counts listed in-scope assets by kind, and the changed ones.
fn count_listed(report: &mut CycleReport, detected: &Detected<'_>) {
    for kind in AssetKind::ALL {
        let n = detected.in_scope_count(kind);
        *report.listed.entry(kind.as_str().to_owned()).or_default() += n;
    }
    report.changed += detected.changed_count();
}
