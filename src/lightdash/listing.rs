//! Listings and as-code pages decoded item by item (no I/O).
//!
//! A page is split into raw items ([`RawValue`], which skips nested values without serde's
//! recursion limit), and each item is decoded on its own as soon as it is read
//! ([`ListingBuilder::push`]; the client feeds it while the body arrives), its raw text then
//! dropped. One item with a wrongly
//! typed field, or nested deeper than serde's limit, therefore fails alone: it is named
//! (route, uuid, field path) and skipped, and the rest of the page is used. The uuid of an
//! undecodable item is kept so the cycle never takes it for deleted content.
//!
//! Duplicates (the same uuid twice in one listing) are reduced to one copy, picked by content
//! rather than position (see [`ListingBuilder`]), so the same listing in another order gives
//! the same result.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::types::{ChartSummary, DashboardSummary, Project, SpaceSummary};

/// An item of a listing: what identifies it and how fresh it is.
pub trait ListingItem: DeserializeOwned + Serialize {
    /// Its uuid (`uuid`, or `projectUuid` for projects).
    fn uuid(&self) -> &str;
    /// `updatedAt` as Lightdash sends it (ISO 8601), when the listing has it.
    fn updated_at(&self) -> Option<&str> {
        None
    }
}

impl ListingItem for Project {
    fn uuid(&self) -> &str {
        &self.project_uuid
    }
}

impl ListingItem for SpaceSummary {
    fn uuid(&self) -> &str {
        &self.uuid
    }
}

impl ListingItem for DashboardSummary {
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn updated_at(&self) -> Option<&str> {
        self.updated_at.as_deref()
    }
}

impl ListingItem for ChartSummary {
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn updated_at(&self) -> Option<&str> {
        self.updated_at.as_deref()
    }
}

/// One item of a listing or as-code page that could not be decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct UndecodableItem {
    /// The path requested, e.g. `/api/v1/projects/{p}/charts`.
    pub route: String,
    /// Its position in the page (0-based).
    pub index: usize,
    /// Its `uuid` (`projectUuid` for projects), when that much could be read.
    pub uuid: Option<String>,
    /// The field path and serde's reason, e.g. `views: invalid type: string "12", expected u64`.
    pub error: String,
}

impl std::fmt::Display for UndecodableItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.uuid {
            Some(uuid) => write!(
                f,
                "item {uuid} of {} is not the expected JSON: {}",
                self.route, self.error
            ),
            None => write!(
                f,
                "item #{} (no readable uuid) of {} is not the expected JSON: {}",
                self.index, self.route, self.error
            ),
        }
    }
}

/// A listing decoded item by item.
#[derive(Debug)]
pub struct Listing<T> {
    /// Items that decoded, one per uuid, in listing order (each uuid where it first appears).
    pub items: Vec<T>,
    /// Items that did not.
    pub undecodable: Vec<UndecodableItem>,
    /// Uuids listed more than once (one copy kept each).
    pub duplicates: Vec<String>,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            undecodable: Vec::new(),
            duplicates: Vec::new(),
        }
    }
}

/// Reads as the decoded items, so callers that only need them use a listing like a `Vec`.
impl<T> std::ops::Deref for Listing<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.items
    }
}

impl<T> IntoIterator for Listing<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Listing<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// Decodes one raw item as `T`; the error names the field path (`tiles[3].properties.x:
/// invalid type …`), or `.` for the item itself.
pub fn decode_item<T: DeserializeOwned>(raw: &str) -> Result<T, serde_json::Error> {
    // Tracking the path costs on every item; it is only worth it for the error message.
    serde_json::from_str(raw).or_else(|_| {
        let mut de = serde_json::Deserializer::from_str(raw);
        serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                inner
            } else {
                serde::de::Error::custom(format!("{path}: {inner}"))
            }
        })
    })
}

/// The uuid of an item that did not decode, if its `uuid` (or `projectUuid`) is a string.
pub fn raw_uuid(raw: &str) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Ids {
        #[serde(default)]
        uuid: Option<Box<RawValue>>,
        #[serde(default)]
        project_uuid: Option<Box<RawValue>>,
    }
    let ids: Ids = serde_json::from_str(raw).ok()?;
    // Items of every listing but projects carry their project's uuid too: `projectUuid` is
    // the item's own only where there is no `uuid`.
    let id = ids.uuid.or(ids.project_uuid)?;
    serde_json::from_str::<String>(id.get())
        .ok()
        .filter(|s| !s.is_empty())
}

/// Decodes a whole listing item by item; see [`ListingBuilder`] for the rules.
pub fn decode_listing<T: ListingItem>(route: &str, raw: Vec<Box<RawValue>>) -> Listing<T> {
    let mut builder = ListingBuilder::new(route);
    for item in raw {
        builder.push(item.get());
    }
    builder.finish()
}

/// A listing decoded one raw item at a time, as the items arrive: each item is decoded into
/// `T` at once and its raw text is not kept, so building a listing holds the decoded items
/// plus one raw item. An item that does not decode is named ([`UndecodableItem`]) and skipped.
///
/// Duplicates (the same uuid more than once) are resolved in [`Self::finish`], one copy kept
/// per uuid, at the position of the uuid's first appearance: the copy with the latest
/// `updatedAt` (ISO 8601 strings in one format compare in time order; a missing one is
/// oldest) wins; on a tie, the copy whose decoded value serialises (`serde_json::to_string`)
/// to the text that sorts last. Copies that serialise the same are equal as far as the
/// daemon can tell, so the result never depends on listing order.
#[derive(Debug)]
pub struct ListingBuilder<T> {
    route: String,
    next_index: usize,
    items: Vec<T>,
    undecodable: Vec<UndecodableItem>,
    /// The users items name, each held once ([`super::types::SharedUser`]).
    users: super::types::UserSet,
}

impl<T: ListingItem> ListingBuilder<T> {
    /// An empty listing of `route` (the path requested, used in reports).
    pub fn new(route: &str) -> Self {
        Self {
            route: route.to_owned(),
            next_index: 0,
            items: Vec::new(),
            undecodable: Vec::new(),
            users: Default::default(),
        }
    }

    /// Decodes the next item of the listing; the caller may drop `raw` right after.
    pub fn push(&mut self, raw: &str) {
        let index = self.next_index;
        self.next_index += 1;
        match super::types::intern_users(&mut self.users, || decode_item::<T>(raw)) {
            Ok(v) => self.items.push(v),
            Err(e) => self.undecodable.push(UndecodableItem {
                route: self.route.clone(),
                index,
                uuid: raw_uuid(raw),
                error: e.to_string(),
            }),
        }
    }

    /// Items pushed so far (decoded or not).
    pub fn len(&self) -> usize {
        self.next_index
    }

    /// Whether no item was pushed.
    pub fn is_empty(&self) -> bool {
        self.next_index == 0
    }

    /// The listing: one copy per uuid (see the type's doc), duplicated uuids in the order of
    /// their second appearance, and the undecodable items whose uuid did not also decode.
    pub fn finish(self) -> Listing<T> {
        let Self {
            mut items,
            mut undecodable,
            ..
        } = self;
        // Positions sorted by uuid (then position), so copies of one uuid are adjacent and
        // no per-item map or raw text is needed.
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_unstable_by(|&a, &b| items[a].uuid().cmp(items[b].uuid()).then(a.cmp(&b)));
        let mut dropped = vec![false; items.len()];
        // (position of the second copy, uuid)
        let mut duplicates: Vec<(usize, String)> = Vec::new();
        // (position of the first copy, position of the copy kept)
        let mut kept: Vec<(usize, usize)> = Vec::new();
        for run in order.chunk_by(|&a, &b| items[a].uuid() == items[b].uuid()) {
            let [first, second, ..] = run else { continue };
            duplicates.push((*second, items[*first].uuid().to_owned()));
            let winner = run
                .iter()
                .map(|&at| {
                    let text = serde_json::to_string(&items[at]).unwrap_or_default();
                    (items[at].updated_at(), text, at)
                })
                .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)))
                .map_or(*first, |(_, _, at)| at);
            kept.push((*first, winner));
            for &at in &run[1..] {
                dropped[at] = true;
            }
        }
        // Copies of one uuid share it, so `order` stays sorted through the swaps.
        for (first, winner) in kept {
            items.swap(first, winner);
        }
        duplicates.sort_unstable();
        // An undecodable copy of a uuid that also decoded is just a bad duplicate.
        undecodable.retain(|u| {
            u.uuid.as_ref().is_none_or(|id| {
                order
                    .binary_search_by(|&i| items[i].uuid().cmp(id.as_str()))
                    .is_err()
            })
        });
        let mut at = 0;
        items.retain(|_| {
            at += 1;
            !dropped[at - 1]
        });
        // Growth by doubling leaves up to half the capacity unused for the whole cycle.
        // Shrinking in place costs no copy with the system allocator (the block is split,
        // or remapped when it is large).
        items.shrink_to_fit();
        Listing {
            items,
            undecodable,
            duplicates: duplicates.into_iter().map(|(_, uuid)| uuid).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(items: &[&str]) -> Vec<Box<RawValue>> {
        items
            .iter()
            .map(|s| RawValue::from_string((*s).to_owned()).unwrap())
            .collect()
    }

    fn chart(uuid: &str, extra: &str) -> String {
        format!(
            r#"{{"uuid":"{uuid}","name":"C {uuid}","spaceUuid":"s","spaceName":"S","projectUuid":"p","organizationUuid":"o","pinnedListUuid":null,"chartKind":"line","chartType":"cartesian","updatedAt":"2026-01-01T00:00:00.000Z"{extra}}}"#
        )
    }

    #[test]
    fn a_wrongly_typed_field_fails_only_its_item_and_is_named() {
        let good = chart("a", "");
        let bad = chart("b", r#","views":"many""#);
        let l: Listing<ChartSummary> = decode_listing(
            "/api/v1/projects/p/charts",
            raw(&[&good, &bad, &chart("c", "")]),
        );
        assert_eq!(
            l.items.iter().map(|c| c.uuid.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
        assert_eq!(l.undecodable.len(), 1);
        let u = &l.undecodable[0];
        assert_eq!(u.uuid.as_deref(), Some("b"));
        assert_eq!(u.index, 1);
        assert!(
            u.error.starts_with("views: invalid type: string"),
            "{}",
            u.error
        );
        let text = u.to_string();
        assert!(
            text.contains("item b of /api/v1/projects/p/charts"),
            "{text}"
        );
    }

    #[test]
    fn items_nested_deeper_than_serdes_limit_fail_alone() {
        let deep = format!(
            r#"{{"uuid":"deep","name":{}1{}}}"#,
            "[".repeat(5_000),
            "]".repeat(5_000)
        );
        let page = format!("[{},{deep},{}]", chart("a", ""), chart("c", ""));
        // The whole page splits into raw items despite the depth.
        let items: Vec<Box<RawValue>> = serde_json::from_str(&page).unwrap();
        let l: Listing<ChartSummary> = decode_listing("/r", items);
        assert_eq!(l.items.len(), 2);
        assert_eq!(l.undecodable.len(), 1);
        assert_eq!(l.undecodable[0].uuid.as_deref(), Some("deep"));
        assert!(
            l.undecodable[0].error.contains("recursion limit")
                || l.undecodable[0].error.contains("name"),
            "{}",
            l.undecodable[0].error
        );
    }

    #[test]
    fn an_item_without_a_readable_uuid_is_named_by_position() {
        let l: Listing<ChartSummary> = decode_listing(
            "/r",
            raw(&[&chart("a", ""), r#"{"uuid":7,"projectUuid":"p"}"#, "null"]),
        );
        assert_eq!(l.items.len(), 1);
        assert_eq!(
            l.undecodable
                .iter()
                .map(|u| (u.index, u.uuid.clone()))
                .collect::<Vec<_>>(),
            [(1, None), (2, None)]
        );
        assert!(
            l.undecodable[0]
                .to_string()
                .contains("item #1 (no readable uuid)")
        );
    }

    /// Field report: the same uuid twice made the item "changed" every cycle. One copy is
    /// kept, the same whatever the order, and the uuid is reported once.
    #[test]
    fn duplicates_keep_one_copy_whatever_the_order() {
        let old = chart("a", r#","name":"Old""#).replace(r#""name":"C a","#, "");
        let new = chart("a", r#","name":"New""#)
            .replace(r#""name":"C a","#, "")
            .replace("2026-01-01", "2026-02-01");
        let same_time = chart("a", r#","name":"Zed""#).replace(r#""name":"C a","#, "");
        for order in [
            vec![&old, &new, &same_time],
            vec![&new, &same_time, &old],
            vec![&same_time, &old, &new],
        ] {
            let items: Vec<&str> = order.iter().map(|s| s.as_str()).collect();
            let l: Listing<ChartSummary> = decode_listing("/r", raw(&items));
            assert_eq!(l.items.len(), 1);
            assert_eq!(l.items[0].name, "New", "the most recently updated copy");
            assert_eq!(l.duplicates, ["a"]);
        }
        // Same updatedAt: the choice depends on content only.
        for order in [[&old, &same_time], [&same_time, &old]] {
            let items: Vec<&str> = order.iter().map(|s| s.as_str()).collect();
            let l: Listing<ChartSummary> = decode_listing("/r", raw(&items));
            assert_eq!(l.items[0].name, "Zed");
        }
        // A broken copy next to a good one is not "undecodable": the uuid is listed.
        let broken = chart("a", r#","views":"x""#);
        let l: Listing<ChartSummary> = decode_listing("/r", raw(&[&broken, &old]));
        assert_eq!(l.items.len(), 1);
        assert!(l.undecodable.is_empty());
        // Whichever comes first; a broken item of another uuid is still reported.
        let broken_b = chart("b", r#","views":"x""#);
        let l: Listing<ChartSummary> = decode_listing("/r", raw(&[&old, &broken_b, &broken]));
        assert_eq!(l.items.len(), 1);
        assert_eq!(l.undecodable.len(), 1);
        assert_eq!(l.undecodable[0].uuid.as_deref(), Some("b"));
    }

    /// Memory: the editor many items name is held once per listing, and the listing holds
    /// no spare capacity; what it serialises back is what Lightdash sent.
    #[test]
    fn users_are_shared_and_the_listing_is_exactly_sized() {
        let by = |who: &str| {
            format!(r#","updatedByUser":{{"userUuid":"{who}","firstName":"Ada","lastName":"L"}}"#)
        };
        let items: Vec<String> = (0..33)
            .map(|i| chart(&format!("c{i}"), &by(if i % 2 == 0 { "u1" } else { "u2" })))
            .collect();
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        let l: Listing<ChartSummary> = decode_listing("/r", raw(&refs));
        assert_eq!(l.items.len(), 33);
        assert_eq!(l.items.capacity(), 33);
        let user = |i: usize| l.items[i].updated_by_user.clone().unwrap();
        assert!(std::ptr::eq(&*user(0), &*user(2)));
        assert!(std::ptr::eq(&*user(1), &*user(31)));
        assert!(!std::ptr::eq(&*user(0), &*user(1)));
        assert_eq!(user(1).user_uuid.as_deref(), Some("u2"));
        let back = serde_json::to_value(&l.items[0]).unwrap();
        assert_eq!(
            back["updatedByUser"],
            serde_json::json!({"userUuid":"u1","firstName":"Ada","lastName":"L"})
        );
        assert_eq!(back["source"], serde_json::Value::Null);
        assert_eq!(back["chartKind"], "line");
        // Decoded outside a listing, a user is simply its own.
        let lone: ChartSummary = serde_json::from_str(&items[0]).unwrap();
        assert_eq!(lone, l.items[0]);
    }

    /// Each uuid keeps the position of its first copy; duplicated uuids are reported in the
    /// order of their second copy; the copies kept do not depend on the order.
    #[test]
    fn duplicates_keep_their_first_position_and_the_same_copy_in_any_order() {
        let a1 = chart("a", "");
        let a2 = chart("a", "").replace("2026-01-01", "2026-03-01");
        let b1 = chart("b", r#","views":3"#);
        let b2 = chart("b", r#","views":4"#);
        let c = chart("c", "");
        let l: Listing<ChartSummary> = decode_listing("/r", raw(&[&a1, &b1, &a2, &c, &b2]));
        assert_eq!(
            l.items.iter().map(|c| c.uuid.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(l.duplicates, ["a", "b"]);
        let kept = |l: &Listing<ChartSummary>| {
            let mut v: Vec<String> = l
                .items
                .iter()
                .map(|c| serde_json::to_string(c).unwrap())
                .collect();
            v.sort();
            v
        };
        let reversed: Listing<ChartSummary> = decode_listing("/r", raw(&[&b2, &c, &a2, &b1, &a1]));
        assert_eq!(
            reversed
                .items
                .iter()
                .map(|c| c.uuid.as_str())
                .collect::<Vec<_>>(),
            ["b", "c", "a"]
        );
        assert_eq!(reversed.duplicates, ["b", "a"]);
        assert_eq!(kept(&l), kept(&reversed));
        assert!(
            l.items[0]
                .updated_at
                .as_deref()
                .unwrap()
                .starts_with("2026-03-01")
        );
    }
}
