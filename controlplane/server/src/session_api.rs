//! Dashboard login: a session cookie (HttpOnly, Secure, SameSite=Strict) plus a CSRF token the
//! page sends back on every change.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytefreezer_api::metrics::CONTROL_LOGINS_THROTTLED_TOTAL;
use bytefreezer_api::rest::{LoginRequest, WhoAmI};
use serde::Deserialize;

use crate::api_error::{ApiError, ApiResult, json_body};
use crate::auth::{Access, Principal, SESSION_COOKIE, cookie};
use crate::login_throttle::ThrottleCause;
use crate::routes::ServerState;

/// The client's address as the listener saw it (without `ConnectInfo`, every client counts
/// as one address, which only makes the address limit stricter).
pub(crate) type ClientAddress = Option<Extension<ConnectInfo<SocketAddr>>>;

fn client_ip(client: &ClientAddress) -> IpAddr {
    client
        .as_ref()
        .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |info| {
            info.0.0.ip().to_canonical()
        })
}

/// 429 with `Retry-After` in whole seconds (rounded up, so retrying then succeeds).
fn throttled(state: &ServerState, wait: Duration, cause: ThrottleCause) -> Response {
    state
        .registry
        .counter(
            CONTROL_LOGINS_THROTTLED_TOTAL.name,
            CONTROL_LOGINS_THROTTLED_TOTAL.help,
            &[("cause", cause.label())],
        )
        .increment(1);
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let whose = match cause {
        ThrottleCause::Account => "this account",
        ThrottleCause::Address => "your address",
    };
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds.to_string())],
        Json(serde_json::json!({
            "error": format!("too many wrong passwords for {whose}; try again in {seconds} s"),
            "retry_after_secs": seconds,
        })),
    )
        .into_response()
}

/// Log in with email and password; sets the session cookie. After 5 wrong passwords for an
/// account (or 20 from one address) each further check waits 1 s, doubling to at most 30 s
/// after the last wrong password; attempts during the wait get 429 with `Retry-After` and are
/// not counted, so the right password logs in once the wait has passed.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = WhoAmI), (status = 401, description = "wrong email or password"),
              (status = 429, description = "too many wrong passwords; retry after `Retry-After` seconds")))]
pub(crate) async fn login(
    State(state): State<Arc<ServerState>>,
    client: ClientAddress,
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
    let address = client_ip(&client);
    if let Err((wait, cause)) = state
        .login_throttle
        .begin(&request.email, address, Instant::now())
    {
        return Ok(throttled(&state, wait, cause));
    }
    let Some((token, session)) = state.store.login(&request.email, &request.password).await? else {
        return Ok((
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "error": "wrong email or password" })),
        )
            .into_response());
    };
    state
        .login_throttle
        .succeeded(&request.email, address, Instant::now());
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
        role: principal_role.to_owned(),
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
        role: role.to_owned(),
        account_id,
        account_name,
        tenant_id,
        csrf_token,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    current_password: String,
    /// At least 10 characters.
    new_password: String,
}

/// Change the logged-in user's password. The current password is checked (and throttled like
/// a login); every other session of the user ends, this one stays. Audited as `user.password`.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "session", request_body = PasswordChange,
    responses((status = 204, description = "changed; other sessions ended"),
              (status = 401, description = "not logged in"),
              (status = 403, description = "API keys have no password"),
              (status = 422, description = "current_password is wrong, or new_password too short"),
              (status = 429, description = "too many wrong passwords")))]
pub(crate) async fn change_password(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    client: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let session_token = cookie(&headers, SESSION_COOKIE).filter(|_| principal.key_id.is_none());
    let Some(session_token) = session_token else {
        return Err(ApiError::Forbidden(
            "API keys have no password; log in as the user to change it".into(),
        ));
    };
    let session = state
        .store
        .session(session_token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let request: PasswordChange = json_body(&body)?;
    let email = session.user.email;
    let address = client_ip(&client);
    if let Err((wait, cause)) = state.login_throttle.begin(&email, address, Instant::now()) {
        return Ok(throttled(&state, wait, cause));
    }
    let changed = state
        .store
        .change_password(
            &principal.actor,
            &session.user.id,
            &request.current_password,
            &request.new_password,
            session_token,
        )
        .await
        .inspect_err(|_| state.login_throttle.cancel(&email, address))?;
    if !changed {
        return Err(ApiError::invalid("current_password", "is wrong"));
    }
    state
        .login_throttle
        .succeeded(&email, address, Instant::now());
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) fn no_such(what: impl std::fmt::Display) -> ApiError {
    ApiError::NotFound(format!("{what} not found"))
}
