//! `bytefreezer up`: every stage in one process on embedded defaults, wired exactly as the
//! separate roles are (proxy → HTTP → receiver → intake → piper → packer), so what a user sees
//! here is what production does.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
// `Role` alone is a user's role (the store's).
use bytefreezer_api::Role as ServiceRole;
use bytefreezer_api::metrics::PROXY_INPUT_UP;
use bytefreezer_api::{
    DatasetSpec, EbpfSourceSettings, FlowSourceSettings, HttpSourceSettings, SourceSpec,
    SyslogSourceSettings, SyslogTransport,
};
use bytefreezer_control::ControlServer;
use bytefreezer_control_store::{Actor, ControlStore, KeyScope, Role};
use bytefreezer_fakedata::{FakeFormat, SendOptions, send_udp};
use bytefreezer_packer::PackerConfig;
use bytefreezer_piper::PiperConfig;
use bytefreezer_proxy::ProxyConfig;
use bytefreezer_query::{QueryConfig, QueryEngine, QueryService};
use bytefreezer_receiver::ReceiverConfig;
use bytefreezer_storage::{Buckets, StorageConfig};
use bytefreezer_telemetry::{Readiness, Registry, Shutdown, service_routes, shutdown_pair};

use crate::cli::UpArgs;
use crate::reporter::ReportSink;
use crate::stages::{StageContext, packer_reporter};
use crate::{config_source, node, reporter, serve, signals};

const DEMO_TENANT: &str = "demo";
const DEMO_DATASET: &str = "syslog";
const ADMIN_EMAIL: &str = "admin@bytefreezer.local";

pub async fn run(args: UpArgs) -> Result<()> {
    let data_dir = args.data_dir.as_path();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data folder {}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize()?;
    let registry = Registry::new();
    let (stop_pipeline, pipeline_shutdown) = shutdown_pair();
    let (stop_inputs, inputs_shutdown) = shutdown_pair();

    let store = ControlStore::connect(&format!(
        "sqlite://{}",
        data_dir.join("control.db").display()
    ))
    .await
    .context("cannot open the control store")?;
    let demo_account = seed_demo(&store, &args).await?;
    let proxy_key = proxy_api_key(&store, &data_dir).await?;
    let admin_password = admin_login(&store, &data_dir).await?;
    let datasets = config_source::from_store(store.clone(), pipeline_shutdown.clone()).await?;

    let buckets = Buckets::open(&StorageConfig::Local {
        root: data_dir.join("buckets"),
    })?;
    let stage = StageContext {
        instance: node::instance_id(&data_dir, "up")?,
        data_dir: data_dir.clone(),
        registry: registry.clone(),
        datasets: datasets.clone(),
    };
    let packer = stage.packer(
        PackerConfig {
            poll_interval_ms: 500,
            ..PackerConfig::default()
        },
        buckets.clone(),
    );
    let geoip = args
        .geoip
        .open()
        .context("--geoip-city-db / --geoip-asn-db")?;
    let piper = stage
        .piper(
            PiperConfig {
                poll_interval_ms: 500,
                ..PiperConfig::default()
            },
            buckets.clone(),
        )?
        .with_geoip(geoip.clone())
        .with_downstream_wakeup(packer.wakeup());
    let receiver = stage
        .receiver(ReceiverConfig::default(), buckets.intake.clone())
        .with_wakeup(piper.wakeup());

    let listener = serve::bind(args.http, "dashboard (--http)").await?;
    let http_address = listener.local_addr()?;
    let proxy = stage.proxy(ProxyConfig {
        receiver_url: format!("http://{http_address}"),
        api_key: proxy_key,
        spool_dir: data_dir.join("spool"),
        io: args.io.clone(),
        ..ProxyConfig::default()
    })?;

    let parquet_folder = buckets
        .packer
        .local_root()
        .map(|root| {
            root.join(DEMO_TENANT)
                .join(DEMO_DATASET)
                .join("data/parquet")
        })
        .context("the packer bucket of `up` is a local folder")?;
    let readiness = Readiness::default();
    crate::readiness::track_inputs(
        registry.clone(),
        datasets.clone(),
        readiness.clone(),
        pipeline_shutdown.clone(),
    );
    // The dashboard's Query page gets short-lived tokens from the control plane for the query
    // service of this same process (same origin); the secret lives in memory only.
    let query_token_secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
    .into_bytes();
    let router = ControlServer::new(store.clone(), registry.clone())
        .with_query_access(Some(String::new()), query_token_secret.clone())
        .with_public_status()
        .with_geoip(geoip)
        .with_parquet_location(parquet_folder.display().to_string())
        .router()
        .merge(receiver.router())
        .merge(
            QueryService::new(
                QueryEngine::new(buckets.packer.clone(), 2)
                    .with_destinations(Default::default(), datasets.clone()),
                datasets.clone(),
                &QueryConfig::default(),
                registry.clone(),
            )
            .with_token_secret(Some(query_token_secret))
            .router(),
        )
        .merge(service_routes(registry.clone(), readiness.clone()));
    let router = serve::loopback_host_guard(router, http_address, &args.allowed_hosts, &registry);

    println!("bytefreezer up {}", env!("CARGO_PKG_VERSION"));
    println!("  dashboard  http://{http_address}/");
    println!("  login      {ADMIN_EMAIL} / {admin_password}");
    println!(
        "  syslog     udp://{} (dataset {DEMO_TENANT}/{DEMO_DATASET}, testing mode)",
        args.syslog_bind
    );
    println!(
        "  syslog     tcp://{} (dataset {DEMO_TENANT}/{DEMO_SYSLOG_TCP_DATASET}: octet counting or newlines)",
        args.syslog_tcp_bind
    );
    println!(
        "  netflow    udp://{} (dataset {DEMO_TENANT}/netflow, v5/v9/IPFIX)",
        args.netflow_bind
    );
    println!(
        "  ipfix      udp://{} (dataset {DEMO_TENANT}/ipfix)",
        args.ipfix_bind
    );
    println!(
        "  sflow      udp://{} (dataset {DEMO_TENANT}/sflow)",
        args.sflow_bind
    );
    println!(
        "  events     http://{}{DEMO_EVENTS_PATH} (dataset {DEMO_TENANT}/events: POST JSON, NDJSON or text lines)",
        args.events_bind
    );
    println!(
        "  ebpf       udp://{} (dataset {DEMO_TENANT}/ebpf: NDJSON from `bytefreezer agent`; {})",
        args.ebpf_bind,
        if args.agent {
            "--agent: this host's agent sends here"
        } else {
            "--agent runs one for this host"
        }
    );
    println!("  parquet    {}/", parquet_folder.display());
    if args.no_fakedata {
        println!("  fakedata   off");
    } else {
        println!(
            "  fakedata   {} events/s (turn off with --no-fakedata)",
            args.fakedata_rate
        );
    }
    println!("Press Ctrl-C to stop.");

    // The one listener carries the ingest API, so it gets the receiver's connection limits
    // (header timeout, connection cap) from the same ReceiverConfig as the receiver role.
    let http = tokio::spawn(receiver.serve_shared(listener, router, pipeline_shutdown.clone()));
    let piper_task = tokio::spawn(piper.run(pipeline_shutdown.clone()));
    // One heartbeat per role, so the services list shows each role, as separate processes would.
    let heartbeats: Vec<_> = ServiceRole::ALL
        .into_iter()
        .map(|role| {
            // The proxy is the one role whose readiness up tracks: its inputs are bound.
            let readiness = match role {
                ServiceRole::Proxy => readiness.clone(),
                _ => Readiness::default(),
            };
            let reporter = stage.reporter(role, format!("{}-{role}", stage.instance), readiness);
            match role {
                ServiceRole::Packer => packer_reporter(reporter, &packer),
                _ => reporter,
            }
        })
        .collect();
    let packer_task = tokio::spawn(packer.run(pipeline_shutdown.clone()));
    let proxy_task = tokio::spawn(proxy.run(inputs_shutdown.clone()));
    tokio::spawn(crate::control::prune(
        store.clone(),
        pipeline_shutdown.clone(),
    ));
    let reports = ReportSink::Store {
        store: store.clone(),
        account_id: Some(demo_account),
    };
    for reporter in heartbeats {
        tokio::spawn(reporter::run(
            reporter,
            reports.clone(),
            pipeline_shutdown.clone(),
        ));
    }
    let fakedata_task = (!args.no_fakedata).then(|| {
        tokio::spawn(fakedata(
            args.syslog_bind,
            args.fakedata_rate,
            registry.clone(),
            inputs_shutdown.clone(),
        ))
    });

    let agent_task = args.agent.then(|| {
        tokio::spawn(agent(
            args.ebpf_bind,
            registry.clone(),
            inputs_shutdown.clone(),
        ))
    });

    signals::terminate().await?;
    println!("stopping: flushing received events to the spool and shipping them");
    stop_inputs.trigger();
    if let Some(task) = agent_task {
        let _ = task.await;
    }
    if let Some(task) = fakedata_task {
        let _ = task.await;
    }
    let proxy_result = proxy_task.await.context("proxy task panicked")?;
    drain(&buckets, Duration::from_secs(5)).await;
    stop_pipeline.trigger();
    let piper_result = piper_task.await.context("piper task panicked")?;
    let packer_result = packer_task.await.context("packer task panicked")?;
    let http_result = http.await.context("HTTP task panicked")?;
    proxy_result.context(ServiceRole::Proxy)?;
    piper_result.context(ServiceRole::Piper)?;
    packer_result.context(ServiceRole::Packer)?;
    http_result?;
    println!("stopped");
    Ok(())
}

fn demo_dataset(dataset_id: &str, name: &str, source: SourceSpec) -> DatasetSpec {
    DatasetSpec {
        tenant_id: DEMO_TENANT.into(),
        dataset_id: dataset_id.into(),
        name: name.into(),
        source,
        pipeline: Default::default(),
        testing: true,
        active: true,
        packer: Default::default(),
        destination: Default::default(),
    }
}

/// Where the demo http dataset takes events.
const DEMO_EVENTS_PATH: &str = "/events";
/// The demo dataset of syslog over TCP.
const DEMO_SYSLOG_TCP_DATASET: &str = "syslog-tcp";

/// The demo datasets: syslog fed by fakedata, syslog over TCP, NetFlow, IPFIX and sFlow for your
/// own exporters, an http input for anything that can POST, and ebpf for `bytefreezer agent`.
fn demo_datasets(args: &UpArgs) -> Vec<DatasetSpec> {
    vec![
        demo_dataset(
            "events",
            "Demo events over HTTP",
            SourceSpec::Http(HttpSourceSettings {
                bind: args.events_bind,
                path: DEMO_EVENTS_PATH.to_owned(),
                ..HttpSourceSettings::default()
            }),
        ),
        demo_dataset(
            DEMO_DATASET,
            "Demo syslog",
            SourceSpec::Syslog(SyslogSourceSettings {
                bind: args.syslog_bind,
                ..SyslogSourceSettings::default()
            }),
        ),
        demo_dataset(
            DEMO_SYSLOG_TCP_DATASET,
            "Demo syslog over TCP",
            SourceSpec::Syslog(SyslogSourceSettings {
                bind: args.syslog_tcp_bind,
                transport: SyslogTransport::Tcp,
                ..SyslogSourceSettings::default()
            }),
        ),
        demo_dataset(
            "netflow",
            "Demo NetFlow v5/v9",
            SourceSpec::Netflow(FlowSourceSettings {
                bind: args.netflow_bind,
            }),
        ),
        demo_dataset(
            "sflow",
            "Demo sFlow v5",
            SourceSpec::Sflow(FlowSourceSettings {
                bind: args.sflow_bind,
            }),
        ),
        demo_dataset(
            "ipfix",
            "Demo IPFIX",
            SourceSpec::Ipfix(FlowSourceSettings {
                bind: args.ipfix_bind,
            }),
        ),
        demo_dataset(
            "ebpf",
            "Demo eBPF host telemetry",
            SourceSpec::Ebpf(EbpfSourceSettings {
                bind: args.ebpf_bind,
                ..EbpfSourceSettings::default()
            }),
        ),
    ]
}

/// Creates the demo account, tenant and datasets on first start; later starts keep what the
/// user changed, except the listen addresses, which follow the command line.
async fn seed_demo(store: &ControlStore, args: &UpArgs) -> Result<String> {
    let mut account = String::new();
    for demo in demo_datasets(args) {
        account = store.ensure_demo(&demo).await?;
        let existing = store.dataset(&demo.tenant_id, &demo.dataset_id).await?;
        // A demo dataset whose plugin the user changed is theirs to keep.
        if let Some(mut existing) = existing
            && existing.source.plugin_name() == demo.source.plugin_name()
            && let Some(bind) = demo.source.bind()
            && existing.source.bind() != Some(bind)
            && existing.source.set_bind(bind)
        {
            store.update_dataset(&Actor::system(), &existing).await?;
        }
    }
    Ok(account)
}

/// The dashboard's first admin: created with a random password on first start, which stays
/// (mode 0600) in the data folder so each start can print it.
async fn admin_login(store: &ControlStore, data_dir: &Path) -> Result<String> {
    let path = data_dir.join("admin-password");
    if let Ok(password) = std::fs::read_to_string(&path)
        && store.count_users().await? > 0
    {
        return Ok(password.trim().to_owned());
    }
    if store.count_users().await? > 0 {
        return Ok(format!("(set by you; {} is gone)", path.display()));
    }
    let mut secret = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    let password = hex::encode(secret);
    store
        .create_user(&Actor::system(), None, ADMIN_EMAIL, &password, Role::Admin)
        .await?;
    write_secret(&path, &password)?;
    Ok(password)
}

/// The in-process proxy authenticates to the receiver like a remote one would, with an API key
/// kept (plaintext, mode 0600) in the data folder because the store only has its hash.
async fn proxy_api_key(store: &ControlStore, data_dir: &Path) -> Result<String> {
    let path = data_dir.join("up-proxy.key");
    if let Ok(key) = std::fs::read_to_string(&path) {
        let key = key.trim().to_owned();
        let known = store
            .dataplane_config()
            .await?
            .ingest_keys
            .iter()
            .any(|k| k.key_sha256 == bytefreezer_api::hash_api_key(&key));
        if known {
            return Ok(key);
        }
    }
    let name = format!("up-proxy-{}", uuid::Uuid::new_v4().simple());
    let scope = KeyScope::Tenant {
        tenant_id: DEMO_TENANT.into(),
        dataset_id: None,
    };
    let (key, _) = store
        .create_api_key(&Actor::system(), &name, &scope)
        .await?;
    write_secret(&path, &key)?;
    Ok(key)
}

fn write_secret(path: &Path, secret: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// The eBPF agent for this host, sending to the demo ebpf dataset; a host where the probes
/// cannot load gets the reason logged and `up` runs on without it.
async fn agent(bind: SocketAddr, registry: Registry, shutdown: Shutdown) {
    let settings = bytefreezer_ebpf_agent::AgentSettings::new(local_target(bind));
    if let Err(error) = bytefreezer_ebpf_agent::run(settings, registry, shutdown).await {
        tracing::error!("up --agent: the eBPF agent is not running: {error:#}");
    }
}

/// Where a process on this host reaches a socket bound to `bind`.
fn local_target(bind: SocketAddr) -> SocketAddr {
    let ip = match bind.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind.port())
}

/// Waits until the proxy's socket is bound, then sends generated events to it.
async fn fakedata(bind: SocketAddr, rate: u64, registry: Registry, shutdown: Shutdown) {
    for _ in 0..100 {
        if registry.counter_total(PROXY_INPUT_UP.name) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let options = SendOptions {
        target: local_target(bind),
        format: FakeFormat::Rfc5424,
        rate_per_second: Some(rate.max(1)),
        count: None,
        seed: rand_seed(),
    };
    let mut shutdown = shutdown;
    if let Err(error) = send_udp(options, async move { shutdown.wait().await }).await {
        tracing::error!("fakedata stopped: {error:#}");
    }
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |elapsed| elapsed.as_nanos() as u64)
}

/// Gives piper and packer a bounded moment to carry what was just shipped through to Parquet,
/// so a clean stop of a testing-mode dataset leaves nothing half-way. Whatever remains is
/// durable in its bucket and continues on the next start.
async fn drain(buckets: &Buckets, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        let pending = async {
            let intake = buckets.intake.list("").await.ok()?;
            let piper = buckets.piper.list("").await.ok()?;
            Some(
                intake
                    .iter()
                    .chain(piper.iter())
                    .filter(|object| !object.key.starts_with(bytefreezer_layout::INTERNAL_PREFIX))
                    .count(),
            )
        };
        if pending.await == Some(0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
