//! The listing stage: the three listings of one project (I/O, [`list`]) and the empty-listing
//! fail-safe ([`empty_listing_trip`], pure).
//!
//! Listings are the cheap, always-fresh view of a project: every later stage decides from
//! them (and the state) what to fetch, render and push.

use std::collections::BTreeMap;

use super::context::SyncContext;
use super::report::FailsafeTrip;
use crate::dot::types::AssetKind;
use crate::lightdash::types::{ChartSummary, DashboardSummary, SpaceSummary};
use crate::state::IndexEntry;

/// The listings of one project, as Lightdash returned them.
#[derive(Debug, Clone, Default)]
pub struct Listings {
    /// `GET /api/v1/projects/{p}/spaces`.
    pub spaces: Vec<SpaceSummary>,
    /// `GET /api/v1/projects/{p}/dashboards`.
    pub dashboards: Vec<DashboardSummary>,
    /// `GET /api/v1/projects/{p}/charts`.
    pub charts: Vec<ChartSummary>,
}

/// Lists spaces, dashboards and charts of project `p` at once. Any failure fails the whole
/// listing (the errors, one per failed call): a partial listing must never be acted on.
pub async fn list(ctx: &SyncContext, p: &str) -> Result<Listings, Vec<String>> {
    let (spaces, dashboards, charts) = tokio::join!(
        ctx.lightdash.spaces(p),
        ctx.lightdash.dashboards(p),
        ctx.lightdash.charts(p)
    );
    match (spaces, dashboards, charts) {
        (Ok(spaces), Ok(dashboards), Ok(charts)) => Ok(Listings {
            spaces,
            dashboards,
            charts,
        }),
        (s, d, c) => Err([s.err(), d.err(), c.err()]
            .into_iter()
            .flatten()
            .map(|e| e.to_string())
            .collect()),
    }
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
    entries: &BTreeMap<String, IndexEntry>,
) -> Option<EmptyListing> {
    let live = |kind: AssetKind| {
        entries
            .values()
            .filter(|e| e.active && e.kind == kind)
            .count()
    };
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
    let active = entries.values().filter(|e| e.active).count();
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
        }
    }

    #[test]
    fn complete_listings_pass() {
        let entries = state(&[(AssetKind::Chart, "c", true), (AssetKind::Space, "s", true)]);
        assert_eq!(empty_listing_trip("p", &full(), &entries), None);
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
        let trip = empty_listing_trip("p", &l, &entries).expect("trips");
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
        assert_eq!(empty_listing_trip("p", &l, &entries), None);
        assert_eq!(
            empty_listing_trip("p", &Listings::default(), &BTreeMap::new()),
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
        let trip = empty_listing_trip("p", &l, &entries).expect("trips");
        assert_eq!(trip.empty, vec!["spaces"]);
        assert_eq!(trip.trip.would_deactivate, 3);
        assert_eq!(trip.trip.active, 3);
    }
}
