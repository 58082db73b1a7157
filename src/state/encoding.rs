//! How an [`IndexEntry`] is stored in the state's `index` tree. PURE.
//!
//! sled keeps every page a cycle reads in memory (its cache evicts lazily: in 0.34 a shard
//! processes accesses only in batches of 64, so a pass over an index of a few thousand pages
//! evicts nothing), and every cycle reads the whole index once, decoding only a brief of
//! each entry ([`decode_brief`]); the store then lets those pages go
//! (`Store::release_cache`). Until it does, what an entry costs on disk is what it costs in
//! memory: about 1.4 times the index's logical size. As JSON an entry took 385 bytes (a
//! chart) to 620 (a dashboard with six tiles); in this encoding it takes about 110 and 210
//! (issue #12).
//!
//! The encoding: one format byte ([`FORMAT`]), then [postcard](https://docs.rs/postcard) of
//! [`Wire`]: uuids as their 16 bytes, BLAKE3 digests as their 16 bytes, the asset's own uuid
//! left out (it is the end of its Dot id, the key). Anything that is not in the expected
//! shape (a uuid in another spelling, a digest that is not 32 lowercase hex digits) is kept
//! as text, so every entry round-trips exactly. States written before this encoding hold
//! JSON (first byte `{`); [`decode`] reads both, and the store rewrites old entries once
//! when it opens the state.

use serde::{Deserialize, Serialize};

use super::fingerprint::Signature;
use super::known::Brief;
use super::store::IndexEntry;
use crate::dot::types::AssetKind;

/// The first byte of an entry in this encoding (JSON starts with `{`).
pub const FORMAT: u8 = 1;

/// A uuid as its 16 bytes when it is in Lightdash's canonical spelling (lowercase,
/// hyphenated), else as text.
#[derive(Serialize, Deserialize)]
enum Id {
    Uuid([u8; 16]),
    Text(String),
}

impl Id {
    fn new(s: &str) -> Id {
        match uuid::Uuid::try_parse(s) {
            Ok(u) if u.hyphenated().to_string() == s => Id::Uuid(*u.as_bytes()),
            _ => Id::Text(s.to_owned()),
        }
    }

    fn into_string(self) -> String {
        match self {
            Id::Uuid(b) => uuid::Uuid::from_bytes(b)
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                .to_owned(),
            Id::Text(s) => s,
        }
    }
}

/// A digest (fingerprint, signature, space digest) as its 16 bytes when it is 32 lowercase
/// hex digits, as `fingerprint::hash_parts` writes them; else as text (seeded entries have
/// empty ones).
#[derive(Serialize, Deserialize)]
enum Digest {
    Bytes([u8; 16]),
    Text(String),
}

impl Digest {
    fn new(s: &str) -> Digest {
        match Signature::from_hex(s) {
            Some(sig) => Digest::Bytes(*sig.as_bytes()),
            None => Digest::Text(s.to_owned()),
        }
    }

    fn into_string(self) -> String {
        match self {
            // Every entry of every cycle comes through here: no `format!` per byte.
            Digest::Bytes(b) => Signature::from_bytes(b).to_hex(),
            Digest::Text(s) => s,
        }
    }
}

/// What is stored, field for field with [`IndexEntry`].
#[derive(Serialize, Deserialize)]
struct Wire {
    /// Index in [`AssetKind::ALL`].
    kind: u8,
    project: Id,
    /// `None` when it is the end of the Dot id (always, for entries we write).
    uuid: Option<String>,
    fingerprint: Digest,
    signature: Digest,
    updated_at: Option<String>,
    space: Option<Id>,
    charts: Vec<Id>,
    /// Bit 0: active; bit 1: stale.
    flags: u8,
    pushed_at: i64,
    views: Option<u64>,
    views_pushed_at: i64,
    shows: Option<Digest>,
}

/// The stored bytes of `entry`, the entry of Dot id `id`.
pub fn encode(id: &str, entry: &IndexEntry) -> Vec<u8> {
    let own_uuid = AssetKind::split_id(id).is_some_and(|(k, u)| k == entry.kind && u == entry.uuid);
    let wire = Wire {
        kind: AssetKind::ALL
            .iter()
            .position(|k| *k == entry.kind)
            .unwrap_or(0) as u8,
        project: Id::new(&entry.project),
        uuid: (!own_uuid).then(|| entry.uuid.clone()),
        fingerprint: Digest::new(&entry.fingerprint),
        signature: Digest::new(&entry.signature),
        updated_at: entry.updated_at.clone(),
        space: entry.space.as_deref().map(Id::new),
        charts: entry.charts.iter().map(|c| Id::new(c)).collect(),
        flags: u8::from(entry.active) | u8::from(entry.stale) << 1,
        pushed_at: entry.pushed_at,
        views: entry.views,
        views_pushed_at: entry.views_pushed_at,
        shows: entry.shows.as_deref().map(Digest::new),
    };
    let mut out = vec![FORMAT];
    // Serialising plain data into a Vec cannot fail.
    out.extend(postcard::to_allocvec(&wire).unwrap_or_default());
    out
}

/// The entry stored as `bytes` for Dot id `id`, in this encoding or as the JSON of older
/// states. Errors say what did not decode (the caller skips the entry, so its asset is
/// rendered again as new).
pub fn decode(id: &str, bytes: &[u8]) -> Result<IndexEntry, String> {
    match bytes.split_first() {
        Some((&FORMAT, rest)) => {
            let w: Wire = postcard::from_bytes(rest).map_err(|e| e.to_string())?;
            let kind = *AssetKind::ALL
                .get(usize::from(w.kind))
                .ok_or_else(|| format!("unknown asset kind {}", w.kind))?;
            let uuid = match w.uuid {
                Some(u) => u,
                None => AssetKind::split_id(id)
                    .map(|(_, u)| u.to_owned())
                    .ok_or("the entry leaves out its uuid but its key is not a Dot id")?,
            };
            Ok(IndexEntry {
                kind,
                project: w.project.into_string(),
                uuid,
                fingerprint: w.fingerprint.into_string(),
                signature: w.signature.into_string(),
                updated_at: w.updated_at,
                space: w.space.map(Id::into_string),
                charts: w.charts.into_iter().map(Id::into_string).collect(),
                active: w.flags & 1 != 0,
                pushed_at: w.pushed_at,
                views: w.views,
                views_pushed_at: w.views_pushed_at,
                stale: w.flags & 2 != 0,
                shows: w.shows.map(Digest::into_string),
            })
        }
        _ => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
    }
}

/// A uuid as [`Id`] stores it, borrowed from the stored bytes.
#[derive(Deserialize)]
enum IdRef<'a> {
    Uuid([u8; 16]),
    Text(&'a str),
}

/// A digest as [`Digest`] stores it, borrowed from the stored bytes.
#[derive(Deserialize)]
enum DigestRef<'a> {
    Bytes([u8; 16]),
    Text(&'a str),
}

/// A list of [`Id`]s read past without keeping them (a dashboard's tiles, in a brief).
struct SkipIds;

impl<'de> Deserialize<'de> for SkipIds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Each;
        impl<'de> serde::de::Visitor<'de> for Each {
            type Value = SkipIds;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of ids")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<SkipIds, A::Error> {
                while seq.next_element::<IdRef<'de>>()?.is_some() {}
                Ok(SkipIds)
            }
        }
        d.deserialize_seq(Each)
    }
}

/// [`Wire`], borrowed, keeping only what a pass over the whole index needs. Every field is
/// read, so an entry [`decode`] rejects is rejected here too.
// Fields a brief does not use are still read, in order: postcard is positional.
#[allow(dead_code)]
#[derive(Deserialize)]
struct WireBrief<'a> {
    kind: u8,
    #[serde(borrow)]
    project: IdRef<'a>,
    #[serde(borrow)]
    uuid: Option<&'a str>,
    #[serde(borrow)]
    fingerprint: DigestRef<'a>,
    #[serde(borrow)]
    signature: DigestRef<'a>,
    #[serde(borrow)]
    updated_at: Option<&'a str>,
    #[serde(borrow)]
    space: Option<IdRef<'a>>,
    charts: SkipIds,
    flags: u8,
    pushed_at: i64,
    views: Option<u64>,
    views_pushed_at: i64,
    #[serde(borrow)]
    shows: Option<DigestRef<'a>>,
}

/// Calls `f(project, active, brief)` with what change detection needs of the entry stored as
/// `bytes` for Dot id `id`, and returns its result. In this encoding nothing is allocated
/// (the project uuid is spelled out on the stack, tiles are read past): a cycle reads every
/// entry this way (issue #12). JSON of older states is decoded whole. Errors as [`decode`]:
/// an entry one rejects, the other rejects.
pub fn decode_brief<R>(
    id: &str,
    bytes: &[u8],
    f: impl FnOnce(&str, bool, Brief) -> R,
) -> Result<R, String> {
    let Some((&FORMAT, rest)) = bytes.split_first() else {
        let e = decode(id, bytes)?;
        return Ok(f(&e.project, e.active, Brief::of(&e)));
    };
    let w: WireBrief<'_> = postcard::from_bytes(rest).map_err(|e| e.to_string())?;
    if usize::from(w.kind) >= AssetKind::ALL.len() {
        return Err(format!("unknown asset kind {}", w.kind));
    }
    if w.uuid.is_none() && AssetKind::split_id(id).is_none() {
        return Err("the entry leaves out its uuid but its key is not a Dot id".into());
    }
    let signature = match w.signature {
        DigestRef::Bytes(b) => Some(Signature::from_bytes(b)),
        DigestRef::Text(t) => Signature::from_hex(t),
    };
    let brief = Brief::new(signature, w.flags & 2 != 0, w.views);
    let active = w.flags & 1 != 0;
    Ok(match w.project {
        IdRef::Uuid(b) => {
            let mut buf = uuid::Uuid::encode_buffer();
            let project = uuid::Uuid::from_bytes(b)
                .hyphenated()
                .encode_lower(&mut buf);
            f(project, active, brief)
        }
        IdRef::Text(t) => f(t, active, brief),
    })
}

/// Whether `bytes` are in an older encoding, to be rewritten.
pub fn is_legacy(bytes: &[u8]) -> bool {
    bytes.first() != Some(&FORMAT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dashboard() -> (String, IndexEntry) {
        let uuid = "000000da-5e5e-4000-8000-000000001388";
        let entry = IndexEntry {
            kind: AssetKind::Dashboard,
            project: "00000050-5e5e-4000-8000-000000000000".into(),
            uuid: uuid.into(),
            fingerprint: "b1d769ce03d500fefda5cbcd6846c1e2".into(),
            signature: "2712e77f09cf9a6ed79cca6188d9be93".into(),
            updated_at: Some("2026-10-01T09:00:00.000Z".into()),
            space: Some("0000005a-5e5e-4000-8000-00000000007d".into()),
            charts: (0..6)
                .map(|i| format!("000000c4-5e5e-4000-8000-00000000104{i}"))
                .collect(),
            active: true,
            pushed_at: 1_796_095_500,
            views: Some(10_627),
            views_pushed_at: 1_796_095_500,
            stale: false,
            shows: None,
        };
        (AssetKind::Dashboard.asset_id(uuid), entry)
    }

    #[test]
    fn entries_round_trip_in_under_two_fifths_of_their_json() {
        let (id, entry) = dashboard();
        let bytes = encode(&id, &entry);
        assert_eq!(decode(&id, &bytes).unwrap(), entry);
        let json = serde_json::to_vec(&entry).unwrap();
        assert!(
            bytes.len() * 5 <= json.len() * 2,
            "{} bytes against {} as JSON",
            bytes.len(),
            json.len()
        );
    }

    #[test]
    fn anything_in_an_unexpected_shape_round_trips_as_text() {
        let (_, mut entry) = dashboard();
        // A key that is not the entry's own Dot id, ids in other spellings, digests that
        // are not BLAKE3 hex, a space digest and every flag.
        entry.uuid = "c1".into();
        entry.project = "PROJECT-Upper".into();
        entry.space = Some("00000050-5E5E-4000-8000-000000000000".into());
        entry.charts = vec!["slug-like".into(), String::new()];
        entry.fingerprint = String::new();
        entry.signature = "B1D769CE03D500FEFDA5CBCD6846C1E2".into();
        entry.shows = Some("0123456789abcdef0123456789abcdef".into());
        entry.stale = true;
        entry.active = false;
        entry.views = None;
        entry.updated_at = None;
        for kind in AssetKind::ALL {
            entry.kind = kind;
            let id = "lightdash-chart-other";
            assert_eq!(decode(id, &encode(id, &entry)).unwrap(), entry);
        }
    }

    #[test]
    fn json_of_older_states_is_read_and_known_for_rewriting() {
        let (id, entry) = dashboard();
        let json = serde_json::to_vec(&entry).unwrap();
        assert!(is_legacy(&json));
        assert!(!is_legacy(&encode(&id, &entry)));
        assert_eq!(decode(&id, &json).unwrap(), entry);
    }

    /// What `decode_brief` gives, as owned values.
    fn brief_of(id: &str, bytes: &[u8]) -> Result<(String, bool, Brief), String> {
        decode_brief(id, bytes, |p, active, b| (p.to_owned(), active, b))
    }

    #[test]
    fn a_brief_reads_what_the_whole_entry_says() {
        let (id, mut entry) = dashboard();
        for (stale, active, views) in [(false, true, Some(7)), (true, false, None)] {
            entry.stale = stale;
            entry.active = active;
            entry.views = views;
            let expected = (entry.project.clone(), active, Brief::of(&entry));
            assert_eq!(brief_of(&id, &encode(&id, &entry)).unwrap(), expected);
            let json = serde_json::to_vec(&entry).unwrap();
            assert_eq!(brief_of(&id, &json).unwrap(), expected);
        }
        assert_eq!(
            brief_of(&id, &encode(&id, &entry)).unwrap().2.signature(),
            Signature::from_hex("2712e77f09cf9a6ed79cca6188d9be93")
        );
        // Text kept in unexpected shapes comes back as text; a signature that is not hex is
        // none (the cycle then reads the whole entry).
        entry.project = "PROJECT-Upper".into();
        entry.signature = "sig-1".into();
        let (project, _, brief) = brief_of(&id, &encode(&id, &entry)).unwrap();
        assert_eq!(project, "PROJECT-Upper");
        assert_eq!(brief.signature(), None);
        let bytes = encode(&id, &entry);
        for cut in 1..bytes.len() {
            assert_eq!(
                brief_of(&id, &bytes[..cut]).is_err(),
                decode(&id, &bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // An entry of an unknown kind is skipped by both, never counted as active.
        let mut other_kind = bytes.clone();
        other_kind[1] = 9;
        assert!(decode(&id, &other_kind).is_err());
        assert!(brief_of(&id, &other_kind).is_err());
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let (id, entry) = dashboard();
        let bytes = encode(&id, &entry);
        for cut in 1..bytes.len() {
            assert!(decode(&id, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(&id, &[FORMAT, 9]).is_err());
        assert!(decode(&id, b"not json").is_err());
    }
}
