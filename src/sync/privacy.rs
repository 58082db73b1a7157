//! Who can see a space, and so its content, as Lightdash decides it. PURE: no I/O.
//!
//! Admin tokens and service accounts see everything, so the listings never leave restricted
//! content out for us: the daemon decides itself, from the fields the listings carry.
//!
//! Three generations of Lightdash, told apart by the fields their spaces carry:
//! - **resolved** (newest): a space carries `inheritsFromOrgOrProject`, the server's own answer.
//! - **inheritance** (newer): spaces carry `inheritParentPermissions`. Access resolves from the
//!   space up its parents: the walk stops at the first space that does not inherit, which is
//!   open to its own members only (restricted, even under a public parent); a walk that reaches
//!   a root that inherits is open to the project. This is `SpacePermissionModel`'s
//!   `SpaceInheritanceChain` (`packages/backend/src/models/SpacePermissionModel.ts`: the chain
//!   "from leaf to the first inherit=false ancestor (or root)", `inheritsFromOrgOrProject =
//!   last.parent_space_uuid === null && last.inherit_parent_permissions === true`).
//! - **legacy** (older): only `isPrivate`; a space is restricted when it or any ancestor is
//!   private (the rule v1 always used).
//!
//! Anything this cannot decide (a parent the token cannot see, a parent cycle, a space without
//! the fields its siblings have) is [`Access::Unknown`], which every caller treats as restricted.
//! A legacy `isPrivate: true` always restricts, whatever the newer fields say (fail closed).

use std::collections::{HashMap, HashSet};

use crate::lightdash::types::SpaceSummary;

/// Who can see a space (or an item in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Every member of the project.
    Project,
    /// Only the space's own members (private, or a space that does not inherit).
    Restricted,
    /// Could not be decided; treated as restricted.
    Unknown,
}

impl Access {
    /// Whether every project member can see it. `Unknown` is not open: fail closed.
    pub fn is_open(self) -> bool {
        self == Access::Project
    }
}

/// The access of every space of one project.
#[derive(Debug, Clone, Default)]
pub struct Privacy {
    spaces: super::FastMap<String, Access>,
}

impl Privacy {
    /// Resolves every space of a project's listing.
    pub fn resolve(spaces: &[SpaceSummary]) -> Self {
        let by_uuid: HashMap<&str, &SpaceSummary> =
            spaces.iter().map(|s| (s.uuid.as_str(), s)).collect();
        let inheritance = spaces.iter().any(|s| {
            s.inherit_parent_permissions.is_some() || s.inherits_from_org_or_project.is_some()
        });
        let resolved = spaces
            .iter()
            .map(|s| {
                let access = if inheritance {
                    resolve_inheritance(s, &by_uuid)
                } else {
                    resolve_legacy(s, &by_uuid)
                };
                (s.uuid.clone(), access)
            })
            .collect();
        Self { spaces: resolved }
    }

    /// The access of a space; a space not in the listing is `Unknown`.
    pub fn space(&self, uuid: &str) -> Access {
        self.spaces.get(uuid).copied().unwrap_or(Access::Unknown)
    }

    /// The access of a chart or dashboard in `space_uuid`. `inherits_from_org_or_project` is
    /// the item's own field on newest servers: `false` restricts it whatever its space says
    /// (the server knows about direct grants we cannot see); `true` never opens more than the
    /// space allows.
    pub fn item(&self, space_uuid: &str, inherits_from_org_or_project: Option<bool>) -> Access {
        match (self.space(space_uuid), inherits_from_org_or_project) {
            (_, Some(false)) => Access::Restricted,
            (access, _) => access,
        }
    }
}

/// Newer servers: the item's resolved field if present, else the walk up the chain.
fn resolve_inheritance(space: &SpaceSummary, by_uuid: &HashMap<&str, &SpaceSummary>) -> Access {
    if space.is_private {
        return Access::Restricted;
    }
    match space.inherits_from_org_or_project {
        Some(true) => return Access::Project,
        Some(false) => return Access::Restricted,
        None => {}
    }
    let mut seen: HashSet<&str> = HashSet::new();
    let mut current = space;
    loop {
        if !seen.insert(current.uuid.as_str()) {
            return Access::Unknown;
        }
        if current.is_private {
            return Access::Restricted;
        }
        match current.inherit_parent_permissions {
            None => return Access::Unknown,
            Some(false) => return Access::Restricted,
            Some(true) => {}
        }
        match current.parent_space_uuid.as_deref() {
            None => return Access::Project,
            Some(parent) => match by_uuid.get(parent) {
                Some(p) => current = p,
                None => return Access::Unknown,
            },
        }
    }
}

/// Older servers: restricted when the space or any ancestor is private.
fn resolve_legacy(space: &SpaceSummary, by_uuid: &HashMap<&str, &SpaceSummary>) -> Access {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut current = space;
    loop {
        if current.is_private {
            return Access::Restricted;
        }
        if !seen.insert(current.uuid.as_str()) {
            return Access::Unknown;
        }
        match current.parent_space_uuid.as_deref() {
            None => return Access::Project,
            Some(parent) => match by_uuid.get(parent) {
                Some(p) => current = p,
                // A parent we cannot see is most likely someone's private space.
                None => return Access::Unknown,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(uuid: &str, parent: Option<&str>) -> SpaceSummary {
        SpaceSummary {
            uuid: uuid.into(),
            name: uuid.to_uppercase(),
            parent_space_uuid: parent.map(str::to_owned),
            ..Default::default()
        }
    }

    fn inherits(mut s: SpaceSummary, inherit: bool) -> SpaceSummary {
        s.inherit_parent_permissions = Some(inherit);
        s
    }

    #[test]
    fn legacy_servers_keep_the_any_private_ancestor_rule() {
        let mut root = space("root", None);
        root.is_private = true;
        let spaces = vec![
            root,
            space("child", Some("root")),
            space("open", None),
            space("orphan", Some("gone")),
        ];
        let p = Privacy::resolve(&spaces);
        assert_eq!(p.space("root"), Access::Restricted);
        assert_eq!(p.space("child"), Access::Restricted);
        assert_eq!(p.space("open"), Access::Project);
        assert_eq!(p.space("orphan"), Access::Unknown);
        assert_eq!(p.space("not-listed"), Access::Unknown);
    }

    #[test]
    fn a_space_that_does_not_inherit_is_restricted_even_under_a_public_root() {
        let spaces = vec![
            inherits(space("root", None), true),
            inherits(space("team", Some("root")), false),
            inherits(space("team-sub", Some("team")), true),
            inherits(space("shared", Some("root")), true),
        ];
        let p = Privacy::resolve(&spaces);
        assert_eq!(p.space("root"), Access::Project);
        assert_eq!(p.space("shared"), Access::Project);
        assert_eq!(p.space("team"), Access::Restricted);
        assert_eq!(p.space("team-sub"), Access::Restricted);
    }

    #[test]
    fn a_root_that_does_not_inherit_is_restricted() {
        let spaces = vec![
            inherits(space("root", None), false),
            inherits(space("child", Some("root")), true),
        ];
        let p = Privacy::resolve(&spaces);
        assert_eq!(p.space("root"), Access::Restricted);
        assert_eq!(p.space("child"), Access::Restricted);
    }

    #[test]
    fn resolved_fields_win_over_the_computed_chain() {
        let mut child = inherits(space("child", Some("root")), true);
        // The server knows something the listing does not show (e.g. a moved parent).
        child.inherits_from_org_or_project = Some(false);
        let mut other = space("other", Some("root"));
        other.inherits_from_org_or_project = Some(true);
        let spaces = vec![inherits(space("root", None), true), child, other];
        let p = Privacy::resolve(&spaces);
        assert_eq!(p.space("child"), Access::Restricted);
        assert_eq!(p.space("other"), Access::Project);
    }

    #[test]
    fn anything_undecidable_fails_closed() {
        let mut a = inherits(space("a", Some("b")), true);
        a.parent_space_uuid = Some("b".into());
        let b = inherits(space("b", Some("a")), true);
        let spaces = vec![
            inherits(space("root", None), true),
            a,
            b,
            // Newer server, but this space lacks the field its siblings have.
            space("no-field", Some("root")),
            inherits(space("under-unseen", Some("unseen")), true),
        ];
        let p = Privacy::resolve(&spaces);
        assert_eq!(p.space("a"), Access::Unknown);
        assert_eq!(p.space("b"), Access::Unknown);
        assert_eq!(p.space("no-field"), Access::Unknown);
        assert_eq!(p.space("under-unseen"), Access::Unknown);
        assert!(!Access::Unknown.is_open());
    }

    #[test]
    fn a_legacy_private_flag_always_restricts() {
        let mut root = inherits(space("root", None), true);
        root.is_private = true;
        let mut resolved = space("resolved", None);
        resolved.inherits_from_org_or_project = Some(true);
        resolved.is_private = true;
        let spaces = vec![root, inherits(space("child", Some("root")), true), resolved];
        let p = Privacy::resolve(&spaces);
        assert_eq!(p.space("root"), Access::Restricted);
        assert_eq!(p.space("child"), Access::Restricted);
        assert_eq!(p.space("resolved"), Access::Restricted);
    }

    #[test]
    fn items_follow_their_space_and_their_own_resolved_flag() {
        let spaces = vec![
            inherits(space("root", None), true),
            inherits(space("team", Some("root")), false),
        ];
        let p = Privacy::resolve(&spaces);
        assert_eq!(p.item("root", None), Access::Project);
        assert_eq!(p.item("root", Some(true)), Access::Project);
        assert_eq!(p.item("root", Some(false)), Access::Restricted);
        // `true` on the item never opens a restricted space.
        assert_eq!(p.item("team", Some(true)), Access::Restricted);
        assert_eq!(p.item("unseen", Some(true)), Access::Unknown);
    }
}
