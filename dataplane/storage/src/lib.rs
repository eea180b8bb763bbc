//! Object storage for the three pipeline buckets (`intake`, `piper`, `packer`) through the
//! `object_store` crate, and the leases that let several piper or packer instances share work
//! with create-if-absent writes instead of a coordinator.
//!
//! It must not format keys itself (that is `bytefreezer-layout`) and must not know about Arrow.
//! Invariant: `put` returns only once the object is durable; on a local folder that means the
//! file and its directory were fsynced.

mod bucket;
mod config;
mod lease;

pub use bucket::{Bucket, ObjectInfo, StorageError};
pub use config::{Buckets, StorageConfig};
pub use lease::{Lease, LeaseKeeper};
