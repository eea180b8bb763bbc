use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytefreezer_api::{AuthorizeError, DataPlaneConfig};
use bytefreezer_layout::{intake_object, validate_identifier};
use bytefreezer_schema::{
    decode_ipc, edge_format, encode_ipc, json_rows_to_batch, read_ipc_schema,
};
use bytefreezer_storage::Bucket;
use bytefreezer_telemetry::Registry;
use bytes::Bytes;
use tokio::sync::{Notify, watch};

use crate::{ARROW_STREAM_CONTENT_TYPE, BATCH_ID_HEADER};

pub struct IngestState {
    pub intake: Bucket,
    pub datasets: watch::Receiver<Arc<DataPlaneConfig>>,
    pub registry: Registry,
    pub wakeup: Option<Arc<Notify>>,
    pub max_body_bytes: usize,
}

struct Rejection {
    status: StatusCode,
    reason: &'static str,
    message: String,
}

fn reject(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        status,
        reason,
        message: message.into(),
    }
}

pub async fn ingest(
    State(state): State<Arc<IngestState>>,
    Path((tenant_id, dataset_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = match accept(&state, &tenant_id, &dataset_id, &headers, body).await {
        Ok((batch_id, rows, bytes)) => {
            let labels = [
                ("tenant", tenant_id.as_str()),
                ("dataset", dataset_id.as_str()),
            ];
            state
                .registry
                .counter(
                    "bytefreezer_receiver_rows_total",
                    "Rows written to the intake bucket.",
                    &labels,
                )
                .increment(rows);
            state
                .registry
                .counter(
                    "bytefreezer_receiver_bytes_total",
                    "Bytes written to the intake bucket.",
                    &labels,
                )
                .increment(bytes);
            if let Some(wakeup) = &state.wakeup {
                wakeup.notify_one();
            }
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "batch_id": batch_id, "rows": rows })),
            )
                .into_response()
        }
        Err(rejection) => {
            state
                .registry
                .counter(
                    "bytefreezer_receiver_rejected_total",
                    "Requests refused, by reason.",
                    &[("reason", rejection.reason)],
                )
                .increment(1);
            if rejection.status.is_server_error() {
                tracing::error!(tenant = %tenant_id, dataset = %dataset_id, "receiver: {}", rejection.message);
            } else {
                tracing::debug!(tenant = %tenant_id, dataset = %dataset_id, "receiver: refused: {}", rejection.message);
            }
            (
                rejection.status,
                Json(serde_json::json!({ "error": rejection.message })),
            )
                .into_response()
        }
    };
    state
        .registry
        .counter(
            "bytefreezer_receiver_requests_total",
            "Ingest requests, by status.",
            &[("status", response.status().as_str())],
        )
        .increment(1);
    response
}

async fn accept(
    state: &IngestState,
    tenant_id: &str,
    dataset_id: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(String, u64, u64), Rejection> {
    let api_key = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| {
            reject(
                StatusCode::UNAUTHORIZED,
                "no_key",
                "send the API key as `Authorization: Bearer <key>`",
            )
        })?;
    {
        let config = state.datasets.borrow();
        match config.authorize(api_key.trim(), tenant_id, dataset_id) {
            // A paused dataset still takes the batches its proxies spooled before the pause.
            Ok(_) => {}
            Err(AuthorizeError::NotFound { .. }) => {
                return Err(reject(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("dataset {tenant_id}/{dataset_id} not found"),
                ));
            }
            Err(AuthorizeError::UnknownKey) => {
                return Err(reject(
                    StatusCode::UNAUTHORIZED,
                    "bad_key",
                    "the API key is not valid",
                ));
            }
        }
    }
    let batch_id = match headers.get(BATCH_ID_HEADER) {
        Some(value) => {
            let value = value.to_str().unwrap_or("");
            validate_identifier("batch id", value).map_err(|e| {
                reject(
                    StatusCode::BAD_REQUEST,
                    "bad_batch_id",
                    format!("header {BATCH_ID_HEADER}: {e}"),
                )
            })?;
            value.to_owned()
        }
        None => uuid::Uuid::now_v7().to_string(),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let body = decompress(headers, body, state.max_body_bytes)?;
    let (object, rows) = match content_type.as_str() {
        ARROW_STREAM_CONTENT_TYPE => {
            let (_, batches) = decode_ipc(&body).map_err(|e| {
                reject(
                    StatusCode::BAD_REQUEST,
                    "bad_arrow",
                    format!("body is not a valid Arrow IPC stream: {e}"),
                )
            })?;
            // An edge batch of a format this build cannot turn into table rows would stop in
            // piper; refused here, the proxy keeps it spooled and says why.
            let schema = read_ipc_schema(&body)
                .map_err(|e| reject(StatusCode::BAD_REQUEST, "bad_arrow", e.to_string()))?;
            edge_format(&schema)
                .map_err(|e| reject(StatusCode::BAD_REQUEST, "edge_version", e.to_string()))?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            (body, rows)
        }
        "application/x-ndjson" | "application/json" | "application/jsonl" => {
            let now = chrono::Utc::now().timestamp_micros();
            let batch = json_rows_to_batch(&body, now)
                .map_err(|e| reject(StatusCode::BAD_REQUEST, "bad_json", e))?;
            let rows = batch.num_rows();
            let encoded = encode_ipc(&[batch])
                .map_err(|e| reject(StatusCode::BAD_REQUEST, "bad_json", e.to_string()))?;
            (Bytes::from(encoded), rows)
        }
        other => {
            return Err(reject(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content_type",
                format!(
                    "content type {other:?} is not accepted: send {ARROW_STREAM_CONTENT_TYPE} or application/x-ndjson"
                ),
            ));
        }
    };
    if rows == 0 {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "empty",
            "the body holds no rows",
        ));
    }
    let bytes = object.len() as u64;
    state
        .intake
        .put(&intake_object(tenant_id, dataset_id, &batch_id), object)
        .await
        .map_err(|e| {
            reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                format!("cannot store the batch, retry later: {e}"),
            )
        })?;
    Ok((batch_id, rows as u64, bytes))
}

fn decompress(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, Rejection> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "identity" | "" => Ok(body),
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body.as_ref())
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    reject(
                        StatusCode::BAD_REQUEST,
                        "bad_gzip",
                        format!("body is not valid gzip: {e}"),
                    )
                })?;
            if out.len() > limit {
                return Err(reject(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("decompressed body exceeds {limit} bytes"),
                ));
            }
            Ok(Bytes::from(out))
        }
        other => Err(reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_encoding",
            format!("content encoding {other:?} is not supported: use gzip or none"),
        )),
    }
}
