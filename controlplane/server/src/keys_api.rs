//! API keys: created random, shown once, stored hashed, named, scoped, revocable.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytefreezer_api::rest::{ApiKey, CreatedKey, KeyRequest};
use bytefreezer_control_store::KeyScope;

use crate::api_error::{ApiError, ApiResult, json_body};
use crate::auth::Principal;
use crate::datasets_api::visible_tenant;
use crate::routes::ServerState;
use crate::session_api::no_such;

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, body = Vec<ApiKey>)))]
pub(crate) async fn list_keys(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
) -> ApiResult<Json<Vec<ApiKey>>> {
    Ok(Json(
        state
            .store
            .list_api_keys(principal.account_filter(), principal.tenant_filter())
            .await?,
    ))
}

/// Create a key; the response carries its plaintext, the only time it exists.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = KeyRequest,
    responses((status = 201, body = CreatedKey), (status = 403), (status = 404), (status = 422)))]
pub(crate) async fn create_key(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    principal.require_write()?;
    let request: KeyRequest = json_body(&body)?;
    let scope = match (request.tenant_id, request.dataset_id) {
        (Some(tenant_id), dataset_id) => {
            visible_tenant(&state, &principal, &tenant_id).await?;
            KeyScope::Tenant {
                tenant_id,
                dataset_id,
            }
        }
        (None, Some(_)) => {
            return Err(ApiError::invalid("dataset_id", "needs tenant_id as well"));
        }
        (None, None) => {
            principal.require_account_write()?;
            let account_id = principal.target_account(request.account_id.as_deref())?;
            KeyScope::Account { account_id }
        }
    };
    let (key, record) = state
        .store
        .create_api_key(&principal.actor, &request.name, &scope)
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, record })))
}

/// Revoke a key: it stops working at once, everywhere.
#[utoipa::path(delete, path = "/api/v1/keys/{key}", tag = "keys",
    params(("key" = String, Path, description = "the key's id")),
    responses((status = 200, body = ApiKey), (status = 404)))]
pub(crate) async fn revoke_key(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path(key): Path<String>,
) -> ApiResult<Json<ApiKey>> {
    principal.require_write()?;
    let visible = state.store.api_key(&key).await?.filter(|record| {
        principal
            .account_filter()
            .is_none_or(|own| own == record.account_id)
            && principal
                .tenant_filter()
                .is_none_or(|own| record.tenant_id.as_deref() == Some(own))
    });
    if visible.is_none() {
        return Err(no_such(format_args!("API key {key}")));
    }
    Ok(Json(
        state.store.revoke_api_key(&principal.actor, &key).await?,
    ))
}
