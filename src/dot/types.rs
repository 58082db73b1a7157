//! The body Dot's `POST /api/import_and_overwrite_external_asset` takes. No I/O.

use serde::{Deserialize, Serialize};

/// Dot's `ExternalAsset` (see `shared/specs/dot-openapi.json`). Every field is always
/// serialized, `null` included, so Dot overwrites what it had rather than keeping stale values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalAsset {
    /// `lightdash-<kind>-<uuid>`, stable forever.
    pub id: String,
    /// `lightdash_dashboard`, `lightdash_chart` or `lightdash_space`.
    pub subtype: String,
    /// `<project name>/<space path by names>`.
    pub folder: Option<String>,
    /// Name as in Lightdash.
    pub name: Option<String>,
    /// Description as in Lightdash.
    pub description: Option<String>,
    /// Deep link into Lightdash.
    pub url: Option<String>,
    /// `false` deactivates the asset in Dot.
    pub active: bool,
    /// Lightdash `views`.
    pub view_count: Option<u64>,
    /// Always `null`: Lightdash exposes no last-viewed time.
    pub last_accessed_at: Option<String>,
    /// The markdown Dot reads to decide whether this asset answers a question.
    pub dot_description: Option<String>,
}

/// The request body: the asset wrapped in `external_asset`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportBody {
    /// The asset.
    pub external_asset: ExternalAsset,
}

/// Asset kinds we sync; the middle part of every id and subtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    /// A dashboard.
    Dashboard,
    /// A saved chart.
    Chart,
    /// A space (folder).
    Space,
}

impl AssetKind {
    /// Every kind, in the order assets are pushed (spaces first so folders exist).
    pub const ALL: [AssetKind; 3] = [AssetKind::Space, AssetKind::Dashboard, AssetKind::Chart];

    /// `dashboard`, `chart` or `space`: the spelling of `sync.kinds`.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Dashboard => "dashboard",
            AssetKind::Chart => "chart",
            AssetKind::Space => "space",
        }
    }

    /// Parses a `sync.kinds` entry.
    pub fn parse(s: &str) -> Option<AssetKind> {
        AssetKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Dot subtype, e.g. `lightdash_dashboard`.
    pub fn subtype(self) -> &'static str {
        match self {
            AssetKind::Dashboard => "lightdash_dashboard",
            AssetKind::Chart => "lightdash_chart",
            AssetKind::Space => "lightdash_space",
        }
    }

    /// Dot id for a Lightdash uuid, e.g. `lightdash-chart-<uuid>`.
    pub fn asset_id(self, uuid: &str) -> String {
        let mut id = String::new();
        self.write_id(uuid, &mut id);
        id
    }

    /// [`Self::asset_id`] written into `buf` (cleared first), for loops over every asset that
    /// need the id only for a moment.
    pub fn write_id(self, uuid: &str, buf: &mut String) {
        buf.clear();
        buf.reserve("lightdash--".len() + self.as_str().len() + uuid.len());
        buf.push_str("lightdash-");
        buf.push_str(self.as_str());
        buf.push('-');
        buf.push_str(uuid);
    }

    /// The kind and uuid of a Dot id we produced.
    pub fn split_id(id: &str) -> Option<(AssetKind, &str)> {
        let rest = id.strip_prefix("lightdash-")?;
        let (kind, uuid) = rest.split_once('-')?;
        Some((AssetKind::parse(kind)?, uuid))
    }
}

impl std::fmt::Display for AssetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let id = AssetKind::Chart.asset_id("3f1c-aa");
        assert_eq!(id, "lightdash-chart-3f1c-aa");
        assert_eq!(
            AssetKind::split_id(&id),
            Some((AssetKind::Chart, "3f1c-aa"))
        );
        assert_eq!(AssetKind::split_id("looker-chart-1"), None);
    }

    #[test]
    fn nulls_are_sent_explicitly() {
        let a = ExternalAsset {
            id: "lightdash-space-1".into(),
            subtype: AssetKind::Space.subtype().into(),
            folder: None,
            name: None,
            description: None,
            url: None,
            active: true,
            view_count: None,
            last_accessed_at: None,
            dot_description: None,
        };
        let v = serde_json::to_value(ImportBody { external_asset: a }).unwrap();
        assert!(v["external_asset"]["last_accessed_at"].is_null());
        assert_eq!(v["external_asset"].as_object().unwrap().len(), 10);
    }
}
