//! The service registry and what services report: heartbeats in, derived health, per-dataset
//! statistics and activity out.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use bytefreezer_api::{DATASET_METRICS, OpenPartition, ServiceReport};
use bytefreezer_control_store::{ActivityQuery, ActivityRecord, StatPoint};
use serde::{Deserialize, Serialize};

use crate::api_error::{ApiError, ApiResult, json_body};
use crate::auth::Principal;
use crate::datasets_api::visible_dataset;
use crate::routes::ServerState;
use crate::status::{ServiceStatus, service_status};

/// Reports larger than this are refused: a report carries counters, never data.
const MAX_REPORT_BYTES: usize = 1 << 20;

/// A service's heartbeat: registers it the first time, then updates its health and counters.
#[utoipa::path(post, path = "/api/v1/services/report", tag = "services", request_body = Object,
    responses((status = 204), (status = 409, description = "instance id taken by another account"), (status = 422)))]
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
    state
        .store
        .record_report(
            principal.account_filter(),
            principal.tenant_filter(),
            &report,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
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
    Ok(Json(
        services
            .into_iter()
            .map(|s| service_status(s, now))
            .collect(),
    ))
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
    Ok(["proxy", "receiver", "piper", "packer", "query"]
        .into_iter()
        .map(|stage| {
            let installed = services.iter().any(|s| s.role == stage);
            (
                stage.to_owned(),
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
        .filter(|s| s.role == "packer")
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
