//! What the state knows of one project, as a cycle reads it. PURE: the lookups themselves
//! belong to whoever implements [`EntryLookup`] (the sled store during a cycle, a map in tests).
//!
//! A cycle never holds the whole index (issue #12): it keeps only the Dot ids of the project's
//! assets that are active in Dot, each with the [`Brief`] change detection needs ([`ActiveIds`],
//! about 85 bytes each in three buffers), which is all the passes over the state need
//! (deactivations, the empty-listing fail-safe, held assets, detect), and reads any other entry
//! one at a time, when a stage asks for it. At 50,000 assets the whole index held as a map cost
//! about 25 MB; the ids and briefs cost under 5 MB.
//!
//! Lookups are live: an entry committed earlier in the cycle is read back as committed, so a
//! later stage (a dashboard slice after the chart slices, the view counts after both) sees
//! what Dot now has rather than what it had when the cycle started.

use std::collections::BTreeMap;

use super::fingerprint::Signature;
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

/// What change detection needs of an active entry (its listing signature, stale flag and
/// view count), kept beside its id in 32 bytes: detect then reads no entry of an asset whose
/// listing did not change. At 100,000 assets reading every entry cost 100,000 sled reads and
/// decodes a cycle, and kept the whole index in sled's cache (issue #12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Brief {
    signature: [u8; 16],
    views: u64,
    flags: u8,
}

const HAS_SIGNATURE: u8 = 1;
const STALE: u8 = 2;
const HAS_VIEWS: u8 = 4;

impl Brief {
    /// `signature`: `None` when the stored one is not a signature (seeded entries keep an
    /// empty one): detect then reads the whole entry.
    pub fn new(signature: Option<Signature>, stale: bool, views: Option<u64>) -> Brief {
        Brief {
            signature: signature.map(|s| *s.as_bytes()).unwrap_or_default(),
            views: views.unwrap_or_default(),
            flags: if signature.is_some() {
                HAS_SIGNATURE
            } else {
                0
            } | if stale { STALE } else { 0 }
                | if views.is_some() { HAS_VIEWS } else { 0 },
        }
    }

    /// The brief of a whole entry.
    pub fn of(entry: &IndexEntry) -> Brief {
        Brief::new(
            Signature::from_hex(&entry.signature),
            entry.stale,
            entry.views,
        )
    }

    /// A brief that knows nothing: detect reads the whole entry.
    pub const UNKNOWN: Brief = Brief {
        signature: [0; 16],
        views: 0,
        flags: 0,
    };

    /// The listing signature when the asset was pushed.
    pub fn signature(&self) -> Option<Signature> {
        (self.flags & HAS_SIGNATURE != 0).then(|| Signature::from_bytes(self.signature))
    }

    /// Whether a re-render this asset needed failed.
    pub fn stale(&self) -> bool {
        self.flags & STALE != 0
    }

    /// The view count last pushed.
    pub fn views(&self) -> Option<u64> {
        (self.flags & HAS_VIEWS != 0).then_some(self.views)
    }
}

/// Dot ids, sorted, in one buffer, each with its [`Brief`]: about 85 bytes an id.
#[derive(Debug, Default)]
pub struct ActiveIds {
    text: String,
    /// End of each id in `text`.
    ends: Vec<u32>,
    briefs: Vec<Brief>,
}

impl ActiveIds {
    /// Adds an id. Ids added in sorted order (as the state's index yields them) need no sort.
    pub fn push(&mut self, id: &str, brief: Brief) {
        self.text.push_str(id);
        self.ends.push(self.text.len() as u32);
        self.briefs.push(brief);
    }

    /// Position of `id` (the ids are sorted).
    fn position(&self, id: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.ends.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
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
        let mut ids: Vec<(&str, Brief)> = self.iter().zip(self.briefs.iter().copied()).collect();
        ids.sort_by(|a, b| a.0.cmp(b.0));
        ids.dedup_by(|a, b| a.0 == b.0);
        ids.into_iter().collect()
    }
}

impl<'s> FromIterator<(&'s str, Brief)> for ActiveIds {
    fn from_iter<I: IntoIterator<Item = (&'s str, Brief)>>(iter: I) -> Self {
        let mut out = ActiveIds::default();
        for (id, brief) in iter {
            out.push(id, brief);
        }
        out
    }
}

/// Ids with nothing known of them (tests): detect reads their whole entries.
impl<'s> FromIterator<&'s str> for ActiveIds {
    fn from_iter<I: IntoIterator<Item = &'s str>>(iter: I) -> Self {
        iter.into_iter().map(|id| (id, Brief::UNKNOWN)).collect()
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
            .map(|(id, e)| (id.as_str(), Brief::of(e)))
            .collect();
        Self::new(active, map)
    }

    /// The entry of Dot id `id`, read now.
    pub fn get(&self, id: &str) -> Option<IndexEntry> {
        self.lookup.entry(id)
    }

    /// The [`Brief`] of an asset active in Dot, as the cycle found it when it started (not
    /// live, unlike [`Self::get`]): for change detection, which runs before the cycle writes
    /// anything of this project. `None` when the asset is not active in Dot.
    pub fn brief(&self, id: &str) -> Option<Brief> {
        self.active.position(id).map(|i| self.active.briefs[i])
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
    fn briefs_answer_for_active_ids_without_a_lookup() {
        let mut map = BTreeMap::new();
        let sig = "2712e77f09cf9a6ed79cca6188d9be93";
        for (uuid, active, stale, views) in [
            ("c2", true, false, Some(5)),
            ("c1", false, false, None),
            ("c3", true, true, None),
        ] {
            let mut e = entry(AssetKind::Chart, uuid, active);
            e.signature = sig.into();
            e.stale = stale;
            e.views = views;
            map.insert(AssetKind::Chart.asset_id(uuid), e);
        }
        let known = Known::from_map(&map);
        let c2 = known.brief("lightdash-chart-c2").unwrap();
        assert_eq!(c2.signature(), Signature::from_hex(sig));
        assert_eq!((c2.stale(), c2.views()), (false, Some(5)));
        let c3 = known.brief("lightdash-chart-c3").unwrap();
        assert_eq!((c3.stale(), c3.views()), (true, None));
        // Inactive and unknown ids have no brief.
        assert_eq!(known.brief("lightdash-chart-c1"), None);
        assert_eq!(known.brief("lightdash-chart-c0"), None);
        assert_eq!(known.brief("lightdash-chart-c9"), None);
        // A signature that is not one is unknown, not a wrong one.
        assert_eq!(
            Brief::new(Signature::from_hex(""), false, None).signature(),
            None
        );
        assert_eq!(Brief::UNKNOWN.signature(), None);
    }

    #[test]
    fn briefs_follow_their_ids_when_sorted() {
        let map = BTreeMap::new();
        let b = |v| Brief::new(None, false, Some(v));
        let known = Known::new(
            [("b", b(2)), ("a", b(1)), ("c", b(3))]
                .into_iter()
                .collect(),
            &map,
        );
        assert_eq!(known.active().collect::<Vec<_>>(), ["a", "b", "c"]);
        for (id, v) in [("a", 1), ("b", 2), ("c", 3)] {
            assert_eq!(known.brief(id).and_then(|b| b.views()), Some(v));
        }
    }

    #[test]
    fn active_ids_are_deduplicated() {
        let map = BTreeMap::new();
        let known = Known::new(["b", "a", "b", "c"].into_iter().collect(), &map);
        assert_eq!(known.active().collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
