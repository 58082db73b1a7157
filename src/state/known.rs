//! What the state knows of one project, as a cycle reads it. PURE: the lookups themselves
//! belong to whoever implements [`EntryLookup`] (the sled store during a cycle, a map in tests).
//!
//! A cycle never holds the whole index (issue #12): it keeps only the Dot ids of the project's
//! assets that are active in Dot ([`ActiveIds`], about 56 bytes each in one buffer), which is
//! all the passes over the state need (deactivations, the empty-listing fail-safe, held
//! assets), and reads any other entry one at a time, when a stage asks for it. At 50,000
//! assets the whole index held as a map cost about 25 MB; the ids cost under 3 MB.
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

/// Dot ids, sorted, in one buffer: about 56 bytes an id where a `Vec<Box<str>>` took 80.
#[derive(Debug, Default)]
pub struct ActiveIds {
    text: String,
    /// End of each id in `text`.
    ends: Vec<u32>,
}

impl ActiveIds {
    /// Adds an id. Ids added in sorted order (as the state's index yields them) need no sort.
    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len() as u32);
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.ends.len()).map(|i| self.get(i))
    }

    fn is_sorted_and_unique(&self) -> bool {
        (1..self.ends.len()).all(|i| self.get(i - 1) < self.get(i))
    }

    /// Sorted and deduplicated (a no-op for ids pushed in order).
    fn normalised(self) -> Self {
        if self.is_sorted_and_unique() {
            return self;
        }
        let mut ids: Vec<&str> = self.iter().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut out = ActiveIds::default();
        for id in ids {
            out.push(id);
        }
        out
    }
}

impl<'s> FromIterator<&'s str> for ActiveIds {
    fn from_iter<I: IntoIterator<Item = &'s str>>(iter: I) -> Self {
        let mut out = ActiveIds::default();
        for id in iter {
            out.push(id);
        }
        out
    }
}

/// The state of one project: its active ids, and a lookup for the rest.
pub struct Known<'a> {
    /// Dot ids of the project's assets active in Dot, sorted.
    active: ActiveIds,
    lookup: &'a dyn EntryLookup,
}

impl std::fmt::Debug for Known<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Known")
            .field("active", &self.active.ends.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Known<'a> {
    /// `active`: the Dot ids of the project's active assets (any order); `lookup` reads the
    /// others' entries.
    pub fn new(active: ActiveIds, lookup: &'a dyn EntryLookup) -> Self {
        Self {
            active: active.normalised(),
            lookup,
        }
    }

    /// The state held as a map (every entry belongs to the project).
    pub fn from_map(map: &'a BTreeMap<String, IndexEntry>) -> Self {
        let active = map
            .iter()
            .filter(|(_, e)| e.active)
            .map(|(id, _)| id.as_str())
            .collect();
        Self::new(active, map)
    }

    /// The entry of Dot id `id`, read now.
    pub fn get(&self, id: &str) -> Option<IndexEntry> {
        self.lookup.entry(id)
    }

    /// Dot ids of the assets active in Dot, in id order.
    pub fn active(&self) -> impl Iterator<Item = &str> + '_ {
        self.active.iter()
    }

    /// Dot ids of the active assets of one kind, in id order.
    pub fn active_of(&self, kind: AssetKind) -> impl Iterator<Item = &str> + '_ {
        self.active()
            .filter(move |id| AssetKind::split_id(id).is_some_and(|(k, _)| k == kind))
    }

    /// How many assets are active in Dot.
    pub fn active_count(&self) -> usize {
        self.active.ends.len()
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
        assert_eq!(known.active_count(), 2);
        // Inactive entries are still read: a reactivation needs them.
        assert!(known.get("lightdash-chart-c1").is_some_and(|e| !e.active));
        assert!(known.get("lightdash-chart-c9").is_none());
    }

    #[test]
    fn active_ids_are_deduplicated() {
        let map = BTreeMap::new();
        let known = Known::new(["b", "a", "b", "c"].into_iter().collect(), &map);
        assert_eq!(known.active().collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
