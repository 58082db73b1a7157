//! Planning: what to push for one project, decided from the rendered assets, the listings
//! and the state. PURE: no I/O, no clock (the time comes in), deterministic order.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::report::{CycleKind, FailsafeTrip};
use crate::dot::types::{AssetKind, ExternalAsset};
use crate::state::fingerprint::fingerprint;
use crate::state::{IndexEntry, Known};

/// Deactivations a fail-safe never blocks below this count, whatever the share.
pub const FAILSAFE_MIN_COUNT: usize = 10;

/// Why an asset is pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsertReason {
    /// Dot has never seen it.
    New,
    /// Its rendered content differs from what Dot has.
    Changed,
    /// It was deactivated and is back.
    Reactivated,
    /// A resync pushes everything.
    Resync,
    /// Only its view count moved, and the refresh interval has passed.
    ViewCount,
}

/// Why an asset is deactivated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeactivateReason {
    /// Gone from a complete listing (subject to the fail-safe).
    Gone,
    /// Now in a private space (never blocked by the fail-safe).
    Private,
    /// Now excluded by `include_spaces`/`exclude_spaces`/`kinds` (never blocked).
    Excluded,
    /// Gone, and Lightdash confirms it: in the project's trash, or the whole project was
    /// deleted (never blocked: bulk clean-ups such as Autopilot's are real deletions).
    Deleted,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Push this asset (active).
    Upsert {
        /// Why.
        reason: UpsertReason,
        /// The asset.
        asset: ExternalAsset,
    },
    /// Push the stored asset again with a new view count (content unchanged).
    ViewCount {
        /// Dot id.
        id: String,
        /// The new count.
        views: u64,
    },
    /// Push the asset with `active: false`.
    Deactivate {
        /// Dot id.
        id: String,
        /// Why.
        reason: DeactivateReason,
    },
}

impl Action {
    /// The Dot id it concerns.
    pub fn id(&self) -> &str {
        match self {
            Action::Upsert { asset, .. } => &asset.id,
            Action::ViewCount { id, .. } | Action::Deactivate { id, .. } => id,
        }
    }

    /// Spaces, then dashboards, then charts, each by id.
    pub fn sort_key(&self) -> (usize, &str) {
        let rank = AssetKind::split_id(self.id())
            .map(|(k, _)| AssetKind::ALL.iter().position(|x| *x == k).unwrap_or(3))
            .unwrap_or(3);
        (rank, self.id())
    }
}

/// Which Dot ids are in scope: a set of ids in tests, the detect stage's answer in a cycle
/// (which holds no formatted id per asset).
pub trait InScope: std::fmt::Debug {
    /// Whether `id` is in scope.
    fn contains(&self, id: &str) -> bool;
}

impl InScope for BTreeSet<String> {
    fn contains(&self, id: &str) -> bool {
        BTreeSet::contains(self, id)
    }
}

/// Everything [`plan`] needs about one project.
#[derive(Debug)]
pub struct PlanInput<'a> {
    /// Kind of cycle.
    pub kind: CycleKind,
    /// Now, in unix seconds.
    pub now: i64,
    /// `sync.view_count_refresh` in seconds.
    pub view_count_refresh_secs: i64,
    /// `sync.max_deactivate_fraction`.
    pub max_deactivate_fraction: f64,
    /// `--allow-mass-deactivation`.
    pub allow_mass_deactivation: bool,
    /// Project uuid.
    pub project: &'a str,
    /// The state's entries for this project, by id.
    pub entries: &'a Known<'a>,
    /// Assets rendered this cycle (moved into the plan's actions).
    pub rendered: Vec<ExternalAsset>,
    /// In-scope assets not rendered this cycle, with their current listing view counts.
    pub unrendered_views: &'a BTreeMap<String, u64>,
    /// Assets the listings still contain but that are out of scope now, and why.
    pub out_of_scope: &'a BTreeMap<String, DeactivateReason>,
    /// Every in-scope id (rendered or not, including ones whose render failed).
    pub in_scope: &'a (dyn InScope + Sync),
    /// Ids whose disappearance Lightdash confirms (the trash, a deleted project). They are
    /// deactivated whatever the fail-safe says; only unexplained disappearances count for it.
    pub confirmed_deleted: &'a BTreeSet<String>,
}

/// The decision for one project.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Pushes, spaces first, then dashboards, then charts, each by id.
    pub actions: Vec<Action>,
    /// In-scope assets identical to what Dot has: rendered ones whose fingerprint matches,
    /// and unrendered ones (listing unchanged) that need no view-count refresh either.
    pub unchanged: Vec<String>,
    /// Set when deactivations were withheld by the fail-safe.
    pub failsafe: Option<FailsafeTrip>,
}

/// A view count is refreshed once `sync.view_count_refresh` has passed since the last push,
/// or when that push is dated in the future: the wall clock was stepped back, and waiting
/// for it to catch up would stop refreshes for as long as it was stepped (field report).
/// The refresh records the new clock, so the interval counts from there.
fn view_refresh_due(entry: &IndexEntry, views: u64, input: &PlanInput<'_>) -> bool {
    let elapsed = input.now - entry.views_pushed_at;
    entry.views != Some(views) && (elapsed >= input.view_count_refresh_secs || elapsed < 0)
}

/// Decides what to push for one project: [`plan_rendered`], [`plan_view_counts`] and
/// [`plan_deactivations`] together, in one deterministic order.
pub fn plan(mut input: PlanInput<'_>) -> Plan {
    let rendered = std::mem::take(&mut input.rendered);
    let (mut out, _) = plan_rendered(&input, rendered);
    let (view_counts, unchanged) = plan_view_counts(&input, input.unrendered_views);
    out.actions.extend(view_counts);
    out.unchanged.extend(unchanged);
    let (deactivations, failsafe) = plan_deactivations(&input);
    out.actions.extend(deactivations);
    out.failsafe = failsafe;
    out.actions.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out.unchanged.sort();
    out
}

/// Upserts for rendered assets that differ from what Dot has (or for every one in a resync);
/// the others are listed as unchanged, and handed back. Works on any slice of a project's
/// rendered assets (`input.rendered` is not read).
pub fn plan_rendered(
    input: &PlanInput<'_>,
    rendered: Vec<ExternalAsset>,
) -> (Plan, Vec<ExternalAsset>) {
    let mut out = Plan::default();
    let mut same = Vec::new();
    for asset in rendered {
        let entry = input.entries.get(&asset.id);
        let reason = match &entry {
            _ if input.kind == CycleKind::Resync => Some(UpsertReason::Resync),
            None => Some(UpsertReason::New),
            Some(e) if !e.active => Some(UpsertReason::Reactivated),
            Some(e) if e.fingerprint != fingerprint(&asset) => Some(UpsertReason::Changed),
            Some(e)
                if view_refresh_due(e, asset.view_count.unwrap_or(0), input)
                    && asset.view_count.is_some() =>
            {
                Some(UpsertReason::ViewCount)
            }
            Some(_) => None,
        };
        match reason {
            Some(reason) => out.actions.push(Action::Upsert { reason, asset }),
            None => {
                out.unchanged.push(asset.id.clone());
                same.push(asset);
            }
        }
    }
    (out, same)
}

/// View-count pushes for in-scope assets not rendered this cycle whose listed view count
/// moved and whose refresh interval has passed; and the ids of the other active ones, which
/// are unchanged too (their listing did not move, so neither did what Dot has), so the cycle
/// summary's "unchanged" counts every asset left as it was, not only the ones rendered.
pub fn plan_view_counts(
    input: &PlanInput<'_>,
    unrendered: &BTreeMap<String, u64>,
) -> (Vec<Action>, Vec<String>) {
    let mut out = Vec::new();
    let mut unchanged = Vec::new();
    for (id, &views) in unrendered {
        match &input.entries.get(id) {
            Some(entry)
                if entry.active
                    && entry.views.is_some()
                    && view_refresh_due(entry, views, input) =>
            {
                out.push(Action::ViewCount {
                    id: id.clone(),
                    views,
                });
            }
            Some(entry) if entry.active => unchanged.push(id.clone()),
            _ => {}
        }
    }
    (out, unchanged)
}

/// Deactivations, decided from the listings and the state alone: privacy and exclusion at
/// once; disappearances only when they pass the fail-safe (else none of them, and the trip).
pub fn plan_deactivations(input: &PlanInput<'_>) -> (Vec<Action>, Option<FailsafeTrip>) {
    let mut out = Vec::new();
    let active = input.entries.active_count();
    let mut gone = Vec::new();
    for id in input.entries.active() {
        if input.in_scope.contains(id) {
            continue;
        }
        match input.out_of_scope.get(id) {
            // Privacy and exclusion are the operator's (or the author's) explicit wish:
            // they take effect at once, whatever the fail-safe says.
            Some(&reason) => out.push(Action::Deactivate {
                id: id.to_owned(),
                reason,
            }),
            None if input.confirmed_deleted.contains(id) => out.push(Action::Deactivate {
                id: id.to_owned(),
                reason: DeactivateReason::Deleted,
            }),
            None => gone.push(id.to_owned()),
        }
    }
    let share = gone.len() as f64 / active.max(1) as f64;
    if !input.allow_mass_deactivation
        && gone.len() > FAILSAFE_MIN_COUNT
        && share > input.max_deactivate_fraction
    {
        let trip = FailsafeTrip {
            project: input.project.to_owned(),
            would_deactivate: gone.len(),
            active,
        };
        return (out, Some(trip));
    }
    out.extend(gone.into_iter().map(|id| Action::Deactivate {
        id,
        reason: DeactivateReason::Gone,
    }));
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: &str, desc: &str, views: u64) -> ExternalAsset {
        ExternalAsset {
            id: id.into(),
            subtype: "lightdash_chart".into(),
            folder: Some("P".into()),
            name: Some(id.into()),
            description: None,
            url: None,
            active: true,
            view_count: Some(views),
            last_accessed_at: None,
            dot_description: Some(desc.into()),
        }
    }

    fn entry_for(a: &ExternalAsset, views_pushed_at: i64) -> IndexEntry {
        IndexEntry {
            kind: AssetKind::Chart,
            project: "p".into(),
            uuid: a.id.clone(),
            fingerprint: fingerprint(a),
            signature: "s".into(),
            updated_at: None,
            space: None,
            charts: vec![],
            active: true,
            pushed_at: 0,
            views: a.view_count,
            views_pushed_at,
            stale: false,
            shows: None,
        }
    }

    struct Case {
        kind: CycleKind,
        entries: BTreeMap<String, IndexEntry>,
        rendered: Vec<ExternalAsset>,
        unrendered: BTreeMap<String, u64>,
        out_of_scope: BTreeMap<String, DeactivateReason>,
        in_scope: BTreeSet<String>,
        confirmed: BTreeSet<String>,
        allow: bool,
    }

    impl Case {
        fn new() -> Self {
            Case {
                kind: CycleKind::Incremental,
                entries: BTreeMap::new(),
                rendered: vec![],
                unrendered: BTreeMap::new(),
                out_of_scope: BTreeMap::new(),
                in_scope: BTreeSet::new(),
                confirmed: BTreeSet::new(),
                allow: false,
            }
        }
        fn run(&self) -> Plan {
            let known = Known::from_map(&self.entries);
            plan(PlanInput {
                kind: self.kind,
                now: 100_000,
                view_count_refresh_secs: 86_400,
                max_deactivate_fraction: 0.5,
                allow_mass_deactivation: self.allow,
                project: "p",
                entries: &known,
                rendered: self.rendered.clone(),
                unrendered_views: &self.unrendered,
                out_of_scope: &self.out_of_scope,
                in_scope: &self.in_scope,
                confirmed_deleted: &self.confirmed,
            })
        }
    }

    fn reasons(p: &Plan) -> Vec<(String, String)> {
        p.actions
            .iter()
            .map(|a| {
                let r = match a {
                    Action::Upsert { reason, .. } => format!("{reason:?}"),
                    Action::ViewCount { views, .. } => format!("Views{views}"),
                    Action::Deactivate { reason, .. } => format!("Deactivate{reason:?}"),
                };
                (a.id().to_owned(), r)
            })
            .collect()
    }

    #[test]
    fn new_changed_unchanged_and_reactivated() {
        let mut c = Case::new();
        let same = asset("lightdash-chart-a", "A", 1);
        let old_b = asset("lightdash-chart-b", "B", 1);
        let mut gone_c = entry_for(&asset("lightdash-chart-c", "C", 1), 0);
        gone_c.active = false;
        c.entries.insert(same.id.clone(), entry_for(&same, 100_000));
        c.entries
            .insert(old_b.id.clone(), entry_for(&old_b, 100_000));
        c.entries.insert("lightdash-chart-c".into(), gone_c);
        c.rendered = vec![
            same.clone(),
            asset("lightdash-chart-b", "B edited", 1),
            asset("lightdash-chart-c", "C", 1),
            asset("lightdash-chart-d", "D", 0),
        ];
        c.in_scope = c.rendered.iter().map(|a| a.id.clone()).collect();
        let p = c.run();
        assert_eq!(
            reasons(&p),
            vec![
                ("lightdash-chart-b".into(), "Changed".into()),
                ("lightdash-chart-c".into(), "Reactivated".into()),
                ("lightdash-chart-d".into(), "New".into()),
            ]
        );
        assert_eq!(p.unchanged, vec!["lightdash-chart-a"]);
        c.kind = CycleKind::Resync;
        assert_eq!(c.run().actions.len(), 4);
    }

    #[test]
    fn view_counts_wait_for_the_refresh_interval() {
        let mut c = Case::new();
        let a = asset("lightdash-chart-a", "A", 5);
        let b = asset("lightdash-chart-b", "B", 5);
        c.entries.insert(a.id.clone(), entry_for(&a, 100_000 - 10));
        c.entries.insert(b.id.clone(), entry_for(&b, 0));
        // Rendered with new views but recently refreshed: unchanged.
        c.rendered = vec![asset("lightdash-chart-a", "A", 9)];
        // Not rendered, views moved, refresh due: view count push.
        c.unrendered.insert(b.id.clone(), 8);
        c.in_scope = [a.id.clone(), b.id.clone()].into();
        let p = c.run();
        assert_eq!(
            reasons(&p),
            vec![("lightdash-chart-b".into(), "Views8".into())]
        );
        assert_eq!(p.unchanged, vec!["lightdash-chart-a"]);
    }

    #[test]
    fn unrendered_assets_with_nothing_to_push_count_as_unchanged() {
        // Issue 15 point 8: a no-change cycle of 19 assets reported "unchanged 5", counting
        // only the assets it happened to render.
        let mut c = Case::new();
        let a = asset("lightdash-chart-a", "A", 5);
        let b = asset("lightdash-dashboard-b", "B", 5);
        c.entries.insert(a.id.clone(), entry_for(&a, 100_000));
        c.entries.insert(b.id.clone(), entry_for(&b, 100_000));
        c.rendered = vec![a.clone()];
        c.unrendered.insert(b.id.clone(), 5);
        c.in_scope = [a.id.clone(), b.id.clone()].into();
        let p = c.run();
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(
            p.unchanged,
            vec!["lightdash-chart-a", "lightdash-dashboard-b"]
        );
    }

    /// Field report: after the clock stepped back a day, view counts stopped refreshing
    /// for a day. A last push dated in the future makes the refresh due.
    #[test]
    fn a_clock_stepped_back_does_not_stop_view_count_refreshes() {
        let mut c = Case::new();
        let a = asset("lightdash-chart-a", "A", 5);
        let b = asset("lightdash-chart-b", "B", 5);
        // Both pushed "tomorrow" by the clock before it was stepped back.
        c.entries
            .insert(a.id.clone(), entry_for(&a, 100_000 + 86_400));
        c.entries
            .insert(b.id.clone(), entry_for(&b, 100_000 + 86_400));
        c.rendered = vec![asset("lightdash-chart-a", "A", 9)];
        c.unrendered.insert(b.id.clone(), 8);
        c.in_scope = [a.id.clone(), b.id.clone()].into();
        assert_eq!(
            reasons(&c.run()),
            vec![
                ("lightdash-chart-a".into(), "ViewCount".into()),
                ("lightdash-chart-b".into(), "Views8".into())
            ]
        );
        // Unchanged views are still not pushed.
        c.rendered = vec![a.clone()];
        c.unrendered.insert(b.id.clone(), 5);
        assert!(c.run().actions.is_empty());
    }

    fn many(c: &mut Case, n: usize) {
        for i in 0..n {
            let a = asset(&format!("lightdash-chart-{i:03}"), "x", 0);
            c.entries.insert(a.id.clone(), entry_for(&a, 0));
        }
    }

    #[test]
    fn failsafe_blocks_mass_deactivation_but_not_privacy() {
        let mut c = Case::new();
        many(&mut c, 100);
        // 20 stay, 80 vanish; one of the vanished is in fact now private.
        c.in_scope = (0..20).map(|i| format!("lightdash-chart-{i:03}")).collect();
        c.out_of_scope
            .insert("lightdash-chart-050".into(), DeactivateReason::Private);
        let p = c.run();
        let trip = p.failsafe.clone().expect("fail-safe must trip");
        assert_eq!((trip.would_deactivate, trip.active), (79, 100));
        assert_eq!(
            reasons(&p),
            vec![("lightdash-chart-050".into(), "DeactivatePrivate".into())]
        );
        c.allow = true;
        let p = c.run();
        assert!(p.failsafe.is_none());
        assert_eq!(p.actions.len(), 80);
    }

    #[test]
    fn deletions_the_trash_confirms_pass_the_failsafe_and_the_rest_still_trips_it() {
        let mut c = Case::new();
        many(&mut c, 100);
        c.in_scope = (0..20).map(|i| format!("lightdash-chart-{i:03}")).collect();
        // Autopilot trashed 70 of the 80 that vanished; 10 are unexplained.
        c.confirmed = (20..90)
            .map(|i| format!("lightdash-chart-{i:03}"))
            .collect();
        let p = c.run();
        assert!(
            p.failsafe.is_none(),
            "10 unexplained stay under the minimum"
        );
        let deleted = p
            .actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::Deactivate {
                        reason: DeactivateReason::Deleted,
                        ..
                    }
                )
            })
            .count();
        assert_eq!((deleted, p.actions.len()), (70, 80));
        // 20 confirmed, 60 unexplained: the unexplained ones trip it, the confirmed go.
        c.confirmed = (20..40)
            .map(|i| format!("lightdash-chart-{i:03}"))
            .collect();
        let p = c.run();
        let trip = p
            .failsafe
            .clone()
            .expect("unexplained disappearances still trip it");
        assert_eq!(trip.would_deactivate, 60);
        assert_eq!(p.actions.len(), 20);
        assert!(p.actions.iter().all(|a| matches!(
            a,
            Action::Deactivate {
                reason: DeactivateReason::Deleted,
                ..
            }
        )));
    }

    #[test]
    fn small_or_proportionate_deletions_go_through() {
        let mut c = Case::new();
        many(&mut c, 100);
        c.in_scope = (0..60).map(|i| format!("lightdash-chart-{i:03}")).collect();
        let p = c.run();
        assert!(p.failsafe.is_none());
        assert_eq!(p.actions.len(), 40);
        assert!(p.actions.iter().all(|a| matches!(
            a,
            Action::Deactivate {
                reason: DeactivateReason::Gone,
                ..
            }
        )));
        // 10 of 12 gone is a large share but only 10: allowed.
        let mut c = Case::new();
        many(&mut c, 12);
        c.in_scope = (0..2).map(|i| format!("lightdash-chart-{i:03}")).collect();
        assert_eq!(c.run().actions.len(), 10);
    }

    #[test]
    fn deactivated_assets_are_never_deactivated_again() {
        let mut c = Case::new();
        let a = asset("lightdash-chart-a", "A", 0);
        let mut e = entry_for(&a, 0);
        e.active = false;
        c.entries.insert(a.id.clone(), e);
        assert!(c.run().actions.is_empty());
    }

    #[test]
    fn order_is_spaces_dashboards_charts() {
        let mut c = Case::new();
        for id in [
            "lightdash-chart-z",
            "lightdash-space-y",
            "lightdash-dashboard-x",
            "lightdash-chart-a",
        ] {
            c.rendered.push(asset(id, "d", 0));
        }
        let ids: Vec<String> = c.run().actions.iter().map(|a| a.id().to_owned()).collect();
        assert_eq!(
            ids,
            vec![
                "lightdash-space-y",
                "lightdash-dashboard-x",
                "lightdash-chart-a",
                "lightdash-chart-z"
            ]
        );
    }
}
