//! The sled state (I/O): what Dot holds for every asset we pushed, the details needed to
//! re-render it without fetching, and recent cycle reports.
//!
//! The state is a cache of "what Dot has": losing it costs one full push, nothing else. So a
//! corrupt or unreadable state is moved aside and rebuilt rather than crash-looping, and an
//! entry is written only after Dot acknowledged the asset.
//!
//! Layout under `state.path`: `db/` (sled), `owner.json` (pid and admin address of the
//! process holding the lock, for the "state is locked" message), `db.corrupt-<time>/`
//! (states moved aside; the two newest are kept).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dot::types::{AssetKind, ExternalAsset};
use crate::lightdash::types::{ChartDetails, DashboardDetails};
use crate::sync::report::{CycleKind, CycleReport};

/// Version of the on-disk layout; a state written by another version is rebuilt.
pub const SCHEMA_VERSION: u32 = 2;

/// Cycle reports kept.
pub const REPORTS_KEPT: usize = 50;

/// How long a held lock is retried before it is reported (see `try_open_patiently`).
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// Key in the `meta` tree: the kind of the full cycle (deep or resync) started and not yet
/// finished, as its [`CycleKind::as_str`].
const UNFINISHED_CYCLE: &str = "unfinished_full_cycle";

/// Corrupt states kept for inspection.
const CORRUPT_KEPT: usize = 2;

/// What the cycle needs to decide about an asset without loading its pushed body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Asset kind.
    pub kind: AssetKind,
    /// Project uuid.
    pub project: String,
    /// Lightdash uuid.
    pub uuid: String,
    /// Fingerprint of the asset Dot holds.
    pub fingerprint: String,
    /// Listing signature when it was pushed.
    pub signature: String,
    /// `updatedAt` when its details were fetched: a different one means refetch.
    pub updated_at: Option<String>,
    /// Space uuid when pushed (a move re-renders the old space too).
    pub space: Option<String>,
    /// Dashboards: chart uuids on its tiles (a chart change re-renders these dashboards).
    #[serde(default)]
    pub charts: Vec<String>,
    /// `false` once deactivated in Dot.
    pub active: bool,
    /// Unix seconds of the last push.
    pub pushed_at: i64,
    /// View count last pushed.
    pub views: Option<u64>,
    /// Unix seconds when that view count was pushed.
    pub views_pushed_at: i64,
    /// Set when a re-render this asset needed failed: the next cycle renders it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// Spaces: digest of everything the space shows (its listing, path, content and child
    /// spaces) when last rendered; an incremental cycle renders a space again only when it
    /// differs. Absent in older states (the space is then rendered once more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shows: Option<String>,
}

/// Details kept to re-render an asset without fetching it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "details", rename_all = "lowercase")]
pub enum StoredDetails {
    /// A chart's details.
    Chart(Box<ChartDetails>),
    /// A dashboard's details.
    Dashboard(Box<DashboardDetails>),
}

/// Version of the detail types kept in bodies ([`StoredDetails`]). Bumped when those types
/// start keeping a field the renderer reads (2: chart labels, table-calculation forms,
/// warehouse tables, metric filters): details stored by an older version lack it, so they
/// are fetched again, once, instead of being re-rendered without it.
pub const DETAILS_FORMAT_VERSION: u32 = 2;

/// The full record of an asset: what Dot holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetBody {
    /// The asset as last pushed.
    pub asset: ExternalAsset,
    /// Details it was rendered from (none for spaces).
    pub details: Option<StoredDetails>,
    /// [`DETAILS_FORMAT_VERSION`] the details were kept under; 0 for bodies written before
    /// it existed.
    #[serde(default)]
    pub details_format: u32,
}

impl AssetBody {
    /// A body for details kept under the current [`DETAILS_FORMAT_VERSION`].
    pub fn new(asset: ExternalAsset, details: Option<StoredDetails>) -> Self {
        Self {
            asset,
            details,
            details_format: DETAILS_FORMAT_VERSION,
        }
    }

    /// The details, if kept under the current [`DETAILS_FORMAT_VERSION`]; older ones may lack
    /// what the renderer reads and must be fetched again.
    pub fn current_details(self) -> Option<StoredDetails> {
        self.details
            .filter(|_| self.details_format == DETAILS_FORMAT_VERSION)
    }
}

/// Why the state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another process holds sled's lock.
    #[error(
        "the state at {path} is locked by another lightdash-dot-sync{owner}. A daemon is running on this state: to force a full resync ask it instead ({how}), or stop it first"
    )]
    Locked {
        /// The state directory.
        path: PathBuf,
        /// " (pid N)" when known.
        owner: String,
        /// How to trigger the running daemon.
        how: String,
    },
    /// The directory cannot be created or written.
    #[error("cannot use state directory {path}: {source}; set state.path to a writable directory")]
    Directory {
        /// The state directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// sled failed after the state was open.
    #[error("state database error: {0}")]
    Db(#[from] sled::Error),
    /// A transaction failed.
    #[error("state transaction failed: {0}")]
    Transaction(String),
}

/// Who holds the state, written next to it so a second process can say how to reach it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// Admin listener, if any.
    pub listen: Option<String>,
}

/// What [`Store::open`] had to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    /// Opened as it was.
    Opened,
    /// Created empty (first run).
    Created,
    /// The old state was unusable and was moved to this path; a fresh one was created.
    Rebuilt {
        /// Where the old state went.
        moved_to: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The state store.
#[derive(Clone)]
pub struct Store {
    root: PathBuf,
    db: sled::Db,
    index: sled::Tree,
    bodies: sled::Tree,
    reports: sled::Tree,
    /// Details fetched during the running cycle that a later slice needs (dashboards render
    /// from the details of the charts on their tiles); cleared by every cycle. Never "what
    /// Dot has": losing it costs a fetch.
    scratch: sled::Tree,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

impl Store {
    /// Opens (or creates) the state under `root`. A locked state is an error; an unreadable
    /// one is moved aside and replaced by an empty one.
    pub fn open(root: &Path, owner: &Owner) -> Result<(Store, OpenOutcome), StateError> {
        super::private::create_dir(root).map_err(|source| StateError::Directory {
            path: root.to_owned(),
            source,
        })?;
        let db_path = root.join("db");
        let existed = db_path.exists();
        let outcome = match Self::try_open_patiently(root, &db_path) {
            Ok(store) => {
                let outcome = if existed {
                    OpenOutcome::Opened
                } else {
                    OpenOutcome::Created
                };
                (store, outcome)
            }
            Err(OpenFailure::Locked) => return Err(Self::locked(root)),
            Err(OpenFailure::Directory(source)) => {
                return Err(StateError::Directory {
                    path: root.to_owned(),
                    source,
                });
            }
            Err(OpenFailure::Unusable(reason)) => {
                let moved_to = root.join(format!(
                    "db.corrupt-{}",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
                ));
                std::fs::rename(&db_path, &moved_to).map_err(|source| StateError::Directory {
                    path: root.to_owned(),
                    source,
                })?;
                tracing::error!(reason = %reason, moved_to = %moved_to.display(), "state is unusable; moved it aside and starting from an empty state (the next cycle pushes everything again)");
                Self::prune_corrupt(root);
                match Self::try_open(root, &db_path) {
                    Ok(store) => (store, OpenOutcome::Rebuilt { moved_to, reason }),
                    Err(OpenFailure::Locked) => return Err(Self::locked(root)),
                    Err(OpenFailure::Directory(_)) | Err(OpenFailure::Unusable(_)) => {
                        return Err(StateError::Directory {
                            path: root.to_owned(),
                            source: std::io::Error::other("a fresh state could not be created"),
                        });
                    }
                }
            }
        };
        // Best effort: the owner file only improves the "locked" message.
        if let Ok(json) = serde_json::to_vec(owner) {
            let _ = super::private::write_file(&root.join("owner.json"), &json);
        }
        // sled creates its files with the process umask; later files land in a 0700 `db/`.
        super::private::restrict_tree(&db_path);
        Ok(outcome)
    }

    fn locked(root: &Path) -> StateError {
        let owner: Option<Owner> = std::fs::read(root.join("owner.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let (owner_text, how) = match owner {
            Some(o) => {
                let mut how = format!("kill -USR1 {}", o.pid);
                if let Some(listen) = o.listen {
                    how.push_str(&format!(" or curl -X POST http://{listen}/admin/resync"));
                }
                (format!(" (pid {})", o.pid), how)
            }
            None => (
                String::new(),
                "send it SIGUSR1, e.g. systemctl kill -s USR1 lightdash-dot-sync, or POST /admin/resync".into(),
            ),
        };
        StateError::Locked {
            path: root.to_owned(),
            owner: owner_text,
            how,
        }
    }

    /// sled releases its file lock only when its background flusher lets go of the last
    /// handle, a moment after the `Db` is dropped; a state reopened at once (a restart within
    /// one process, a test) would look locked. So a lock is retried for a short while before
    /// it is reported; a lock held by a live daemon is still reported within a second.
    fn try_open_patiently(root: &Path, db_path: &Path) -> Result<Store, OpenFailure> {
        let deadline = std::time::Instant::now() + LOCK_PATIENCE;
        loop {
            match Self::try_open(root, db_path) {
                Err(OpenFailure::Locked) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn try_open(root: &Path, db_path: &Path) -> Result<Store, OpenFailure> {
        let db = sled::Config::new()
            .path(db_path)
            // sled defaults to a 1 GiB page cache; our working set is far smaller.
            .cache_capacity(4 * 1024 * 1024)
            .flush_every_ms(Some(1000))
            .open();
        let db = match db {
            Ok(db) => db,
            Err(e) if is_lock_error(&e) => return Err(OpenFailure::Locked),
            Err(sled::Error::Io(io)) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(OpenFailure::Directory(io));
            }
            Err(e) => return Err(OpenFailure::Unusable(e.to_string())),
        };
        let unusable = |e: sled::Error| OpenFailure::Unusable(e.to_string());
        let meta = db.open_tree("meta").map_err(unusable)?;
        match meta.get("schema_version").map_err(unusable)? {
            None => {
                meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())
                    .map_err(unusable)?;
            }
            Some(v) if v.as_ref() == SCHEMA_VERSION.to_be_bytes() => {}
            Some(v) => {
                return Err(OpenFailure::Unusable(format!(
                    "state schema version {:?} is not {SCHEMA_VERSION}",
                    v.as_ref()
                )));
            }
        }
        let store = Store {
            root: root.to_owned(),
            index: db.open_tree("index").map_err(unusable)?,
            bodies: db.open_tree("bodies").map_err(unusable)?,
            reports: db.open_tree("reports").map_err(unusable)?,
            scratch: db.open_tree("scratch").map_err(unusable)?,
            db,
        };
        // Read the index and reports once: sled finds most corruption lazily, and we would
        // rather find it now, move the state aside, and rebuild, than fail every cycle. Bodies
        // are not scanned (that would page the whole state into memory); a body that cannot
        // be read is treated as missing, which only costs a detail fetch.
        for tree in [&store.index, &store.reports] {
            for item in tree.iter() {
                item.map_err(unusable)?;
            }
        }
        Ok(store)
    }

    fn prune_corrupt(root: &Path) {
        let Ok(entries) = std::fs::read_dir(root) else {
            return;
        };
        let mut corrupt: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("db.corrupt-"))
            })
            .collect();
        corrupt.sort();
        while corrupt.len() > CORRUPT_KEPT {
            let old = corrupt.remove(0);
            let _ = std::fs::remove_dir_all(&old);
        }
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every index entry. Entries that do not decode are skipped with a warning (their asset
    /// is then treated as new and pushed again, which is always safe).
    pub fn index(&self) -> Result<Vec<(String, IndexEntry)>, StateError> {
        self.entries().collect()
    }

    /// Every index entry, decoded one at a time as the iterator is advanced (a large state is
    /// never held twice). Entries that do not decode are skipped as in [`Self::index`].
    pub fn entries(&self) -> impl Iterator<Item = Result<(String, IndexEntry), StateError>> + '_ {
        self.index.iter().filter_map(|item| {
            let (k, v) = match item {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e.into())),
            };
            let id = String::from_utf8_lossy(&k).into_owned();
            match serde_json::from_slice::<IndexEntry>(&v) {
                Ok(e) => Some(Ok((id, e))),
                Err(e) => {
                    tracing::warn!(id, error = %e, "skipping an unreadable state entry");
                    None
                }
            }
        })
    }

    /// Keeps details fetched this cycle for a later slice (LZ4-compressed JSON), by Dot id.
    pub fn put_scratch<T: Serialize>(&self, id: &str, details: &T) -> Result<(), StateError> {
        let json =
            serde_json::to_vec(details).map_err(|e| StateError::Transaction(e.to_string()))?;
        self.scratch
            .insert(id.as_bytes(), lz4_flex::compress_prepend_size(&json))?;
        Ok(())
    }

    /// Details kept by [`Self::put_scratch`] this cycle; `None` when absent or unreadable.
    pub fn scratch<T: serde::de::DeserializeOwned>(&self, id: &str) -> Option<T> {
        let v = self.scratch.get(id).ok().flatten()?;
        let json = lz4_flex::decompress_size_prepended(&v).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// Forgets every scratch entry (at the start and end of each project's cycle).
    pub fn clear_scratch(&self) -> Result<(), StateError> {
        self.scratch.clear()?;
        Ok(())
    }

    /// One index entry.
    pub fn entry(&self, id: &str) -> Result<Option<IndexEntry>, StateError> {
        Ok(self
            .index
            .get(id)?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// The pushed body and details of an asset.
    pub fn body(&self, id: &str) -> Result<Option<AssetBody>, StateError> {
        Ok(self.bodies.get(id)?.and_then(|v| {
            let json = lz4_flex::decompress_size_prepended(&v).ok()?;
            serde_json::from_slice(&json).ok()
        }))
    }

    /// Records that Dot acknowledged `body` for `id`. Call only after a 2xx.
    pub fn commit(&self, id: &str, entry: &IndexEntry, body: &AssetBody) -> Result<(), StateError> {
        use sled::Transactional;
        let entry =
            serde_json::to_vec(entry).map_err(|e| StateError::Transaction(e.to_string()))?;
        // Bodies are mostly markdown and JSON: LZ4 shrinks them about 4x, which keeps the
        // state small on disk and in sled's page cache.
        let body = lz4_flex::compress_prepend_size(
            &serde_json::to_vec(body).map_err(|e| StateError::Transaction(e.to_string()))?,
        );
        (&self.index, &self.bodies)
            .transaction(|(index, bodies)| {
                bodies.insert(id.as_bytes(), body.as_slice())?;
                index.insert(id.as_bytes(), entry.as_slice())?;
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StateError::Transaction(format!("{e:?}")))
    }

    /// Updates only the index entry (view-count pushes keep the body's details).
    pub fn commit_entry(&self, id: &str, entry: &IndexEntry) -> Result<(), StateError> {
        let entry =
            serde_json::to_vec(entry).map_err(|e| StateError::Transaction(e.to_string()))?;
        self.index.insert(id.as_bytes(), entry)?;
        Ok(())
    }

    /// Appends a cycle report, keeping the newest [`REPORTS_KEPT`].
    pub fn add_report(&self, report: &CycleReport) -> Result<(), StateError> {
        let key = (report.started_at_ms as u64).to_be_bytes();
        let value =
            serde_json::to_vec(report).map_err(|e| StateError::Transaction(e.to_string()))?;
        self.reports.insert(key, value)?;
        while self.reports.len() > REPORTS_KEPT {
            if self.reports.pop_min()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// The newest `n` reports, newest first.
    pub fn reports(&self, n: usize) -> Result<Vec<CycleReport>, StateError> {
        let mut out = Vec::new();
        for item in self.reports.iter().rev().take(n) {
            let (_, v) = item?;
            if let Ok(r) = serde_json::from_slice(&v) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Records durably (flushed) that a full cycle of `kind` started, unless one covering
    /// more is already recorded: if the process stops before [`Store::finish_full_cycle`],
    /// the next start redoes it.
    pub fn start_full_cycle(&self, kind: CycleKind) -> Result<(), StateError> {
        if self
            .unfinished_full_cycle()
            .is_some_and(|k| k.coverage() >= kind.coverage())
        {
            return Ok(());
        }
        let meta = self.db.open_tree("meta")?;
        meta.insert(UNFINISHED_CYCLE, kind.as_str().as_bytes())?;
        meta.flush()?;
        Ok(())
    }

    /// Clears the record of [`Store::start_full_cycle`] once a cycle of `kind` finished,
    /// when it covers what was recorded (a finished deep cycle leaves a recorded resync).
    pub fn finish_full_cycle(&self, kind: CycleKind) -> Result<(), StateError> {
        match self.unfinished_full_cycle() {
            Some(k) if k.coverage() <= kind.coverage() => {
                let meta = self.db.open_tree("meta")?;
                meta.remove(UNFINISHED_CYCLE)?;
                meta.flush()?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The full cycle started and not finished before the last stop, if any.
    pub fn unfinished_full_cycle(&self) -> Option<CycleKind> {
        let value = self
            .db
            .open_tree("meta")
            .ok()?
            .get(UNFINISHED_CYCLE)
            .ok()??;
        [CycleKind::Deep, CycleKind::Resync]
            .into_iter()
            .find(|k| k.as_str().as_bytes() == value.as_ref())
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> Result<(), StateError> {
        self.db.flush()?;
        Ok(())
    }

    /// Bytes of the keys and values we stored (index, bodies, reports): the logical size the
    /// on-disk size is compared against.
    pub fn logical_bytes(&self) -> u64 {
        let plain = |t: &sled::Tree| -> u64 {
            t.iter()
                .filter_map(Result::ok)
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum()
        };
        // Bodies count at their uncompressed size (LZ4 prepends it as a little-endian u32).
        let bodies: u64 = self
            .bodies
            .iter()
            .filter_map(Result::ok)
            .map(|(k, v)| {
                let size = v
                    .get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .unwrap_or(0);
                k.len() as u64 + u64::from(size)
            })
            .sum();
        plain(&self.index) + plain(&self.reports) + bodies
    }

    /// Bytes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

enum OpenFailure {
    Locked,
    Directory(std::io::Error),
    Unusable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            pid: 4242,
            listen: Some("127.0.0.1:9464".into()),
        }
    }

    fn entry(uuid: &str) -> IndexEntry {
        IndexEntry {
            kind: AssetKind::Chart,
            project: "p".into(),
            uuid: uuid.into(),
            fingerprint: "f".into(),
            signature: "s".into(),
            updated_at: None,
            space: Some("sp".into()),
            charts: vec![],
            active: true,
            pushed_at: 1,
            views: Some(2),
            views_pushed_at: 1,
            stale: false,
            shows: None,
        }
    }

    fn body(id: &str) -> AssetBody {
        AssetBody {
            asset: ExternalAsset {
                id: id.into(),
                subtype: "lightdash_chart".into(),
                folder: None,
                name: Some("n".into()),
                description: None,
                url: None,
                active: true,
                view_count: Some(2),
                last_accessed_at: None,
                dot_description: Some("d".into()),
            },
            details: Some(StoredDetails::Chart(Box::default())),
            details_format: DETAILS_FORMAT_VERSION,
        }
    }

    #[test]
    fn details_kept_by_an_older_version_are_not_reused() {
        // A body written before `details_format` existed reads as 0.
        let mut old = serde_json::to_value(body("lightdash-chart-a")).unwrap();
        old.as_object_mut().unwrap().remove("details_format");
        let old: AssetBody = serde_json::from_value(old).unwrap();
        assert_eq!(old.details_format, 0);
        assert_eq!(old.current_details(), None);
        assert!(body("lightdash-chart-a").current_details().is_some());
        let fresh = AssetBody::new(body("x").asset, None);
        assert_eq!(fresh.details_format, DETAILS_FORMAT_VERSION);
    }

    #[test]
    fn commit_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, outcome) = Store::open(dir.path(), &owner()).unwrap();
            assert_eq!(outcome, OpenOutcome::Created);
            store
                .commit("lightdash-chart-a", &entry("a"), &body("lightdash-chart-a"))
                .unwrap();
            store.flush().unwrap();
        }
        let (store, outcome) = Store::open(dir.path(), &owner()).unwrap();
        assert_eq!(outcome, OpenOutcome::Opened);
        assert_eq!(store.entry("lightdash-chart-a").unwrap(), Some(entry("a")));
        assert_eq!(
            store.body("lightdash-chart-a").unwrap(),
            Some(body("lightdash-chart-a"))
        );
        assert_eq!(store.index().unwrap().len(), 1);
    }

    #[test]
    fn scratch_keeps_details_until_cleared_and_entries_stream() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), &owner()).unwrap();
        let details = ChartDetails {
            name: "Revenue".into(),
            ..Default::default()
        };
        assert_eq!(store.scratch::<ChartDetails>("lightdash-chart-a"), None);
        store.put_scratch("lightdash-chart-a", &details).unwrap();
        assert_eq!(store.scratch("lightdash-chart-a"), Some(details));
        store.clear_scratch().unwrap();
        assert_eq!(store.scratch::<ChartDetails>("lightdash-chart-a"), None);
        for uuid in ["a", "b"] {
            let id = format!("lightdash-chart-{uuid}");
            store.commit(&id, &entry(uuid), &body(&id)).unwrap();
        }
        let ids: Vec<String> = store.entries().map(|e| e.unwrap().0).collect();
        assert_eq!(ids, ["lightdash-chart-a", "lightdash-chart-b"]);
        // Scratch entries are not part of what Dot has.
        assert_eq!(store.index().unwrap().len(), 2);
    }

    #[test]
    fn second_open_is_locked_and_names_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, _) = Store::open(dir.path(), &owner()).unwrap();
        let err = Store::open(dir.path(), &owner()).unwrap_err();
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("kill -USR1 4242") && msg.contains("/admin/resync"),
            "{msg}"
        );
    }

    #[test]
    fn garbage_state_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, _) = Store::open(dir.path(), &owner()).unwrap();
            store.commit("x", &entry("x"), &body("x")).unwrap();
            store.flush().unwrap();
        }
        // Overwrite every file of the database with garbage.
        for e in std::fs::read_dir(dir.path().join("db")).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::write(&p, vec![0xA5u8; 4096]).unwrap();
            }
        }
        let (store, outcome) = Store::open(dir.path(), &owner()).unwrap();
        assert!(
            matches!(outcome, OpenOutcome::Rebuilt { .. }),
            "{outcome:?}"
        );
        assert!(store.index().unwrap().is_empty());
        assert!(std::fs::read_dir(dir.path()).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("db.corrupt-")
        }));
    }

    #[test]
    fn an_unfinished_full_cycle_survives_reopen_until_one_covering_it_finishes() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, _) = Store::open(dir.path(), &owner()).unwrap();
            assert_eq!(store.unfinished_full_cycle(), None);
            store.start_full_cycle(CycleKind::Resync).unwrap();
            // A deep cycle starting later neither replaces nor clears the resync.
            store.start_full_cycle(CycleKind::Deep).unwrap();
            store.finish_full_cycle(CycleKind::Deep).unwrap();
            assert_eq!(store.unfinished_full_cycle(), Some(CycleKind::Resync));
        }
        let (store, _) = Store::open(dir.path(), &owner()).unwrap();
        assert_eq!(store.unfinished_full_cycle(), Some(CycleKind::Resync));
        store.finish_full_cycle(CycleKind::Resync).unwrap();
        assert_eq!(store.unfinished_full_cycle(), None);
        store.start_full_cycle(CycleKind::Deep).unwrap();
        store.start_full_cycle(CycleKind::Resync).unwrap();
        assert_eq!(store.unfinished_full_cycle(), Some(CycleKind::Resync));
    }

    #[test]
    fn reports_keep_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), &owner()).unwrap();
        for i in 0..(REPORTS_KEPT as i64 + 5) {
            let r = CycleReport {
                started_at_ms: i,
                ..CycleReport::default()
            };
            store.add_report(&r).unwrap();
        }
        let newest = store.reports(3).unwrap();
        assert_eq!(
            newest.iter().map(|r| r.started_at_ms).collect::<Vec<_>>(),
            vec![54, 53, 52]
        );
        assert_eq!(store.reports(1000).unwrap().len(), REPORTS_KEPT);
    }
}
