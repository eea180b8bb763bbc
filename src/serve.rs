use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::Router;
use bytefreezer_telemetry::Shutdown;
use tokio::net::TcpListener;

/// Binds an HTTP listener, with an error that says what to do when the port is taken.
pub async fn bind(address: SocketAddr, purpose: &str) -> Result<TcpListener> {
    TcpListener::bind(address).await.with_context(|| {
        format!("{purpose}: cannot listen on {address}; is another process using it? choose another address")
    })
}

/// Serves `router` until shutdown, letting requests in flight finish.
pub async fn serve(listener: TcpListener, router: Router, mut shutdown: Shutdown) -> Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
        .context("HTTP server failed")
}
