//! Small builders for the sync stages' unit tests (test builds only).

use crate::dot::types::AssetKind;
use crate::lightdash::types::{ChartSummary, DashboardSummary, SpaceSummary};
use crate::state::IndexEntry;

/// A public space.
pub fn space(uuid: &str, parent: Option<&str>) -> SpaceSummary {
    SpaceSummary {
        uuid: uuid.into(),
        name: format!("Space {uuid}"),
        parent_space_uuid: parent.map(str::to_owned),
        ..Default::default()
    }
}

/// A dashboard in `space`.
pub fn dashboard(uuid: &str, space: &str) -> DashboardSummary {
    DashboardSummary {
        uuid: uuid.into(),
        name: format!("Dashboard {uuid}"),
        space_uuid: space.into(),
        updated_at: Some("2026-01-01T00:00:00Z".into()),
        ..Default::default()
    }
}

/// A chart in `space`.
pub fn chart(uuid: &str, space: &str) -> ChartSummary {
    ChartSummary {
        uuid: uuid.into(),
        name: format!("Chart {uuid}"),
        slug: Some(format!("slug-{uuid}").into()),
        space_uuid: space.into(),
        updated_at: Some("2026-01-01T00:00:00Z".into()),
        ..Default::default()
    }
}

/// A live state entry of project `p`.
pub fn entry(kind: AssetKind, uuid: &str) -> IndexEntry {
    IndexEntry {
        kind,
        project: "p".into(),
        uuid: uuid.into(),
        fingerprint: "f".into(),
        signature: "s".into(),
        updated_at: Some("2026-01-01T00:00:00Z".into()),
        space: None,
        charts: vec![],
        active: true,
        pushed_at: 0,
        views: None,
        views_pushed_at: 0,
        stale: false,
        shows: None,
    }
}
