//! Fingerprints and listing signatures. PURE.
//!
//! A *fingerprint* identifies what Dot holds for an asset: the canonical asset without its
//! view count (view counts move on their own schedule, see `sync.view_count_refresh`), plus
//! the render format version so a template change re-pushes everything once, on purpose.
//! A *listing signature* identifies what the cheap listings say about an item; when it is
//! unchanged the item needs no detail fetch. Signatures are combined with the
//! [`render_settings_key`] ([`with_render_settings`]), so a setting that changes rendered
//! output (link base, description cap, synced kinds, render format) marks every asset
//! changed: the next cycle re-renders it from stored details, without refetching (details
//! kept under an older `DETAILS_FORMAT_VERSION` are fetched again: they may lack what the
//! renderer now reads).

use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::types::{
    ChartSource, ChartSummary, DashboardSummary, SpaceSummary, Verification,
};
use crate::render::{RENDER_FORMAT_VERSION, RenderOptions};

/// A listing signature: the first 16 bytes of a BLAKE3 digest, kept as bytes in memory
/// (a cycle holds one per listed item) and written as 32 lowercase hex digits, the form the
/// state keeps.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Signature([u8; 16]);

impl Signature {
    /// The signature of these 16 bytes (as the state's compact encoding keeps them).
    pub const fn from_bytes(bytes: [u8; 16]) -> Signature {
        Signature(bytes)
    }

    /// The signature written as `hex` (32 lowercase hex digits, the form the state keeps);
    /// `None` for anything else (seeded entries keep an empty one).
    pub fn from_hex(hex: &str) -> Option<Signature> {
        let digits = hex.as_bytes();
        if digits.len() != 32 {
            return None;
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 16];
        for (i, pair) in digits.chunks_exact(2).enumerate() {
            out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Signature(out))
    }

    /// The 16 bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The 32 hex digits, on the stack.
    fn hex_bytes(&self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
        }
        out
    }

    /// As the state writes it: 32 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        String::from_utf8_lossy(&self.hex_bytes()).into_owned()
    }

    /// Whether `hex` (as the state keeps it) is this signature; no allocation.
    pub fn matches_hex(&self, hex: &str) -> bool {
        hex.as_bytes() == self.hex_bytes()
    }

    /// This signature bound to the render settings it is rendered under: the same as
    /// [`with_render_settings`] on its hex form, without allocating.
    pub fn bound(&self, settings_key: &str) -> Signature {
        let hex = self.hex_bytes();
        digest_parts(&[std::str::from_utf8(&hex).unwrap_or_default(), settings_key])
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::str::from_utf8(&self.hex_bytes()).unwrap_or_default())
    }
}

fn digest_parts(parts: &[&str]) -> Signature {
    let mut h = blake3::Hasher::new();
    for p in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    Signature(out)
}

fn hash_parts(parts: &[&str]) -> String {
    digest_parts(parts).to_hex()
}

/// The fingerprint of an asset as pushed, excluding `view_count`.
pub fn fingerprint(asset: &ExternalAsset) -> String {
    let mut canonical = asset.clone();
    canonical.view_count = None;
    // Serializing a struct is deterministic: fields in declaration order.
    let json = serde_json::to_string(&canonical).unwrap_or_default();
    hash_parts(&[&RENDER_FORMAT_VERSION.to_string(), &json])
}

/// Verification in a signature: verifying does not move `updatedAt`, so it must be part of
/// the signature for a (un)verification to reach Dot in an incremental cycle.
fn verification_part(v: Option<&Verification>) -> String {
    match v {
        None => String::new(),
        Some(v) => format!(
            "verified:{}:{}",
            v.verified_at.as_deref().unwrap_or(""),
            v.verified_by
                .as_ref()
                .and_then(|u| u.user_uuid.as_deref())
                .unwrap_or("")
        ),
    }
}

/// Identifies every setting that shapes rendered output: all of [`RenderOptions`] (through
/// its `Debug` form, so an option added later is covered without touching this), the synced
/// kinds (order-free) and [`RENDER_FORMAT_VERSION`].
pub fn render_settings_key(options: &RenderOptions, kinds: &[AssetKind]) -> String {
    let mut kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    hash_parts(&[
        "render-settings",
        &RENDER_FORMAT_VERSION.to_string(),
        &format!("{options:?}"),
        &kinds.join(","),
    ])
}

/// A listing signature bound to the render settings it was rendered under.
pub fn with_render_settings(signature: &str, settings_key: &str) -> String {
    hash_parts(&[signature, settings_key])
}

fn private_flag(private: bool) -> &'static str {
    if private { "private" } else { "public" }
}

/// Signature of a chart's listing entry: name, description, space (and the folder path its
/// space resolves to, so renaming a parent space re-pushes it), `updatedAt`, slug, privacy.
pub fn chart_signature(c: &ChartSummary, folder: &str, private: bool) -> Signature {
    digest_parts(&[
        "chart",
        &c.name,
        c.description.as_deref().unwrap_or(""),
        &c.space_uuid,
        folder,
        c.updated_at.as_deref().unwrap_or(""),
        c.slug.as_deref().unwrap_or(""),
        c.dashboard_uuid.as_deref().unwrap_or(""),
        c.chart_kind.as_ref().map(|k| k.as_str()).unwrap_or(""),
        private_flag(private),
        &verification_part(c.verification.as_deref()),
        c.source.as_ref().map_or("", ChartSource::as_str),
    ])
}

/// Signature of a dashboard's listing entry (see [`chart_signature`]).
pub fn dashboard_signature(d: &DashboardSummary, folder: &str, private: bool) -> Signature {
    digest_parts(&[
        "dashboard",
        &d.name,
        d.description.as_deref().unwrap_or(""),
        &d.space_uuid,
        folder,
        d.updated_at.as_deref().unwrap_or(""),
        d.slug.as_deref().unwrap_or(""),
        private_flag(private),
        &verification_part(d.verification.as_deref()),
    ])
}

/// Signature of a space's listing entry: name, slug, parent, resolved path, privacy.
pub fn space_signature(s: &SpaceSummary, path: &str, private: bool) -> Signature {
    digest_parts(&[
        "space",
        &s.name,
        s.slug.as_deref().unwrap_or(""),
        s.parent_space_uuid.as_deref().unwrap_or(""),
        path,
        private_flag(private),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset() -> ExternalAsset {
        ExternalAsset {
            id: "lightdash-chart-1".into(),
            subtype: "lightdash_chart".into(),
            folder: Some("P/S".into()),
            name: Some("Revenue".into()),
            description: None,
            url: Some("https://x/projects/p/saved/1/view".into()),
            active: true,
            view_count: Some(3),
            last_accessed_at: None,
            dot_description: Some("# Revenue".into()),
        }
    }

    #[test]
    fn view_count_is_not_part_of_the_fingerprint() {
        let a = asset();
        let mut b = asset();
        b.view_count = Some(999);
        assert_eq!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn content_and_activity_are() {
        let a = asset();
        for change in [
            |x: &mut ExternalAsset| x.name = Some("Revenue!".into()),
            |x: &mut ExternalAsset| x.active = false,
            |x: &mut ExternalAsset| x.dot_description = Some("# Revenue\n".into()),
            |x: &mut ExternalAsset| x.folder = None,
        ] {
            let mut b = asset();
            change(&mut b);
            assert_ne!(fingerprint(&a), fingerprint(&b));
        }
    }

    #[test]
    fn every_render_setting_is_part_of_the_key() {
        let options = |site: &str, cap: usize| RenderOptions {
            site_url: site.into(),
            max_description_chars: cap,
        };
        let all = [AssetKind::Dashboard, AssetKind::Chart, AssetKind::Space];
        let base = render_settings_key(&options("https://a", 100), &all);
        let reordered = [AssetKind::Space, AssetKind::Chart, AssetKind::Dashboard];
        assert_eq!(
            base,
            render_settings_key(&options("https://a", 100), &reordered)
        );
        assert_ne!(base, render_settings_key(&options("https://b", 100), &all));
        assert_ne!(base, render_settings_key(&options("https://a", 99), &all));
        assert_ne!(
            base,
            render_settings_key(&options("https://a", 100), &all[..2])
        );
        let sig = "abc";
        assert_ne!(
            with_render_settings(sig, &base),
            with_render_settings(sig, &render_settings_key(&options("https://b", 100), &all))
        );
        assert_eq!(
            with_render_settings(sig, &base),
            with_render_settings(sig, &base)
        );
    }

    /// Signatures are kept as 16 bytes but must read, compare and bind exactly as the 32-hex
    /// strings the state holds (else every asset would count as changed after an upgrade).
    #[test]
    fn a_signature_is_the_hex_the_state_keeps() {
        let parts = ["chart", "A", ""];
        let mut h = blake3::Hasher::new();
        for p in parts {
            h.update(&(p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        let hex = h.finalize().to_hex()[..32].to_owned();
        let sig = digest_parts(&parts);
        assert_eq!(sig.to_hex(), hex);
        assert_eq!(sig.to_string(), hex);
        assert!(sig.matches_hex(&hex));
        assert!(!sig.matches_hex(&hex[..31]));
        assert!(!sig.matches_hex(&hex.to_uppercase()));
        assert!(!sig.matches_hex(""));
        assert_eq!(sig.bound("key").to_hex(), with_render_settings(&hex, "key"));
        assert_ne!(sig.bound("key"), sig.bound("other"));
    }

    #[test]
    fn signatures_follow_listing_fields() {
        let c = ChartSummary {
            uuid: "u".into(),
            name: "A".into(),
            space_uuid: "s".into(),
            updated_at: Some("2025-01-01".into()),
            ..Default::default()
        };
        let base = chart_signature(&c, "P/S", false);
        assert_eq!(base, chart_signature(&c.clone(), "P/S", false));
        let mut views = c.clone();
        views.views = 77;
        assert_eq!(
            base,
            chart_signature(&views, "P/S", false),
            "views are not content"
        );
        let mut renamed = c.clone();
        renamed.name = "B".into();
        assert_ne!(base, chart_signature(&renamed, "P/S", false));
        assert_ne!(base, chart_signature(&c, "P/T", false));
        assert_ne!(base, chart_signature(&c, "P/S", true));
        let mut edited = c.clone();
        edited.updated_at = Some("2025-01-02".into());
        assert_ne!(base, chart_signature(&edited, "P/S", false));
    }
}
