//! Piper: the stage between the intake and piper buckets. For each intake object it takes a
//! lease, builds table rows from the proxies' edge batches (syslog is parsed here), lifts
//! message fields, runs the dataset's pipeline, splits rows by event hour, writes
//! one piper object per hour named after the intake batch, and only then deletes the input.
//!
//! It must not delete an input before every output is durable, must not drop an object it
//! cannot process, and must not let one dataset's failure stop the others. What it cannot
//! process goes to the dataset's dead-letter prefix with its reason: rows whose reserved time
//! columns cannot be read at once (the rest of the object goes on), unreadable objects at once,
//! objects whose transformation fails (filter error, output limit, panic) after `max_attempts`
//! tries spaced by exponential backoff (counted in the intake bucket, so a restart keeps the
//! count). Replay requests the control plane delivers move this stage's dead letters back.

mod config;
mod dead_letter;
mod ebpf_table;
mod events_table;
mod piper;
mod process;
mod table_rows;

/// The dead-letter path piper shares with packer and `bytefreezer dead-letter`.
pub use bytefreezer_dead_letter as dead_letters;
pub use bytefreezer_dead_letter::DeadLetterRecord;
pub use config::PiperConfig;
pub use piper::{Piper, PiperCycle};
pub use table_rows::{TableRows, table_rows, table_rows_with};
