//! The nats input against the NATS server on this machine (JetStream enabled) and a real spool:
//! core subjects shared by a queue group, a JetStream consumer acknowledged only for what is
//! durable and resumed after a stop, a full spool holding the backlog in the stream, and a
//! server that cannot be reached.

use std::time::{Duration, Instant};

use async_nats::jetstream::stream::Config as StreamConfig;
use bytefreezer_api::metrics::{
    PROXY_INPUT_ERRORS_TOTAL, PROXY_INPUT_UP, PROXY_NATS_MESSAGES_TOTAL, PROXY_NATS_WAITING,
    PROXY_ROWS_DROPPED_TOTAL,
};
use bytefreezer_api::{HttpBodyFormat, NatsMode, NatsSourceSettings};

use super::*;
use crate::input_test_support::{TestSpool, sequences, wait_until};

/// The server the tests use; `BYTEFREEZER_TEST_NATS_URL` points elsewhere.
fn nats_url() -> String {
    std::env::var("BYTEFREEZER_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

async fn test_client() -> async_nats::Client {
    let url = nats_url();
    async_nats::connect(url.as_str())
        .await
        .unwrap_or_else(|error| {
            panic!(
                "these tests need a NATS server with JetStream at {url} ({error}); start one with \
             `nats-server -js` (Debian package nats-server) or set BYTEFREEZER_TEST_NATS_URL"
            )
        })
}

/// A name no other test run uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

struct Site {
    test: TestSpool,
    inputs: NatsInputs,
}

impl Site {
    fn new(spool_bytes: u64) -> Site {
        let test = TestSpool::new(spool_bytes);
        let inputs = nats_inputs(test.runtime(1000));
        Site { test, inputs }
    }

    async fn start(&mut self, settings: NatsSourceSettings) {
        let dataset = NatsDataset {
            tenant_id: "t".into(),
            dataset_id: "events".into(),
            listen: settings.label(),
            settings,
            testing: false,
        };
        self.inputs.reconcile(std::slice::from_ref(&dataset)).await;
        let registry = &self.test.registry;
        wait_until("the input connected", async || {
            registry.counter_total(PROXY_INPUT_UP.name) == 1
        })
        .await;
    }

    fn drain_events(&self) -> Vec<String> {
        self.test.drain_events()
    }

    fn metric(&self, name: &str) -> u64 {
        self.test.registry.counter_total(name)
    }
}

fn core(subject: &str) -> NatsSourceSettings {
    NatsSourceSettings {
        url: nats_url(),
        subjects: vec![subject.to_owned()],
        ..NatsSourceSettings::default()
    }
}

fn jetstream(stream: &str, consumer: &str) -> NatsSourceSettings {
    NatsSourceSettings {
        url: nats_url(),
        mode: NatsMode::Jetstream,
        stream: Some(stream.to_owned()),
        consumer: Some(consumer.to_owned()),
        ..NatsSourceSettings::default()
    }
}

/// A stream of its own for one test, deleted when dropped.
struct TestStream {
    context: async_nats::jetstream::Context,
    name: String,
    subject: String,
}

impl TestStream {
    async fn create() -> TestStream {
        let context = async_nats::jetstream::new(test_client().await);
        let name = unique("BFTEST_");
        let subject = format!("bftest.{name}");
        context
            .create_stream(StreamConfig {
                name: name.clone(),
                subjects: vec![format!("{subject}.>")],
                ..Default::default()
            })
            .await
            .expect("create a JetStream stream (is JetStream enabled: nats-server -js?)");
        TestStream {
            context,
            name,
            subject,
        }
    }

    async fn publish(&self, seqs: std::ops::Range<u64>) {
        for seq in seqs {
            let body = format!("{{\"seq\":{seq},\"host\":\"h{}\"}}", seq % 7);
            self.context
                .publish(format!("{}.events", self.subject), body.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }

    async fn consumer_info(&self, consumer: &str) -> async_nats::jetstream::consumer::Info {
        let stream = self.context.get_stream(&self.name).await.unwrap();
        stream.consumer_info(consumer).await.unwrap()
    }

    async fn delete(self) {
        let _ = self.context.delete_stream(&self.name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_subjects_in_a_queue_group_deliver_each_event_once_and_drop_bad_bodies_counted() {
    let subject = unique("bftest.core.");
    let settings = NatsSourceSettings {
        queue_group: Some("proxies".into()),
        format: HttpBodyFormat::Auto,
        ..core(&format!("{subject}.>"))
    };
    let (mut first, mut second) = (Site::new(1 << 30), Site::new(1 << 30));
    first.start(settings.clone()).await;
    second.start(settings).await;
    let client = test_client().await;
    const MESSAGES: u64 = 1000;
    for seq in 0..MESSAGES {
        // Two NDJSON events per message.
        let body = format!("{{\"seq\":{}}}\n{{\"seq\":{}}}\n", 2 * seq, 2 * seq + 1);
        client
            .publish(format!("{subject}.a"), body.into())
            .await
            .unwrap();
    }
    client
        .publish(format!("{subject}.a"), "{\"seq\": broken".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let mut events = Vec::new();
    wait_until("every event arrived", async || {
        events.extend(first.drain_events());
        events.extend(second.drain_events());
        events.len() as u64 >= 2 * MESSAGES
    })
    .await;
    wait_until("the bad body was counted", async || {
        first.metric(PROXY_ROWS_DROPPED_TOTAL.name) + second.metric(PROXY_ROWS_DROPPED_TOTAL.name)
            == 1
    })
    .await;
    first.inputs.stop().await;
    second.inputs.stop().await;
    events.extend(first.drain_events());
    events.extend(second.drain_events());
    let mut seen = sequences(&events);
    seen.sort_unstable();
    assert_eq!(seen, (0..2 * MESSAGES).collect::<Vec<_>>());
    let (by_first, by_second) = (
        first.metric(PROXY_NATS_MESSAGES_TOTAL.name),
        second.metric(PROXY_NATS_MESSAGES_TOTAL.name),
    );
    assert_eq!(
        by_first + by_second,
        MESSAGES + 1,
        "each message went to one proxy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_acknowledges_what_is_durable_and_resumes_after_a_stop() {
    let stream = TestStream::create().await;
    stream.publish(0..500).await;
    let mut site = Site::new(1 << 30);
    site.start(jetstream(&stream.name, "bf")).await;
    let mut events = Vec::new();
    wait_until("the backlog arrived", async || {
        events.extend(site.drain_events());
        events.len() >= 500
    })
    .await;
    // Every message acknowledged once its batch was durable.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = stream.consumer_info("bf").await;
        if info.ack_floor.stream_sequence == 500 && info.num_ack_pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged: {:?}",
            info.ack_floor
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Stopped, the proxy takes nothing; started again, it resumes where it acknowledged.
    site.inputs.stop().await;
    events.extend(site.drain_events());
    stream.publish(500..800).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(site.drain_events().is_empty());
    site.start(jetstream(&stream.name, "bf")).await;
    wait_until("the messages published while stopped arrived", async || {
        events.extend(site.drain_events());
        events.len() >= 800
    })
    .await;
    site.inputs.stop().await;
    events.extend(site.drain_events());
    assert_eq!(sequences(&events), (0..800).collect::<Vec<_>>());
    stream.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_keeps_the_backlog_while_the_spool_is_full() {
    let stream = TestStream::create().await;
    stream.publish(0..200).await;
    // A spool of 1 MiB, held over its high-water mark by a batch waiting to ship.
    let mut site = Site::new(1 << 20);
    site.test.hold_over_high_water();
    site.start(jetstream(&stream.name, "bf")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(site.metric(PROXY_NATS_WAITING.name), 1);
    assert_eq!(site.metric(PROXY_NATS_MESSAGES_TOTAL.name), 0);
    assert_eq!(
        stream.consumer_info("bf").await.ack_floor.stream_sequence,
        0
    );
    // The waiting batch ships: the backlog comes, each event once.
    site.test.ship_held();
    let mut events = Vec::new();
    wait_until("the backlog arrived", async || {
        events.extend(site.drain_events());
        events.len() >= 200
    })
    .await;
    site.inputs.stop().await;
    events.extend(site.drain_events());
    assert_eq!(sequences(&events), (0..200).collect::<Vec<_>>());
    assert_eq!(site.metric(PROXY_NATS_WAITING.name), 0);
    stream.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_stream_or_unreachable_server_is_counted_and_retried_without_stopping_others() {
    let mut site = Site::new(1 << 30);
    let missing = NatsDataset {
        tenant_id: "t".into(),
        dataset_id: "missing".into(),
        listen: "nats://127.0.0.1:4222/NO_SUCH_STREAM/bf".into(),
        settings: jetstream(&unique("NO_SUCH_"), "bf"),
        testing: false,
    };
    let unreachable = NatsDataset {
        dataset_id: "unreachable".into(),
        listen: "nats://127.0.0.1:9/x".into(),
        settings: NatsSourceSettings {
            url: "nats://127.0.0.1:9".into(),
            ..core("x")
        },
        ..missing.clone()
    };
    let subject = unique("bftest.alive.");
    let alive = NatsDataset {
        dataset_id: "alive".into(),
        listen: format!("nats://127.0.0.1:4222/{subject}"),
        settings: core(&subject),
        ..missing.clone()
    };
    site.inputs.reconcile(&[missing, unreachable, alive]).await;
    wait_until("both failures were counted", async || {
        site.metric(PROXY_INPUT_ERRORS_TOTAL.name) >= 2
    })
    .await;
    wait_until("the good dataset connected", async || {
        site.metric(PROXY_INPUT_UP.name) == 1
    })
    .await;
    let client = test_client().await;
    client
        .publish(subject.clone(), "plain text line".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let mut events = Vec::new();
    wait_until("the good dataset's event arrived", async || {
        events.extend(site.drain_events());
        !events.is_empty()
    })
    .await;
    assert_eq!(events, ["plain text line"]);
    site.inputs.stop().await;
}
