//! Each stage as its own process, for deployments with one role per host. Every role starts the
//! same way (`RoleProcess::start`): its instance id, its datasets (cached in its data folder),
//! a registry, readiness, heartbeats and the metrics endpoint, then runs until a signal.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use bytefreezer_api::Role;
use bytefreezer_query::{QueryEngine, QueryService};
use bytefreezer_storage::Buckets;
use bytefreezer_telemetry::{
    Readiness, Registry, Shutdown, ShutdownTrigger, service_routes, shutdown_pair,
};

use crate::cli::{ProxyArgs, RoleArgs};
use crate::config_source::{DatasetSourceConfig, Requester};
use crate::reporter::{ReportSink, Reporter};
use crate::role_config::{
    PackerFile, PiperFile, ProxyFile, QueryFile, ReceiverFile, RoleBasics, RoleFile, load_role,
};
use crate::stages::{StageContext, packer_reporter};
use crate::{config_source, node, reporter, serve, signals};

pub async fn proxy(args: ProxyArgs) -> Result<()> {
    let mut file: ProxyFile = load_role(&args.role.config)?;
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
    let process = RoleProcess::start(Role::Proxy, file.basics()).await?;
    let proxy = process.stage.proxy(file.proxy)?;
    crate::readiness::track_inputs(
        process.stage.registry.clone(),
        process.stage.datasets.clone(),
        process.readiness.clone(),
        process.shutdown.clone(),
    );
    let reporter = process.reporter();
    let shutdown = process.shutdown.clone();
    process.run(reporter, proxy.run(shutdown)).await
}

pub async fn receiver(args: RoleArgs) -> Result<()> {
    let file: ReceiverFile = load_role(&args.config)?;
    let buckets = Buckets::open(&file.storage)?;
    let process = RoleProcess::start(Role::Receiver, file.basics()).await?;
    let receiver = process.stage.receiver(file.receiver, buckets.intake);
    let reporter = process.reporter();
    let shutdown = process.shutdown.clone();
    process.run(reporter, receiver.run(shutdown)).await
}

pub async fn piper(args: RoleArgs) -> Result<()> {
    let file: PiperFile = load_role(&args.config)?;
    let buckets = Buckets::open(&file.storage)?;
    let process = RoleProcess::start(Role::Piper, file.basics()).await?;
    let piper = process.stage.piper(file.piper, buckets)?;
    let reporter = process.reporter();
    let shutdown = process.shutdown.clone();
    process.run(reporter, piper.run(shutdown)).await
}

pub async fn packer(args: RoleArgs) -> Result<()> {
    let file: PackerFile = load_role(&args.config)?;
    let buckets = Buckets::open(&file.storage)?;
    let process = RoleProcess::start(Role::Packer, file.basics()).await?;
    let packer = process.stage.packer(file.packer, buckets);
    let reporter = packer_reporter(process.reporter(), &packer);
    let shutdown = process.shutdown.clone();
    process.run(reporter, packer.run(shutdown)).await
}

pub async fn query(args: RoleArgs) -> Result<()> {
    let file: QueryFile = load_role(&args.config)?;
    let buckets = Buckets::open(&file.storage)?;
    let process = RoleProcess::start(Role::Query, file.basics()).await?;
    let endpoint = file
        .query
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", file.query.listen));
    let reporter = process.reporter().with_endpoint(Some(endpoint));
    let mut destinations = std::collections::BTreeMap::new();
    for (name, destination) in &file.query.destinations {
        destinations.insert(name.clone(), destination.open(name)?);
    }
    let datasets = process.stage.datasets.clone();
    let engine = QueryEngine::new(buckets.packer, file.query.max_concurrent)
        .with_destinations(destinations, datasets.clone());
    let token_secret = file
        .query
        .token_secret()
        .context("[query] token_secret_file")?;
    let router = QueryService::new(
        engine,
        datasets,
        &file.query,
        process.stage.registry.clone(),
    )
    .with_token_secret(token_secret)
    .router();
    let listener = serve::bind(file.query.listen, "query API ([query] listen)").await?;
    let api = serve::serve(listener, router, process.shutdown.clone());
    process.run(reporter, api).await
}

/// One role alone in its process, up to the point where its own work starts.
struct RoleProcess {
    role: Role,
    stage: StageContext,
    readiness: Readiness,
    shutdown: Shutdown,
    trigger: ShutdownTrigger,
    metrics_listen: SocketAddr,
    dataset_source: DatasetSourceConfig,
}

impl RoleProcess {
    async fn start(role: Role, basics: RoleBasics<'_>) -> Result<RoleProcess> {
        let (trigger, shutdown) = shutdown_pair();
        let instance = node::instance_id(basics.data_dir, role.as_str())?;
        // The proxy names itself so the control plane can hand it the inputs assigned to it.
        let proxy_instance = (role == Role::Proxy).then_some(instance.as_str());
        let cache = basics
            .data_dir
            .join(format!("{role}.dataplane-config.json"));
        let requester = Requester {
            proxy_instance,
            cache: &cache,
        };
        let datasets = config_source::start(basics.datasets, requester, shutdown.clone()).await?;
        Ok(RoleProcess {
            role,
            stage: StageContext {
                instance,
                data_dir: basics.data_dir.to_path_buf(),
                registry: Registry::new(),
                datasets,
            },
            readiness: Readiness::default(),
            shutdown,
            trigger,
            metrics_listen: basics.metrics_listen,
            dataset_source: basics.datasets.clone(),
        })
    }

    fn reporter(&self) -> Reporter {
        self.stage.reporter(
            self.role,
            self.stage.instance.clone(),
            self.readiness.clone(),
        )
    }

    /// Starts heartbeats and the metrics endpoint, then runs `work` until SIGINT/SIGTERM and
    /// lets it finish what it holds. Work that stops on its own (an error) stops the metrics
    /// endpoint too, so the process exits and systemd restarts it.
    async fn run(self, reporter: Reporter, work: impl Future<Output = Result<()>>) -> Result<()> {
        report(&self.dataset_source, reporter, &self.shutdown)?;
        let listener =
            serve::bind(self.metrics_listen, "metrics endpoint (metrics_listen)").await?;
        let metrics = serve::serve(
            listener,
            service_routes(self.stage.registry.clone(), self.readiness.clone()),
            self.shutdown.clone(),
        );
        let supervisor = crate::systemd::supervise(self.readiness.clone(), self.shutdown.clone());
        let on_signal = self.trigger.clone();
        tokio::spawn(async move {
            if signals::terminate().await.is_ok() {
                tracing::info!("shutting down");
            }
            on_signal.trigger();
        });
        let trigger = self.trigger;
        let work = async {
            let result = work.await;
            trigger.trigger();
            result
        };
        let (work, metrics) = tokio::join!(work, metrics);
        supervisor.stopped().await;
        work.with_context(|| format!("{} failed", self.role))?;
        metrics
    }
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
