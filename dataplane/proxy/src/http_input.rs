//! The `http` input: senders `POST` events to a dataset's path; the proxy answers 200 only once
//! they are durable in the spool, as a promised batch the spool never drops. One listener per
//! address serves every dataset on it (routes change without a restart), on the hardened
//! listener the receiver uses (connection cap, header and body timeouts, a memory budget).
//!
//! Requests of one dataset are group-committed: while one spool write is on the disk, the
//! requests that arrive queue, and the next write takes them all as one batch file (one fsync),
//! so a busy input pays one fsync per write, not per request, and an idle one waits for none.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytefreezer_api::metrics::{
    PROXY_HTTP_BODY_BYTES_TOTAL, PROXY_HTTP_CONNECTION_ERRORS_TOTAL, PROXY_HTTP_CONNECTIONS,
    PROXY_HTTP_EVENTS_TOTAL, PROXY_HTTP_REQUESTS_TOTAL, PROXY_HTTP_UNROUTED_TOTAL,
    PROXY_INPUT_ERRORS_TOTAL, PROXY_INPUT_UP,
};
use bytefreezer_api::{HttpSourceSettings, bearer_token};
use bytefreezer_http_listen::{
    BodyBudget, ConnectionLimits, ConnectionMetrics, ContentEncoding, Rejection, Reservation,
    TlsAcceptor, budget_rejection, declared_length, load_tls, read_request_body, reject, serve,
};
use bytefreezer_schema::{EventsEdgeBuilder, IpcCompression, encode_ipc_with};
use bytefreezer_telemetry::{Registry, ShutdownTrigger, shutdown_pair};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::HttpInputConfig;
use crate::http_events::split_events;
use crate::now_micros;
use crate::spool::Spool;

/// Requests of one dataset waiting for the spool; beyond it a request waits to queue, so a
/// sender faster than the disk is slowed, never dropped.
const QUEUED_REQUESTS: usize = 256;
/// Events one spool write takes at most (a group commit stops growing here).
const GROUP_MAX_EVENTS: usize = 65_536;
/// What a 429 (spool at its high-water mark) asks the sender to wait, in seconds.
const SPOOL_FULL_RETRY_SECS: u32 = 5;
/// While a listener cannot open its port or load its certificate, it tries again this often.
const LISTEN_RETRY: Duration = Duration::from_secs(10);

/// One `http` dataset, as the proxy's configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpDataset {
    pub tenant_id: String,
    pub dataset_id: String,
    pub settings: HttpSourceSettings,
    /// `http://0.0.0.0:8080/path`: the `listen` label of its metrics.
    pub listen: String,
}

/// What every http input shares.
pub struct HttpRuntime {
    pub spool: Arc<Spool>,
    pub compression: IpcCompression,
    pub registry: Registry,
    pub limits: HttpInputConfig,
}

/// Every running http listener, by address.
pub struct HttpInputs {
    runtime: Arc<HttpRuntime>,
    listeners: HashMap<SocketAddr, Listener>,
}

struct Listener {
    tls: Option<(String, String)>,
    state: Arc<ListenerState>,
    routes: Arc<RwLock<HashMap<String, Arc<Route>>>>,
    stop: ShutdownTrigger,
    task: JoinHandle<()>,
}

/// One dataset on a listener: where its requests' events go.
struct Route {
    dataset: HttpDataset,
    commits: mpsc::Sender<Commit>,
}

/// A request's events, and where to say whether they are durable.
struct Commit {
    batch: RecordBatch,
    done: oneshot::Sender<Result<(), String>>,
}

impl HttpInputs {
    pub fn new(runtime: HttpRuntime) -> HttpInputs {
        HttpInputs {
            runtime: Arc::new(runtime),
            listeners: HashMap::new(),
        }
    }

    /// Starts listeners for new addresses, stops those no dataset uses (or whose TLS changed),
    /// and points every listener's paths at the datasets now on them. A dataset whose settings
    /// did not change keeps its route, so its requests in flight are not disturbed.
    pub async fn reconcile(&mut self, desired: &[HttpDataset]) {
        let runtime = &self.runtime.clone();
        let mut by_bind: HashMap<SocketAddr, Vec<&HttpDataset>> = HashMap::new();
        for dataset in desired {
            // A dataset from a configuration file was not validated by the control plane: a
            // certificate without its key must not open as plain HTTP under an https:// label.
            if let Err((field, reason)) = dataset.settings.validate() {
                runtime
                    .registry
                    .counter(
                        PROXY_INPUT_ERRORS_TOTAL.name,
                        PROXY_INPUT_ERRORS_TOTAL.help,
                        &input_labels(dataset)[..2],
                    )
                    .increment(1);
                tracing::error!(
                    "dataset {}/{}: not served at {}: {field} {reason}",
                    dataset.tenant_id,
                    dataset.dataset_id,
                    dataset.listen
                );
                continue;
            }
            by_bind
                .entry(dataset.settings.bind)
                .or_default()
                .push(dataset);
        }
        let obsolete: Vec<SocketAddr> = self
            .listeners
            .iter()
            .filter(|(bind, listener)| {
                by_bind
                    .get(bind)
                    .is_none_or(|datasets| tls_of(&datasets[0].settings) != listener.tls)
            })
            .map(|(bind, _)| *bind)
            .collect();
        for bind in obsolete {
            if let Some(listener) = self.listeners.remove(&bind) {
                listener.stop(&runtime.registry).await;
            }
        }
        for (bind, datasets) in by_bind {
            let tls = tls_of(&datasets[0].settings);
            let listener = self.listeners.entry(bind).or_insert_with(|| {
                Listener::start(bind, tls.clone(), datasets[0].listen.clone(), runtime)
            });
            let routes_lock = listener.routes.clone();
            let mut routes = routes_lock
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut next = HashMap::new();
            for dataset in datasets {
                if tls_of(&dataset.settings) != tls {
                    tracing::error!(
                        "dataset {}/{}: {} uses other TLS settings than the datasets it shares \
                         {bind} with; give it its own port or the same certificate",
                        dataset.tenant_id,
                        dataset.dataset_id,
                        dataset.listen
                    );
                    continue;
                }
                let route = match routes.get(&dataset.settings.path) {
                    Some(route) if route.dataset == *dataset => route.clone(),
                    _ => {
                        let listening = listener.state.listening.load(Ordering::SeqCst);
                        runtime
                            .registry
                            .gauge(
                                PROXY_INPUT_UP.name,
                                PROXY_INPUT_UP.help,
                                &input_labels(dataset),
                            )
                            .set(i64::from(listening));
                        if listening {
                            tracing::info!(
                                "dataset {}/{}: listening on {}",
                                dataset.tenant_id,
                                dataset.dataset_id,
                                dataset.listen
                            );
                        }
                        Route::start(dataset.clone(), runtime)
                    }
                };
                next.insert(dataset.settings.path.clone(), route);
            }
            for (path, route) in routes.iter() {
                if !next.contains_key(path) {
                    forget_route(&runtime.registry, &route.dataset);
                }
            }
            *routes = next;
        }
    }

    /// Stops every listener; requests in flight finish first (up to the listener's grace).
    pub async fn stop(&mut self) {
        for (_, listener) in self.listeners.drain() {
            listener.stop(&self.runtime.registry).await;
        }
    }
}

fn tls_of(settings: &HttpSourceSettings) -> Option<(String, String)> {
    settings
        .tls()
        .map(|(cert, key)| (cert.to_owned(), key.to_owned()))
}

fn input_labels(dataset: &HttpDataset) -> [(&str, &str); 3] {
    [
        ("tenant", dataset.tenant_id.as_str()),
        ("dataset", dataset.dataset_id.as_str()),
        ("listen", dataset.listen.as_str()),
    ]
}

fn forget_route(registry: &Registry, dataset: &HttpDataset) {
    registry.remove(PROXY_INPUT_UP.name, &input_labels(dataset));
}

impl Listener {
    fn start(
        bind: SocketAddr,
        tls: Option<(String, String)>,
        name: String,
        runtime: &Arc<HttpRuntime>,
    ) -> Listener {
        let routes: Arc<RwLock<HashMap<String, Arc<Route>>>> = Arc::default();
        let (stop, stopped) = shutdown_pair();
        let state = Arc::new(ListenerState {
            routes: routes.clone(),
            runtime: runtime.clone(),
            budget: BodyBudget::new(runtime.limits.max_inflight_bytes),
            listening: AtomicBool::new(false),
            listen: format!("{}://{bind}", if tls.is_some() { "https" } else { "http" }),
        });
        let task = tokio::spawn(listen(bind, tls.clone(), name, state.clone(), stopped));
        Listener {
            tls,
            state,
            routes,
            stop,
            task,
        }
    }

    async fn stop(self, registry: &Registry) {
        self.stop.trigger();
        let _ = self.task.await;
        let routes = self
            .routes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .drain()
            .map(|(_, route)| route)
            .collect::<Vec<_>>();
        for route in routes {
            let dataset = &route.dataset;
            forget_route(registry, dataset);
            tracing::info!(
                "dataset {}/{}: stopped listening on {}",
                dataset.tenant_id,
                dataset.dataset_id,
                dataset.listen
            );
        }
    }
}

struct ListenerState {
    routes: Arc<RwLock<HashMap<String, Arc<Route>>>>,
    runtime: Arc<HttpRuntime>,
    budget: BodyBudget,
    /// The port is open: routes added now are up at once.
    listening: AtomicBool,
    /// `http://0.0.0.0:8080`: the `listen` label of the listener's own metrics.
    listen: String,
}

impl ListenerState {
    fn route(&self, path: &str) -> Option<Arc<Route>> {
        self.routes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(path)
            .cloned()
    }

    fn each_route(&self, mut visit: impl FnMut(&HttpDataset)) {
        for route in self
            .routes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
        {
            visit(&route.dataset);
        }
    }
}

/// Opens the port (retrying while it is taken or the certificate cannot be read), then serves
/// until stopped.
async fn listen(
    bind: SocketAddr,
    tls: Option<(String, String)>,
    name: String,
    state: Arc<ListenerState>,
    mut stopped: bytefreezer_telemetry::Shutdown,
) {
    let registry = state.runtime.registry.clone();
    let set_up = |value: i64| {
        state.each_route(|dataset| {
            registry
                .gauge(
                    PROXY_INPUT_UP.name,
                    PROXY_INPUT_UP.help,
                    &input_labels(dataset),
                )
                .set(value);
        });
    };
    let (listener, acceptor) = loop {
        let opened = open(bind, tls.as_ref()).await;
        match opened {
            Ok(opened) => break opened,
            Err(error) => {
                set_up(0);
                state.each_route(|dataset| {
                    registry
                        .counter(
                            PROXY_INPUT_ERRORS_TOTAL.name,
                            PROXY_INPUT_ERRORS_TOTAL.help,
                            &[
                                ("tenant", dataset.tenant_id.as_str()),
                                ("dataset", dataset.dataset_id.as_str()),
                            ],
                        )
                        .increment(1);
                });
                tracing::error!(
                    "http input {name}: {error:#}; retrying in {}s",
                    LISTEN_RETRY.as_secs()
                );
                tokio::select! {
                    _ = stopped.wait() => return,
                    _ = tokio::time::sleep(LISTEN_RETRY) => {}
                }
            }
        }
    };
    // Before the gauges: a route added meanwhile either sees it or is among those set here.
    state.listening.store(true, Ordering::SeqCst);
    set_up(1);
    state.each_route(|dataset| {
        tracing::info!(
            "dataset {}/{}: listening on {}",
            dataset.tenant_id,
            dataset.dataset_id,
            dataset.listen
        );
    });
    let limits = &state.runtime.limits;
    let connection_limits = ConnectionLimits {
        header_timeout: Duration::from_secs(limits.header_timeout_secs.max(1)),
        max_connections: limits.max_connections,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let metrics = ConnectionMetrics {
        registry: registry.clone(),
        open: PROXY_HTTP_CONNECTIONS,
        errors: PROXY_HTTP_CONNECTION_ERRORS_TOTAL,
        labels: vec![("listen", format!("{scheme}://{bind}"))],
        name: format!("http input {scheme}://{bind}"),
    };
    let router = Router::new().fallback(accept).with_state(state.clone());
    if let Err(error) = serve(
        listener,
        acceptor,
        router,
        connection_limits,
        metrics,
        stopped,
    )
    .await
    {
        tracing::error!("http input {name}: {error:#}");
    }
}

async fn open(
    bind: SocketAddr,
    tls: Option<&(String, String)>,
) -> anyhow::Result<(tokio::net::TcpListener, Option<TlsAcceptor>)> {
    use anyhow::Context;
    let acceptor = match tls {
        Some((cert, key)) => Some(
            load_tls(
                FsPath::new(cert),
                FsPath::new(key),
                &format!("https://{bind}"),
            )
            .await?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| {
        format!("cannot listen on tcp {bind}; is another process using the port?")
    })?;
    Ok((listener, acceptor))
}

impl Route {
    fn start(dataset: HttpDataset, runtime: &Arc<HttpRuntime>) -> Arc<Route> {
        let (commits, queue) = mpsc::channel(QUEUED_REQUESTS);
        tokio::spawn(commit_loop(queue, dataset.clone(), runtime.clone()));
        Arc::new(Route { dataset, commits })
    }
}

/// Writes queued requests' events to the spool, as many as are waiting in one promised batch
/// file, and tells each request once its events are durable.
async fn commit_loop(
    mut queue: mpsc::Receiver<Commit>,
    dataset: HttpDataset,
    runtime: Arc<HttpRuntime>,
) {
    while let Some(first) = queue.recv().await {
        let mut events = first.batch.num_rows();
        let mut group = vec![first];
        while events < GROUP_MAX_EVENTS {
            match queue.try_recv() {
                Ok(commit) => {
                    events += commit.batch.num_rows();
                    group.push(commit);
                }
                Err(_) => break,
            }
        }
        let batches: Vec<RecordBatch> = group.iter().map(|c| c.batch.clone()).collect();
        let (spool, compression) = (runtime.spool.clone(), runtime.compression);
        let (tenant_id, dataset_id) = (dataset.tenant_id.clone(), dataset.dataset_id.clone());
        let written = tokio::task::spawn_blocking(move || {
            let encoded = encode_ipc_with(&batches, compression)
                .map_err(|error| format!("cannot encode the events: {error}"))?;
            spool
                .write_promised_blocking(&tenant_id, &dataset_id, events as u64, &encoded)
                .map_err(|error| format!("{error:#}"))
        })
        .await
        .unwrap_or_else(|join| Err(format!("the spool write stopped: {join}")));
        if let Err(error) = &written {
            tracing::error!(
                "dataset {}/{}: {events} events not stored, their senders get 503: {error}",
                dataset.tenant_id,
                dataset.dataset_id
            );
        }
        for commit in group {
            // A sender that went away still had its events stored; nothing to tell it.
            let _ = commit.done.send(written.clone());
        }
    }
}

/// Every request on the listener: routed by path, then checked, read, split and committed.
async fn accept(
    State(state): State<Arc<ListenerState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(route) = state.route(uri.path()) else {
        state
            .runtime
            .registry
            .counter(
                PROXY_HTTP_UNROUTED_TOTAL.name,
                PROXY_HTTP_UNROUTED_TOTAL.help,
                &[("listen", state.listen.as_str())],
            )
            .increment(1);
        return reject(
            StatusCode::NOT_FOUND,
            "no_route",
            format!("no dataset receives events at {}", uri.path()),
        )
        .into_response();
    };
    let dataset = &route.dataset;
    let outcome = receive(&state, &route, peer, &method, &headers, body).await;
    let status = match &outcome {
        Ok(_) => StatusCode::OK,
        Err(rejection) => rejection.status,
    };
    let registry = &state.runtime.registry;
    registry
        .counter(
            PROXY_HTTP_REQUESTS_TOTAL.name,
            PROXY_HTTP_REQUESTS_TOTAL.help,
            &[
                ("tenant", dataset.tenant_id.as_str()),
                ("dataset", dataset.dataset_id.as_str()),
                ("status", status.as_str()),
            ],
        )
        .increment(1);
    match outcome {
        Ok((events, bytes)) => {
            let labels = [
                ("tenant", dataset.tenant_id.as_str()),
                ("dataset", dataset.dataset_id.as_str()),
            ];
            registry
                .counter(
                    PROXY_HTTP_EVENTS_TOTAL.name,
                    PROXY_HTTP_EVENTS_TOTAL.help,
                    &labels,
                )
                .increment(events as u64);
            registry
                .counter(
                    PROXY_HTTP_BODY_BYTES_TOTAL.name,
                    PROXY_HTTP_BODY_BYTES_TOTAL.help,
                    &labels,
                )
                .increment(bytes as u64);
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({ "events": events })),
            )
                .into_response()
        }
        Err(rejection) => {
            if rejection.status.is_server_error() {
                tracing::warn!(
                    "dataset {}/{}: {}",
                    dataset.tenant_id,
                    dataset.dataset_id,
                    rejection.message
                );
            }
            let unauthorized = rejection.status == StatusCode::UNAUTHORIZED;
            let mut response = rejection.into_response();
            if unauthorized {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

/// The events of one request, durable: how many, and the body's inflated size.
async fn receive(
    state: &ListenerState,
    route: &Route,
    peer: SocketAddr,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<(usize, usize), Rejection> {
    let settings = &route.dataset.settings;
    if method != Method::POST && method != Method::PUT {
        return Err(reject(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            "send events with POST",
        ));
    }
    // Everything the headers decide is decided before a byte of the body is read.
    if let Some(token) = &settings.token {
        let offered = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .unwrap_or_default();
        if !same_secret(offered.as_bytes(), token.as_bytes()) {
            return Err(reject(
                StatusCode::UNAUTHORIZED,
                "token",
                "send the dataset's token as Authorization: Bearer <token>",
            ));
        }
    }
    let runtime = &state.runtime;
    if runtime.spool.over_high_water() {
        return Err(reject(
            StatusCode::TOO_MANY_REQUESTS,
            "spool_full",
            "the proxy's spool is nearly full (the receiver is slow or unreachable); retry later",
        )
        .retry_after(SPOOL_FULL_RETRY_SECS));
    }
    let limit = usize::try_from(settings.max_body_bytes).unwrap_or(usize::MAX);
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(runtime.limits.body_timeout_secs.max(1));
    let mut reservation = Reservation::default();
    let body = read_request_body(
        headers,
        body,
        &[ContentEncoding::Gzip, ContentEncoding::Zstd],
        limit,
        deadline,
        &state.budget,
        &mut reservation,
    )
    .await?
    .inflated;
    let content_length = declared_length(headers);
    // The events are copied into the batch: held until the spool has them.
    let held = body.len() as u64 * 2 + content_length.unwrap_or(0);
    state
        .budget
        .reserve_total(&mut reservation, held)
        .map_err(budget_rejection)?;
    let mut builder = EventsEdgeBuilder::with_capacity(0, body.len());
    let (_, events) = split_events(
        &body,
        settings.format,
        now_micros(),
        Some(peer.ip()),
        &mut builder,
    )
    .map_err(|error| reject(StatusCode::BAD_REQUEST, "bad_body", error.to_string()))?;
    let bytes = body.len();
    drop(body);
    let Some(batch) = builder.flush() else {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "bad_body",
            "the body holds no events",
        ));
    };
    let (done, durable) = oneshot::channel();
    let unavailable = |message: String| {
        reject(StatusCode::SERVICE_UNAVAILABLE, "spool_write", message).retry_after(1)
    };
    route
        .commits
        .send(Commit { batch, done })
        .await
        .map_err(|_| unavailable("the input is stopping; retry".to_owned()))?;
    match durable.await {
        Ok(Ok(())) => {
            bytefreezer_telemetry::crash_point("proxy.events_durable");
            Ok((events, bytes))
        }
        Ok(Err(error)) => Err(unavailable(format!(
            "the events could not be stored: {error}"
        ))),
        Err(_) => Err(unavailable("the input is stopping; retry".to_owned())),
    }
}

/// Compares secrets in time independent of where they differ.
fn same_secret(offered: &[u8], expected: &[u8]) -> bool {
    offered.len() == expected.len()
        && offered
            .iter()
            .zip(expected)
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}

#[cfg(test)]
#[path = "http_input_tests.rs"]
mod tests;
