use std::time::Duration;

use anyhow::{Context, Result, bail};
// `Role` alone is a user's role (the store's).
use bytefreezer_api::Role as ServiceRole;
use bytefreezer_control::ControlServer;
use bytefreezer_control_store::{Actor, ControlStore, Role};
use bytefreezer_telemetry::{Readiness, Registry, service_routes, shutdown_pair};

use crate::cli::ControlArgs;
use crate::reporter::{ReportSink, Reporter};
use crate::{reporter, serve, signals};

/// The query-token secret shared with the query service's `[query] token_secret_file`.
fn query_token_secret(path: &std::path::Path) -> Result<Vec<u8>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--query-token-secret-file {}", path.display()))?;
    let secret = text.trim();
    if secret.len() < 32 {
        bail!(
            "--query-token-secret-file {}: the secret needs at least 32 characters",
            path.display()
        );
    }
    Ok(secret.as_bytes().to_vec())
}

/// Statistics and activity older than this are pruned.
const KEEP_HISTORY_DAYS: i64 = 7;

/// The control plane on its own host (PostgreSQL in production, SQLite by default).
pub async fn run(args: ControlArgs) -> Result<()> {
    // SQLite creates the file but not its folder.
    let data_dir = args
        .database_url
        .strip_prefix("sqlite://")
        .and_then(|path| std::path::Path::new(path.split('?').next().unwrap_or(path)).parent())
        .map(std::path::Path::to_owned);
    if let Some(parent) = &data_dir {
        std::fs::create_dir_all(parent).ok();
    }
    let store = ControlStore::connect(&args.database_url).await?;
    if let Some(email) = &args.admin_email {
        bootstrap_admin(&store, email).await?;
    }
    let registry = Registry::new();
    let geoip = args
        .geoip
        .open()
        .context("--geoip-city-db / --geoip-asn-db")?;
    let mut server = ControlServer::new(store.clone(), registry.clone()).with_geoip(geoip);
    if let Some(path) = &args.query_token_secret_file {
        let query = query_token_secret(path)?;
        server = server.with_query_access(args.query_url.clone(), query);
    }
    let router = server
        .router()
        .merge(service_routes(registry.clone(), Readiness::default()));
    let listener = serve::bind(args.listen, "control plane (--listen)").await?;
    eprintln!(
        "bytefreezer control plane on http://{}",
        listener.local_addr()?
    );
    let (trigger, shutdown) = shutdown_pair();
    let on_signal = trigger.clone();
    tokio::spawn(async move {
        let _ = signals::terminate().await;
        on_signal.trigger();
    });
    let instance = format!(
        "{}-{}",
        ServiceRole::Control,
        reporter::hostname()
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")
    );
    let reporter = Reporter::new(
        ServiceRole::Control,
        instance,
        registry,
        Readiness::default(),
        data_dir.unwrap_or_else(|| ".".into()),
    );
    let sink = ReportSink::Store {
        store: store.clone(),
        account_id: None,
    };
    tokio::spawn(reporter::run(reporter, sink, shutdown.clone()));
    tokio::spawn(prune(store, shutdown.clone()));
    // Listening, migrated and seeded: ready for systemd's `Type=notify`.
    let supervisor = crate::systemd::supervise(Readiness::default(), shutdown.clone());
    let served = serve::serve(listener, router, shutdown).await;
    // A failed server stops the process as a signal would, and systemd hears so.
    trigger.trigger();
    supervisor.stopped().await;
    served
}

/// The first admin of a fresh store, so a new deployment can log in at all.
async fn bootstrap_admin(store: &ControlStore, email: &str) -> Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let Ok(password) = std::env::var("BYTEFREEZER_ADMIN_PASSWORD") else {
        bail!("--admin-email needs the password in BYTEFREEZER_ADMIN_PASSWORD");
    };
    store
        .create_user(&Actor::system(), None, email, &password, Role::Admin)
        .await
        .context("cannot create the first admin")?;
    tracing::info!("created admin {email}");
    Ok(())
}

/// Prunes old statistics, activity and sessions now and every 10 minutes.
pub(crate) async fn prune(store: ControlStore, mut shutdown: bytefreezer_telemetry::Shutdown) {
    loop {
        if let Err(error) = store.prune(chrono::Duration::days(KEEP_HISTORY_DAYS)).await {
            tracing::warn!(%error, "cannot prune old statistics and activity");
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
    }
}
