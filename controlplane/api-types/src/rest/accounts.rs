use serde::{Deserialize, Serialize};

/// `POST /api/v1/accounts` and `PUT /api/v1/accounts/{account}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    pub name: String,
}
