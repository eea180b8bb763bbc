//! The `sqs` input: `receivers` long polls of an SQS queue feed one batch per dataset; each
//! message's body is split into events as an `http` body is, the batch is written to the spool
//! as a promised batch, and only then are its messages deleted from the queue.
//!
//! A message not deleted comes back after its visibility timeout, so a stopped or crashed proxy
//! loses nothing; a crash between the spool write and the deletes stores those messages twice
//! (at least once, docs/inputs.md). While a spool write is slow, the batch's messages stay
//! hidden (their visibility is extended); when it fails they are made visible again shortly.
//! While the spool is at its high-water mark no receive is made, so the backlog stays in SQS.

use std::sync::Arc;
use std::time::Duration;

use bytefreezer_api::SqsSourceSettings;
use bytefreezer_api::metrics::{
    PROXY_SQS_DELETE_FAILURES_TOTAL, PROXY_SQS_MESSAGES_TOTAL, PROXY_SQS_REDELIVERED_TOTAL,
    PROXY_SQS_WAITING,
};
use bytefreezer_telemetry::{Counter, Shutdown};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::dataset_tasks::{DatasetInputs, InputDataset};
use crate::event_batch::{EventBatch, QueueCounters, QueueMetrics, wait_for_room};
use crate::promised_write::{InputRuntime, WRITE_RETRY};
use crate::sqs_client::{Credentials, SqsClient};
use crate::sqs_objects::{
    Content, ObjectCounters, ObjectReader, Received, S3Access, parts, read_objects,
};

/// After a failed receive, the first wait before the next; doubled up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// How often a failed delete is tried again before the messages are left to come back.
const DELETE_TRIES: u32 = 3;
/// With short polling (`wait_time_secs` 0), the pause after a receive that found nothing, so an
/// empty queue is not asked in a tight loop.
const SHORT_POLL_PAUSE: Duration = Duration::from_millis(200);

/// One `sqs` dataset.
pub type SqsDataset = InputDataset<SqsSourceSettings>;

/// What every sqs input shares: the other inputs' runtime, and an HTTP client whose timeout
/// outlasts a long poll.
pub struct SqsRuntime {
    pub input: InputRuntime,
    pub http: reqwest::Client,
}

/// Every running sqs input, by dataset.
pub type SqsInputs = DatasetInputs<SqsSourceSettings, SqsRuntime>;

/// The sqs inputs; when `stop` returns, what they received is in the spool (and deleted from
/// the queue, or left to come back).
pub fn sqs_inputs(runtime: SqsRuntime) -> SqsInputs {
    DatasetInputs::new(runtime, |dataset, runtime, stopped| {
        Box::pin(run_input(dataset, runtime, stopped))
    })
}

const METRICS: QueueMetrics = QueueMetrics {
    messages: PROXY_SQS_MESSAGES_TOTAL,
    redelivered: PROXY_SQS_REDELIVERED_TOTAL,
    waiting: PROXY_SQS_WAITING,
};

async fn run_input(dataset: SqsDataset, runtime: Arc<SqsRuntime>, stopped: Shutdown) {
    let registry = &runtime.input.registry;
    let counters = QueueCounters::new(registry, &dataset, METRICS);
    let delete_failures = registry.counter(
        PROXY_SQS_DELETE_FAILURES_TOTAL.name,
        PROXY_SQS_DELETE_FAILURES_TOTAL.help,
        &dataset.labels(),
    );
    let (client, objects) = match clients(&dataset, &runtime.http) {
        Ok(clients) => clients,
        Err(error) => {
            // Settings or credentials: nothing changes until the configuration does.
            counters.up.set(0);
            counters.errors.increment(1);
            tracing::error!("{}: {error}", dataset.name());
            let mut stopped = stopped;
            stopped.wait().await;
            QueueCounters::forget(registry, &dataset, METRICS);
            return;
        }
    };
    tracing::info!("{}: receiving from SQS", dataset.name());
    let receivers = dataset.settings.receivers.clamp(1, 64) as usize;
    // One receive waiting per receiver at most: what waits here is not yet in a batch, so its
    // visibility is not extended, and with s3_events it holds whole objects.
    let (to_batcher, from_receivers) = mpsc::channel(receivers);
    let mut tasks = JoinSet::new();
    for _ in 0..receivers {
        tasks.spawn(receive_loop(
            client.clone(),
            objects.clone(),
            dataset.clone(),
            runtime.clone(),
            counters.clone(),
            to_batcher.clone(),
            stopped.clone(),
        ));
    }
    drop(to_batcher);
    // The batcher ends once every receiver stopped and handed over what it received.
    let deleter = MessageDeleter {
        client: &client,
        counters: &counters,
        failures: &delete_failures,
    };
    batch_loop(from_receivers, &deleter, &dataset, &runtime.input).await;
    while tasks.join_next().await.is_some() {}
    QueueCounters::forget(registry, &dataset, METRICS);
    tracing::info!("{}: stopped receiving from SQS", dataset.name());
}

/// Deletes messages whose events are durable, counting and logging what SQS refused.
struct MessageDeleter<'a> {
    client: &'a SqsClient,
    counters: &'a QueueCounters,
    failures: &'a Counter,
}

/// The queue's client and, with `s3_events`, the reader of the objects its messages name.
fn clients(
    dataset: &SqsDataset,
    http: &reqwest::Client,
) -> Result<(SqsClient, Option<Arc<ObjectReader>>), String> {
    let settings = &dataset.settings;
    // A dataset from a configuration file was not validated by the control plane.
    settings
        .validate()
        .map_err(|(field, reason)| format!("{field} {reason}"))?;
    let credentials = Credentials::given_or_from_env(
        settings.access_key_id.as_deref(),
        settings.secret_access_key.as_deref(),
        settings.session_token.as_deref(),
    )?;
    let objects = settings.s3_events.then(|| {
        Arc::new(ObjectReader::new(S3Access {
            region: settings.region.clone(),
            endpoint: settings.s3_endpoint.clone(),
            access_key_id: credentials.access_key_id.clone(),
            secret_access_key: credentials.secret_access_key.clone(),
            session_token: credentials.session_token.clone(),
            max_object_bytes: settings.max_object_bytes,
        }))
    });
    let client = SqsClient::new(
        http.clone(),
        settings.queue_url.trim(),
        &settings.region,
        credentials,
    )?;
    Ok((client, objects))
}

/// Receives while the spool has room and hands each non-empty receive to the batcher; failed
/// receives are counted and tried again with a growing pause.
async fn receive_loop(
    client: SqsClient,
    objects: Option<Arc<ObjectReader>>,
    dataset: SqsDataset,
    runtime: Arc<SqsRuntime>,
    counters: QueueCounters,
    to_batcher: mpsc::Sender<Vec<Received>>,
    mut stopped: Shutdown,
) {
    let settings = &dataset.settings;
    let object_counters = ObjectCounters::new(&runtime.input.registry, &dataset);
    let visibility = Duration::from_secs(settings.visibility_timeout_secs);
    let wait = Duration::from_secs(settings.wait_time_secs);
    let mut retry = RETRY_FIRST;
    let mut last_error = String::new();
    loop {
        if !wait_for_room(&runtime.input.spool, &counters.waiting, &stopped).await {
            return;
        }
        let receive = client.receive(settings.max_messages, wait, visibility);
        // Stopping abandons a receive in flight: what SQS handed out meanwhile comes back
        // after the visibility timeout.
        let answer = tokio::select! {
            answer = receive => answer,
            _ = stopped.wait() => return,
        };
        match answer {
            Ok(messages) => {
                counters.up.set(1);
                retry = RETRY_FIRST;
                last_error.clear();
                if messages.is_empty() {
                    if wait.is_zero() {
                        tokio::select! {
                            _ = tokio::time::sleep(SHORT_POLL_PAUSE) => {}
                            _ = stopped.wait() => return,
                        }
                    }
                    continue;
                }
                let messages = match &objects {
                    // Stopping abandons the reads: the messages come back after their
                    // visibility timeout.
                    Some(reader) => tokio::select! {
                        read = read_objects(messages, reader, &object_counters) => read,
                        _ = stopped.wait() => return,
                    },
                    None => messages
                        .into_iter()
                        .map(|message| Received {
                            message,
                            content: Content::Body,
                        })
                        .collect(),
                };
                // The batcher runs until every receiver is gone: this only waits for room.
                if to_batcher.send(messages).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                counters.up.set(0);
                counters.errors.increment(1);
                let text = error.to_string();
                // Logged when it changes, and when it is one another try cannot mend.
                if text != last_error || error.is_permanent() {
                    tracing::error!(
                        "{}: cannot receive: {text}; trying again in {}s",
                        counters.name,
                        retry.as_secs()
                    );
                    last_error = text;
                }
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = stopped.wait() => return,
                }
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Gathers received messages' events into one batch and stores it by rows, bytes or age.
async fn batch_loop(
    mut from_receivers: mpsc::Receiver<Vec<Received>>,
    deleter: &MessageDeleter<'_>,
    dataset: &SqsDataset,
    runtime: &InputRuntime,
) {
    let visibility = Duration::from_secs(dataset.settings.visibility_timeout_secs);
    // Written well within the visibility timeout, or SQS would hand the messages out again.
    let max_age = runtime
        .batching
        .max_age(dataset.testing)
        .min(visibility / 3);
    let mut batching = Batching {
        batch: EventBatch::new(),
        receipts: Vec::new(),
        deleter,
        dataset,
        runtime,
    };
    loop {
        let due = batching.batch.due(max_age);
        let received = tokio::select! {
            received = from_receivers.recv() => Some(received),
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => None,
        };
        match received {
            Some(Some(messages)) => {
                batching.take(messages).await;
                if !batching.batch.full(&runtime.batching) {
                    continue;
                }
                batching.store().await;
            }
            // Every receiver stopped: what they handed over is stored before the input ends.
            Some(None) => {
                batching.store().await;
                return;
            }
            None => batching.store().await,
        }
    }
}

/// The batch being gathered, and the messages to delete once it is durable.
struct Batching<'a> {
    batch: EventBatch,
    receipts: Vec<String>,
    deleter: &'a MessageDeleter<'a>,
    dataset: &'a SqsDataset,
    runtime: &'a InputRuntime,
}

impl Batching<'_> {
    /// Takes the messages' events; deletes at once those that bring none.
    async fn take(&mut self, messages: Vec<Received>) {
        let counters = self.deleter.counters;
        let format = self.dataset.settings.format;
        let mut bad = Vec::new();
        for Received { message, content } in messages {
            counters.messages.increment(1);
            if message.receive_count() > 1 {
                counters.redelivered.increment(1);
            }
            let id = format!("message {}", message.message_id);
            match content {
                Content::Body => {
                    let body = message.body.as_bytes();
                    if self.batch.take_message(body, format, counters, &id) {
                        self.receipts.push(message.receipt_handle);
                    } else {
                        bad.push(message.receipt_handle);
                    }
                }
                Content::Objects(objects) => {
                    // In parts, so one large object does not make one batch larger than a
                    // receiver takes; the message is deleted with its last part.
                    let part_bytes = self.runtime.batching.max_bytes / 2;
                    for (name, content) in &objects {
                        for part in parts(content, format, part_bytes) {
                            self.batch.take_message(part, format, counters, name);
                            if self.batch.full(&self.runtime.batching) {
                                self.store().await;
                            }
                        }
                    }
                    self.receipts.push(message.receipt_handle);
                }
                Content::NotAnEvent(reason) => {
                    counters.invalid.increment(1);
                    tracing::warn!(
                        "{}: {id} is dropped: not an S3 event notification: {reason}",
                        counters.name
                    );
                    bad.push(message.receipt_handle);
                }
                Content::Later(reason) => {
                    counters.errors.increment(1);
                    tracing::warn!(
                        "{}: {id} comes back after its visibility timeout: {reason}",
                        counters.name
                    );
                }
            }
        }
        // Received again, a bad message would fail the same way; one that brought no events
        // (S3's test event) has nothing to wait for.
        if self.batch.rows() == 0 {
            bad.append(&mut self.receipts);
        }
        if !bad.is_empty() {
            self.deleter.delete(&bad).await;
        }
    }

    async fn store(&mut self) {
        let receipts = std::mem::take(&mut self.receipts);
        store_and_delete(
            &mut self.batch,
            receipts,
            self.deleter,
            self.dataset,
            self.runtime,
        )
        .await;
    }
}

/// Writes the batch as one promised spool batch, extending its messages' visibility while the
/// write is slow, then deletes them; when the write fails they are made visible again soon.
async fn store_and_delete(
    batch: &mut EventBatch,
    receipts: Vec<String>,
    deleter: &MessageDeleter<'_>,
    dataset: &SqsDataset,
    runtime: &InputRuntime,
) {
    let Some(events) = batch.flush() else {
        deleter.delete(&receipts).await;
        return;
    };
    let client = deleter.client;
    let name = &deleter.counters.name;
    let target = runtime.target(&dataset.tenant_id, &dataset.dataset_id, "events");
    let Some(encoded) = target.encode(&events) else {
        // Counted lost by encode; receiving them again cannot help.
        deleter.delete(&receipts).await;
        return;
    };
    let visibility = Duration::from_secs(dataset.settings.visibility_timeout_secs);
    let write = target.write_once(&encoded, events.num_rows());
    tokio::pin!(write);
    let mut extend = tokio::time::interval_at(Instant::now() + visibility / 2, visibility / 2);
    let written = loop {
        tokio::select! {
            written = &mut write => break written,
            _ = extend.tick() => {
                // Not extended, a message may be received again meanwhile: a duplicate.
                match client.change_visibility(&receipts, visibility).await {
                    Ok(refused) if refused.is_empty() => {}
                    Ok(refused) => tracing::warn!(
                        "{name}: SQS did not extend the visibility of {} of {} messages while \
                         the spool write is slow: {}",
                        refused.len(),
                        receipts.len(),
                        refused[0].1
                    ),
                    Err(error) => tracing::warn!(
                        "{name}: cannot extend the visibility of {} messages while the spool \
                         write is slow: {error}",
                        receipts.len()
                    ),
                }
            }
        }
    };
    match written {
        Ok(()) => deleter.delete(&receipts).await,
        Err(error) => {
            tracing::error!(
                "{name}: cannot store {} events in the spool; their {} messages will be \
                 received again: {error:#}",
                events.num_rows(),
                receipts.len()
            );
            if let Err(error) = client.change_visibility(&receipts, WRITE_RETRY).await {
                tracing::warn!(
                    "{name}: cannot release the messages; they come back after the visibility \
                     timeout: {error}"
                );
            }
            tokio::time::sleep(WRITE_RETRY).await;
        }
    }
}

impl MessageDeleter<'_> {
    /// Deletes messages, trying failed calls again a few times; what stays undeleted comes
    /// back after its visibility timeout (a duplicate, never a loss) and is counted.
    async fn delete(&self, receipts: &[String]) {
        let mut left: Vec<String> = receipts.to_vec();
        let mut reason = String::new();
        for attempt in 0..DELETE_TRIES {
            if left.is_empty() {
                return;
            }
            if attempt > 0 {
                tokio::time::sleep(RETRY_FIRST).await;
            }
            match self.client.delete(&left).await {
                Ok(failed) => {
                    if let Some((_, why)) = failed.first() {
                        reason.clone_from(why);
                    }
                    left = failed.into_iter().map(|(receipt, _)| receipt).collect();
                }
                Err(error) => reason = error.to_string(),
            }
        }
        if !left.is_empty() {
            self.failures.increment(left.len() as u64);
            // A receipt SQS refuses belongs to a receive whose visibility ran out (the message
            // was handed out again): the stored copy stays, the next receive stores it again.
            tracing::warn!(
                "{}: {} stored messages could not be deleted and will be received again: {reason}",
                self.counters.name,
                left.len(),
            );
        }
    }
}

#[cfg(test)]
#[path = "sqs_input_tests.rs"]
mod tests;
