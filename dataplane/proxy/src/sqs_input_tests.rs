//! The sqs input against moto's SQS server (`pip install 'moto[server]'`, done by `cargo xtask
//! test`) and a real spool: messages deleted only once their events are durable, bad bodies
//! dropped and counted, a full spool leaving the backlog in the queue, messages handed out
//! before coming back and counted, and a missing queue retried until it exists.

use std::time::Duration;

use bytefreezer_api::SqsSourceSettings;
use bytefreezer_api::metrics::{
    PROXY_INPUT_ERRORS_TOTAL, PROXY_INPUT_UP, PROXY_ROWS_DROPPED_TOTAL, PROXY_SQS_MESSAGES_TOTAL,
    PROXY_SQS_OBJECTS_TOTAL, PROXY_SQS_REDELIVERED_TOTAL, PROXY_SQS_WAITING,
};
use serde_json::json;

use super::*;
use crate::input_test_support::{TestSpool, sequences, wait_until};

#[path = "../../storage/tests/support/moto.rs"]
mod moto;
use moto::Moto;

fn queue_url(moto: &Moto, name: &str) -> String {
    format!("{}/123456789012/{name}", moto.endpoint)
}

/// A client of queue `name`, created on moto.
async fn create_queue(moto: &Moto, name: &str) -> SqsClient {
    let client = SqsClient::new(
        reqwest::Client::new(),
        &queue_url(moto, name),
        "us-east-1",
        Credentials {
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            session_token: None,
        },
    )
    .unwrap();
    let answer = client
        .call("CreateQueue", json!({ "QueueName": name }))
        .await
        .unwrap();
    assert_eq!(answer["QueueUrl"], json!(queue_url(moto, name)));
    client
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
    test: TestSpool,
    inputs: SqsInputs,
}

impl Site {
    fn new(spool_bytes: u64) -> Site {
        let test = TestSpool::new(spool_bytes);
        let inputs = sqs_inputs(SqsRuntime {
            input: test.runtime(100),
            http: reqwest::Client::new(),
        });
        Site { test, inputs }
    }

    async fn start(&mut self, queue_url: String) {
        // One receiver: moto hands a message to two concurrent receives now and then (SQS
        // standard queues may too, at least once), and these tests count exact copies; the
        // end-to-end test runs several receivers and checks at least once.
        let settings = SqsSourceSettings {
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            wait_time_secs: 1,
            receivers: 1,
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

    fn drain_events(&self) -> Vec<String> {
        self.test.drain_events()
    }

    /// The events in the spool once at least `at_least` arrived and the queue holds no message,
    /// visible or in flight, the input stopped.
    async fn gather_until_queue_empty(
        &mut self,
        queue: &SqsClient,
        at_least: usize,
    ) -> Vec<String> {
        let mut seen = Vec::new();
        wait_until("the events are in the spool", async || {
            seen.extend(self.drain_events());
            seen.len() >= at_least
        })
        .await;
        wait_until("every message is deleted", async || {
            queue.counts().await.unwrap() == (0, 0)
        })
        .await;
        self.inputs.stop().await;
        seen.extend(self.drain_events());
        seen
    }

    fn metric(&self, name: &str) -> u64 {
        self.test.registry.counter_total(name)
    }
}

/// The sorted `seq` of the events.
fn sorted(events: &[String]) -> Vec<u64> {
    let mut seqs = sequences(events);
    seqs.sort_unstable();
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_deleted_once_durable_and_bad_bodies_dropped_counted() {
    let moto = Moto::start();
    let queue = create_queue(&moto, "events").await;
    let url = queue_url(&moto, "events");
    let mut bodies = events(0..300);
    bodies.push("{\"seq\": broken".into());
    send(&queue, &url, &bodies).await;
    let mut site = Site::new(1 << 30);
    site.start(url).await;
    let seen = site.gather_until_queue_empty(&queue, 300).await;
    assert_eq!(sorted(&seen), (0..300).collect::<Vec<_>>());
    assert_eq!(site.metric(PROXY_SQS_MESSAGES_TOTAL.name), 301);
    assert_eq!(site.metric(PROXY_ROWS_DROPPED_TOTAL.name), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_leaves_the_backlog_in_the_queue() {
    let moto = Moto::start();
    let queue = create_queue(&moto, "backlog").await;
    let url = queue_url(&moto, "backlog");
    send(&queue, &url, &events(0..50)).await;
    // A spool of 1 MiB, held over its high-water mark by a batch waiting to ship.
    let mut site = Site::new(1 << 20);
    site.test.hold_over_high_water();
    site.start(url).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(site.metric(PROXY_SQS_WAITING.name), 1);
    assert_eq!(site.metric(PROXY_SQS_MESSAGES_TOTAL.name), 0);
    assert_eq!(queue.counts().await.unwrap(), (50, 0));
    site.test.ship_held();
    let seen = site.gather_until_queue_empty(&queue, 50).await;
    assert_eq!(sorted(&seen), (0..50).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_another_receiver_did_not_delete_come_back_once_and_are_counted() {
    let moto = Moto::start();
    let queue = create_queue(&moto, "again").await;
    let url = queue_url(&moto, "again");
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
    assert_eq!(sorted(&seen), (0..10).collect::<Vec<_>>());
    assert_eq!(site.metric(PROXY_SQS_REDELIVERED_TOTAL.name), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_is_counted_and_received_from_once_it_exists() {
    let moto = Moto::start();
    let url = queue_url(&moto, "later");
    let mut site = Site::new(1 << 30);
    site.start(url.clone()).await;
    wait_until("the missing queue is counted", async || {
        site.metric(PROXY_INPUT_ERRORS_TOTAL.name) >= 1
    })
    .await;
    assert_eq!(site.metric(PROXY_INPUT_UP.name), 0);
    let queue = create_queue(&moto, "later").await;
    send(&queue, &url, &events(0..3)).await;
    let mut seen = Vec::new();
    wait_until("the events arrive once the queue exists", async || {
        seen.extend(site.drain_events());
        seen.len() >= 3
    })
    .await;
    assert_eq!(site.metric(PROXY_INPUT_UP.name), 1);
    site.inputs.stop().await;
    assert_eq!(sorted(&seen), vec![0, 1, 2]);
}

/// An object stored on moto with a plain S3 `PUT` (moto does not check signatures).
async fn put_object(moto: &Moto, bucket: &str, url_path: &str, body: Vec<u8>) {
    let response = reqwest::Client::new()
        .put(format!("{}/{bucket}/{url_path}", moto.endpoint))
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

fn s3_event(bucket: &str, encoded_keys: &[&str]) -> String {
    let records: Vec<_> = encoded_keys
        .iter()
        .map(|key| {
            json!({
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": { "bucket": { "name": bucket }, "object": { "key": key, "size": 1 } },
            })
        })
        .collect();
    json!({ "Records": records }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_event_notifications_bring_in_the_objects_they_name() {
    use std::io::Write;
    let moto = Moto::start();
    moto.create_buckets(&["logs"]);
    let queue = create_queue(&moto, "s3-events").await;
    let url = queue_url(&moto, "s3-events");
    // An NDJSON object whose key has a space, a gzip one, and one deleted before it is read.
    let ndjson: String = events(0..5).iter().map(|e| format!("{e}\n")).collect();
    put_object(&moto, "logs", "alb/a%20b.ndjson", ndjson.into_bytes()).await;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for event in events(5..8) {
        writeln!(gzip, "{event}").unwrap();
    }
    put_object(&moto, "logs", "alb/c.log.gz", gzip.finish().unwrap()).await;
    let bodies = vec![
        s3_event("logs", &["alb/a+b.ndjson", "alb/c.log.gz"]),
        s3_event("logs", &["alb/missing.log"]),
        json!({ "Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "logs" }).to_string(),
        "not an event".to_owned(),
    ];
    send(&queue, &url, &bodies).await;

    let mut site = Site::new(1 << 30);
    let settings = SqsSourceSettings {
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        wait_time_secs: 1,
        receivers: 1,
        s3_events: true,
        s3_endpoint: Some(moto.endpoint.clone()),
        ..serde_json::from_value(json!({ "queue_url": url })).unwrap()
    };
    site.inputs
        .reconcile(&[SqsDataset {
            tenant_id: "t".into(),
            dataset_id: "objects".into(),
            listen: settings.label(),
            settings,
            testing: false,
        }])
        .await;
    let seen = site.gather_until_queue_empty(&queue, 8).await;
    assert_eq!(sorted(&seen), (0..8).collect::<Vec<_>>());
    assert_eq!(site.metric(PROXY_SQS_MESSAGES_TOTAL.name), 4);
    // The missing object, and the message that is no event.
    let dropped_objects: i64 = site
        .test
        .registry
        .series(PROXY_SQS_OBJECTS_TOTAL.name)
        .iter()
        .filter(|(labels, _)| labels.contains(&("outcome".into(), "dropped".into())))
        .map(|(_, value)| value)
        .sum();
    assert_eq!(dropped_objects, 1);
    assert_eq!(site.metric(PROXY_ROWS_DROPPED_TOTAL.name), 1);
}
