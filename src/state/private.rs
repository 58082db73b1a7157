//! Owner-only permissions for the state (I/O): the state directory and everything we create
//! in it are `0700`/`0600` whatever the umask, because the state holds every description we
//! pushed (private spaces included when `include_private` is set) and cycle errors. Under
//! systemd, `StateDirectory=` already makes the directory private; elsewhere (a container, a
//! cron job, a laptop) nothing else would.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of directories we create.
pub const DIR_MODE: u32 = 0o700;
/// Mode of files we create.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` (and missing parents) with mode `0700`, and makes `path` itself `0700`
/// when it already existed with wider permissions (best effort: a directory prepared by an
/// administrator and owned by someone else keeps its mode).
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)?;
    let _ = restrict(path);
    Ok(())
}

/// Writes `bytes` to `path` as a `0600` file (an existing file is truncated and narrowed).
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    file.write_all(bytes)
}

/// Narrows `path` to `0700` (directory) or `0600` (file) if it allows more; symlinks are
/// left alone.
pub fn restrict(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let want = if meta.is_dir() {
        DIR_MODE
    } else if meta.is_file() {
        FILE_MODE
    } else {
        return Ok(());
    };
    if meta.permissions().mode() & 0o777 & !want != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(want))?;
    }
    Ok(())
}

/// Narrows `path` and everything under it (what sled created with the process umask).
/// Best effort: an entry that cannot be changed is skipped.
pub fn restrict_tree(path: &Path) {
    let _ = restrict(path);
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => restrict_tree(&entry.path()),
                Ok(t) if t.is_file() => {
                    let _ = restrict(&entry.path());
                }
                _ => {}
            }
        }
    }
}
