//! The `kafka` input: a member of a consumer group on the dataset's topics (librdkafka), each
//! message's value split into events as an `http` body is and stored as `events/1` promised
//! spool batches.
//!
//! Offsets are never committed automatically: once a batch is durable in the spool, the input
//! commits, for each partition it still owns, the offset after the last message the batch
//! holds. A proxy that stops or dies therefore loses nothing: the group goes on from the last
//! commit, and what was stored but not yet committed is read again (at least once: a crash
//! between the spool write and the commit stores those messages twice, counted as redelivered
//! when this proxy reads them). A partition taken away by a rebalance gets no commit from this
//! proxy any more: its new owner starts from the group's last commit. While the spool is at its
//! high-water mark the input pauses its partitions (the topics keep the backlog) and keeps
//! polling, so the group does not take it for dead.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use bytefreezer_api::KafkaSourceSettings;
use bytefreezer_api::metrics::{
    PROXY_KAFKA_COMMIT_FAILURES_TOTAL, PROXY_KAFKA_LAG, PROXY_KAFKA_MESSAGES_TOTAL,
    PROXY_KAFKA_REDELIVERED_TOTAL, PROXY_KAFKA_WAITING,
};
use bytefreezer_telemetry::{Counter, Gauge, Shutdown};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::time::Instant;

use crate::dataset_tasks::{DatasetInputs, InputDataset};
use crate::event_batch::{EventBatch, QueueCounters, QueueMetrics};
use crate::promised_write::InputRuntime;

/// After the consumer failed (a batch it could not store, a fatal client error), the input
/// builds a new one this much later; the group's committed offsets say where it goes on.
const RESTART_AFTER: Duration = Duration::from_secs(10);
/// How long a receive waits while nothing is pending.
const IDLE_RECEIVE: Duration = Duration::from_secs(5);
/// While the spool is at its high-water mark, how often the paused input polls the client
/// (rebalances and heartbeats' bookkeeping run in these polls).
const PAUSED_POLL: Duration = Duration::from_millis(100);
/// How long a stopping input waits for its last commit and for leaving the group.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// What librdkafka may prefetch per input, in KiB (`queued.max.messages.kbytes`): bounds the
/// client's memory at 16 MiB a dataset instead of its default 64 MiB.
const PREFETCH_KIB: &str = "16384";
/// How often librdkafka reports statistics, the consumer lag among them.
const STATISTICS_INTERVAL_MS: &str = "5000";
/// How often the client looks for topics created and partitions added (librdkafka's default
/// is five minutes: a topic created after the dataset would wait that long).
const METADATA_REFRESH_MS: &str = "30000";

/// One `kafka` dataset.
pub type KafkaDataset = InputDataset<KafkaSourceSettings>;

/// Every running kafka input, by dataset.
pub type KafkaInputs = DatasetInputs<KafkaSourceSettings, InputRuntime>;

/// The kafka inputs; when `stop` returns, what they took is in the spool and committed.
pub fn kafka_inputs(runtime: InputRuntime) -> KafkaInputs {
    DatasetInputs::new(runtime, |dataset, runtime, stopped| {
        Box::pin(run_input(dataset, runtime, stopped))
    })
}

const METRICS: QueueMetrics = QueueMetrics {
    messages: PROXY_KAFKA_MESSAGES_TOTAL,
    redelivered: PROXY_KAFKA_REDELIVERED_TOTAL,
    waiting: PROXY_KAFKA_WAITING,
};

type GroupConsumer = StreamConsumer<GroupContext>;

async fn run_input(dataset: KafkaDataset, runtime: Arc<InputRuntime>, mut stopped: Shutdown) {
    let registry = &runtime.registry;
    let counters = QueueCounters::new(registry, &dataset, METRICS);
    let labels = dataset.labels();
    let commit_failures = registry.counter(
        PROXY_KAFKA_COMMIT_FAILURES_TOTAL.name,
        PROXY_KAFKA_COMMIT_FAILURES_TOTAL.help,
        &labels,
    );
    let lag = registry.gauge(PROXY_KAFKA_LAG.name, PROXY_KAFKA_LAG.help, &labels);
    // Offsets this input has taken, by partition, over every consumer it builds: an offset
    // read again is a redelivery.
    let mut taken: HashMap<(String, i32), i64> = HashMap::new();
    loop {
        let consumed = consume(
            &dataset,
            &runtime,
            &counters,
            &commit_failures,
            &lag,
            &mut taken,
            &stopped,
        )
        .await;
        counters.up.set(0);
        match consumed {
            Ok(()) => break,
            Err(error) => {
                counters.errors.increment(1);
                tracing::error!(
                    "{}: {error:#}; reading again from the last commit in {}s",
                    counters.name,
                    RESTART_AFTER.as_secs()
                );
                tokio::select! {
                    _ = stopped.wait() => break,
                    _ = tokio::time::sleep(RESTART_AFTER) => {}
                }
            }
        }
    }
    QueueCounters::forget(registry, &dataset, METRICS);
    registry.remove(PROXY_KAFKA_LAG.name, &labels);
    tracing::info!("{}: stopped reading from Kafka", counters.name);
}

/// What the client tells the input from its own threads: rebalances, errors, statistics.
struct GroupContext {
    name: String,
    /// The partitions this member owns now; a commit names no other.
    owned: Mutex<HashSet<(String, i32)>>,
    up: Gauge,
    lag: Gauge,
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!("{}: librdkafka {facility}: {message}", self.name)
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!("{}: librdkafka {facility}: {message}", self.name)
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!("{}: librdkafka {facility}: {message}", self.name)
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!("{}: librdkafka {facility}: {message}", self.name)
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)) {
            self.up.set(0);
        }
        tracing::warn!("{}: Kafka: {error}: {reason}", self.name);
    }

    fn stats(&self, statistics: Statistics) {
        let owned = lock(&self.owned);
        let lag: i64 = statistics
            .topics
            .iter()
            .flat_map(|(topic, stats)| {
                stats
                    .partitions
                    .iter()
                    .map(move |(partition, stats)| (topic, *partition, stats.consumer_lag))
            })
            // librdkafka reports -1 where it does not know the lag yet.
            .filter(|(topic, partition, lag)| {
                *lag > 0 && owned.contains(&((*topic).clone(), *partition))
            })
            .map(|(_, _, lag)| lag)
            .sum();
        self.lag.set(lag);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let mut owned = lock(&self.owned);
            for partition in partitions.elements() {
                owned.remove(&(partition.topic().to_owned(), partition.partition()));
            }
            tracing::info!(
                "{}: {} partitions revoked, {} kept",
                self.name,
                partitions.count(),
                owned.len()
            );
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                let mut owned = lock(&self.owned);
                owned.extend(
                    partitions
                        .elements()
                        .iter()
                        .map(|partition| (partition.topic().to_owned(), partition.partition())),
                );
                self.up.set(1);
                tracing::info!(
                    "{}: reading from Kafka, {} partitions assigned",
                    self.name,
                    owned.len()
                );
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => {
                tracing::warn!("{}: rebalance failed: {error}", self.name)
            }
        }
    }
}

/// A poisoned lock only means a callback panicked; the set it guards is still whole.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn build_consumer(dataset: &KafkaDataset, context: GroupContext) -> anyhow::Result<GroupConsumer> {
    let settings = &dataset.settings;
    // A dataset from a configuration file was not validated by the control plane.
    settings
        .validate()
        .map_err(|(field, reason)| anyhow::anyhow!("{field} {reason}"))?;
    let session_ms = (settings.session_timeout_secs * 1000).to_string();
    let consumer: GroupConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", &settings.group_id)
        .set(
            "client.id",
            format!(
                "bytefreezer-proxy-{}-{}",
                dataset.tenant_id, dataset.dataset_id
            ),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", settings.start.offset_reset())
        .set("session.timeout.ms", &session_ms)
        .set("queued.max.messages.kbytes", PREFETCH_KIB)
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
        .set("topic.metadata.refresh.interval.ms", METADATA_REFRESH_MS)
        .create_with_context(context)
        .context("cannot create the Kafka consumer")?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .context("cannot subscribe to the topics")?;
    Ok(consumer)
}

/// One consumer's life: Ok once stopped (everything taken is stored and committed), an error
/// when it must be built again.
async fn consume(
    dataset: &KafkaDataset,
    runtime: &InputRuntime,
    counters: &QueueCounters,
    commit_failures: &Counter,
    lag: &Gauge,
    taken: &mut HashMap<(String, i32), i64>,
    stopped: &Shutdown,
) -> anyhow::Result<()> {
    let context = GroupContext {
        name: counters.name.clone(),
        owned: Mutex::new(HashSet::new()),
        up: counters.up.clone(),
        lag: lag.clone(),
    };
    let consumer = Arc::new(build_consumer(dataset, context)?);
    let mut reader = Reader {
        dataset,
        runtime,
        counters,
        commit_failures,
        consumer: consumer.clone(),
        pending: EventBatch::new(),
        uncommitted: HashMap::new(),
        taken,
    };
    let read = reader.read(stopped).await;
    // What was taken is stored and committed before the consumer leaves the group; a batch
    // that cannot be stored is read again by whoever owns its partitions next.
    let stored = reader.store_and_commit().await;
    drop(reader);
    close(consumer).await;
    read.and(stored)
}

struct Reader<'a> {
    dataset: &'a KafkaDataset,
    runtime: &'a InputRuntime,
    counters: &'a QueueCounters,
    commit_failures: &'a Counter,
    consumer: Arc<GroupConsumer>,
    pending: EventBatch,
    /// By partition, the offset to commit once `pending` is durable: the one after its last
    /// message.
    uncommitted: HashMap<(String, i32), i64>,
    /// By partition, the last offset the input took, over every consumer it builds: an offset
    /// read again is a redelivery.
    taken: &'a mut HashMap<(String, i32), i64>,
}

impl Reader<'_> {
    async fn read(&mut self, stopped: &Shutdown) -> anyhow::Result<()> {
        let batching = self.runtime.batching;
        let max_age = batching.max_age(self.dataset.testing);
        let mut stop = stopped.clone();
        loop {
            if self.runtime.spool.over_high_water() {
                // What was taken is stored first: it may be what the spool waits for.
                self.store_and_commit().await?;
                if !self.wait_paused(stopped).await? {
                    return Ok(());
                }
            }
            let wait = self.pending.due(max_age).map_or(IDLE_RECEIVE, |due| {
                due.saturating_duration_since(Instant::now())
            });
            let consumer = self.consumer.clone();
            tokio::select! {
                received = consumer.recv() => match received {
                    Ok(message) => self.take(&message),
                    Err(KafkaError::MessageConsumptionFatal(code)) => {
                        anyhow::bail!("the consumer failed: {code}");
                    }
                    Err(error) => {
                        self.counters.errors.increment(1);
                        tracing::warn!("{}: {error}", self.counters.name);
                    }
                },
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait() => return Ok(()),
            }
            let due = self
                .pending
                .due(max_age)
                .is_some_and(|due| due <= Instant::now());
            if self.pending.full(&batching) || due {
                self.store_and_commit().await?;
            }
        }
    }

    fn take(&mut self, message: &impl Message) {
        let partition = (message.topic().to_owned(), message.partition());
        let offset = message.offset();
        self.counters.messages.increment(1);
        match self.taken.get_mut(&partition) {
            Some(last) if offset <= *last => self.counters.redelivered.increment(1),
            Some(last) => *last = offset,
            None => {
                self.taken.insert(partition.clone(), offset);
            }
        }
        // A message without a value (a tombstone) holds no events: counted and dropped like
        // any other message without events, and committed, since reading it again cannot help.
        let value = message.payload().unwrap_or_default();
        self.pending.take_message(
            value,
            self.dataset.settings.format,
            self.counters,
            &format_args!("message {}/{}@{offset}", partition.0, partition.1),
        );
        self.uncommitted.insert(partition, offset + 1);
    }

    /// Pauses the owned partitions while the spool is at its high-water mark, polling the
    /// client meanwhile; false when the input was stopped.
    async fn wait_paused(&mut self, stopped: &Shutdown) -> anyhow::Result<bool> {
        self.counters.waiting.set(1);
        let mut stop = stopped.clone();
        let mut running = true;
        while running && self.runtime.spool.over_high_water() {
            // Partitions assigned meanwhile are paused too.
            let assignment = self
                .consumer
                .assignment()
                .context("cannot read the assignment")?;
            self.consumer
                .pause(&assignment)
                .context("cannot pause the partitions")?;
            let consumer = self.consumer.clone();
            tokio::select! {
                // Messages fetched before the pause may still come: kept like any other.
                received = consumer.recv() => {
                    if let Ok(message) = received {
                        self.take(&message);
                    }
                }
                _ = tokio::time::sleep(PAUSED_POLL) => {}
                _ = stop.wait() => running = false,
            }
        }
        let assignment = self
            .consumer
            .assignment()
            .context("cannot read the assignment")?;
        self.consumer
            .resume(&assignment)
            .context("cannot resume the partitions")?;
        self.counters.waiting.set(0);
        Ok(running)
    }

    /// Writes the pending events as one promised spool batch, then commits their offsets for
    /// the partitions this member still owns. A failed write is an error: the consumer is
    /// built again and reads from the last commit.
    async fn store_and_commit(&mut self) -> anyhow::Result<()> {
        if let Some(batch) = self.pending.flush() {
            let target =
                self.runtime
                    .target(&self.dataset.tenant_id, &self.dataset.dataset_id, "events");
            // An encoding failure is counted lost by encode: committed, since reading the
            // messages again would fail the same way.
            if let Some(encoded) = target.encode(&batch) {
                target
                    .write_once(&encoded, batch.num_rows())
                    .await
                    .with_context(|| {
                        format!(
                            "cannot store {} events in the spool; their messages will be read again",
                            batch.num_rows()
                        )
                    })?;
            }
            bytefreezer_telemetry::crash_point("proxy.kafka_stored");
        }
        if self.uncommitted.is_empty() {
            return Ok(());
        }
        let owned = lock(&self.consumer.context().owned).clone();
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in self.uncommitted.drain() {
            if owned.contains(&(topic.clone(), partition)) {
                offsets
                    .add_partition_offset(&topic, partition, Offset::Offset(next))
                    .context("cannot list an offset to commit")?;
            }
        }
        if offsets.count() == 0 {
            return Ok(());
        }
        let consumer = self.consumer.clone();
        let committed =
            tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync))
                .await
                .context("the commit task failed")?;
        if let Err(error) = committed {
            // The messages are durable: read again, they are stored twice, never lost.
            self.commit_failures.increment(1);
            tracing::warn!(
                "{}: cannot commit offsets ({error}); their messages will be read again",
                self.counters.name
            );
        }
        Ok(())
    }
}

/// Leaves the group (librdkafka's close waits for the broker): on a blocking thread, with a
/// deadline, so an unreachable broker does not hold the proxy's stop.
async fn close(consumer: Arc<GroupConsumer>) {
    let closing = tokio::task::spawn_blocking(move || drop(consumer));
    if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
        tracing::warn!(
            "a Kafka consumer did not leave its group within {}s; the group notices after its session timeout",
            CLOSE_TIMEOUT.as_secs()
        );
    }
}

#[cfg(test)]
#[path = "kafka_input_tests.rs"]
mod tests;
