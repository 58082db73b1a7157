//! Fingerprints and listing signatures. PURE.
//!
//! A *fingerprint* identifies what Dot holds for an asset: the canonical asset without its
//! view count (view counts move on their own schedule, see `sync.view_count_refresh`), plus
//! the render format version so a template change re-pushes everything once, on purpose.
//! A *listing signature* identifies what the cheap listings say about an item; when it is
//! unchanged the item needs no detail fetch. It includes the render format version too: a
//! new format must re-render every asset from fresh details, not only those whose listing
//! happened to change.

use crate::dot::types::ExternalAsset;
use crate::lightdash::types::{ChartSummary, DashboardSummary, SpaceSummary};
use crate::render::RENDER_FORMAT_VERSION;

fn hash_parts(parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().to_hex()[..32].to_owned()
}

/// The fingerprint of an asset as pushed, excluding `view_count`.
pub fn fingerprint(asset: &ExternalAsset) -> String {
    let mut canonical = asset.clone();
    canonical.view_count = None;
    // Serializing a struct is deterministic: fields in declaration order.
    let json = serde_json::to_string(&canonical).unwrap_or_default();
    hash_parts(&[&RENDER_FORMAT_VERSION.to_string(), &json])
}

fn private_flag(private: bool) -> &'static str {
    if private { "private" } else { "public" }
}

/// Signature of a chart's listing entry: name, description, space (and the folder path its
/// space resolves to, so renaming a parent space re-pushes it), `updatedAt`, slug, privacy.
pub fn chart_signature(c: &ChartSummary, folder: &str, private: bool) -> String {
    hash_parts(&[
        "chart",
        &RENDER_FORMAT_VERSION.to_string(),
        &c.name,
        c.description.as_deref().unwrap_or(""),
        &c.space_uuid,
        folder,
        c.updated_at.as_deref().unwrap_or(""),
        c.slug.as_deref().unwrap_or(""),
        c.dashboard_uuid.as_deref().unwrap_or(""),
        c.chart_kind.as_ref().map(|k| k.as_str()).unwrap_or(""),
        private_flag(private),
    ])
}

/// Signature of a dashboard's listing entry (see [`chart_signature`]).
pub fn dashboard_signature(d: &DashboardSummary, folder: &str, private: bool) -> String {
    hash_parts(&[
        "dashboard",
        &RENDER_FORMAT_VERSION.to_string(),
        &d.name,
        d.description.as_deref().unwrap_or(""),
        &d.space_uuid,
        folder,
        d.updated_at.as_deref().unwrap_or(""),
        d.slug.as_deref().unwrap_or(""),
        private_flag(private),
    ])
}

/// Signature of a space's listing entry: name, slug, parent, resolved path, privacy.
pub fn space_signature(s: &SpaceSummary, path: &str, private: bool) -> String {
    hash_parts(&[
        "space",
        &RENDER_FORMAT_VERSION.to_string(),
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
