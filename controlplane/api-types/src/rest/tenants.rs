use serde::{Deserialize, Serialize};

/// `POST /api/v1/tenants` and `PUT /api/v1/tenants/{tenant}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantRequest {
    /// Lowercase letters, digits, `-` and `_`; part of every object path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    pub name: String,
    /// Admins name the account; others create in their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}
