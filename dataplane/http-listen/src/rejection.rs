use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A request refused, with the status, a short reason for the metrics' `reason` label and a
/// message for the sender.
#[derive(Debug)]
pub struct Rejection {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
    /// Seconds a sender should wait before retrying (`Retry-After`), for 429 and 503.
    pub retry_after_secs: Option<u32>,
}

pub fn reject(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        status,
        reason,
        message: message.into(),
        retry_after_secs: None,
    }
}

impl Rejection {
    pub fn retry_after(mut self, secs: u32) -> Rejection {
        self.retry_after_secs = Some(secs);
        self
    }
}

impl IntoResponse for Rejection {
    /// `{"error": message}` with the status, and `Retry-After` when set.
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
