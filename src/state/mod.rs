//! State: the sled store ([`store`], I/O) and fingerprints ([`fingerprint`], pure).
pub mod fingerprint;
pub mod store;

pub use store::{AssetBody, IndexEntry, OpenOutcome, Owner, StateError, Store, StoredDetails};
