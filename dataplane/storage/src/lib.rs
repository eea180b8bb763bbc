//! Object storage for the three pipeline buckets (`intake`, `piper`, `packer`) through the
//! `object_store` crate, and the leases that let several piper or packer instances share work
//! with create-if-absent writes instead of a coordinator.
//!
//! It must not format keys itself (that is `bytefreezer-layout`) and must not know about Arrow.
//! Invariant: `put` returns only once the object is durable; on a local folder that means the
//! file and its directory were fsynced, on S3 that the store acknowledged the write.
//! Backends: a local folder, or any S3-compatible store (`kind = "s3"`), behind the same
//! `Bucket` and one test suite; packer's named destinations are either, one bucket each.

mod bucket;
mod config;
mod destination;
mod lease;
mod s3;

pub use bucket::{Bucket, ObjectInfo, StorageError, VersionedObject};
pub use config::{Buckets, StorageConfig};
pub use destination::{DestinationConfig, S3Destination};
pub use lease::{Lease, LeaseKeeper, LeaseLost};
pub use s3::S3Settings;
