//! The Query service: SQL with DataFusion over one dataset's Parquet in the packer bucket (or
//! any bucket with the same layout), with the `year=/month=/day=/hour=` folders registered as
//! partition columns so a `WHERE` on them prunes whole folders, and per-query limits on time,
//! rows and memory that fail with clear errors.
//!
//! It runs on the data side and answers only callers whose API key reaches the dataset. It must
//! not write anything: statements other than queries (DDL, DML, `SET`, `COPY`) are refused.

mod bounded_functions;
mod concat_operator;
mod engine;
mod files;
mod literals;
mod output_bounds;
mod service;

pub use engine::{ColumnInfo, QueryEngine, QueryError, QueryLimits, QueryOutput};
pub use files::{FileListing, MAX_LISTED_FILES, ParquetFile, list_parquet_files};
pub use service::{QueryConfig, QueryService};
