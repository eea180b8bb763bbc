//! Piper: the stage between the intake and piper buckets. For each intake object it takes a
//! lease, lifts message fields, runs the dataset's pipeline, splits rows by event hour, writes
//! one piper object per hour named after the intake batch, and only then deletes the input.
//!
//! It must not delete an input before every output is durable, must not drop an object it
//! cannot process (unknown datasets wait, corrupt objects are quarantined), and must not let
//! one dataset's failure stop the others.

mod config;
mod piper;
mod process;

pub use config::PiperConfig;
pub use piper::{Piper, PiperCycle};
