//! The kafka input against a real broker (tansu) and a real spool: a group reads every
//! partition and commits only what is durable, so a stopped input resumes exactly where its
//! batches ended; a full spool pauses the partitions while the topic keeps the backlog; a bad
//! message is counted and passed; a broker that cannot be reached does not stop another dataset;
//! two proxies in a group share the partitions and hand them over when one leaves.

use std::time::Duration;

use bytefreezer_api::metrics::{
    PROXY_INPUT_UP, PROXY_KAFKA_MESSAGES_TOTAL, PROXY_KAFKA_REDELIVERED_TOTAL, PROXY_KAFKA_WAITING,
    PROXY_ROWS_DROPPED_TOTAL,
};
use bytefreezer_api::{HttpBodyFormat, KafkaSourceSettings};
use rdkafka::producer::FutureRecord;

use super::*;
use crate::input_test_support::{TestSpool, sequences, wait_until};
use crate::kafka_test_broker::TestBroker;

struct Site {
    test: TestSpool,
    inputs: KafkaInputs,
}

impl Site {
    fn new(spool_bytes: u64) -> Site {
        let test = TestSpool::new(spool_bytes);
        let inputs = kafka_inputs(test.runtime(1000));
        Site { test, inputs }
    }

    fn dataset(dataset_id: &str, settings: KafkaSourceSettings) -> KafkaDataset {
        KafkaDataset {
            tenant_id: "t".into(),
            dataset_id: dataset_id.into(),
            listen: settings.label(),
            settings,
            testing: false,
        }
    }

    /// Starts the input and waits until the group assigned it its partitions.
    async fn start(&mut self, settings: KafkaSourceSettings) {
        self.inputs
            .reconcile(&[Site::dataset("events", settings)])
            .await;
        let registry = &self.test.registry;
        wait_until("the input joined its group", async || {
            registry.counter_total(PROXY_INPUT_UP.name) == 1
        })
        .await;
    }

    fn metric(&self, name: &str) -> u64 {
        self.test.registry.counter_total(name)
    }
}

fn settings(broker: &TestBroker, topic: &str) -> KafkaSourceSettings {
    KafkaSourceSettings {
        brokers: broker.brokers.clone(),
        topics: vec![topic.to_owned()],
        group_id: "bf".into(),
        ..KafkaSourceSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_reads_every_partition_and_a_restart_goes_on_after_the_last_durable_batch() {
    let broker = TestBroker::start();
    broker.create_topic("events", 3).await;
    broker.produce_seqs("events", 0..600).await;
    let mut site = Site::new(1 << 30);
    site.start(settings(&broker, "events")).await;
    let mut events = Vec::new();
    wait_until("the backlog of three partitions arrived", async || {
        events.extend(site.test.drain_events());
        events.len() >= 600
    })
    .await;
    // Stopped, the input stores and commits what it took; the messages produced meanwhile
    // are all the restarted input reads: nothing read twice, nothing skipped.
    site.inputs.stop().await;
    events.extend(site.test.drain_events());
    broker.produce_seqs("events", 600..900).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(site.test.drain_events().is_empty());
    site.start(settings(&broker, "events")).await;
    wait_until("the messages produced while stopped arrived", async || {
        events.extend(site.test.drain_events());
        events.len() >= 900
    })
    .await;
    site.inputs.stop().await;
    events.extend(site.test.drain_events());
    let mut seen = sequences(&events);
    seen.sort_unstable();
    assert_eq!(seen, (0..900).collect::<Vec<_>>());
    assert_eq!(site.metric(PROXY_KAFKA_MESSAGES_TOTAL.name), 900);
    assert_eq!(site.metric(PROXY_KAFKA_REDELIVERED_TOTAL.name), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_pauses_the_partitions_and_the_topic_keeps_the_backlog() {
    let broker = TestBroker::start();
    broker.create_topic("events", 2).await;
    // A spool of 1 MiB, held over its high-water mark by a batch waiting to ship.
    let mut site = Site::new(1 << 20);
    site.start(settings(&broker, "events")).await;
    site.test.hold_over_high_water();
    wait_until("the input paused", async || {
        site.metric(PROXY_KAFKA_WAITING.name) == 1
    })
    .await;
    broker.produce_seqs("events", 0..300).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Paused, the partitions fetch nothing: the backlog is in the topic, not the proxy.
    assert_eq!(site.metric(PROXY_KAFKA_MESSAGES_TOTAL.name), 0);
    assert_eq!(site.test.spool.len(), 1, "only the batch holding the spool");
    site.test.ship_held();
    let mut events = Vec::new();
    wait_until("the backlog arrived", async || {
        events.extend(site.test.drain_events());
        events.len() >= 300
    })
    .await;
    site.inputs.stop().await;
    events.extend(site.test.drain_events());
    let mut seen = sequences(&events);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
    assert_eq!(site.metric(PROXY_KAFKA_WAITING.name), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_are_counted_and_passed_and_text_values_are_lines() {
    let broker = TestBroker::start();
    broker.create_topic("mixed", 1).await;
    let producer = broker.producer();
    for value in ["{\"seq\": broken", "first line\nsecond line", "{\"seq\":7}"] {
        producer
            .send(
                FutureRecord::<(), _>::to("mixed").payload(value),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(error, _)| panic!("{error}"));
    }
    // A message without a value (a tombstone) holds no events either.
    producer
        .send(
            FutureRecord::<_, ()>::to("mixed").key("k"),
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|(error, _)| panic!("{error}"));
    let mut site = Site::new(1 << 30);
    site.start(KafkaSourceSettings {
        format: HttpBodyFormat::Auto,
        ..settings(&broker, "mixed")
    })
    .await;
    let mut events = Vec::new();
    wait_until("the good values arrived", async || {
        events.extend(site.test.drain_events());
        events.len() >= 3
    })
    .await;
    assert_eq!(events, ["first line", "second line", "{\"seq\":7}"]);
    wait_until("both bad messages were counted", async || {
        site.metric(PROXY_ROWS_DROPPED_TOTAL.name) == 2
    })
    .await;
    site.inputs.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_does_not_hold_another_dataset() {
    let broker = TestBroker::start();
    broker.create_topic("alive", 1).await;
    let mut site = Site::new(1 << 30);
    let unreachable = Site::dataset(
        "unreachable",
        KafkaSourceSettings {
            brokers: "127.0.0.1:9".into(),
            ..settings(&broker, "x")
        },
    );
    let alive = Site::dataset("alive", settings(&broker, "alive"));
    site.inputs.reconcile(&[unreachable, alive]).await;
    wait_until("the reachable dataset joined its group", async || {
        site.metric(PROXY_INPUT_UP.name) == 1
    })
    .await;
    broker.produce_seqs("alive", 0..10).await;
    let mut events = Vec::new();
    wait_until("the reachable dataset's events arrived", async || {
        events.extend(site.test.drain_events());
        events.len() >= 10
    })
    .await;
    assert_eq!(sequences(&events), (0..10).collect::<Vec<_>>());
    // The other one never joined; stopping does not wait on it beyond its close deadline.
    let stopping = std::time::Instant::now();
    site.inputs.stop().await;
    assert!(stopping.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_in_a_group_share_the_partitions_and_a_leaving_one_hands_them_over() {
    let broker = TestBroker::start();
    broker.create_topic("shared", 4).await;
    let (mut first, mut second) = (Site::new(1 << 30), Site::new(1 << 30));
    first.start(settings(&broker, "shared")).await;
    second.start(settings(&broker, "shared")).await;
    broker.produce_seqs("shared", 0..1000).await;
    let mut events = Vec::new();
    wait_until("the first thousand arrived", async || {
        events.extend(first.test.drain_events());
        events.extend(second.test.drain_events());
        events.len() >= 1000
    })
    .await;
    let (by_first, by_second) = (
        first.metric(PROXY_KAFKA_MESSAGES_TOTAL.name),
        second.metric(PROXY_KAFKA_MESSAGES_TOTAL.name),
    );
    assert!(
        by_first > 0 && by_second > 0,
        "each proxy read some partitions: {by_first} and {by_second}"
    );
    // The second leaves the group (committing what it stored); the first takes its partitions
    // over from that commit.
    second.inputs.stop().await;
    events.extend(second.test.drain_events());
    broker.produce_seqs("shared", 1000..2000).await;
    wait_until(
        "the second thousand arrived through the first",
        async || {
            events.extend(first.test.drain_events());
            events.len() >= 2000
        },
    )
    .await;
    first.inputs.stop().await;
    events.extend(first.test.drain_events());
    let mut seen = sequences(&events);
    seen.sort_unstable();
    assert_eq!(seen, (0..2000).collect::<Vec<_>>(), "each message once");
}
