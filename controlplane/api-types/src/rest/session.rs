use serde::{Deserialize, Serialize};

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Who is calling: the answer of `GET /api/v1/auth/me` and of a successful login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhoAmI {
    /// The user's email or `key:<name>`.
    pub actor: String,
    /// `admin`, `account_admin`, `viewer`, `account_key` or `tenant_key`.
    pub role: String,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub tenant_id: Option<String>,
    /// Send this as `X-CSRF-Token` on every change made with the session cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}
