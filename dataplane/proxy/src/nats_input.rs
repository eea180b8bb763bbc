//! The `nats` input: each message's body split into events as an `http` body is
//! (`split_events`) and stored as `events/1` promised spool batches.
//!
//! Core subjects have no acknowledgement: what the input took is written before it stops, and
//! a subscriber that falls behind loses messages at the server (NATS's at-most-once), counted
//! as slow-consumer events. A JetStream durable pull consumer is acknowledged message by
//! message only after the batch holding it is durable in the spool, so a stopped or crashed
//! proxy loses nothing: the server delivers again what was not acknowledged. A crash between
//! the spool write and the acknowledgements delivers those messages twice (at least once,
//! docs/inputs.md). While the spool is at its high-water mark the input stops pulling, so
//! JetStream keeps the backlog.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::jetstream::{self, AckKind, consumer::pull};
use async_nats::{Client, ConnectOptions, Event, ServerAddr};
use bytefreezer_api::metrics::{
    PROXY_NATS_MESSAGES_TOTAL, PROXY_NATS_REDELIVERED_TOTAL, PROXY_NATS_SLOW_CONSUMER_TOTAL,
    PROXY_NATS_WAITING,
};
use bytefreezer_api::{NatsDeliver, NatsMode, NatsSourceSettings};
use bytefreezer_telemetry::{Registry, Shutdown};
use futures::StreamExt;
use tokio::time::Instant;

use crate::dataset_tasks::{DatasetInputs, InputDataset};
use crate::event_batch::{EventBatch, QueueCounters, QueueMetrics, wait_for_room};
use crate::promised_write::{InputRuntime, WRITE_RETRY};

/// While the server cannot be reached, or the stream or consumer cannot be opened, the input
/// tries again this often.
const CONNECT_RETRY: Duration = Duration::from_secs(10);
/// Messages JetStream delivers per pull request at most; the batch limits still decide writes.
const PULL_BATCH: usize = 1000;
/// How long a pull request waits for messages while nothing is pending (a long poll).
const IDLE_PULL: Duration = Duration::from_secs(5);
/// The shortest a pull request waits, so a batch about to be due still gathers messages.
const MIN_PULL: Duration = Duration::from_millis(20);
/// What the first pull of an empty batch may bring: NATS's largest `max_payload` and more, so
/// a message larger than `batch_max_bytes` still comes (alone) instead of stalling the input.
const EMPTY_BATCH_PULL_BYTES: usize = 65 << 20;
/// Failed pulls in a row after which the consumer is opened again from scratch; before that
/// each is followed by a pause growing by [`PULL_RETRY_STEP`].
const PULL_FAILURES_BEFORE_REOPEN: u32 = 5;
const PULL_RETRY_STEP: Duration = Duration::from_millis(500);
/// How long a stopping input waits for its last acknowledgements and the close to reach the
/// server: while it is unreachable the client queues them forever, and a message not
/// acknowledged is delivered again (a duplicate, never a loss).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Core subscriptions: messages the client holds per subscription before it drops (and counts
/// a slow consumer); at NATS's default 1 MiB payload, a bound of 8 GiB per subject at most,
/// 8 MiB at 1 KiB messages.
const SUBSCRIPTION_CAPACITY: usize = 8192;

/// One `nats` dataset.
pub type NatsDataset = InputDataset<NatsSourceSettings>;

/// Every running nats input, by dataset.
pub type NatsInputs = DatasetInputs<NatsSourceSettings, InputRuntime>;

/// The nats inputs; when `stop` returns, what they took is in the spool (and acknowledged).
pub fn nats_inputs(runtime: InputRuntime) -> NatsInputs {
    DatasetInputs::new(runtime, |dataset, runtime, stopped| {
        Box::pin(run_input(dataset, runtime, stopped))
    })
}

const METRICS: QueueMetrics = QueueMetrics {
    messages: PROXY_NATS_MESSAGES_TOTAL,
    redelivered: PROXY_NATS_REDELIVERED_TOTAL,
    waiting: PROXY_NATS_WAITING,
};

/// How a session with the server ended.
enum Ended {
    Stopped,
    /// Lost the subscription or consumer; connect again after [`CONNECT_RETRY`].
    Failed(anyhow::Error),
}

async fn run_input(dataset: NatsDataset, runtime: Arc<InputRuntime>, mut stopped: Shutdown) {
    let registry = &runtime.registry;
    let counters = QueueCounters::new(registry, &dataset, METRICS);
    let name = counters.name.clone();
    loop {
        let ended = match connect(&dataset, &name, registry, &counters).await {
            Ok(client) => {
                tracing::info!("{name}: reading from NATS");
                let ended = match dataset.settings.mode {
                    NatsMode::Core => read_core(&client, &dataset, &runtime, &counters, &stopped)
                        .await
                        .unwrap_or_else(Ended::Failed),
                    NatsMode::Jetstream => {
                        read_jetstream(&client, &dataset, &runtime, &counters, &stopped)
                            .await
                            .unwrap_or_else(Ended::Failed)
                    }
                };
                // Acknowledgements and unsubscriptions reach the server before the close.
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, client.drain()).await;
                ended
            }
            Err(error) => Ended::Failed(error),
        };
        match ended {
            Ended::Stopped => break,
            Ended::Failed(error) => {
                counters.up.set(0);
                counters.errors.increment(1);
                tracing::error!("{error:#}; retrying in {}s", CONNECT_RETRY.as_secs());
                tokio::select! {
                    _ = stopped.wait() => break,
                    _ = tokio::time::sleep(CONNECT_RETRY) => {}
                }
            }
        }
    }
    QueueCounters::forget(registry, &dataset, METRICS);
    tracing::info!("{name}: stopped reading from NATS");
}

async fn connect(
    dataset: &NatsDataset,
    name: &str,
    registry: &Registry,
    counters: &QueueCounters,
) -> anyhow::Result<Client> {
    let settings = &dataset.settings;
    // A dataset from a configuration file was not validated by the control plane.
    settings
        .validate()
        .map_err(|(field, reason)| anyhow::anyhow!("{name}: {field} {reason}"))?;
    let servers = settings
        .url
        .split(',')
        .map(|url| url.trim().parse::<ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{name}: url is not a list of NATS server URLs"))?;
    let mut options = ConnectOptions::new()
        .name(format!(
            "bytefreezer-proxy {}/{}",
            dataset.tenant_id, dataset.dataset_id
        ))
        .connection_timeout(Duration::from_secs(10))
        .subscription_capacity(SUBSCRIPTION_CAPACITY);
    if let Some(token) = &settings.token {
        options = options.token(token.clone());
    }
    if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(file) = &settings.credentials_file {
        options = options
            .credentials_file(file)
            .await
            .with_context(|| format!("{name}: cannot read credentials_file {file}"))?;
    }
    if let Some(ca_file) = &settings.tls_ca_file {
        std::fs::metadata(ca_file)
            .with_context(|| format!("{name}: cannot read tls_ca_file {ca_file}"))?;
        options = options
            .add_root_certificates(ca_file.into())
            .require_tls(true);
    }
    let up = counters.up.clone();
    let slow_consumer = registry.counter(
        PROXY_NATS_SLOW_CONSUMER_TOTAL.name,
        PROXY_NATS_SLOW_CONSUMER_TOTAL.help,
        &dataset.labels(),
    );
    let event_name = name.to_owned();
    options = options.event_callback(move |event| {
        let (up, slow_consumer, name) = (up.clone(), slow_consumer.clone(), event_name.clone());
        async move {
            match event {
                Event::Connected => {
                    up.set(1);
                    tracing::info!("{name}: connected to NATS");
                }
                Event::Disconnected => {
                    up.set(0);
                    tracing::warn!("{name}: disconnected from NATS; reconnecting");
                }
                Event::SlowConsumer(_) => slow_consumer.increment(1),
                other => tracing::warn!("{name}: NATS: {other}"),
            }
        }
    });
    let client = options.connect(servers.as_slice()).await.with_context(|| {
        format!(
            "{name}: cannot connect to NATS at {}",
            dataset
                .listen
                .split('/')
                .take(3)
                .collect::<Vec<_>>()
                .join("/")
        )
    })?;
    counters.up.set(1);
    Ok(client)
}

async fn read_core(
    client: &Client,
    dataset: &NatsDataset,
    runtime: &InputRuntime,
    counters: &QueueCounters,
    stopped: &Shutdown,
) -> anyhow::Result<Ended> {
    let settings = &dataset.settings;
    let mut subscriptions = Vec::new();
    for subject in &settings.subjects {
        let subscription = match &settings.queue_group {
            Some(group) => client.queue_subscribe(subject.clone(), group.clone()).await,
            None => client.subscribe(subject.clone()).await,
        }
        .with_context(|| format!("cannot subscribe to {subject}"))?;
        subscriptions.push(subscription);
    }
    let mut messages = futures::stream::select_all(subscriptions);
    let target = runtime.target(&dataset.tenant_id, &dataset.dataset_id, "events");
    let mut pending = EventBatch::new();
    let max_age = runtime.batching.max_age(dataset.testing);
    let mut stop = stopped.clone();
    let ended = loop {
        // What was taken is written before waiting: a promised write is never refused.
        if runtime.spool.over_high_water()
            && let Some(batch) = pending.flush()
        {
            target.write_until_stored(&batch).await;
        }
        if !wait_for_room(&runtime.spool, &counters.waiting, stopped).await {
            break Ended::Stopped;
        }
        let due = pending.due(max_age);
        tokio::select! {
            message = messages.next() => match message {
                Some(message) => {
                    counters.messages.increment(1);
                    let format = dataset.settings.format;
                    pending.take_message(&message.payload, format, counters, &"a NATS message");
                    if !pending.full(&runtime.batching) {
                        continue;
                    }
                }
                None => break Ended::Failed(anyhow::anyhow!("the NATS subscriptions ended")),
            },
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {}
            _ = stop.wait() => break Ended::Stopped,
        }
        if let Some(batch) = pending.flush() {
            target.write_until_stored(&batch).await;
        }
    };
    // What was taken is written before the input lets go: it cannot be asked for again.
    if let Some(batch) = pending.flush() {
        target.write_until_stored(&batch).await;
    }
    Ok(ended)
}

async fn read_jetstream(
    client: &Client,
    dataset: &NatsDataset,
    runtime: &InputRuntime,
    counters: &QueueCounters,
    stopped: &Shutdown,
) -> anyhow::Result<Ended> {
    let settings = &dataset.settings;
    let (Some(stream_name), Some(consumer_name)) = (&settings.stream, &settings.consumer) else {
        bail!("mode jetstream needs stream and consumer");
    };
    let context = jetstream::new(client.clone());
    let stream = context.get_stream(stream_name).await.with_context(|| {
        format!(
            "cannot open JetStream stream {stream_name} (it must exist: create it with `nats stream add`)"
        )
    })?;
    let ack_wait = Duration::from_secs(settings.ack_wait_secs);
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            consumer_name,
            pull::Config {
                durable_name: Some(consumer_name.clone()),
                description: Some(format!(
                    "bytefreezer dataset {}/{}",
                    dataset.tenant_id, dataset.dataset_id
                )),
                filter_subject: settings.subjects.first().cloned().unwrap_or_default(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait,
                deliver_policy: match settings.deliver {
                    NatsDeliver::All => jetstream::consumer::DeliverPolicy::All,
                    NatsDeliver::New => jetstream::consumer::DeliverPolicy::New,
                    NatsDeliver::Last => jetstream::consumer::DeliverPolicy::Last,
                },
                ..Default::default()
            },
        )
        .await
        .with_context(|| {
            format!("cannot open or create the durable consumer {consumer_name} of {stream_name}")
        })?;
    let info = consumer.cached_info();
    if info.config.ack_policy != jetstream::consumer::AckPolicy::Explicit {
        bail!(
            "the existing consumer {consumer_name} of {stream_name} does not acknowledge each \
             message (ack_policy {:?}); the proxy needs ack_policy explicit: delete the consumer \
             or name another",
            info.config.ack_policy
        );
    }
    // A batch is written well within ack_wait, or JetStream would deliver it again meanwhile;
    // an existing consumer keeps its own ack_wait, whatever the settings say.
    let batching = runtime.batching;
    let max_age = batching
        .max_age(dataset.testing)
        .min(info.config.ack_wait.min(ack_wait) / 3);
    let mut pending = EventBatch::new();
    let mut ackers = Vec::new();
    let mut stop = stopped.clone();
    let mut failed_pulls = 0u32;
    // Pull requests are made one at a time, only while the spool has room and for no more than
    // the batch can take: nothing waits in the client unacknowledged while the input cannot
    // write, where ack_wait would expire and JetStream deliver a second copy.
    let ended = 'pulling: loop {
        // What was taken is written before waiting, or ack_wait would run out meanwhile.
        if runtime.spool.over_high_water() && pending.rows() > 0 {
            store_and_ack(&mut pending, &mut ackers, dataset, runtime).await;
        }
        if !wait_for_room(&runtime.spool, &counters.waiting, stopped).await {
            break Ended::Stopped;
        }
        let wait = pending
            .due(max_age)
            .map_or(IDLE_PULL, |due| {
                due.saturating_duration_since(Instant::now())
            })
            .clamp(MIN_PULL, IDLE_PULL);
        let room_rows = batching.max_rows.saturating_sub(pending.rows());
        let room_bytes = match pending.rows() {
            0 => EMPTY_BATCH_PULL_BYTES,
            _ => batching.max_bytes.saturating_sub(pending.bytes()).max(1),
        };
        let request = consumer
            .batch()
            .max_messages(PULL_BATCH.min(room_rows).max(1))
            .max_bytes(room_bytes)
            .expires(wait)
            .messages();
        let mut messages = tokio::select! {
            requested = request => match requested {
                Ok(messages) => messages,
                Err(error) => break Ended::Failed(anyhow::anyhow!(
                    "cannot pull from the consumer {consumer_name}: {error}"
                )),
            },
            _ = stop.wait() => break Ended::Stopped,
        };
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(Ok(message)) => {
                        if message.info().is_ok_and(|info| info.delivered > 1) {
                            counters.redelivered.increment(1);
                        }
                        counters.messages.increment(1);
                        let (message, acker) = message.split();
                        let format = dataset.settings.format;
                        if pending.take_message(&message.payload, format, counters, &"a NATS message") {
                            ackers.push(acker);
                        } else if let Err(error) = acker.ack_with(AckKind::Term).await {
                            // Delivered again, it is dropped again.
                            tracing::warn!("dataset {}/{}: cannot terminate a bad message: {error}",
                                dataset.tenant_id, dataset.dataset_id);
                        }
                    }
                    Some(Err(error)) => {
                        failed_pulls += 1;
                        if failed_pulls >= PULL_FAILURES_BEFORE_REOPEN {
                            break 'pulling Ended::Failed(anyhow::anyhow!(
                                "pulling from the consumer {consumer_name} failed \
                                 {failed_pulls} times in a row: {error}"
                            ));
                        }
                        tracing::warn!("{}: pulling from {consumer_name}: {error}", counters.name);
                        tokio::select! {
                            _ = tokio::time::sleep(PULL_RETRY_STEP * failed_pulls) => {}
                            _ = stop.wait() => break 'pulling Ended::Stopped,
                        }
                        break;
                    }
                    // Complete or expired: the next request asks for what the batch has room for.
                    None => {
                        failed_pulls = 0;
                        break;
                    }
                },
                // Messages of this request not yet received are delivered again after
                // ack_wait; what was taken is written below.
                _ = stop.wait() => break 'pulling Ended::Stopped,
            }
        }
        let due = pending
            .due(max_age)
            .is_some_and(|due| due <= Instant::now());
        if (pending.full(&batching) || due)
            && !store_and_ack(&mut pending, &mut ackers, dataset, runtime).await
        {
            // Not acknowledged, so JetStream delivers them again; give the disk a moment.
            tokio::select! {
                _ = stop.wait() => break Ended::Stopped,
                _ = tokio::time::sleep(WRITE_RETRY) => {}
            }
        }
    };
    store_and_ack(&mut pending, &mut ackers, dataset, runtime).await;
    match tokio::time::timeout(CLOSE_TIMEOUT, client.flush()).await {
        Ok(flushed) => flushed.context("cannot send the last acknowledgements")?,
        Err(_) => tracing::warn!(
            "{}: the last acknowledgements did not reach the server within {}s; those messages \
             come again",
            counters.name,
            CLOSE_TIMEOUT.as_secs()
        ),
    }
    Ok(ended)
}

/// Writes the pending events as one promised spool batch, then acknowledges their messages.
/// On a failed write the messages are refused (`nak`) so JetStream delivers them again; false.
async fn store_and_ack(
    pending: &mut EventBatch,
    ackers: &mut Vec<jetstream::message::Acker>,
    dataset: &NatsDataset,
    runtime: &InputRuntime,
) -> bool {
    let Some(batch) = pending.flush() else {
        return true;
    };
    let target = runtime.target(&dataset.tenant_id, &dataset.dataset_id, "events");
    let written = match target.encode(&batch) {
        Some(encoded) => target.write_once(&encoded, batch.num_rows()).await,
        // Counted lost by encode; acknowledged below, since delivering again cannot help.
        None => Ok(()),
    };
    let kind = match &written {
        Ok(()) => AckKind::Ack,
        Err(error) => {
            tracing::error!(
                "dataset {}/{}: cannot store {} events in the spool; their {} messages will be \
                 delivered again: {error:#}",
                dataset.tenant_id,
                dataset.dataset_id,
                batch.num_rows(),
                ackers.len()
            );
            AckKind::Nak(Some(WRITE_RETRY))
        }
    };
    // Unacknowledged, a message comes again after ack_wait: a duplicate, not a loss. While the
    // server is unreachable the client queues acknowledgements without end, so they get a
    // deadline rather than holding the input (and a stop) until it returns.
    let acknowledged = tokio::time::timeout(CLOSE_TIMEOUT, async {
        for acker in ackers.drain(..) {
            if let Err(error) = acker.ack_with(kind).await {
                tracing::warn!(
                    "dataset {}/{}: cannot acknowledge a NATS message: {error}",
                    dataset.tenant_id,
                    dataset.dataset_id
                );
            }
        }
    })
    .await;
    if acknowledged.is_err() {
        tracing::warn!(
            "dataset {}/{}: acknowledgements did not reach the client within {}s; those \
             messages come again",
            dataset.tenant_id,
            dataset.dataset_id,
            CLOSE_TIMEOUT.as_secs()
        );
        ackers.clear();
    }
    written.is_ok()
}

#[cfg(test)]
#[path = "nats_input_tests.rs"]
mod tests;
