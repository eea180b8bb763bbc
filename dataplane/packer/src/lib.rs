//! Packer: the last stage. It groups piper objects by (tenant, dataset, event hour), and when a
//! partition is big enough (128 MiB), old enough (20 minutes) or its dataset is in testing mode,
//! writes them as one zstd Parquet file at the documented partition path.
//!
//! Exactly once by construction: before writing it records the exact input set in a plan
//! (create-if-absent); it deletes inputs only after the Parquet file is durable, and recovery
//! replays plans. Before deleting the inputs it leaves a marker per input, so a copy of an
//! input written again later (a resent or retransformed batch) is dropped, not packed twice
//! (`packed.rs`). It must never delete an input before the file containing it is durable, never
//! drop a column or a row on a schema change (types widen instead), and never let one
//! partition's failure stop the others. What it cannot pack goes to the dataset's dead-letter
//! prefix in the piper bucket with its reason: unreadable objects at once, the culprit of a
//! file that cannot be written after `max_attempts` tries alone, spaced by exponential backoff
//! (counted in the piper bucket, so a restart keeps the count). Replay requests the control
//! plane delivers move them back.

mod config;
mod dead_letter;
mod packed;
mod packer;
mod plan;
mod probe;
mod write;

pub use config::PackerConfig;
pub use packer::{OpenPartitions, Packer, PackerCycle};
pub use probe::{DestinationProbes, PROBE_INTERVAL};
