//! Detail fetching (I/O through the Lightdash client): content-as-code in batches first,
//! the legacy per-item routes when as code is unavailable or an item cannot be matched.
//!
//! As-code items carry slugs, not uuids, so results are matched back to the listing by slug.
//! Each item is decoded on its own: one malformed item fails only itself.

use std::collections::{BTreeMap, HashMap};

use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::lightdash::types::{ChartDetails, DashboardDetails};
use crate::lightdash::{LightdashClient, LightdashError};

/// Legacy per-item requests in flight (the rate limiter still applies).
const LEGACY_CONCURRENCY: usize = 4;

/// An item to fetch: its uuid and, when the listing has it, its slug.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// Uuid.
    pub uuid: String,
    /// Slug from the listing.
    pub slug: Option<String>,
}

/// Fetched details by uuid, and the uuids that failed with why.
#[derive(Debug)]
pub struct Fetched<T> {
    /// Details by uuid.
    pub found: HashMap<String, T>,
    /// Failures by uuid.
    pub failed: BTreeMap<String, String>,
    /// Requests that went through the legacy routes.
    pub legacy: usize,
}

impl<T> Default for Fetched<T> {
    fn default() -> Self {
        Self {
            found: HashMap::new(),
            failed: BTreeMap::new(),
            legacy: 0,
        }
    }
}

/// Which kind of details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailKind {
    /// Charts.
    Chart,
    /// Dashboards.
    Dashboard,
}

/// Fetches chart details.
pub async fn fetch_charts(
    client: &LightdashClient,
    project: &str,
    wanted: &[Wanted],
) -> Fetched<ChartDetails> {
    fetch(client, project, wanted, DetailKind::Chart).await
}

/// Fetches dashboard details. Through the legacy route this records a view per dashboard in
/// Lightdash, which is why it is only ever called for dashboards that changed.
pub async fn fetch_dashboards(
    client: &LightdashClient,
    project: &str,
    wanted: &[Wanted],
) -> Fetched<DashboardDetails> {
    fetch(client, project, wanted, DetailKind::Dashboard).await
}

async fn fetch<T>(
    client: &LightdashClient,
    project: &str,
    wanted: &[Wanted],
    kind: DetailKind,
) -> Fetched<T>
where
    T: DeserializeOwned + HasIdentityBound + Send + 'static,
{
    let mut out = Fetched::default();
    if wanted.is_empty() {
        return out;
    }
    // Only items with a known slug can be matched back from an as-code batch; the others
    // are asked for one id per request (still no view counting), see below.
    let ids: Vec<String> = wanted.iter().map(|w| w.uuid.clone()).collect();
    let batch = match kind {
        DetailKind::Chart => client.charts_as_code_decoded::<T>(project, &ids).await,
        DetailKind::Dashboard => client.dashboards_as_code_decoded::<T>(project, &ids).await,
    };
    let mut legacy: Vec<&Wanted> = Vec::new();
    match batch {
        Ok(batch) => {
            let bad: BTreeMap<String, serde_json::Error> = batch.bad.into_iter().collect();
            let mut items = batch.items;
            for w in wanted {
                let slug = w.slug.as_deref();
                if let Some(mut item) = slug.and_then(|s| items.remove(s)) {
                    item.set_identity(&w.uuid);
                    out.found.insert(w.uuid.clone(), item);
                } else if let Some(e) = slug.and_then(|s| bad.get(s)) {
                    out.failed.insert(
                        w.uuid.clone(),
                        format!("malformed details from Lightdash: {e}"),
                    );
                } else if batch
                    .missing_ids
                    .iter()
                    .any(|m| m == &w.uuid || Some(m.as_str()) == slug)
                {
                    out.failed.insert(
                        w.uuid.clone(),
                        "Lightdash no longer has it (missingIds)".into(),
                    );
                } else {
                    legacy.push(w);
                }
            }
        }
        Err(e) if e.means_route_unavailable() => legacy.extend(wanted.iter()),
        Err(e) => {
            let msg = e.to_string();
            for w in wanted {
                out.failed.insert(w.uuid.clone(), msg.clone());
            }
            return out;
        }
    }
    out.legacy = legacy.len();
    let legacy: Vec<String> = legacy.into_iter().map(|w| w.uuid.clone()).collect();
    let results: Vec<(String, Result<T, LightdashError>)> = futures_util::stream::iter(legacy)
        .map(|uuid: String| {
            let client = client.clone();
            async move {
                let r = match kind {
                    DetailKind::Chart => client.saved_chart(&uuid).await.map(T::from_chart),
                    DetailKind::Dashboard => client.dashboard(&uuid).await.map(T::from_dashboard),
                };
                let r = r.and_then(|x| x.ok_or_else(|| unreachable_kind(&uuid)));
                (uuid, r)
            }
        })
        .buffer_unordered(LEGACY_CONCURRENCY)
        .collect()
        .await;
    for (uuid, r) in results {
        match r {
            Ok(mut item) => {
                item.set_identity(&uuid);
                out.found.insert(uuid, item);
            }
            Err(e) => {
                out.failed.insert(uuid, e.to_string());
            }
        }
    }
    out
}

fn unreachable_kind(uuid: &str) -> LightdashError {
    LightdashError::NotFound {
        route: uuid.to_owned(),
        name: "KindMismatch".into(),
        message: "details of another kind".into(),
    }
}

/// Glue so one generic `fetch` serves both kinds.
pub trait HasIdentityBound: Sized {
    /// Records the uuid (as-code items have none).
    fn set_identity(&mut self, uuid: &str);
    /// Converts chart details (identity for charts).
    fn from_chart(c: ChartDetails) -> Option<Self>;
    /// Converts dashboard details (identity for dashboards).
    fn from_dashboard(d: DashboardDetails) -> Option<Self>;
}

impl HasIdentityBound for ChartDetails {
    fn set_identity(&mut self, uuid: &str) {
        self.uuid = Some(uuid.to_owned());
    }
    fn from_chart(c: ChartDetails) -> Option<Self> {
        Some(c)
    }
    fn from_dashboard(_: DashboardDetails) -> Option<Self> {
        None
    }
}

impl HasIdentityBound for DashboardDetails {
    fn set_identity(&mut self, uuid: &str) {
        self.uuid = Some(uuid.to_owned());
    }
    fn from_chart(_: ChartDetails) -> Option<Self> {
        None
    }
    fn from_dashboard(d: DashboardDetails) -> Option<Self> {
        Some(d)
    }
}
