//! The sled state (I/O): what Dot holds for every asset we pushed, the details needed to
//! re-render it without fetching, and recent cycle reports.
//!
//! The state is a cache of "what Dot has": losing it costs one full push, nothing else. So a
//! corrupt state is moved aside and rebuilt rather than crash-looping, and an entry is
//! written only after Dot acknowledged the asset.
//!
//! Only real corruption moves a state aside. A storage fault (a full disk, a read-only or
//! unreadable file system, a quota) says nothing about the data: it is reported as what it
//! is ([`StateError::Storage`]) and the state is left alone. After a fault the store refuses
//! writes (sled itself keeps failing after an I/O error) until [`Store::recover`] reopened it
//! and a probe write went through; [`Store::fault`] tells readiness probes.
//!
//! Dot's published API has no way to list the assets we own there, so what we pushed must
//! survive the loss of `db/`: every id is appended to `ledger` (JSON lines, synced with the
//! database) before its first active commit, and again when it is deactivated. When `db/`
//! is created or rebuilt while a ledger exists, the ids it last saw active come back as
//! stale "possibly active in Dot" entries: the next cycle re-pushes those Lightdash still
//! has and deactivates the others (under the fail-safe), instead of leaving deleted content
//! active forever.
//!
//! Layout under `state.path`: `db/` (sled), `ledger` (ids ever pushed active),
//! `owner.json` (pid and admin address of the
//! process holding the lock, for the "state is locked" message), `db.corrupt-<time>/`
//! (states moved aside; never deleted before the state that replaced them completed a
//! successful cycle, then the two newest are kept).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

use super::encoding;
use super::scratch::{SCRATCH_FILE, Scratch, key_hash};
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

impl IndexEntry {
    /// An asset that may be active in Dot although nothing else is known about it (from the
    /// ledger): active and stale, with no fingerprint or signature, so the next cycle pushes
    /// it again if Lightdash still has it and deactivates it if not.
    pub fn possibly_in_dot(kind: AssetKind, project: &str, uuid: &str) -> Self {
        IndexEntry {
            kind,
            project: project.to_owned(),
            uuid: uuid.to_owned(),
            fingerprint: String::new(),
            signature: String::new(),
            updated_at: None,
            space: None,
            charts: Vec::new(),
            active: true,
            pushed_at: 0,
            views: None,
            views_pushed_at: 0,
            stale: true,
            shows: None,
        }
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
    /// The storage under the state failed (no space, read-only, permission, quota, I/O
    /// error): not corruption. The state is left as it is.
    #[error(
        "cannot use the state at {path}: {reason}; the state was left as it is (this is not corruption): free space or fix the file system, and the next cycle retries"
    )]
    Storage {
        /// The state directory.
        path: PathBuf,
        /// The error, e.g. "No space left on device (os error 28)".
        reason: String,
    },
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

/// The state store. Cheap to clone; clones share the open database, its fault and its
/// reopening.
#[derive(Clone)]
pub struct Store {
    root: PathBuf,
    /// `None` while the database could not be (re)opened.
    trees: Arc<RwLock<Option<Arc<Trees>>>>,
    /// The storage fault that made the store refuse writes, until [`Store::recover`].
    fault: Arc<Mutex<Option<String>>>,
    /// Test hook: writes fail with this OS error (see [`Store::inject_fault`]).
    injected: Arc<Mutex<Option<i32>>>,
    /// The ledger's latest word on each id, active in Dot or not, by [`ledger_key`] (about
    /// 17 bytes per asset ever pushed, rather than the id). Read when a commit first needs
    /// it: a cycle that commits nothing never reads the ledger (at 100,000 ids, parsing it
    /// cost about 0.1 s of CPU and the map 2 MB), then kept for the process's life.
    ledger: Arc<Mutex<Option<LedgerWords>>>,
    /// Details the running cycle parked for a later slice.
    scratch: Arc<Mutex<Scratch>>,
    /// Index writes so far (commits of entries), to tell whether `counted` still holds.
    writes: Arc<std::sync::atomic::AtomicU64>,
    /// What the last full pass over the index counted, and `writes` when it started.
    counted: Arc<Mutex<Option<(u64, IndexCounts)>>>,
}

/// Entries by kind: active in Dot, and deactivated (what `status` shows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexCounts {
    /// Entries active in Dot, by kind.
    pub active: std::collections::BTreeMap<AssetKind, usize>,
    /// Entries deactivated in Dot, by kind.
    pub deactivated: std::collections::BTreeMap<AssetKind, usize>,
}

/// File of ids ever pushed active, under `state.path`.
pub const LEDGER_FILE: &str = "ledger";

/// One line of the ledger: an id became active in Dot, or was deactivated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LedgerLine {
    id: String,
    kind: AssetKind,
    project: String,
    uuid: String,
    #[serde(default = "active_by_default")]
    active: bool,
}

fn active_by_default() -> bool {
    true
}

/// The ledger's lines, as they come (unreadable lines, e.g. one cut short by a crash, are
/// skipped), read a line at a time: the file holds a line per change of every id ever pushed.
fn ledger_lines(root: &Path) -> impl Iterator<Item = LedgerLine> {
    use std::io::BufRead;
    let file = std::fs::File::open(root.join(LEDGER_FILE)).ok();
    file.into_iter()
        .flat_map(|f| std::io::BufReader::new(f).lines())
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<LedgerLine>(&l).ok())
}

/// The ledger's latest line per id, in first-seen order.
fn read_ledger(root: &Path) -> Vec<LedgerLine> {
    let mut order: Vec<String> = Vec::new();
    let mut latest: std::collections::HashMap<String, LedgerLine> =
        std::collections::HashMap::new();
    for line in ledger_lines(root) {
        if !latest.contains_key(&line.id) {
            order.push(line.id.clone());
        }
        latest.insert(line.id.clone(), line);
    }
    order
        .into_iter()
        .filter_map(|id| latest.remove(&id))
        .collect()
}

/// The ledger's latest word per id, by [`ledger_key`].
type LedgerWords = std::collections::HashMap<u64, bool, foldhash::fast::RandomState>;

/// An id's key in [`LedgerWords`]: 8 bytes of its BLAKE3 [`key_hash`]. Two of 100,000 ids
/// share one with a chance of about 3 in 10^10; the cost would be one ledger line not
/// written (the ledger only matters if `db/` is lost). At 100,000 ids the map takes 2 MB
/// where 16-byte keys took 4 (issue #12).
fn ledger_key(id: &str) -> u64 {
    key_hash(id) as u64
}

/// The ledger's latest word per id, and how many lines it has: a ledger of many more lines
/// than ids is rewritten ([`compact_ledger`]).
fn ledger_state(root: &Path) -> (LedgerWords, usize) {
    let mut latest = LedgerWords::default();
    let mut lines = 0usize;
    for line in ledger_lines(root) {
        latest.insert(ledger_key(&line.id), line.active);
        lines += 1;
    }
    (latest, lines)
}

/// A ledger is rewritten once it holds more than this many lines per id (plus a margin), so a
/// daemon whose content is often deactivated and restored keeps a ledger of about one line
/// per id rather than one per change.
const LEDGER_LINES_PER_ID: usize = 2;

/// Rewrites the ledger with only the latest line of each id, in first-seen order: written to
/// a temporary file, synced, then renamed over the ledger, so a crash leaves either ledger
/// whole.
fn compact_ledger(root: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = root.join(format!("{LEDGER_FILE}.compacting"));
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = std::io::BufWriter::new(options.open(&tmp)?);
    for line in read_ledger(root) {
        let text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        out.write_all(text.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, root.join(LEDGER_FILE))?;
    std::fs::File::open(root)?.sync_all()
}

/// The open sled database and its trees.
struct Trees {
    db: sled::Db,
    meta: sled::Tree,
    index: sled::Tree,
    bodies: sled::Tree,
    reports: sled::Tree,
}

/// Whether an error from sled is about the storage rather than the data in it. sled reports
/// damaged data as `Corruption`, or as an I/O error of kind `UnexpectedEof`/`InvalidData`
/// when a file is cut short or garbled; every other I/O error (ENOSPC, EACCES, EROFS,
/// EDQUOT, EIO, EMFILE, …) comes from the environment and may go away.
pub fn is_storage_fault(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => !matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
        ),
        _ => false,
    }
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
    /// Whether `root` holds a state (a previous run created one). No I/O beyond one `stat`;
    /// read-only commands use it to avoid creating a state just to report that it is empty.
    pub fn exists(root: &Path) -> bool {
        root.join("db").exists()
    }

    /// Like [`Store::open`], but a storage fault at open does not stop the caller: the store
    /// comes back faulted (not open, [`Store::fault`] set) and [`Store::recover`] opens it
    /// once the storage works again. For the daemon, which must keep running (and report
    /// itself not ready) rather than crash-loop on a full disk.
    pub fn open_or_defer(root: &Path, owner: &Owner) -> Result<(Store, OpenOutcome), StateError> {
        match Self::open(root, owner) {
            Err(StateError::Storage { reason, .. }) => {
                let store = Store::with(root, None);
                *lock(&store.fault) = Some(reason);
                Ok((store, OpenOutcome::Opened))
            }
            other => other,
        }
    }

    fn with(root: &Path, trees: Option<Trees>) -> Store {
        Store {
            root: root.to_owned(),
            trees: Arc::new(RwLock::new(trees.map(Arc::new))),
            fault: Arc::new(Mutex::new(None)),
            injected: Arc::new(Mutex::new(None)),
            ledger: Arc::new(Mutex::new(None)),
            scratch: Arc::new(Mutex::new(Scratch::new(root.join(SCRATCH_FILE)))),
            writes: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            counted: Arc::new(Mutex::new(None)),
        }
    }

    /// The ledger's latest word per id; a ledger grown to many lines per id is compacted first
    /// (only by the process holding the open database, which the caller does: the lock keeps
    /// others out).
    fn open_ledger(root: &Path) -> LedgerWords {
        let (latest, lines) = ledger_state(root);
        if lines > LEDGER_LINES_PER_ID * latest.len() + 1_000 {
            match compact_ledger(root) {
                Ok(()) => tracing::info!(
                    lines,
                    ids = latest.len(),
                    "compacted the ledger to one line per id"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "could not compact the ledger; it is read whole at every start until it can be");
                }
            }
        }
        latest
    }

    /// Opens (or creates) the state under `root`. A locked state is an error; so is a
    /// storage fault ([`StateError::Storage`], the state left alone); a corrupt one is moved
    /// aside and replaced by an empty one.
    pub fn open(root: &Path, owner: &Owner) -> Result<(Store, OpenOutcome), StateError> {
        let (trees, outcome) = Self::open_trees(root)?;
        if outcome != OpenOutcome::Opened {
            Self::seed_from_ledger(root, &trees)?;
        }
        // Best effort: the owner file only improves the "locked" message.
        if let Ok(json) = serde_json::to_vec(owner) {
            let _ = super::private::write_file(&root.join("owner.json"), &json);
        }
        Ok((Store::with(root, Some(trees)), outcome))
    }

    /// A new or rebuilt database learns what the ledger says was pushed, as stale active
    /// entries with no fingerprint: re-pushed if Lightdash still has them, deactivated if not.
    fn seed_from_ledger(root: &Path, trees: &Trees) -> Result<(), StateError> {
        let lines = read_ledger(root);
        let mut seeded = 0usize;
        for l in lines.iter().filter(|l| l.active) {
            let known = trees.index.contains_key(l.id.as_bytes())?;
            if known {
                continue;
            }
            let entry = IndexEntry::possibly_in_dot(l.kind, &l.project, &l.uuid);
            trees
                .index
                .insert(l.id.as_bytes(), encoding::encode(&l.id, &entry))?;
            seeded += 1;
        }
        if seeded > 0 {
            trees.db.flush()?;
            tracing::warn!(
                seeded,
                "the state was new or rebuilt; the ledger lists assets pushed before: those Lightdash no longer has are deactivated by the next cycle"
            );
        }
        Ok(())
    }

    /// Appends `id` and whether it is active to the ledger (synced by `flush`) when that
    /// changes what the ledger says (an id it never saw active is not worth a line).
    fn remember(&self, id: &str, entry: &IndexEntry) -> Result<(), StateError> {
        use std::io::Write;
        let mut ledger = lock(&self.ledger);
        let known = ledger.get_or_insert_with(|| Self::open_ledger(&self.root));
        let key = ledger_key(id);
        match known.get(&key) {
            Some(&active) if active == entry.active => return Ok(()),
            None if !entry.active => return Ok(()),
            _ => {}
        }
        let line = LedgerLine {
            id: id.to_owned(),
            kind: entry.kind,
            project: entry.project.clone(),
            uuid: entry.uuid.clone(),
            active: entry.active,
        };
        let mut text =
            serde_json::to_string(&line).map_err(|e| StateError::Transaction(e.to_string()))?;
        text.push('\n');
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        // Synced with the database in `flush` (sled itself syncs about every second), not
        // per line: a cold first cycle commits thousands of ids.
        let written = options
            .open(self.root.join(LEDGER_FILE))
            .and_then(|mut f| f.write_all(text.as_bytes()));
        match written {
            Ok(()) => {
                known.insert(key, entry.active);
                Ok(())
            }
            Err(e) => {
                drop(ledger);
                Err(self.track(sled::Error::Io(e)))
            }
        }
    }

    fn open_trees(root: &Path) -> Result<(Trees, OpenOutcome), StateError> {
        super::private::create_dir(root).map_err(|source| StateError::Directory {
            path: root.to_owned(),
            source,
        })?;
        let db_path = root.join("db");
        let existed = db_path.exists();
        let mut opened = Self::try_open_patiently(&db_path);
        if matches!(opened, Err(OpenFailure::Unusable(_)))
            && Self::drop_unfinished_snapshots(&db_path)
        {
            opened = Self::try_open_patiently(&db_path);
        }
        let outcome = match opened {
            Ok(store) => {
                let outcome = if existed {
                    OpenOutcome::Opened
                } else {
                    OpenOutcome::Created
                };
                (store, outcome)
            }
            Err(OpenFailure::Locked) => return Err(Self::locked(root)),
            Err(OpenFailure::Storage(reason)) => {
                return Err(StateError::Storage {
                    path: root.to_owned(),
                    reason,
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
                tracing::error!(reason = %reason, moved_to = %moved_to.display(), "state is corrupt; moved it aside and starting from an empty state (the next cycle pushes everything again; the old one is kept until the new one completed a successful cycle)");
                match Self::try_open(&db_path) {
                    Ok(store) => (store, OpenOutcome::Rebuilt { moved_to, reason }),
                    Err(OpenFailure::Locked) => return Err(Self::locked(root)),
                    Err(OpenFailure::Storage(reason)) => {
                        return Err(StateError::Storage {
                            path: root.to_owned(),
                            reason,
                        });
                    }
                    Err(OpenFailure::Unusable(_)) => {
                        return Err(StateError::Directory {
                            path: root.to_owned(),
                            source: std::io::Error::other("a fresh state could not be created"),
                        });
                    }
                }
            }
        };
        // sled creates its files with the process umask; later files land in a 0700 `db/`.
        super::private::restrict_tree(&db_path);
        Ok(outcome)
    }

    /// Removes snapshot files sled left unfinished (`snap.<lsn>.generating`); whether there
    /// were any. sled 0.34 writes a snapshot to such a file and renames it when complete,
    /// but when it next opens it reads the newest `snap.*` file, unfinished ones included:
    /// one left empty by a full disk made the state look corrupt, and it was moved aside and
    /// rebuilt (found by `a_daemon_started_on_a_full_disk_waits_for_space`). Called only after
    /// an open failed, so no process holds the database (another process opening the same
    /// state in that instant could lose the snapshot it is writing; it would fail to open
    /// and be retried, never corrupt anything).
    fn drop_unfinished_snapshots(db_path: &Path) -> bool {
        let Ok(dir) = std::fs::read_dir(db_path) else {
            return false;
        };
        let mut dropped = false;
        for entry in dir.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("snap.")
                && name.ends_with(".generating")
                && std::fs::remove_file(entry.path()).is_ok()
            {
                tracing::warn!(file = %name, "removed a snapshot sled left unfinished; opening the state again");
                dropped = true;
            }
        }
        dropped
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
    fn try_open_patiently(db_path: &Path) -> Result<Trees, OpenFailure> {
        Self::patiently(|| Self::try_open(db_path))
    }

    fn patiently(open: impl Fn() -> Result<Trees, OpenFailure>) -> Result<Trees, OpenFailure> {
        let deadline = std::time::Instant::now() + LOCK_PATIENCE;
        loop {
            match open() {
                Err(OpenFailure::Locked) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn try_open(db_path: &Path) -> Result<Trees, OpenFailure> {
        let store = Self::open_db(db_path)?;
        // Read the index and reports once: sled finds most corruption lazily, and we would
        // rather find it now, move the state aside, and rebuild, than fail every cycle. Bodies
        // are not scanned (that would page the whole state into memory); a body that cannot
        // be read is treated as missing, which only costs a detail fetch.
        let unusable = OpenFailure::from;
        for item in store.reports.iter() {
            item.map_err(unusable)?;
        }
        let mut legacy = 0usize;
        for item in store.index.iter() {
            let (_, v) = item.map_err(unusable)?;
            legacy += usize::from(encoding::is_legacy(&v));
        }
        if legacy > 0 {
            Self::rewrite_legacy_entries(&store.index).map_err(unusable)?;
            tracing::info!(
                entries = legacy,
                "rewrote the state's index in its compact encoding (once)"
            );
        }
        Ok(store)
    }

    /// Opens the database and its trees, checking the schema version (no scan).
    fn open_db(db_path: &Path) -> Result<Trees, OpenFailure> {
        let db = sled::Config::new()
            .path(db_path)
            // sled defaults to a 1 GiB page cache; our working set is far smaller.
            .cache_capacity(4 * 1024 * 1024)
            .flush_every_ms(Some(1000))
            .open();
        let db = match db {
            Ok(db) => db,
            Err(e) if is_lock_error(&e) => return Err(OpenFailure::Locked),
            Err(e) => return Err(OpenFailure::from(e)),
        };
        let unusable = OpenFailure::from;
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
        // Scratch details once lived in a sled tree (now a plain file, see `super::scratch`).
        db.drop_tree("scratch").map_err(unusable)?;
        let store = Trees {
            index: db.open_tree("index").map_err(unusable)?,
            bodies: db.open_tree("bodies").map_err(unusable)?,
            reports: db.open_tree("reports").map_err(unusable)?,
            meta,
            db,
        };
        Ok(store)
    }

    /// Lets go of the pages sled keeps in memory, by closing the database and opening it
    /// again (no scan: this process read it whole already). sled 0.34 evicts pages only after
    /// batches of accesses, so the pages one pass over the index reads stay in memory for
    /// the rest of the process: about 29 MB at 100,000 assets, on top of the cycle's own peak
    /// (issue #12). A cycle calls it after that pass, which is the only time it reads every
    /// entry, and again at its end when it wrote entries: reopening makes sled replay its log
    /// into a new snapshot, which the next start would otherwise do (after a cold cycle at
    /// 100,000 assets that replay cost the next start about 0.4 s of CPU and 14 MB), and lets
    /// go of the pages the writes kept. Skipped (nothing happens) while another handle of the
    /// database is in use.
    ///
    /// Errors: reopening failed; the store then holds the fault (no writes) until
    /// [`Self::recover`] reopens it, as after any storage fault.
    pub fn release_cache(&self) -> Result<(), StateError> {
        let mut slot = self.trees.write().unwrap_or_else(PoisonError::into_inner);
        let Some(old) = slot.take() else {
            return Ok(());
        };
        if Arc::strong_count(&old) > 1 || lock(&self.fault).is_some() {
            *slot = Some(old);
            return Ok(());
        }
        let flushed = old.db.flush();
        drop(old);
        let db_path = self.root.join("db");
        let reopened = Self::patiently(|| Self::open_db(&db_path));
        // sled writes a new snapshot when it opens, with the process umask.
        super::private::restrict_tree(&db_path);
        let failure = match (flushed, reopened) {
            (Ok(_), Ok(trees)) => {
                *slot = Some(Arc::new(trees));
                return Ok(());
            }
            (Err(e), Ok(trees)) => {
                *slot = Some(Arc::new(trees));
                return Err(self.track(e));
            }
            (_, Err(OpenFailure::Locked)) => "the state stayed locked while reopening it".into(),
            (_, Err(OpenFailure::Storage(r) | OpenFailure::Unusable(r))) => r,
        };
        drop(slot);
        tracing::error!(path = %self.root.display(), reason = %failure, "could not reopen the state; it is reopened once the storage works again");
        *lock(&self.fault) = Some(failure.clone());
        Err(StateError::Storage {
            path: self.root.clone(),
            reason: failure,
        })
    }

    /// Rewrites the entries of older states (JSON) in the compact encoding, a batch at a time:
    /// a state read by every cycle costs its size again in sled's page cache
    /// ([`encoding`]). An entry that does not decode is left for the cycle to skip and warn
    /// about, as before.
    fn rewrite_legacy_entries(index: &sled::Tree) -> sled::Result<()> {
        const BATCH: usize = 1_000;
        let mut batch = sled::Batch::default();
        let mut queued = 0usize;
        for item in index.iter() {
            let (k, v) = item?;
            if !encoding::is_legacy(&v) {
                continue;
            }
            let id = String::from_utf8_lossy(&k);
            if let Ok(entry) = encoding::decode(&id, &v) {
                batch.insert(k.clone(), encoding::encode(&id, &entry));
                queued += 1;
            }
            if queued == BATCH {
                index.apply_batch(std::mem::take(&mut batch))?;
                queued = 0;
            }
        }
        index.apply_batch(batch)?;
        index.flush()?;
        Ok(())
    }

    /// Deletes all but the newest [`CORRUPT_KEPT`] states moved aside.
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

    /// The open database, or the fault that keeps it closed.
    fn trees(&self) -> Result<Arc<Trees>, StateError> {
        let trees = self
            .trees
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        trees.ok_or_else(|| StateError::Storage {
            path: self.root.clone(),
            reason: lock(&self.fault)
                .clone()
                .unwrap_or_else(|| "the state is not open".into()),
        })
    }

    /// The database for a write: refused while a fault is recorded (sled keeps failing after
    /// an I/O error anyway, and a half-working store is worse than a clearly failed one).
    fn writable(&self) -> Result<Arc<Trees>, StateError> {
        if let Some(reason) = lock(&self.fault).clone() {
            return Err(StateError::Storage {
                path: self.root.clone(),
                reason,
            });
        }
        if let Some(code) = *lock(&self.injected) {
            return Err(self.track(sled::Error::Io(std::io::Error::from_raw_os_error(code))));
        }
        self.trees()
    }

    /// Turns a sled error into a [`StateError`], recording storage faults.
    fn track(&self, e: sled::Error) -> StateError {
        if is_storage_fault(&e) {
            let reason = e.to_string();
            let mut fault = lock(&self.fault);
            if fault.is_none() {
                tracing::error!(path = %self.root.display(), reason = %reason, "the state cannot be written; it is left as it is and reopened once the storage works again");
            }
            *fault = Some(reason.clone());
            return StateError::Storage {
                path: self.root.clone(),
                reason,
            };
        }
        StateError::Db(e)
    }

    /// The storage fault that makes the store refuse writes, if any (readiness).
    pub fn fault(&self) -> Option<String> {
        lock(&self.fault).clone()
    }

    /// After a storage fault: reopens the database and probes it with a write and a flush.
    /// Clears the fault when both work; otherwise keeps (or updates) it. A no-op without a
    /// fault. Call it only between cycles (it waits for the old handle's lock).
    pub fn recover(&self) -> Result<(), StateError> {
        if self.fault().is_none() {
            return Ok(());
        }
        if let Some(code) = *lock(&self.injected) {
            let e = sled::Error::Io(std::io::Error::from_raw_os_error(code));
            return Err(self.track(e));
        }
        {
            let mut slot = self.trees.write().unwrap_or_else(PoisonError::into_inner);
            // Release the old handle (and sled's file lock) before opening again.
            if let Some(old) = slot.take() {
                let _ = old.db.flush();
                drop(old);
            }
            self.wrote();
            match Self::open_trees(&self.root) {
                Ok((trees, outcome)) => {
                    if let OpenOutcome::Rebuilt { moved_to, reason } = &outcome {
                        tracing::warn!(moved_to = %moved_to.display(), reason = %reason, "the state was rebuilt while recovering; the next cycle pushes every asset");
                    }
                    if outcome != OpenOutcome::Opened {
                        Self::seed_from_ledger(&self.root, &trees)?;
                    }
                    *slot = Some(Arc::new(trees));
                }
                Err(e) => {
                    if let StateError::Storage { reason, .. } = &e {
                        *lock(&self.fault) = Some(reason.clone());
                    }
                    return Err(e);
                }
            }
        }
        let probe = self.trees()?;
        let probed = probe
            .meta
            .insert("probe", &chrono::Utc::now().timestamp().to_be_bytes())
            .and_then(|_| probe.db.flush());
        match probed {
            Ok(_) => {
                *lock(&self.fault) = None;
                tracing::info!(path = %self.root.display(), "the state is writable again");
                Ok(())
            }
            Err(e) => Err(self.track(e)),
        }
    }

    /// Test hook: every write (and [`Store::recover`]) fails with OS error `code` (e.g.
    /// `libc::ENOSPC` = 28) until called with `None`, as sled does on a full disk. The fault
    /// it causes stays until [`Store::recover`], as a real one does.
    #[doc(hidden)]
    pub fn inject_fault(&self, code: Option<i32>) {
        *lock(&self.injected) = code;
    }

    /// Records that a cycle succeeded on this state. The first time, states moved aside
    /// before are pruned to the newest [`CORRUPT_KEPT`]: until then they are the only copy
    /// of what Dot holds.
    pub fn note_cycle_succeeded(&self) -> Result<(), StateError> {
        let t = self.writable()?;
        if t.meta
            .get("cycle_succeeded")
            .map_err(|e| self.track(e))?
            .is_none()
        {
            t.meta
                .insert("cycle_succeeded", &[1u8])
                .map_err(|e| self.track(e))?;
            Self::prune_corrupt(&self.root);
        }
        Ok(())
    }

    /// Every index entry, decoded whole (tests and tools; a cycle reads briefs,
    /// [`Self::for_each_brief`]). Entries that do not decode are skipped with a warning
    /// (their asset is then treated as new and pushed again, which is always safe).
    pub fn index(&self) -> Result<Vec<(String, IndexEntry)>, StateError> {
        let t = self.trees()?;
        let mut out = Vec::new();
        for item in t.index.iter() {
            let (k, v) = item.map_err(|e| self.track(e))?;
            let id = String::from_utf8_lossy(&k).into_owned();
            match encoding::decode(&id, &v) {
                Ok(e) => out.push((id, e)),
                Err(e) => tracing::warn!(id, error = %e, "skipping an unreadable state entry"),
            }
        }
        Ok(out)
    }

    /// Calls `f(id, project, active, brief)` for every index entry, in id order, decoding only
    /// what change detection needs and allocating nothing per entry
    /// ([`encoding::decode_brief`]): the cycle's one pass over the whole index. Entries that
    /// do not decode are skipped as in [`Self::index`].
    ///
    /// The pass also counts entries by kind for [`Self::index_counts`].
    pub fn for_each_brief(
        &self,
        mut f: impl FnMut(&str, &str, bool, super::known::Brief),
    ) -> Result<IndexCounts, StateError> {
        use std::sync::atomic::Ordering;
        let t = self.trees()?;
        let writes = self.writes.load(Ordering::SeqCst);
        let mut counts = IndexCounts::default();
        for item in t.index.iter() {
            let (k, v) = item.map_err(|e| self.track(e))?;
            let id = String::from_utf8_lossy(&k);
            let seen = encoding::decode_brief(&id, &v, |p, active, b| {
                f(&id, p, active, b);
                active
            });
            match seen {
                Ok(active) => {
                    if let Some((kind, _)) = AssetKind::split_id(&id) {
                        let by_kind = if active {
                            &mut counts.active
                        } else {
                            &mut counts.deactivated
                        };
                        *by_kind.entry(kind).or_default() += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(id = %id, error = %e, "skipping an unreadable state entry");
                }
            }
        }
        // Kept only when nothing was written meanwhile.
        if self.writes.load(Ordering::SeqCst) == writes {
            *lock(&self.counted) = Some((writes, counts.clone()));
        }
        Ok(counts)
    }

    /// Entries by kind, active and deactivated. Taken from the last pass over the index
    /// (every cycle makes one, [`Self::for_each_brief`]) when no entry was written since, so
    /// a cycle that changed nothing does not read the whole index again to publish its
    /// status (about 0.2 s at 100,000 assets, and the index's pages back in memory);
    /// otherwise counted by a new pass.
    pub fn index_counts(&self) -> Result<IndexCounts, StateError> {
        let writes = self.writes.load(std::sync::atomic::Ordering::SeqCst);
        if let Some((at, counts)) = lock(&self.counted).as_ref()
            && *at == writes
        {
            return Ok(counts.clone());
        }
        self.for_each_brief(|_, _, _, _| {})
    }

    /// How many entry writes this store has made (a cycle compares two readings to tell
    /// whether it wrote anything).
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every entry write goes through here first: counts taken before no longer hold.
    fn wrote(&self) {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Keeps details fetched this cycle for a later slice (LZ4-compressed JSON), by Dot id,
    /// in the scratch file ([`super::scratch`]).
    pub fn put_scratch<T: Serialize>(&self, id: &str, details: &T) -> Result<(), StateError> {
        let json =
            serde_json::to_vec(details).map_err(|e| StateError::Transaction(e.to_string()))?;
        self.writable()?;
        lock(&self.scratch)
            .put(id, &lz4_flex::compress_prepend_size(&json))
            .map_err(|e| self.track(sled::Error::Io(e)))
    }

    /// Details kept by [`Self::put_scratch`] this cycle; `None` when absent or unreadable.
    pub fn scratch<T: serde::de::DeserializeOwned>(&self, id: &str) -> Option<T> {
        let v = lock(&self.scratch).get(id).ok().flatten()?;
        let json = lz4_flex::decompress_size_prepended(&v).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// Forgets every scratch entry (at the start and end of each project's cycle).
    pub fn clear_scratch(&self) -> Result<(), StateError> {
        lock(&self.scratch)
            .clear()
            .map_err(|e| self.track(sled::Error::Io(e)))
    }

    /// One index entry.
    pub fn entry(&self, id: &str) -> Result<Option<IndexEntry>, StateError> {
        Ok(self
            .trees()?
            .index
            .get(id)
            .map_err(|e| self.track(e))?
            .and_then(|v| encoding::decode(id, &v).ok()))
    }

    /// The pushed body and details of an asset.
    pub fn body(&self, id: &str) -> Result<Option<AssetBody>, StateError> {
        let t = self.trees()?;
        Ok(t.bodies.get(id).map_err(|e| self.track(e))?.and_then(|v| {
            let json = lz4_flex::decompress_size_prepended(&v).ok()?;
            serde_json::from_slice(&json).ok()
        }))
    }

    /// Records that Dot acknowledged `body` for `id`. Call only after a 2xx.
    pub fn commit(&self, id: &str, entry: &IndexEntry, body: &AssetBody) -> Result<(), StateError> {
        use sled::Transactional;
        let entry_value = entry;
        let entry = encoding::encode(id, entry);
        // Bodies are mostly markdown and JSON: LZ4 shrinks them about 4x, which keeps the
        // state small on disk and in sled's page cache.
        let body = lz4_flex::compress_prepend_size(
            &serde_json::to_vec(body).map_err(|e| StateError::Transaction(e.to_string()))?,
        );
        let t = self.writable()?;
        self.wrote();
        self.remember(id, entry_value)?;
        (&t.index, &t.bodies)
            .transaction(|(index, bodies)| {
                bodies.insert(id.as_bytes(), body.as_slice())?;
                index.insert(id.as_bytes(), entry.as_slice())?;
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Storage(e) => self.track(e),
                e => StateError::Transaction(format!("{e:?}")),
            })?;
        // Before and after: a pass that started in between counts neither way as current.
        self.wrote();
        Ok(())
    }

    /// Updates only the index entry (view-count pushes keep the body's details).
    pub fn commit_entry(&self, id: &str, entry: &IndexEntry) -> Result<(), StateError> {
        self.writable()?;
        self.wrote();
        self.remember(id, entry)?;
        let entry = encoding::encode(id, entry);
        self.writable()?
            .index
            .insert(id.as_bytes(), entry)
            .map_err(|e| self.track(e))?;
        self.wrote();
        Ok(())
    }

    /// Appends a cycle report under the next sequence number, keeping the newest
    /// [`REPORTS_KEPT`]. Reports are ordered by that number, not by their start time: a
    /// clock stepped back must not sort new reports before old ones (or make retention
    /// delete the newest). States written before keyed reports by start time in
    /// milliseconds; the sequence simply continues above the largest key.
    pub fn add_report(&self, report: &CycleReport) -> Result<(), StateError> {
        let t = self.writable()?;
        let next = t
            .reports
            .last()
            .map_err(|e| self.track(e))?
            .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok())
            .map_or(0, |k| u64::from_be_bytes(k).saturating_add(1));
        let value =
            serde_json::to_vec(report).map_err(|e| StateError::Transaction(e.to_string()))?;
        t.reports
            .insert(next.to_be_bytes(), value)
            .map_err(|e| self.track(e))?;
        while t.reports.len() > REPORTS_KEPT {
            if t.reports.pop_min().map_err(|e| self.track(e))?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// The newest `n` reports (by sequence), newest first.
    pub fn reports(&self, n: usize) -> Result<Vec<CycleReport>, StateError> {
        let t = self.trees()?;
        let mut out = Vec::new();
        for item in t.reports.iter().rev().take(n) {
            let (_, v) = item.map_err(|e| self.track(e))?;
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
        let t = self.writable()?;
        t.meta
            .insert(UNFINISHED_CYCLE, kind.as_str().as_bytes())
            .and_then(|_| t.meta.flush())
            .map_err(|e| self.track(e))?;
        Ok(())
    }

    /// Clears the record of [`Store::start_full_cycle`] once a cycle of `kind` finished,
    /// when it covers what was recorded (a finished deep cycle leaves a recorded resync).
    pub fn finish_full_cycle(&self, kind: CycleKind) -> Result<(), StateError> {
        match self.unfinished_full_cycle() {
            Some(k) if k.coverage() <= kind.coverage() => {
                let t = self.writable()?;
                t.meta
                    .remove(UNFINISHED_CYCLE)
                    .and_then(|_| t.meta.flush())
                    .map_err(|e| self.track(e))?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The full cycle started and not finished before the last stop, if any.
    pub fn unfinished_full_cycle(&self) -> Option<CycleKind> {
        let value = self.trees().ok()?.meta.get(UNFINISHED_CYCLE).ok()??;
        [CycleKind::Deep, CycleKind::Resync]
            .into_iter()
            .find(|k| k.as_str().as_bytes() == value.as_ref())
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> Result<(), StateError> {
        self.writable()?.db.flush().map_err(|e| self.track(e))?;
        match std::fs::File::open(self.root.join(LEDGER_FILE)).and_then(|f| f.sync_data()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(self.track(sled::Error::Io(e)));
            }
            _ => {}
        }
        Ok(())
    }

    /// Bytes of the keys and values we stored (index, bodies, reports): the logical size the
    /// on-disk size is compared against.
    pub fn logical_bytes(&self) -> u64 {
        let Ok(t) = self.trees() else { return 0 };
        let plain = |t: &sled::Tree| -> u64 {
            t.iter()
                .filter_map(Result::ok)
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum()
        };
        // Bodies count at their uncompressed size (LZ4 prepends it as a little-endian u32).
        let bodies: u64 = t
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
        plain(&t.index) + plain(&t.reports) + bodies
    }

    /// Bytes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.trees()
            .ok()
            .and_then(|t| t.db.size_on_disk().ok())
            .unwrap_or(0)
    }
}

enum OpenFailure {
    Locked,
    /// The storage failed (not the data): see [`is_storage_fault`].
    Storage(String),
    /// The data is damaged: move it aside.
    Unusable(String),
}

impl From<sled::Error> for OpenFailure {
    fn from(e: sled::Error) -> Self {
        if is_storage_fault(&e) {
            OpenFailure::Storage(e.to_string())
        } else {
            OpenFailure::Unusable(e.to_string())
        }
    }
}

/// Locks plain data that stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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
    fn releasing_the_cache_keeps_every_entry_readable_and_writable() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), &owner()).unwrap();
        store
            .commit("lightdash-chart-a", &entry("a"), &body("lightdash-chart-a"))
            .unwrap();
        store.release_cache().unwrap();
        assert_eq!(store.entry("lightdash-chart-a").unwrap(), Some(entry("a")));
        store
            .commit("lightdash-chart-b", &entry("b"), &body("lightdash-chart-b"))
            .unwrap();
        // A handle in use (an iterator, another task's read) is never pulled away.
        let held = store.trees().unwrap();
        store.release_cache().unwrap();
        assert!(Arc::ptr_eq(&held, &store.trees().unwrap()));
        drop(held);
        let mut seen = Vec::new();
        store
            .for_each_brief(|id, project, active, _| {
                seen.push((id.to_owned(), project.to_owned(), active))
            })
            .unwrap();
        assert_eq!(
            seen,
            [
                ("lightdash-chart-a".to_owned(), entry("a").project, true),
                ("lightdash-chart-b".to_owned(), entry("b").project, true)
            ]
        );
        drop(store);
        let (store, outcome) = Store::open(dir.path(), &owner()).unwrap();
        assert_eq!(outcome, OpenOutcome::Opened);
        assert_eq!(store.index().unwrap().len(), 2);
    }

    #[test]
    fn index_counts_come_from_the_last_pass_until_an_entry_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), &owner()).unwrap();
        store
            .commit("lightdash-chart-a", &entry("a"), &body("lightdash-chart-a"))
            .unwrap();
        let mut gone = entry("b");
        gone.active = false;
        store.commit_entry("lightdash-chart-b", &gone).unwrap();
        let counts = store.index_counts().unwrap();
        assert_eq!(counts.active, BTreeMap::from([(AssetKind::Chart, 1)]));
        assert_eq!(counts.deactivated, BTreeMap::from([(AssetKind::Chart, 1)]));
        // A pass counts; with no write since, its counts are what the index holds.
        store.for_each_brief(|_, _, _, _| {}).unwrap();
        assert_eq!(store.index_counts().unwrap(), counts);
        // A write makes the next answer a new count.
        store
            .commit_entry("lightdash-chart-b", &entry("b"))
            .unwrap();
        let after = store.index_counts().unwrap();
        assert_eq!(after.active, BTreeMap::from([(AssetKind::Chart, 2)]));
        assert!(after.deactivated.is_empty());
    }

    #[test]
    fn a_snapshot_sled_left_unfinished_is_not_corruption() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, _) = Store::open(dir.path(), &owner()).unwrap();
            store
                .commit("lightdash-chart-a", &entry("a"), &body("lightdash-chart-a"))
                .unwrap();
            store.flush().unwrap();
        }
        // What a full disk leaves when sled writes a snapshot: an empty file it reads next.
        let unfinished = dir
            .path()
            .join("db")
            .join("snap.FFFFFFFFFFFFFFFF.generating");
        std::fs::write(&unfinished, b"").unwrap();
        let (store, outcome) = Store::open(dir.path(), &owner()).unwrap();
        assert_eq!(outcome, OpenOutcome::Opened, "not moved aside");
        assert!(!unfinished.exists());
        assert_eq!(store.entry("lightdash-chart-a").unwrap(), Some(entry("a")));
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
    fn scratch_keeps_details_until_cleared_and_out_of_the_index() {
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
        // Scratch entries are not part of what Dot has.
        let ids: Vec<String> = store.index().unwrap().into_iter().map(|e| e.0).collect();
        assert_eq!(ids, ["lightdash-chart-a", "lightdash-chart-b"]);
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
        // Only the ledger's memory of "x" survives, as a stale entry to re-push or deactivate.
        let index = store.index().unwrap();
        assert_eq!(index.len(), 1);
        assert!(index[0].1.stale && index[0].1.fingerprint.is_empty());
        assert!(std::fs::read_dir(dir.path()).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("db.corrupt-")
        }));
    }

    #[test]
    fn storage_faults_are_not_corruption() {
        let os = |code| sled::Error::Io(std::io::Error::from_raw_os_error(code));
        // ENOSPC, EACCES, EROFS, EDQUOT, EIO, EMFILE
        for code in [28, 13, 30, 122, 5, 24] {
            assert!(is_storage_fault(&os(code)), "os error {code}");
        }
        let kind = |k| sled::Error::Io(std::io::Error::from(k));
        assert!(!is_storage_fault(&kind(std::io::ErrorKind::UnexpectedEof)));
        assert!(!is_storage_fault(&kind(std::io::ErrorKind::InvalidData)));
        assert!(!is_storage_fault(&sled::Error::Corruption {
            at: None,
            bt: ()
        }));
    }

    /// Field report: after a temporary ENOSPC every later write failed, even once space was
    /// free. A fault is sticky (as sled's own is) until `recover` reopened the database and a
    /// probe write went through; nothing written before is lost and nothing is moved aside.
    #[test]
    fn a_write_fault_is_sticky_until_recover_reopens_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), &owner()).unwrap();
        store.commit("a", &entry("a"), &body("a")).unwrap();
        store.inject_fault(Some(28));
        let err = store.commit("b", &entry("b"), &body("b")).unwrap_err();
        assert!(matches!(err, StateError::Storage { .. }), "{err}");
        assert!(err.to_string().contains("No space left on device"), "{err}");
        assert!(err.to_string().contains("not corruption"), "{err}");
        assert!(store.fault().unwrap().contains("os error 28"));
        // Space is back, but the store stays faulted until it is recovered.
        store.inject_fault(None);
        assert!(store.commit_entry("b", &entry("b")).is_err());
        assert!(store.add_report(&CycleReport::default()).is_err());
        // Reads keep working meanwhile.
        assert_eq!(store.entry("a").unwrap(), Some(entry("a")));
        // While the fault lasts, recovery fails and says why.
        store.inject_fault(Some(30));
        assert!(
            store
                .recover()
                .unwrap_err()
                .to_string()
                .contains("Read-only file system")
        );
        store.inject_fault(None);
        store.recover().unwrap();
        assert_eq!(store.fault(), None);
        store.commit("b", &entry("b"), &body("b")).unwrap();
        store.flush().unwrap();
        let ids: Vec<String> = store
            .index()
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(!std::fs::read_dir(dir.path()).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("db.corrupt-")
        }));
        // A clone shares the reopened database.
        assert_eq!(store.clone().entry("b").unwrap(), Some(entry("b")));
    }

    /// Field report: a healthy state moved aside (wrongly) was deleted after two more starts,
    /// before its replacement had ever completed a cycle. Moved-aside states are now kept
    /// until the replacement completed a successful cycle; then the two newest are kept.
    #[test]
    fn moved_aside_states_are_kept_until_a_cycle_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let corrupt = |dir: &tempfile::TempDir| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("db.corrupt-"))
                .collect();
            v.sort();
            v
        };
        for i in 0..3 {
            std::fs::create_dir_all(
                dir.path()
                    .join(format!("db.corrupt-2026010{i}T000000.000Z")),
            )
            .unwrap();
        }
        for _ in 0..3 {
            drop(Store::open(dir.path(), &owner()).unwrap());
            std::fs::remove_dir_all(dir.path().join("db")).unwrap();
            std::fs::create_dir_all(dir.path().join("db")).unwrap();
            std::fs::write(dir.path().join("db").join("conf"), vec![0xA5u8; 512]).unwrap();
            let (store, outcome) = Store::open(dir.path(), &owner()).unwrap();
            assert!(
                matches!(outcome, OpenOutcome::Rebuilt { .. }),
                "{outcome:?}"
            );
            drop(store);
        }
        assert_eq!(
            corrupt(&dir).len(),
            6,
            "nothing deleted before a successful cycle"
        );
        let (store, _) = Store::open(dir.path(), &owner()).unwrap();
        store.note_cycle_succeeded().unwrap();
        let kept = corrupt(&dir);
        assert_eq!(kept.len(), CORRUPT_KEPT);
        assert!(
            !kept.iter().any(|n| n.starts_with("db.corrupt-202601")),
            "{kept:?}"
        );
    }

    /// Field report: with the state deleted, content deleted in Lightdash stayed active in
    /// Dot forever. The ledger outlives `db/`: a new database starts from its ids.
    #[test]
    fn an_index_written_as_json_is_rewritten_compactly_once_and_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ["lightdash-chart-a", "lightdash-chart-b"];
        {
            let (store, _) = Store::open(dir.path(), &owner()).unwrap();
            for id in ids {
                let (_, uuid) = AssetKind::split_id(id).unwrap();
                store.commit(id, &entry(uuid), &body(id)).unwrap();
            }
            // What states written before the compact encoding hold.
            let t = store.trees().unwrap();
            for id in ids {
                let (_, uuid) = AssetKind::split_id(id).unwrap();
                t.index
                    .insert(id, serde_json::to_vec(&entry(uuid)).unwrap())
                    .unwrap();
            }
            t.index
                .insert("lightdash-chart-bad", &b"{not json"[..])
                .unwrap();
            store.flush().unwrap();
        }
        let raw = |store: &Store| -> Vec<Vec<u8>> {
            let t = store.trees().unwrap();
            ids.iter()
                .map(|id| t.index.get(id).unwrap().unwrap().to_vec())
                .collect()
        };
        let (store, outcome) = Store::open(dir.path(), &owner()).unwrap();
        assert_eq!(outcome, OpenOutcome::Opened);
        for (id, bytes) in ids.iter().zip(raw(&store)) {
            assert!(!encoding::is_legacy(&bytes), "{id} rewritten");
            let (_, uuid) = AssetKind::split_id(id).unwrap();
            assert_eq!(store.entry(id).unwrap(), Some(entry(uuid)));
        }
        // An entry that never decoded is left as it was (and skipped by readers).
        let t = store.trees().unwrap();
        assert_eq!(
            t.index
                .get("lightdash-chart-bad")
                .unwrap()
                .unwrap()
                .as_ref(),
            b"{not json"
        );
        assert_eq!(store.index().unwrap().len(), 2);
        drop(t);
        let before = raw(&store);
        drop(store);
        let (store, _) = Store::open(dir.path(), &owner()).unwrap();
        assert_eq!(raw(&store), before, "a second open rewrites nothing");
    }

    #[test]
    fn a_ledger_of_many_changes_is_compacted_to_its_latest_line_per_id() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, _) = Store::open(dir.path(), &owner()).unwrap();
            // "flip" is deactivated and restored 700 times: 1,400 lines for one id.
            let mut flip = entry("flip");
            for _ in 0..700 {
                flip.active = true;
                store.commit_entry("lightdash-chart-flip", &flip).unwrap();
                flip.active = false;
                store.commit_entry("lightdash-chart-flip", &flip).unwrap();
            }
            store
                .commit_entry("lightdash-chart-kept", &entry("kept"))
                .unwrap();
            store.flush().unwrap();
        }
        let lines = |dir: &Path| {
            std::fs::read_to_string(dir.join(LEDGER_FILE))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(dir.path()).len(), 1_401);
        let (store, _) = Store::open(dir.path(), &owner()).unwrap();
        // Opening reads nothing of the ledger; the first commit does, and compacts it. It
        // knows what it knew: nothing new is appended for "kept".
        assert_eq!(lines(dir.path()).len(), 1_401);
        store
            .commit_entry("lightdash-chart-kept", &entry("kept"))
            .unwrap();
        let compacted = lines(dir.path());
        assert_eq!(compacted.len(), 2, "{compacted:?}");
        assert!(
            compacted[0].contains("lightdash-chart-flip")
                && compacted[0].contains("\"active\":false")
        );
        assert!(compacted[1].contains("lightdash-chart-kept"));
        assert!(
            !dir.path()
                .join(format!("{LEDGER_FILE}.compacting"))
                .exists()
        );
        // A lost database is seeded with "kept" only.
        store.flush().unwrap();
        drop(store);
        assert_eq!(lines(dir.path()).len(), 2);
        std::fs::remove_dir_all(dir.path().join("db")).unwrap();
        let (store, _) = Store::open(dir.path(), &owner()).unwrap();
        let ids: Vec<String> = store
            .index()
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["lightdash-chart-kept"]);
    }

    #[test]
    fn a_lost_database_is_seeded_from_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, _) = Store::open(dir.path(), &owner()).unwrap();
            store
                .commit("lightdash-chart-a", &entry("a"), &body("lightdash-chart-a"))
                .unwrap();
            store
                .commit("lightdash-chart-b", &entry("b"), &body("lightdash-chart-b"))
                .unwrap();
            // Committed again (a later push): one ledger line per id.
            store
                .commit("lightdash-chart-a", &entry("a"), &body("lightdash-chart-a"))
                .unwrap();
            store.flush().unwrap();
        }
        {
            // A third asset, deactivated later: the ledger's last word is "inactive".
            let (store, _) = Store::open(dir.path(), &owner()).unwrap();
            let mut c = entry("c");
            store
                .commit("lightdash-chart-c", &c, &body("lightdash-chart-c"))
                .unwrap();
            c.active = false;
            store.commit_entry("lightdash-chart-c", &c).unwrap();
            store.commit_entry("lightdash-chart-c", &c).unwrap();
            store.flush().unwrap();
        }
        let ledger = std::fs::read_to_string(dir.path().join(LEDGER_FILE)).unwrap();
        assert_eq!(ledger.lines().count(), 4, "one line per change: {ledger}");
        std::fs::remove_dir_all(dir.path().join("db")).unwrap();
        let (store, outcome) = Store::open(dir.path(), &owner()).unwrap();
        assert_eq!(outcome, OpenOutcome::Created);
        let index = store.index().unwrap();
        assert_eq!(
            index.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["lightdash-chart-a", "lightdash-chart-b"]
        );
        for (_, e) in &index {
            assert!(e.active && e.stale && e.fingerprint.is_empty(), "{e:?}");
            assert_eq!((e.kind, e.project.as_str()), (AssetKind::Chart, "p"));
        }
        // An ordinary reopen seeds nothing again (and overwrites nothing).
        store
            .commit("lightdash-chart-a", &entry("a"), &body("lightdash-chart-a"))
            .unwrap();
        store.flush().unwrap();
        drop(store);
        let (store, outcome) = Store::open(dir.path(), &owner()).unwrap();
        assert_eq!(outcome, OpenOutcome::Opened);
        assert_eq!(store.entry("lightdash-chart-a").unwrap(), Some(entry("a")));
    }

    /// Field report: after the clock stepped back, `status` listed future-dated reports first
    /// and retention deleted the newest. Reports are ordered by a sequence number.
    #[test]
    fn reports_are_ordered_by_sequence_not_by_clock() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), &owner()).unwrap();
        // A state written by the previous version: keyed by start time in milliseconds.
        let old = CycleReport {
            started_at_ms: 1_900_000_000_000,
            ..CycleReport::default()
        };
        store
            .trees()
            .unwrap()
            .reports
            .insert(
                1_900_000_000_000u64.to_be_bytes(),
                serde_json::to_vec(&old).unwrap(),
            )
            .unwrap();
        // Then the clock steps back a day between every cycle.
        let total = REPORTS_KEPT as i64 + 3;
        for i in 0..total {
            let r = CycleReport {
                started_at_ms: 1_800_000_000_000 - i * 86_400_000,
                ..CycleReport::default()
            };
            store.add_report(&r).unwrap();
        }
        let newest: Vec<i64> = store
            .reports(3)
            .unwrap()
            .iter()
            .map(|r| r.started_at_ms)
            .collect();
        let want: Vec<i64> = (total - 3..total)
            .rev()
            .map(|i| 1_800_000_000_000 - i * 86_400_000)
            .collect();
        assert_eq!(newest, want, "the last written first");
        let all = store.reports(1000).unwrap();
        assert_eq!(all.len(), REPORTS_KEPT);
        assert!(
            all.iter().all(|r| r.started_at_ms != old.started_at_ms),
            "retention dropped the oldest (the future-dated one), not the newest"
        );
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
