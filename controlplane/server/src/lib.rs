//! The control plane's HTTP face for the first slice: the status page, `/api/v1/status`,
//! `/api/v1/datasets`, and `/api/v1/dataplane/config`, which data-side services poll (API key,
//! ETag) to learn their datasets.
//!
//! It must never receive or serve event data: configuration, health and counters only. Every
//! user-provided string it renders is HTML-escaped.

mod page;
mod routes;
mod status;

pub use routes::ControlServer;
pub use status::{PipelineCounters, ServiceStatus, Status, health_label};
