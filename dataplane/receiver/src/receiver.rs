use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::routing::{get, post};
use bytefreezer_api::DataPlaneConfig;
use bytefreezer_schema::IpcLimits;
use bytefreezer_storage::Bucket;
use bytefreezer_telemetry::{Registry, Shutdown};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use bytefreezer_api::metrics::{RECEIVER_CONNECTION_ERRORS_TOTAL, RECEIVER_CONNECTIONS};
use bytefreezer_http_listen::{BodyBudget, ConnectionLimits, ConnectionMetrics, load_tls, serve};

use crate::config::ReceiverConfig;
use crate::ingest::{IngestLimits, IngestState, ingest};

pub struct Receiver {
    config: ReceiverConfig,
    state: Arc<IngestState>,
}

impl Receiver {
    pub fn new(
        config: ReceiverConfig,
        intake: Bucket,
        datasets: watch::Receiver<Arc<DataPlaneConfig>>,
        registry: Registry,
    ) -> Receiver {
        let limits = IngestLimits {
            max_body_bytes: config.max_body_bytes,
            body_timeout: Duration::from_secs(config.body_timeout_secs),
            ipc: IpcLimits {
                max_decoded_bytes: config.max_decoded_bytes,
                max_buffer_bytes: config.max_decoded_buffer_bytes,
            },
        };
        let state = Arc::new(IngestState {
            intake,
            datasets,
            registry,
            wakeup: None,
            limits,
            budget: BodyBudget::new(config.max_inflight_bytes),
        });
        Receiver { config, state }
    }

    /// `notify` is poked after each durable intake write (piper's wakeup).
    pub fn with_wakeup(self, notify: Arc<Notify>) -> Self {
        let state = IngestState {
            intake: self.state.intake.clone(),
            datasets: self.state.datasets.clone(),
            registry: self.state.registry.clone(),
            wakeup: Some(notify),
            limits: self.state.limits.clone(),
            budget: self.state.budget.clone(),
        };
        Receiver {
            config: self.config,
            state: Arc::new(state),
        }
    }

    /// Only the ingest routes, so a process can serve them beside others on one listener. The
    /// body limits, the in-flight budget and the body timeout apply wherever they are served;
    /// the header timeout and the connection cap belong to the listener: serve them with
    /// [`Receiver::run`] or [`Receiver::serve_shared`].
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/ingest/{tenant_id}/{dataset_id}", post(ingest))
            .with_state(self.state.clone())
    }

    /// Serves the ingest API and `/healthz` on `listen`, over HTTPS when a certificate is
    /// configured, until shutdown. `/metrics`, `/readyz` and `/activity` are not served here: the
    /// role serves them on its own, by default local, listener.
    pub async fn run(self, shutdown: Shutdown) -> Result<()> {
        let router = self.router().route("/healthz", get(|| async { "ok\n" }));
        let address = self.config.listen;
        let tls = match (&self.config.tls_cert_file, &self.config.tls_key_file) {
            (Some(cert), Some(key)) => Some(load_tls(cert, key, "receiver").await?),
            (None, None) => None,
            _ => anyhow::bail!("receiver: set both tls_cert_file and tls_key_file, or neither"),
        };
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| {
                format!(
                    "receiver: cannot listen on {address}; choose another address with listen = ..."
                )
            })?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!("receiver listening on {scheme}://{address}");
        serve(
            listener,
            tls,
            router,
            self.connection_limits(),
            self.connection_metrics(),
            shutdown,
        )
        .await
        .context("receiver server failed")
    }

    /// Serves `router`, which holds this receiver's [`Receiver::router`] beside other routes
    /// (`bytefreezer up` serves the dashboard, the receiver and the query service on one port),
    /// on `listener` over plain HTTP/1.1 with this receiver's header timeout and connection cap,
    /// so the ingest port is no softer when shared. Handlers see the peer's address
    /// (`ConnectInfo<SocketAddr>`).
    pub async fn serve_shared(
        self,
        listener: TcpListener,
        router: Router,
        shutdown: Shutdown,
    ) -> Result<()> {
        serve(
            listener,
            None,
            router,
            self.connection_limits(),
            self.connection_metrics(),
            shutdown,
        )
        .await
        .context("HTTP server failed")
    }

    fn connection_metrics(&self) -> ConnectionMetrics {
        ConnectionMetrics {
            registry: self.state.registry.clone(),
            open: RECEIVER_CONNECTIONS,
            errors: RECEIVER_CONNECTION_ERRORS_TOTAL,
            labels: Vec::new(),
            name: "receiver".to_owned(),
        }
    }

    fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(self.config.header_timeout_secs),
            max_connections: self.config.max_connections,
        }
    }
}
