//! The fetch stage (I/O): details of the items to render, from the state when their
//! `updatedAt` has not moved, from Lightdash otherwise ([`super::details`]), and the explores
//! their fields are labelled from, each fetched once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures_util::StreamExt;

use super::context::SyncContext;
use super::details::{self, Wanted};
use super::detect::needs_fetch;
use super::report::CycleReport;
use crate::dot::types::AssetKind;
use crate::lightdash::LightdashError;
use crate::lightdash::types::{
    ChartDetails, ChartSummary, DashboardDetails, DashboardSummary, Explore,
};
use crate::render::Explores;
use crate::state::{Known, Store, StoredDetails};

/// Explores fetched at once.
const EXPLORE_CONCURRENCY: usize = 4;

/// Details by uuid, and the Dot ids whose details could not be had, with why.
#[derive(Debug)]
pub struct DetailSet<T> {
    /// Details by uuid.
    pub details: HashMap<String, T>,
    /// Failures by Dot id.
    pub failed: BTreeMap<String, String>,
}

/// What [`fetch_details`] needs to know about one project.
pub struct FetchScope<'a> {
    /// Project uuid.
    pub project: &'a str,
    /// The state's entries of the project.
    pub entries: &'a Known<'a>,
    /// Deep or resync: fetch everything.
    pub full: bool,
}

/// Details of these dashboards: stored when still current, fetched otherwise.
pub async fn dashboard_details(
    ctx: &SyncContext,
    scope: &FetchScope<'_>,
    dashboards: &[&DashboardSummary],
    report: &mut CycleReport,
) -> DetailSet<DashboardDetails> {
    let items = dashboards
        .iter()
        .map(|d| (d.uuid.as_str(), d.slug.as_deref(), &d.updated_at));
    fetch_details(ctx, scope, AssetKind::Dashboard, items, report).await
}

/// Details of these charts (uuids of listed charts; others are skipped).
pub async fn chart_details<'a>(
    ctx: &SyncContext,
    scope: &FetchScope<'_>,
    uuids: &[&str],
    listed: &HashMap<&str, &'a ChartSummary>,
    report: &mut CycleReport,
) -> DetailSet<ChartDetails> {
    // SQL-runner charts have their own routes: asked for as explore charts they would come
    // back in `missingIds` (and 404 on `/saved/{uuid}`).
    let (sql, explore): (Vec<&ChartSummary>, Vec<&ChartSummary>) = uuids
        .iter()
        .filter_map(|u| listed.get(u).copied())
        .partition(|c| c.is_sql());
    let items = |charts: Vec<&'a ChartSummary>| {
        charts
            .into_iter()
            .map(|c| (c.uuid.as_str(), c.slug.as_deref(), &c.updated_at))
    };
    let mut out: DetailSet<ChartDetails> =
        fetch_details(ctx, scope, AssetKind::Chart, items(explore), report).await;
    if !sql.is_empty() {
        let sql: DetailSet<details::SqlChart> =
            fetch_details(ctx, scope, AssetKind::Chart, items(sql), report).await;
        out.failed.extend(sql.failed);
        out.details
            .extend(sql.details.into_iter().map(|(u, d)| (u, d.into_details())));
    }
    out
}

async fn fetch_details<'i, T: Stored + details::Details>(
    ctx: &SyncContext,
    scope: &FetchScope<'_>,
    kind: AssetKind,
    items: impl Iterator<Item = (&'i str, Option<&'i str>, &'i Option<String>)>,
    report: &mut CycleReport,
) -> DetailSet<T> {
    let mut out = DetailSet {
        details: HashMap::new(),
        failed: BTreeMap::new(),
    };
    let mut to_fetch: Vec<Wanted> = Vec::new();
    for (uuid, slug, updated_at) in items {
        let id = kind.asset_id(uuid);
        let stored = if needs_fetch(scope.full, scope.entries.get(&id).as_ref(), updated_at) {
            None
        } else {
            T::stored(&ctx.store, &id)
        };
        match stored {
            Some(details) => {
                out.details.insert(uuid.to_owned(), details);
            }
            None => to_fetch.push(Wanted {
                uuid: uuid.to_owned(),
                slug: slug.map(str::to_owned),
            }),
        }
    }
    if to_fetch.is_empty() {
        return out;
    }
    let fetched = details::fetch::<T>(&ctx.lightdash, scope.project, &to_fetch).await;
    *report.fetched.entry(kind.as_str().into()).or_default() += fetched.found.len();
    for (uuid, error) in fetched.failed {
        out.failed.insert(kind.asset_id(&uuid), error);
    }
    out.details.extend(fetched.found);
    out
}

/// Details that can be read back from the state.
pub trait Stored: Sized {
    /// The stored details of the asset with this Dot id, if any and of this kind.
    fn stored(store: &Store, id: &str) -> Option<Self>;
}

impl Stored for details::SqlChart {
    fn stored(store: &Store, id: &str) -> Option<Self> {
        ChartDetails::stored(store, id)
            .filter(ChartDetails::is_sql)
            .map(details::SqlChart)
    }
}

impl Stored for ChartDetails {
    fn stored(store: &Store, id: &str) -> Option<Self> {
        match store.body(id).ok().flatten()?.current_details()? {
            StoredDetails::Chart(c) => Some(*c),
            StoredDetails::Dashboard(_) => None,
        }
    }
}

impl Stored for DashboardDetails {
    fn stored(store: &Store, id: &str) -> Option<Self> {
        match store.body(id).ok().flatten()?.current_details()? {
            StoredDetails::Dashboard(d) => Some(*d),
            StoredDetails::Chart(_) => None,
        }
    }
}

/// The explores needed to label these charts and dashboard filters. PURE.
///
/// Dashboard filters name their field's table; that explore is fetched too, so a filter's
/// label does not depend on which other charts happen to be rendered in the same cycle (an
/// incremental and a deep cycle must render the same dashboard identically).
pub fn explore_names<'a>(
    charts: impl IntoIterator<Item = &'a ChartDetails>,
    dashboards: impl IntoIterator<Item = &'a DashboardDetails>,
) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = charts
        .into_iter()
        .filter_map(|d| d.explore_name())
        .map(str::to_owned)
        .collect();
    for d in dashboards {
        let f = &d.filters;
        for rule in f
            .dimensions
            .iter()
            .chain(&f.metrics)
            .chain(&f.table_calculations)
        {
            if let Some(table) = rule.target.table_name.as_deref().filter(|t| !t.is_empty()) {
                names.insert(table.to_owned());
            }
        }
    }
    names
}

/// Explores fetched for a cycle, and those that failed.
#[derive(Debug, Default)]
pub struct ExploreSet {
    /// Explores by name.
    pub explores: Explores,
    /// Explores that failed (other than 404), with why.
    pub broken: HashMap<String, String>,
}

impl ExploreSet {
    /// Why a chart cannot be rendered now: its explore failed to fetch.
    pub fn failure(&self, d: &ChartDetails) -> Option<String> {
        d.explore_name()
            .and_then(|n| self.broken.get(n))
            .map(|e| format!("explore needed for labels could not be fetched: {e}"))
    }
}

/// Fetches these explores of project `p`, a few at once. A 404 is not a failure: a deleted or
/// broken explore stays so, and its charts render with the field ids they have.
pub async fn explores(
    ctx: &SyncContext,
    p: &str,
    names: BTreeSet<String>,
    report: &mut CycleReport,
) -> ExploreSet {
    let results: Vec<(String, Result<Explore, LightdashError>)> = futures_util::stream::iter(names)
        .map(|name| async move {
            let r = ctx.lightdash.explore(p, &name).await;
            (name, r)
        })
        .buffer_unordered(EXPLORE_CONCURRENCY)
        .collect()
        .await;
    let mut out = ExploreSet::default();
    for (name, r) in results {
        match r {
            Ok(e) => {
                report.explores_fetched += 1;
                out.explores.insert(name, e);
            }
            Err(e) if e.status() == Some(404) => {
                tracing::warn!(project = p, explore = %name, "explore not found; rendering its charts without field labels");
            }
            Err(e) => {
                out.broken.insert(name, e.to_string());
            }
        }
    }
    out
}
