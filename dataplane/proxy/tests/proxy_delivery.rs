use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytefreezer_api::metrics::{
    PROXY_DATAGRAMS_DROPPED_TOTAL, PROXY_DATAGRAMS_TOTAL, PROXY_INPUT_ERRORS_TOTAL, PROXY_INPUT_UP,
    PROXY_RETRIES_TOTAL, PROXY_ROWS_ACKED_TOTAL, PROXY_ROWS_DURABLE_TOTAL,
    PROXY_ROWS_REJECTED_TOTAL, PROXY_SPOOL_QUEUE_BYTES,
};
use bytefreezer_api::{
    DataPlaneConfig, DatasetSpec, IngestKey, SourceSpec, SyslogSourceSettings, hash_api_key,
};
use bytefreezer_proxy::{Proxy, ProxyConfig};
use bytefreezer_receiver::{Receiver, ReceiverConfig};
use bytefreezer_schema::decode_ipc;
use bytefreezer_storage::{Bucket, Buckets, StorageConfig};
use bytefreezer_telemetry::{Registry, ShutdownTrigger, shutdown_pair};
use tokio::sync::watch;

const KEY: &str = "bf_proxy_test_key";

fn dataset(id: &str, bind: SocketAddr) -> DatasetSpec {
    DatasetSpec {
        tenant_id: "t".into(),
        dataset_id: id.into(),
        name: id.into(),
        source: SourceSpec::Syslog(SyslogSourceSettings {
            bind,
            ..SyslogSourceSettings::default()
        }),
        pipeline: Default::default(),
        testing: true,
        active: true,
        packer: Default::default(),
        destination: Default::default(),
    }
}

fn config(datasets: Vec<DatasetSpec>) -> DataPlaneConfig {
    DataPlaneConfig {
        datasets,
        ingest_keys: vec![IngestKey {
            name: "proxy".into(),
            key_sha256: hash_api_key(KEY),
            tenant_id: "t".into(),
            dataset_id: None,
        }],
        ..Default::default()
    }
}

fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn free_tcp() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// What each test starts from: a temporary folder for the buckets and the spool, the datasets a
/// control plane would publish, and a free address for the receiver.
struct Site {
    dir: tempfile::TempDir,
    buckets: Buckets,
    publish: watch::Sender<Arc<DataPlaneConfig>>,
    datasets: watch::Receiver<Arc<DataPlaneConfig>>,
    receiver: SocketAddr,
}

impl Site {
    fn new(datasets: Vec<DatasetSpec>) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let buckets = Buckets::open(&StorageConfig::Local {
            root: dir.path().join("buckets"),
        })
        .unwrap();
        let (publish, datasets) = watch::channel(Arc::new(config(datasets)));
        Site {
            dir,
            buckets,
            publish,
            datasets,
            receiver: free_tcp(),
        }
    }

    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    fn start_receiver(&self) -> ShutdownTrigger {
        self.start_receiver_knowing(self.datasets.clone())
    }

    /// A receiver that learns its datasets from `datasets` instead of the proxy's channel.
    fn start_receiver_knowing(
        &self,
        datasets: watch::Receiver<Arc<DataPlaneConfig>>,
    ) -> ShutdownTrigger {
        let (stop, shutdown) = shutdown_pair();
        let receiver = Receiver::new(
            ReceiverConfig {
                listen: self.receiver,
                ..ReceiverConfig::default()
            },
            self.buckets.intake.clone(),
            datasets,
            Registry::new(),
        );
        tokio::spawn(receiver.run(shutdown));
        stop
    }

    /// A proxy shipping to the site's receiver with `key`, quick to retry, then tuned.
    fn start_proxy(
        &self,
        key: &str,
        registry: &Registry,
        tune: impl FnOnce(&mut ProxyConfig),
    ) -> (ShutdownTrigger, tokio::task::JoinHandle<anyhow::Result<()>>) {
        let mut proxy_config = ProxyConfig {
            receiver_url: format!("http://{}", self.receiver),
            api_key: key.into(),
            spool_dir: self.spool(),
            retry_initial_ms: 20,
            retry_max_ms: 200,
            ..ProxyConfig::default()
        };
        tune(&mut proxy_config);
        let proxy = Proxy::new(proxy_config, self.datasets.clone(), registry.clone()).unwrap();
        let (stop, shutdown) = shutdown_pair();
        (stop, tokio::spawn(proxy.run(shutdown)))
    }
}

async fn wait_for(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn intake_rows(intake: &Bucket, prefix: &str) -> usize {
    let mut rows = 0;
    for object in intake.list(prefix).await.unwrap() {
        if let Some(bytes) = intake.get(&object.key).await.unwrap() {
            rows += decode_ipc(&bytes)
                .unwrap()
                .1
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>();
        }
    }
    rows
}

fn send(target: SocketAddr, count: usize) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for n in 0..count {
        socket
            .send_to(
                format!("<13>1 - host app - - - message {n}").as_bytes(),
                target,
            )
            .unwrap();
        if n % 50 == 49 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn spooled_batch_files(spool: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(spool)
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|x| x == "arrows"))
        .collect()
}

async fn wait_listening(registry: &Registry, inputs: u64) {
    wait_for("inputs listen", async || {
        registry.counter_total(PROXY_INPUT_UP.name) == inputs
    })
    .await;
}

/// Every datagram reaches the intake bucket once, on the receive path `io` names.
async fn every_datagram_reaches_the_intake_bucket_once(io: &str, backend: &str) {
    let syslog = free_udp();
    let site = Site::new(vec![dataset("logs", syslog)]);
    let _receiver = site.start_receiver();
    let registry = Registry::new();
    let (stop, proxy) = site.start_proxy(KEY, &registry, |config| {
        config.io = io.into();
        config.workers = 2;
    });
    wait_listening(&registry, 1).await;
    let metrics = registry.render();
    assert!(
        metrics.contains(&format!(
            "bytefreezer_proxy_io_backend{{backend=\"{backend}\"}} 1"
        )),
        "the receive path is visible in /metrics:\n{metrics}"
    );
    assert!(
        metrics.contains("bytefreezer_proxy_udp_workers 2"),
        "{metrics}"
    );
    tokio::task::spawn_blocking(move || send(syslog, 5000))
        .await
        .unwrap();
    wait_for("5000 rows are acknowledged", async || {
        registry.counter_total(PROXY_ROWS_ACKED_TOTAL.name) == 5000
    })
    .await;
    assert_eq!(intake_rows(&site.buckets.intake, "t/logs/").await, 5000);
    assert_eq!(registry.counter_total(PROXY_ROWS_DURABLE_TOTAL.name), 5000);
    assert_eq!(registry.counter_total(PROXY_DATAGRAMS_TOTAL.name), 5000);
    stop.trigger();
    proxy.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_datagram_reaches_the_intake_bucket_once_on_io_uring() {
    every_datagram_reaches_the_intake_bucket_once("uring", "io_uring").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_datagram_reaches_the_intake_bucket_once_on_recvmmsg() {
    every_datagram_reaches_the_intake_bucket_once("recvmmsg", "recvmmsg").await;
}

/// A burst into the smallest receive buffer the kernel allows: whatever the worker could not
/// take is counted by cause, so received + dropped is exactly what was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_datagram_of_an_overflowing_burst_is_durable_or_counted() {
    let syslog = free_udp();
    let site = Site::new(vec![dataset("logs", syslog)]);
    let _receiver = site.start_receiver();
    let registry = Registry::new();
    let (stop, proxy) = site.start_proxy(KEY, &registry, |config| {
        config.udp_recv_buffer_bytes = 1;
        config.workers = 1;
    });
    wait_listening(&registry, 1).await;
    let sent = 50_000u64;
    tokio::task::spawn_blocking(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let payload = format!("<13>1 - host app - - - {:>400}", "burst");
        for _ in 0..sent {
            socket.send_to(payload.as_bytes(), syslog).unwrap();
        }
        // The kernel reports its drop count with the next datagram it delivers.
        std::thread::sleep(Duration::from_millis(200));
        socket.send_to(payload.as_bytes(), syslog).unwrap();
    })
    .await
    .unwrap();
    let dropped = || {
        registry
            .counter_by_dataset(PROXY_DATAGRAMS_DROPPED_TOTAL.name)
            .values()
            .sum::<u64>()
    };
    wait_for("every datagram is durable or counted", async || {
        registry.counter_total(PROXY_ROWS_DURABLE_TOTAL.name) + dropped() == sent + 1
    })
    .await;
    wait_for(
        "the spool writers' queue holds no memory once all is written",
        async || registry.series(PROXY_SPOOL_QUEUE_BYTES.name) == vec![(vec![], 0)],
    )
    .await;
    let metrics = registry.render();
    assert!(
        dropped() == 0 || metrics.contains("cause=\"receive_buffer\""),
        "kernel drops carry their cause:\n{metrics}"
    );
    assert_eq!(
        registry.counter_total(PROXY_DATAGRAMS_TOTAL.name) + dropped(),
        sent + 1
    );
    stop.trigger();
    proxy.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_wait_in_the_spool_while_the_receiver_is_down_and_survive_a_restart() {
    let syslog = free_udp();
    let site = Site::new(vec![dataset("logs", syslog)]);
    let spool = site.spool();
    let registry = Registry::new();
    // Written with LZ4, resumed by a proxy on the default zstd: readers need no setting.
    let (stop, proxy) = site.start_proxy(KEY, &registry, |config| {
        config.spool_compression = "lz4".into()
    });
    wait_listening(&registry, 1).await;
    tokio::task::spawn_blocking(move || send(syslog, 1000))
        .await
        .unwrap();
    wait_for("1000 rows are durable", async || {
        registry.counter_total(PROXY_ROWS_DURABLE_TOTAL.name) == 1000
    })
    .await;
    assert!(
        registry.counter_total(PROXY_RETRIES_TOTAL.name) > 0
            || registry.counter_total(PROXY_ROWS_ACKED_TOTAL.name) == 0
    );
    // Abrupt stop: the task is dropped, the spool files stay.
    proxy.abort();
    let _ = proxy.await;
    drop(stop);
    let spooled: Vec<Vec<u8>> = spooled_batch_files(&spool)
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect();
    assert!(!spooled.is_empty());
    const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
    assert!(
        spooled
            .iter()
            .all(|bytes| bytes.windows(4).any(|w| w == LZ4_FRAME_MAGIC)),
        "spool_compression = \"lz4\" writes LZ4 frames"
    );

    let _receiver = site.start_receiver();
    let first = registry;
    let registry = Registry::new();
    let (stop, proxy) = site.start_proxy(KEY, &registry, |_| {});
    // Aborting the task leaves the first proxy's shipper tasks running (a real crash would not),
    // so either proxy may deliver a batch; the receiver takes each batch id once.
    let acked = || {
        first.counter_total(PROXY_ROWS_ACKED_TOTAL.name)
            + registry.counter_total(PROXY_ROWS_ACKED_TOTAL.name)
    };
    wait_for("the resumed spool is delivered", async || {
        acked() >= 1000 && spooled_batch_files(&spool).is_empty()
    })
    .await;
    assert_eq!(intake_rows(&site.buckets.intake, "t/logs/").await, 1000);
    stop.trigger();
    proxy.await.unwrap().unwrap();
}

/// Still refused when the grace period ends: rejected, counted by reason, reported as
/// activity, kept with its reason, and delivered once replayed with the right key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_moves_batches_to_rejected_visibly_and_replay_delivers_them() {
    let syslog = free_udp();
    let site = Site::new(vec![dataset("logs", syslog)]);
    let _receiver = site.start_receiver();
    let registry = Registry::new();
    let started = Instant::now();
    let (stop, proxy) = site.start_proxy("bf_wrong", &registry, |config| {
        config.reject_grace_secs = 1;
    });
    wait_listening(&registry, 1).await;
    tokio::task::spawn_blocking(move || send(syslog, 10))
        .await
        .unwrap();
    wait_for("rows are rejected", async || {
        registry.counter_total(PROXY_ROWS_REJECTED_TOTAL.name) == 10
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried for the grace period first"
    );
    assert!(registry.counter_total(PROXY_RETRIES_TOTAL.name) > 0);
    let rejected: Vec<String> = std::fs::read_dir(site.spool().join("rejected"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(rejected.len(), 2, "the batch and its reason: {rejected:?}");
    let reason = rejected
        .iter()
        .find(|name| name.ends_with(".reason"))
        .unwrap();
    let reason = std::fs::read_to_string(site.spool().join("rejected").join(reason)).unwrap();
    assert!(reason.starts_with("401"), "{reason}");
    let metrics = registry.render();
    assert!(
        metrics.contains("bytefreezer_proxy_batches_rejected_total{tenant=\"t\",dataset=\"logs\",reason=\"unauthorized\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bytefreezer_proxy_rejected_batches 1"),
        "{metrics}"
    );
    let activity = registry.activity().recent(10);
    assert!(
        activity.iter().any(|event| event.stage == "proxy"
            && event.outcome == "error"
            && event.dataset == "logs"
            && event.message.contains("spool/rejected")),
        "{activity:?}"
    );
    stop.trigger();
    proxy.await.unwrap().unwrap();

    let replayed = bytefreezer_proxy::replay_rejected(&site.spool()).unwrap();
    assert_eq!((replayed.batches, replayed.rows), (1, 10));
    let registry = Registry::new();
    let (stop, proxy) = site.start_proxy(KEY, &registry, |_| {});
    wait_for("the replayed rows are delivered", async || {
        registry.counter_total(PROXY_ROWS_ACKED_TOTAL.name) == 10
    })
    .await;
    assert_eq!(intake_rows(&site.buckets.intake, "t/logs/").await, 10);
    assert_eq!(
        std::fs::read_dir(site.spool().join("rejected"))
            .unwrap()
            .count(),
        0
    );
    stop.trigger();
    proxy.await.unwrap().unwrap();
}

/// The proxy learns a dataset 10 s before the receiver does (each polls its config on its
/// own): the receiver's 404s are retried within the grace period, nothing is rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_learning_the_dataset_later_rejects_nothing() {
    let syslog = free_udp();
    let site = Site::new(vec![dataset("logs", syslog)]);
    let (teach_receiver, receiver_datasets) = watch::channel(Arc::new(config(vec![])));
    let _receiver = site.start_receiver_knowing(receiver_datasets);
    let registry = Registry::new();
    let (stop, proxy) = site.start_proxy(KEY, &registry, |_| {});
    wait_listening(&registry, 1).await;
    tokio::task::spawn_blocking(move || send(syslog, 100))
        .await
        .unwrap();
    wait_for("the receiver refuses the unknown dataset", async || {
        registry.counter_total(PROXY_RETRIES_TOTAL.name) > 0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(registry.counter_total(PROXY_ROWS_ACKED_TOTAL.name), 0);
    teach_receiver.send_replace(Arc::new(config(vec![dataset("logs", syslog)])));
    wait_for("every row is delivered", async || {
        registry.counter_total(PROXY_ROWS_ACKED_TOTAL.name) == 100
    })
    .await;
    assert_eq!(intake_rows(&site.buckets.intake, "t/logs/").await, 100);
    assert_eq!(registry.counter_total(PROXY_ROWS_REJECTED_TOTAL.name), 0);
    assert_eq!(
        std::fs::read_dir(site.spool().join("rejected"))
            .unwrap()
            .count(),
        0,
        "nothing ends in spool/rejected"
    );
    stop.trigger();
    proxy.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_come_and_go_at_runtime_and_a_taken_port_hurts_no_other() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (first, second) = (free_udp(), free_udp());
    let site = Site::new(vec![
        dataset("first", first),
        dataset("blocked", taken.local_addr().unwrap()),
    ]);
    let _receiver = site.start_receiver();
    let registry = Registry::new();
    let (stop, proxy) = site.start_proxy(KEY, &registry, |_| {});
    wait_listening(&registry, 1).await;
    wait_for("the bind error is counted", async || {
        registry.counter_total(PROXY_INPUT_ERRORS_TOTAL.name) >= 1
    })
    .await;
    tokio::task::spawn_blocking(move || send(first, 100))
        .await
        .unwrap();
    wait_for("the healthy dataset delivers", async || {
        intake_rows(&site.buckets.intake, "t/first/").await == 100
    })
    .await;

    site.publish.send_replace(Arc::new(config(vec![
        dataset("first", first),
        dataset("second", second),
    ])));
    wait_listening(&registry, 2).await;
    tokio::task::spawn_blocking(move || send(second, 50))
        .await
        .unwrap();
    wait_for("the added dataset delivers", async || {
        intake_rows(&site.buckets.intake, "t/second/").await == 50
    })
    .await;

    site.publish
        .send_replace(Arc::new(config(vec![dataset("second", second)])));
    wait_listening(&registry, 1).await;
    wait_for("the removed dataset's port is free", async || {
        UdpSocket::bind(first).is_ok()
    })
    .await;
    stop.trigger();
    proxy.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ships_over_https_to_a_receiver_with_a_private_ca() {
    let syslog = free_udp();
    let site = Site::new(vec![dataset("logs", syslog)]);
    let dir = &site.dir;
    let pki = bytefreezer_http_listen::TestPki::new(dir.path());
    let (cert, key, ca_file) = (pki.cert_file, pki.key_file, pki.ca_file);

    let (_stop_receiver, shutdown) = shutdown_pair();
    let receiver_config = ReceiverConfig {
        listen: site.receiver,
        tls_cert_file: Some(cert),
        tls_key_file: Some(key),
        ..ReceiverConfig::default()
    };
    tokio::spawn(
        Receiver::new(
            receiver_config,
            site.buckets.intake.clone(),
            site.datasets.clone(),
            Registry::new(),
        )
        .run(shutdown),
    );

    let registry = Registry::new();
    let (stop, running) = site.start_proxy(KEY, &registry, |config| {
        config.receiver_url = format!("https://localhost:{}", site.receiver.port());
        config.receiver_ca_file = Some(ca_file);
    });
    wait_listening(&registry, 1).await;
    tokio::task::spawn_blocking(move || send(syslog, 200))
        .await
        .unwrap();
    wait_for("200 rows arrive over HTTPS", async || {
        registry.counter_total(PROXY_ROWS_ACKED_TOTAL.name) == 200
    })
    .await;
    assert_eq!(intake_rows(&site.buckets.intake, "t/logs/").await, 200);
    stop.trigger();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_unknown_spool_compression_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_sender, datasets) = watch::channel(Arc::new(config(vec![])));
    let error = Proxy::new(
        ProxyConfig {
            api_key: KEY.into(),
            spool_dir: dir.path().join("spool"),
            spool_compression: "snappy".into(),
            ..ProxyConfig::default()
        },
        datasets,
        Registry::new(),
    )
    .err()
    .expect("snappy is refused");
    assert_eq!(
        error.to_string(),
        "proxy: spool_compression: unknown compression \"snappy\": choose \"zstd\", \"zstd-fast\", \"lz4\" or \"none\""
    );
}
