//! The render stage: details into Dot assets, with what each commit will need. PURE (the
//! renderers are in [`crate::render`]; this module decides what to render from what).
//!
//! It renders one slice at a time: the caller passes a slice's details and nothing else is
//! kept. An asset whose inputs are incomplete (its explore failed to fetch, or a chart on its
//! tiles lacks one) is not rendered but failed, so a partial description never replaces a
//! good one.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::detect::Detected;
use super::fetch::ExploreSet;
use super::listing::Listings;
use super::push::CommitInfo;
use super::scope::SpaceScopes;
use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::types::{
    ChartDetails, ChartSummary, DashboardDetails, DashboardSummary, SpaceSummary,
};
use crate::render::{self, ChartIndex, ProjectView};
use crate::state::{Known, StoredDetails};

/// Rendered assets and what committing each will need.
#[derive(Debug, Default)]
pub struct Rendered {
    /// The assets, in render order.
    pub assets: Vec<ExternalAsset>,
    /// Commit info by Dot id.
    pub commit_info: HashMap<String, CommitInfo>,
}

impl Rendered {
    fn push(&mut self, asset: ExternalAsset, info: CommitInfo) {
        self.commit_info.insert(asset.id.clone(), info);
        self.assets.push(asset);
    }

    /// Moves the details each rendered asset was made from into its commit info (moved, not
    /// copied).
    pub fn take_details(
        &mut self,
        mut charts: HashMap<String, ChartDetails>,
        mut dashboards: HashMap<String, DashboardDetails>,
    ) {
        for info in self.commit_info.values_mut() {
            info.details = match info.kind {
                AssetKind::Chart => charts
                    .remove(&info.uuid)
                    .map(|d| StoredDetails::Chart(Box::new(d))),
                AssetKind::Dashboard => dashboards
                    .remove(&info.uuid)
                    .map(|d| StoredDetails::Dashboard(Box::new(d))),
                AssetKind::Space => None,
            };
        }
    }
}

/// The chart uuids on the tiles of each dashboard rendered this cycle (in tile order), every
/// uuid in one buffer: about 40 bytes a tile, where a map of `Vec<String>` took about 80
/// (a deep cycle at 100,000 assets holds some 150,000 tiles; issue #12).
#[derive(Debug, Default)]
pub struct Tiles<'a> {
    text: String,
    /// End of each chart uuid in `text`.
    ends: Vec<u32>,
    /// Each dashboard's range in `ends`.
    by_dashboard: HashMap<&'a str, std::ops::Range<u32>>,
}

impl<'a> Tiles<'a> {
    /// Records the chart uuids on `dashboard`'s tiles (replacing any recorded before).
    pub fn insert<S: AsRef<str>>(
        &mut self,
        dashboard: &'a str,
        charts: impl IntoIterator<Item = S>,
    ) {
        let start = self.ends.len() as u32;
        for c in charts {
            self.text.push_str(c.as_ref());
            self.ends.push(self.text.len() as u32);
        }
        self.by_dashboard
            .insert(dashboard, start..self.ends.len() as u32);
    }

    fn chart(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// The chart uuids on `dashboard`'s tiles; `None` when it was not rendered this cycle.
    pub fn get(&self, dashboard: &str) -> Option<impl Iterator<Item = &str> + '_> {
        let range = self.by_dashboard.get(dashboard)?.clone();
        Some(range.map(|i| self.chart(i)))
    }

    /// Every chart uuid on the tiles of every dashboard (a chart on several, several times).
    pub fn charts(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.ends.len() as u32).map(|i| self.chart(i))
    }
}

impl<'a, 's> FromIterator<(&'a str, Vec<&'s str>)> for Tiles<'a> {
    fn from_iter<I: IntoIterator<Item = (&'a str, Vec<&'s str>)>>(iter: I) -> Self {
        let mut out = Tiles::default();
        for (dashboard, charts) in iter {
            out.insert(dashboard, charts);
        }
        out
    }
}

/// Which dashboards show which charts: (chart uuid, dashboard uuid) pairs, sorted, in one
/// buffer of 32 bytes a pair. A map of sets cost about 300 bytes a chart, 24 MB in a deep
/// cycle at 100,000 assets (issue #12).
#[derive(Debug, Default)]
pub struct ShownOn<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> ShownOn<'a> {
    /// The dashboards showing chart `uuid`, in uuid order.
    pub fn dashboards<'s>(&'s self, uuid: &'s str) -> impl Iterator<Item = &'a str> + 's {
        let start = self.pairs.partition_point(|(c, _)| *c < uuid);
        self.pairs[start..]
            .iter()
            .take_while(move |(c, _)| *c == uuid)
            .map(|(_, d)| *d)
    }
}

/// The dashboards showing each chart of `charts`: by their current tiles (stored tiles for
/// dashboards not rendered this cycle), and by the chart's own `dashboardUuid`. Only
/// in-scope dashboards count. Reads the state entry of every in-scope dashboard not
/// rendered this cycle, so only when some chart is rendered.
pub fn shown_on<'a>(
    charts: &BTreeSet<&'a str>,
    detected: &Detected<'a>,
    listings: &'a Listings,
    tiles: &Tiles<'_>,
    entries: &Known<'_>,
) -> ShownOn<'a> {
    let mut pairs: Vec<(&'a str, &'a str)> = Vec::new();
    if charts.is_empty() {
        return ShownOn { pairs };
    }
    let mut in_scope: HashSet<&str> = HashSet::new();
    for d in &detected.dashboards_in {
        let dashboard = d.uuid.as_str();
        in_scope.insert(dashboard);
        let mut add = |c: &str| {
            if let Some(c) = charts.get(c) {
                pairs.push((*c, dashboard));
            }
        };
        match tiles.get(&d.uuid) {
            Some(t) => t.for_each(&mut add),
            None => {
                if let Some(e) = entries.get(&AssetKind::Dashboard.asset_id(&d.uuid)) {
                    e.charts.iter().for_each(|c| add(c));
                }
            }
        }
    }
    for c in &listings.charts {
        if let Some(d) = c.dashboard_uuid.as_deref().filter(|d| in_scope.contains(d))
            && let Some(chart) = charts.get(c.uuid.as_str())
        {
            pairs.push((*chart, d));
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs.shrink_to_fit();
    ShownOn { pairs }
}

/// What rendering a slice of charts reads besides the slice.
pub struct ChartInputs<'a> {
    /// The project as renderers see it.
    pub view: &'a ProjectView<'a>,
    /// Listed charts in in-scope spaces, by uuid.
    pub listed: &'a HashMap<&'a str, &'a ChartSummary>,
    /// In-scope dashboards by uuid.
    pub dashboards: &'a HashMap<&'a str, &'a DashboardSummary>,
    /// Dashboards showing each chart.
    pub shown_on: &'a ShownOn<'a>,
    /// Scope, change and listing signatures.
    pub detected: &'a Detected<'a>,
    /// Explores fetched so far.
    pub explores: &'a ExploreSet,
    /// Whether the verification list was read (then listings are authoritative for it).
    pub verification_listed: bool,
}

/// The listing entry to render with: its own verification, or, when no verification list
/// was read and the listing has none, the details' (as code and detail GETs carry it; stored
/// details may be older than an unverification, which the list would show).
fn with_verification<'s, S: Clone + HasVerification>(
    summary: &'s S,
    details: Option<&crate::lightdash::types::Verification>,
    listed: bool,
) -> Cow<'s, S> {
    if listed || summary.verification().is_some() || details.is_none() {
        return Cow::Borrowed(summary);
    }
    let mut s = summary.clone();
    s.set_verification(details.cloned());
    Cow::Owned(s)
}

/// Listing entries that carry a verification.
trait HasVerification {
    fn verification(&self) -> Option<&crate::lightdash::types::Verification>;
    fn set_verification(&mut self, v: Option<crate::lightdash::types::Verification>);
}

impl HasVerification for ChartSummary {
    fn verification(&self) -> Option<&crate::lightdash::types::Verification> {
        self.verification.as_deref()
    }
    fn set_verification(&mut self, v: Option<crate::lightdash::types::Verification>) {
        self.verification = v.map(Box::new);
    }
}

impl HasVerification for DashboardSummary {
    fn verification(&self) -> Option<&crate::lightdash::types::Verification> {
        self.verification.as_deref()
    }
    fn set_verification(&mut self, v: Option<crate::lightdash::types::Verification>) {
        self.verification = v.map(Box::new);
    }
}

/// Renders these charts from `details`; those that cannot be rendered now go to `failed`.
pub fn render_charts(
    input: &ChartInputs<'_>,
    uuids: &[&str],
    details: &HashMap<String, ChartDetails>,
    failed: &mut BTreeMap<String, String>,
) -> Rendered {
    let mut out = Rendered::default();
    for uuid in uuids {
        let id = AssetKind::Chart.asset_id(uuid);
        if failed.contains_key(&id) {
            continue;
        }
        let (Some(summary), Some(details)) = (input.listed.get(uuid), details.get(*uuid)) else {
            continue;
        };
        if let Some(e) = input.explores.failure(details) {
            failed.insert(id, e);
            continue;
        }
        let on: Vec<&DashboardSummary> = input
            .shown_on
            .dashboards(uuid)
            .filter_map(|d| input.dashboards.get(d).copied())
            .collect();
        let summary = with_verification(
            *summary,
            details.verification.as_ref(),
            input.verification_listed,
        );
        let asset =
            render::render_chart(input.view, &summary, details, &input.explores.explores, &on);
        let info = CommitInfo {
            kind: AssetKind::Chart,
            uuid: (*uuid).to_owned(),
            signature: input
                .detected
                .signature(AssetKind::Chart, uuid)
                .unwrap_or_default(),
            updated_at: summary.updated_at.clone(),
            space: Some(summary.space_uuid.clone()),
            charts: Vec::new(),
            shows: None,
            details: None,
        };
        out.push(asset, info);
    }
    out
}

/// What rendering a slice of dashboards reads besides the slice.
pub struct DashboardInputs<'a> {
    /// The project as renderers see it.
    pub view: &'a ProjectView<'a>,
    /// Chart uuids on each dashboard's tiles.
    pub tiles: &'a Tiles<'a>,
    /// Scope, change and listing signatures.
    pub detected: &'a Detected<'a>,
    /// Explores fetched so far.
    pub explores: &'a ExploreSet,
    /// Whether the verification list was read (then listings are authoritative for it).
    pub verification_listed: bool,
}

/// Renders these dashboards from their details and their tiles' charts (`charts` resolves
/// tiles; `chart_details` are the slice's chart details); failures go to `failed`.
pub fn render_dashboards(
    input: &DashboardInputs<'_>,
    dashboards: &[&DashboardSummary],
    details: &HashMap<String, DashboardDetails>,
    charts: &ChartIndex<'_>,
    chart_details: &HashMap<String, ChartDetails>,
    failed: &mut BTreeMap<String, String>,
) -> Rendered {
    let mut out = Rendered::default();
    for d in dashboards {
        let id = AssetKind::Dashboard.asset_id(&d.uuid);
        if failed.contains_key(&id) {
            continue;
        }
        let Some(details) = details.get(&d.uuid) else {
            continue;
        };
        let tiles: Vec<String> = input
            .tiles
            .get(&d.uuid)
            .map(|t| t.map(str::to_owned).collect())
            .unwrap_or_default();
        if let Some(e) = tiles
            .iter()
            .filter_map(|u| chart_details.get(u))
            .find_map(|c| input.explores.failure(c))
        {
            failed.insert(id, e);
            continue;
        }
        let summary =
            with_verification(*d, details.verification.as_ref(), input.verification_listed);
        let asset = render::render_dashboard(
            input.view,
            &summary,
            details,
            charts,
            &input.explores.explores,
        );
        let info = CommitInfo {
            kind: AssetKind::Dashboard,
            uuid: d.uuid.clone(),
            signature: input
                .detected
                .signature(AssetKind::Dashboard, &d.uuid)
                .unwrap_or_default(),
            updated_at: d.updated_at.clone(),
            space: Some(d.space_uuid.clone()),
            charts: tiles,
            shows: None,
            details: None,
        };
        out.push(asset, info);
    }
    out
}

/// The in-scope content of every space, gathered in one pass over the listings (asking per
/// space would be quadratic in the number of spaces).
#[derive(Debug, Default)]
pub struct SpaceContents<'a> {
    dashboards: HashMap<&'a str, Vec<&'a DashboardSummary>>,
    charts: HashMap<&'a str, Vec<&'a ChartSummary>>,
    children: HashMap<&'a str, Vec<&'a SpaceSummary>>,
}

impl<'a> SpaceContents<'a> {
    /// Groups in-scope dashboards, charts and child spaces by the space holding them.
    pub fn new(detected: &Detected<'a>, spaces: &'a [SpaceSummary], scopes: &SpaceScopes) -> Self {
        let mut out = SpaceContents::default();
        for d in &detected.dashboards_in {
            out.dashboards
                .entry(d.space_uuid.as_str())
                .or_default()
                .push(d);
        }
        for c in &detected.charts_in {
            out.charts.entry(c.space_uuid.as_str()).or_default().push(c);
        }
        out.children = children_in_scope(spaces, scopes);
        out
    }

    fn of(
        &self,
        space: &str,
    ) -> (
        &[&'a DashboardSummary],
        &[&'a ChartSummary],
        &[&'a SpaceSummary],
    ) {
        (
            self.dashboards.get(space).map(Vec::as_slice).unwrap_or(&[]),
            self.charts.get(space).map(Vec::as_slice).unwrap_or(&[]),
            self.children.get(space).map(Vec::as_slice).unwrap_or(&[]),
        )
    }
}

/// Digest of everything a space asset is rendered from: the project, the space's listing and
/// path, and the listings of its in-scope dashboards, charts and child spaces. View counts are
/// left out: they are never rendered (see [`crate::render`]) and move daily. PURE.
pub fn space_shows(
    view: &ProjectView<'_>,
    space: &SpaceSummary,
    contents: &SpaceContents<'_>,
) -> String {
    let (dashboards, charts, children) = contents.of(&space.uuid);
    // Parts gathered into one buffer and hashed at once: the same digest as hashing them one
    // by one (BLAKE3 is a streaming hash), without the cost of a call per field.
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut part = |bytes: &[u8]| {
        buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        buf.extend_from_slice(bytes);
    };
    part(format!("v{}", render::RENDER_FORMAT_VERSION).as_bytes());
    part(view.project.project_uuid.as_bytes());
    part(view.project.name.as_bytes());
    part(view.options.site_url.as_bytes());
    part(&view.options.max_description_chars.to_le_bytes());
    part(view.spaces.path_string(&space.uuid).as_bytes());
    part(&json(space));
    // Exactly the fields `render::space` shows of its dashboards and charts (hashing their
    // whole listings meant a clone and a JSON text of every item, every cycle): when that
    // renderer starts showing another field, it belongs here too.
    let mut text = |t: Option<&str>| match t {
        None => part(b"\0none"),
        Some(t) => part(t.as_bytes()),
    };
    for d in dashboards {
        text(Some(&d.uuid));
        text(Some(&d.name));
        text(d.description.as_deref());
    }
    for c in charts {
        text(Some(&c.uuid));
        text(Some(&c.name));
        text(c.description.as_deref());
        text(c.chart_kind.as_ref().map(|k| k.as_str()));
        text(c.dashboard_name.as_deref());
    }
    for s in children {
        part(&json(s));
    }
    blake3::hash(&buf).to_hex()[..32].to_owned()
}

/// A listing entry as bytes to hash (the listing types serialise infallibly).
fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Renders the in-scope spaces that need it: all in full cycles; otherwise those whose
/// listing changed or whose digest ([`space_shows`]) differs from the one committed.
pub fn render_spaces(
    view: &ProjectView<'_>,
    spaces: &[SpaceSummary],
    detected: &Detected<'_>,
    contents: &SpaceContents<'_>,
    entries: &Known<'_>,
    full: bool,
) -> Rendered {
    let mut out = Rendered::default();
    for s in spaces {
        let id = AssetKind::Space.asset_id(&s.uuid);
        if !detected.is_listed_in_scope(AssetKind::Space, &s.uuid) {
            continue;
        }
        let shows = space_shows(view, s, contents);
        let same = entries
            .get(&id)
            .is_some_and(|e| e.shows.as_deref() == Some(shows.as_str()));
        if !full && !detected.is_changed(AssetKind::Space, &s.uuid) && same {
            continue;
        }
        let (dashboards, charts, children) = contents.of(&s.uuid);
        let asset = render::render_space(view, s, dashboards, charts, children);
        let info = CommitInfo {
            kind: AssetKind::Space,
            uuid: s.uuid.clone(),
            signature: detected
                .signature(AssetKind::Space, &s.uuid)
                .unwrap_or_default(),
            updated_at: None,
            space: s.parent_space_uuid.clone(),
            charts: Vec::new(),
            shows: Some(shows),
            details: None,
        };
        out.push(asset, info);
    }
    out
}

/// In-scope child spaces of every space, by name then uuid, in one pass over the listing.
pub fn children_in_scope<'l>(
    spaces: &'l [SpaceSummary],
    scopes: &SpaceScopes,
) -> HashMap<&'l str, Vec<&'l SpaceSummary>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: HashMap<&str, Vec<&SpaceSummary>> = HashMap::new();
    for s in spaces {
        // The space tree keeps one space per uuid; so does this.
        if !seen.insert(s.uuid.as_str()) || !scopes.is_in(&s.uuid) {
            continue;
        }
        if let Some(parent) = s.parent_space_uuid.as_deref() {
            out.entry(parent).or_default().push(s);
        }
    }
    for c in out.values_mut() {
        c.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SpaceFilter;
    use crate::lightdash::types::{Project, ProjectType};
    use crate::render::{RenderOptions, SpaceTree};
    use crate::sync::detect;
    use crate::sync::scope::ScopeRules;
    use crate::sync::testing::{chart, dashboard, entry, space};

    fn rules_for<'a>(
        filter: &'a SpaceFilter,
        kinds: &'a std::collections::HashSet<AssetKind>,
    ) -> ScopeRules<'a> {
        ScopeRules {
            include_private: false,
            spaces: filter,
            kinds,
        }
    }

    #[test]
    fn children_are_the_in_scope_direct_children_by_name() {
        let mut private = space("x", Some("root"));
        private.is_private = true;
        let mut b = space("b", Some("root"));
        b.name = "Beta".into();
        let mut a = space("a", Some("root"));
        a.name = "Alpha".into();
        let spaces = vec![space("root", None), b, a, private, space("deep", Some("a"))];
        let kinds = AssetKind::ALL.into_iter().collect();
        let filter = SpaceFilter::default();
        let rules = rules_for(&filter, &kinds);
        let scopes = SpaceScopes::new(&SpaceTree::new(&spaces), &spaces, &rules);
        let children = children_in_scope(&spaces, &scopes);
        let names =
            |k: &str| -> Vec<&str> { children[k].iter().map(|s| s.uuid.as_str()).collect() };
        assert_eq!(names("root"), ["a", "b"]);
        assert_eq!(names("a"), ["deep"]);
        assert_eq!(children.len(), 2);
    }

    /// Digests of spaces `s` and `t` for these listings.
    fn digests(listings: &Listings) -> (String, String) {
        let kinds = AssetKind::ALL.into_iter().collect();
        let filter = SpaceFilter::default();
        let rules = rules_for(&filter, &kinds);
        let tree = SpaceTree::new(&listings.spaces);
        let project = Project {
            project_uuid: "p".into(),
            name: "P".into(),
            project_type: ProjectType::Default,
        };
        let options = RenderOptions {
            site_url: "https://ld".into(),
            max_description_chars: 20_000,
        };
        let view = ProjectView {
            project: &project,
            spaces: &tree,
            options: &options,
        };
        let scopes = SpaceScopes::new(&tree, &listings.spaces, &rules);
        let none = BTreeMap::new();
        let detected = detect::detect(listings, &view, &scopes, &rules, &Known::from_map(&none));
        let contents = SpaceContents::new(&detected, &listings.spaces, &scopes);
        (
            space_shows(&view, &listings.spaces[0], &contents),
            space_shows(&view, &listings.spaces[1], &contents),
        )
    }

    fn two_spaces() -> Listings {
        Listings {
            spaces: vec![space("s", None), space("t", None)],
            dashboards: vec![dashboard("d", "s")],
            charts: vec![chart("c", "s"), chart("e", "t")],
            ..Default::default()
        }
    }

    #[test]
    fn a_space_digest_moves_with_what_it_shows_only() {
        let base = digests(&two_spaces());
        // Views are never rendered.
        let mut l = two_spaces();
        l.charts[0].views = 99;
        l.dashboards[0].views = 7;
        assert_eq!(digests(&l), base);
        // A chart renamed in `s` moves `s` only.
        let mut l = two_spaces();
        l.charts[0].name = "Renamed".into();
        let (s, t) = digests(&l);
        assert_ne!(s, base.0);
        assert_eq!(t, base.1);
        // A chart moving from `t` to `s` moves both.
        let mut l = two_spaces();
        l.charts[1].space_uuid = "s".into();
        let (s, t) = digests(&l);
        assert_ne!(s, base.0);
        assert_ne!(t, base.1);
        // Every field the space shows of its content moves it; what it does not show does
        // not (the item's own asset carries that).
        let shown: [fn(&mut Listings); 5] = [
            |l| l.charts[0].description = Some("New words".into()),
            |l| l.charts[0].chart_kind = Some(crate::lightdash::types::ChartKind::Table),
            |l| l.charts[0].dashboard_name = Some("Inside".into()),
            |l| l.dashboards[0].name = "Renamed".into(),
            |l| l.dashboards[0].description = Some("New words".into()),
        ];
        for change in shown {
            let mut l = two_spaces();
            change(&mut l);
            assert_ne!(digests(&l).0, base.0);
        }
        let mut l = two_spaces();
        l.charts[0].updated_at = Some("2030-01-01T00:00:00.000Z".into());
        l.dashboards[0].slug = Some("moved-slug".into());
        assert_eq!(digests(&l), base);
        // A new child space moves its parent.
        let mut l = two_spaces();
        l.spaces.push(space("child", Some("t")));
        let (s, t) = digests(&l);
        assert_eq!(s, base.0);
        assert_ne!(t, base.1);
    }

    #[test]
    fn charts_are_shown_on_current_or_stored_tiles_and_their_own_dashboard() {
        let mut inside = chart("inside", "s");
        inside.dashboard_uuid = Some("d2".into());
        let listings = Listings {
            spaces: vec![space("s", None)],
            dashboards: vec![dashboard("d1", "s"), dashboard("d2", "s")],
            charts: vec![chart("c1", "s"), chart("c2", "s"), inside],
            ..Default::default()
        };
        let kinds = AssetKind::ALL.into_iter().collect();
        let filter = SpaceFilter::default();
        let rules = rules_for(&filter, &kinds);
        let tree = SpaceTree::new(&listings.spaces);
        let project = Project {
            project_uuid: "p".into(),
            name: "P".into(),
            project_type: ProjectType::Default,
        };
        let options = RenderOptions {
            site_url: String::new(),
            max_description_chars: 100,
        };
        let view = ProjectView {
            project: &project,
            spaces: &tree,
            options: &options,
        };
        let scopes = SpaceScopes::new(&tree, &listings.spaces, &rules);
        let mut entries = BTreeMap::new();
        let mut stored = entry(AssetKind::Dashboard, "d2");
        stored.charts = vec!["c2".into()];
        entries.insert("lightdash-dashboard-d2".to_string(), stored);
        let known = Known::from_map(&entries);
        let detected = detect::detect(&listings, &view, &scopes, &rules, &known);
        // d1 was fetched this cycle: its current tiles count; d2 was not: its stored ones.
        let tiles: Tiles = [("d1", vec!["c1", "c2"])].into_iter().collect();
        let wanted = BTreeSet::from(["c1", "c2", "inside"]);
        let on = shown_on(&wanted, &detected, &listings, &tiles, &known);
        let list = |c: &str| on.dashboards(c).collect::<Vec<_>>();
        assert_eq!(list("c1"), ["d1"]);
        assert_eq!(list("c2"), ["d1", "d2"]);
        assert_eq!(list("inside"), ["d2"]);
        assert_eq!(list("c0"), Vec::<&str>::new());
        assert_eq!(list("c9"), Vec::<&str>::new());
    }
}
