//! Accounts and their users.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytefreezer_api::rest::AccountRequest;
use bytefreezer_control_store::{Account, Role, User};
use serde::Deserialize;

use crate::api_error::{ApiError, ApiResult, json_body};
use crate::auth::Principal;
use crate::routes::ServerState;
use crate::session_api::no_such;

/// Accounts the caller can see: all for admins, its own otherwise.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts",
    responses((status = 200, body = Vec<Account>)))]
pub(crate) async fn list_accounts(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
) -> ApiResult<Json<Vec<Account>>> {
    let accounts = match principal.account_filter() {
        None => state.store.list_accounts().await?,
        Some(own) => state.store.account(own).await?.into_iter().collect(),
    };
    Ok(Json(accounts))
}

/// Create an account (admins).
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = AccountRequest,
    responses((status = 201, body = Account), (status = 403), (status = 409), (status = 422)))]
pub(crate) async fn create_account(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Account>)> {
    principal.require_admin()?;
    let request: AccountRequest = json_body(&body)?;
    let account = state
        .store
        .create_account(&principal.actor, &request.name)
        .await?;
    Ok((StatusCode::CREATED, Json(account)))
}

async fn visible_account(
    state: &ServerState,
    principal: &Principal,
    id: &str,
) -> ApiResult<Account> {
    if !principal.sees_account(id) {
        return Err(no_such(format_args!("account {id}")));
    }
    state
        .store
        .account(id)
        .await?
        .ok_or_else(|| no_such(format_args!("account {id}")))
}

#[utoipa::path(get, path = "/api/v1/accounts/{account}", tag = "accounts",
    params(("account" = String, Path)), responses((status = 200, body = Account), (status = 404)))]
pub(crate) async fn get_account(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path(account): Path<String>,
) -> ApiResult<Json<Account>> {
    Ok(Json(visible_account(&state, &principal, &account).await?))
}

/// Rename an account (admins and its account admins).
#[utoipa::path(put, path = "/api/v1/accounts/{account}", tag = "accounts", request_body = AccountRequest,
    params(("account" = String, Path)), responses((status = 200, body = Account), (status = 404), (status = 422)))]
pub(crate) async fn update_account(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path(account): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Account>> {
    visible_account(&state, &principal, &account).await?;
    principal.require_account_write()?;
    let request: AccountRequest = json_body(&body)?;
    Ok(Json(
        state
            .store
            .rename_account(&principal.actor, &account, &request.name)
            .await?,
    ))
}

/// Delete an empty account (admins).
#[utoipa::path(delete, path = "/api/v1/accounts/{account}", tag = "accounts",
    params(("account" = String, Path)), responses((status = 204), (status = 404), (status = 422)))]
pub(crate) async fn delete_account(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path(account): Path<String>,
) -> ApiResult<StatusCode> {
    visible_account(&state, &principal, &account).await?;
    principal.require_admin()?;
    state
        .store
        .delete_account(&principal.actor, &account)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserRequest {
    email: String,
    /// At least 10 characters; stored only as an argon2id hash.
    password: String,
    role: Role,
    /// Required for admins creating account users; defaults to the caller's account.
    #[serde(default)]
    account_id: Option<String>,
}

/// Users of the caller's account (all users for admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "accounts",
    responses((status = 200, body = Vec<User>)))]
pub(crate) async fn list_users(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
) -> ApiResult<Json<Vec<User>>> {
    if principal.tenant_filter().is_some() {
        return Ok(Json(Vec::new()));
    }
    Ok(Json(
        state.store.list_users(principal.account_filter()).await?,
    ))
}

/// Create a user. Account admins create users of their account; only admins create admins.
#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", request_body = UserRequest,
    responses((status = 201, body = User), (status = 403), (status = 409), (status = 422)))]
pub(crate) async fn create_user(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<User>)> {
    principal.require_account_write()?;
    let request: UserRequest = json_body(&body)?;
    let account = match request.role {
        Role::Admin => {
            principal.require_admin()?;
            None
        }
        _ => Some(principal.target_account(request.account_id.as_deref())?),
    };
    let user = state
        .store
        .create_user(
            &principal.actor,
            account.as_deref(),
            &request.email,
            &request.password,
            request.role,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(delete, path = "/api/v1/users/{user}", tag = "accounts",
    params(("user" = String, Path)), responses((status = 204), (status = 404)))]
pub(crate) async fn delete_user(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path(user): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require_account_write()?;
    let found = state
        .store
        .user(&user)
        .await?
        .filter(|u| match (&u.account_id, principal.account_filter()) {
            (_, None) => true,
            (Some(theirs), Some(own)) => theirs == own,
            (None, Some(_)) => false,
        })
        .ok_or_else(|| no_such(format_args!("user {user}")))?;
    if found.email == principal.actor.0 {
        return Err(ApiError::invalid("user", "you cannot delete yourself"));
    }
    state.store.delete_user(&principal.actor, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}
