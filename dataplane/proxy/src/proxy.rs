use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytefreezer_api::metrics::{PROXY_IO_BACKEND, PROXY_UDP_WORKERS};
use bytefreezer_api::{DataPlaneConfig, SourceSpec, SyslogTransport};
use bytefreezer_schema::IpcCompression;
use bytefreezer_telemetry::{Registry, Shutdown, shutdown_pair};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ProxyConfig;
use crate::dataset_tasks::active_inputs;
use crate::http_input::{HttpDataset, HttpInputs, HttpRuntime};
use crate::input::{DecoderKind, InputSpec, TESTING_MAX_AGE, UdpRuntime, run_udp_input};
use crate::kafka_input::{KafkaInputs, kafka_inputs};
use crate::nats_input::{NatsInputs, nats_inputs};
use crate::promised_write::{InputRuntime, StreamBatching};
use crate::shipper::Shipper;
use crate::spool::Spool;
use crate::spool_writer::SpoolWriters;
use crate::sqs_input::{SqsInputs, SqsRuntime, sqs_inputs};
use crate::syslog_tcp::{SyslogStreamInputs, syslog_stream_inputs};
use bytefreezer_udp::{IoMode, PoolConfig, ReceivePool};

const SHIPPER_WORKERS: usize = 4;
/// How long a stopping proxy keeps shipping before leaving the rest in the spool.
const DRAIN_ON_STOP: Duration = Duration::from_secs(5);

pub struct Proxy {
    config: Arc<ProxyConfig>,
    datasets: watch::Receiver<Arc<DataPlaneConfig>>,
    registry: Registry,
    spool: Arc<Spool>,
    client: reqwest::Client,
    udp: Arc<UdpRuntime>,
    http: HttpInputs,
    syslog_streams: SyslogStreamInputs,
    nats: NatsInputs,
    kafka: KafkaInputs,
    sqs: SqsInputs,
}

struct RunningInput {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Checks the configuration and opens the spool (resuming batches left by a previous run).
    pub fn new(
        config: ProxyConfig,
        datasets: watch::Receiver<Arc<DataPlaneConfig>>,
        registry: Registry,
    ) -> Result<Proxy> {
        if config.api_key.trim().is_empty() {
            bail!(
                "proxy: api_key is required: create an ingest API key for the tenant and set [proxy] api_key or api_key_file"
            );
        }
        let url = reqwest::Url::parse(&config.receiver_url).with_context(|| {
            format!(
                "proxy: receiver_url {:?} is not a URL like https://receiver:8081",
                config.receiver_url
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!(
                "proxy: receiver_url {:?} must start with http:// or https://",
                config.receiver_url
            );
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.request_timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(10));
        if let Some(ca_file) = &config.receiver_ca_file {
            let pem = std::fs::read(ca_file).with_context(|| {
                format!("proxy: cannot read receiver_ca_file {}", ca_file.display())
            })?;
            let certificate = reqwest::Certificate::from_pem(&pem).with_context(|| {
                format!(
                    "proxy: receiver_ca_file {} is not a PEM certificate",
                    ca_file.display()
                )
            })?;
            client = client.add_root_certificate(certificate);
        }
        let client = client
            .build()
            .context("proxy: cannot build the HTTP client")?;
        let io: IoMode = config
            .io
            .parse()
            .map_err(|error| anyhow::anyhow!("proxy: io: {error}"))?;
        let compression: IpcCompression = config
            .spool_compression
            .parse()
            .map_err(|error| anyhow::anyhow!("proxy: spool_compression: {error}"))?;
        let spool = Arc::new(Spool::open(
            &config.spool_dir,
            config.spool_max_bytes,
            registry.clone(),
        )?);
        let pool = ReceivePool::start(&PoolConfig {
            workers: config.workers,
            io,
            pin: true,
            ..PoolConfig::default()
        })
        .with_context(|| {
            format!(
                "proxy: cannot start the UDP receive workers with io = {io:?}; \
                 io = \"recvmmsg\" works where io_uring is disabled (kernel.io_uring_disabled, seccomp)"
            )
        })?;
        registry
            .gauge(
                PROXY_IO_BACKEND.name,
                PROXY_IO_BACKEND.help,
                &[("backend", pool.backend().name())],
            )
            .set(1);
        registry
            .gauge(PROXY_UDP_WORKERS.name, PROXY_UDP_WORKERS.help, &[])
            .set(pool.workers() as i64);
        let writers = SpoolWriters::start(spool.clone(), compression, registry.clone())
            .context("proxy: cannot start the spool writers")?;
        let http = HttpInputs::new(HttpRuntime {
            spool: spool.clone(),
            compression,
            registry: registry.clone(),
            limits: config.http.clone(),
        });
        let batching = StreamBatching {
            max_rows: config.batch_max_rows.max(1),
            max_bytes: config.batch_max_bytes.max(1),
            max_age: Duration::from_millis(config.batch_max_age_ms.max(1)),
            testing_max_age: TESTING_MAX_AGE,
        };
        let input_runtime = || InputRuntime {
            spool: spool.clone(),
            compression,
            registry: registry.clone(),
            batching,
        };
        let syslog_streams = syslog_stream_inputs(input_runtime());
        let nats = nats_inputs(input_runtime());
        let kafka = kafka_inputs(input_runtime());
        // Long polls wait up to 20 s: their own client, so the receiver's request timeout does
        // not cut them short.
        let sqs_http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("proxy: cannot build the SQS HTTP client")?;
        let sqs = sqs_inputs(SqsRuntime {
            input: input_runtime(),
            http: sqs_http,
        });
        let config = Arc::new(config);
        let udp = Arc::new(UdpRuntime {
            pool: Arc::new(pool),
            writers: Arc::new(writers),
            config: config.clone(),
            registry: registry.clone(),
        });
        Ok(Proxy {
            config,
            datasets,
            registry,
            spool,
            client,
            udp,
            http,
            syslog_streams,
            nats,
            kafka,
            sqs,
        })
    }

    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<()> {
        let (stop_shipping, shipping) = shutdown_pair();
        let shipper = Arc::new(Shipper {
            client: self.client.clone(),
            receiver_url: self.config.receiver_url.trim_end_matches('/').to_owned(),
            api_key: self.config.api_key.clone(),
            spool: self.spool.clone(),
            registry: self.registry.clone(),
            retry_initial: Duration::from_millis(self.config.retry_initial_ms.max(1)),
            retry_max: Duration::from_millis(
                self.config
                    .retry_max_ms
                    .max(self.config.retry_initial_ms.max(1)),
            ),
            reject_grace: Duration::from_secs(self.config.reject_grace_secs),
        });
        let workers: Vec<_> = (0..SHIPPER_WORKERS)
            .map(|_| tokio::spawn(shipper.clone().run_worker(shipping.clone())))
            .collect();

        let mut inputs: HashMap<InputSpec, RunningInput> = HashMap::new();
        let current = self.datasets.borrow_and_update().clone();
        self.reconcile(&mut inputs, &current).await;
        loop {
            tokio::select! {
                _ = shutdown.wait() => break,
                changed = self.datasets.changed() => {
                    if changed.is_err() {
                        shutdown.wait().await;
                        break;
                    }
                    let current = self.datasets.borrow_and_update().clone();
                    self.reconcile(&mut inputs, &current).await;
                }
            }
        }
        for (_, input) in inputs.drain() {
            stop_input(input).await;
        }
        // Requests in flight finish and connections hand over what they read (their events
        // reach the spool) before the drain below.
        self.http.stop().await;
        self.syslog_streams.stop().await;
        self.nats.stop().await;
        self.kafka.stop().await;
        self.sqs.stop().await;
        // Every sink has flushed into the writers; let them finish before draining the spool.
        if let Ok(runtime) = Arc::try_unwrap(self.udp) {
            let UdpRuntime { pool, writers, .. } = runtime;
            let _ = tokio::task::spawn_blocking(move || {
                drop(pool);
                if let Ok(writers) = Arc::try_unwrap(writers) {
                    writers.finish();
                }
            })
            .await;
        }
        let deadline = tokio::time::Instant::now() + DRAIN_ON_STOP;
        while !self.spool.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !self.spool.is_empty() {
            tracing::info!(
                "proxy: {} batches stay in the spool for the next start",
                self.spool.len()
            );
        }
        stop_shipping.trigger();
        for worker in workers {
            let _ = worker.await;
        }
        Ok(())
    }

    /// Starts inputs for new datasets and stops those removed, paused or changed, leaving the
    /// others untouched.
    async fn reconcile(
        &mut self,
        inputs: &mut HashMap<InputSpec, RunningInput>,
        config: &DataPlaneConfig,
    ) {
        let http: Vec<HttpDataset> = config
            .datasets
            .iter()
            .filter(|dataset| dataset.active)
            .filter_map(|dataset| match &dataset.source {
                SourceSpec::Http(settings) => Some(HttpDataset {
                    tenant_id: dataset.tenant_id.clone(),
                    dataset_id: dataset.dataset_id.clone(),
                    settings: settings.clone(),
                    listen: dataset.source.listen(),
                }),
                _ => None,
            })
            .collect();
        self.http.reconcile(&http).await;
        let syslog_streams = active_inputs(config, |source| match source {
            SourceSpec::Syslog(settings) if settings.transport != SyslogTransport::Udp => {
                Some(settings)
            }
            _ => None,
        });
        self.syslog_streams.reconcile(&syslog_streams).await;
        let nats = active_inputs(config, |source| match source {
            SourceSpec::Nats(settings) => Some(settings),
            _ => None,
        });
        self.nats.reconcile(&nats).await;
        let kafka = active_inputs(config, |source| match source {
            SourceSpec::Kafka(settings) => Some(settings),
            _ => None,
        });
        self.kafka.reconcile(&kafka).await;
        let sqs = active_inputs(config, |source| match source {
            SourceSpec::Sqs(settings) => Some(settings),
            _ => None,
        });
        self.sqs.reconcile(&sqs).await;
        let desired: Vec<InputSpec> = config
            .datasets
            .iter()
            .filter(|dataset| dataset.active)
            .filter_map(|dataset| {
                let decoder = match &dataset.source {
                    SourceSpec::Syslog(settings) if settings.transport == SyslogTransport::Udp => {
                        DecoderKind::Syslog
                    }
                    SourceSpec::Syslog(_)
                    | SourceSpec::Http(_)
                    | SourceSpec::Nats(_)
                    | SourceSpec::Sqs(_)
                    | SourceSpec::Kafka(_) => return None,
                    SourceSpec::Netflow(_) | SourceSpec::Ipfix(_) | SourceSpec::Sflow(_) => {
                        DecoderKind::Flow
                    }
                    SourceSpec::Ebpf(_) => DecoderKind::Events,
                };
                Some(InputSpec {
                    tenant_id: dataset.tenant_id.clone(),
                    dataset_id: dataset.dataset_id.clone(),
                    bind: dataset.source.bind()?,
                    testing: dataset.testing,
                    decoder,
                })
            })
            .collect();
        let obsolete: Vec<InputSpec> = inputs
            .keys()
            .filter(|spec| !desired.contains(spec))
            .cloned()
            .collect();
        for spec in obsolete {
            if let Some(input) = inputs.remove(&spec) {
                stop_input(input).await;
            }
        }
        for spec in desired {
            if inputs.contains_key(&spec) {
                continue;
            }
            let (stop, stopped) = watch::channel(false);
            let task = tokio::spawn(run_udp_input(spec.clone(), self.udp.clone(), stopped));
            inputs.insert(spec, RunningInput { stop, task });
        }
    }
}

async fn stop_input(input: RunningInput) {
    let _ = input.stop.send(true);
    let _ = input.task.await;
}
