use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytefreezer_api::metrics::{QUERY_ERRORS_TOTAL, QUERY_QUERIES_TOTAL, QUERY_REFUSED_TOTAL};
use bytefreezer_api::{
    AuthorizeError, DataPlaneConfig, KeyUse, QUERY_TOKEN_PREFIX, bearer_token, verify_query_token,
};
use bytefreezer_storage::DestinationConfig;
use bytefreezer_telemetry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use crate::engine::{QueryEngine, QueryError, QueryLimits};
use crate::files::list_parquet_files;

/// `[query]` in the query role's TOML.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// The query API. Default 127.0.0.1:8083.
    pub listen: SocketAddr,
    pub limits: QueryLimits,
    /// Queries running at once; more wait their turn. Default 2.
    pub max_concurrent: usize,
    /// Of those, at most this many from one tenant, so one tenant cannot take every slot.
    /// Default 1.
    pub max_concurrent_per_tenant: usize,
    /// The address browsers use for the dashboard's Query page, if not `http://{listen}`
    /// (behind a TLS proxy, or when listening on 0.0.0.0).
    pub public_url: Option<String>,
    /// The named buckets datasets may write to, as in packer's `[packer.destinations]`
    /// (`archive = "/mnt/archive"`, or `cold = { bucket = "bf-cold", … }` on S3), so their
    /// Parquet can be queried too.
    pub destinations: BTreeMap<String, DestinationConfig>,
    /// A file holding the secret the control plane signs the dashboard's short-lived query
    /// tokens with (the control role's `--query-token-secret-file`). Without it only API keys
    /// are accepted.
    pub token_secret_file: Option<PathBuf>,
}

impl QueryConfig {
    /// The query-token secret from `token_secret_file` (surrounding whitespace removed).
    pub fn token_secret(&self) -> std::io::Result<Option<Vec<u8>>> {
        let Some(path) = &self.token_secret_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)?;
        let secret = text.trim();
        if secret.len() < 32 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: a query token secret needs at least 32 characters",
                    path.display()
                ),
            ));
        }
        Ok(Some(secret.as_bytes().to_vec()))
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8083)),
            limits: QueryLimits::default(),
            max_concurrent: 2,
            max_concurrent_per_tenant: 1,
            public_url: None,
            destinations: BTreeMap::new(),
            token_secret_file: None,
        }
    }
}

/// SQL over HTTP for callers whose key reaches the dataset. The browser's Query page calls it
/// directly (keys, not cookies, so any origin may).
#[derive(Clone)]
pub struct QueryService {
    engine: QueryEngine,
    datasets: watch::Receiver<Arc<DataPlaneConfig>>,
    limits: QueryLimits,
    registry: Registry,
    /// Verifies the control plane's query tokens; `None` accepts API keys only.
    token_secret: Option<Arc<[u8]>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryRequest {
    tenant_id: String,
    dataset_id: String,
    sql: String,
    /// Also return the physical plan (files read after partition pruning).
    #[serde(default)]
    explain: bool,
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

impl QueryService {
    /// `engine` should be built with `config.max_concurrent`; the per-tenant share comes from
    /// `config.max_concurrent_per_tenant`.
    pub fn new(
        engine: QueryEngine,
        datasets: watch::Receiver<Arc<DataPlaneConfig>>,
        config: &QueryConfig,
        registry: Registry,
    ) -> QueryService {
        QueryService {
            engine: engine.with_tenant_limit(config.max_concurrent_per_tenant),
            datasets,
            limits: config.limits,
            registry,
            token_secret: None,
        }
    }

    /// Accepts query tokens signed with `secret` (see [`QueryConfig::token_secret`]); inside
    /// `bytefreezer up` the control plane hands it over directly.
    pub fn with_token_secret(mut self, secret: Option<Vec<u8>>) -> QueryService {
        self.token_secret = secret.map(Arc::from);
        self
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/api/v1/query", post(query))
            .route("/api/v1/query/{tenant}/{dataset}/columns", get(columns))
            .route("/api/v1/query/{tenant}/{dataset}/files", get(files))
            .layer(middleware::from_fn(allow_any_origin))
            .with_state(self)
    }

    /// The caller's key must reach the dataset; anything else is "not found". Keys limited to
    /// one dataset only send data, so they are refused here as on the control plane.
    fn authorize(
        &self,
        headers: &HeaderMap,
        tenant: &str,
        dataset: &str,
    ) -> Result<(), (StatusCode, String)> {
        let key = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or_else(|| {
                (
                    StatusCode::UNAUTHORIZED,
                    "send an API key as `Authorization: Bearer <key>`".to_owned(),
                )
            })?;
        let config = self.datasets.borrow();
        if key.starts_with(QUERY_TOKEN_PREFIX) {
            let Some(secret) = &self.token_secret else {
                return Err((
                    StatusCode::UNAUTHORIZED,
                    "this query service does not accept query tokens: set [query] \
                     token_secret_file to the control plane's secret"
                        .to_owned(),
                ));
            };
            let now = chrono::Utc::now().timestamp();
            let claims = verify_query_token(key, secret, now)
                .map_err(|problem| (StatusCode::UNAUTHORIZED, problem.to_string()))?;
            if claims.tenant_id != tenant || config.dataset(tenant, dataset).is_none() {
                return Err((
                    StatusCode::NOT_FOUND,
                    format!("dataset {tenant}/{dataset} not found"),
                ));
            }
            tracing::info!(
                subject = %claims.subject,
                token_id = %claims.token_id,
                tenant,
                dataset,
                "query with a control-plane token"
            );
            return Ok(());
        }
        if let Some(refusal) = config
            .key(key)
            .and_then(|k| k.reach().refusal(&k.name, KeyUse::Query))
        {
            self.refused("scope");
            return Err((StatusCode::FORBIDDEN, refusal));
        }
        match config.authorize(key, tenant, dataset) {
            Ok(_) => Ok(()),
            Err(AuthorizeError::UnknownKey) => Err((
                StatusCode::UNAUTHORIZED,
                "the API key is not valid".to_owned(),
            )),
            Err(AuthorizeError::NotFound { .. }) => Err((
                StatusCode::NOT_FOUND,
                format!("dataset {tenant}/{dataset} not found"),
            )),
        }
    }

    /// Counts a query refused by a limit or a scope, by cause.
    fn refused(&self, cause: &'static str) {
        self.registry
            .counter(
                QUERY_REFUSED_TOTAL.name,
                QUERY_REFUSED_TOTAL.help,
                &[("cause", cause)],
            )
            .increment(1);
    }

    fn failed(&self, problem: QueryError) -> Response {
        if let Some(cause) = problem.limit_cause() {
            self.refused(cause);
        }
        let outcome = if problem.is_client_error() {
            "rejected"
        } else {
            "failed"
        };
        self.registry
            .counter(
                QUERY_ERRORS_TOTAL.name,
                QUERY_ERRORS_TOTAL.help,
                &[("outcome", outcome)],
            )
            .increment(1);
        let status = match problem {
            QueryError::NoData(_) => StatusCode::NOT_FOUND,
            QueryError::Timeout(_)
            | QueryError::Memory { .. }
            | QueryError::ResultTooLarge(_)
            | QueryError::StringTooLong(_) => StatusCode::UNPROCESSABLE_ENTITY,
            QueryError::TenantBusy { .. } => StatusCode::TOO_MANY_REQUESTS,
            QueryError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            QueryError::Execution(_) => StatusCode::INTERNAL_SERVER_ERROR,
            QueryError::Destination(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        error(status, problem)
    }
}

async fn query(State(service): State<QueryService>, headers: HeaderMap, body: Bytes) -> Response {
    let request: QueryRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(problem) => return error(StatusCode::BAD_REQUEST, format!("request body: {problem}")),
    };
    if let Err((status, message)) =
        service.authorize(&headers, &request.tenant_id, &request.dataset_id)
    {
        return error(status, message);
    }
    if request.sql.trim().is_empty() || request.sql.len() > 100_000 {
        return error(
            StatusCode::BAD_REQUEST,
            "sql: between 1 and 100000 characters",
        );
    }
    let outcome = service
        .engine
        .run(
            &request.tenant_id,
            &request.dataset_id,
            &request.sql,
            service.limits,
            request.explain,
        )
        .await;
    match outcome {
        Ok(output) => {
            service
                .registry
                .counter(QUERY_QUERIES_TOTAL.name, QUERY_QUERIES_TOTAL.help, &[])
                .increment(1);
            Json(output).into_response()
        }
        Err(problem) => service.failed(problem),
    }
}

async fn columns(
    State(service): State<QueryService>,
    headers: HeaderMap,
    Path((tenant, dataset)): Path<(String, String)>,
) -> Response {
    if let Err((status, message)) = service.authorize(&headers, &tenant, &dataset) {
        return error(status, message);
    }
    match service.engine.columns(&tenant, &dataset).await {
        Ok(columns) => Json(json!({ "tenant_id": tenant, "dataset_id": dataset, "table": dataset, "columns": columns })).into_response(),
        Err(problem) => service.failed(problem),
    }
}

async fn files(
    State(service): State<QueryService>,
    headers: HeaderMap,
    Path((tenant, dataset)): Path<(String, String)>,
) -> Response {
    if let Err((status, message)) = service.authorize(&headers, &tenant, &dataset) {
        return error(status, message);
    }
    match list_parquet_files(&service.engine, &tenant, &dataset).await {
        Ok(listing) => Json(listing).into_response(),
        Err(problem) => service.failed(problem),
    }
}

/// CORS for the dashboard's Query page, served from the control plane's origin. Requests carry
/// an API key, never cookies, so allowing any origin gives a page nothing it did not have.
async fn allow_any_origin(request: Request, next: Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    response
}
