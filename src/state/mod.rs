//! State: the sled store ([`store`], I/O), how its index entries are encoded ([`encoding`],
//! pure), fingerprints ([`fingerprint`], pure), what a
//! cycle knows of one project ([`known`], pure), the cycle's scratch file ([`scratch`], I/O)
//! and owner-only file modes ([`private`], I/O).
pub mod encoding;
pub mod fingerprint;
pub mod known;
pub mod private;
pub mod scratch;
pub mod store;

pub use known::{ActiveIds, EntryLookup, Known};
pub use store::{AssetBody, IndexEntry, OpenOutcome, Owner, StateError, Store, StoredDetails};
