use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytefreezer_api::metrics::{
    RECEIVER_BYTES_TOTAL, RECEIVER_REJECTED_TOTAL, RECEIVER_REQUESTS_TOTAL, RECEIVER_ROWS_TOTAL,
};
use bytefreezer_api::{AuthorizeError, DataPlaneConfig, KeyUse, bearer_token};
use bytefreezer_layout::{intake_object, validate_identifier};
use bytefreezer_schema::{
    IpcLimits, check_reserved_columns, count_ipc_rows, edge_format, encode_ipc, json_rows_to_batch,
    read_ipc_schema, scan_ipc,
};
use bytefreezer_storage::Bucket;
use bytefreezer_telemetry::Registry;
use bytes::Bytes;
use tokio::sync::{Notify, watch};

use bytefreezer_http_listen::{
    BodyBudget, ContentEncoding, Rejection, Reservation, budget_rejection, read_request_body,
    reject,
};

use crate::{ARROW_STREAM_CONTENT_TYPE, BATCH_ID_HEADER};

/// An NDJSON body is parsed into `serde_json::Value`s before it becomes a batch; those take
/// several times the text's size, so its reservation is this multiple of the (inflated) body.
const NDJSON_MEMORY_FACTOR: u64 = 8;
/// What a 503 asks the client to wait before retrying, in seconds.
const RETRY_AFTER_SECS: u32 = 1;

#[derive(Clone)]
pub struct IngestLimits {
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    pub ipc: IpcLimits,
}

pub struct IngestState {
    pub intake: Bucket,
    pub datasets: watch::Receiver<Arc<DataPlaneConfig>>,
    pub registry: Registry,
    pub wakeup: Option<Arc<Notify>>,
    pub limits: IngestLimits,
    pub budget: BodyBudget,
}

pub async fn ingest(
    State(state): State<Arc<IngestState>>,
    Path((tenant_id, dataset_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = match accept(&state, &tenant_id, &dataset_id, &headers, body).await {
        Ok((batch_id, rows, bytes)) => {
            let labels = [
                ("tenant", tenant_id.as_str()),
                ("dataset", dataset_id.as_str()),
            ];
            state
                .registry
                .counter(RECEIVER_ROWS_TOTAL.name, RECEIVER_ROWS_TOTAL.help, &labels)
                .increment(rows);
            state
                .registry
                .counter(
                    RECEIVER_BYTES_TOTAL.name,
                    RECEIVER_BYTES_TOTAL.help,
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
                    RECEIVER_REJECTED_TOTAL.name,
                    RECEIVER_REJECTED_TOTAL.help,
                    &[("reason", rejection.reason)],
                )
                .increment(1);
            if rejection.status.is_server_error() {
                tracing::error!(tenant = %tenant_id, dataset = %dataset_id, "receiver: {}", rejection.message);
            } else {
                tracing::debug!(tenant = %tenant_id, dataset = %dataset_id, "receiver: refused: {}", rejection.message);
            }
            let rejection = if rejection.status == StatusCode::SERVICE_UNAVAILABLE
                && rejection.retry_after_secs.is_none()
            {
                rejection.retry_after(RETRY_AFTER_SECS)
            } else {
                rejection
            };
            rejection.into_response()
        }
    };
    state
        .registry
        .counter(
            RECEIVER_REQUESTS_TOTAL.name,
            RECEIVER_REQUESTS_TOTAL.help,
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
    body: Body,
) -> Result<(String, u64, u64), Rejection> {
    // Everything the headers can decide is decided before a byte of the body is read.
    let deadline = tokio::time::Instant::now() + state.limits.body_timeout;
    let api_key = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token)
        .ok_or_else(|| {
            reject(
                StatusCode::UNAUTHORIZED,
                "no_key",
                "send the API key as `Authorization: Bearer <key>`",
            )
        })?;
    {
        let config = state.datasets.borrow();
        // The scope table shared with the control plane and the query service; every key that
        // reaches the data side may send data today, but a scope that may not is refused here.
        if let Some(refusal) = config
            .key(api_key)
            .and_then(|key| key.reach().refusal(&key.name, KeyUse::SendData))
        {
            return Err(reject(StatusCode::FORBIDDEN, "scope", refusal));
        }
        match config.authorize(api_key, tenant_id, dataset_id) {
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
    let arrow = match content_type.as_str() {
        ARROW_STREAM_CONTENT_TYPE => true,
        "application/x-ndjson" | "application/json" | "application/jsonl" => false,
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
    let limit = state.limits.max_body_bytes;
    let budget = &state.budget;
    let mut reservation = Reservation::default();
    let read = read_request_body(
        headers,
        body,
        &[ContentEncoding::Gzip],
        limit,
        deadline,
        budget,
        &mut reservation,
    )
    .await?;
    let held = read.held_bytes();
    let (sent, body) = (read.sent, read.inflated);
    let (object, rows) = if arrow {
        let scan = scan_ipc(&body, &state.limits.ipc).map_err(|e| {
            let (status, reason) = if e.is_too_large() {
                (StatusCode::PAYLOAD_TOO_LARGE, "ipc_too_large")
            } else if matches!(e, bytefreezer_schema::IpcLimitError::Truncated { .. }) {
                (StatusCode::BAD_REQUEST, "ipc_length")
            } else {
                (StatusCode::BAD_REQUEST, "bad_arrow")
            };
            reject(
                status,
                reason,
                format!("body is not a valid Arrow IPC stream: {e}"),
            )
        })?;
        budget
            .reserve_total(&mut reservation, held + scan.decoded_bytes)
            .map_err(budget_rejection)?;
        let rows = count_ipc_rows(&body).map_err(|e| {
            reject(
                StatusCode::BAD_REQUEST,
                "bad_arrow",
                format!("body is not a valid Arrow IPC stream: {e}"),
            )
        })?;
        let schema = read_ipc_schema(&body).map_err(|e| {
            reject(
                StatusCode::BAD_REQUEST,
                "bad_arrow",
                format!("body is not a valid Arrow IPC stream: {e}"),
            )
        })?;
        // An edge batch of a format this build cannot turn into table rows would stop in
        // piper; refused here, the proxy keeps it spooled and says why.
        edge_format(&schema)
            .map_err(|e| reject(StatusCode::BAD_REQUEST, "edge_version", e.to_string()))?;
        check_reserved_columns(&schema).map_err(reserved_rejection)?;
        (body, rows)
    } else {
        budget
            .reserve_total(
                &mut reservation,
                held + body.len() as u64 * NDJSON_MEMORY_FACTOR,
            )
            .map_err(budget_rejection)?;
        let now = chrono::Utc::now().timestamp_micros();
        let batch = json_rows_to_batch(&body, now)
            .map_err(|e| reject(StatusCode::BAD_REQUEST, "bad_json", e.to_string()))?;
        check_reserved_columns(&batch.schema()).map_err(reserved_rejection)?;
        let rows = batch.num_rows() as u64;
        let encoded = encode_ipc(&[batch])
            .map_err(|e| reject(StatusCode::BAD_REQUEST, "bad_json", e.to_string()))?;
        (Bytes::from(encoded), rows)
    };
    drop(sent);
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
    bytefreezer_telemetry::crash_point("receiver.intake_written");
    drop(reservation);
    Ok((batch_id, rows, bytes))
}

/// A reserved column piper could never read (`"event_time": 17`): refused whole here, so the
/// sender hears about it instead of its rows waiting in a dead-letter prefix. Text that is not
/// a time is checked per row by piper, which dead-letters only those rows.
fn reserved_rejection(error: bytefreezer_schema::ReservedColumnError) -> Rejection {
    reject(
        StatusCode::BAD_REQUEST,
        "reserved_column",
        error.to_string(),
    )
}
