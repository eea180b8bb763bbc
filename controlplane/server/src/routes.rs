use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use bytefreezer_control_store::ControlStore;
use bytefreezer_telemetry::Registry;
use bytefreezer_transform::GeoIp;
use sha2::{Digest, Sha256};

use crate::page::render_page;
use crate::pipeline_api;
use crate::status::{PipelineCounters, Status, dataset_status, service_status};

pub(crate) struct ServerState {
    pub(crate) store: ControlStore,
    registry: Registry,
    parquet_location: Option<String>,
    pub(crate) geoip: GeoIp,
}

pub struct ControlServer {
    state: ServerState,
}

impl ControlServer {
    pub fn new(store: ControlStore, registry: Registry) -> Self {
        ControlServer {
            state: ServerState {
                store,
                registry,
                parquet_location: None,
                geoip: GeoIp::default(),
            },
        }
    }

    /// Where Parquet lands, shown to users on the status page.
    pub fn with_parquet_location(mut self, location: String) -> Self {
        self.state.parquet_location = Some(location);
        self
    }

    /// The node's MaxMind databases, so pipelines with `geoip` validate and test here.
    pub fn with_geoip(mut self, geoip: GeoIp) -> Self {
        self.state.geoip = geoip;
        self
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/api/v1/status", get(status))
            .route("/api/v1/datasets", get(datasets))
            .route("/api/v1/dataplane/config", get(dataplane_config))
            .route("/api/v1/transform/filters", get(pipeline_api::filters))
            .route(
                "/api/v1/transform/test",
                post(pipeline_api::test_transformation),
            )
            .route(
                "/api/v1/tenants/{tenant}/datasets/{dataset}/pipeline",
                get(pipeline_api::get_pipeline).put(pipeline_api::put_pipeline),
            )
            .with_state(Arc::new(self.state))
    }
}

/// The API key a caller sends as `Authorization: Bearer <key>`.
pub(crate) fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

pub(crate) fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!("control plane: {error}");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "error": format!("control store unavailable: {error}") })),
    )
        .into_response()
}

async fn collect_status(state: &ServerState) -> Result<Status, Response> {
    let now = chrono::Utc::now();
    let services = state.store.list_services().await.map_err(internal)?;
    let datasets = state.store.list_datasets().await.map_err(internal)?;
    Ok(Status {
        version: env!("CARGO_PKG_VERSION"),
        parquet_location: state.parquet_location.clone(),
        services: services
            .into_iter()
            .map(|s| service_status(s, now))
            .collect(),
        datasets: datasets.into_iter().map(dataset_status).collect(),
        pipeline: PipelineCounters::from_registry(&state.registry),
    })
}

async fn page(State(state): State<Arc<ServerState>>) -> Response {
    match collect_status(&state).await {
        Ok(status) => Html(render_page(&status)).into_response(),
        Err(response) => response,
    }
}

async fn status(State(state): State<Arc<ServerState>>) -> Response {
    match collect_status(&state).await {
        Ok(status) => Json(status).into_response(),
        Err(response) => response,
    }
}

async fn datasets(State(state): State<Arc<ServerState>>) -> Response {
    match state.store.list_datasets().await {
        Ok(datasets) => Json(datasets).into_response(),
        Err(error) => internal(error),
    }
}

/// The data side's configuration, for any valid API key. The ETag lets pollers skip unchanged
/// configurations with `If-None-Match`.
async fn dataplane_config(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    let authorized = match bearer_key(&headers) {
        Some(key) => state.store.api_key_is_valid(key).await.unwrap_or(false),
        None => false,
    };
    if !authorized {
        return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({ "error": "send a valid API key as `Authorization: Bearer <key>`" })))
            .into_response();
    }
    let config = match state.store.dataplane_config().await {
        Ok(config) => config,
        Err(error) => return internal(error),
    };
    let body = match serde_json::to_vec(&config) {
        Ok(body) => body,
        Err(error) => return internal(error),
    };
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, "application/json".to_owned()),
        ],
        body,
    )
        .into_response()
}
