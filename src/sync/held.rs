//! Assets a cycle must neither push nor deactivate because Lightdash listed them, or their
//! space, in a form we could not decode (pure).
//!
//! An undecodable listing item is not deleted content: its asset fails alone (named with
//! route, uuid and field) and Dot keeps what it has. Content placed in an undecodable space
//! cannot be scoped (its privacy is unknown), so it is held the same way, with its sub-spaces.
//! An item whose uuid cannot even be read holds every asset of its kind the listing no longer
//! shows, since any of them could be that item.

use std::collections::{BTreeSet, HashSet};

use crate::dot::types::AssetKind;
use crate::lightdash::listing::Listing;
use crate::lightdash::types::{ChartSummary, DashboardSummary, SpaceSummary};
use crate::state::Known;

/// What a project's listings hold back this cycle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Held {
    /// Dot ids neither pushed nor deactivated.
    pub ids: BTreeSet<String>,
    /// Failures to report: a Dot id (or `route#index` for an item without a readable uuid)
    /// and why.
    pub failures: Vec<(String, String)>,
}

/// Works out [`Held`] for one project from its three listings and the state's entries for it.
pub fn held(
    spaces: &Listing<SpaceSummary>,
    dashboards: &Listing<DashboardSummary>,
    charts: &Listing<ChartSummary>,
    entries: &Known<'_>,
) -> Held {
    let mut out = Held::default();
    let spaces_unknown = out.undecodable(AssetKind::Space, spaces, entries, |s| &s.uuid);
    out.undecodable(AssetKind::Dashboard, dashboards, entries, |d| &d.uuid);
    out.undecodable(AssetKind::Chart, charts, entries, |c| &c.uuid);
    let unplaced = out.below_undecodable_spaces(spaces, spaces_unknown);
    let listed: HashSet<&str> = spaces.iter().map(|s| s.uuid.as_str()).collect();
    let in_unplaced =
        |space: &str| unplaced.contains(space) || (spaces_unknown && !listed.contains(space));
    let content = dashboards
        .iter()
        .map(|d| (AssetKind::Dashboard, &d.uuid, &d.space_uuid))
        .chain(
            charts
                .iter()
                .map(|c| (AssetKind::Chart, &c.uuid, &c.space_uuid)),
        );
    for (kind, uuid, space) in content {
        if in_unplaced(space) {
            out.hold(
                kind.asset_id(uuid),
                format!("its space {space} could not be decoded from the Lightdash listing"),
            );
        }
    }
    out
}

impl Held {
    fn hold(&mut self, id: String, why: String) {
        self.failures.push((id.clone(), why));
        self.ids.insert(id);
    }

    /// Holds the undecodable items of one listing; returns whether one of them had no
    /// readable uuid (then every unlisted asset of the kind is held: any may be it).
    fn undecodable<T>(
        &mut self,
        kind: AssetKind,
        listing: &Listing<T>,
        entries: &Known<'_>,
        uuid: impl Fn(&T) -> &String,
    ) -> bool {
        let mut unknown = false;
        for item in &listing.undecodable {
            match &item.uuid {
                Some(u) => self.hold(kind.asset_id(u), item.to_string()),
                None => {
                    unknown = true;
                    self.failures
                        .push((format!("{}#{}", item.route, item.index), item.to_string()));
                }
            }
        }
        if unknown {
            let listed: HashSet<&str> = listing.iter().map(|i| uuid(i).as_str()).collect();
            for id in entries.active_of(kind) {
                if AssetKind::split_id(id).is_some_and(|(_, uuid)| !listed.contains(uuid)) {
                    self.ids.insert(id.to_owned());
                }
            }
        }
        unknown
    }

    /// Spaces whose place in the tree is unknown: the undecodable ones, then (to a fixpoint)
    /// every decoded space below one of them, which are held.
    fn below_undecodable_spaces<'a>(
        &mut self,
        spaces: &'a Listing<SpaceSummary>,
        spaces_unknown: bool,
    ) -> HashSet<&'a str> {
        let listed: HashSet<&str> = spaces.iter().map(|s| s.uuid.as_str()).collect();
        let mut unplaced: HashSet<&str> = spaces
            .undecodable
            .iter()
            .filter_map(|u| u.uuid.as_deref())
            .collect();
        loop {
            let more: Vec<&SpaceSummary> = spaces
                .iter()
                .filter(|s| !unplaced.contains(s.uuid.as_str()))
                .filter(|s| {
                    s.parent_space_uuid.as_deref().is_some_and(|p| {
                        unplaced.contains(p) || (spaces_unknown && !listed.contains(p))
                    })
                })
                .collect();
            if more.is_empty() {
                return unplaced;
            }
            for s in more {
                unplaced.insert(&s.uuid);
                self.hold(
                    AssetKind::Space.asset_id(&s.uuid),
                    "a space above it could not be decoded from the Lightdash listing".into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lightdash::listing::UndecodableItem;
    use crate::state::IndexEntry;
    use std::collections::BTreeMap;

    fn bad(route: &str, index: usize, uuid: Option<&str>) -> UndecodableItem {
        UndecodableItem {
            route: route.into(),
            index,
            uuid: uuid.map(str::to_owned),
            error: "views: invalid type".into(),
        }
    }

    fn space(uuid: &str, parent: Option<&str>) -> SpaceSummary {
        SpaceSummary {
            uuid: uuid.into(),
            parent_space_uuid: parent.map(str::to_owned),
            ..Default::default()
        }
    }

    fn chart(uuid: &str, space: &str) -> ChartSummary {
        ChartSummary {
            uuid: uuid.into(),
            space_uuid: space.into(),
            ..Default::default()
        }
    }

    fn entry(kind: AssetKind, uuid: &str) -> (String, IndexEntry) {
        (
            kind.asset_id(uuid),
            IndexEntry::possibly_in_dot(kind, "p", uuid),
        )
    }

    fn listing<T>(items: Vec<T>, undecodable: Vec<UndecodableItem>) -> Listing<T> {
        Listing {
            items,
            undecodable,
            duplicates: Vec::new(),
        }
    }

    #[test]
    fn a_bad_item_with_a_uuid_holds_only_itself() {
        let h = held(
            &listing(vec![space("s", None)], vec![]),
            &listing(vec![], vec![]),
            &listing(vec![chart("a", "s")], vec![bad("/charts", 1, Some("b"))]),
            &Known::from_map(&BTreeMap::from([
                entry(AssetKind::Chart, "a"),
                entry(AssetKind::Chart, "gone"),
            ])),
        );
        assert_eq!(h.ids, BTreeSet::from([AssetKind::Chart.asset_id("b")]));
        assert_eq!(h.failures.len(), 1);
        assert!(
            h.failures[0].1.contains("item b of /charts"),
            "{:?}",
            h.failures
        );
    }

    #[test]
    fn a_bad_item_without_a_uuid_holds_every_unlisted_asset_of_its_kind() {
        let h = held(
            &listing(vec![space("s", None)], vec![]),
            &listing(vec![], vec![]),
            &listing(vec![chart("a", "s")], vec![bad("/charts", 3, None)]),
            &Known::from_map(&BTreeMap::from([
                entry(AssetKind::Chart, "a"),
                entry(AssetKind::Chart, "maybe"),
                entry(AssetKind::Dashboard, "d"),
            ])),
        );
        assert_eq!(h.ids, BTreeSet::from([AssetKind::Chart.asset_id("maybe")]));
        assert_eq!(
            h.failures,
            vec![("/charts#3".to_owned(), bad("/charts", 3, None).to_string())]
        );
    }

    #[test]
    fn content_and_sub_spaces_of_a_bad_space_are_held() {
        let h = held(
            &listing(
                vec![
                    space("ok", None),
                    space("child", Some("bad")),
                    space("grandchild", Some("child")),
                ],
                vec![bad("/spaces", 0, Some("bad"))],
            ),
            &listing(vec![], vec![]),
            &listing(
                vec![
                    chart("in-bad", "bad"),
                    chart("in-grandchild", "grandchild"),
                    chart("fine", "ok"),
                ],
                vec![],
            ),
            &Known::from_map(&BTreeMap::new()),
        );
        let want: BTreeSet<String> = [
            AssetKind::Space.asset_id("bad"),
            AssetKind::Space.asset_id("child"),
            AssetKind::Space.asset_id("grandchild"),
            AssetKind::Chart.asset_id("in-bad"),
            AssetKind::Chart.asset_id("in-grandchild"),
        ]
        .into();
        assert_eq!(h.ids, want);
        assert_eq!(h.failures.len(), 5);
    }

    #[test]
    fn nothing_bad_holds_nothing() {
        let h = held(
            &listing(vec![space("s", None)], vec![]),
            &listing(vec![], vec![]),
            &listing(vec![chart("a", "s"), chart("b", "unseen-private")], vec![]),
            &Known::from_map(&BTreeMap::from([entry(AssetKind::Chart, "gone")])),
        );
        assert_eq!(h, Held::default());
    }
}
