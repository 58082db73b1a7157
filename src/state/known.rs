//! What the state knows of one project, as a cycle reads it. PURE: the lookups themselves
//! belong to whoever implements [`EntryLookup`] (the sled store during a cycle, a map in tests).
//!
//! A cycle never holds the whole index (issue #12): it keeps only the Dot ids of the project's
//! assets that are active in Dot (about 80 bytes each), which is all the passes over the state
//! need (deactivations, the empty-listing fail-safe, held assets), and reads any other entry one
//! at a time, when a stage asks for it. At 50,000 assets the whole index held as a map cost
//! about 25 MB; the ids cost 4 MB.
//!
//! Lookups are live: an entry committed earlier in the cycle is read back as committed, so a
//! later stage (a dashboard slice after the chart slices, the view counts after both) sees
//! what Dot now has rather than what it had when the cycle started.

use std::collections::BTreeMap;

use super::store::IndexEntry;
use crate::dot::types::AssetKind;

/// One entry at a time, by Dot id.
pub trait EntryLookup: Send + Sync {
    /// The entry of Dot id `id` if it belongs to this project. `None` when the state has none,
    /// or it cannot be read: the asset then counts as new, which costs a render and a push,
    /// never a deactivation (deactivations come from [`Known::active`]).
    fn entry(&self, id: &str) -> Option<IndexEntry>;
}

/// A map of entries is a lookup (tests, and the entries of a deleted project).
impl EntryLookup for BTreeMap<String, IndexEntry> {
    fn entry(&self, id: &str) -> Option<IndexEntry> {
        self.get(id).cloned()
    }
}

/// The state of one project: its active ids, and a lookup for the rest.
pub struct Known<'a> {
    /// Dot ids of the project's assets active in Dot, sorted.
    active: Vec<Box<str>>,
    lookup: &'a dyn EntryLookup,
}

impl std::fmt::Debug for Known<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Known")
            .field("active", &self.active.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Known<'a> {
    /// `active`: the Dot ids of the project's active assets (any order); `lookup` reads the
    /// others' entries.
    pub fn new(mut active: Vec<Box<str>>, lookup: &'a dyn EntryLookup) -> Self {
        active.sort_unstable();
        active.dedup();
        Self { active, lookup }
    }

    /// The state held as a map (every entry belongs to the project).
    pub fn from_map(map: &'a BTreeMap<String, IndexEntry>) -> Self {
        let active = map
            .iter()
            .filter(|(_, e)| e.active)
            .map(|(id, _)| id.as_str().into())
            .collect();
        Self::new(active, map)
    }

    /// The entry of Dot id `id`, read now.
    pub fn get(&self, id: &str) -> Option<IndexEntry> {
        self.lookup.entry(id)
    }

    /// Dot ids of the assets active in Dot, in id order.
    pub fn active(&self) -> impl Iterator<Item = &str> + '_ {
        self.active.iter().map(|id| &**id)
    }

    /// Dot ids of the active assets of one kind, in id order.
    pub fn active_of(&self, kind: AssetKind) -> impl Iterator<Item = &str> + '_ {
        self.active()
            .filter(move |id| AssetKind::split_id(id).is_some_and(|(k, _)| k == kind))
    }

    /// Whether Dot has this id active.
    pub fn is_active(&self, id: &str) -> bool {
        self.active.binary_search_by(|a| (**a).cmp(id)).is_ok()
    }

    /// How many assets are active in Dot.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: AssetKind, uuid: &str, active: bool) -> IndexEntry {
        IndexEntry {
            kind,
            project: "p".into(),
            uuid: uuid.into(),
            fingerprint: String::new(),
            signature: String::new(),
            updated_at: None,
            space: None,
            charts: Vec::new(),
            active,
            pushed_at: 0,
            views: None,
            views_pushed_at: 0,
            stale: false,
            shows: None,
        }
    }

    #[test]
    fn a_map_gives_its_active_ids_sorted_and_every_entry() {
        let mut map = BTreeMap::new();
        for (kind, uuid, active) in [
            (AssetKind::Chart, "c2", true),
            (AssetKind::Chart, "c1", false),
            (AssetKind::Dashboard, "d1", true),
        ] {
            map.insert(kind.asset_id(uuid), entry(kind, uuid, active));
        }
        let known = Known::from_map(&map);
        assert_eq!(
            known.active().collect::<Vec<_>>(),
            ["lightdash-chart-c2", "lightdash-dashboard-d1"]
        );
        assert_eq!(
            known.active_of(AssetKind::Chart).collect::<Vec<_>>(),
            ["lightdash-chart-c2"]
        );
        assert!(known.is_active("lightdash-dashboard-d1"));
        assert!(!known.is_active("lightdash-chart-c1"));
        assert_eq!(known.active_count(), 2);
        // Inactive entries are still read: a reactivation needs them.
        assert!(known.get("lightdash-chart-c1").is_some_and(|e| !e.active));
        assert!(known.get("lightdash-chart-c9").is_none());
    }

    #[test]
    fn active_ids_are_deduplicated() {
        let map = BTreeMap::new();
        let known = Known::new(vec!["b".into(), "a".into(), "b".into()], &map);
        assert_eq!(known.active().collect::<Vec<_>>(), ["a", "b"]);
    }
}
