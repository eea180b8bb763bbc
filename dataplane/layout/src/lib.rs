//! Every object key the pipeline writes or reads: intake objects, piper objects, Parquet files,
//! leases, packer plans, dead letters and the attempt counts of failing inputs. This is the only
//! place that formats or parses bucket paths, so the layout users query (`{tenant}/{dataset}/data/parquet/year=YYYY/month=MM/day=DD/hour=HH/...`)
//! cannot drift between stages.
//!
//! Pure: no I/O, no clock. It must not know about object stores, Arrow or configuration.

mod dead_letter;
mod hour;
mod identifier;
mod keys;

pub use dead_letter::{
    DeadLetterKind, DeadLetterObject, attempts_object, attempts_prefix, dead_letter_prefix,
    dead_letter_reason_object, dead_letter_replay_lease, parse_attempts_object,
    parse_dead_letter_object, replayed_rows_batch_id,
};
pub use hour::HourPartition;
pub use identifier::{IdentifierError, validate_identifier};
pub use keys::{
    INTERNAL_PREFIX, IntakeObject, ParquetObject, PiperObject, Stage, dataset_prefix,
    intake_object, lease_object, packed_marker_object, packed_marker_prefix, packer_plan_object,
    packer_plan_prefix, parquet_folder_in, parquet_object, parquet_object_in, parse_intake_object,
    parse_packer_plan_object, parse_parquet_object, parse_piper_object, piper_object, probe_object,
};
