use axum::Json;
use axum::response::{IntoResponse, Response};
use bytefreezer_api::plugin_catalog;
use serde_json::json;

/// Every source plugin with the JSON Schema of its settings, for the dataset form.
#[utoipa::path(get, path = "/api/v1/plugins", tag = "datasets",
    responses((status = 200, body = Object)))]
pub(crate) async fn plugins() -> Response {
    Json(json!({ "plugins": plugin_catalog() })).into_response()
}
