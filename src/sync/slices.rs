//! The slice stages (orchestration; I/O through [`super::fetch`] and [`super::push`]): fetch →
//! render → plan → push → commit, in bounded slices, so memory does not grow with the
//! organisation. Charts first; then dashboards, from the details of the charts on their tiles
//! fetched this cycle (kept in the state's scratch tree) or committed before; then spaces,
//! from the listings. Only ids, signatures and tiles of a whole project are held at once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use super::context::{CycleOptions, Planned, Sink, SyncContext};
use super::detect::Detected;
use super::fetch::{self, ExploreSet, FetchScope};
use super::listing::Listings;
use super::plan::{self, Action, PlanInput};
use super::push::{self, PushScope};
use super::rendering::{self, ChartInputs, DashboardInputs, Rendered, SpaceContents, Tiles};
use super::report::CycleReport;
use super::scope::{Scope, SpaceScopes};
use crate::dot::types::AssetKind;
use crate::lightdash::types::{ChartDetails, ChartSummary, DashboardDetails, DashboardSummary};
use crate::render::{ChartIndex, ProjectView};
use crate::state::Known;

/// Charts (and spaces) fetched, rendered and pushed together: a few as-code pages
/// ([`crate::lightdash::client::AS_CODE_BATCH`] ids each) and a few megabytes of details.
pub const SLICE: usize = 500;

/// Dashboards rendered together: each brings the details of the charts on its tiles (6–12
/// on a typical dashboard), so their slice is smaller; one as-code page each.
pub const DASHBOARD_SLICE: usize = 100;

/// What every slice of one project reads.
pub struct Stages<'a> {
    /// Clients and store.
    pub ctx: &'a SyncContext,
    /// Cycle options.
    pub opts: CycleOptions,
    /// Project uuid.
    pub p: &'a str,
    /// The state's entries of the project.
    pub entries: &'a Known<'a>,
    /// The listings.
    pub listings: &'a Listings,
    /// The project as renderers see it.
    pub view: &'a ProjectView<'a>,
    /// Scope, signatures and change of every listed item.
    pub detected: &'a Detected<'a>,
    /// Scope of every listed space.
    pub scopes: &'a SpaceScopes,
    /// The maps below, built on first use: a cycle that renders nothing never needs them
    /// (about 8 MB at 100,000 assets).
    pub maps: StageMaps<'a>,
    /// Now, in unix seconds.
    pub now: i64,
    /// Dot ids whose disappearance Lightdash's trash confirms.
    pub confirmed_deleted: &'a BTreeSet<String>,
}

/// Lookups over the listings that only rendering needs, each built once, when first asked.
#[derive(Default)]
pub struct StageMaps<'a> {
    charts_listed: OnceLock<HashMap<&'a str, &'a ChartSummary>>,
    dashboards_in: OnceLock<HashMap<&'a str, &'a DashboardSummary>>,
    slug_to_uuid: OnceLock<HashMap<&'a str, &'a str>>,
}

impl<'a> Stages<'a> {
    /// Listed charts in in-scope spaces, by uuid (charts on dashboards need their details
    /// even when charts are not synced).
    pub fn charts_listed(&self) -> &HashMap<&'a str, &'a ChartSummary> {
        self.maps.charts_listed.get_or_init(|| {
            self.listings
                .charts
                .iter()
                .filter(|c| {
                    self.scopes
                        .of_item(&c.space_uuid, c.inherits_from_org_or_project)
                        == Scope::In
                })
                .map(|c| (c.uuid.as_str(), c))
                .collect()
        })
    }

    /// In-scope dashboards, by uuid.
    pub fn dashboards_in(&self) -> &HashMap<&'a str, &'a DashboardSummary> {
        self.maps.dashboards_in.get_or_init(|| {
            self.detected
                .dashboards_in
                .iter()
                .map(|d| (d.uuid.as_str(), *d))
                .collect()
        })
    }

    /// Chart uuids by slug (as-code tiles name charts by slug).
    pub fn slug_to_uuid(&self) -> &HashMap<&'a str, &'a str> {
        self.maps.slug_to_uuid.get_or_init(|| {
            self.listings
                .charts
                .iter()
                .filter_map(|c| c.slug.as_deref().map(|s| (s, c.uuid.as_str())))
                .collect()
        })
    }
}

/// What the slices of one project accumulate.
#[derive(Debug, Default)]
pub struct Carry {
    /// Assets that could not be rendered this cycle, by Dot id, with why.
    pub failed: BTreeMap<String, String>,
    /// Explores fetched so far (each once per cycle).
    pub explores: ExploreSet,
    asked: HashSet<String>,
    /// The project's parameter definitions, read at most once per cycle.
    parameters: crate::lightdash::types::ParameterDefinitions,
    parameters_asked: bool,
}

impl<'a> Stages<'a> {
    fn fetch_scope(&self) -> FetchScope<'a> {
        FetchScope {
            project: self.p,
            entries: self.entries,
            full: self.opts.full(),
        }
    }

    fn plan_input(&self) -> PlanInput<'a> {
        let settings = &self.ctx.settings;
        PlanInput {
            kind: self.opts.kind,
            now: self.now,
            view_count_refresh_secs: settings.sync.view_count_refresh.as_secs() as i64,
            max_deactivate_fraction: settings.sync.max_deactivate_fraction,
            allow_mass_deactivation: self.opts.allow_mass_deactivation,
            project: self.p,
            entries: self.entries,
            rendered: Vec::new(),
            unrendered_views: empty_views(),
            out_of_scope: &self.detected.out_of_scope,
            in_scope: self.detected,
            confirmed_deleted: self.confirmed_deleted,
        }
    }

    /// Records failures: counted, logged, and the assets marked for rendering next cycle.
    fn fail(&self, carry: &mut Carry, failed: BTreeMap<String, String>, report: &mut CycleReport) {
        for (id, error) in failed {
            tracing::warn!(project = self.p, id = %id, error = %error, "asset skipped this cycle");
            report.fail(&id, &error);
            push::mark_stale(self.ctx, self.opts, self.entries, &id);
            carry.failed.insert(id, error);
        }
    }

    /// Gives these details the definitions of the parameters they use (labels, project
    /// defaults, allowed values), reading the project's definitions once per cycle and only
    /// when some item uses parameters (`GET /api/v2/projects/{p}/parameters`; a server without
    /// the route renders names and saved values only).
    async fn parameters<'d>(
        &self,
        carry: &mut Carry,
        charts: impl Iterator<Item = &'d mut ChartDetails>,
        dashboards: impl Iterator<Item = &'d mut DashboardDetails>,
    ) {
        let mut charts: Vec<&mut ChartDetails> = charts
            .filter(|d| d.parameters.as_ref().is_some_and(|p| !p.is_empty()))
            .collect();
        let mut dashboards: Vec<&mut DashboardDetails> = dashboards
            .filter(|d| d.parameters.as_ref().is_some_and(|p| !p.is_empty()))
            .collect();
        if charts.is_empty() && dashboards.is_empty() {
            return;
        }
        if !carry.parameters_asked {
            carry.parameters_asked = true;
            carry.parameters = match self.ctx.lightdash.parameter_definitions(self.p).await {
                Ok(defs) => defs.unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(project = self.p, error = %e, "could not read parameter definitions; parameters are shown with their saved values only");
                    Default::default()
                }
            };
        }
        let defs = &carry.parameters;
        let pick = |names: Vec<&String>| {
            names
                .into_iter()
                .filter_map(|n| defs.get(n).map(|d| (n.clone(), d.clone())))
                .collect()
        };
        for d in &mut charts {
            let names = d.parameters.iter().flatten().map(|(k, _)| k).collect();
            d.parameter_definitions = pick(names);
        }
        for d in &mut dashboards {
            let names = d
                .parameters
                .iter()
                .flatten()
                .map(|(k, p)| p.parameter_name.as_ref().unwrap_or(k))
                .collect();
            d.parameter_definitions = pick(names);
        }
    }

    /// Fetches the explores these details need that were not asked for yet.
    async fn explores<'d>(
        &self,
        carry: &mut Carry,
        charts: impl Iterator<Item = &'d ChartDetails>,
        dashboards: impl Iterator<Item = &'d DashboardDetails>,
        report: &mut CycleReport,
    ) {
        let mut names = fetch::explore_names(charts, dashboards);
        names.retain(|n| !carry.asked.contains(n));
        if names.is_empty() {
            return;
        }
        carry.asked.extend(names.iter().cloned());
        let got = fetch::explores(self.ctx, self.p, names, report).await;
        carry.explores.explores.extend(got.explores);
        carry.explores.broken.extend(got.broken);
    }
}

fn empty_views() -> &'static BTreeMap<String, u64> {
    static EMPTY: BTreeMap<String, u64> = BTreeMap::new();
    &EMPTY
}

/// Marks in the state the dashboards to render only because a chart they show changed, before
/// any chart is committed: once the chart's new signature is committed it is no longer
/// "changed", and a crash between that commit and the dashboard's would otherwise leave the
/// dashboard outdated for good. The mark is cleared when the dashboard is pushed or found
/// equal to what Dot has.
pub fn mark_dependents(
    st: &Stages<'_>,
    dash_render: &[&DashboardSummary],
    showing: &HashSet<&str>,
) {
    for d in dash_render {
        let id = AssetKind::Dashboard.asset_id(&d.uuid);
        let marked = st.entries.get(&id).is_none_or(|e| e.stale);
        if showing.contains(d.uuid.as_str())
            && !marked
            && !st.detected.is_changed(AssetKind::Dashboard, &d.uuid)
        {
            push::mark_stale(st.ctx, st.opts, st.entries, &id);
        }
    }
}

/// Propagate stage, second half: the details of the dashboards to render, fetched (or read
/// from the state) slice by slice and parked in the scratch tree for their own slice later;
/// what stays in memory is their tiles (chart uuids by dashboard uuid).
pub async fn dashboard_tiles<'a>(
    st: &Stages<'_>,
    carry: &mut Carry,
    dash_render: &[&'a DashboardSummary],
    report: &mut CycleReport,
) -> Tiles<'a> {
    let mut tiles = Tiles::default();
    for chunk in dash_render.chunks(SLICE) {
        let mut set = fetch::dashboard_details(st.ctx, &st.fetch_scope(), chunk, report).await;
        st.fail(carry, set.failed, report);
        for summary in chunk {
            let Some(d) = set.details.remove(&summary.uuid) else {
                continue;
            };
            tiles.insert(&summary.uuid, d.chart_uuids(st.slug_to_uuid()));
            let id = AssetKind::Dashboard.asset_id(&summary.uuid);
            if let Err(e) = st.ctx.store.put_scratch(&id, &d) {
                tracing::warn!(id = %id, error = %e, "could not park dashboard details; they are fetched again for rendering");
            }
        }
    }
    tiles
}

/// Charts, slice by slice. Details of charts some dashboard to render shows are parked in the
/// scratch tree for the dashboard slices.
pub async fn charts(
    st: &Stages<'_>,
    carry: &mut Carry,
    chart_render: &BTreeSet<&str>,
    shown_on: &rendering::ShownOn<'_>,
    on_tiles: &HashSet<&str>,
    sink: &mut Sink<'_>,
) {
    let uuids: Vec<&str> = chart_render.iter().copied().collect();
    for chunk in uuids.chunks(SLICE) {
        let ids: Vec<&str> = chunk.to_vec();
        let mut set = fetch::chart_details(
            st.ctx,
            &st.fetch_scope(),
            &ids,
            st.charts_listed(),
            sink.report,
        )
        .await;
        st.fail(carry, std::mem::take(&mut set.failed), sink.report);
        st.parameters(carry, set.details.values_mut(), std::iter::empty())
            .await;
        st.explores(carry, set.details.values(), std::iter::empty(), sink.report)
            .await;
        for (uuid, d) in &set.details {
            if on_tiles.contains(uuid.as_str()) {
                let id = AssetKind::Chart.asset_id(uuid);
                if let Err(e) = st.ctx.store.put_scratch(&id, d) {
                    tracing::warn!(id = %id, error = %e, "could not park chart details; they are fetched again for its dashboards");
                }
            }
        }
        let input = ChartInputs {
            view: st.view,
            listed: st.charts_listed(),
            dashboards: st.dashboards_in(),
            shown_on,
            detected: st.detected,
            explores: &carry.explores,
            verification_listed: st.listings.verification_listed,
        };
        let mut failed = BTreeMap::new();
        let mut rendered = rendering::render_charts(&input, chunk, &set.details, &mut failed);
        st.fail(carry, failed, sink.report);
        rendered.take_details(set.details, HashMap::new());
        finish(st, rendered, sink).await;
    }
}

/// Dashboards, slice by slice, from their parked details and the details of the charts on
/// their tiles (parked this cycle, else from the state, else fetched).
pub async fn dashboards(
    st: &Stages<'_>,
    carry: &mut Carry,
    dash_render: &[&DashboardSummary],
    tiles: &Tiles<'_>,
    sink: &mut Sink<'_>,
) {
    for chunk in dash_render.chunks(DASHBOARD_SLICE) {
        let mut details = parked_dashboards(st, carry, chunk, sink.report).await;
        let charts = tile_charts(st, carry, chunk, tiles, sink.report).await;
        st.parameters(carry, std::iter::empty(), details.values_mut())
            .await;
        st.explores(carry, charts.values(), details.values(), sink.report)
            .await;
        let mut index = ChartIndex::default();
        for (uuid, d) in &charts {
            if let Some(summary) = st.charts_listed().get(uuid.as_str()) {
                index.insert(summary, Some(d));
            }
        }
        for uuid in chunk.iter().filter_map(|d| tiles.get(&d.uuid)).flatten() {
            if let Some(summary) = st.charts_listed().get(uuid)
                && !charts.contains_key(uuid)
            {
                index.insert(summary, None);
            }
        }
        let input = DashboardInputs {
            view: st.view,
            tiles,
            detected: st.detected,
            explores: &carry.explores,
            verification_listed: st.listings.verification_listed,
        };
        let mut failed = BTreeMap::new();
        let mut rendered =
            rendering::render_dashboards(&input, chunk, &details, &index, &charts, &mut failed);
        drop(index);
        st.fail(carry, failed, sink.report);
        rendered.take_details(HashMap::new(), details);
        finish(st, rendered, sink).await;
    }
}

async fn parked_dashboards(
    st: &Stages<'_>,
    carry: &mut Carry,
    chunk: &[&DashboardSummary],
    report: &mut CycleReport,
) -> HashMap<String, DashboardDetails> {
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    for d in chunk {
        let id = AssetKind::Dashboard.asset_id(&d.uuid);
        if carry.failed.contains_key(&id) {
            continue;
        }
        match st.ctx.store.scratch::<DashboardDetails>(&id) {
            Some(details) => {
                out.insert(d.uuid.clone(), details);
            }
            None => missing.push(*d),
        }
    }
    if !missing.is_empty() {
        let set = fetch::dashboard_details(st.ctx, &st.fetch_scope(), &missing, report).await;
        st.fail(carry, set.failed, report);
        out.extend(set.details);
    }
    out
}

async fn tile_charts(
    st: &Stages<'_>,
    carry: &mut Carry,
    chunk: &[&DashboardSummary],
    tiles: &Tiles<'_>,
    report: &mut CycleReport,
) -> HashMap<String, ChartDetails> {
    let wanted: BTreeSet<&str> = chunk
        .iter()
        .filter_map(|d| tiles.get(&d.uuid))
        .flatten()
        .filter(|u| st.charts_listed().contains_key(u))
        .filter(|u| !carry.failed.contains_key(&AssetKind::Chart.asset_id(u)))
        .collect();
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    for uuid in wanted {
        match st
            .ctx
            .store
            .scratch::<ChartDetails>(&AssetKind::Chart.asset_id(uuid))
        {
            Some(d) => {
                out.insert(uuid.to_owned(), d);
            }
            None => missing.push(uuid),
        }
    }
    if !missing.is_empty() {
        let set = fetch::chart_details(
            st.ctx,
            &st.fetch_scope(),
            &missing,
            st.charts_listed(),
            report,
        )
        .await;
        // A tile chart's failure is the chart's, not the dashboard's: it renders from what
        // the listing knows, as before.
        for (id, error) in set.failed {
            tracing::warn!(project = st.p, id = %id, error = %error, "details of a chart on a dashboard could not be fetched");
        }
        out.extend(set.details);
    }
    out
}

/// Spaces, from the listings, slice by slice: only those whose listing or content changed
/// (all in deep and resync cycles).
pub async fn spaces(st: &Stages<'_>, contents: &SpaceContents<'_>, sink: &mut Sink<'_>) {
    for chunk in st.listings.spaces.chunks(SLICE) {
        let rendered = rendering::render_spaces(
            st.view,
            chunk,
            st.detected,
            contents,
            st.entries,
            st.opts.full(),
        );
        // In-scope spaces left unrendered (listing and content unchanged) are unchanged
        // too: the cycle summary's "unchanged" counts every asset left as it was.
        let ids: HashSet<&str> = rendered.assets.iter().map(|a| a.id.as_str()).collect();
        let unchanged = chunk
            .iter()
            .map(|s| AssetKind::Space.asset_id(&s.uuid))
            .filter(|id| {
                !ids.contains(id.as_str())
                    && st.detected.is_in_scope(id)
                    && st.entries.get(id).is_some_and(|e| e.active)
            })
            .count();
        sink.report.unchanged += unchanged;
        finish(st, rendered, sink).await;
    }
}

/// Plans a rendered slice against the state, then pushes and commits it (dry runs: records
/// the plan); entries of assets Dot already has are refreshed.
async fn finish(st: &Stages<'_>, rendered: Rendered, sink: &mut Sink<'_>) {
    if rendered.assets.is_empty() {
        // Nothing to plan, and nothing freed worth a trim (which walks the whole heap: a
        // tenth of a second at 50,000 assets, per slice).
        return;
    }
    sink.report.rendered += rendered.assets.len();
    let Rendered {
        assets,
        mut commit_info,
    } = rendered;
    let input = st.plan_input();
    let (plan, same) = plan::plan_rendered(&input, assets);
    sink.report.unchanged += plan.unchanged.len();
    let scope = PushScope {
        project: st.p,
        entries: st.entries,
        now: st.now,
    };
    push::refresh_unchanged(st.ctx, st.opts, &scope, same, &mut commit_info);
    push_actions(st, plan.actions, &mut commit_info, &scope, sink).await;
    // The slice's details and bodies are freed now; hand the pages back so the next slice
    // does not grow the heap around fragments of this one.
    crate::stats::release_free_memory();
}

/// Pushes (or, for dry runs, records) these actions.
pub async fn push_actions(
    st: &Stages<'_>,
    actions: Vec<Action>,
    commit_info: &mut HashMap<String, push::CommitInfo>,
    scope: &PushScope<'_>,
    sink: &mut Sink<'_>,
) {
    if actions.is_empty() {
        return;
    }
    if st.opts.dry_run {
        for action in actions {
            push::count_action(sink.report, &push::tally(&action));
            sink.planned.push(Planned {
                project: st.p.to_owned(),
                action,
            });
        }
        return;
    }
    push::push_and_commit(st.ctx, st.opts, scope, actions, commit_info, sink).await;
}

/// View-count pushes for in-scope dashboards and charts not rendered this cycle (nor failed).
/// Deep and resync cycles render every in-scope asset, so this is for incremental ones.
pub async fn view_counts(
    st: &Stages<'_>,
    carry: &Carry,
    dash_render: &[&DashboardSummary],
    chart_render: &BTreeSet<&str>,
    sink: &mut Sink<'_>,
) {
    if st.opts.full() {
        return;
    }
    // Items, not formatted ids: this runs over every listed asset in every cycle.
    let rendered: super::FastSet<(AssetKind, &str)> = dash_render
        .iter()
        .map(|d| (AssetKind::Dashboard, d.uuid.as_str()))
        .chain(chart_render.iter().map(|c| (AssetKind::Chart, *c)))
        .collect();
    let failed: super::FastSet<(AssetKind, &str)> = carry
        .failed
        .keys()
        .filter_map(|id| AssetKind::split_id(id))
        .collect();
    let dashboards = st
        .detected
        .dashboards_in
        .iter()
        .map(|d| ((AssetKind::Dashboard, d.uuid.as_str()), d.views));
    let charts = st
        .detected
        .charts_in
        .iter()
        .map(|c| ((AssetKind::Chart, c.uuid.as_str()), c.views));
    let mut unrendered = 0usize;
    let moved: BTreeMap<String, u64> = dashboards
        .chain(charts)
        .filter(|(item, _)| !rendered.contains(item) && !failed.contains(item))
        .inspect(|_| unrendered += 1)
        .filter(|((kind, uuid), _)| st.detected.views_moved(*kind, uuid))
        .map(|((kind, uuid), views)| (kind.asset_id(uuid), views))
        .collect();
    // Unrendered assets are unchanged and active (changed ones were rendered): only those
    // whose view count moved need their entry read, and may need a push.
    let (actions, _) = plan::plan_view_counts(&st.plan_input(), &moved);
    sink.report.unchanged += unrendered - actions.len();
    let scope = PushScope {
        project: st.p,
        entries: st.entries,
        now: st.now,
    };
    push_actions(st, actions, &mut HashMap::new(), &scope, sink).await;
}

/// Deactivations, decided from the listings and the state before anything is pushed: the
/// fail-safe trips (and is reported) before any deactivation, and privacy takes effect first.
pub async fn deactivations(st: &Stages<'_>, sink: &mut Sink<'_>) {
    let (actions, trip) = plan::plan_deactivations(&st.plan_input());
    if let Some(trip) = trip {
        tracing::error!(
            project = st.p,
            would_deactivate = trip.would_deactivate,
            active = trip.active,
            max_fraction = st.ctx.settings.sync.max_deactivate_fraction,
            "fail-safe: refusing to deactivate this many assets at once; none were deactivated (check the Lightdash token's access, or rerun with --allow-mass-deactivation)"
        );
        metrics::counter!("ldsync_failsafe_trips_total").increment(1);
        sink.report.failsafe.push(trip);
    }
    let scope = PushScope {
        project: st.p,
        entries: st.entries,
        now: st.now,
    };
    push_actions(st, actions, &mut HashMap::new(), &scope, sink).await;
}
