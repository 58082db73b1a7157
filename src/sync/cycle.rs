//! One sync cycle (I/O orchestration, no business rules of its own): list → detect change →
//! propagate → fetch details for what changed → render → plan → push → commit → report.
//! Reads like DESIGN.md §1; the decisions live in [`super::plan`] and [`crate::render`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::StreamExt;

use super::details::{self, Wanted};
use super::plan::{self, Action, DeactivateReason, Plan, PlanInput};
use super::report::{CycleKind, CycleReport, FailsafeTrip, Outcome};
use crate::config::Settings;
use crate::dot::DotClient;
use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::LightdashClient;
use crate::lightdash::types::{
    ChartDetails, ChartSummary, DashboardDetails, DashboardSummary, Explore, Project, ProjectType,
    SpaceSummary,
};
use crate::render::{self, ChartIndex, Explores, ProjectView, RenderOptions, SpaceTree};
use crate::state::fingerprint::{
    chart_signature, dashboard_signature, fingerprint, space_signature,
};
use crate::state::{AssetBody, IndexEntry, Store, StoredDetails};
use crate::stats::{self, ApiCounters};

/// Explores fetched at once.
const EXPLORE_CONCURRENCY: usize = 4;

/// Everything a cycle talks to. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SyncContext {
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Lightdash client.
    pub lightdash: LightdashClient,
    /// Dot client.
    pub dot: DotClient,
    /// State.
    pub store: Store,
    /// Lightdash request counters.
    pub lightdash_counters: Arc<ApiCounters>,
    /// Dot request counters.
    pub dot_counters: Arc<ApiCounters>,
    /// Set on shutdown: no new push starts; pushes in flight finish and are committed.
    pub stopping: Arc<AtomicBool>,
}

impl SyncContext {
    /// Wires clients and counters for `settings` around an open store.
    pub fn new(settings: Arc<Settings>, store: Store) -> Self {
        let lightdash_counters = Arc::new(ApiCounters::new("lightdash"));
        let dot_counters = Arc::new(ApiCounters::new("dot"));
        let lightdash =
            LightdashClient::from_settings(&settings.lightdash, lightdash_counters.clone());
        let d = &settings.dot;
        let dot = DotClient::new(
            &d.url,
            d.auth.clone(),
            d.requests_per_second,
            d.max_attempts,
            d.timeout,
            dot_counters.clone(),
        );
        Self {
            settings,
            lightdash,
            dot,
            store,
            lightdash_counters,
            dot_counters,
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// How to run a cycle.
#[derive(Debug, Clone, Copy, Default)]
pub struct CycleOptions {
    /// Incremental, deep or resync.
    pub kind: CycleKind,
    /// Plan only: push nothing, write nothing.
    pub dry_run: bool,
    /// Override the deactivation fail-safe for this cycle.
    pub allow_mass_deactivation: bool,
}

/// Progress callbacks (a progress bar, a periodic log line, or nothing).
pub trait Progress: Send + Sync {
    /// More pushes are planned.
    fn add_planned(&self, _n: usize) {}
    /// One push finished (either way).
    fn push_done(&self) {}
}

/// No progress output.
#[derive(Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// One planned action, for `--dry-run` output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Planned {
    /// Project uuid.
    pub project: String,
    /// The action.
    #[serde(flatten)]
    pub action: Action,
}

/// What a cycle did.
#[derive(Debug, Clone)]
pub struct CycleRun {
    /// The summary.
    pub report: CycleReport,
    /// Every planned action (filled for dry runs only).
    pub planned: Vec<Planned>,
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

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

    if let Err(e) = run_projects(ctx, opts, progress, &mut report, &mut planned).await {
        report.outcome = Outcome::Failed;
        report.error = Some(e);
    }
    report.settle();
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
    progress: &dyn Progress,
    report: &mut CycleReport,
    planned: &mut Vec<Planned>,
) -> Result<(), String> {
    let settings = &ctx.settings;
    let all = ctx
        .lightdash
        .projects()
        .await
        .map_err(|e| format!("listing Lightdash projects failed: {e}"))?;
    let wanted = &settings.lightdash.projects;
    let projects: Vec<Project> = if wanted.is_empty() {
        all.into_iter()
            .filter(|p| p.project_type != ProjectType::Preview)
            .collect()
    } else {
        for uuid in wanted {
            if !all.iter().any(|p| &p.project_uuid == uuid) {
                tracing::error!(project = %uuid, "configured project is not visible to the Lightdash token; its assets are left as they are");
                report.projects_failed.push(uuid.clone());
            }
        }
        all.into_iter()
            .filter(|p| wanted.contains(&p.project_uuid))
            .collect()
    };
    report.projects = projects.len();

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
            report.projects_failed.extend(known);
        }
    }
    let empty = BTreeMap::new();
    for project in &projects {
        let entries = index.get(&project.project_uuid).unwrap_or(&empty);
        sync_project(ctx, opts, progress, project, entries, report, planned).await;
    }
    Ok(())
}

/// Whether a space (and so its content) is synced, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    In,
    Out(DeactivateReason),
}

/// What the commit of a pushed asset needs besides the asset.
struct CommitInfo {
    kind: AssetKind,
    uuid: String,
    signature: String,
    updated_at: Option<String>,
    space: Option<String>,
    charts: Vec<String>,
    details: Option<StoredDetails>,
}

/// The listings of one project and what follows from them.
struct Listing {
    tree: SpaceTree,
    spaces: Vec<SpaceSummary>,
    dashboards: Vec<DashboardSummary>,
    charts: Vec<ChartSummary>,
    space_scope: HashMap<String, Scope>,
}

impl Listing {
    fn scope_of_space(&self, space: &str) -> Scope {
        // A space we cannot see may be someone's private space: never sync into it.
        self.space_scope
            .get(space)
            .copied()
            .unwrap_or(Scope::Out(DeactivateReason::Private))
    }
}

#[allow(clippy::too_many_arguments)]
async fn sync_project(
    ctx: &SyncContext,
    opts: CycleOptions,
    progress: &dyn Progress,
    project: &Project,
    entries: &BTreeMap<String, IndexEntry>,
    report: &mut CycleReport,
    planned: &mut Vec<Planned>,
) {
    let settings = &ctx.settings;
    let p = project.project_uuid.as_str();
    let full = opts.kind != CycleKind::Incremental;
    let kinds: HashSet<AssetKind> = settings.sync.kinds.iter().copied().collect();

    // 1. List.
    let (spaces, dashboards, charts) = tokio::join!(
        ctx.lightdash.spaces(p),
        ctx.lightdash.dashboards(p),
        ctx.lightdash.charts(p)
    );
    let (spaces, dashboards, charts) = match (spaces, dashboards, charts) {
        (Ok(s), Ok(d), Ok(c)) => (s, d, c),
        (s, d, c) => {
            let errors: Vec<String> = [s.err(), d.err(), c.err()]
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .collect();
            tracing::error!(project = p, errors = ?errors, "listing failed; skipping this project (no deactivations) until a later cycle");
            report.projects_failed.push(p.to_owned());
            return;
        }
    };
    // An empty listing of a kind the state knows live assets of is a permission or proxy
    // glitch far more often than a deletion of everything, and acting on it would deactivate
    // the whole kind, below the fail-safe's fraction (a few dashboards) or around it (an empty
    // space listing puts all content in unseen spaces, which count as private). It trips the
    // fail-safe: this project is skipped (nothing pushed or deactivated), the cycle fails,
    // unless mass deactivation is allowed for this run.
    if !opts.allow_mass_deactivation {
        let live = |kind: AssetKind| {
            entries
                .values()
                .filter(|e| e.active && e.kind == kind)
                .count()
        };
        let (mut empty, mut would_deactivate) = (Vec::new(), 0);
        for (is_empty, kind, name) in [
            (spaces.is_empty(), AssetKind::Space, "spaces"),
            (dashboards.is_empty(), AssetKind::Dashboard, "dashboards"),
            (charts.is_empty(), AssetKind::Chart, "charts"),
        ] {
            if is_empty && live(kind) > 0 {
                empty.push(name);
                would_deactivate += live(kind);
            }
        }
        if !empty.is_empty() {
            let active = entries.values().filter(|e| e.active).count();
            if spaces.is_empty() {
                would_deactivate = active;
            }
            tracing::error!(project = p, empty = ?empty, would_deactivate, active, "fail-safe: a listing came back empty although the state knows live assets of that kind; skipping this project (nothing deactivated); if they were really all deleted, run once with --allow-mass-deactivation");
            metrics::counter!("ldsync_failsafe_trips_total").increment(1);
            report.failsafe.push(FailsafeTrip {
                project: p.to_owned(),
                would_deactivate,
                active,
            });
            return;
        }
    }
    let tree = SpaceTree::new(&spaces);
    let mut space_scope = HashMap::new();
    for s in &spaces {
        let scope = if tree.is_private(&s.uuid) && !settings.lightdash.include_private {
            Scope::Out(DeactivateReason::Private)
        } else if !settings.lightdash.spaces.allows(&tree.path_string(&s.uuid)) {
            Scope::Out(DeactivateReason::Excluded)
        } else {
            Scope::In
        };
        space_scope.insert(s.uuid.clone(), scope);
    }
    let listing = Listing {
        tree,
        spaces,
        dashboards,
        charts,
        space_scope,
    };
    let options = RenderOptions {
        site_url: settings
            .lightdash
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_owned(),
        max_description_chars: settings.sync.max_description_chars,
    };
    let view = ProjectView {
        project,
        spaces: &listing.tree,
        options: &options,
    };

    // 2. Scope and change detection from the listings alone.
    let mut in_scope: BTreeSet<String> = BTreeSet::new();
    let mut out_of_scope: BTreeMap<String, DeactivateReason> = BTreeMap::new();
    let mut signatures: HashMap<String, String> = HashMap::new();
    let mut changed: HashSet<String> = HashSet::new();
    let mut classify = |kind: AssetKind, uuid: &str, scope: Scope, signature: String| {
        let id = kind.asset_id(uuid);
        let scope = if kinds.contains(&kind) {
            scope
        } else {
            Scope::Out(DeactivateReason::Excluded)
        };
        match scope {
            Scope::In => {
                let is_changed = entries
                    .get(&id)
                    .is_none_or(|e| !e.active || e.stale || e.signature != signature);
                if is_changed {
                    changed.insert(id.clone());
                }
                signatures.insert(id.clone(), signature);
                in_scope.insert(id);
                true
            }
            Scope::Out(reason) => {
                out_of_scope.insert(id, reason);
                false
            }
        }
    };
    for s in &listing.spaces {
        let private = listing.tree.is_private(&s.uuid);
        let sig = space_signature(s, &listing.tree.path_string(&s.uuid), private);
        classify(
            AssetKind::Space,
            &s.uuid,
            listing.scope_of_space(&s.uuid),
            sig,
        );
    }
    let mut dashboards_in: Vec<&DashboardSummary> = Vec::new();
    for d in &listing.dashboards {
        let private = listing.tree.is_private(&d.space_uuid);
        let sig = dashboard_signature(d, &view.folder(&d.space_uuid), private);
        if classify(
            AssetKind::Dashboard,
            &d.uuid,
            listing.scope_of_space(&d.space_uuid),
            sig,
        ) {
            dashboards_in.push(d);
        }
    }
    let mut charts_in: Vec<&ChartSummary> = Vec::new();
    for c in &listing.charts {
        let private = listing.tree.is_private(&c.space_uuid);
        let sig = chart_signature(c, &view.folder(&c.space_uuid), private);
        if classify(
            AssetKind::Chart,
            &c.uuid,
            listing.scope_of_space(&c.space_uuid),
            sig,
        ) {
            charts_in.push(c);
        }
    }
    // Charts on dashboards need their details even when charts themselves are not synced.
    let charts_listed: HashMap<&str, &ChartSummary> = listing
        .charts
        .iter()
        .filter(|c| listing.scope_of_space(&c.space_uuid) == Scope::In)
        .map(|c| (c.uuid.as_str(), c))
        .collect();
    let slug_to_uuid: HashMap<&str, &str> = listing
        .charts
        .iter()
        .filter_map(|c| c.slug.as_deref().map(|s| (s, c.uuid.as_str())))
        .collect();
    for kind in AssetKind::ALL {
        let n = in_scope
            .iter()
            .filter(|id| AssetKind::split_id(id).is_some_and(|(k, _)| k == kind))
            .count();
        *report.listed.entry(kind.as_str().to_owned()).or_default() += n;
    }
    report.changed += changed.len();

    let needs_fetch = |id: &str, updated_at: &Option<String>| -> bool {
        full || entries
            .get(id)
            .is_none_or(|e| !e.active || &e.updated_at != updated_at)
    };

    // 3. Propagate: a changed chart re-renders the dashboards showing it.
    let chart_changed = |uuid: &str| changed.contains(&AssetKind::Chart.asset_id(uuid));
    // Dashboards are only fetched to be synced: their tiles are not worth a detail fetch
    // (a view in Lightdash, on old servers) when dashboards themselves are not synced.
    let sync_dashboards = kinds.contains(&AssetKind::Dashboard);
    let dash_render: Vec<&DashboardSummary> = dashboards_in
        .iter()
        .filter(|_| sync_dashboards)
        .copied()
        .filter(|d| {
            let id = AssetKind::Dashboard.asset_id(&d.uuid);
            full || changed.contains(&id)
                || entries
                    .get(&id)
                    .is_some_and(|e| e.charts.iter().any(|c| chart_changed(c)))
                || listing.charts.iter().any(|c| {
                    c.dashboard_uuid.as_deref() == Some(d.uuid.as_str()) && chart_changed(&c.uuid)
                })
        })
        .collect();

    // 4. Details for changed dashboards; stored details for the others.
    let mut failed: HashMap<String, String> = HashMap::new();
    let mut dash_details: HashMap<String, DashboardDetails> = HashMap::new();
    let mut dash_fresh: HashSet<String> = HashSet::new();
    let mut to_fetch: Vec<Wanted> = Vec::new();
    for d in &dash_render {
        let id = AssetKind::Dashboard.asset_id(&d.uuid);
        let stored = if needs_fetch(&id, &d.updated_at) {
            None
        } else {
            stored_dashboard(&ctx.store, &id)
        };
        match stored {
            Some(details) => {
                dash_details.insert(d.uuid.clone(), details);
            }
            None => to_fetch.push(Wanted {
                uuid: d.uuid.clone(),
                slug: d.slug.clone(),
            }),
        }
    }
    if !to_fetch.is_empty() {
        let fetched = details::fetch_dashboards(&ctx.lightdash, p, &to_fetch).await;
        *report.fetched.entry("dashboard".into()).or_default() += fetched.found.len();
        for (uuid, error) in fetched.failed {
            failed.insert(AssetKind::Dashboard.asset_id(&uuid), error);
        }
        for (uuid, details) in fetched.found {
            dash_fresh.insert(uuid.clone());
            dash_details.insert(uuid, details);
        }
    }
    let dash_tiles: HashMap<String, Vec<String>> = dash_details
        .iter()
        .map(|(uuid, d)| (uuid.clone(), d.chart_uuids(&slug_to_uuid)))
        .collect();

    // A dashboard whose listing changed re-renders the charts it shows (their "shown on").
    let mut chart_render: BTreeSet<String> = charts_in
        .iter()
        .filter(|c| full || chart_changed(&c.uuid))
        .map(|c| c.uuid.clone())
        .collect();
    for d in &dash_render {
        let id = AssetKind::Dashboard.asset_id(&d.uuid);
        if !changed.contains(&id) {
            continue;
        }
        let old = entries
            .get(&id)
            .map(|e| e.charts.clone())
            .unwrap_or_default();
        let new = dash_tiles.get(&d.uuid).cloned().unwrap_or_default();
        chart_render.extend(old.into_iter().chain(new));
    }
    chart_render
        .retain(|u| kinds.contains(&AssetKind::Chart) && charts_in.iter().any(|c| &c.uuid == u));

    // 5. Chart details: charts to render, and charts shown on dashboards to render.
    let mut needed_charts: BTreeSet<String> = chart_render.clone();
    for tiles in dash_tiles.values() {
        needed_charts.extend(
            tiles
                .iter()
                .filter(|u| charts_listed.contains_key(u.as_str()))
                .cloned(),
        );
    }
    let mut chart_details: HashMap<String, ChartDetails> = HashMap::new();
    let mut to_fetch: Vec<Wanted> = Vec::new();
    for uuid in &needed_charts {
        let Some(summary) = charts_listed.get(uuid.as_str()) else {
            continue;
        };
        let id = AssetKind::Chart.asset_id(uuid);
        let stored = if needs_fetch(&id, &summary.updated_at) {
            None
        } else {
            stored_chart(&ctx.store, &id)
        };
        match stored {
            Some(details) => {
                chart_details.insert(uuid.clone(), details);
            }
            None => to_fetch.push(Wanted {
                uuid: uuid.clone(),
                slug: summary.slug.clone(),
            }),
        }
    }
    if !to_fetch.is_empty() {
        let fetched = details::fetch_charts(&ctx.lightdash, p, &to_fetch).await;
        *report.fetched.entry("chart".into()).or_default() += fetched.found.len();
        for (uuid, error) in fetched.failed {
            failed.insert(AssetKind::Chart.asset_id(&uuid), error);
        }
        chart_details.extend(fetched.found);
    }

    tracing::debug!(
        project = p,
        peak_rss_kb = crate::stats::peak_rss_kb(),
        current_rss_kb = crate::stats::current_rss_kb(),
        "details fetched"
    );
    // 6. Explores for every chart involved, once each.
    let mut explore_names: BTreeSet<String> = BTreeSet::new();
    for d in chart_details.values() {
        if let Some(name) = d.explore_name() {
            explore_names.insert(name.to_owned());
        }
    }
    // Dashboard filters name their field's table; fetch that explore too, so a filter's
    // label does not depend on which other charts happen to be rendered in the same cycle
    // (an incremental and a deep cycle must render the same dashboard identically).
    for d in dash_details.values() {
        let f = &d.filters;
        for rule in f
            .dimensions
            .iter()
            .chain(&f.metrics)
            .chain(&f.table_calculations)
        {
            if let Some(table) = rule.target.table_name.as_deref().filter(|t| !t.is_empty()) {
                explore_names.insert(table.to_owned());
            }
        }
    }
    let explores_result: Vec<(String, Result<Explore, crate::lightdash::LightdashError>)> =
        futures_util::stream::iter(explore_names)
            .map(|name| async move {
                let r = ctx.lightdash.explore(p, &name).await;
                (name, r)
            })
            .buffer_unordered(EXPLORE_CONCURRENCY)
            .collect()
            .await;
    let mut explores: Explores = HashMap::new();
    let mut broken_explores: HashMap<String, String> = HashMap::new();
    for (name, r) in explores_result {
        match r {
            Ok(e) => {
                report.explores_fetched += 1;
                explores.insert(name, e);
            }
            // A deleted or broken explore stays so; render with the field ids we have.
            Err(e) if e.status() == Some(404) => {
                tracing::warn!(project = p, explore = %name, "explore not found; rendering its charts without field labels");
            }
            Err(e) => {
                broken_explores.insert(name, e.to_string());
            }
        }
    }
    let explore_failure = |d: &ChartDetails| -> Option<String> {
        d.explore_name()
            .and_then(|n| broken_explores.get(n))
            .map(|e| format!("explore needed for labels could not be fetched: {e}"))
    };

    // 7. Render.
    let mut rendered: Vec<ExternalAsset> = Vec::new();
    let mut commit_info: HashMap<String, CommitInfo> = HashMap::new();
    let mut chart_index = ChartIndex::default();
    for c in charts_listed.values() {
        chart_index.insert(c, chart_details.get(&c.uuid));
    }
    let dash_by_uuid: HashMap<&str, &DashboardSummary> = dashboards_in
        .iter()
        .map(|d| (d.uuid.as_str(), *d))
        .collect();
    let mut shown_on: HashMap<String, BTreeSet<&str>> = HashMap::new();
    for d in &dashboards_in {
        let id = AssetKind::Dashboard.asset_id(&d.uuid);
        let tiles = dash_tiles
            .get(&d.uuid)
            .cloned()
            .or_else(|| entries.get(&id).map(|e| e.charts.clone()))
            .unwrap_or_default();
        for c in tiles {
            shown_on.entry(c).or_default().insert(d.uuid.as_str());
        }
    }
    for c in &listing.charts {
        if let Some(d) = c
            .dashboard_uuid
            .as_deref()
            .and_then(|d| dash_by_uuid.get(d))
        {
            shown_on
                .entry(c.uuid.clone())
                .or_default()
                .insert(d.uuid.as_str());
        }
    }

    if kinds.contains(&AssetKind::Dashboard) {
        for d in &dash_render {
            let id = AssetKind::Dashboard.asset_id(&d.uuid);
            if failed.contains_key(&id) {
                continue;
            }
            let Some(details) = dash_details.get(&d.uuid) else {
                continue;
            };
            let tiles = dash_tiles.get(&d.uuid).cloned().unwrap_or_default();
            if let Some(e) = tiles
                .iter()
                .filter_map(|u| chart_details.get(u))
                .find_map(&explore_failure)
            {
                failed.insert(id, e);
                continue;
            }
            rendered.push(render::render_dashboard(
                &view,
                d,
                details,
                &chart_index,
                &explores,
            ));
            commit_info.insert(
                id.clone(),
                CommitInfo {
                    kind: AssetKind::Dashboard,
                    uuid: d.uuid.clone(),
                    signature: signatures[&id].clone(),
                    updated_at: d.updated_at.clone(),
                    space: Some(d.space_uuid.clone()),
                    charts: tiles,
                    details: None,
                },
            );
        }
    }
    for uuid in &chart_render {
        let id = AssetKind::Chart.asset_id(uuid);
        if failed.contains_key(&id) {
            continue;
        }
        let (Some(summary), Some(details)) =
            (charts_listed.get(uuid.as_str()), chart_details.get(uuid))
        else {
            continue;
        };
        if let Some(e) = explore_failure(details) {
            failed.insert(id, e);
            continue;
        }
        let on: Vec<&DashboardSummary> = shown_on
            .get(uuid)
            .map(|s| {
                s.iter()
                    .filter_map(|d| dash_by_uuid.get(d).copied())
                    .collect()
            })
            .unwrap_or_default();
        rendered.push(render::render_chart(
            &view, summary, details, &explores, &on,
        ));
        commit_info.insert(
            id.clone(),
            CommitInfo {
                kind: AssetKind::Chart,
                uuid: uuid.clone(),
                signature: signatures[&id].clone(),
                updated_at: summary.updated_at.clone(),
                space: Some(summary.space_uuid.clone()),
                charts: Vec::new(),
                details: None,
            },
        );
    }
    // Spaces render from listings alone, so every cycle renders them all: any change to their
    // content or children shows up in the fingerprint, without propagation rules.
    if kinds.contains(&AssetKind::Space) {
        let mut by_space_d: HashMap<&str, Vec<&DashboardSummary>> = HashMap::new();
        for d in &dashboards_in {
            by_space_d.entry(d.space_uuid.as_str()).or_default().push(d);
        }
        let mut by_space_c: HashMap<&str, Vec<&ChartSummary>> = HashMap::new();
        for c in &charts_in {
            by_space_c.entry(c.space_uuid.as_str()).or_default().push(c);
        }
        for s in &listing.spaces {
            let id = AssetKind::Space.asset_id(&s.uuid);
            if !in_scope.contains(&id) {
                continue;
            }
            let children: Vec<&SpaceSummary> = listing
                .tree
                .children(&s.uuid)
                .into_iter()
                .filter(|c| listing.scope_of_space(&c.uuid) == Scope::In)
                .collect();
            let ds = by_space_d.get(s.uuid.as_str()).cloned().unwrap_or_default();
            let cs = by_space_c.get(s.uuid.as_str()).cloned().unwrap_or_default();
            rendered.push(render::render_space(&view, s, &ds, &cs, &children));
            commit_info.insert(
                id.clone(),
                CommitInfo {
                    kind: AssetKind::Space,
                    uuid: s.uuid.clone(),
                    signature: signatures[&id].clone(),
                    updated_at: None,
                    space: s.parent_space_uuid.clone(),
                    charts: Vec::new(),
                    details: None,
                },
            );
        }
    }
    report.rendered += rendered.len();
    tracing::debug!(
        project = p,
        peak_rss_kb = crate::stats::peak_rss_kb(),
        current_rss_kb = crate::stats::current_rss_kb(),
        "rendered"
    );
    // Rendering is done: move the details into what will be committed instead of copying
    // them (at scale they are tens of megabytes).
    drop(chart_index);
    for info in commit_info.values_mut() {
        info.details = match info.kind {
            AssetKind::Chart => chart_details
                .remove(&info.uuid)
                .map(|d| StoredDetails::Chart(Box::new(d))),
            AssetKind::Dashboard => dash_details
                .remove(&info.uuid)
                .map(|d| StoredDetails::Dashboard(Box::new(d))),
            AssetKind::Space => None,
        };
    }
    drop(chart_details);
    drop(dash_details);
    drop(explores);
    for (id, error) in &failed {
        tracing::warn!(project = p, id = %id, error = %error, "asset skipped this cycle");
        report.fail(id, error);
        mark_stale(ctx, opts, entries, id);
    }

    // 8. Plan.
    let rendered_ids: HashSet<&str> = rendered.iter().map(|a| a.id.as_str()).collect();
    let mut unrendered_views: BTreeMap<String, u64> = BTreeMap::new();
    for d in &dashboards_in {
        let id = AssetKind::Dashboard.asset_id(&d.uuid);
        if !rendered_ids.contains(id.as_str())
            && !failed.contains_key(&id)
            && in_scope.contains(&id)
        {
            unrendered_views.insert(id, d.views);
        }
    }
    for c in &charts_in {
        let id = AssetKind::Chart.asset_id(&c.uuid);
        if !rendered_ids.contains(id.as_str())
            && !failed.contains_key(&id)
            && in_scope.contains(&id)
        {
            unrendered_views.insert(id, c.views);
        }
    }
    let now = now_secs();
    let plan: Plan = plan::plan(PlanInput {
        kind: opts.kind,
        now,
        view_count_refresh_secs: settings.sync.view_count_refresh.as_secs() as i64,
        max_deactivate_fraction: settings.sync.max_deactivate_fraction,
        allow_mass_deactivation: opts.allow_mass_deactivation,
        project: p,
        entries,
        rendered,
        unrendered_views: &unrendered_views,
        out_of_scope: &out_of_scope,
        in_scope: &in_scope,
        confirmed_deleted: &BTreeSet::new(),
    });
    report.unchanged += plan.unchanged.len();
    if let Some(trip) = &plan.failsafe {
        tracing::error!(
            project = p,
            would_deactivate = trip.would_deactivate,
            active = trip.active,
            max_fraction = settings.sync.max_deactivate_fraction,
            "fail-safe: refusing to deactivate this many assets at once; none were deactivated (check the Lightdash token's access, or rerun with --allow-mass-deactivation)"
        );
        metrics::counter!("ldsync_failsafe_trips_total").increment(1);
        report.failsafe.push(trip.clone());
    }

    if opts.dry_run {
        for action in plan.actions {
            count_action(report, &tally(&action));
            planned.push(Planned {
                project: p.to_owned(),
                action,
            });
        }
        return;
    }

    // 9. Push, and commit each asset right after Dot's 2xx.
    progress.add_planned(plan.actions.len());
    let listed_views: HashMap<String, u64> = dashboards_in
        .iter()
        .map(|d| (AssetKind::Dashboard.asset_id(&d.uuid), d.views))
        .chain(
            charts_in
                .iter()
                .map(|c| (AssetKind::Chart.asset_id(&c.uuid), c.views)),
        )
        .collect();
    let mut work = Vec::new();
    for action in plan.actions {
        let t = tally(&action);
        match prepare(
            ctx,
            p,
            action,
            entries,
            &listed_views,
            &mut commit_info,
            now,
        ) {
            Ok(w) => work.push((t, w)),
            Err(e) => {
                progress.push_done();
                report.fail(&t.id, e);
                mark_stale(ctx, opts, entries, &t.id);
            }
        }
    }
    let dot = &ctx.dot;
    let stopping = &ctx.stopping;
    let mut results = futures_util::stream::iter(work)
        .map(|(action, (asset, commit))| async move {
            // At shutdown, pushes not yet started are left for the next start: they are not
            // committed, so they are simply planned again.
            if stopping.load(Ordering::SeqCst) {
                return (action, asset, commit, None);
            }
            let result = dot.upsert(&asset).await;
            (action, asset, commit, Some(result))
        })
        .buffer_unordered(settings.dot.concurrency);
    let mut skipped = 0usize;
    while let Some((action, asset, commit, result)) = results.next().await {
        progress.push_done();
        let Some(result) = result else {
            skipped += 1;
            continue;
        };
        match result {
            Ok(()) => {
                let committed = match commit {
                    Commit::Full(entry, details) => ctx.store.commit(
                        &asset.id,
                        &entry,
                        &AssetBody {
                            asset: asset.clone(),
                            details,
                        },
                    ),
                    Commit::EntryOnly(entry) => ctx.store.commit_entry(&asset.id, &entry),
                };
                match committed {
                    Ok(()) => count_action(report, &action),
                    Err(e) => {
                        tracing::error!(id = %asset.id, error = %e, "pushed but could not record it in the state; it will be pushed again");
                        report.fail(&asset.id, e);
                    }
                }
            }
            Err(e) => {
                if matches!(e, crate::dot::DotError::Invalid { .. }) {
                    metrics::counter!("ldsync_dot_rejected_total").increment(1);
                    tracing::error!(id = %asset.id, error = %e, "Dot rejected the asset as invalid: this is a bug in lightdash-dot-sync, please report it");
                } else {
                    tracing::warn!(id = %asset.id, error = %e, "push failed; it will be retried next cycle");
                }
                metrics::counter!("ldsync_assets_pushed_total", "kind" => kind_label(&asset.id), "result" => "failed").increment(1);
                report.fail(&asset.id, e);
                mark_stale(ctx, opts, entries, &asset.id);
            }
        }
    }
    if skipped > 0 {
        tracing::info!(
            project = p,
            skipped,
            "shutting down: pushes not started are left for the next start"
        );
    }
}

/// Remembers that an asset Dot has could not be brought up to date this cycle, so the next
/// incremental cycle renders it again even if nothing it depends on changes again (a chart
/// edit whose dashboard failed to re-render must not be forgotten once the chart is committed).
fn mark_stale(
    ctx: &SyncContext,
    opts: CycleOptions,
    entries: &BTreeMap<String, IndexEntry>,
    id: &str,
) {
    if opts.dry_run {
        return;
    }
    if let Some(entry) = entries.get(id) {
        let mut entry = entry.clone();
        entry.stale = true;
        if let Err(e) = ctx.store.commit_entry(id, &entry) {
            tracing::error!(id, error = %e, "could not mark the asset for re-rendering");
        }
    }
}

fn kind_label(id: &str) -> &'static str {
    AssetKind::split_id(id)
        .map(|(k, _)| k.as_str())
        .unwrap_or("unknown")
}

/// What the report needs to know about an action once its body has been moved out of it.
struct Tally {
    id: String,
    view_count: bool,
    deactivation: bool,
}

fn tally(action: &Action) -> Tally {
    Tally {
        id: action.id().to_owned(),
        view_count: matches!(
            action,
            Action::ViewCount { .. }
                | Action::Upsert {
                    reason: plan::UpsertReason::ViewCount,
                    ..
                }
        ),
        deactivation: matches!(action, Action::Deactivate { .. }),
    }
}

fn count_action(report: &mut CycleReport, t: &Tally) {
    let kind = kind_label(&t.id);
    *report.pushed.entry(kind.to_owned()).or_default() += 1;
    if t.view_count {
        report.view_count_pushes += 1;
    }
    if t.deactivation {
        report.deactivated += 1;
        metrics::counter!("ldsync_deactivations_total", "kind" => kind).increment(1);
    }
    if !report.dry_run {
        metrics::counter!("ldsync_assets_pushed_total", "kind" => kind, "result" => "ok")
            .increment(1);
    }
}

enum Commit {
    Full(IndexEntry, Option<StoredDetails>),
    EntryOnly(IndexEntry),
}

/// Turns an action into the body to send and the state to commit after a 2xx.
fn prepare(
    ctx: &SyncContext,
    project: &str,
    action: Action,
    entries: &BTreeMap<String, IndexEntry>,
    listed_views: &HashMap<String, u64>,
    commit_info: &mut HashMap<String, CommitInfo>,
    now: i64,
) -> Result<(ExternalAsset, Commit), String> {
    match action {
        Action::Upsert { asset, .. } => {
            let info = commit_info
                .remove(&asset.id)
                .ok_or_else(|| "internal: rendered asset without commit info".to_string())?;
            let entry = IndexEntry {
                kind: info.kind,
                project: project.to_owned(),
                uuid: info.uuid,
                fingerprint: fingerprint(&asset),
                signature: info.signature,
                updated_at: info.updated_at,
                space: info.space,
                charts: info.charts,
                active: true,
                pushed_at: now,
                views: asset.view_count,
                views_pushed_at: now,
                stale: false,
            };
            Ok((asset, Commit::Full(entry, info.details)))
        }
        Action::ViewCount { id, views } => {
            let entry = entries
                .get(&id)
                .ok_or("internal: view count for an unknown asset")?;
            let body = ctx
                .store
                .body(&id)
                .map_err(|e| e.to_string())?
                .ok_or("the state has no stored body for this asset; it will be re-rendered next deep cycle")?;
            let mut asset = body.asset;
            asset.view_count = Some(views);
            let mut entry = entry.clone();
            entry.views = Some(views);
            entry.views_pushed_at = now;
            Ok((asset, Commit::EntryOnly(entry)))
        }
        Action::Deactivate { id, .. } => {
            let entry = entries
                .get(&id)
                .ok_or("internal: deactivation of an unknown asset")?;
            let body = ctx.store.body(&id).map_err(|e| e.to_string())?;
            let mut asset = match &body {
                Some(b) => b.asset.clone(),
                None => ExternalAsset {
                    id: id.clone(),
                    subtype: entry.kind.subtype().to_owned(),
                    folder: None,
                    name: None,
                    description: None,
                    url: None,
                    active: false,
                    view_count: None,
                    last_accessed_at: None,
                    dot_description: None,
                },
            };
            asset.active = false;
            if let Some(v) = listed_views.get(&id) {
                asset.view_count = Some(*v);
            }
            let mut entry = entry.clone();
            entry.active = false;
            entry.fingerprint = fingerprint(&asset);
            entry.pushed_at = now;
            Ok((
                asset.clone(),
                Commit::Full(entry, body.and_then(|b| b.details)),
            ))
        }
    }
}

fn stored_chart(store: &Store, id: &str) -> Option<ChartDetails> {
    match store.body(id).ok().flatten()?.details? {
        StoredDetails::Chart(c) => Some(*c),
        StoredDetails::Dashboard(_) => None,
    }
}

fn stored_dashboard(store: &Store, id: &str) -> Option<DashboardDetails> {
    match store.body(id).ok().flatten()?.details? {
        StoredDetails::Dashboard(d) => Some(*d),
        StoredDetails::Chart(_) => None,
    }
}
