use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use bytefreezer_control_store::ControlStore;
use bytefreezer_telemetry::Registry;
use bytefreezer_transform::GeoIp;
use tokio::sync::watch;

use crate::api_error::{ApiError, ApiResult};
use crate::auth::authenticate;
use crate::login_throttle::{LoginThrottle, LoginThrottleSettings};
use crate::status::{PipelineCounters, Status, dataset_status, service_statuses};
use crate::{
    accounts_api, audit_api, checks_api, config_api, dashboard, datasets_api, dead_letters_api,
    keys_api, openapi, pipeline_api, plugins_api, registry_api, session_api,
};

pub(crate) struct ServerState {
    pub(crate) store: ControlStore,
    pub(crate) registry: Registry,
    parquet_location: Option<String>,
    pub(crate) geoip: GeoIp,
    /// Bumped after every successful change, so long-polling services answer at once.
    pub(crate) changes: watch::Sender<u64>,
    /// Whether `/` and `/api/v1/status` answer without login (only `bytefreezer up`, which
    /// listens on loopback by default).
    public_status: bool,
    /// Where the dashboard sends queries and the secret of the tokens it mints for them; `None`
    /// until [`ControlServer::with_query_access`].
    pub(crate) query_access: Option<crate::registry_api::QueryAccess>,
    /// Wrong passwords per account and per client address (in memory, per process).
    pub(crate) login_throttle: LoginThrottle,
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
                changes: watch::channel(0).0,
                public_status: false,
                query_access: None,
                login_throttle: LoginThrottle::new(LoginThrottleSettings::default()),
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

    /// Login throttling limits other than the defaults.
    pub fn with_login_throttle(mut self, settings: LoginThrottleSettings) -> Self {
        self.state.login_throttle = LoginThrottle::new(settings);
        self
    }

    /// Lets the dashboard query the data side with short-lived tokens signed with `secret`,
    /// which the query service verifies. `endpoint`: the query service browsers use (`""` for
    /// this origin, as in `bytefreezer up`); `None` vouches for the healthy query services that
    /// the tenant's own account registered.
    pub fn with_query_access(mut self, endpoint: Option<String>, secret: Vec<u8>) -> Self {
        self.state.query_access = Some(crate::registry_api::QueryAccess::new(endpoint, secret));
        self
    }

    /// Serve the status page and `/api/v1/status` without login.
    pub fn with_public_status(mut self) -> Self {
        self.state.public_status = true;
        self
    }

    pub fn router(self) -> Router {
        let state = Arc::new(self.state);
        let tenant_dataset = "/api/v1/tenants/{tenant}/datasets/{dataset}";
        Router::new()
            .route("/", get(dashboard::index))
            .route("/assets/{*path}", get(dashboard::asset))
            .route("/api/v1/plugins", get(plugins_api::plugins))
            .route("/api/v1/openapi.json", get(openapi::document))
            .route("/api/v1/status", get(status))
            .route("/api/v1/auth/login", post(session_api::login))
            .route("/api/v1/auth/logout", post(session_api::logout))
            .route("/api/v1/auth/me", get(session_api::me))
            .route("/api/v1/auth/password", post(session_api::change_password))
            .route(
                "/api/v1/accounts",
                get(accounts_api::list_accounts).post(accounts_api::create_account),
            )
            .route(
                "/api/v1/accounts/{account}",
                get(accounts_api::get_account)
                    .put(accounts_api::update_account)
                    .delete(accounts_api::delete_account),
            )
            .route(
                "/api/v1/users",
                get(accounts_api::list_users).post(accounts_api::create_user),
            )
            .route("/api/v1/users/{user}", delete(accounts_api::delete_user))
            .route(
                "/api/v1/tenants",
                get(datasets_api::list_tenants).post(datasets_api::create_tenant),
            )
            .route(
                "/api/v1/tenants/{tenant}",
                get(datasets_api::get_tenant)
                    .put(datasets_api::update_tenant)
                    .delete(datasets_api::delete_tenant),
            )
            .route("/api/v1/datasets", get(datasets_api::list_all_datasets))
            .route(
                "/api/v1/tenants/{tenant}/datasets",
                get(datasets_api::list_datasets).post(datasets_api::create_dataset),
            )
            .route(
                tenant_dataset,
                get(datasets_api::get_dataset)
                    .put(datasets_api::update_dataset)
                    .delete(datasets_api::delete_dataset),
            )
            .route(
                &format!("{tenant_dataset}/pause"),
                post(datasets_api::pause_dataset),
            )
            .route(
                &format!("{tenant_dataset}/resume"),
                post(datasets_api::resume_dataset),
            )
            .route(
                &format!("{tenant_dataset}/assignment"),
                put(datasets_api::assign_dataset),
            )
            .route(
                &format!("{tenant_dataset}/pipeline"),
                get(pipeline_api::get_pipeline).put(pipeline_api::put_pipeline),
            )
            .route(
                &format!("{tenant_dataset}/checks/input"),
                get(checks_api::check_input),
            )
            .route(
                &format!("{tenant_dataset}/checks/output"),
                get(checks_api::check_output),
            )
            .route(
                &format!("{tenant_dataset}/dead-letters"),
                get(dead_letters_api::list_dead_letters),
            )
            .route(
                &format!("{tenant_dataset}/dead-letters/replay"),
                post(dead_letters_api::replay_dead_letters),
            )
            .route(
                &format!("{tenant_dataset}/statistics"),
                get(registry_api::dataset_statistics),
            )
            .route(
                "/api/v1/keys",
                get(keys_api::list_keys).post(keys_api::create_key),
            )
            .route("/api/v1/keys/{key}", delete(keys_api::revoke_key))
            .route("/api/v1/services", get(registry_api::list_services))
            .route("/api/v1/services/report", post(registry_api::report))
            .route("/api/v1/query-access", post(registry_api::query_access))
            .route("/api/v1/statistics", get(registry_api::statistics))
            .route("/api/v1/activity", get(registry_api::activity))
            .route("/api/v1/audit", get(audit_api::audit))
            .route(
                "/api/v1/dataplane/config",
                get(config_api::dataplane_config),
            )
            .route("/api/v1/transform/filters", get(pipeline_api::filters))
            .route(
                "/api/v1/transform/test",
                post(pipeline_api::test_transformation),
            )
            .fallback(not_found)
            .layer(middleware::from_fn(refuse_nul))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                announce_changes,
            ))
            .with_state(state)
    }
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    if let Some(redirect) = dashboard::page_redirect(&method, &uri) {
        return redirect;
    }
    ApiError::NotFound("no such API route; see /api/v1/openapi.json".into()).into_response()
}

/// `%00` in a path or query decodes to a NUL, which PostgreSQL cannot store or compare.
async fn refuse_nul(request: Request, next: Next) -> Response {
    let uri = request.uri().to_string();
    if uri.to_ascii_lowercase().contains("%00") {
        return ApiError::BadRequest(crate::api_error::NUL_REFUSED.into()).into_response();
    }
    next.run(request).await
}

/// Wakes long-polling services after a change succeeded.
async fn announce_changes(
    State(state): State<Arc<ServerState>>,
    request: Request,
    next: Next,
) -> Response {
    let mutates = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) && !request.uri().path().starts_with("/api/v1/services/report")
        && !request.uri().path().starts_with("/api/v1/auth/")
        && !request.uri().path().starts_with("/api/v1/transform/test");
    let response = next.run(request).await;
    if mutates && response.status().is_success() {
        state.changes.send_modify(|generation| *generation += 1);
    }
    response
}

async fn collect_status(
    state: &ServerState,
    account: Option<&str>,
    tenant: Option<&str>,
) -> ApiResult<Status> {
    let now = chrono::Utc::now();
    let services = state.store.list_services(account).await?;
    let datasets = state.store.list_dataset_records(account, tenant).await?;
    Ok(Status {
        version: env!("CARGO_PKG_VERSION"),
        parquet_location: state.parquet_location.clone(),
        services: service_statuses(services, now),
        datasets: datasets.into_iter().map(dataset_status).collect(),
        pipeline: PipelineCounters::from_registry(&state.registry),
    })
}

async fn status(
    State(state): State<Arc<ServerState>>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Json<Status>> {
    if state.public_status {
        return Ok(Json(collect_status(&state, None, None).await?));
    }
    let principal = authenticate(&state.store, &method, &headers).await?;
    Ok(Json(
        collect_status(
            &state,
            principal.account_filter(),
            principal.tenant_filter(),
        )
        .await?,
    ))
}
