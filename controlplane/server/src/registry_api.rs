//! The service registry and what services report: heartbeats in, derived health, per-dataset
//! statistics and activity out.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use bytefreezer_api::metrics::CONTROL_QUERY_TOKENS_TOTAL;
use bytefreezer_api::{
    DATASET_METRICS, OpenPartition, QueryTokenClaims, Role, ServiceReport, sign_query_token,
};
use bytefreezer_control_store::{ActivityQuery, ActivityRecord, StatPoint, StoreError};
use serde::{Deserialize, Serialize};

use crate::api_error::{ApiError, ApiResult, json_body};
use crate::auth::Principal;
use crate::datasets_api::visible_dataset;
use crate::routes::ServerState;
use crate::status::{ServiceStatus, service_status, service_statuses};

/// Reports larger than this are refused: a report carries counters, never data.
const MAX_REPORT_BYTES: usize = 1 << 20;

/// Roles whose reports name an endpoint that browsers are sent to: only account-wide
/// credentials (an account key, an account admin) may report them, never a tenant's key such as
/// a proxy's.
const ACCOUNT_ROLES: [Role; 2] = [Role::Query, Role::Control];

/// A service's heartbeat: registers it the first time, then updates its health and counters.
/// An instance belongs to the credentials that registered it; another caller gets 409.
#[utoipa::path(post, path = "/api/v1/services/report", tag = "services", request_body = Object,
    responses((status = 204), (status = 403, description = "a tenant key reporting a query or control service"),
        (status = 409, description = "instance id registered by other credentials"), (status = 422)))]
pub(crate) async fn report(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    body: Bytes,
) -> ApiResult<StatusCode> {
    principal.require_write()?;
    if body.len() > MAX_REPORT_BYTES {
        return Err(ApiError::invalid("body", "a report is at most 1 MiB"));
    }
    let report: ServiceReport = json_body(&body)?;
    let account_role = report
        .known_role()
        .is_ok_and(|role| ACCOUNT_ROLES.contains(&role));
    if account_role && principal.tenant_filter().is_some() {
        return Err(ApiError::Forbidden(format!(
            "a tenant key cannot report a {} service; it reports with an account key",
            report.role
        )));
    }
    let reporter = match &principal.key_id {
        Some(key_id) => format!("key:{key_id}"),
        None => format!("user:{}", principal.actor.0),
    };
    let recorded = state
        .store
        .record_report_by(
            principal.account_filter(),
            principal.tenant_filter(),
            &reporter,
            &report,
        )
        .await;
    match recorded {
        Err(StoreError::Conflict { .. }) => Err(ApiError::Conflict(format!(
            "service instance {} is registered by other credentials; each instance reports \
             with the key that registered it",
            report.instance_id
        ))),
        other => other.map_err(ApiError::from),
    }?;
    Ok(StatusCode::NO_CONTENT)
}

/// How long a query token lives; the dashboard asks for a new one before it runs out.
pub(crate) const QUERY_TOKEN_TTL_SECS: i64 = 300;

/// What `/api/v1/query-access` needs: the endpoint it vouches for and the tokens' secret.
pub(crate) struct QueryAccess {
    endpoint: Option<String>,
    secret: Vec<u8>,
}

impl QueryAccess {
    pub(crate) fn new(endpoint: Option<String>, secret: Vec<u8>) -> QueryAccess {
        QueryAccess { endpoint, secret }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryAccessRequest {
    tenant_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct QueryAccessGrant {
    /// The query service to call: `""` means this origin.
    endpoint: String,
    /// Send as `Authorization: Bearer <token>` to the query service.
    token: String,
    /// Unix seconds.
    expires_at: i64,
}

/// A short-lived token for querying one tenant's datasets on the data side, and the query
/// service to use it with: one the control plane vouches for (configured by the operator, or
/// registered by the tenant's own account with account credentials). Audited.
#[utoipa::path(post, path = "/api/v1/query-access", tag = "services", request_body = QueryAccessRequest,
    responses((status = 200, body = QueryAccessGrant), (status = 404), (status = 409, description = "no query service, or query tokens not configured")))]
pub(crate) async fn query_access(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    body: Bytes,
) -> ApiResult<Json<QueryAccessGrant>> {
    let request: QueryAccessRequest = json_body(&body)?;
    let not_found = || ApiError::NotFound(format!("tenant {} not found", request.tenant_id));
    let tenant = state
        .store
        .tenant(&request.tenant_id)
        .await?
        .filter(|t| principal.sees_tenant(t))
        .ok_or_else(not_found)?;
    let Some(access) = &state.query_access else {
        // A setup the operator has not made, not a server fault: 409 with what to do.
        return Err(ApiError::Conflict(
            "this control plane does not issue query tokens: start it with a query token \
             secret shared with the query service"
                .into(),
        ));
    };
    let endpoint = match &access.endpoint {
        Some(endpoint) => endpoint.clone(),
        None => vouched_endpoint(&state, &tenant.account_id).await?,
    };
    let expires_at = chrono::Utc::now().timestamp() + QUERY_TOKEN_TTL_SECS;
    let claims = QueryTokenClaims {
        subject: principal.actor.0.clone(),
        account_id: tenant.account_id.clone(),
        tenant_id: tenant.id.clone(),
        expires_at,
        token_id: uuid::Uuid::new_v4().to_string(),
    };
    let expiry = chrono::DateTime::from_timestamp(expires_at, 0)
        .unwrap_or_default()
        .to_rfc3339();
    state
        .store
        .audit_query_token(
            &principal.actor,
            &tenant.account_id,
            &tenant.id,
            &claims.token_id,
            &expiry,
        )
        .await?;
    state
        .registry
        .counter(
            CONTROL_QUERY_TOKENS_TOTAL.name,
            CONTROL_QUERY_TOKENS_TOTAL.help,
            &[],
        )
        .increment(1);
    Ok(Json(QueryAccessGrant {
        endpoint,
        token: sign_query_token(&claims, &access.secret),
        expires_at,
    }))
}

/// A healthy query service of the account (one only account credentials could register).
async fn vouched_endpoint(state: &ServerState, account_id: &str) -> ApiResult<String> {
    let now = chrono::Utc::now();
    let services = state.store.list_services(Some(account_id)).await?;
    services
        .into_iter()
        .filter(|s| s.role == Role::Query)
        .map(|s| service_status(s, now))
        .filter(|s| s.health == "Healthy")
        .find_map(|s| s.endpoint.filter(|e| !e.is_empty()))
        .map(|e| e.trim_end_matches('/').to_owned())
        .ok_or_else(|| {
            ApiError::Conflict(
                "no healthy query service of this account has registered: start `bytefreezer \
                 query` reporting with an account key, or configure the query URL"
                    .into(),
            )
        })
}

/// Every service the caller's account runs, with its derived health.
#[utoipa::path(get, path = "/api/v1/services", tag = "services",
    responses((status = 200, body = Vec<ServiceStatus>)))]
pub(crate) async fn list_services(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
) -> ApiResult<Json<Vec<ServiceStatus>>> {
    let now = chrono::Utc::now();
    let services = state
        .store
        .list_services(principal.account_filter())
        .await?;
    Ok(Json(service_statuses(services, now)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatisticsParams {
    /// How far back the per-minute series goes (default 60, at most 10080 = 7 days).
    minutes: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DatasetStatistics {
    tenant_id: String,
    dataset_id: String,
    /// All-time totals per metric.
    totals: BTreeMap<String, i64>,
    /// Per-minute points, oldest first.
    series: Vec<StatPoint>,
    /// `installed` or `not_installed` per stage: stages the account does not run report nothing.
    stages: BTreeMap<String, &'static str>,
}

async fn stages(
    state: &ServerState,
    principal: &Principal,
) -> ApiResult<BTreeMap<String, &'static str>> {
    let services = state
        .store
        .list_services(principal.account_filter())
        .await?;
    Ok(Role::DATA_SIDE
        .into_iter()
        .map(|stage| {
            let installed = services.iter().any(|s| s.role == stage);
            (
                stage.to_string(),
                if installed {
                    "installed"
                } else {
                    "not_installed"
                },
            )
        })
        .collect())
}

fn complete_totals(mut totals: BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    for (metric, _) in DATASET_METRICS {
        totals.entry((*metric).to_owned()).or_insert(0);
    }
    totals
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/datasets/{dataset}/statistics", tag = "statistics",
    params(("tenant" = String, Path), ("dataset" = String, Path), StatisticsParams),
    responses((status = 200, body = DatasetStatistics), (status = 404)))]
pub(crate) async fn dataset_statistics(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
    Query(params): Query<StatisticsParams>,
) -> ApiResult<Json<DatasetStatistics>> {
    visible_dataset(&state, &principal, &tenant, &dataset).await?;
    let minutes = params.minutes.unwrap_or(60).clamp(1, 10_080);
    let since = chrono::Utc::now() - chrono::Duration::minutes(i64::from(minutes));
    Ok(Json(DatasetStatistics {
        totals: complete_totals(state.store.dataset_totals(&tenant, &dataset).await?),
        series: state.store.dataset_stats(&tenant, &dataset, since).await?,
        stages: stages(&state, &principal).await?,
        tenant_id: tenant,
        dataset_id: dataset,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct StatisticsOverview {
    datasets: Vec<DatasetTotals>,
    stages: BTreeMap<String, &'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DatasetTotals {
    tenant_id: String,
    dataset_id: String,
    totals: BTreeMap<String, i64>,
}

/// Totals of every dataset the caller can see.
#[utoipa::path(get, path = "/api/v1/statistics", tag = "statistics",
    responses((status = 200, body = StatisticsOverview)))]
pub(crate) async fn statistics(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
) -> ApiResult<Json<StatisticsOverview>> {
    let records = state
        .store
        .list_dataset_records(principal.account_filter(), principal.tenant_filter())
        .await?;
    let mut totals = state
        .store
        .all_dataset_totals(principal.tenant_filter())
        .await?;
    let datasets = records
        .into_iter()
        .map(|record| {
            let key = (record.spec.tenant_id, record.spec.dataset_id);
            let dataset_totals = totals.remove(&key).unwrap_or_default();
            DatasetTotals {
                tenant_id: key.0,
                dataset_id: key.1,
                totals: complete_totals(dataset_totals),
            }
        })
        .collect();
    Ok(Json(StatisticsOverview {
        datasets,
        stages: stages(&state, &principal).await?,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivityParams {
    tenant: Option<String>,
    dataset: Option<String>,
    /// `proxy`, `piper` or `packer`.
    stage: Option<String>,
    /// `ok` or `error`.
    outcome: Option<String>,
    /// Paging cursor: the last id of the previous page.
    before: Option<String>,
    /// At most 1000 (default 100).
    limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ActivityPage {
    events: Vec<ActivityRecord>,
    /// Packer partitions still accumulating, from each packer's last report.
    #[schema(value_type = Vec<Object>)]
    open_partitions: Vec<OpenPartition>,
    /// Pass as `before` for the next page; absent on the last.
    next_before: Option<String>,
}

/// Recent piper and packer jobs, errors and retries, and the accumulation state of packer.
#[utoipa::path(get, path = "/api/v1/activity", tag = "statistics", params(ActivityParams),
    responses((status = 200, body = ActivityPage)))]
pub(crate) async fn activity(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Query(params): Query<ActivityParams>,
) -> ApiResult<Json<ActivityPage>> {
    let tenant = match (principal.tenant_filter(), params.tenant) {
        (Some(own), Some(asked)) if own != asked => {
            return Ok(Json(ActivityPage {
                events: Vec::new(),
                open_partitions: Vec::new(),
                next_before: None,
            }));
        }
        (Some(own), _) => Some(own.to_owned()),
        (None, asked) => asked,
    };
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    let events = state
        .store
        .list_activity(&ActivityQuery {
            account_id: principal.account_filter().map(str::to_owned),
            tenant_id: tenant.clone(),
            dataset_id: params.dataset.clone(),
            stage: params.stage,
            outcome: params.outcome,
            before: params.before,
            limit,
        })
        .await?;
    let services = state
        .store
        .list_services(principal.account_filter())
        .await?;
    let open_partitions = services
        .into_iter()
        .filter(|s| s.role == Role::Packer)
        .flat_map(|s| s.report.open_partitions)
        .filter(|p| tenant.as_deref().is_none_or(|t| t == p.tenant_id))
        .filter(|p| params.dataset.as_deref().is_none_or(|d| d == p.dataset_id))
        .collect();
    let next_before = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.id.clone()))
        .flatten();
    Ok(Json(ActivityPage {
        events,
        open_partitions,
        next_before,
    }))
}
