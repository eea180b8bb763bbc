//! The sqs input against moto's SQS server (`pip install 'moto[server]'`, done by `cargo xtask
//! test`) and a real spool: messages deleted only once their events are durable, bad bodies
//! dropped and counted, a full spool leaving the backlog in the queue, messages handed out
//! before coming back and counted, and a missing queue retried until it exists.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use bytefreezer_api::SqsSourceSettings;
use bytefreezer_api::metrics::{
    PROXY_INPUT_ERRORS_TOTAL, PROXY_INPUT_UP, PROXY_ROWS_DROPPED_TOTAL, PROXY_SQS_MESSAGES_TOTAL,
    PROXY_SQS_REDELIVERED_TOTAL, PROXY_SQS_WAITING,
};
use bytefreezer_schema::{IpcCompression, decode_ipc};
use bytefreezer_telemetry::Registry;
use serde_json::json;

use super::*;

/// moto's standalone server on a free port, killed when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 for moto's SQS server: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto's server did not start on port {port}: run `cargo xtask test` (it installs \
                 `moto[server]` from PyPI), or `pip install 'moto[server]'`"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    fn queue_url(&self, name: &str) -> String {
        format!("{}/123456789012/{name}", self.endpoint)
    }

    fn client(&self, name: &str) -> SqsClient {
        SqsClient::new(
            reqwest::Client::new(),
            &self.queue_url(name),
            "us-east-1",
            Credentials {
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
                session_token: None,
            },
        )
        .unwrap()
    }

    async fn create_queue(&self, name: &str) -> SqsClient {
        let client = self.client(name);
        let answer = client
            .call("CreateQueue", json!({ "QueueName": name }))
            .await
            .unwrap();
        assert_eq!(answer["QueueUrl"], json!(self.queue_url(name)));
        client
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send(client: &SqsClient, queue_url: &str, bodies: &[String]) {
    for chunk in bodies.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(id, body)| json!({ "Id": id.to_string(), "MessageBody": body }))
            .collect();
        let answer = client
            .call(
                "SendMessageBatch",
                json!({ "QueueUrl": queue_url, "Entries": entries }),
            )
            .await
            .unwrap();
        assert!(
            answer["Failed"].as_array().is_none_or(Vec::is_empty),
            "{answer}"
        );
    }
}

fn events(seqs: std::ops::Range<u64>) -> Vec<String> {
    seqs.map(|seq| json!({ "seq": seq, "src": "10.0.0.1" }).to_string())
        .collect()
}

struct Site {
    _dir: tempfile::TempDir,
    spool: Arc<Spool>,
    registry: Registry,
    inputs: SqsInputs,
}

impl Site {
    fn new(spool_bytes: u64) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let spool = Arc::new(Spool::open(dir.path(), spool_bytes, registry.clone()).unwrap());
        let inputs = SqsInputs::new(SqsRuntime {
            spool: spool.clone(),
            compression: IpcCompression::None,
            registry: registry.clone(),
            batching: StreamBatching {
                max_rows: 100,
                max_bytes: 1 << 20,
                max_age: Duration::from_millis(100),
                testing_max_age: Duration::from_millis(100),
            },
            http: reqwest::Client::new(),
        });
        Site {
            _dir: dir,
            spool,
            registry,
            inputs,
        }
    }

    async fn start(&mut self, queue_url: String) {
        let settings = SqsSourceSettings {
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            wait_time_secs: 1,
            ..serde_json::from_value(json!({ "queue_url": queue_url })).unwrap()
        };
        let dataset = SqsDataset {
            tenant_id: "t".into(),
            dataset_id: "queue".into(),
            listen: settings.label(),
            settings,
            testing: false,
        };
        self.inputs.reconcile(std::slice::from_ref(&dataset)).await;
    }

    /// Every event in the spool, taking the batches out.
    fn drain_events(&self) -> Vec<String> {
        let mut events = Vec::new();
        while let Some(batch) = self.spool.take_next() {
            assert!(batch.promised, "an sqs input's batches are promised");
            events.extend(read_events(&batch.path));
            self.spool.acknowledged(&batch);
        }
        events
    }
}

fn read_events(path: &Path) -> Vec<String> {
    let (_, batches) = decode_ipc(&std::fs::read(path).unwrap()).unwrap();
    batches
        .iter()
        .flat_map(|batch| {
            let json = batch.column_by_name("json").unwrap().as_string::<i32>();
            assert_eq!(json.null_count(), 0, "every event here is JSON");
            json.iter()
                .map(|v| v.unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn sequences(events: &[String]) -> Vec<u64> {
    let mut seqs: Vec<u64> = events
        .iter()
        .map(|event| {
            let value: serde_json::Value = serde_json::from_str(event).unwrap();
            value["seq"].as_u64().unwrap()
        })
        .collect();
    seqs.sort_unstable();
    seqs
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_deleted_once_durable_and_bad_bodies_dropped_counted() {
    let moto = Moto::start();
    let queue = moto.create_queue("events").await;
    let url = moto.queue_url("events");
    let mut bodies = events(0..300);
    bodies.push("{\"seq\": broken".into());
    send(&queue, &url, &bodies).await;
    let mut site = Site::new(1 << 30);
    site.start(url).await;
    let mut seen = Vec::new();
    wait_until("300 events are in the spool", async || {
        seen.extend(site.drain_events());
        seen.len() >= 300
    })
    .await;
    wait_until("the queue is empty", async || {
        queue.counts().await.unwrap() == (0, 0)
    })
    .await;
    site.inputs.stop().await;
    seen.extend(site.drain_events());
    assert_eq!(sequences(&seen), (0..300).collect::<Vec<_>>());
    assert_eq!(
        site.registry.counter_total(PROXY_SQS_MESSAGES_TOTAL.name),
        301
    );
    assert_eq!(
        site.registry.counter_total(PROXY_ROWS_DROPPED_TOTAL.name),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_leaves_the_backlog_in_the_queue() {
    let moto = Moto::start();
    let queue = moto.create_queue("backlog").await;
    let url = moto.queue_url("backlog");
    send(&queue, &url, &events(0..50)).await;
    // A spool of 1 MiB, held over its high-water mark by a batch waiting to ship.
    let mut site = Site::new(1 << 20);
    site.spool
        .write_promised_blocking("t", "other", 1, &vec![0u8; 950 << 10])
        .unwrap();
    site.start(url).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(site.registry.counter_total(PROXY_SQS_WAITING.name), 1);
    assert_eq!(
        site.registry.counter_total(PROXY_SQS_MESSAGES_TOTAL.name),
        0
    );
    assert_eq!(queue.counts().await.unwrap(), (50, 0));
    let waiting = site.spool.take_next().unwrap();
    site.spool.acknowledged(&waiting);
    let mut seen = Vec::new();
    wait_until("the backlog is in the spool", async || {
        seen.extend(site.drain_events());
        seen.len() >= 50
    })
    .await;
    wait_until("the queue is empty", async || {
        queue.counts().await.unwrap() == (0, 0)
    })
    .await;
    site.inputs.stop().await;
    seen.extend(site.drain_events());
    assert_eq!(sequences(&seen), (0..50).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_another_receiver_did_not_delete_come_back_once_and_are_counted() {
    let moto = Moto::start();
    let queue = moto.create_queue("again").await;
    let url = moto.queue_url("again");
    send(&queue, &url, &events(0..10)).await;
    // A receiver that dies before deleting: the messages come back after 1 s.
    let taken = queue
        .receive(10, Duration::ZERO, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(taken.len(), 10);
    let mut site = Site::new(1 << 30);
    site.start(url).await;
    let mut seen = Vec::new();
    wait_until("the 10 events are in the spool", async || {
        seen.extend(site.drain_events());
        seen.len() >= 10
    })
    .await;
    site.inputs.stop().await;
    seen.extend(site.drain_events());
    assert_eq!(sequences(&seen), (0..10).collect::<Vec<_>>());
    assert_eq!(
        site.registry
            .counter_total(PROXY_SQS_REDELIVERED_TOTAL.name),
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_is_counted_and_received_from_once_it_exists() {
    let moto = Moto::start();
    let url = moto.queue_url("later");
    let mut site = Site::new(1 << 30);
    site.start(url.clone()).await;
    wait_until("the missing queue is counted", async || {
        site.registry.counter_total(PROXY_INPUT_ERRORS_TOTAL.name) >= 1
    })
    .await;
    assert_eq!(site.registry.counter_total(PROXY_INPUT_UP.name), 0);
    let queue = moto.create_queue("later").await;
    send(&queue, &url, &events(0..3)).await;
    let mut seen = Vec::new();
    wait_until("the events arrive once the queue exists", async || {
        seen.extend(site.drain_events());
        seen.len() >= 3
    })
    .await;
    assert_eq!(site.registry.counter_total(PROXY_INPUT_UP.name), 1);
    site.inputs.stop().await;
    assert_eq!(sequences(&seen), vec![0, 1, 2]);
}
