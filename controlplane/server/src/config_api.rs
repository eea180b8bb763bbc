//! Configuration delivery to data-side services: the active datasets and ingest keys of the
//! caller's scope, with an ETag, and long-poll (`?wait=N`) so a change reaches a waiting proxy
//! about as soon as it is saved.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytefreezer_control_store::ConfigScope;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api_error::{ApiError, ApiResult};
use crate::auth::Principal;
use crate::routes::ServerState;

/// Longest a request may wait for a change; proxies ask for less than their HTTP timeout.
const MAX_WAIT_SECS: u64 = 60;
/// Changes made by another control-plane replica are noticed by re-reading this often.
const RECHECK: Duration = Duration::from_secs(1);

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigParams {
    /// The asking proxy's instance id: it gets the datasets assigned to it and the unassigned.
    proxy: Option<String>,
    /// With `If-None-Match`: wait up to this many seconds (at most 60) for a change before
    /// answering 304.
    wait: Option<u64>,
}

fn render(config: &bytefreezer_api::DataPlaneConfig) -> ApiResult<(Vec<u8>, String)> {
    let body = serde_json::to_vec(config).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
    Ok((body, etag))
}

fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == etag))
}

#[utoipa::path(get, path = "/api/v1/dataplane/config", tag = "config", params(ConfigParams),
    responses((status = 200, description = "the configuration, with an ETag", body = Object),
              (status = 304, description = "unchanged since If-None-Match"), (status = 401)))]
pub(crate) async fn dataplane_config(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Query(params): Query<ConfigParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // Services use keys; a viewer has no use for it, and it holds pipelines' HMAC keys.
    principal.require_write()?;
    if let Some(proxy) = &params.proxy {
        bytefreezer_layout::validate_identifier("proxy", proxy)
            .map_err(|e| ApiError::invalid("proxy", e.to_string()))?;
    }
    let scope = ConfigScope {
        account_id: principal.account_filter().map(str::to_owned),
        tenant_id: principal.tenant_filter().map(str::to_owned),
        proxy: params.proxy,
    };
    let wait = Duration::from_secs(params.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = state.changes.subscribe();
    loop {
        let config = state.store.dataplane_config_for(&scope).await?;
        let (body, etag) = render(&config)?;
        if !matches(&headers, &etag) {
            return Ok((
                StatusCode::OK,
                [
                    (header::ETAG, etag),
                    (header::CONTENT_TYPE, "application/json".to_owned()),
                ],
                body,
            )
                .into_response());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
        }
        let pause = RECHECK.min(deadline - now);
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
