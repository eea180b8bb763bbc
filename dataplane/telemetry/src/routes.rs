use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Registry;

/// Which components of a process are ready. `/readyz` answers 200 only when all are.
#[derive(Clone, Default)]
pub struct Readiness(Arc<Mutex<BTreeMap<String, bool>>>);

impl Readiness {
    pub fn register(&self, component: &str) {
        self.lock().entry(component.to_owned()).or_insert(false);
    }
    pub fn set_ready(&self, component: &str, ready: bool) {
        self.lock().insert(component.to_owned(), ready);
    }
    pub fn not_ready(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, ready)| !**ready)
            .map(|(name, _)| name.clone())
            .collect()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Clone)]
struct RouteState {
    registry: Registry,
    readiness: Readiness,
}

/// `/healthz` (the process answers), `/readyz` (every component started) and `/metrics`.
pub fn service_routes(registry: Registry, readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/activity", get(activity))
        .with_state(RouteState {
            registry,
            readiness,
        })
}

async fn readyz(State(state): State<RouteState>) -> impl IntoResponse {
    let waiting = state.readiness.not_ready();
    if waiting.is_empty() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("starting: {}\n", waiting.join(", ")),
        )
    }
}

#[derive(serde::Deserialize)]
struct ActivityQuery {
    limit: Option<usize>,
}

/// Recent jobs and errors of this process, newest first (`?limit=N`, default 100).
async fn activity(
    State(state): State<RouteState>,
    axum::extract::Query(query): axum::extract::Query<ActivityQuery>,
) -> impl IntoResponse {
    let limit = query.limit.unwrap_or(100);
    axum::Json(state.registry.activity().recent(limit))
}

async fn metrics(State(state): State<RouteState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.registry.render(),
    )
}
