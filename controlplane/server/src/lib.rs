//! The control plane's HTTP face: the REST API under `/api/v1` (accounts, users and sessions,
//! tenants, datasets, API keys, the service registry, statistics, activity, the audit log,
//! configuration delivery with ETag and long-poll, pipelines and Test Transformation), its
//! OpenAPI document, and the status page.
//!
//! Every request is authorized against the caller's account or tenant; anything outside answers
//! 404. It must never receive or serve stored event data: configuration, health and counters
//! only; the one exception is sample events a user pastes into Test Transformation, which are
//! transformed in memory and returned, never kept. Every user-provided string it renders is
//! HTML-escaped.

mod accounts_api;
mod api_error;
mod audit_api;
mod auth;
mod config_api;
mod datasets_api;
mod keys_api;
mod openapi;
mod page;
mod pipeline_api;
mod registry_api;
mod routes;
mod session_api;
mod status;

pub use routes::ControlServer;
pub use status::{PipelineCounters, ServiceStatus, Status, health_label};
