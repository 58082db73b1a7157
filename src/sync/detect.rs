//! The detect and propagate stages: what changed, from the listings and the state alone, and
//! what else that makes worth rendering again. PURE.
//!
//! An item is *changed* when its listing signature differs from the state's (or it is new,
//! inactive or marked stale). Lightdash bumps `updatedAt` only for versioned edits, and
//! editing a chart does not bump the dashboards showing it, so changes propagate along
//! dependencies: a changed chart re-renders the dashboards showing it (by their stored tiles
//! and by the chart's own `dashboardUuid`), and a changed dashboard re-renders the charts on
//! its old and new tiles (their "shown on" lists).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::plan::DeactivateReason;
use super::scope::{Scope, ScopeRules, SpaceScopes};
use super::{FastMap, FastSet};
use crate::dot::types::AssetKind;
use crate::lightdash::types::{ChartSummary, DashboardSummary};
use crate::render::ProjectView;
use crate::state::fingerprint::{
    Signature, chart_signature, dashboard_signature, render_settings_key, space_signature,
};
use crate::state::{IndexEntry, Known};

use super::listing::Listings;

/// A listed item: its kind and its uuid, borrowed from the listings (a Dot id is formatted
/// only where one is needed).
pub type Item<'l> = (AssetKind, &'l str);

/// What the listings say against the state, for one project.
///
/// Sized for organisations of 100,000 assets: per listed item it holds a 16-byte signature
/// keyed by the uuid the listings already hold, never a formatted Dot id.
#[derive(Debug, Default)]
pub struct Detected<'l> {
    /// Listing signature of every in-scope listed item.
    signatures: FastMap<Item<'l>, Signature>,
    /// In-scope Dot ids of assets that are not in the listings (held back: undecodable, or in
    /// an undecodable space): present, never deactivated as gone, never rendered.
    held: BTreeSet<String>,
    /// Listed ids out of scope now, and why.
    pub out_of_scope: BTreeMap<String, DeactivateReason>,
    /// In-scope items whose signature differs from the state (or that are new or stale).
    changed: FastSet<Item<'l>>,
    /// Unchanged items whose listed view count differs from the one last pushed: the only
    /// ones a view-count push may be due for (the others need no state read to tell).
    views_moved: FastSet<Item<'l>>,
    /// In-scope dashboards, in listing order.
    pub dashboards_in: Vec<&'l DashboardSummary>,
    /// In-scope charts, in listing order.
    pub charts_in: Vec<&'l ChartSummary>,
}

impl<'l> Detected<'l> {
    /// Empty, with room for every listed item: growing these tables by doubling left each old
    /// table behind as freed memory the process kept (several MB at 100,000 assets).
    fn sized_for(listings: &Listings) -> Self {
        let listed = listings.spaces.len() + listings.dashboards.len() + listings.charts.len();
        Detected {
            signatures: FastMap::with_capacity_and_hasher(listed, Default::default()),
            dashboards_in: Vec::with_capacity(listings.dashboards.len()),
            charts_in: Vec::with_capacity(listings.charts.len()),
            ..Detected::default()
        }
    }

    /// Whether the chart with this uuid changed.
    pub fn chart_changed(&self, uuid: &str) -> bool {
        self.changed.contains(&(AssetKind::Chart, uuid))
    }

    /// Whether this in-scope item changed.
    pub fn is_changed(&self, kind: AssetKind, uuid: &str) -> bool {
        self.changed.contains(&(kind, uuid))
    }

    /// Whether the item with this Dot id changed.
    pub fn id_changed(&self, id: &str) -> bool {
        AssetKind::split_id(id).is_some_and(|item| self.changed.contains(&item))
    }

    /// How many in-scope items changed.
    pub fn changed_count(&self) -> usize {
        self.changed.len()
    }

    /// Whether some item of this kind changed.
    pub fn any_changed(&self, kind: AssetKind) -> bool {
        self.changed.iter().any(|(k, _)| *k == kind)
    }

    /// The Dot ids of the changed items, sorted.
    pub fn changed_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.changed.iter().map(|(k, u)| k.asset_id(u)).collect();
        ids.sort_unstable();
        ids
    }

    /// Whether this unchanged item's listed view count moved.
    pub fn views_moved(&self, kind: AssetKind, uuid: &str) -> bool {
        self.views_moved.contains(&(kind, uuid))
    }

    /// Whether this listed item is in scope.
    pub fn is_listed_in_scope(&self, kind: AssetKind, uuid: &str) -> bool {
        self.signatures.contains_key(&(kind, uuid))
    }

    /// Whether the Dot id is in scope: listed in scope, or held.
    pub fn is_in_scope(&self, id: &str) -> bool {
        AssetKind::split_id(id).is_some_and(|item| self.signatures.contains_key(&item))
            || self.held.contains(id)
    }

    /// How many in-scope assets of this kind there are (listed or held).
    pub fn in_scope_count(&self, kind: AssetKind) -> usize {
        let listed = self.signatures.keys().filter(|(k, _)| *k == kind).count();
        let held = self
            .held
            .iter()
            .filter(|id| AssetKind::split_id(id).is_some_and(|(k, _)| k == kind))
            .count();
        listed + held
    }

    /// Counts these Dot ids (held assets) as in scope.
    pub fn hold(&mut self, ids: impl IntoIterator<Item = String>) {
        self.held.extend(ids);
    }

    /// The listing signature of an in-scope listed item, as the state keeps it.
    pub fn signature(&self, kind: AssetKind, uuid: &str) -> Option<String> {
        self.signatures.get(&(kind, uuid)).map(Signature::to_hex)
    }

    /// Every in-scope listed item's Dot id and signature (as the state keeps it), any order.
    pub fn signatures(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.signatures
            .iter()
            .map(|((k, u), sig)| (k.asset_id(u), sig.to_hex()))
    }

    /// `views`: the listing's view count (spaces have none).
    fn classify(
        &mut self,
        entries: &Known<'_>,
        key: &mut String,
        (kind, uuid, views): (AssetKind, &'l str, Option<u64>),
        scope: Scope,
        signature: Signature,
    ) -> bool {
        match scope {
            Scope::In => {
                // One buffer for every item's Dot id: this runs for every listed asset.
                kind.write_id(uuid, key);
                let (changed, stored_views) = changed_and_views(entries, key, &signature);
                if changed {
                    self.changed.insert((kind, uuid));
                } else if stored_views.is_some() && views.is_some() && stored_views != views {
                    self.views_moved.insert((kind, uuid));
                }
                self.signatures.insert((kind, uuid), signature);
                true
            }
            Scope::Out(reason) => {
                self.out_of_scope.insert(kind.asset_id(uuid), reason);
                false
            }
        }
    }
}

/// [`Detected`] answers for plans which ids are in scope.
impl super::plan::InScope for Detected<'_> {
    fn contains(&self, id: &str) -> bool {
        self.is_in_scope(id)
    }
}

/// Whether the asset of Dot id `id` with this listing signature needs rendering again, and
/// the view count last pushed. Answered from its [`crate::state::known::Brief`] (no entry is
/// read for an asset whose listing did not move); from the whole entry only when the brief
/// holds no signature.
fn changed_and_views(entries: &Known<'_>, id: &str, signature: &Signature) -> (bool, Option<u64>) {
    let Some(brief) = entries.brief(id) else {
        // Not active in Dot (new, or deactivated): pushed (again).
        return (true, None);
    };
    match brief.signature() {
        Some(stored) => (brief.stale() || stored != *signature, brief.views()),
        None => {
            let entry = entries.get(id);
            let views = entry.as_ref().and_then(|e| e.views);
            (is_changed(entry.as_ref(), signature), views)
        }
    }
}

/// Whether an in-scope item with this listing signature needs rendering again.
pub fn is_changed(entry: Option<&IndexEntry>, signature: &Signature) -> bool {
    entry.is_none_or(|e| !e.active || e.stale || !signature.matches_hex(&e.signature))
}

/// Whether an item's details must be fetched rather than taken from the state: always in
/// deep and resync cycles, and when the state has none that match `updatedAt`.
pub fn needs_fetch(full: bool, entry: Option<&IndexEntry>, updated_at: &Option<String>) -> bool {
    full || entry.is_none_or(|e| !e.active || &e.updated_at != updated_at)
}

/// Scope, signature and change of every listed item.
pub fn detect<'l>(
    listings: &'l Listings,
    view: &ProjectView<'_>,
    scopes: &SpaceScopes,
    rules: &ScopeRules<'_>,
    entries: &Known<'_>,
) -> Detected<'l> {
    let tree = view.spaces;
    let mut out = Detected::sized_for(listings);
    // Signatures are bound to the render settings: an asset rendered under other settings
    // (link base, cap, kinds, format) counts as changed and is re-rendered from stored details.
    let kinds: Vec<AssetKind> = rules.kinds.iter().copied().collect();
    let settings = render_settings_key(view.options, &kinds);
    let mut key = String::new();
    let bind = |sig: Signature| sig.bound(&settings);
    for s in &listings.spaces {
        let sig = bind(space_signature(
            s,
            &tree.path_string(&s.uuid),
            scopes.is_restricted(&s.uuid),
        ));
        let scope = rules.of_kind(AssetKind::Space, scopes.of(&s.uuid));
        out.classify(
            entries,
            &mut key,
            (AssetKind::Space, &s.uuid, None),
            scope,
            sig,
        );
    }
    // Thousands of items share a few hundred spaces: each space's folder path and privacy
    // are worked out once.
    let places: FastMap<&str, (String, bool)> = listings
        .spaces
        .iter()
        .map(|s| {
            let space = s.uuid.as_str();
            (space, (view.folder(space), scopes.is_restricted(space)))
        })
        .collect();
    let place = |space: &str| match places.get(space) {
        Some((folder, private)) => (std::borrow::Cow::Borrowed(folder.as_str()), *private),
        None => (
            std::borrow::Cow::Owned(view.folder(space)),
            scopes.is_restricted(space),
        ),
    };
    for d in &listings.dashboards {
        let (folder, private) = place(&d.space_uuid);
        let sig = bind(dashboard_signature(d, &folder, private));
        let space = scopes.of_item(&d.space_uuid, d.inherits_from_org_or_project);
        let scope = rules.of_kind(AssetKind::Dashboard, space);
        if out.classify(
            entries,
            &mut key,
            (AssetKind::Dashboard, &d.uuid, Some(d.views)),
            scope,
            sig,
        ) {
            out.dashboards_in.push(d);
        }
    }
    for c in &listings.charts {
        let (folder, private) = place(&c.space_uuid);
        let sig = bind(chart_signature(c, &folder, private));
        let space = scopes.of_item(&c.space_uuid, c.inherits_from_org_or_project);
        let scope = rules.of_kind(AssetKind::Chart, space);
        if out.classify(
            entries,
            &mut key,
            (AssetKind::Chart, &c.uuid, Some(c.views)),
            scope,
            sig,
        ) {
            out.charts_in.push(c);
        }
    }
    out
}

/// In-scope dashboards showing a changed chart (by their stored tiles, or by a chart saved
/// inside them), by uuid: they must be rendered again even when their own listing did not
/// change, and must stay due until they are (see [`super::slices::mark_dependents`]).
pub fn showing_changed_charts<'l>(
    detected: &Detected<'l>,
    listings: &'l Listings,
    entries: &Known<'_>,
) -> HashSet<&'l str> {
    // Nothing to propagate, and no entry worth reading (each is a state read).
    if !detected.any_changed(AssetKind::Chart) {
        return HashSet::new();
    }
    let holding_changed_chart: HashSet<&str> = listings
        .charts
        .iter()
        .filter(|c| detected.chart_changed(&c.uuid))
        .filter_map(|c| c.dashboard_uuid.as_deref())
        .collect();
    detected
        .dashboards_in
        .iter()
        .filter(|d| {
            holding_changed_chart.contains(d.uuid.as_str())
                || entries
                    .get(&AssetKind::Dashboard.asset_id(&d.uuid))
                    .is_some_and(|e| e.charts.iter().any(|c| detected.chart_changed(c)))
                // Older servers: SQL charts found through this dashboard's tiles.
                || listings.sql_tiles.iter().any(|(c, ds)| {
                    detected.chart_changed(c) && ds.iter().any(|x| x == &d.uuid)
                })
        })
        .map(|d| d.uuid.as_str())
        .collect()
}

/// Dashboards to render: every in-scope one in full cycles; otherwise the changed ones and
/// those showing a changed chart (`showing`, from [`showing_changed_charts`]). None when
/// dashboards are not synced: their tiles are not worth a detail fetch (a view in Lightdash,
/// on old servers).
pub fn dashboards_to_render<'l>(
    detected: &Detected<'l>,
    showing: &HashSet<&str>,
    full: bool,
    rules: &ScopeRules<'_>,
) -> Vec<&'l DashboardSummary> {
    if !rules.syncs(AssetKind::Dashboard) {
        return Vec::new();
    }
    detected
        .dashboards_in
        .iter()
        .copied()
        .filter(|d| {
            full || detected.is_changed(AssetKind::Dashboard, &d.uuid)
                || showing.contains(d.uuid.as_str())
        })
        .collect()
}

/// Charts to render: every in-scope one in full cycles, else the changed ones; plus the charts
/// on the old and new tiles of every changed dashboard (their "shown on" moved). `tiles` are
/// the chart uuids of each rendered dashboard's current tiles.
pub fn charts_to_render<'l>(
    detected: &Detected<'l>,
    dash_render: &[&DashboardSummary],
    tiles: &super::rendering::Tiles<'_>,
    entries: &Known<'_>,
    full: bool,
    rules: &ScopeRules<'_>,
) -> BTreeSet<&'l str> {
    if !rules.syncs(AssetKind::Chart) {
        return BTreeSet::new();
    }
    // Uuids borrowed from the listings: in a full cycle this set holds every chart.
    let mut out: BTreeSet<&'l str> = detected
        .charts_in
        .iter()
        .filter(|c| full || detected.chart_changed(&c.uuid))
        .map(|c| c.uuid.as_str())
        .collect();
    // In-scope listed charts (the only ones rendered), built when a changed dashboard needs it.
    let mut listed: Option<FastSet<&'l str>> = None;
    for d in dash_render {
        if !detected.is_changed(AssetKind::Dashboard, &d.uuid) {
            continue;
        }
        let id = AssetKind::Dashboard.asset_id(&d.uuid);
        let old = entries.get(&id).map(|e| e.charts).unwrap_or_default();
        let listed = listed
            .get_or_insert_with(|| detected.charts_in.iter().map(|c| c.uuid.as_str()).collect());
        let new = tiles.get(&d.uuid).into_iter().flatten();
        out.extend(
            old.iter()
                .map(String::as_str)
                .chain(new)
                .filter_map(|u| listed.get(u).copied()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SpaceFilter;
    use crate::lightdash::types::Project;
    use crate::render::{RenderOptions, SpaceTree};
    use crate::sync::testing::{chart, dashboard, entry, space};

    struct Fixture {
        listings: Listings,
        tree: SpaceTree,
        project: Project,
        options: RenderOptions,
        filter: SpaceFilter,
        kinds: HashSet<AssetKind>,
    }

    impl Fixture {
        fn new() -> Self {
            let mut private = space("private", None);
            private.is_private = true;
            let mut saved_inside = chart("inside", "s");
            saved_inside.dashboard_uuid = Some("d2".into());
            let listings = Listings {
                spaces: vec![space("s", None), private],
                dashboards: vec![
                    dashboard("d1", "s"),
                    dashboard("d2", "s"),
                    dashboard("dp", "private"),
                ],
                charts: vec![
                    chart("c1", "s"),
                    chart("c2", "s"),
                    saved_inside,
                    chart("cp", "private"),
                ],
                trash: None,
                verification_listed: false,
                sql_tiles: BTreeMap::new(),
                held: Default::default(),
            };
            Fixture {
                tree: SpaceTree::new(&listings.spaces),
                listings,
                project: Project {
                    project_uuid: "p".into(),
                    name: "P".into(),
                    project_type: crate::lightdash::types::ProjectType::Default,
                },
                options: RenderOptions {
                    site_url: "https://ld".into(),
                    max_description_chars: 20_000,
                },
                filter: SpaceFilter::default(),
                kinds: AssetKind::ALL.into_iter().collect(),
            }
        }

        fn rules(&self) -> ScopeRules<'_> {
            ScopeRules {
                include_private: false,
                spaces: &self.filter,
                kinds: &self.kinds,
            }
        }

        fn detect(&self, entries: &BTreeMap<String, IndexEntry>) -> Detected<'_> {
            let view = ProjectView {
                project: &self.project,
                spaces: &self.tree,
                options: &self.options,
            };
            let scopes = SpaceScopes::new(&self.tree, &self.listings.spaces, &self.rules());
            detect(
                &self.listings,
                &view,
                &scopes,
                &self.rules(),
                &Known::from_map(entries),
            )
        }

        /// A state that matches the listings exactly.
        fn synced(&self) -> BTreeMap<String, IndexEntry> {
            let d = self.detect(&BTreeMap::new());
            d.signatures()
                .map(|(id, sig)| {
                    let (kind, uuid) = AssetKind::split_id(&id).unwrap();
                    let mut e = entry(kind, uuid);
                    e.signature = sig;
                    (id, e)
                })
                .collect()
        }
    }

    fn ids<'a>(it: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
        let mut v: Vec<&str> = it.into_iter().map(String::as_str).collect();
        v.sort();
        v
    }

    #[test]
    fn new_items_are_changed_and_private_ones_out_of_scope() {
        let f = Fixture::new();
        let d = f.detect(&BTreeMap::new());
        assert_eq!(d.changed_count(), d.signatures().count());
        assert_eq!(
            ids(d.out_of_scope.keys()),
            [
                "lightdash-chart-cp",
                "lightdash-dashboard-dp",
                "lightdash-space-private"
            ]
        );
        assert!(
            d.out_of_scope
                .values()
                .all(|r| *r == DeactivateReason::Private)
        );
        assert_eq!(d.charts_in.len(), 3);
        assert_eq!(d.dashboards_in.len(), 2);
    }

    #[test]
    fn an_unchanged_listing_changes_nothing_and_a_rename_changes_one() {
        let mut f = Fixture::new();
        let entries = f.synced();
        assert_eq!(f.detect(&entries).changed_count(), 0);
        f.listings.charts[0].name = "Renamed".into();
        assert_eq!(f.detect(&entries).changed_ids(), ["lightdash-chart-c1"]);
    }

    #[test]
    fn stale_and_inactive_entries_count_as_changed() {
        let f = Fixture::new();
        let mut entries = f.synced();
        entries.get_mut("lightdash-chart-c1").unwrap().stale = true;
        entries.get_mut("lightdash-dashboard-d1").unwrap().active = false;
        assert_eq!(
            f.detect(&entries).changed_ids(),
            ["lightdash-chart-c1", "lightdash-dashboard-d1"]
        );
    }

    #[test]
    fn renaming_a_space_changes_everything_in_it() {
        let mut f = Fixture::new();
        let entries = f.synced();
        f.listings.spaces[0].name = "Sales".into();
        f.tree = SpaceTree::new(&f.listings.spaces);
        assert_eq!(f.detect(&entries).changed_count(), 6);
    }

    #[test]
    fn a_kind_not_synced_is_out_of_scope_as_excluded() {
        let mut f = Fixture::new();
        f.kinds.remove(&AssetKind::Chart);
        let d = f.detect(&BTreeMap::new());
        assert_eq!(
            d.out_of_scope.get("lightdash-chart-c1"),
            Some(&DeactivateReason::Excluded)
        );
        assert!(d.charts_in.is_empty());
    }

    #[test]
    fn a_changed_chart_propagates_to_the_dashboards_showing_it() {
        let mut f = Fixture::new();
        let mut entries = f.synced();
        entries.get_mut("lightdash-dashboard-d1").unwrap().charts = vec!["c1".into()];
        f.listings.charts[0].name = "Renamed".into();
        let d = f.detect(&entries);
        let showing = showing_changed_charts(&d, &f.listings, &Known::from_map(&entries));
        assert_eq!(showing, HashSet::from(["d1"]));
        let render = dashboards_to_render(&d, &showing, false, &f.rules());
        assert_eq!(
            render.iter().map(|d| d.uuid.as_str()).collect::<Vec<_>>(),
            ["d1"]
        );
        // A chart saved inside a dashboard propagates through its `dashboardUuid`.
        let mut f = Fixture::new();
        f.listings.charts[2].name = "Renamed".into();
        let d = f.detect(&entries);
        let showing = showing_changed_charts(&d, &f.listings, &Known::from_map(&entries));
        let render = dashboards_to_render(&d, &showing, false, &f.rules());
        assert_eq!(
            render.iter().map(|d| d.uuid.as_str()).collect::<Vec<_>>(),
            ["d2"]
        );
        // Full cycles render every in-scope dashboard; none when dashboards are not synced.
        let d = f.detect(&entries);
        assert_eq!(
            dashboards_to_render(&d, &showing, true, &f.rules()).len(),
            2
        );
        f.kinds.remove(&AssetKind::Dashboard);
        let d = f.detect(&entries);
        assert!(dashboards_to_render(&d, &HashSet::new(), true, &f.rules()).is_empty());
    }

    #[test]
    fn a_changed_dashboard_propagates_to_its_old_and_new_tiles() {
        let mut f = Fixture::new();
        let mut entries = f.synced();
        entries.get_mut("lightdash-dashboard-d1").unwrap().charts = vec!["c1".into()];
        f.listings.dashboards[0].name = "Renamed".into();
        let d = f.detect(&entries);
        let showing = showing_changed_charts(&d, &f.listings, &Known::from_map(&entries));
        assert!(showing.is_empty());
        let render = dashboards_to_render(&d, &showing, false, &f.rules());
        // The new tiles show c2 and a private chart, which is never rendered.
        let tiles: super::super::rendering::Tiles =
            [("d1", vec!["c2", "cp"])].into_iter().collect();
        let charts = charts_to_render(
            &d,
            &render,
            &tiles,
            &Known::from_map(&entries),
            false,
            &f.rules(),
        );
        assert_eq!(charts.into_iter().collect::<Vec<_>>(), ["c1", "c2"]);
    }

    #[test]
    fn details_are_fetched_when_updated_at_moved_or_in_full_cycles() {
        let e = entry(AssetKind::Chart, "c");
        let same = e.updated_at.clone();
        assert!(!needs_fetch(false, Some(&e), &same));
        assert!(needs_fetch(true, Some(&e), &same));
        assert!(needs_fetch(false, Some(&e), &Some("later".into())));
        assert!(needs_fetch(false, None, &same));
    }
}
