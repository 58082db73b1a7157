//! The listing stage: the three listings of one project (I/O, [`list`]) and the empty-listing
//! fail-safe ([`empty_listing_trip`], pure).
//!
//! Items are decoded one by one (`crate::lightdash::listing`): an item Lightdash lists in a
//! form we cannot decode is left out of the listings and [`Listings::held`] (with what
//! depends on it): it fails alone and is never taken for deleted (`super::held`).
//!
//! Listings are the cheap, always-fresh view of a project: every later stage decides from
//! them (and the state) what to fetch, render and push.

use std::collections::BTreeMap;

use super::context::SyncContext;
use super::held::{Held, held};
use super::report::FailsafeTrip;
use crate::dot::types::AssetKind;
use crate::lightdash::types::{
    ChartSummary, DashboardSummary, DeletedContent, SpaceSummary, SqlChartRef, TileType,
    VerifiedContent,
};
use crate::state::Known;
use crate::state::StoredDetails;

/// The listings of one project, as Lightdash returned them.
#[derive(Debug, Clone, Default)]
pub struct Listings {
    /// `GET /api/v1/projects/{p}/spaces`.
    pub spaces: Vec<SpaceSummary>,
    /// `GET /api/v1/projects/{p}/dashboards`.
    pub dashboards: Vec<DashboardSummary>,
    /// `GET /api/v1/projects/{p}/charts` (newer servers include SQL-runner charts).
    pub charts: Vec<ChartSummary>,
    /// The project's trash (`GET /api/v2/content/deleted`); `None` when this server or token
    /// has none, or it could not be read: then no disappearance counts as confirmed.
    pub trash: Option<Vec<DeletedContent>>,
    /// Whether the verification list was read: then the listings' `verification` is
    /// authoritative, and stored details must not resurrect a verification since removed.
    pub verification_listed: bool,
    /// Older servers: SQL-runner charts found through the `sql_chart` tiles of the dashboards
    /// the state knows, by chart uuid, with the dashboards showing them.
    pub sql_tiles: BTreeMap<String, Vec<String>>,
    /// Assets held back because they (or their space) could not be decoded: neither pushed
    /// nor deactivated this cycle, each reported as failed.
    pub held: Held,
}

/// Lists spaces, dashboards and charts of project `p` at once. Any failure fails the whole
/// listing (the errors, one per failed call): a partial listing must never be acted on.
///
/// Where the server has them, the trash and the verification list are read too; they only
/// add confidence (a confirmed deletion, a verification the listings do not carry), so their
/// failure never fails the listing.
///
/// An undecodable item is not a failure of the listing: it is held (see [`Listings::held`]).
pub async fn list(
    ctx: &SyncContext,
    p: &str,
    entries: &Known<'_>,
) -> Result<Listings, Vec<String>> {
    let (spaces, dashboards, charts, trash, verified) = tokio::join!(
        ctx.lightdash.spaces(p),
        ctx.lightdash.dashboards(p),
        ctx.lightdash.charts(p),
        ctx.lightdash.deleted_content(p),
        ctx.lightdash.verified_content(p),
    );
    let trash = trash.unwrap_or_else(|e| {
        tracing::warn!(project = p, error = %e, "could not read the trash; disappearances are not confirmed this cycle");
        None
    });
    let verified = verified.unwrap_or_else(|e| {
        tracing::warn!(project = p, error = %e, "could not read the verification list; verification comes from the listings and details");
        None
    });
    match (spaces, dashboards, charts) {
        (Ok(spaces), Ok(dashboards), Ok(charts)) => {
            let held = held(&spaces, &dashboards, &charts, entries);
            // Almost always nothing is held: no Dot id is formatted per item then.
            let keep = |kind: AssetKind, uuid: &str| {
                held.ids.is_empty() || !held.ids.contains(&kind.asset_id(uuid))
            };
            let mut listings = Listings {
                spaces: spaces
                    .into_iter()
                    .filter(|s| keep(AssetKind::Space, &s.uuid))
                    .collect(),
                dashboards: dashboards
                    .into_iter()
                    .filter(|d| keep(AssetKind::Dashboard, &d.uuid))
                    .collect(),
                charts: charts
                    .into_iter()
                    .filter(|c| keep(AssetKind::Chart, &c.uuid))
                    .collect(),
                trash,
                verification_listed: false,
                sql_tiles: BTreeMap::new(),
                held,
            };
            if let Some(list) = verified {
                apply_verification(&mut listings, &list);
                listings.verification_listed = true;
            }
            Ok(listings)
        }
        (s, d, c) => Err([s.err(), d.err(), c.err()]
            .into_iter()
            .flatten()
            .map(|e| e.to_string())
            .collect()),
    }
}

/// Older servers leave SQL-runner charts out of `/charts` and show them only as `sql_chart`
/// tiles. Finds them through the tiles of the dashboards the state holds details of (only
/// dashboards whose `tileTypes` include `sql_chart`) and adds them to the charts listing,
/// so they are assets like any other chart: `GET /sqlRunner/saved/{uuid}` for API payloads,
/// `.../saved/slug/{slug}` for as-code ones. A 404 means the chart is gone and a 403 that the
/// token may not see it; any other failure makes the listing partial, so it fails like one
/// (no deactivations this cycle).
///
/// A dashboard first seen this cycle is read from the state next cycle: its SQL charts appear
/// then, and the dashboard re-renders with them ([`Listings::sql_tiles`]).
pub async fn discover_sql_charts(
    ctx: &SyncContext,
    p: &str,
    listings: &mut Listings,
) -> Result<(), Vec<String>> {
    if listings.charts.iter().any(ChartSummary::is_sql) {
        return Ok(());
    }
    let mut refs: BTreeMap<SqlChartRef, Vec<String>> = BTreeMap::new();
    for d in &listings.dashboards {
        if !d.tile_types.contains(&TileType::SqlChart) {
            continue;
        }
        let id = AssetKind::Dashboard.asset_id(&d.uuid);
        let stored = ctx.store.body(&id).ok().flatten().and_then(|b| b.details);
        if let Some(StoredDetails::Dashboard(details)) = stored {
            for r in details.sql_chart_refs() {
                refs.entry(r).or_default().push(d.uuid.clone());
            }
        }
    }
    let mut errors = Vec::new();
    for (r, dashboards) in refs {
        let answer = match &r {
            SqlChartRef::Uuid(u) => ctx.lightdash.sql_chart(p, u).await,
            SqlChartRef::Slug(s) => ctx.lightdash.sql_chart_by_slug(p, s).await,
        };
        let details = match answer {
            Ok(d) => d,
            // Gone (404), not visible to this token (403: the chart sits in a space it cannot
            // see, so it is out of scope anyway), or a server without the route (HTML).
            Err(e) if e.means_route_unavailable() => continue,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        let Some(summary) = sql_chart_summary(&details) else {
            continue;
        };
        if !listings.charts.iter().any(|c| c.uuid == summary.uuid) {
            listings.sql_tiles.insert(summary.uuid.clone(), dashboards);
            listings.charts.push(summary);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The listing entry a SQL chart would have on a newer server, from its `SqlChart` payload.
fn sql_chart_summary(d: &crate::lightdash::types::ChartDetails) -> Option<ChartSummary> {
    let uuid = d.saved_sql_uuid.clone().or(d.uuid.clone())?;
    let space = d.space.as_ref()?;
    Some(ChartSummary {
        uuid,
        name: d.name.clone(),
        description: d.description.as_deref().map(Into::into),
        slug: d.slug.as_deref().map(Into::into),
        space_uuid: space.uuid.clone(),
        updated_at: d.last_updated_at.clone().or(d.updated_at.clone()),
        views: d.views.unwrap_or(0),
        chart_kind: d.chart_kind.clone(),
        source: Some(crate::lightdash::types::ChartSource::Sql),
        ..Default::default()
    })
}

/// Makes the verification list authoritative for the listings: each chart and dashboard
/// carries the verification the list has for it, or none. PURE.
pub fn apply_verification(listings: &mut Listings, list: &[VerifiedContent]) {
    let by_uuid: std::collections::HashMap<&str, &VerifiedContent> =
        list.iter().map(|v| (v.content_uuid.as_str(), v)).collect();
    let verification = |uuid: &str| {
        by_uuid.get(uuid).map(|v| {
            Box::new(crate::lightdash::types::Verification {
                verified_by: v.verified_by.clone(),
                verified_at: v.verified_at.clone(),
            })
        })
    };
    for d in &mut listings.dashboards {
        d.verification = verification(&d.uuid);
    }
    for c in &mut listings.charts {
        c.verification = verification(&c.uuid);
    }
}

/// Dot ids whose disappearance the trash confirms. PURE.
pub fn confirmed_deleted(listings: &Listings) -> std::collections::BTreeSet<String> {
    listings
        .trash
        .iter()
        .flatten()
        .filter_map(|t| {
            let kind = match t.content_type.as_deref() {
                Some("chart") => AssetKind::Chart,
                Some("dashboard") => AssetKind::Dashboard,
                Some("space") => AssetKind::Space,
                _ => return None,
            };
            Some(kind.asset_id(&t.uuid))
        })
        .collect()
}

/// An empty listing of a kind the state knows live assets of: what came back empty, and the
/// fail-safe trip to report.
#[derive(Debug, Clone, PartialEq)]
pub struct EmptyListing {
    /// Listings that came back empty (`spaces`, `dashboards`, `charts`).
    pub empty: Vec<&'static str>,
    /// The trip: how many assets acting on it would deactivate.
    pub trip: FailsafeTrip,
}

/// Checks the empty-listing fail-safe. PURE.
///
/// An empty listing of a kind the state knows live assets of is a permission or proxy
/// glitch far more often than a deletion of everything, and acting on it would deactivate
/// the whole kind, below the fail-safe's fraction (a few dashboards) or around it (an empty
/// space listing puts all content in unseen spaces, which count as private). So it trips
/// the fail-safe: the project is skipped (nothing pushed or deactivated) and the cycle fails,
/// unless mass deactivation is allowed for this run (the caller checks that).
pub fn empty_listing_trip(
    project: &str,
    listings: &Listings,
    entries: &Known<'_>,
) -> Option<EmptyListing> {
    let live = |kind: AssetKind| entries.active_of(kind).count();
    let (mut empty, mut would_deactivate) = (Vec::new(), 0);
    for (is_empty, kind, name) in [
        (listings.spaces.is_empty(), AssetKind::Space, "spaces"),
        (
            listings.dashboards.is_empty(),
            AssetKind::Dashboard,
            "dashboards",
        ),
        (listings.charts.is_empty(), AssetKind::Chart, "charts"),
    ] {
        if is_empty && live(kind) > 0 {
            empty.push(name);
            would_deactivate += live(kind);
        }
    }
    if empty.is_empty() {
        return None;
    }
    let active = entries.active_count();
    // Without spaces every dashboard and chart sits in an unseen (private) space.
    if listings.spaces.is_empty() {
        would_deactivate = active;
    }
    Some(EmptyListing {
        empty,
        trip: FailsafeTrip {
            project: project.to_owned(),
            would_deactivate,
            active,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::IndexEntry;
    use crate::sync::testing::{chart, dashboard, entry, space};

    fn state(kinds: &[(AssetKind, &str, bool)]) -> BTreeMap<String, IndexEntry> {
        kinds
            .iter()
            .map(|(k, uuid, active)| {
                let mut e = entry(*k, uuid);
                e.active = *active;
                (k.asset_id(uuid), e)
            })
            .collect()
    }

    fn full() -> Listings {
        Listings {
            spaces: vec![space("s", None)],
            dashboards: vec![dashboard("d", "s")],
            charts: vec![chart("c", "s")],
            trash: None,
            verification_listed: false,
            sql_tiles: BTreeMap::new(),
            held: Default::default(),
        }
    }

    #[test]
    fn complete_listings_pass() {
        let entries = state(&[(AssetKind::Chart, "c", true), (AssetKind::Space, "s", true)]);
        assert_eq!(
            empty_listing_trip("p", &full(), &Known::from_map(&entries)),
            None
        );
    }

    #[test]
    fn an_empty_kind_the_state_knows_live_assets_of_trips() {
        let entries = state(&[
            (AssetKind::Dashboard, "d1", true),
            (AssetKind::Dashboard, "d2", true),
            (AssetKind::Chart, "c", true),
        ]);
        let mut l = full();
        l.dashboards.clear();
        let trip = empty_listing_trip("p", &l, &Known::from_map(&entries)).expect("trips");
        assert_eq!(trip.empty, vec!["dashboards"]);
        assert_eq!(
            trip.trip,
            FailsafeTrip {
                project: "p".into(),
                would_deactivate: 2,
                active: 3
            }
        );
    }

    #[test]
    fn an_empty_kind_with_only_inactive_or_no_assets_passes() {
        let entries = state(&[
            (AssetKind::Dashboard, "d1", false),
            (AssetKind::Chart, "c", true),
        ]);
        let mut l = full();
        l.dashboards.clear();
        assert_eq!(
            empty_listing_trip("p", &l, &Known::from_map(&entries)),
            None
        );
        assert_eq!(
            empty_listing_trip(
                "p",
                &Listings::default(),
                &Known::from_map(&BTreeMap::new())
            ),
            None
        );
    }

    #[test]
    fn no_spaces_would_deactivate_everything_live() {
        let entries = state(&[
            (AssetKind::Space, "s", true),
            (AssetKind::Dashboard, "d", true),
            (AssetKind::Chart, "c", true),
            (AssetKind::Chart, "old", false),
        ]);
        let mut l = full();
        l.spaces.clear();
        let trip = empty_listing_trip("p", &l, &Known::from_map(&entries)).expect("trips");
        assert_eq!(trip.empty, vec!["spaces"]);
        assert_eq!(trip.trip.would_deactivate, 3);
        assert_eq!(trip.trip.active, 3);
    }
}
