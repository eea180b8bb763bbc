//! The control plane's HTTP face: the status page, `/api/v1/status`, `/api/v1/datasets`,
//! `/api/v1/dataplane/config`, which data-side services poll (API key, ETag) to learn their
//! datasets, and the pipeline API (filter catalog, Test Transformation, save a pipeline).
//!
//! It must never receive or serve stored event data: configuration, health and counters only;
//! the one exception is sample events a user pastes into Test Transformation, which are
//! transformed in memory and returned, never kept. Every user-provided string it renders is
//! HTML-escaped.

mod page;
mod pipeline_api;
mod routes;
mod status;

pub use routes::ControlServer;
pub use status::{PipelineCounters, ServiceStatus, Status, health_label};
