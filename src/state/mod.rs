//! State: the sled store ([`store`], I/O), fingerprints ([`fingerprint`], pure) and
//! owner-only file modes ([`private`], I/O).
pub mod fingerprint;
pub mod private;
pub mod store;

pub use store::{AssetBody, IndexEntry, OpenOutcome, Owner, StateError, Store, StoredDetails};
