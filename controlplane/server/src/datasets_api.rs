//! Tenants and their datasets: create, change, pause/resume, assign to a proxy, delete. Every
//! path is checked against the caller's scope first; another tenant's things answer 404.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytefreezer_api::rest::{AssignmentRequest, DatasetRecord, DatasetRequest, TenantRequest};
use bytefreezer_api::{DatasetSpec, SourceSpec};
use bytefreezer_control_store::Tenant;
use bytefreezer_transform::Pipeline;

use crate::api_error::{ApiError, ApiResult, json_body};
use crate::auth::Principal;
use crate::routes::ServerState;
use crate::session_api::no_such;

#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants",
    responses((status = 200, body = Vec<Tenant>)))]
pub(crate) async fn list_tenants(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
) -> ApiResult<Json<Vec<Tenant>>> {
    let tenants = state.store.list_tenants(principal.account_filter()).await?;
    Ok(Json(
        tenants
            .into_iter()
            .filter(|t| principal.sees_tenant(t))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = TenantRequest,
    responses((status = 201, body = Tenant), (status = 409), (status = 422)))]
pub(crate) async fn create_tenant(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    principal.require_account_write()?;
    let request: TenantRequest = json_body(&body)?;
    let tenant_id = request
        .tenant_id
        .ok_or_else(|| ApiError::invalid("tenant_id", "required"))?;
    let account = principal.target_account(request.account_id.as_deref())?;
    if principal.is_admin() && state.store.account(&account).await?.is_none() {
        return Err(no_such(format_args!("account {account}")));
    }
    let tenant = state
        .store
        .create_tenant(&principal.actor, &account, &tenant_id, &request.name)
        .await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// The tenant, when the caller may see it; 404 otherwise, whether it exists or not.
pub(crate) async fn visible_tenant(
    state: &ServerState,
    principal: &Principal,
    tenant_id: &str,
) -> ApiResult<Tenant> {
    state
        .store
        .tenant(tenant_id)
        .await?
        .filter(|tenant| principal.sees_tenant(tenant))
        .ok_or_else(|| no_such(format_args!("tenant {tenant_id}")))
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path)), responses((status = 200, body = Tenant), (status = 404)))]
pub(crate) async fn get_tenant(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(visible_tenant(&state, &principal, &tenant).await?))
}

#[utoipa::path(put, path = "/api/v1/tenants/{tenant}", tag = "tenants", request_body = TenantRequest,
    params(("tenant" = String, Path)), responses((status = 200, body = Tenant), (status = 404)))]
pub(crate) async fn update_tenant(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path(tenant): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Tenant>> {
    visible_tenant(&state, &principal, &tenant).await?;
    principal.require_account_write()?;
    let request: TenantRequest = json_body(&body)?;
    if request.tenant_id.as_deref().is_some_and(|id| id != tenant) {
        return Err(ApiError::invalid(
            "tenant_id",
            "cannot change; create a new tenant",
        ));
    }
    Ok(Json(
        state
            .store
            .rename_tenant(&principal.actor, &tenant, &request.name)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path)), responses((status = 204), (status = 404), (status = 422)))]
pub(crate) async fn delete_tenant(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> ApiResult<StatusCode> {
    visible_tenant(&state, &principal, &tenant).await?;
    principal.require_account_write()?;
    state.store.delete_tenant(&principal.actor, &tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/datasets", tag = "datasets",
    params(("tenant" = String, Path)), responses((status = 200, body = Vec<Object>), (status = 404)))]
pub(crate) async fn list_datasets(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Vec<DatasetRecord>>> {
    visible_tenant(&state, &principal, &tenant).await?;
    let records = state
        .store
        .list_dataset_records(principal.account_filter(), Some(&tenant))
        .await?;
    Ok(Json(shown_to(&principal, records)))
}

/// Every dataset the caller can see, across its tenants.
#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets",
    responses((status = 200, body = Vec<Object>)))]
pub(crate) async fn list_all_datasets(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
) -> ApiResult<Json<Vec<DatasetRecord>>> {
    let records = state
        .store
        .list_dataset_records(principal.account_filter(), principal.tenant_filter())
        .await?;
    Ok(Json(shown_to(&principal, records)))
}

/// Records as the caller may read them: pipeline secrets redacted for viewers.
fn shown_to(principal: &Principal, records: Vec<DatasetRecord>) -> Vec<DatasetRecord> {
    if principal.sees_secrets() {
        return records;
    }
    records.iter().map(DatasetRecord::redacted).collect()
}

/// Validates what a dataset would run before it is stored: the pipeline compiles here (with
/// this node's GeoIP databases), the destination stays in the dataset's own namespace, and no
/// other active dataset that may run on the same proxy listens on an overlapping address.
async fn check_dataset(
    state: &ServerState,
    principal: &Principal,
    spec: &DatasetSpec,
    assigned_proxy: Option<&str>,
) -> ApiResult<()> {
    if let Err(problem) = Pipeline::compile_with(&spec.pipeline, &state.geoip) {
        let bytefreezer_transform::PipelineError::Filter { index, .. } = &problem;
        return Err(ApiError::invalid(
            &format!("pipeline.filters[{index}]"),
            problem.to_string(),
        ));
    }
    if let Err((field, reason)) = spec.packer.validate() {
        return Err(ApiError::invalid(field, reason));
    }
    if let Err((field, reason)) = spec
        .destination
        .validate_for(&spec.tenant_id, &spec.dataset_id)
    {
        return Err(ApiError::invalid(field, reason));
    }
    // The prefix's first segment is the folder of the tenant of that name in every bucket.
    if let Some(root) = spec.destination.prefix_root()
        && root != spec.tenant_id
        && state.store.tenant(root).await?.is_some()
    {
        return Err(ApiError::invalid(
            "destination.prefix",
            "must not start with another tenant's id; use your own tenant id or another name",
        ));
    }
    if spec.source.bind().is_some_and(|bind| bind.port() == 0) {
        return Err(ApiError::invalid(
            "source.settings.bind",
            "needs a port other than 0",
        ));
    }
    if let Err((field, reason)) = spec.source.validate() {
        return Err(ApiError::invalid(field, reason));
    }
    check_bind_is_free(state, principal, spec, assigned_proxy).await
}

/// Refuses a listen address that overlaps another active dataset's (`0.0.0.0:5514` overlaps
/// `10.0.0.1:5514`) when both may run on one proxy: the proxy's sockets would share the port
/// and each dataset would receive the other's datagrams. Every account counts, since one proxy
/// can serve several (an admin-scoped key) and proxies are not tied to hosts in the model; only
/// datasets assigned to two different proxy instances can share a port.
pub(crate) async fn check_bind_is_free(
    state: &ServerState,
    principal: &Principal,
    spec: &DatasetSpec,
    assigned_proxy: Option<&str>,
) -> ApiResult<()> {
    if !spec.active {
        return Ok(());
    }
    let others = state.store.list_dataset_records(None, None).await?;
    let clash = others.iter().find(|other| {
        other.spec.active
            && (
                other.spec.tenant_id.as_str(),
                other.spec.dataset_id.as_str(),
            ) != (spec.tenant_id.as_str(), spec.dataset_id.as_str())
            && other.spec.source.clashes_with(&spec.source)
            && match (other.assigned_proxy.as_deref(), assigned_proxy) {
                (Some(theirs), Some(ours)) => theirs == ours,
                _ => true,
            }
    });
    let Some(other) = clash else {
        return Ok(());
    };
    // Name the other dataset only to callers who may see it.
    let who = match state.store.tenant(&other.spec.tenant_id).await? {
        Some(tenant) if principal.sees_tenant(&tenant) => format!(
            "dataset {}/{} ({})",
            other.spec.tenant_id,
            other.spec.dataset_id,
            other.spec.source.listen()
        ),
        _ => "another dataset served by the same proxies".to_owned(),
    };
    Err(ApiError::Conflict(format!(
        "source.settings.bind: {} overlaps {who}; both would receive each other's data, so choose another port{}",
        spec.source.listen(),
        if matches!(spec.source, SourceSpec::Http(_)) {
            " (http datasets share a port when each has its own path and the same TLS settings)"
        } else {
            ""
        }
    )))
}

fn spec_from(tenant: &str, dataset_id: String, request: DatasetRequest) -> DatasetSpec {
    DatasetSpec {
        tenant_id: tenant.to_owned(),
        name: if request.name.is_empty() {
            dataset_id.clone()
        } else {
            request.name
        },
        dataset_id,
        source: request.source,
        pipeline: request.pipeline,
        testing: request.testing,
        active: request.active,
        packer: request.packer,
        destination: request.destination,
    }
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/datasets", tag = "datasets",
    request_body = DatasetRequest, params(("tenant" = String, Path)),
    responses((status = 201, body = Object), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn create_dataset(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path(tenant): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<DatasetRecord>)> {
    visible_tenant(&state, &principal, &tenant).await?;
    principal.require_write()?;
    let mut request: DatasetRequest = json_body(&body)?;
    let dataset_id = request
        .dataset_id
        .take()
        .ok_or_else(|| ApiError::invalid("dataset_id", "required"))?;
    let spec = spec_from(&tenant, dataset_id, request);
    check_dataset(&state, &principal, &spec, None).await?;
    let record = state.store.create_dataset(&principal.actor, &spec).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// The dataset, when the caller may see its tenant.
pub(crate) async fn visible_dataset(
    state: &ServerState,
    principal: &Principal,
    tenant: &str,
    dataset: &str,
) -> ApiResult<DatasetRecord> {
    let missing = || no_such(format_args!("dataset {tenant}/{dataset}"));
    state
        .store
        .tenant(tenant)
        .await?
        .filter(|t| principal.sees_tenant(t))
        .ok_or_else(missing)?;
    state
        .store
        .dataset_record(tenant, dataset)
        .await?
        .ok_or_else(missing)
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/datasets/{dataset}", tag = "datasets",
    params(("tenant" = String, Path), ("dataset" = String, Path)),
    responses((status = 200, body = Object), (status = 404)))]
pub(crate) async fn get_dataset(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
) -> ApiResult<Json<DatasetRecord>> {
    let record = visible_dataset(&state, &principal, &tenant, &dataset).await?;
    Ok(Json(shown_to(&principal, vec![record]).remove(0)))
}

/// Replace a dataset's name, source, pipeline, testing flag and state.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/datasets/{dataset}", tag = "datasets",
    request_body = DatasetRequest, params(("tenant" = String, Path), ("dataset" = String, Path)),
    responses((status = 200, body = Object), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn update_dataset(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<DatasetRecord>> {
    let current = visible_dataset(&state, &principal, &tenant, &dataset).await?;
    principal.require_write()?;
    let mut request: DatasetRequest = json_body(&body)?;
    if request.dataset_id.take().is_some_and(|id| id != dataset) {
        return Err(ApiError::invalid(
            "dataset_id",
            "cannot change; create a new dataset",
        ));
    }
    let spec = spec_from(&tenant, dataset, request);
    check_dataset(&state, &principal, &spec, current.assigned_proxy.as_deref()).await?;
    Ok(Json(
        state.store.update_dataset(&principal.actor, &spec).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/datasets/{dataset}", tag = "datasets",
    params(("tenant" = String, Path), ("dataset" = String, Path)),
    responses((status = 204), (status = 404)))]
pub(crate) async fn delete_dataset(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    visible_dataset(&state, &principal, &tenant, &dataset).await?;
    principal.require_write()?;
    state
        .store
        .delete_dataset(&principal.actor, &tenant, &dataset)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_active(
    state: &ServerState,
    principal: &Principal,
    tenant: &str,
    dataset: &str,
    active: bool,
) -> ApiResult<Json<DatasetRecord>> {
    let record = visible_dataset(state, principal, tenant, dataset).await?;
    principal.require_write()?;
    if active {
        check_dataset(
            state,
            principal,
            &DatasetSpec {
                active: true,
                ..record.spec
            },
            record.assigned_proxy.as_deref(),
        )
        .await?;
    }
    Ok(Json(
        state
            .store
            .set_dataset_active(&principal.actor, tenant, dataset, active)
            .await?,
    ))
}

/// Pause: the dataset leaves every proxy's configuration and its port closes.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/datasets/{dataset}/pause", tag = "datasets",
    params(("tenant" = String, Path), ("dataset" = String, Path)),
    responses((status = 200, body = Object), (status = 404)))]
pub(crate) async fn pause_dataset(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
) -> ApiResult<Json<DatasetRecord>> {
    set_active(&state, &principal, &tenant, &dataset, false).await
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/datasets/{dataset}/resume", tag = "datasets",
    params(("tenant" = String, Path), ("dataset" = String, Path)),
    responses((status = 200, body = Object), (status = 404), (status = 409)))]
pub(crate) async fn resume_dataset(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
) -> ApiResult<Json<DatasetRecord>> {
    set_active(&state, &principal, &tenant, &dataset, true).await
}

/// Assign the dataset to one proxy instance (or to every proxy with `null`).
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/datasets/{dataset}/assignment", tag = "datasets",
    request_body = AssignmentRequest, params(("tenant" = String, Path), ("dataset" = String, Path)),
    responses((status = 200, body = Object), (status = 404), (status = 422)))]
pub(crate) async fn assign_dataset(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<DatasetRecord>> {
    let record = visible_dataset(&state, &principal, &tenant, &dataset).await?;
    principal.require_write()?;
    let request: AssignmentRequest = json_body(&body)?;
    check_bind_is_free(&state, &principal, &record.spec, request.proxy.as_deref()).await?;
    Ok(Json(
        state
            .store
            .assign_dataset(
                &principal.actor,
                &tenant,
                &dataset,
                request.proxy.as_deref(),
            )
            .await?,
    ))
}
