//! Shared wiring for the integration tests: mock Lightdash + mock Dot + settings + state +
//! sync context, as `src/demo/run.rs` does it.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lightdash_dot_sync::config::{RawSecret, RawSettings, Settings};
use lightdash_dot_sync::demo::content::{LightdashContent, ProjectContent, bundled};
use lightdash_dot_sync::demo::mock_dot::{MockDot, MockDotHandle, MockDotOptions};
use lightdash_dot_sync::demo::mock_lightdash::{
    MockLightdash, MockLightdashHandle, MockLightdashOptions,
};
use lightdash_dot_sync::lightdash::types::ProjectType;
use lightdash_dot_sync::sync::{
    CycleKind, CycleOptions, CycleRun, NoProgress, SyncContext, run_cycle,
};

/// Everything a test talks to.
pub struct TestApp {
    pub lightdash: MockLightdashHandle,
    pub dot: MockDotHandle,
    pub settings: Arc<Settings>,
    pub ctx: Option<SyncContext>,
    pub dir: tempfile::TempDir,
}

/// Knobs for [`spawn_app_with`].
pub struct AppOptions {
    pub content: LightdashContent,
    pub lightdash: MockLightdashOptions,
    pub tweak: Box<dyn FnOnce(&mut RawSettings)>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            content: bundled(),
            lightdash: MockLightdashOptions::default(),
            tweak: Box::new(|_| {}),
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(opts: AppOptions) -> TestApp {
    let token = opts.lightdash.token.clone();
    let lightdash = MockLightdash::start(opts.content, opts.lightdash)
        .await
        .expect("mock Lightdash starts");
    let dot_options = MockDotOptions::default();
    let dot_key = dot_options.api_key.clone();
    let dot = MockDot::start(dot_options).await.expect("mock Dot starts");
    let dir = tempfile::tempdir().expect("tempdir");

    let mut raw = RawSettings::default();
    raw.lightdash.url = lightdash.url();
    raw.lightdash.api_key = Some(RawSecret(token.into()));
    raw.lightdash.requests_per_second = 1000.0;
    raw.dot.url = dot.url();
    raw.dot.api_key = Some(RawSecret(dot_key.into()));
    raw.dot.requests_per_second = 1000.0;
    raw.dot.max_attempts = 2;
    raw.state.path = dir.path().join("state");
    raw.server.listen = String::new();
    (opts.tweak)(&mut raw);
    let settings = Arc::new(raw.validate(&HashMap::new()).expect("valid settings"));
    let store = lightdash_dot_sync::app::open_store(&settings).expect("state opens");
    let ctx = SyncContext::new(settings.clone(), store);
    TestApp {
        lightdash,
        dot,
        settings,
        ctx: Some(ctx),
        dir,
    }
}

impl TestApp {
    pub fn ctx(&self) -> &SyncContext {
        self.ctx.as_ref().expect("context open")
    }

    pub async fn cycle(&self) -> CycleRun {
        self.cycle_with(CycleOptions::default()).await
    }

    pub async fn cycle_kind(&self, kind: CycleKind) -> CycleRun {
        self.cycle_with(CycleOptions {
            kind,
            ..Default::default()
        })
        .await
    }

    pub async fn cycle_with(&self, opts: CycleOptions) -> CycleRun {
        run_cycle(self.ctx(), opts, &NoProgress).await
    }

    /// Drops the context (and its store, releasing the lock) and opens a new one on the same
    /// state directory.
    pub fn restart(&mut self) {
        self.ctx = None;
        let store = lightdash_dot_sync::app::open_store(&self.settings).expect("state reopens");
        self.ctx = Some(SyncContext::new(self.settings.clone(), store));
    }

    pub fn state_path(&self) -> &Path {
        &self.settings.state.path
    }

    /// Ids of the Dot requests since the last clear, in order.
    pub fn dot_ids(&self) -> Vec<String> {
        self.dot
            .requests()
            .into_iter()
            .filter_map(|r| r.id)
            .collect()
    }

    /// Distinct ids of the Dot requests since the last clear.
    pub fn dot_id_set(&self) -> BTreeSet<String> {
        self.dot_ids().into_iter().collect()
    }

    pub fn clear_requests(&self) {
        self.dot.clear_requests();
        self.lightdash.clear_requests();
    }

    pub fn content(&self) -> LightdashContent {
        self.lightdash.content()
    }
}

pub fn dashboard_id(uuid: &str) -> String {
    format!("lightdash-dashboard-{uuid}")
}
pub fn chart_id(uuid: &str) -> String {
    format!("lightdash-chart-{uuid}")
}
pub fn space_id(uuid: &str) -> String {
    format!("lightdash-space-{uuid}")
}

/// The projects a default configuration syncs (every non-preview project).
pub fn synced_projects(content: &LightdashContent) -> Vec<&ProjectContent> {
    content
        .projects
        .iter()
        .filter(|p| p.project.project_type != ProjectType::Preview)
        .collect()
}

/// Private spaces of a project, including spaces nested under a private one.
pub fn private_spaces(project: &ProjectContent) -> BTreeSet<String> {
    let mut private: BTreeSet<String> = project
        .spaces
        .iter()
        .filter(|s| s.is_private)
        .map(|s| s.uuid.clone())
        .collect();
    loop {
        let more: Vec<String> = project
            .spaces
            .iter()
            .filter(|s| !private.contains(&s.uuid))
            .filter(|s| {
                s.parent_space_uuid
                    .as_ref()
                    .is_some_and(|p| private.contains(p))
            })
            .map(|s| s.uuid.clone())
            .collect();
        if more.is_empty() {
            return private;
        }
        private.extend(more);
    }
}

/// Every Dot id the default configuration should push for `content`: the synced projects'
/// non-private spaces, dashboards and charts.
pub fn expected_ids(content: &LightdashContent) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for project in synced_projects(content) {
        let private = private_spaces(project);
        for s in &project.spaces {
            if !private.contains(&s.uuid) {
                ids.insert(space_id(&s.uuid));
            }
        }
        for d in &project.dashboards {
            if !private.contains(&d.summary.space_uuid) {
                ids.insert(dashboard_id(&d.summary.uuid));
            }
        }
        for c in &project.charts {
            if !private.contains(&c.summary.space_uuid) {
                ids.insert(chart_id(&c.summary.uuid));
            }
        }
    }
    ids
}

/// Every Dot id of `content`, in scope or not.
pub fn all_ids(content: &LightdashContent) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for project in &content.projects {
        ids.extend(project.spaces.iter().map(|s| space_id(&s.uuid)));
        ids.extend(
            project
                .dashboards
                .iter()
                .map(|d| dashboard_id(&d.summary.uuid)),
        );
        ids.extend(project.charts.iter().map(|c| chart_id(&c.summary.uuid)));
    }
    ids
}

/// Dashboards showing a chart: tiles referencing it plus the dashboard it is saved in.
pub fn dashboards_showing(project: &ProjectContent, chart_uuid: &str) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = project
        .dashboards
        .iter()
        .filter(|d| {
            d.details
                .tiles
                .iter()
                .any(|t| t.properties.saved_chart_uuid.as_deref() == Some(chart_uuid))
        })
        .map(|d| d.summary.uuid.clone())
        .collect();
    if let Some(chart) = project.chart(chart_uuid)
        && let Some(d) = &chart.summary.dashboard_uuid
    {
        out.insert(d.to_string());
    }
    out
}

/// A tmpfs this test mounts (and unmounts on drop, even on failure).
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    /// `None` where mounting is not allowed (not root, no CAP_SYS_ADMIN): the test is then
    /// skipped with a note; `tests/robustness.rs` covers the same paths with an injected fault.
    pub fn mount(at: PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(at))
    }

    /// Fills the file system with one file until ENOSPC; returns the file.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "filled until ENOSPC: {e}");
                    break;
                }
            }
        }
        // Use up the last partial block too.
        while f.write(&[0u8]).is_ok_and(|n| n > 0) {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
