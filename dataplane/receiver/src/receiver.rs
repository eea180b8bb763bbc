use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use bytefreezer_api::DataPlaneConfig;
use bytefreezer_storage::Bucket;
use bytefreezer_telemetry::{Readiness, Registry, Shutdown, service_routes};
use tokio::sync::{Notify, watch};

use crate::config::ReceiverConfig;
use crate::ingest::{IngestState, ingest};

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
        let state = Arc::new(IngestState {
            intake,
            datasets,
            registry,
            wakeup: None,
            max_body_bytes: config.max_body_bytes,
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
            max_body_bytes: self.state.max_body_bytes,
        };
        Receiver {
            config: self.config,
            state: Arc::new(state),
        }
    }

    /// Only the ingest routes, so a process can serve them beside others on one listener.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/ingest/{tenant_id}/{dataset_id}", post(ingest))
            .layer(DefaultBodyLimit::max(self.config.max_body_bytes))
            .with_state(self.state.clone())
    }

    /// Serves the ingest API and `/healthz`, `/readyz`, `/metrics` on `listen`, over HTTPS when
    /// a certificate is configured, until shutdown.
    pub async fn run(self, mut shutdown: Shutdown) -> Result<()> {
        let router = self.router().merge(service_routes(
            self.state.registry.clone(),
            Readiness::default(),
        ));
        let address = self.config.listen;
        match (&self.config.tls_cert_file, &self.config.tls_key_file) {
            (Some(cert), Some(key)) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .with_context(|| {
                        format!(
                            "receiver: cannot load TLS certificate {} / key {}",
                            cert.display(),
                            key.display()
                        )
                    })?;
                let listener = std::net::TcpListener::bind(address)
                    .with_context(|| format!("receiver: cannot listen on {address}; choose another address with listen = ..."))?;
                listener.set_nonblocking(true)?;
                let handle = axum_server::Handle::new();
                let stopper = handle.clone();
                tokio::spawn(async move {
                    shutdown.wait().await;
                    stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
                });
                tracing::info!("receiver listening on https://{address}");
                axum_server::from_tcp_rustls(listener, tls)
                    .handle(handle)
                    .serve(router.into_make_service())
                    .await
                    .context("receiver HTTPS server failed")
            }
            (None, None) => {
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("receiver: cannot listen on {address}; choose another address with listen = ..."))?;
                tracing::info!("receiver listening on http://{address}");
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move { shutdown.wait().await })
                    .await
                    .context("receiver HTTP server failed")
            }
            _ => anyhow::bail!("receiver: set both tls_cert_file and tls_key_file, or neither"),
        }
    }
}
