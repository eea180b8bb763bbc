//! The transformation engine piper runs on every batch: the pipeline format users write
//! (`{"filters":[...]}`), its validation, and the built-in first step that lifts JSON or
//! `key=value` message bodies into columns.
//!
//! Batches in, batches out, no clock. Its one I/O is reading the MaxMind databases it is
//! handed as a [`GeoIp`] (and re-reading them when the files change); it must not read
//! configuration from anywhere but the `PipelineSpec` it is given, and a filter that fails on a
//! batch returns an error instead of dropping rows.
//!
//! Invariant: a pipeline has at most `max_filters` filters, and no filter grows a value, a
//! column or a batch past [`TransformLimits`]; exceeding one is a [`TransformError::Limit`],
//! never an allocation the size of the tenant's imagination.

mod catalog;
mod condition;
mod convert;
mod filters;
mod geoip;
mod kv;
mod lift;
mod limits;
mod pipeline;
mod template;
mod text_filters;
mod trial;

pub use catalog::{FilterKind, filter_catalog};
pub use geoip::{GeoIp, GeoIpDatabase, GeoIpError, GeoIpSettings};

pub use condition::{Condition, ConditionError, evaluate, parse_condition};
pub use lift::{LiftMode, LiftOutcome, MAX_LIFTED_COLUMNS, lift_fields, lift_message_fields};
pub use limits::TransformLimits;
pub use pipeline::{FilterReport, Pipeline, PipelineError, TransformError};
// The pipeline format is a contract with the control plane, so it lives in the API crate; the
// engine re-exports it because every caller of `Pipeline::compile` needs it.
pub use bytefreezer_api::{FilterSpec, PipelineSpec, pipeline_version};
pub use trial::{TrialError, TrialReport, trial_run};
