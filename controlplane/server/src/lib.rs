//! The control plane's HTTP face: the REST API under `/api/v1` (accounts, users and sessions,
//! tenants, datasets, API keys, the service registry, statistics, activity, the audit log,
//! configuration delivery with ETag and long-poll, pipelines and Test Transformation), its
//! OpenAPI document, and the dashboard's static files (pages are built in the browser from
//! the API).
//!
//! Every request is authorized against the caller's account or tenant; anything outside answers
//! 404. It must never receive or serve stored event data: configuration, health and counters
//! only; the one exception is sample events a user pastes into Test Transformation, which are
//! transformed in memory and returned, never kept. The dashboard reads data (Query, Parquet
//! files) from the query service on the data side, never through here.

mod accounts_api;
mod api_error;
mod audit_api;
mod auth;
mod checks_api;
mod config_api;
mod dashboard;
mod datasets_api;
mod dead_letters_api;
mod keys_api;
mod login_throttle;
mod openapi;
mod pipeline_api;
mod plugins_api;
mod registry_api;
mod routes;
mod session_api;
mod status;

pub use login_throttle::LoginThrottleSettings;
pub use routes::ControlServer;
pub use status::{PipelineCounters, ServiceStatus, Status, health_label};
