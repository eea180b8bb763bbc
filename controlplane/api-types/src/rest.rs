//! The bodies of the control plane's REST API (`/api/v1`) that have a client besides the
//! dashboard: the server decodes its requests and encodes its answers with these types, and
//! `bytefreezer ctl` builds and reads them with the same ones, so a renamed or retyped field
//! fails to compile instead of failing at the first request. One module per resource.
//!
//! With the `openapi` feature the types also describe themselves for the server's OpenAPI
//! document; without it nothing here depends on anything but serde.

mod accounts;
mod datasets;
mod keys;
mod session;
mod tenants;

pub use accounts::AccountRequest;
pub use datasets::{AssignmentRequest, DatasetRecord, DatasetRequest};
pub use keys::{ApiKey, CreatedKey, KeyRequest};
pub use session::{LoginRequest, WhoAmI};
pub use tenants::TenantRequest;
