//! Each stage as its own process, for deployments with one role per host.

use std::future::Future;

use anyhow::{Context, Result};
use bytefreezer_api::Role;
use bytefreezer_packer::Packer;
use bytefreezer_piper::Piper;
use bytefreezer_proxy::Proxy;
use bytefreezer_receiver::Receiver;
use bytefreezer_storage::{Bucket, Buckets};
use bytefreezer_telemetry::{
    Readiness, Registry, Shutdown, ShutdownTrigger, service_routes, shutdown_pair,
};

use crate::cli::{ProxyArgs, RoleArgs};
use crate::config_source::{DatasetSourceConfig, Requester};
use crate::reporter::{ReportSink, Reporter};
use crate::role_config::{PackerFile, PiperFile, ProxyFile, QueryFile, ReceiverFile, load};
use crate::{config_source, node, reporter, serve, signals};
use bytefreezer_query::{QueryEngine, QueryService};

pub async fn proxy(args: ProxyArgs) -> Result<()> {
    let mut file: ProxyFile = load(&args.role.config)?;
    if let Some(io) = args.io {
        file.proxy.io = io;
    }
    if args.replay_rejected {
        let replayed = bytefreezer_proxy::replay_rejected(&file.proxy.spool_dir)?;
        tracing::info!(
            "proxy: {} rejected batches ({} rows) moved back into the spool to be sent again",
            replayed.batches,
            replayed.rows
        );
    }
    let (trigger, shutdown) = shutdown_pair();
    let registry = Registry::new();
    let instance = node::instance_id(&file.data_dir, Role::Proxy.as_str())?;
    let datasets = datasets(
        &file.datasets,
        &file.data_dir,
        Role::Proxy,
        Some(&instance),
        &shutdown,
    )
    .await?;
    let proxy = Proxy::new(file.proxy, datasets.clone(), registry.clone())?;
    let readiness = Readiness::default();
    crate::readiness::track_inputs(
        registry.clone(),
        datasets,
        readiness.clone(),
        shutdown.clone(),
    );
    let reporter = Reporter::new(
        Role::Proxy,
        instance,
        registry.clone(),
        readiness.clone(),
        file.data_dir.clone(),
    );
    report(&file.datasets, reporter, &shutdown)?;
    let metrics =
        metrics_server(file.metrics_listen, registry, readiness, shutdown.clone()).await?;
    run_until_signal(trigger, proxy.run(shutdown), metrics).await
}

pub async fn receiver(args: RoleArgs) -> Result<()> {
    let file: ReceiverFile = load(&args.config)?;
    let (trigger, shutdown) = shutdown_pair();
    let registry = Registry::new();
    let buckets = Buckets::open(&file.storage)?;
    let instance = node::instance_id(&file.data_dir, Role::Receiver.as_str())?;
    let datasets = datasets(
        &file.datasets,
        &file.data_dir,
        Role::Receiver,
        None,
        &shutdown,
    )
    .await?;
    let readiness = Readiness::default();
    let reporter = Reporter::new(
        Role::Receiver,
        instance,
        registry.clone(),
        readiness.clone(),
        file.data_dir.clone(),
    );
    report(&file.datasets, reporter, &shutdown)?;
    let receiver = Receiver::new(file.receiver, buckets.intake, datasets, registry.clone());
    let metrics =
        metrics_server(file.metrics_listen, registry, readiness, shutdown.clone()).await?;
    run_until_signal(trigger, receiver.run(shutdown), metrics).await
}

pub async fn piper(args: RoleArgs) -> Result<()> {
    let file: PiperFile = load(&args.config)?;
    let (trigger, shutdown) = shutdown_pair();
    let registry = Registry::new();
    let buckets = Buckets::open(&file.storage)?;
    let instance = node::instance_id(&file.data_dir, Role::Piper.as_str())?;
    let datasets = datasets(&file.datasets, &file.data_dir, Role::Piper, None, &shutdown).await?;
    let readiness = Readiness::default();
    let reporter = Reporter::new(
        Role::Piper,
        instance.clone(),
        registry.clone(),
        readiness.clone(),
        file.data_dir.clone(),
    );
    report(&file.datasets, reporter, &shutdown)?;
    let piper = Piper::new(file.piper, buckets, datasets, instance, registry.clone())?;
    let metrics =
        metrics_server(file.metrics_listen, registry, readiness, shutdown.clone()).await?;
    run_until_signal(trigger, piper.run(shutdown), metrics).await
}

pub async fn packer(args: RoleArgs) -> Result<()> {
    let file: PackerFile = load(&args.config)?;
    let (trigger, shutdown) = shutdown_pair();
    let registry = Registry::new();
    let buckets = Buckets::open(&file.storage)?;
    let instance = node::instance_id(&file.data_dir, Role::Packer.as_str())?;
    let datasets = datasets(
        &file.datasets,
        &file.data_dir,
        Role::Packer,
        None,
        &shutdown,
    )
    .await?;
    let readiness = Readiness::default();
    let packer = Packer::new(
        file.packer,
        buckets,
        datasets,
        instance.clone(),
        registry.clone(),
    );
    let reporter = Reporter::new(
        Role::Packer,
        instance,
        registry.clone(),
        readiness.clone(),
        file.data_dir.clone(),
    );
    let reporter = reporter
        .with_open_partitions(packer.open_partitions())
        .with_destination_probes(packer.destination_probes());
    report(&file.datasets, reporter, &shutdown)?;
    let metrics =
        metrics_server(file.metrics_listen, registry, readiness, shutdown.clone()).await?;
    run_until_signal(trigger, packer.run(shutdown), metrics).await
}

pub async fn query(args: RoleArgs) -> Result<()> {
    let file: QueryFile = load(&args.config)?;
    let (trigger, shutdown) = shutdown_pair();
    let registry = Registry::new();
    let buckets = Buckets::open(&file.storage)?;
    let instance = node::instance_id(&file.data_dir, Role::Query.as_str())?;
    let datasets = datasets(&file.datasets, &file.data_dir, Role::Query, None, &shutdown).await?;
    let readiness = Readiness::default();
    let reporter = Reporter::new(
        Role::Query,
        instance,
        registry.clone(),
        readiness.clone(),
        file.data_dir.clone(),
    )
    .with_endpoint(Some(
        file.query
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", file.query.listen)),
    ));
    report(&file.datasets, reporter, &shutdown)?;
    let mut destinations = std::collections::BTreeMap::new();
    for (name, root) in &file.query.destinations {
        destinations.insert(name.clone(), Bucket::local(name, root.clone())?);
    }
    let engine = QueryEngine::new(buckets.packer, file.query.max_concurrent)
        .with_destinations(destinations, datasets.clone());
    let token_secret = file
        .query
        .token_secret()
        .context("[query] token_secret_file")?;
    let router = QueryService::new(engine, datasets, &file.query, registry.clone())
        .with_token_secret(token_secret)
        .router();
    let listener = serve::bind(file.query.listen, "query API ([query] listen)").await?;
    let api = serve::serve(listener, router, shutdown.clone());
    let metrics =
        metrics_server(file.metrics_listen, registry, readiness, shutdown.clone()).await?;
    let both = async move {
        let (api, metrics) = tokio::join!(api, metrics);
        api.and(metrics)
    };
    run_until_signal(trigger, both, async { Ok(()) }).await
}

/// The role's datasets, with its last control-plane configuration cached in its data folder.
async fn datasets(
    config: &DatasetSourceConfig,
    data_dir: &std::path::Path,
    role: Role,
    proxy_instance: Option<&str>,
    shutdown: &Shutdown,
) -> Result<config_source::ConfigWatch> {
    let cache = data_dir.join(format!("{role}.dataplane-config.json"));
    let requester = Requester {
        proxy_instance,
        cache: &cache,
    };
    config_source::start(config, requester, shutdown.clone()).await
}

/// Heartbeats to the control plane the role's datasets come from; none for a dataset file.
fn report(config: &DatasetSourceConfig, reporter: Reporter, shutdown: &Shutdown) -> Result<()> {
    let Some(sink) = ReportSink::for_datasets(config)? else {
        tracing::info!(
            "{}: datasets come from a file, so there is no control plane to report to",
            reporter.role()
        );
        return Ok(());
    };
    tokio::spawn(reporter::run(reporter, sink, shutdown.clone()));
    Ok(())
}

async fn metrics_server(
    address: std::net::SocketAddr,
    registry: Registry,
    readiness: Readiness,
    shutdown: Shutdown,
) -> Result<impl Future<Output = Result<()>>> {
    let listener = serve::bind(address, "metrics endpoint (metrics_listen)").await?;
    Ok(serve::serve(
        listener,
        service_routes(registry, readiness),
        shutdown,
    ))
}

/// Runs a role until SIGINT/SIGTERM, then lets it finish what it holds. A role that stops on
/// its own (an error) stops the metrics endpoint too, so the process exits and systemd restarts it.
async fn run_until_signal(
    trigger: ShutdownTrigger,
    role: impl Future<Output = Result<()>>,
    metrics: impl Future<Output = Result<()>>,
) -> Result<()> {
    let on_signal = trigger.clone();
    tokio::spawn(async move {
        if signals::terminate().await.is_ok() {
            tracing::info!("shutting down");
        }
        on_signal.trigger();
    });
    let role = async {
        let result = role.await;
        trigger.trigger();
        result
    };
    let (role, metrics) = tokio::join!(role, metrics);
    role.context("role failed")?;
    metrics
}
