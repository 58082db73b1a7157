//! Detail fetching (I/O through the Lightdash client): content-as-code in batches first,
//! the legacy per-item routes when as code is unavailable or an item cannot be matched.
//!
//! As-code items carry slugs, not uuids, so results are matched back to the listing by slug.
//! Each item is decoded on its own: one malformed item fails only itself.

use std::collections::{BTreeMap, HashMap};

use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::lightdash::client::AsCodeDecoded;
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

/// Fetches chart details.
pub async fn fetch_charts(
    client: &LightdashClient,
    project: &str,
    wanted: &[Wanted],
) -> Fetched<ChartDetails> {
    fetch(client, project, wanted).await
}

/// Fetches dashboard details. Through the legacy route this records a view per dashboard in
/// Lightdash, which is why it is only ever called for dashboards that changed.
pub async fn fetch_dashboards(
    client: &LightdashClient,
    project: &str,
    wanted: &[Wanted],
) -> Fetched<DashboardDetails> {
    fetch(client, project, wanted).await
}

/// Fetches details of one kind: as code in batches, then the legacy route for the rest.
pub async fn fetch<T: Details>(
    client: &LightdashClient,
    project: &str,
    wanted: &[Wanted],
) -> Fetched<T> {
    let mut out = Fetched::default();
    if wanted.is_empty() {
        return out;
    }
    // Only items with a known slug can be matched back from an as-code batch; the others
    // are asked for one id per request (still no view counting), see below.
    let ids: Vec<String> = wanted.iter().map(|w| w.uuid.clone()).collect();
    let batch = T::as_code(client, project, &ids).await;
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
                } else {
                    // Not in the batch, or in `missingIds`: an id missing from one as-code
                    // kind is never a deletion (a SQL chart asked for as an explore chart, a
                    // listing newer than the as-code view). Only listings say what exists; ask
                    // the per-item route, whose 404 fails this item alone.
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
            let project = project.to_owned();
            async move {
                let r = T::legacy(&client, &project, &uuid).await;
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

/// One kind of details: how to fetch it in batches (as code) and one by one (legacy).
pub trait Details: DeserializeOwned + Send + 'static {
    /// As-code items for these ids, decoded page by page.
    fn as_code(
        client: &LightdashClient,
        project: &str,
        ids: &[String],
    ) -> impl Future<Output = Result<AsCodeDecoded<Self>, LightdashError>> + Send;
    /// One item through the legacy per-item route.
    fn legacy(
        client: &LightdashClient,
        project: &str,
        uuid: &str,
    ) -> impl Future<Output = Result<Self, LightdashError>> + Send;
    /// Records the uuid (as-code items have none).
    fn set_identity(&mut self, uuid: &str);
}

impl Details for ChartDetails {
    async fn as_code(
        client: &LightdashClient,
        project: &str,
        ids: &[String],
    ) -> Result<AsCodeDecoded<Self>, LightdashError> {
        client.charts_as_code_decoded(project, ids).await
    }
    async fn legacy(
        client: &LightdashClient,
        _project: &str,
        uuid: &str,
    ) -> Result<Self, LightdashError> {
        client.saved_chart(uuid).await
    }
    fn set_identity(&mut self, uuid: &str) {
        self.uuid = Some(uuid.to_owned());
    }
}

impl Details for DashboardDetails {
    async fn as_code(
        client: &LightdashClient,
        project: &str,
        ids: &[String],
    ) -> Result<AsCodeDecoded<Self>, LightdashError> {
        client.dashboards_as_code_decoded(project, ids).await
    }
    /// Records a view in Lightdash: only ever called for dashboards that changed.
    async fn legacy(
        client: &LightdashClient,
        _project: &str,
        uuid: &str,
    ) -> Result<Self, LightdashError> {
        client.dashboard(uuid).await
    }
    fn set_identity(&mut self, uuid: &str) {
        self.uuid = Some(uuid.to_owned());
    }
}

/// A SQL-runner chart's details: the same type as explore charts, fetched on other routes
/// (SQL charts as code, else `GET /projects/{p}/sqlRunner/saved/{uuid}`).
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub struct SqlChart(pub ChartDetails);

impl SqlChart {
    /// The details, marked as a SQL chart's whatever route they came from.
    pub fn into_details(self) -> ChartDetails {
        let mut d = self.0;
        d.sql.get_or_insert_with(String::new);
        d
    }
}

impl Details for SqlChart {
    async fn as_code(
        client: &LightdashClient,
        project: &str,
        ids: &[String],
    ) -> Result<AsCodeDecoded<Self>, LightdashError> {
        client.sql_charts_as_code_decoded(project, ids).await
    }
    async fn legacy(
        client: &LightdashClient,
        project: &str,
        uuid: &str,
    ) -> Result<Self, LightdashError> {
        client.sql_chart(project, uuid).await.map(SqlChart)
    }
    fn set_identity(&mut self, uuid: &str) {
        self.0.uuid = Some(uuid.to_owned());
    }
}
