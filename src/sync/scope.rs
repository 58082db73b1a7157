//! The scope stage: which projects, spaces and kinds are synced, and if not, why. PURE.
//!
//! Privacy first (DESIGN.md §4): a space Lightdash restricts (as [`super::privacy`] resolves
//! it from the server's generation of fields: inheritance chain, resolved flag, or the legacy
//! any-private-ancestor rule) is out of scope unless `lightdash.include_private`; a space we
//! cannot see at all, or whose access cannot be decided, may be someone's private space, so
//! it is out of scope too. Charts and dashboards can be restricted further by their own
//! `inheritsFromOrgOrProject` ([`SpaceScopes::of_item`]). Then the operator's filters: `include_spaces`/
//! `exclude_spaces` globs on the space path, and `sync.kinds`.

use std::collections::HashSet;

use super::plan::DeactivateReason;
use super::privacy::{Access, Privacy};
use crate::config::SpaceFilter;
use crate::dot::types::AssetKind;
use crate::lightdash::types::{Project, ProjectType, SpaceSummary};
use crate::render::SpaceTree;

/// Whether an asset is synced, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Synced.
    In,
    /// Not synced: deactivated in Dot if it was there.
    Out(DeactivateReason),
}

/// The settings scope is decided from.
#[derive(Debug, Clone, Copy)]
pub struct ScopeRules<'a> {
    /// `lightdash.include_private`.
    pub include_private: bool,
    /// `lightdash.include_spaces` / `exclude_spaces`.
    pub spaces: &'a SpaceFilter,
    /// `sync.kinds`.
    pub kinds: &'a HashSet<AssetKind>,
}

impl ScopeRules<'_> {
    /// Scope of an asset of `kind` in a space of scope `space`: a kind not synced is excluded.
    pub fn of_kind(&self, kind: AssetKind, space: Scope) -> Scope {
        if self.kinds.contains(&kind) {
            space
        } else {
            Scope::Out(DeactivateReason::Excluded)
        }
    }

    /// Whether assets of `kind` are synced at all.
    pub fn syncs(&self, kind: AssetKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// The scope of every listed space of one project.
#[derive(Debug, Clone, Default)]
pub struct SpaceScopes {
    by_space: super::FastMap<String, Scope>,
    privacy: Privacy,
    include_private: bool,
}

impl SpaceScopes {
    /// Decides the scope of each listed space.
    pub fn new(tree: &SpaceTree, spaces: &[SpaceSummary], rules: &ScopeRules<'_>) -> Self {
        let privacy = Privacy::resolve(spaces);
        let by_space = spaces
            .iter()
            .map(|s| {
                let scope = if !privacy.space(&s.uuid).is_open() && !rules.include_private {
                    Scope::Out(DeactivateReason::Private)
                } else if !rules.spaces.allows(&tree.path_string(&s.uuid)) {
                    Scope::Out(DeactivateReason::Excluded)
                } else {
                    Scope::In
                };
                (s.uuid.clone(), scope)
            })
            .collect();
        Self {
            by_space,
            privacy,
            include_private: rules.include_private,
        }
    }

    /// The scope of a chart or dashboard in `space`: its space's, restricted further when its
    /// own `inheritsFromOrgOrProject` (newest servers) says it is not open to the project.
    pub fn of_item(&self, space: &str, inherits_from_org_or_project: Option<bool>) -> Scope {
        match self.of(space) {
            Scope::In
                if !self.include_private
                    && !self
                        .privacy
                        .item(space, inherits_from_org_or_project)
                        .is_open() =>
            {
                Scope::Out(DeactivateReason::Private)
            }
            scope => scope,
        }
    }

    /// Whether Lightdash restricts this space (or cannot say), whatever `include_private`.
    pub fn is_restricted(&self, space: &str) -> bool {
        self.privacy.space(space) != Access::Project
    }

    /// The scope of a space by uuid. A space we cannot see may be someone's private space:
    /// never sync into it.
    pub fn of(&self, space: &str) -> Scope {
        self.by_space
            .get(space)
            .copied()
            .unwrap_or(Scope::Out(DeactivateReason::Private))
    }

    /// Whether the space is in scope.
    pub fn is_in(&self, space: &str) -> bool {
        self.of(space) == Scope::In
    }
}

/// The projects a cycle syncs, from every project the token sees: the configured ones, or
/// every non-preview project when none is configured. Also returns the configured projects
/// the token cannot see (their assets are left as they are).
pub fn select_projects(all: Vec<Project>, wanted: &[String]) -> (Vec<Project>, Vec<String>) {
    if wanted.is_empty() {
        let projects = all
            .into_iter()
            .filter(|p| p.project_type != ProjectType::Preview)
            .collect();
        return (projects, Vec::new());
    }
    let missing = wanted
        .iter()
        .filter(|uuid| !all.iter().any(|p| &p.project_uuid == *uuid))
        .cloned()
        .collect();
    let projects = all
        .into_iter()
        .filter(|p| wanted.contains(&p.project_uuid))
        .collect();
    (projects, missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::testing::space;

    fn filter(include: &[&str], exclude: &[&str]) -> SpaceFilter {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        SpaceFilter::new(&s(include), &s(exclude)).expect("valid globs")
    }

    fn scopes(spaces: &[SpaceSummary], include_private: bool, f: &SpaceFilter) -> SpaceScopes {
        let kinds: HashSet<AssetKind> = AssetKind::ALL.into_iter().collect();
        let rules = ScopeRules {
            include_private,
            spaces: f,
            kinds: &kinds,
        };
        SpaceScopes::new(&SpaceTree::new(spaces), spaces, &rules)
    }

    fn tree() -> Vec<SpaceSummary> {
        let mut private = space("private", None);
        private.name = "Private".into();
        private.is_private = true;
        let mut sales = space("sales", None);
        sales.name = "Sales".into();
        let mut emea = space("emea", Some("sales"));
        emea.name = "EMEA".into();
        let mut inner = space("inner", Some("private"));
        inner.name = "Inner".into();
        vec![private, sales, emea, inner]
    }

    #[test]
    fn private_spaces_and_their_descendants_are_out_unless_included() {
        let all = filter(&[], &[]);
        let s = scopes(&tree(), false, &all);
        assert_eq!(s.of("private"), Scope::Out(DeactivateReason::Private));
        assert_eq!(s.of("inner"), Scope::Out(DeactivateReason::Private));
        assert_eq!(s.of("emea"), Scope::In);
        let s = scopes(&tree(), true, &all);
        assert_eq!(s.of("inner"), Scope::In);
    }

    #[test]
    fn an_unseen_space_counts_as_private() {
        let s = scopes(&tree(), true, &filter(&[], &[]));
        assert_eq!(s.of("nowhere"), Scope::Out(DeactivateReason::Private));
        assert!(!s.is_in("nowhere"));
    }

    #[test]
    fn globs_match_the_path_by_names() {
        let s = scopes(&tree(), false, &filter(&["Sales/EMEA"], &[]));
        assert_eq!(s.of("emea"), Scope::In);
        assert_eq!(s.of("sales"), Scope::Out(DeactivateReason::Excluded));
        // `Sales/**` covers `Sales` itself too.
        let s = scopes(&tree(), false, &filter(&["Sales/**"], &[]));
        assert_eq!(s.of("sales"), Scope::In);
        let s = scopes(&tree(), false, &filter(&[], &["Sales/EMEA"]));
        assert_eq!(s.of("emea"), Scope::Out(DeactivateReason::Excluded));
        assert_eq!(s.of("sales"), Scope::In);
        // Privacy is reported before exclusion.
        let s = scopes(&tree(), false, &filter(&["Sales/**"], &[]));
        assert_eq!(s.of("private"), Scope::Out(DeactivateReason::Private));
    }

    #[test]
    fn a_kind_not_synced_is_excluded_whatever_its_space() {
        let kinds: HashSet<AssetKind> = [AssetKind::Chart].into_iter().collect();
        let f = filter(&[], &[]);
        let rules = ScopeRules {
            include_private: false,
            spaces: &f,
            kinds: &kinds,
        };
        assert_eq!(rules.of_kind(AssetKind::Chart, Scope::In), Scope::In);
        assert_eq!(
            rules.of_kind(AssetKind::Dashboard, Scope::In),
            Scope::Out(DeactivateReason::Excluded)
        );
        assert_eq!(
            rules.of_kind(AssetKind::Chart, Scope::Out(DeactivateReason::Private)),
            Scope::Out(DeactivateReason::Private)
        );
    }

    fn project(uuid: &str, kind: ProjectType) -> Project {
        Project {
            project_uuid: uuid.into(),
            name: uuid.into(),
            project_type: kind,
        }
    }

    #[test]
    fn projects_are_the_configured_ones_or_every_non_preview_one() {
        let all = || {
            vec![
                project("a", ProjectType::Default),
                project("b", ProjectType::Preview),
            ]
        };
        let (p, missing) = select_projects(all(), &[]);
        assert_eq!(
            p.iter()
                .map(|p| p.project_uuid.as_str())
                .collect::<Vec<_>>(),
            ["a"]
        );
        assert!(missing.is_empty());
        let (p, missing) = select_projects(all(), &["b".into(), "gone".into()]);
        assert_eq!(
            p.iter()
                .map(|p| p.project_uuid.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(missing, ["gone"]);
    }
}
