//! Pipelines over the API: the filter catalog, Test Transformation on pasted sample events, and
//! reading or replacing a dataset's pipeline (validated first; data-side services pick the change
//! up with their next configuration poll).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytefreezer_api::PipelineSpec;
use bytefreezer_transform::{
    Pipeline, PipelineError, TrialError, filter_catalog, pipeline_version, trial_run,
};
use serde::Deserialize;
use serde_json::json;

use crate::routes::{ServerState, bearer_key, internal};

/// Test Transformation accepts at most this many sample events, so a paste cannot hog the
/// control plane.
const MAX_SAMPLE_EVENTS: usize = 1_000;

pub(crate) fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

/// The body as JSON whatever its Content-Type, so `curl -d` works as written in the docs.
fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|problem| format!("request body: {problem}"))
}

fn invalid_pipeline(problem: PipelineError) -> Response {
    let PipelineError::Filter { index, kind, .. } = &problem;
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "error": format!("invalid pipeline: {problem}"),
            "filter_index": index,
            "filter_type": kind,
        })),
    )
        .into_response()
}

/// The tenant of the `Authorization: Bearer` key, or the response to send instead.
pub(crate) async fn caller_tenant(
    state: &ServerState,
    headers: &HeaderMap,
) -> Result<String, Response> {
    let key = bearer_key(headers);
    let unauthorized = || {
        error(
            StatusCode::UNAUTHORIZED,
            "send a valid API key as `Authorization: Bearer <key>`",
        )
    };
    let Some(key) = key else {
        return Err(unauthorized());
    };
    match state.store.api_key_tenant(key).await {
        Ok(Some(tenant)) => Ok(tenant),
        Ok(None) => Err(unauthorized()),
        Err(problem) => Err(internal(problem)),
    }
}

/// The caller may read or change `tenant`'s datasets. A dataset of another tenant answers
/// exactly like a missing one.
async fn authorize_tenant(
    state: &ServerState,
    headers: &HeaderMap,
    tenant: &str,
    dataset: &str,
) -> Result<(), Response> {
    if caller_tenant(state, headers).await? == tenant {
        Ok(())
    } else {
        Err(no_dataset(tenant, dataset))
    }
}

pub(crate) async fn filters() -> Response {
    Json(json!({ "filters": filter_catalog() })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrialRequest {
    pipeline: PipelineSpec,
    /// Sample events as JSON objects.
    events: Vec<serde_json::Map<String, serde_json::Value>>,
}

pub(crate) async fn test_transformation(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = caller_tenant(&state, &headers).await {
        return response;
    }
    let request: TrialRequest = match json_body(&body) {
        Ok(request) => request,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    if request.events.len() > MAX_SAMPLE_EVENTS {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("events: at most {MAX_SAMPLE_EVENTS} sample events per test"),
        );
    }
    let mut sample = Vec::new();
    for event in &request.events {
        if serde_json::to_writer(&mut sample, event).is_err() {
            return error(StatusCode::BAD_REQUEST, "events: not serializable");
        }
        sample.push(b'\n');
    }
    let geoip = state.geoip.clone();
    let now = chrono::Utc::now().timestamp_micros();
    let outcome =
        tokio::task::spawn_blocking(move || trial_run(&request.pipeline, &geoip, &sample, now))
            .await;
    match outcome {
        Ok(Ok(report)) => Json(report).into_response(),
        Ok(Err(TrialError::Pipeline(problem))) => invalid_pipeline(problem),
        Ok(Err(problem @ TrialError::Sample(_))) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("events: {problem}"),
        ),
        Ok(Err(problem)) => internal(problem),
        Err(panic) => internal(format!("test transformation failed: {panic}")),
    }
}

fn pipeline_document(tenant: &str, dataset: &str, pipeline: &PipelineSpec) -> Response {
    Json(json!({
        "tenant_id": tenant,
        "dataset_id": dataset,
        "version": pipeline_version(pipeline),
        "pipeline": pipeline,
    }))
    .into_response()
}

fn no_dataset(tenant: &str, dataset: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("dataset {tenant}/{dataset} not found"),
    )
}

pub(crate) async fn get_pipeline(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    Path((tenant, dataset)): Path<(String, String)>,
) -> Response {
    if let Err(response) = authorize_tenant(&state, &headers, &tenant, &dataset).await {
        return response;
    }
    match state.store.dataset(&tenant, &dataset).await {
        Ok(Some(spec)) => pipeline_document(&tenant, &dataset, &spec.pipeline),
        Ok(None) => no_dataset(&tenant, &dataset),
        Err(problem) => internal(problem),
    }
}

pub(crate) async fn put_pipeline(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    Path((tenant, dataset)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(response) = authorize_tenant(&state, &headers, &tenant, &dataset).await {
        return response;
    }
    let pipeline: PipelineSpec = match json_body(&body) {
        Ok(pipeline) => pipeline,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    if let Err(problem) = Pipeline::compile_with(&pipeline, &state.geoip) {
        return invalid_pipeline(problem);
    }
    match state
        .store
        .set_dataset_pipeline(&tenant, &dataset, &pipeline)
        .await
    {
        Ok(()) => {
            tracing::info!(
                "dataset {tenant}/{dataset}: pipeline {} saved",
                pipeline_version(&pipeline)
            );
            pipeline_document(&tenant, &dataset, &pipeline)
        }
        Err(bytefreezer_control_store::StoreError::NotFound { .. }) => {
            no_dataset(&tenant, &dataset)
        }
        Err(problem) => internal(problem),
    }
}
