//! Pipelines over the API: the filter catalog, Test Transformation on pasted sample events, and
//! reading or replacing a dataset's pipeline (validated first; data-side services pick the change
//! up with their next configuration poll).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytefreezer_api::{PipelineSpec, redact_pipeline};
use bytefreezer_transform::{
    Pipeline, PipelineError, TrialError, filter_catalog, pipeline_version, trial_run,
};
use serde::Deserialize;
use serde_json::json;

use crate::api_error::{ApiError, NUL_REFUSED, contains_nul};
use crate::auth::Principal;
use crate::datasets_api::visible_dataset;
use crate::routes::ServerState;

/// Test Transformation accepts at most this many sample events, so a paste cannot hog the
/// control plane.
const MAX_SAMPLE_EVENTS: usize = 1_000;
/// Bytes of sample events per test, as NDJSON: the pipeline's own output limits bound what a
/// test makes of them.
const MAX_SAMPLE_BYTES: usize = 2 << 20;
/// Tests running at once on this control plane; more answer 429 (and a warning in the log)
/// so pasted samples cannot take every blocking thread.
static TRIALS_AT_ONCE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

/// A request body that is not the JSON asked for; the text is the 400's `error`.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("{NUL_REFUSED}")]
    Nul,
    #[error("request body: {0}")]
    Json(#[from] serde_json::Error),
}

/// The body as JSON whatever its Content-Type, so `curl -d` works as written in the docs. NUL
/// is refused as everywhere in the API (PostgreSQL cannot store it in a saved pipeline).
fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, BodyError> {
    if contains_nul(body) {
        return Err(BodyError::Nul);
    }
    Ok(serde_json::from_slice(body)?)
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

/// Every filter a pipeline can use, with its settings schema and an example.
#[utoipa::path(get, path = "/api/v1/transform/filters", tag = "pipelines",
    responses((status = 200, body = Object)))]
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

/// Test Transformation: run a pipeline over pasted sample events, in memory, nothing kept.
#[utoipa::path(post, path = "/api/v1/transform/test", tag = "pipelines", request_body = Object,
    responses((status = 200, body = Object), (status = 400), (status = 422)))]
pub(crate) async fn test_transformation(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    body: Bytes,
) -> Response {
    // It runs a tenant's pipeline on this server: for those who may edit pipelines only.
    if let Err(problem) = principal.require_write() {
        return problem.into_response();
    }
    let Ok(_running) = TRIALS_AT_ONCE.try_acquire() else {
        tracing::warn!("test transformation refused: too many at once (cause: busy)");
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "other test transformations are running; retry in a moment",
        );
    };
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
        if sample.len() > MAX_SAMPLE_BYTES {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("events: at most {MAX_SAMPLE_BYTES} bytes of sample events per test"),
            );
        }
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
        Ok(Err(problem)) => ApiError::Unavailable(problem.to_string()).into_response(),
        Err(panic) => {
            ApiError::Unavailable(format!("test transformation failed: {panic}")).into_response()
        }
    }
}

/// The pipeline with its version; secrets (HMAC keys) redacted for callers who may not change
/// it. The version is of the real pipeline, so it still matches piper's logs.
fn pipeline_document(
    principal: &Principal,
    tenant: &str,
    dataset: &str,
    pipeline: &PipelineSpec,
) -> Response {
    let version = pipeline_version(pipeline);
    let shown = if principal.sees_secrets() {
        pipeline.clone()
    } else {
        redact_pipeline(pipeline)
    };
    Json(json!({
        "tenant_id": tenant,
        "dataset_id": dataset,
        "version": version,
        "pipeline": shown,
    }))
    .into_response()
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/datasets/{dataset}/pipeline", tag = "pipelines",
    params(("tenant" = String, Path), ("dataset" = String, Path)),
    responses((status = 200, body = Object), (status = 404)))]
pub(crate) async fn get_pipeline(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
) -> Response {
    match visible_dataset(&state, &principal, &tenant, &dataset).await {
        Ok(record) => pipeline_document(&principal, &tenant, &dataset, &record.spec.pipeline),
        Err(problem) => problem.into_response(),
    }
}

/// Replace a dataset's pipeline after validating it; services pick it up within seconds.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/datasets/{dataset}/pipeline", tag = "pipelines",
    request_body = Object, params(("tenant" = String, Path), ("dataset" = String, Path)),
    responses((status = 200, body = Object), (status = 400), (status = 404), (status = 422)))]
pub(crate) async fn put_pipeline(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(problem) = visible_dataset(&state, &principal, &tenant, &dataset).await {
        return problem.into_response();
    }
    if let Err(problem) = principal.require_write() {
        return problem.into_response();
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
        .set_dataset_pipeline(&principal.actor, &tenant, &dataset, &pipeline)
        .await
    {
        Ok(_) => {
            tracing::info!(
                "dataset {tenant}/{dataset}: pipeline {} saved",
                pipeline_version(&pipeline)
            );
            pipeline_document(&principal, &tenant, &dataset, &pipeline)
        }
        Err(problem) => ApiError::from(problem).into_response(),
    }
}
