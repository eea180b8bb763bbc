use anyhow::{Context, Result};
use bytefreezer_control::ControlServer;
use bytefreezer_control_store::ControlStore;
use bytefreezer_telemetry::{Readiness, Registry, service_routes, shutdown_pair};

use crate::cli::ControlArgs;
use crate::{serve, signals};

/// The control plane on its own host (PostgreSQL in production, SQLite by default).
pub async fn run(args: ControlArgs) -> Result<()> {
    // SQLite creates the file but not its folder.
    if let Some(path) = args.database_url.strip_prefix("sqlite://")
        && let Some(parent) = std::path::Path::new(path.split('?').next().unwrap_or(path)).parent()
    {
        std::fs::create_dir_all(parent).ok();
    }
    let store = ControlStore::connect(&args.database_url).await?;
    let registry = Registry::new();
    let geoip = args
        .geoip
        .open()
        .map_err(anyhow::Error::msg)
        .context("--geoip-city-db / --geoip-asn-db")?;
    let router = ControlServer::new(store, registry.clone())
        .with_geoip(geoip)
        .router()
        .merge(service_routes(registry, Readiness::default()));
    let listener = serve::bind(args.listen, "control plane (--listen)").await?;
    eprintln!(
        "bytefreezer control plane on http://{}",
        listener.local_addr()?
    );
    let (trigger, shutdown) = shutdown_pair();
    tokio::spawn(async move {
        let _ = signals::terminate().await;
        trigger.trigger();
    });
    serve::serve(listener, router, shutdown).await
}
