use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: String,
}

/// What a user may do. Admins see every account; the others only their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    AccountAdmin,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::AccountAdmin => "account_admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "account_admin" => Some(Role::AccountAdmin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    /// `None` only for admins.
    pub account_id: Option<String>,
    pub email: String,
    pub role: Role,
    pub created_at: String,
}

/// A logged-in dashboard user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
}

/// Who made a change, as the audit log names them: a user's email or `key:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn system() -> Actor {
        Actor("system".into())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub account_id: Option<String>,
    pub tenant_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// `{"before": ..., "after": ...}`; either side is null for creations and deletions.
    pub diff: serde_json::Value,
}

/// Filters of the audit log; `before` is the paging cursor (an entry id).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// `None`: every account (admins only).
    pub account_id: Option<String>,
    pub tenant_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<String>,
    pub limit: u32,
}

/// The registry's view of one service instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub instance_id: String,
    pub account_id: Option<String>,
    /// Not the [`Role`] of a user: what the service does.
    pub role: bytefreezer_api::Role,
    pub host: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Whether the service has passed its readiness checks at least once.
    pub ready: bool,
    /// False when the last report showed errors, drops or lag above the thresholds.
    pub healthy: bool,
    /// Why it is degraded, or empty.
    pub detail: String,
    pub report: bytefreezer_api::ServiceReport,
}

/// One per-minute point of a dataset metric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatPoint {
    /// RFC 3339 UTC, the start of the minute.
    pub minute: String,
    pub metric: String,
    pub value: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActivityRecord {
    pub id: String,
    pub at: String,
    pub instance_id: String,
    pub stage: String,
    pub tenant_id: String,
    pub dataset_id: String,
    pub outcome: String,
    pub message: String,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    pub account_id: Option<String>,
    pub tenant_id: Option<String>,
    pub dataset_id: Option<String>,
    pub stage: Option<String>,
    pub outcome: Option<String>,
    pub before: Option<String>,
    pub limit: u32,
}
