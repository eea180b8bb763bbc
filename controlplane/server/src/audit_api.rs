//! The audit log: append-only (the API has no way to change or delete an entry), filtered and
//! paged, limited to the caller's account or tenant.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use bytefreezer_api::{PipelineSpec, redact_pipeline};
use bytefreezer_control_store::{AuditEntry, AuditQuery};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api_error::{ApiError, ApiResult};
use crate::auth::Principal;
use crate::routes::ServerState;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditParams {
    /// A user email or `key:<name>`; matches as a prefix.
    actor: Option<String>,
    /// For example `dataset.update`, `api_key.revoke`.
    action: Option<String>,
    /// For example `dataset/demo/syslog`; matches as a prefix.
    target: Option<String>,
    /// RFC 3339.
    since: Option<String>,
    /// RFC 3339.
    until: Option<String>,
    /// Paging cursor: the last id of the previous page.
    before: Option<String>,
    /// At most 500 (default 50).
    limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPage {
    entries: Vec<AuditEntry>,
    next_before: Option<String>,
}

fn time(field: &str, value: Option<String>) -> ApiResult<Option<DateTime<Utc>>> {
    value
        .map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| ApiError::invalid(field, format!("not an RFC 3339 time: {e}")))
        })
        .transpose()
}

/// The store redacts pipeline secrets before writing an entry; entries written before it did
/// are redacted here, so the log never shows an HMAC key to anyone.
fn redact_entry(mut entry: AuditEntry) -> AuditEntry {
    for side in ["before", "after"] {
        let Some(pipeline) = entry.diff.get_mut(side).and_then(|v| v.get_mut("pipeline")) else {
            continue;
        };
        if let Ok(spec) = serde_json::from_value::<PipelineSpec>(pipeline.clone()) {
            *pipeline = serde_json::to_value(redact_pipeline(&spec)).unwrap_or_default();
        }
    }
    entry
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 422)))]
pub(crate) async fn audit(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Query(params): Query<AuditParams>,
) -> ApiResult<Json<AuditPage>> {
    let limit = params.limit.unwrap_or(50).clamp(1, 500);
    let entries = state
        .store
        .audit_entries(&AuditQuery {
            account_id: principal.account_filter().map(str::to_owned),
            tenant_id: principal.tenant_filter().map(str::to_owned),
            actor: params.actor,
            action: params.action,
            target: params.target,
            since: time("since", params.since)?,
            until: time("until", params.until)?,
            before: params.before,
            limit,
        })
        .await?;
    let next_before = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id.clone()))
        .flatten();
    let entries = entries.into_iter().map(redact_entry).collect();
    Ok(Json(AuditPage {
        entries,
        next_before,
    }))
}
