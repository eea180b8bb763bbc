//! Events taken from a queue's messages (nats, sqs, kafka) and not yet written: each message's body is
//! split as an `http` body is, into one `events/1` batch written by the proxy's batch limits.

use std::time::Duration;

use arrow::record_batch::RecordBatch;
use bytefreezer_api::HttpBodyFormat;
use bytefreezer_api::metrics::{
    Metric, PROXY_INPUT_ERRORS_TOTAL, PROXY_INPUT_UP, PROXY_ROWS_DROPPED_TOTAL,
};
use bytefreezer_schema::EventsEdgeBuilder;
use bytefreezer_telemetry::{Counter, Gauge, Registry, Shutdown};
use tokio::time::Instant;

use crate::dataset_tasks::InputDataset;
use crate::http_events::{BodyError, split_events};
use crate::promised_write::StreamBatching;
use crate::spool::Spool;

/// While the spool is at its high-water mark, how often a queue input looks again.
const HIGH_WATER_POLL: Duration = Duration::from_millis(100);

pub(crate) struct EventBatch {
    events: EventsEdgeBuilder,
    bytes: usize,
    since: Option<Instant>,
}

impl EventBatch {
    pub fn new() -> EventBatch {
        EventBatch {
            events: EventsEdgeBuilder::default(),
            bytes: 0,
            since: None,
        }
    }

    /// Appends a message body's events, all or none (none on an error).
    pub fn take(&mut self, body: &[u8], format: HttpBodyFormat) -> Result<usize, BodyError> {
        let (_, events) = split_events(body, format, crate::now_micros(), None, &mut self.events)?;
        self.bytes += body.len();
        self.since.get_or_insert_with(Instant::now);
        Ok(events)
    }

    /// [`EventBatch::take`] for the content of a queue message: when it holds no events
    /// (nothing appended) it is counted as dropped and logged naming `message`; false then.
    pub fn take_message(
        &mut self,
        body: &[u8],
        format: HttpBodyFormat,
        counters: &QueueCounters,
        message: &dyn std::fmt::Display,
    ) -> bool {
        match self.take(body, format) {
            Ok(_) => true,
            Err(error) => {
                counters.invalid.increment(1);
                tracing::warn!(
                    "{}: {message} of {} bytes is dropped: {error}",
                    counters.name,
                    body.len()
                );
                false
            }
        }
    }

    pub fn rows(&self) -> usize {
        self.events.rows()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn full(&self, batching: &StreamBatching) -> bool {
        self.rows() >= batching.max_rows || self.bytes >= batching.max_bytes
    }

    /// When the batch must be written: `max_age` after its first event.
    pub fn due(&self, max_age: Duration) -> Option<Instant> {
        self.since.map(|since| since + max_age)
    }

    pub fn flush(&mut self) -> Option<RecordBatch> {
        self.bytes = 0;
        self.since = None;
        self.events.flush()
    }
}

/// Waits while the spool is at its high-water mark, with `waiting` at 1 meanwhile; false when
/// the input was stopped.
pub(crate) async fn wait_for_room(spool: &Spool, waiting: &Gauge, stopped: &Shutdown) -> bool {
    if !spool.over_high_water() {
        return true;
    }
    waiting.set(1);
    let mut stopped = stopped.clone();
    while spool.over_high_water() {
        tokio::select! {
            _ = stopped.wait() => {
                waiting.set(0);
                return false;
            }
            _ = tokio::time::sleep(HIGH_WATER_POLL) => {}
        }
    }
    waiting.set(0);
    true
}

/// The metric names of one queue plugin.
#[derive(Clone, Copy)]
pub(crate) struct QueueMetrics {
    pub messages: Metric,
    pub redelivered: Metric,
    pub waiting: Metric,
}

/// The metrics a queue input keeps for its dataset.
#[derive(Clone)]
pub(crate) struct QueueCounters {
    /// `dataset t/d (listen)`, for the log.
    pub name: String,
    pub up: Gauge,
    pub waiting: Gauge,
    pub errors: Counter,
    pub messages: Counter,
    pub redelivered: Counter,
    /// Messages whose body holds no events: `rows_dropped{cause="invalid_message"}`.
    pub invalid: Counter,
}

impl QueueCounters {
    pub fn new<S>(
        registry: &Registry,
        dataset: &InputDataset<S>,
        metrics: QueueMetrics,
    ) -> QueueCounters {
        let labels = dataset.labels();
        QueueCounters {
            name: dataset.name(),
            up: registry.gauge(PROXY_INPUT_UP.name, PROXY_INPUT_UP.help, &labels),
            waiting: registry.gauge(metrics.waiting.name, metrics.waiting.help, &labels),
            errors: registry.counter(
                PROXY_INPUT_ERRORS_TOTAL.name,
                PROXY_INPUT_ERRORS_TOTAL.help,
                &labels[..2],
            ),
            messages: registry.counter(metrics.messages.name, metrics.messages.help, &labels),
            redelivered: registry.counter(
                metrics.redelivered.name,
                metrics.redelivered.help,
                &labels,
            ),
            invalid: registry.counter(
                PROXY_ROWS_DROPPED_TOTAL.name,
                PROXY_ROWS_DROPPED_TOTAL.help,
                &[labels[0], labels[1], ("cause", "invalid_message")],
            ),
        }
    }

    /// Removes the dataset's gauges once its input stopped.
    pub fn forget<S>(registry: &Registry, dataset: &InputDataset<S>, metrics: QueueMetrics) {
        for metric in [PROXY_INPUT_UP, metrics.waiting] {
            registry.remove(metric.name, &dataset.labels());
        }
    }
}
