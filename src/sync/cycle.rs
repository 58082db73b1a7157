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
//! | report | [`super::report`] | pure |

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

// The types callers name as `sync::cycle::…` stay reachable here.
pub use super::context::{CycleOptions, CycleRun, NoProgress, Planned, Progress, SyncContext};
use super::context::{Sink, now_secs};
use super::detect::{self, Detected};
use super::fetch::{self, ExploreSet, FetchScope};
use super::listing::{self, Listings};
use super::plan::{self, PlanInput};
use super::push::{self, PushScope};
use super::rendering::{self, RenderInput, Rendered};
use super::report::{CycleReport, Outcome};
use super::scope::{self, ScopeRules, SpaceScopes};
use crate::dot::types::AssetKind;
use crate::lightdash::types::{
    ChartDetails, ChartSummary, DashboardDetails, DashboardSummary, Project,
};
use crate::render::{ProjectView, RenderOptions, SpaceTree};
use crate::state::IndexEntry;
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
    let wanted = &ctx.settings.lightdash.projects;
    let (projects, missing) = scope::select_projects(all, wanted);
    for uuid in missing {
        tracing::error!(project = %uuid, "configured project is not visible to the Lightdash token; its assets are left as they are");
        sink.report.projects_failed.push(uuid);
    }
    sink.report.projects = projects.len();
    let index = state_by_project(ctx)?;
    // No project at all while the state knows live assets is a permission or proxy glitch far
    // more often than a real deletion of everything: fail the cycle (nothing is deactivated
    // for unlisted projects anyway).
    if projects.is_empty() && wanted.is_empty() {
        let known: Vec<String> = index
            .iter()
            .filter(|(_, entries)| entries.values().any(|e| e.active))
            .map(|(project, _)| project.clone())
            .collect();
        if !known.is_empty() {
            tracing::error!(projects = ?known, "Lightdash listed no project although the state knows live assets; their assets are left as they are");
            sink.report.projects_failed.extend(known);
        }
    }
    let empty = BTreeMap::new();
    for project in &projects {
        let entries = index.get(&project.project_uuid).unwrap_or(&empty);
        sync_project(ctx, opts, project, entries, sink).await;
    }
    Ok(())
}

/// The state's entries, by project then Dot id.
fn state_by_project(
    ctx: &SyncContext,
) -> Result<BTreeMap<String, BTreeMap<String, IndexEntry>>, String> {
    let mut index: BTreeMap<String, BTreeMap<String, IndexEntry>> = BTreeMap::new();
    for (id, entry) in ctx
        .store
        .index()
        .map_err(|e| format!("reading the state failed: {e}"))?
    {
        index
            .entry(entry.project.clone())
            .or_default()
            .insert(id, entry);
    }
    Ok(index)
}

/// Stages 1–9 for one project. Failures are recorded in the report, never returned: one
/// project's trouble does not stop the others.
async fn sync_project(
    ctx: &SyncContext,
    opts: CycleOptions,
    project: &Project,
    entries: &BTreeMap<String, IndexEntry>,
    sink: &mut Sink<'_>,
) {
    let p = project.project_uuid.as_str();
    // 1. List.
    let listings = match listing::list(ctx, p).await {
        Ok(l) => l,
        Err(errors) => {
            tracing::error!(project = p, errors = ?errors, "listing failed; skipping this project (no deactivations) until a later cycle");
            sink.report.projects_failed.push(p.to_owned());
            return;
        }
    };
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
    entries: &'a BTreeMap<String, IndexEntry>,
    listings: &'a Listings,
    view: &'a ProjectView<'a>,
    rules: &'a ScopeRules<'a>,
}

/// What the propagate and fetch stages gathered for rendering.
struct Gathered<'l> {
    charts_listed: HashMap<&'l str, &'l ChartSummary>,
    dash_render: Vec<&'l DashboardSummary>,
    dash_tiles: HashMap<String, Vec<String>>,
    chart_render: BTreeSet<String>,
    dash_details: HashMap<String, DashboardDetails>,
    chart_details: HashMap<String, ChartDetails>,
    explores: ExploreSet,
    failed: BTreeMap<String, String>,
}

impl<'a> ProjectRun<'a> {
    async fn run(&self, sink: &mut Sink<'_>) {
        // 2. Scope.
        let scopes = SpaceScopes::new(self.view.spaces, &self.listings.spaces, self.rules);
        // 3. Detect change, from the listings alone.
        let detected = detect::detect(self.listings, self.view, &scopes, self.rules, self.entries);
        count_listed(sink.report, &detected);
        // 4–5. Propagate along dependencies; fetch details and explores.
        let g = self.gather(&detected, &scopes, sink.report).await;
        // 6. Render.
        let input = RenderInput {
            view: self.view,
            listings: self.listings,
            detected: &detected,
            scopes: &scopes,
            rules: self.rules,
            entries: self.entries,
            charts_listed: &g.charts_listed,
            dash_render: &g.dash_render,
            dash_tiles: &g.dash_tiles,
            chart_render: &g.chart_render,
            dash_details: &g.dash_details,
            chart_details: &g.chart_details,
            explores: &g.explores,
        };
        let mut failed = g.failed;
        let mut rendered = rendering::render_all(&input, &mut failed);
        sink.report.rendered += rendered.assets.len();
        self.debug_rss("rendered");
        rendered.take_details(g.chart_details, g.dash_details);
        drop(g.explores);
        for (id, error) in &failed {
            tracing::warn!(project = self.p, id = %id, error = %error, "asset skipped this cycle");
            sink.report.fail(id, error);
            push::mark_stale(self.ctx, self.opts, self.entries, id);
        }
        // 7–9. Plan, push, commit.
        self.plan_and_push(&detected, rendered, &failed, sink).await;
    }

    /// Stages 4–5: what to render beyond what changed, and the details and explores for it.
    async fn gather(
        &self,
        detected: &Detected<'a>,
        scopes: &SpaceScopes,
        report: &mut CycleReport,
    ) -> Gathered<'a> {
        let (listings, full) = (self.listings, self.opts.full());
        // Charts on dashboards need their details even when charts themselves are not synced.
        let charts_listed: HashMap<&str, &ChartSummary> = listings
            .charts
            .iter()
            .filter(|c| scopes.is_in(&c.space_uuid))
            .map(|c| (c.uuid.as_str(), c))
            .collect();
        let slug_to_uuid: HashMap<&str, &str> = listings
            .charts
            .iter()
            .filter_map(|c| c.slug.as_deref().map(|s| (s, c.uuid.as_str())))
            .collect();
        let fetch_scope = FetchScope {
            project: self.p,
            entries: self.entries,
            full,
        };
        let dash_render =
            detect::dashboards_to_render(detected, listings, self.entries, full, self.rules);
        let dashboards =
            fetch::dashboard_details(self.ctx, &fetch_scope, &dash_render, report).await;
        let mut failed = dashboards.failed;
        let dash_tiles: HashMap<String, Vec<String>> = dashboards
            .details
            .iter()
            .map(|(uuid, d)| (uuid.clone(), d.chart_uuids(&slug_to_uuid)))
            .collect();
        let chart_render = detect::charts_to_render(
            detected,
            &dash_render,
            &dash_tiles,
            self.entries,
            full,
            self.rules,
        );
        let needed = detect::charts_needed(&chart_render, &dash_tiles, &charts_listed);
        let charts =
            fetch::chart_details(self.ctx, &fetch_scope, &needed, &charts_listed, report).await;
        failed.extend(charts.failed);
        self.debug_rss("details fetched");
        let names = fetch::explore_names(charts.details.values(), dashboards.details.values());
        let explores = fetch::explores(self.ctx, self.p, names, report).await;
        Gathered {
            charts_listed,
            dash_render,
            dash_tiles,
            chart_render,
            dash_details: dashboards.details,
            chart_details: charts.details,
            explores,
            failed,
        }
    }

    /// Stages 7–9: plan against the state, then push and commit (or, for dry runs, record
    /// the plan).
    async fn plan_and_push(
        &self,
        detected: &Detected<'_>,
        rendered: Rendered,
        failed: &BTreeMap<String, String>,
        sink: &mut Sink<'_>,
    ) {
        let settings = &self.ctx.settings;
        let unrendered = rendering::unrendered_views(detected, &rendered, failed);
        let Rendered {
            assets,
            mut commit_info,
        } = rendered;
        let now = now_secs();
        let plan = plan::plan(PlanInput {
            kind: self.opts.kind,
            now,
            view_count_refresh_secs: settings.sync.view_count_refresh.as_secs() as i64,
            max_deactivate_fraction: settings.sync.max_deactivate_fraction,
            allow_mass_deactivation: self.opts.allow_mass_deactivation,
            project: self.p,
            entries: self.entries,
            rendered: assets,
            unrendered_views: &unrendered,
            out_of_scope: &detected.out_of_scope,
            in_scope: &detected.in_scope,
        });
        sink.report.unchanged += plan.unchanged.len();
        if let Some(trip) = &plan.failsafe {
            tracing::error!(
                project = self.p,
                would_deactivate = trip.would_deactivate,
                active = trip.active,
                max_fraction = settings.sync.max_deactivate_fraction,
                "fail-safe: refusing to deactivate this many assets at once; none were deactivated (check the Lightdash token's access, or rerun with --allow-mass-deactivation)"
            );
            metrics::counter!("ldsync_failsafe_trips_total").increment(1);
            sink.report.failsafe.push(trip.clone());
        }
        if self.opts.dry_run {
            for action in plan.actions {
                push::count_action(sink.report, &push::tally(&action));
                sink.planned.push(Planned {
                    project: self.p.to_owned(),
                    action,
                });
            }
            return;
        }
        let listed_views = listed_views(detected);
        let scope = PushScope {
            project: self.p,
            entries: self.entries,
            listed_views: &listed_views,
            now,
        };
        push::push_and_commit(
            self.ctx,
            self.opts,
            &scope,
            plan.actions,
            &mut commit_info,
            sink,
        )
        .await;
    }

    fn debug_rss(&self, phase: &str) {
        tracing::debug!(
            project = self.p,
            peak_rss_kb = stats::peak_rss_kb(),
            current_rss_kb = stats::current_rss_kb(),
            "{phase}"
        );
    }
}

/// Counts listed in-scope assets by kind, and the changed ones.
fn count_listed(report: &mut CycleReport, detected: &Detected<'_>) {
    for kind in AssetKind::ALL {
        let n = detected
            .in_scope
            .iter()
            .filter(|id| AssetKind::split_id(id).is_some_and(|(k, _)| k == kind))
            .count();
        *report.listed.entry(kind.as_str().to_owned()).or_default() += n;
    }
    report.changed += detected.changed.len();
}

/// Listing view counts of in-scope dashboards and charts, by Dot id.
fn listed_views(detected: &Detected<'_>) -> HashMap<String, u64> {
    let dashboards = detected
        .dashboards_in
        .iter()
        .map(|d| (AssetKind::Dashboard.asset_id(&d.uuid), d.views));
    let charts = detected
        .charts_in
        .iter()
        .map(|c| (AssetKind::Chart.asset_id(&c.uuid), c.views));
    dashboards.chain(charts).collect()
}
