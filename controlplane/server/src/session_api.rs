//! Dashboard login: a session cookie (HttpOnly, Secure, SameSite=Strict) plus a CSRF token the
//! page sends back on every change.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::api_error::{ApiError, ApiResult, json_body};
use crate::auth::{Access, Principal, SESSION_COOKIE, cookie};
use crate::routes::ServerState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WhoAmI {
    /// The user's email or `key:<name>`.
    actor: String,
    /// `admin`, `account_admin`, `viewer`, `account_key` or `tenant_key`.
    role: &'static str,
    account_id: Option<String>,
    account_name: Option<String>,
    tenant_id: Option<String>,
    /// Send this as `X-CSRF-Token` on every change made with the session cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
}

/// Log in with email and password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = WhoAmI), (status = 401, description = "wrong email or password")))]
pub(crate) async fn login(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    // A form on another site can post text/plain but not application/json without CORS, so
    // requiring JSON here keeps other sites from logging a browser into their account.
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json {
        return Err(ApiError::BadRequest(
            "log in with Content-Type: application/json".into(),
        ));
    }
    let request: LoginRequest = json_body(&body)?;
    let Some((token, session)) = state.store.login(&request.email, &request.password).await? else {
        return Ok((
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "error": "wrong email or password" })),
        )
            .into_response());
    };
    let principal_role = session.user.role.as_str();
    let account_name = match &session.user.account_id {
        Some(id) => state.store.account(id).await?.map(|a| a.name),
        None => None,
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        12 * 3600
    );
    let body = WhoAmI {
        actor: session.user.email,
        role: principal_role,
        account_id: session.user.account_id,
        account_name,
        tenant_id: None,
        csrf_token: Some(session.csrf_token),
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// End the session of the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "session",
    responses((status = 204, description = "logged out")))]
pub(crate) async fn logout(
    State(state): State<Arc<ServerState>>,
    _principal: Principal,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.store.logout(token).await?;
    }
    let expired =
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, expired)]).into_response())
}

/// Who the caller is and what it may reach.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "session",
    responses((status = 200, body = WhoAmI), (status = 401, description = "not logged in")))]
pub(crate) async fn me(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    headers: HeaderMap,
) -> ApiResult<Json<WhoAmI>> {
    let (role, account_id, tenant_id) = match &principal.access {
        Access::Admin => ("admin", None, None),
        Access::Account { account_id, write } => {
            let role = match (principal.key_id.is_some(), write) {
                (true, _) => "account_key",
                (false, true) => "account_admin",
                (false, false) => "viewer",
            };
            (role, Some(account_id.clone()), None)
        }
        Access::Tenant {
            account_id,
            tenant_id,
        } => (
            "tenant_key",
            Some(account_id.clone()),
            Some(tenant_id.clone()),
        ),
    };
    let account_name = match &account_id {
        Some(id) => state.store.account(id).await?.map(|a| a.name),
        None => None,
    };
    let csrf_token = match cookie(&headers, SESSION_COOKIE) {
        Some(token) if principal.key_id.is_none() => {
            state.store.session(token).await?.map(|s| s.csrf_token)
        }
        _ => None,
    };
    Ok(Json(WhoAmI {
        actor: principal.actor.0,
        role,
        account_id,
        account_name,
        tenant_id,
        csrf_token,
    }))
}

pub(crate) fn no_such(what: impl std::fmt::Display) -> ApiError {
    ApiError::NotFound(format!("{what} not found"))
}
