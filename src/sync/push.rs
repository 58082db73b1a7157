//! The push and commit stages (I/O): each planned action becomes a body for Dot and the state
//! entry to write once Dot acknowledged it (commit after a 2xx, never before), with bounded
//! concurrency; failures mark the asset stale so the next cycle renders it again.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use futures_util::StreamExt;

use super::context::{CycleOptions, InFlight, Sink, SyncContext, kind_label};
use super::plan::{self, Action};
use super::report::CycleReport;
use crate::dot::DotError;
use crate::dot::types::{AssetKind, ExternalAsset};
use crate::state::fingerprint::fingerprint;
use crate::state::{AssetBody, IndexEntry, Known, StoredDetails};

/// What the commit of a pushed asset needs besides the asset.
#[derive(Debug)]
pub struct CommitInfo {
    /// Asset kind.
    pub kind: AssetKind,
    /// Lightdash uuid.
    pub uuid: String,
    /// Listing signature it was rendered from.
    pub signature: String,
    /// `updatedAt` of the details it was rendered from.
    pub updated_at: Option<String>,
    /// Its space (spaces: their parent).
    pub space: Option<String>,
    /// Dashboards: chart uuids on its tiles.
    pub charts: Vec<String>,
    /// Spaces: digest of what it shows (see [`crate::state::IndexEntry::shows`]).
    pub shows: Option<String>,
    /// Details to keep for re-rendering without a fetch.
    pub details: Option<StoredDetails>,
}

/// The state write that follows a 2xx.
pub enum Commit {
    /// A new body and entry.
    Full(IndexEntry, Option<StoredDetails>),
    /// Only the entry (view-count pushes keep the stored body).
    EntryOnly(IndexEntry),
}

/// What the push stage needs about one project besides the actions.
pub struct PushScope<'a> {
    /// Project uuid.
    pub project: &'a str,
    /// The state's entries of the project.
    pub entries: &'a Known<'a>,
    /// Now, in unix seconds.
    pub now: i64,
}

/// Remembers that an asset Dot has could not be brought up to date this cycle, so the next
/// incremental cycle renders it again even if nothing it depends on changes again (a chart
/// edit whose dashboard failed to re-render must not be forgotten once the chart is committed).
pub fn mark_stale(ctx: &SyncContext, opts: CycleOptions, entries: &Known<'_>, id: &str) {
    if opts.dry_run {
        return;
    }
    if let Some(mut entry) = entries.get(id) {
        entry.stale = true;
        if let Err(e) = ctx.store.commit_entry(id, &entry) {
            tracing::error!(id, error = %e, "could not mark the asset for re-rendering");
        }
    }
}

/// What the report needs to know about an action once its body has been moved out of it.
pub struct Tally {
    id: String,
    view_count: bool,
    deactivation: bool,
}

/// The report's view of an action.
pub fn tally(action: &Action) -> Tally {
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

/// Counts a done (or, for dry runs, planned) action in the report and metrics.
pub fn count_action(report: &mut CycleReport, t: &Tally) {
    let kind = kind_label(&t.id);
    *report.pushed.entry(kind.to_owned()).or_default() += 1;
    if t.view_count {
        report.view_count_pushes += 1;
    }
    if t.deactivation {
        report.deactivated += 1;
    }
    // A dry run only plans: counting it would make alerts on these counters fire for nothing.
    if !report.dry_run {
        if t.deactivation {
            metrics::counter!("ldsync_deactivations_total", "kind" => kind).increment(1);
        }
        metrics::counter!("ldsync_assets_pushed_total", "kind" => kind, "result" => "ok")
            .increment(1);
    }
}

/// Pushes `actions` with `dot.concurrency` in flight and commits each right after Dot's 2xx.
/// At shutdown, pushes not yet started are left for the next start.
pub async fn push_and_commit(
    ctx: &SyncContext,
    opts: CycleOptions,
    scope: &PushScope<'_>,
    actions: Vec<Action>,
    commit_info: &mut HashMap<String, CommitInfo>,
    sink: &mut Sink<'_>,
) {
    sink.progress.add_planned(actions.len());
    let mut work = Vec::new();
    for action in actions {
        let t = tally(&action);
        match prepare(ctx, scope, action, commit_info) {
            Ok(w) => work.push((t, w)),
            Err(e) => {
                sink.progress.push_done();
                sink.report.fail(&t.id, e);
                mark_stale(ctx, opts, scope.entries, &t.id);
            }
        }
    }
    let (dot, stopping, in_flight) = (&ctx.dot, &ctx.stopping, &ctx.pushes_in_flight);
    let mut results = futures_util::stream::iter(work)
        .map(|(action, (asset, commit))| async move {
            // Not committed, so simply planned again next time.
            if stopping.load(Ordering::SeqCst) {
                return (action, asset, commit, None);
            }
            // Counted before the second look at `stopping` (both SeqCst): a stop either sees
            // this push in flight or this push sees the stop.
            in_flight.fetch_add(1, Ordering::SeqCst);
            if stopping.load(Ordering::SeqCst) {
                in_flight.fetch_sub(1, Ordering::SeqCst);
                return (action, asset, commit, None);
            }
            let result = dot.upsert(&asset).await;
            (action, asset, commit, Some(result))
        })
        .buffer_unordered(ctx.settings.dot.concurrency);
    let mut skipped = 0usize;
    while let Some((action, asset, commit, result)) = results.next().await {
        sink.progress.push_done();
        // A counted push is released after its commit below, whichever way it goes.
        let _pushed = result.is_some().then(|| InFlight(in_flight));
        match result {
            None => skipped += 1,
            Some(Ok(())) => commit_one(ctx, &action, asset, commit, sink.report),
            Some(Err(e)) => {
                push_failed(&asset.id, e, sink.report);
                mark_stale(ctx, opts, scope.entries, &asset.id);
            }
        }
    }
    if skipped > 0 {
        tracing::info!(
            project = scope.project,
            skipped,
            "shutting down: pushes not started are left for the next start"
        );
    }
}

fn commit_one(
    ctx: &SyncContext,
    action: &Tally,
    asset: ExternalAsset,
    commit: Commit,
    report: &mut CycleReport,
) {
    let committed = match commit {
        Commit::Full(entry, details) => {
            let id = asset.id.clone();
            ctx.store
                .commit(&id, &entry, &AssetBody::new(asset, details))
                .map_err(|e| (id, e))
        }
        Commit::EntryOnly(entry) => ctx
            .store
            .commit_entry(&asset.id, &entry)
            .map_err(|e| (asset.id.clone(), e)),
    };
    match committed {
        Ok(()) => count_action(report, action),
        Err((id, e)) => {
            tracing::error!(id = %id, error = %e, "pushed but could not record it in the state; it will be pushed again");
            report.fail(&id, e);
        }
    }
}

fn push_failed(id: &str, e: DotError, report: &mut CycleReport) {
    if matches!(e, DotError::Invalid { .. }) {
        metrics::counter!("ldsync_dot_rejected_total").increment(1);
        tracing::error!(id = %id, error = %e, "Dot rejected the asset as invalid: this is a bug in lightdash-dot-sync, please report it");
    } else {
        tracing::warn!(id = %id, error = %e, "push failed; it will be retried next cycle");
    }
    metrics::counter!("ldsync_assets_pushed_total", "kind" => kind_label(id), "result" => "failed")
        .increment(1);
    report.fail(id, e);
}

/// Turns an action into the body to send and the state to commit after a 2xx.
fn prepare(
    ctx: &SyncContext,
    scope: &PushScope<'_>,
    action: Action,
    commit_info: &mut HashMap<String, CommitInfo>,
) -> Result<(ExternalAsset, Commit), String> {
    match action {
        Action::Upsert { asset, .. } => {
            let info = commit_info
                .remove(&asset.id)
                .ok_or_else(|| "internal: rendered asset without commit info".to_string())?;
            Ok(upserted(scope, asset, info))
        }
        Action::ViewCount { id, views } => view_count(ctx, scope, &id, views),
        Action::Deactivate { id, .. } => deactivation(ctx, scope, &id),
    }
}

fn upserted(
    scope: &PushScope<'_>,
    asset: ExternalAsset,
    info: CommitInfo,
) -> (ExternalAsset, Commit) {
    let entry = IndexEntry {
        kind: info.kind,
        project: scope.project.to_owned(),
        uuid: info.uuid,
        fingerprint: fingerprint(&asset),
        signature: info.signature,
        updated_at: info.updated_at,
        space: info.space,
        charts: info.charts,
        active: true,
        pushed_at: scope.now,
        views: asset.view_count,
        views_pushed_at: scope.now,
        stale: false,
        shows: info.shows,
    };
    (asset, Commit::Full(entry, info.details))
}

fn view_count(
    ctx: &SyncContext,
    scope: &PushScope<'_>,
    id: &str,
    views: u64,
) -> Result<(ExternalAsset, Commit), String> {
    let entry = scope
        .entries
        .get(id)
        .ok_or("internal: view count for an unknown asset")?;
    let body = ctx.store.body(id).map_err(|e| e.to_string())?.ok_or(
        "the state has no stored body for this asset; it will be re-rendered next deep cycle",
    )?;
    let mut asset = body.asset;
    asset.view_count = Some(views);
    let mut entry = entry;
    entry.views = Some(views);
    entry.views_pushed_at = scope.now;
    Ok((asset, Commit::EntryOnly(entry)))
}

fn deactivation(
    ctx: &SyncContext,
    scope: &PushScope<'_>,
    id: &str,
) -> Result<(ExternalAsset, Commit), String> {
    let entry = scope
        .entries
        .get(id)
        .ok_or("internal: deactivation of an unknown asset")?;
    let body = ctx.store.body(id).map_err(|e| e.to_string())?;
    let (mut asset, details) = match body {
        Some(b) => (b.asset, b.details),
        None => (bare_asset(id, entry.kind), None),
    };
    // The view count stays the one Dot has: a deactivated asset is out of every listing we
    // read views from.
    asset.active = false;
    let mut entry = entry.clone();
    entry.active = false;
    entry.fingerprint = fingerprint(&asset);
    entry.pushed_at = scope.now;
    Ok((asset, Commit::Full(entry, details)))
}

/// The smallest valid body for an asset whose stored body is gone.
fn bare_asset(id: &str, kind: AssetKind) -> ExternalAsset {
    ExternalAsset {
        id: id.to_owned(),
        subtype: kind.subtype().to_owned(),
        folder: None,
        name: None,
        description: None,
        url: None,
        active: false,
        view_count: None,
        last_accessed_at: None,
        dot_description: None,
    }
}

/// Brings the state entries of rendered assets Dot already has up to date (listing
/// signature, `updatedAt` and details, tiles, space digest; the stale mark cleared), so an
/// edit that changes nothing visible is not fetched and rendered again every cycle. The body
/// stays what Dot has: the rendered asset equals it but for the view count, which is kept.
pub fn refresh_unchanged(
    ctx: &SyncContext,
    opts: CycleOptions,
    scope: &PushScope<'_>,
    same: Vec<ExternalAsset>,
    commit_info: &mut HashMap<String, CommitInfo>,
) {
    if opts.dry_run {
        return;
    }
    for mut asset in same {
        let (Some(known), Some(info)) =
            (scope.entries.get(&asset.id), commit_info.remove(&asset.id))
        else {
            continue;
        };
        // The stored entry, not the one read at the start: this cycle may have marked it.
        let old = &ctx
            .store
            .entry(&asset.id)
            .ok()
            .flatten()
            .unwrap_or_else(|| known.clone());
        let mut entry = old.clone();
        entry.signature = info.signature;
        entry.updated_at = info.updated_at;
        entry.space = info.space;
        entry.charts = info.charts;
        entry.shows = info.shows;
        entry.stale = false;
        if &entry == old {
            continue;
        }
        let written = if old.updated_at != entry.updated_at && info.details.is_some() {
            asset.view_count = old.views;
            let body = AssetBody {
                details_format: crate::state::store::DETAILS_FORMAT_VERSION,
                asset,
                details: info.details,
            };
            ctx.store.commit(&body.asset.id, &entry, &body)
        } else {
            ctx.store.commit_entry(&asset.id, &entry)
        };
        if let Err(e) = written {
            tracing::warn!(id = %entry.uuid, error = %e, "could not refresh the state entry; the asset is rendered again next cycle");
        }
    }
}
