//! The running cycle's scratch file (I/O): details fetched for a later slice (a dashboard's
//! details between the propagation and its slice, the charts on its tiles), kept outside the
//! process's memory and outside sled.
//!
//! It was a sled tree; but sled keeps what it writes in its page cache, so parking every
//! dashboard's details during a cold cycle grew the process by tens of megabytes at 100,000
//! assets (issue #12). Here each item is appended to a plain file and only its place is held:
//! 32 bytes an item. What the kernel caches of the file is not the process's memory.
//!
//! Never "what Dot has": the file is emptied by every project's cycle, removed when emptied,
//! and losing it costs a fetch.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Scratch file name under `state.path`.
pub const SCRATCH_FILE: &str = "scratch";

/// Items appended to one file, found by a 16-byte hash of their key.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
    file: Option<File>,
    /// Key hash → (offset, length) of the latest copy.
    at: HashMap<u128, (u64, u32)>,
    end: u64,
}

/// 16 bytes of the key's BLAKE3 hash: a collision is out of reach (2^-64 at four billion
/// keys), and an item costs no copy of its key.
pub fn key_hash(key: &str) -> u128 {
    let hash = blake3::hash(key.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&hash.as_bytes()[..16]);
    u128::from_le_bytes(out)
}

impl Scratch {
    /// A scratch file at `path`, created (owner-only) on the first [`Self::put`].
    pub fn new(path: PathBuf) -> Self {
        Scratch {
            path,
            file: None,
            at: HashMap::new(),
            end: 0,
        }
    }

    /// Keeps `bytes` under `key` (a later put of the same key replaces it).
    pub fn put(&mut self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
        if self.file.is_none() {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&self.path)?;
            self.file = Some(file);
            self.end = 0;
        }
        let file = self.file.as_ref().expect("opened above");
        file.write_all_at(bytes, self.end)?;
        self.at.insert(key_hash(key), (self.end, len));
        self.end += u64::from(len);
        Ok(())
    }

    /// What was kept under `key`, if anything.
    pub fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        let (Some(file), Some(&(offset, len))) = (&self.file, self.at.get(&key_hash(key))) else {
            return Ok(None);
        };
        let mut out = vec![0u8; len as usize];
        file.read_exact_at(&mut out, offset)?;
        Ok(Some(out))
    }

    /// Forgets everything and removes the file.
    pub fn clear(&mut self) -> io::Result<()> {
        self.at = HashMap::new();
        self.end = 0;
        if self.file.take().is_some() || self.path.exists() {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_kept_in_a_file_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SCRATCH_FILE);
        let mut s = Scratch::new(path.clone());
        assert_eq!(s.get("a").unwrap(), None);
        assert!(!path.exists(), "nothing written, no file");
        s.put("a", b"first").unwrap();
        s.put("b", b"").unwrap();
        s.put("a", b"second copy").unwrap();
        assert_eq!(s.get("a").unwrap().as_deref(), Some(&b"second copy"[..]));
        assert_eq!(s.get("b").unwrap().as_deref(), Some(&b""[..]));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        s.clear().unwrap();
        assert!(!path.exists());
        assert_eq!(s.get("a").unwrap(), None);
        // Usable again after a clear, from an empty file.
        s.put("c", b"third").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 5);
        assert_eq!(s.get("c").unwrap().as_deref(), Some(&b"third"[..]));
    }

    #[test]
    fn a_file_left_by_a_crash_is_replaced_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SCRATCH_FILE);
        std::fs::write(&path, b"left over from a killed cycle").unwrap();
        let mut s = Scratch::new(path.clone());
        assert_eq!(s.get("a").unwrap(), None);
        s.put("a", b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }
}
