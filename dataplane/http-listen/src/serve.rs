use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::ConnectInfo;
use bytefreezer_api::metrics::Metric;
use bytefreezer_telemetry::{Registry, Shutdown};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// hyper's per-connection read buffer at most (its default is about 400 KiB). Headers must fit in
/// it, and it bounds what an idle or slow connection can make the listener hold:
/// `max_connections` x 64 KiB (32 MiB at the receiver's default 512), plus rustls' buffers on HTTPS.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Requests in flight finish within this after shutdown; then their connections close.
const GRACEFUL_SHUTDOWN: Duration = Duration::from_secs(10);
/// After a failed accept (out of file descriptors), wait before the next so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How a listener treats connections.
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Where a listener counts its connections: a gauge of open ones and a counter of those closed
/// before a request was read (`reason` label), each with `labels` (an input names its dataset).
#[derive(Clone)]
pub struct ConnectionMetrics {
    pub registry: Registry,
    pub open: Metric,
    pub errors: Metric,
    pub labels: Vec<(&'static str, String)>,
    /// How logs name the listener (`receiver`, `dataset t/d`).
    pub name: String,
}

impl ConnectionMetrics {
    fn error(&self, reason: &'static str) {
        let mut labels: Vec<(&str, &str)> =
            self.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        labels.push(("reason", reason));
        self.registry
            .counter(self.errors.name, self.errors.help, &labels)
            .increment(1);
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Serves `router` over HTTP/1.1 (HTTPS when `tls` is set) until shutdown.
///
/// axum::serve has no header timeout and no connection cap, so the loop is written out: a
/// connection is accepted only once a slot is free (the rest wait in the kernel's backlog, costing
/// the listener nothing), the TLS handshake and every request's headers must arrive within
/// `header_timeout` (an idle keep-alive connection is closed after it too), and HTTP/2 is not
/// offered, since hyper has no header timeout for it.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: ConnectionLimits,
    metrics: ConnectionMetrics,
    mut shutdown: Shutdown,
) -> Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(READ_BUFFER_BYTES);
    let builder = Arc::new(builder);
    let labels: Vec<(&str, &str)> = metrics
        .labels
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let open = metrics
        .registry
        .gauge(metrics.open.name, metrics.open.help, &labels);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.context("connection slots closed")?,
            _ = shutdown.wait() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!("{}: cannot accept a connection: {error}", metrics.name);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = shutdown.wait() => break,
        };
        let _ = stream.set_nodelay(true);
        let (builder, tls, router, metrics, open) = (
            builder.clone(),
            tls.clone(),
            router.clone(),
            metrics.clone(),
            open.clone(),
        );
        let watcher = graceful.watcher();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            open.add(1);
            let io = match handshake(stream, tls, header_timeout).await {
                Ok(io) => io,
                Err(reason) => {
                    metrics.error(reason);
                    open.add(-1);
                    return;
                }
            };
            // Handlers may ask for the peer (`ConnectInfo`), as under axum::serve: the control
            // plane's login throttling counts per client address when it shares this listener.
            let router = TowerToHyperService::new(router);
            let service = service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                router.call(request)
            });
            let connection = builder.serve_connection(TokioIo::new(io), service);
            if let Err(error) = watcher.watch(connection).await {
                if error.is_timeout() {
                    metrics.error("header_timeout");
                } else if error.is_parse() || error.is_parse_too_large() {
                    metrics.error("bad_request");
                } else {
                    tracing::debug!("{}: connection ended: {error}", metrics.name);
                }
            }
            open.add(-1);
        });
    }
    drop(listener);
    if tokio::time::timeout(GRACEFUL_SHUTDOWN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "{}: requests still in flight after {GRACEFUL_SHUTDOWN:?}; closing",
            metrics.name
        );
    }
    Ok(())
}

async fn handshake(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    timeout: Duration,
) -> Result<Box<dyn Stream>, &'static str> {
    let Some(tls) = tls else {
        return Ok(Box::new(stream));
    };
    match tokio::time::timeout(timeout, tls.accept(stream)).await {
        Ok(Ok(stream)) => Ok(Box::new(stream)),
        Ok(Err(_)) => Err("tls_handshake"),
        Err(_) => Err("header_timeout"),
    }
}
