//! Events taken from a queue's messages (nats, sqs) and not yet written: each message's body is
//! split as an `http` body is, into one `events/1` batch written by the proxy's batch limits.

use std::time::Duration;

use arrow::record_batch::RecordBatch;
use bytefreezer_api::HttpBodyFormat;
use bytefreezer_schema::EventsEdgeBuilder;
use bytefreezer_telemetry::{Gauge, Shutdown};
use tokio::time::Instant;

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
