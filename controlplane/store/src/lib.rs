//! The control store: accounts, users and sessions, tenants, datasets, API keys, the service
//! registry with its reports, per-minute dataset statistics, persisted activity, the audit log
//! and dead-letter replay requests, through sqlx on SQLite (the default, a file in the data
//! folder) or PostgreSQL (production), with one set of migrations and one test suite for both.
//!
//! Every mutation writes its audit entry in the transaction of the change. It must not hold
//! event data: only configuration, key and password hashes, counters and service health. An API
//! key's plaintext is returned once, when created, and never stored.

mod accounts;
mod audit;
mod datasets;
mod dead_letters;
mod error;
mod keys;
mod model;
mod registry;
mod store;

// The API answers with these records as they are, so their type is the API's.
pub use bytefreezer_api::rest::{ApiKey, DatasetRecord};
pub use datasets::ConfigScope;
pub use error::StoreError;
pub use keys::KeyScope;
pub use model::{
    Account, ActivityQuery, ActivityRecord, Actor, AuditEntry, AuditQuery, Role, ServiceRecord,
    Session, StatPoint, Tenant, User,
};
pub use registry::LOCAL_REPORTER;
pub use store::ControlStore;
