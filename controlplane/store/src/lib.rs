//! The control store: accounts, tenants, datasets, API keys and the service registry, through
//! sqlx on SQLite (the default, a file in the data folder) or PostgreSQL (production), with one
//! set of migrations and one test suite for both.
//!
//! It must not hold event data: only configuration, key hashes and service health. An API key's
//! plaintext is returned once, when created, and never stored.

mod error;
mod model;
mod store;

pub use error::StoreError;
pub use model::{Account, ServiceHeartbeat, Tenant};
pub use store::ControlStore;
