use axum::Json;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytefreezer_control_store::StoreError;
use serde_json::json;

/// Every API failure as `{"error": ..., "field": ...}` with a 4xx status naming the problem, or
/// 503 when the store itself fails. Nothing a client sends can produce a 500.
#[derive(Debug)]
pub(crate) enum ApiError {
    BadRequest(String),
    Invalid { field: String, reason: String },
    Unauthorized,
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    Unavailable(String),
}

impl ApiError {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Invalid { field, reason } => ApiError::invalid(field, reason),
            StoreError::NotFound { what } => ApiError::NotFound(format!("{what} not found")),
            StoreError::Conflict { what } => ApiError::Conflict(format!("{what} already exists")),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, json!({ "error": message })),
            ApiError::Invalid { field, reason } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": format!("{field}: {reason}"), "field": field }),
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({ "error": "log in, or send a valid API key as `Authorization: Bearer <key>`" }),
            ),
            ApiError::Forbidden(message) => (StatusCode::FORBIDDEN, json!({ "error": message })),
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, json!({ "error": message })),
            ApiError::Conflict(message) => (StatusCode::CONFLICT, json!({ "error": message })),
            ApiError::Unavailable(message) => {
                // The detail goes to the log, not to clients: it can name tables and servers.
                tracing::error!("control plane: {message}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({ "error": "the control store is unavailable; try again (details are in the control plane's log)" }),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

/// The body as JSON whatever its Content-Type, so `curl -d` works as written in the docs. The
/// message names the field serde stopped at.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "request body: a JSON object is required".into(),
        ));
    }
    if contains_nul(body) {
        return Err(ApiError::BadRequest(NUL_REFUSED.into()));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|problem| {
        let path = problem.path().to_string();
        let inner = problem.into_inner();
        if !inner.is_data() {
            return ApiError::BadRequest(format!("request body is not valid JSON: {inner}"));
        }
        let message = inner.to_string();
        // serde names a missing field only in its message: "missing field `host` at ...".
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name);
        let field = match (path.as_str(), missing) {
            ("." | "", Some(name)) => name.to_owned(),
            (".", None) | ("", None) => "body".to_owned(),
            (path, Some(name)) => format!("{path}.{name}"),
            (path, None) => path.to_owned(),
        };
        ApiError::Invalid {
            field,
            reason: message,
        }
    })
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

pub(crate) const NUL_REFUSED: &str =
    "NUL characters are not accepted in names, filters or documents";

/// A NUL byte, raw or as the JSON escape `\u0000`: PostgreSQL cannot store it in text, so it is
/// refused up front with a 400 instead of failing in the store.
pub(crate) fn contains_nul(bytes: &[u8]) -> bool {
    bytes.contains(&0) || bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
}
