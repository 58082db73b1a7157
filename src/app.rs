//! Application wiring (I/O): opening the state, one-shot runs with progress output,
//! `status`, `preview`, `check` and the `demo`. The daemon lives in [`crate::daemon`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::LightdashClient;
use crate::lightdash::types::{
    ChartDetails, ChartSummary, DashboardDetails, DashboardSummary, ProjectType, SpaceSummary,
};
use crate::render::{self, ChartIndex, Explores, ProjectView, RenderOptions, SpaceTree};
use crate::state::{OpenOutcome, Owner, StateError, Store};
use crate::stats::ApiCounters;
use crate::sync::cycle::Planned;
use crate::sync::details::{self, Wanted};
use crate::sync::listing::Listings;
use crate::sync::plan::{Action, DeactivateReason};
use crate::sync::rendering::children_in_scope;
use crate::sync::scope::{Scope, ScopeRules, SpaceScopes};
use crate::sync::visibility;
use crate::sync::{CycleOptions, CycleReport, Progress, SyncContext};

/// File in the state directory with the latest status, readable while a daemon holds the lock.
pub const STATUS_FILE: &str = "status.json";

/// Opens the state for this process, recording who holds it.
pub fn open_store(settings: &Settings) -> Result<Store, StateError> {
    open_store_with(settings, Store::open)
}

/// Opens the state for the daemon: a storage fault (a full disk) does not stop it; the store
/// starts faulted, readiness says so, and every cycle tries to reopen it first.
pub fn open_store_for_daemon(settings: &Settings) -> Result<Store, StateError> {
    let store = open_store_with(settings, Store::open_or_defer)?;
    if let Some(reason) = store.fault() {
        tracing::error!(path = %settings.state.path.display(), reason = %reason, "the state cannot be opened (not corruption: it is left as it is); not ready until the storage works again, retried every cycle");
    }
    Ok(store)
}

/// [`Store::open`] or [`Store::open_or_defer`].
type OpenFn = fn(&Path, &Owner) -> Result<(Store, OpenOutcome), StateError>;

fn open_store_with(settings: &Settings, open: OpenFn) -> Result<Store, StateError> {
    let owner = Owner {
        pid: std::process::id(),
        listen: settings.server.listen.map(|a| a.to_string()),
    };
    let (store, outcome) = open(&settings.state.path, &owner)?;
    match outcome {
        OpenOutcome::Opened => {
            tracing::debug!(path = %settings.state.path.display(), "state opened")
        }
        OpenOutcome::Created => {
            tracing::info!(path = %settings.state.path.display(), "created a new state; the first cycle pushes every asset")
        }
        OpenOutcome::Rebuilt { moved_to, reason } => {
            tracing::warn!(moved_to = %moved_to.display(), reason = %reason, "the state was rebuilt; the first cycle pushes every asset")
        }
    }
    Ok(store)
}

/// What `status` shows, also written to [`STATUS_FILE`] after every cycle.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatusSnapshot {
    /// Process that wrote it.
    pub pid: u32,
    /// When it was written (RFC 3339).
    pub written_at: String,
    /// Active assets in Dot by kind.
    pub active: BTreeMap<String, usize>,
    /// Deactivated assets by kind.
    pub deactivated: BTreeMap<String, usize>,
    /// State size on disk in bytes.
    pub state_bytes: u64,
    /// Newest reports first.
    pub recent: Vec<CycleReport>,
}

/// Reads the state into a status snapshot.
pub fn snapshot(store: &Store) -> Result<StatusSnapshot, StateError> {
    let mut s = StatusSnapshot {
        pid: std::process::id(),
        written_at: chrono::Utc::now().to_rfc3339(),
        state_bytes: store.size_on_disk(),
        recent: store.reports(10)?,
        ..Default::default()
    };
    // Counted by the cycle's own pass over the index when it wrote nothing since: collecting
    // the index whole held every entry at once (about 30 MB at 100,000 assets).
    let counts = store.index_counts()?;
    let named = |m: BTreeMap<AssetKind, usize>| {
        m.into_iter()
            .map(|(k, n)| (k.as_str().to_owned(), n))
            .collect()
    };
    s.active = named(counts.active);
    s.deactivated = named(counts.deactivated);
    Ok(s)
}

/// Writes the status file atomically (temp file + rename), best effort.
pub fn publish_status(store: &Store) {
    let Ok(s) = snapshot(store) else { return };
    let dir = store.root();
    let tmp = dir.join(format!(".{STATUS_FILE}.tmp"));
    if let Ok(json) = serde_json::to_vec_pretty(&s)
        && crate::state::private::write_file(&tmp, &json).is_ok()
    {
        let _ = std::fs::rename(&tmp, dir.join(STATUS_FILE));
    }
}

/// `status`: from the state, or from the status file when a daemon holds the lock. Where no
/// state exists yet it says so and creates none (`status` only reads).
pub fn status(settings: &Settings, json: bool) -> Result<String, StateError> {
    let path = &settings.state.path;
    let (snap, note) = if !Store::exists(path) {
        let snap = StatusSnapshot {
            pid: std::process::id(),
            written_at: chrono::Utc::now().to_rfc3339(),
            ..Default::default()
        };
        let note = format!(
            "no state at {} yet (no cycle has run with this state.path)",
            path.display()
        );
        (snap, Some(note))
    } else {
        match open_store(settings) {
            Ok(store) => (snapshot(&store)?, None),
            Err(StateError::Locked { owner, .. }) => {
                let path = settings.state.path.join(STATUS_FILE);
                let snap = std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<StatusSnapshot>(&b).ok())
                    .unwrap_or_default();
                (
                    snap,
                    Some(format!(
                        "a daemon{owner} holds the state; showing the status it last published"
                    )),
                )
            }
            Err(e) => return Err(e),
        }
    };
    if json {
        return Ok(serde_json::to_string_pretty(&snap).unwrap_or_default());
    }
    Ok(format_status(&snap, note.as_deref()))
}

fn format_status(s: &StatusSnapshot, note: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(note) = note {
        out.push_str(&format!("note: {note}\n"));
    }
    let counts = |m: &BTreeMap<String, usize>| {
        AssetKind::ALL
            .iter()
            .map(|k| format!("{} {}", m.get(k.as_str()).copied().unwrap_or(0), k.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!("assets in Dot: {}\n", counts(&s.active)));
    out.push_str(&format!("deactivated:   {}\n", counts(&s.deactivated)));
    out.push_str(&format!("state size:    {} KiB\n", s.state_bytes / 1024));
    if s.recent.is_empty() {
        out.push_str("no cycle has run yet\n");
    }
    for r in &s.recent {
        let at = chrono::DateTime::from_timestamp_millis(r.started_at_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default();
        out.push_str(&format!("{at}  {}\n", r.one_line()));
        // Errors quote Lightdash and Dot; a state written by an older version may hold
        // terminal sequences, so they are stripped again here.
        let clean = crate::redact::strip_terminal_controls;
        if let Some(e) = &r.error {
            out.push_str(&format!("    error: {}\n", clean(e)));
        }
        for f in r.failures.iter().take(5) {
            out.push_str(&format!(
                "    failed {}: {}\n",
                clean(&f.id),
                clean(&f.error)
            ));
        }
    }
    out
}

/// Progress for one-shot runs: a bar on a terminal, a log line every few seconds otherwise.
pub struct OneShotProgress {
    bar: Option<indicatif::ProgressBar>,
    total: AtomicUsize,
    done: Arc<AtomicUsize>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl OneShotProgress {
    /// Chooses the bar when stderr is a terminal.
    pub fn new() -> Arc<Self> {
        let done = Arc::new(AtomicUsize::new(0));
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} pushing {pos}/{len} assets [{elapsed}] {wide_bar}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            return Arc::new(Self {
                bar: Some(bar),
                total: AtomicUsize::new(0),
                done,
                ticker: None,
            });
        }
        Arc::new(Self {
            bar: None,
            total: AtomicUsize::new(0),
            done,
            ticker: None,
        })
    }

    /// Starts the periodic log line (non-terminal output).
    pub fn start_ticker(self: &mut Arc<Self>, every: Duration) {
        if self.bar.is_some() {
            return;
        }
        let done = self.done.clone();
        let me = Arc::downgrade(self);
        let handle = tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.tick().await;
            loop {
                interval.tick().await;
                let Some(me) = me.upgrade() else { return };
                let total = me.total.load(Ordering::Relaxed);
                if total > 0 {
                    tracing::info!(
                        pushed = done.load(Ordering::Relaxed),
                        planned = total,
                        "progress"
                    );
                }
            }
        });
        if let Some(me) = Arc::get_mut(self) {
            me.ticker = Some(handle);
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}

impl Progress for OneShotProgress {
    fn add_planned(&self, n: usize) {
        self.total.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc_length(n as u64);
        }
    }
    fn push_done(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
}

/// Formats `--dry-run` output: every planned push with its reason, every deactivation.
pub fn format_plan(planned: &[Planned]) -> String {
    let mut out = String::new();
    for p in planned {
        let line = match &p.action {
            Action::Upsert { reason, asset } => format!(
                "upsert     {:<60} {:<12} {}",
                asset.id,
                serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                asset.name.as_deref().unwrap_or("")
            ),
            Action::ViewCount { id, views } => format!("view-count {id:<60} {views}"),
            Action::Deactivate { id, reason } => format!(
                "deactivate {:<60} {}",
                id,
                serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Runs one cycle in one-shot mode; returns the report and the dry-run plan.
pub async fn run_once(
    settings: Arc<Settings>,
    store: Store,
    opts: CycleOptions,
) -> crate::sync::CycleRun {
    let ctx = SyncContext::new(settings, store.clone());
    let mut progress = OneShotProgress::new();
    progress.start_ticker(Duration::from_secs(5));
    let run = run_cycle_guarded(&ctx, opts, progress.as_ref()).await;
    progress.finish();
    if !opts.dry_run {
        publish_status(&store);
    }
    run
}

/// Runs one cycle with a panic inside it caught and turned into a failed cycle.
///
/// A panic is a bug, but one a piece of content can trigger on every cycle (field report:
/// a Turkish date label): left alone it kills a one-shot run with exit 101 and no report,
/// and in the daemon it vanished inside the cycle task while `/healthz` stayed green. Caught
/// here it becomes a [`Outcome::Failed`](crate::sync::Outcome) report (exit 2, the failed
/// cycle metric, `status`), written to the state like any other report.
pub async fn run_cycle_guarded(
    ctx: &SyncContext,
    opts: CycleOptions,
    progress: &dyn Progress,
) -> crate::sync::CycleRun {
    guard_cycle(ctx, opts, crate::sync::run_cycle(ctx, opts, progress)).await
}

/// [`run_cycle_guarded`] for any cycle future (tests drive it with one that panics).
pub async fn guard_cycle(
    ctx: &SyncContext,
    opts: CycleOptions,
    cycle: impl std::future::Future<Output = crate::sync::CycleRun>,
) -> crate::sync::CycleRun {
    use futures_util::FutureExt;
    let started_at_ms = chrono::Utc::now().timestamp_millis();
    let started = std::time::Instant::now();
    let failed = |error: String| CycleReport {
        kind: opts.kind,
        dry_run: opts.dry_run,
        started_at_ms,
        duration_ms: started.elapsed().as_millis() as u64,
        outcome: crate::sync::Outcome::Failed,
        error: Some(error),
        ..CycleReport::default()
    };
    // A store that failed to write (a full disk) is reopened first; while it cannot write,
    // the cycle fails at once: pushing what could not be recorded only means pushing it again.
    if !opts.dry_run
        && ctx.store.fault().is_some()
        && let Err(e) = ctx.store.recover()
    {
        let report = failed(format!("the state cannot be written: {e}"));
        tracing::error!(kind = opts.kind.as_str(), error = %e, "cycle skipped: the state cannot be written");
        return crate::sync::CycleRun {
            report,
            planned: Vec::new(),
        };
    }
    let mut run = match std::panic::AssertUnwindSafe(cycle).catch_unwind().await {
        Ok(run) => run,
        Err(payload) => {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            let report = failed(format!(
                "internal error: the cycle panicked ({why}); nothing after the panic was done. Please report this with the log"
            ));
            tracing::error!(kind = opts.kind.as_str(), panic = %why, "the cycle panicked; counted as a failed cycle");
            if !opts.dry_run
                && let Err(e) = ctx
                    .store
                    .add_report(&report)
                    .and_then(|_| ctx.store.flush())
            {
                tracing::error!(error = %e, "could not write the cycle report to the state");
            }
            crate::sync::CycleRun {
                report,
                planned: Vec::new(),
            }
        }
    };
    if opts.dry_run {
        return run;
    }
    if let Some(reason) = ctx.store.fault() {
        // Assets were pushed but not recorded: they are pushed again once the state works.
        run.report.outcome = crate::sync::Outcome::Failed;
        run.report.error.get_or_insert(format!(
            "the state cannot be written ({reason}); it was left as it is and is reopened before the next cycle"
        ));
    } else if run.report.outcome == crate::sync::Outcome::Success
        && let Err(e) = ctx.store.note_cycle_succeeded()
    {
        tracing::warn!(error = %e, "could not record the successful cycle in the state");
    }
    run
}

/// A Lightdash client for commands that run outside a cycle (`preview`, `check`).
fn lightdash_client(settings: &Settings) -> LightdashClient {
    LightdashClient::from_settings(&settings.lightdash, Arc::new(ApiCounters::new("lightdash")))
}

/// Why `preview` failed.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// Lightdash failed.
    #[error(transparent)]
    Lightdash(#[from] crate::lightdash::LightdashError),
    /// Nothing matched.
    #[error("no dashboard, chart or space with uuid or slug {0:?} in the synced projects")]
    NotFound(String),
    /// The asset exists but the cycle does not sync it (it is never sent to Dot).
    #[error("{id} is not synced: {why}")]
    NotSynced {
        /// Asset id.
        id: String,
        /// Why, naming the setting that decides it.
        why: &'static str,
    },
    /// Details could not be fetched.
    #[error("could not fetch the details of {id}: {error}")]
    Details {
        /// Asset id.
        id: String,
        /// Why.
        error: String,
    },
}

/// `preview <uuid|slug>`: renders one asset live, as the cycle would send it. No Dot, no state.
/// The first synced project with a space, dashboard or chart of that uuid or slug wins.
/// Scope and privacy are the cycle's ([`crate::sync::scope`], [`crate::sync::visibility`]):
/// an asset the cycle does not sync is [`PreviewError::NotSynced`], and references to content
/// out of scope render as the cycle renders them (blanked, or a neutral placeholder).
pub async fn preview(settings: &Settings, key: &str) -> Result<ExternalAsset, PreviewError> {
    let ld = &settings.lightdash;
    let client = lightdash_client(settings);
    let options = RenderOptions {
        site_url: ld.public_url.as_str().trim_end_matches('/').to_owned(),
        max_description_chars: settings.sync.max_description_chars,
    };
    let kinds: HashSet<AssetKind> = settings.sync.kinds.iter().copied().collect();
    let rules = ScopeRules {
        include_private: ld.include_private,
        spaces: &ld.spaces,
        kinds: &kinds,
    };
    let (projects, _) =
        crate::sync::scope::select_projects(client.projects().await?.items, &ld.projects);
    for project in &projects {
        let p = project.project_uuid.as_str();
        let (spaces, dashboards, charts) =
            tokio::try_join!(client.spaces(p), client.dashboards(p), client.charts(p))?;
        let mut listings = Listings {
            spaces: spaces.items,
            dashboards: dashboards.items,
            charts: charts.items,
            ..Default::default()
        };
        visibility::redact(&mut listings, &rules);
        let tree = SpaceTree::new(&listings.spaces);
        let view = ProjectView {
            project,
            spaces: &tree,
            options: &options,
        };
        let scopes = SpaceScopes::new(&tree, &listings.spaces, &rules);
        let scope = PreviewScope {
            rules: &rules,
            scopes: &scopes,
        };
        if let Some(asset) = preview_in(&client, &view, &scope, &listings, key).await? {
            return Ok(asset);
        }
    }
    Err(PreviewError::NotFound(key.to_owned()))
}

/// One project's scope, as the cycle decides it.
struct PreviewScope<'a> {
    rules: &'a ScopeRules<'a>,
    scopes: &'a SpaceScopes,
}

impl PreviewScope<'_> {
    /// Scope of a chart or dashboard of `kind` in `space`.
    fn of_item(&self, kind: AssetKind, space: &str, inherits: Option<bool>) -> Scope {
        self.rules
            .of_kind(kind, self.scopes.of_item(space, inherits))
    }

    /// `Ok` when synced, else why not (as [`PreviewError::NotSynced`]).
    fn check(&self, kind: AssetKind, uuid: &str, scope: Scope) -> Result<(), PreviewError> {
        let why = match scope {
            Scope::In => return Ok(()),
            Scope::Out(_) if !self.rules.syncs(kind) => "its kind is not in sync.kinds",
            Scope::Out(DeactivateReason::Private) => {
                "it is in a space Lightdash restricts (private), and lightdash.include_private is false"
            }
            Scope::Out(_) => {
                "its space is excluded by lightdash.include_spaces / lightdash.exclude_spaces"
            }
        };
        Err(PreviewError::NotSynced {
            id: kind.asset_id(uuid),
            why,
        })
    }
}

/// The asset `key` names in one project's listings, rendered; `None` when it has none.
async fn preview_in(
    client: &LightdashClient,
    view: &ProjectView<'_>,
    scope: &PreviewScope<'_>,
    listings: &Listings,
    key: &str,
) -> Result<Option<ExternalAsset>, PreviewError> {
    let matches = |uuid: &str, slug: Option<&str>| uuid == key || slug == Some(key);
    if let Some(space) = listings
        .spaces
        .iter()
        .find(|s| matches(&s.uuid, s.slug.as_deref()))
    {
        let of = scope
            .rules
            .of_kind(AssetKind::Space, scope.scopes.of(&space.uuid));
        scope.check(AssetKind::Space, &space.uuid, of)?;
        return Ok(Some(preview_space(view, scope, listings, space)));
    }
    let dashboard = listings
        .dashboards
        .iter()
        .find(|d| matches(&d.uuid, d.slug.as_deref()));
    let chart = listings
        .charts
        .iter()
        .find(|c| matches(&c.uuid, c.slug.as_deref()));
    let p = view.project.project_uuid.as_str();
    let slug_to_uuid: HashMap<&str, &str> = listings
        .charts
        .iter()
        .filter_map(|c| c.slug.as_deref().map(|s| (s, c.uuid.as_str())))
        .collect();
    if let Some(d) = dashboard {
        let of = scope.of_item(
            AssetKind::Dashboard,
            &d.space_uuid,
            d.inherits_from_org_or_project,
        );
        scope.check(AssetKind::Dashboard, &d.uuid, of)?;
        let details = dashboard_details(client, p, d).await?;
        // As in the cycle: a tile resolves only charts whose space is in scope (even when
        // charts are not synced as assets); every other tile is the neutral placeholder.
        let in_scope: Vec<&ChartSummary> = listings
            .charts
            .iter()
            .filter(|c| {
                scope
                    .scopes
                    .of_item(&c.space_uuid, c.inherits_from_org_or_project)
                    == Scope::In
            })
            .collect();
        let wanted: Vec<String> = details
            .chart_uuids(&slug_to_uuid)
            .into_iter()
            .filter(|u| in_scope.iter().any(|c| &c.uuid == u))
            .collect();
        let (charts, explores) = chart_inputs(client, p, listings, &wanted).await;
        let mut index = ChartIndex::default();
        for c in in_scope {
            index.insert(c, charts.get(&c.uuid));
        }
        let asset = render::render_dashboard(view, d, &details, &index, &explores);
        return Ok(Some(asset));
    }
    let Some(c) = chart else {
        return Ok(None);
    };
    let of = scope.of_item(
        AssetKind::Chart,
        &c.space_uuid,
        c.inherits_from_org_or_project,
    );
    scope.check(AssetKind::Chart, &c.uuid, of)?;
    let (charts, explores) = chart_inputs(client, p, listings, std::slice::from_ref(&c.uuid)).await;
    let details = charts.get(&c.uuid).ok_or_else(|| PreviewError::Details {
        id: AssetKind::Chart.asset_id(&c.uuid),
        error: "not returned".into(),
    })?;
    let shown_on: Vec<&DashboardSummary> = preview_shown_on(client, p, listings, c, &slug_to_uuid)
        .await
        .into_iter()
        .filter(|d| {
            scope.of_item(
                AssetKind::Dashboard,
                &d.space_uuid,
                d.inherits_from_org_or_project,
            ) == Scope::In
        })
        .collect();
    let asset = render::render_chart(view, c, details, &explores, &shown_on);
    Ok(Some(asset))
}

/// A space with the synced content its listing shows.
fn preview_space(
    view: &ProjectView<'_>,
    scope: &PreviewScope<'_>,
    listings: &Listings,
    space: &SpaceSummary,
) -> ExternalAsset {
    let ds: Vec<_> = listings
        .dashboards
        .iter()
        .filter(|d| {
            d.space_uuid == space.uuid
                && scope.of_item(
                    AssetKind::Dashboard,
                    &d.space_uuid,
                    d.inherits_from_org_or_project,
                ) == Scope::In
        })
        .collect();
    let cs: Vec<_> = listings
        .charts
        .iter()
        .filter(|c| {
            c.space_uuid == space.uuid
                && scope.of_item(
                    AssetKind::Chart,
                    &c.space_uuid,
                    c.inherits_from_org_or_project,
                ) == Scope::In
        })
        .collect();
    let children = children_in_scope(&listings.spaces, scope.scopes);
    let children = children
        .get(space.uuid.as_str())
        .cloned()
        .unwrap_or_default();
    render::render_space(view, space, &ds, &cs, &children)
}

async fn dashboard_details(
    client: &LightdashClient,
    p: &str,
    d: &DashboardSummary,
) -> Result<DashboardDetails, PreviewError> {
    let wanted = [Wanted {
        uuid: d.uuid.clone(),
        slug: d.slug.as_deref().map(str::to_owned),
    }];
    let mut f = details::fetch_dashboards(client, p, &wanted).await;
    if let Some((uuid, error)) = f.failed.into_iter().next() {
        return Err(PreviewError::Details {
            id: AssetKind::Dashboard.asset_id(&uuid),
            error,
        });
    }
    f.found
        .remove(&d.uuid)
        .ok_or_else(|| PreviewError::Details {
            id: AssetKind::Dashboard.asset_id(&d.uuid),
            error: "not returned".into(),
        })
}

/// Details of these listed charts (failures leave them out) and their explores.
async fn chart_inputs(
    client: &LightdashClient,
    p: &str,
    listings: &Listings,
    uuids: &[String],
) -> (BTreeMap<String, ChartDetails>, Explores) {
    let wanted: Vec<Wanted> = listings
        .charts
        .iter()
        .filter(|c| uuids.contains(&c.uuid))
        .map(|c| Wanted {
            uuid: c.uuid.clone(),
            slug: c.slug.as_deref().map(str::to_owned),
        })
        .collect();
    let fetched = details::fetch_charts(client, p, &wanted).await;
    for (uuid, error) in &fetched.failed {
        tracing::warn!(id = %AssetKind::Chart.asset_id(uuid), error = %error, "chart details could not be fetched");
    }
    let charts: BTreeMap<String, ChartDetails> = fetched.found.into_iter().collect();
    let mut explores = Explores::new();
    for d in charts.values() {
        if let Some(name) = d.explore_name()
            && !explores.contains_key(name)
            && let Ok(e) = client.explore(p, name).await
        {
            explores.insert(name.to_owned(), e);
        }
    }
    (charts, explores)
}

/// The dashboards showing a chart: its own dashboard, and those with a tile showing it, read
/// through as code only (never the view-counting legacy route).
async fn preview_shown_on<'l>(
    client: &LightdashClient,
    p: &str,
    listings: &'l Listings,
    c: &ChartSummary,
    slug_to_uuid: &HashMap<&str, &str>,
) -> Vec<&'l DashboardSummary> {
    let ids: Vec<String> = listings.dashboards.iter().map(|d| d.uuid.clone()).collect();
    let mut tiles: HashMap<&str, Vec<String>> = HashMap::new();
    if let Ok(batch) = client.dashboards_as_code(p, &ids).await {
        let (items, _) = crate::lightdash::client::decode_items::<DashboardDetails>(batch.items);
        for d in &listings.dashboards {
            if let Some(item) = d.slug.as_deref().and_then(|s| items.get(s)) {
                tiles.insert(d.uuid.as_str(), item.chart_uuids(slug_to_uuid));
            }
        }
    }
    listings
        .dashboards
        .iter()
        .filter(|d| {
            c.dashboard_uuid.as_deref() == Some(d.uuid.as_str())
                || tiles
                    .get(d.uuid.as_str())
                    .is_some_and(|t| t.contains(&c.uuid))
        })
        .collect()
}

/// Prints an asset for people: its JSON (description elided) then its markdown.
pub fn format_preview(asset: &ExternalAsset) -> String {
    let mut head = asset.clone();
    let markdown = head.dot_description.take().unwrap_or_default();
    head.dot_description = Some(format!(
        "<{} characters, shown below>",
        markdown.chars().count()
    ));
    let json = serde_json::to_string_pretty(&serde_json::json!({ "external_asset": head }))
        .unwrap_or_default();
    format!("{json}\n\n----- dot_description -----\n{markdown}\n")
}

/// Whether a path is inside a directory we can create and write.
pub fn check_state_dir(path: &Path) -> Result<(), String> {
    crate::state::private::create_dir(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let probe = path.join(".write-probe");
    std::fs::write(&probe, b"ok")
        .map_err(|e| format!("cannot write in {}: {e}", path.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// `check`: state directory, Lightdash health, projects and one listing per project, what
/// would sync, and whether Dot accepts our credential (an empty import, which Dot rejects as
/// invalid: nothing is written). Never pushes an asset.
pub async fn check_online(settings: &Settings) -> Result<String, String> {
    let mut out = String::new();
    check_state_dir(&settings.state.path)?;
    out.push_str(&format!(
        "state directory: {} is writable\n",
        settings.state.path.display()
    ));
    let ld = &settings.lightdash;
    let client = lightdash_client(settings);
    let health = client
        .health()
        .await
        .map_err(|e| format!("Lightdash health: {e}"))?;
    out.push_str(&format!(
        "lightdash: {} (version {}, healthy {})\n",
        ld.url,
        health.version.as_deref().unwrap_or("unknown"),
        health.healthy
    ));
    let projects = client
        .projects()
        .await
        .map_err(|e| format!("Lightdash projects: {e}"))?;
    out.push_str(&format!("token sees {} project(s)\n", projects.len()));
    for p in &projects {
        let synced = if ld.projects.is_empty() {
            p.project_type != ProjectType::Preview
        } else {
            ld.projects.contains(&p.project_uuid)
        };
        if !synced {
            out.push_str(&format!(
                "  - {} ({}): not synced\n",
                crate::redact::strip_terminal_controls(&p.name),
                p.project_uuid
            ));
            continue;
        }
        let spaces = client
            .spaces(&p.project_uuid)
            .await
            .map_err(|e| format!("listing spaces of {}: {e}", p.name))?;
        let tree = SpaceTree::new(&spaces);
        let privacy = crate::sync::privacy::Privacy::resolve(&spaces);
        let included = spaces
            .iter()
            .filter(|s| {
                (ld.include_private || privacy.space(&s.uuid).is_open())
                    && ld.spaces.allows(&tree.path_string(&s.uuid))
            })
            .count();
        out.push_str(&format!(
            "  - {} ({}): {} spaces listed, {} would sync\n",
            crate::redact::strip_terminal_controls(&p.name),
            p.project_uuid,
            spaces.len(),
            included
        ));
    }
    for uuid in &ld.projects {
        if !projects.iter().any(|p| &p.project_uuid == uuid) {
            return Err(format!(
                "configured project {uuid} is not visible to the Lightdash token"
            ));
        }
    }
    let d = &settings.dot;
    let dot = crate::dot::DotClient::new(
        &d.url,
        d.auth.clone(),
        d.requests_per_second,
        1,
        d.timeout,
        Arc::new(ApiCounters::new("dot")),
    );
    let seen = dot
        .probe()
        .await
        .map_err(|e| format!("Dot at {}: {e}", d.url))?;
    out.push_str(&format!("dot: {} {seen}\n", d.url));
    Ok(out)
}
