//! Snapshot and property tests of the three renderers.
