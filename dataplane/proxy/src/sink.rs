//! What a receive worker does with one dataset's datagrams: decode them in place into the
//! dataset's Arrow builders, flush on rows, bytes or age, and hand batches to the spool
//! writers without waiting. When the writers' queue is full the batch waits here and the sink
//! says it is not ready, so the worker stops reading this socket: overload is dropped by the
//! kernel (counted) before it is decoded, never after. Counts are kept locally and published on each tick, so the hot
//! path touches no shared memory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use bytefreezer_api::metrics::{
    PROXY_DATAGRAMS_DROPPED_TOTAL, PROXY_DATAGRAMS_TOTAL, PROXY_DECODE_ERRORS_TOTAL,
    PROXY_FLUSH_ERRORS_TOTAL, PROXY_INPUT_PAUSED_TOTAL, PROXY_ROWS_DROPPED_TOTAL,
};
use bytefreezer_decode_syslog::FlushPolicy;
use bytefreezer_telemetry::{Counter, Registry};
use bytefreezer_udp::DatagramSink;
use crossbeam_channel::{Receiver, Sender};

use crate::decoders::{Decoded, InputDecoder};
use crate::flow_metrics::FlowMetricsPublisher;
use crate::spool_writer::{BatchQueue, QueuedBatch, TemplateSave};

/// Ticks between publications of per-exporter flow metrics (about a second).
const FLOW_METRICS_EVERY_TICKS: u32 = 40;
/// One warning a minute per input and cause is enough to find the trouble.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The dataset an input belongs to, and how its batches are cut.
pub struct SinkSettings {
    pub tenant_id: Arc<str>,
    pub dataset_id: Arc<str>,
    pub policy: FlushPolicy,
    pub max_age: Duration,
    pub template_file: Option<PathBuf>,
}

struct Counts {
    datagrams: Counter,
    malformed: Counter,
    kernel_dropped: Counter,
    truncated: Counter,
    paused: Counter,
    spool_closed_rows: Counter,
}

#[derive(Default)]
struct Pending {
    datagrams: u64,
    malformed: u64,
    kernel_dropped: u64,
    truncated: u64,
}

pub struct InputSink {
    settings: SinkSettings,
    decoder: InputDecoder,
    oldest: Option<Instant>,
    batches: BatchQueue,
    /// A batch the writers' queue had no room for; while it waits the socket is paused.
    waiting: Option<QueuedBatch>,
    templates: Sender<TemplateSave>,
    /// Batches the writers have encoded, back for their buffers (see `InputDecoder::recycle`).
    returns: Sender<RecordBatch>,
    returned: Receiver<RecordBatch>,
    counts: Counts,
    pending: Pending,
    last_log: [Option<Instant>; 4],
    registry: Registry,
    flow_metrics: FlowMetricsPublisher,
    ticks: u32,
}

impl InputSink {
    pub fn new(
        settings: SinkSettings,
        decoder: InputDecoder,
        batches: BatchQueue,
        templates: Sender<TemplateSave>,
        registry: &Registry,
    ) -> InputSink {
        let labels = [
            ("tenant", &*settings.tenant_id),
            ("dataset", &*settings.dataset_id),
        ];
        let dropped = |cause: &str| {
            registry.counter(
                PROXY_DATAGRAMS_DROPPED_TOTAL.name,
                PROXY_DATAGRAMS_DROPPED_TOTAL.help,
                &[labels[0], labels[1], ("cause", cause)],
            )
        };
        let counts = Counts {
            datagrams: registry.counter(
                PROXY_DATAGRAMS_TOTAL.name,
                PROXY_DATAGRAMS_TOTAL.help,
                &labels,
            ),
            malformed: registry.counter(
                PROXY_DECODE_ERRORS_TOTAL.name,
                PROXY_DECODE_ERRORS_TOTAL.help,
                &labels,
            ),
            kernel_dropped: dropped("receive_buffer"),
            truncated: dropped("truncated"),
            paused: registry.counter(
                PROXY_INPUT_PAUSED_TOTAL.name,
                PROXY_INPUT_PAUSED_TOTAL.help,
                &labels,
            ),
            spool_closed_rows: registry.counter(
                PROXY_ROWS_DROPPED_TOTAL.name,
                PROXY_ROWS_DROPPED_TOTAL.help,
                &[labels[0], labels[1], ("cause", "spool_closed")],
            ),
        };
        // Two: one being filled while the writer encodes the other; more would only hold memory.
        let (returns, returned) = crossbeam_channel::bounded(2);
        InputSink {
            settings,
            decoder,
            oldest: None,
            batches,
            waiting: None,
            templates,
            returns,
            returned,
            counts,
            pending: Pending::default(),
            last_log: [None; 4],
            registry: registry.clone(),
            flow_metrics: FlowMetricsPublisher::default(),
            ticks: 0,
        }
    }

    /// Cuts the builders into a batch for the spool writers. While an earlier batch still
    /// waits for room the rows stay in the builders: only datagrams already received arrive
    /// meanwhile, since the socket is paused.
    fn flush(&mut self) {
        if !self.offer_waiting() {
            return;
        }
        self.oldest = None;
        if let Some(path) = &self.settings.template_file
            && let Some(bytes) = self.decoder.templates_to_save()
        {
            let _ = self.templates.send(TemplateSave {
                path: path.clone(),
                bytes,
            });
        }
        while let Ok(encoded) = self.returned.try_recv() {
            self.decoder.recycle(encoded);
        }
        let batch = match self.decoder.try_flush() {
            Ok(Some(batch)) => batch,
            Ok(None) => return,
            Err(error) => {
                let (tenant, dataset) = (&*self.settings.tenant_id, &*self.settings.dataset_id);
                self.registry
                    .counter(
                        PROXY_FLUSH_ERRORS_TOTAL.name,
                        PROXY_FLUSH_ERRORS_TOTAL.help,
                        &[
                            ("tenant", tenant),
                            ("dataset", dataset),
                            ("cause", error.cause),
                        ],
                    )
                    .increment(1);
                self.registry
                    .counter(
                        PROXY_ROWS_DROPPED_TOTAL.name,
                        PROXY_ROWS_DROPPED_TOTAL.help,
                        &[
                            ("tenant", tenant),
                            ("dataset", dataset),
                            ("cause", "flush_error"),
                        ],
                    )
                    .increment(error.rows);
                self.warn(
                    3,
                    &format!(
                        "{} decoded rows lost: cannot build their batch ({}): {}",
                        error.rows, error.cause, error.message
                    ),
                );
                return;
            }
        };
        let queued = QueuedBatch {
            tenant_id: self.settings.tenant_id.clone(),
            dataset_id: self.settings.dataset_id.clone(),
            batch,
            returns: self.decoder.reuses_buffers().then(|| self.returns.clone()),
        };
        if let Err(queued) = self.batches.offer(queued) {
            self.counts.paused.increment(1);
            self.warn(
                0,
                "the spool writers cannot keep up (disk too slow): the input pauses and the \
                 kernel holds its datagrams (overflow there counts as cause=\"receive_buffer\")",
            );
            self.waiting = Some(queued);
        }
    }

    /// Offers the waiting batch again; true when no batch is left waiting.
    fn offer_waiting(&mut self) -> bool {
        let Some(queued) = self.waiting.take() else {
            return true;
        };
        match self.batches.offer(queued) {
            Ok(()) => true,
            Err(queued) => {
                self.waiting = Some(queued);
                false
            }
        }
    }

    /// Hands the waiting batch over even if it must wait for a writer: the input is closing
    /// and its rows must not be lost.
    fn hand_over_waiting(&mut self) {
        let Some(queued) = self.waiting.take() else {
            return;
        };
        let rows = queued.batch.num_rows() as u64;
        if self.batches.hand_over(queued).is_err() {
            self.counts.spool_closed_rows.increment(rows);
            self.warn(
                0,
                &format!("{rows} rows lost: the spool writers stopped before taking them"),
            );
        }
    }

    fn publish_counts(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let counts = &self.counts;
        for (counter, value) in [
            (&counts.datagrams, pending.datagrams),
            (&counts.malformed, pending.malformed),
            (&counts.kernel_dropped, pending.kernel_dropped),
            (&counts.truncated, pending.truncated),
        ] {
            if value > 0 {
                counter.increment(value);
            }
        }
    }

    fn publish_flow_metrics(&mut self) {
        if let Some(decoder) = self.decoder.flow_decoder() {
            self.flow_metrics.publish(
                &self.registry,
                &self.settings.tenant_id,
                &self.settings.dataset_id,
                decoder.exporter_metrics(),
                decoder.metrics_overflow(),
            );
            self.flow_metrics.publish_state_bytes(
                &self.registry,
                &self.settings.tenant_id,
                &self.settings.dataset_id,
                [decoder.template_bytes(), decoder.held_bytes()],
            );
        }
    }

    fn warn(&mut self, slot: usize, message: &str) {
        if self.last_log[slot].is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            self.last_log[slot] = Some(Instant::now());
            tracing::warn!(
                "dataset {}/{}: {message}",
                self.settings.tenant_id,
                self.settings.dataset_id
            );
        }
    }
}

impl DatagramSink for InputSink {
    fn datagram(&mut self, payload: &[u8], source: SocketAddr, received_micros: i64) {
        self.pending.datagrams += 1;
        match self.decoder.decode(payload, received_micros, source) {
            Decoded::Kept => {}
            Decoded::Malformed(error) => {
                self.pending.malformed += 1;
                self.warn(1, &format!("malformed datagram from {source}: {error}"));
            }
        }
        if self.oldest.is_none() {
            self.oldest = Some(Instant::now());
        }
        if self.decoder.should_flush(&self.settings.policy) {
            self.flush();
        }
    }

    fn kernel_dropped(&mut self, datagrams: u64) {
        self.pending.kernel_dropped += datagrams;
        self.warn(
            2,
            &format!(
                "the kernel dropped {datagrams} datagrams: the socket's receive buffer was full \
                 (raise udp_recv_buffer_bytes and net.core.rmem_max, or add workers)"
            ),
        );
    }

    fn truncated(&mut self, datagrams: u64) {
        self.pending.truncated += datagrams;
    }

    fn ready(&mut self) -> bool {
        self.offer_waiting()
    }

    fn tick(&mut self, now: Instant) {
        self.publish_counts();
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(FLOW_METRICS_EVERY_TICKS) {
            self.publish_flow_metrics();
        }
        if self
            .oldest
            .is_some_and(|since| now.duration_since(since) >= self.settings.max_age)
        {
            self.flush();
        }
    }

    fn close(&mut self) {
        self.hand_over_waiting();
        self.flush();
        self.hand_over_waiting();
        self.publish_counts();
        self.publish_flow_metrics();
        self.flow_metrics.retract(
            &self.registry,
            &self.settings.tenant_id,
            &self.settings.dataset_id,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool_writer::BatchJob;
    use bytefreezer_telemetry::Gauge;

    #[test]
    fn a_batch_that_cannot_be_built_is_counted_by_cause_with_its_rows() {
        let registry = Registry::new();
        let (jobs, _writer) = crossbeam_channel::bounded(1);
        let (templates, _saves) = crossbeam_channel::unbounded();
        let mut sink = InputSink::new(
            SinkSettings {
                tenant_id: "t".into(),
                dataset_id: "d".into(),
                policy: FlushPolicy {
                    max_rows: 1_000,
                    max_bytes: 1 << 20,
                },
                max_age: Duration::from_secs(60),
                template_file: None,
            },
            InputDecoder::FailingFlush { rows: 0 },
            BatchQueue::new(jobs, 1 << 20, Gauge::default()),
            templates,
            &registry,
        );
        let sender: SocketAddr = "192.0.2.1:2055".parse().unwrap();
        for _ in 0..3 {
            sink.datagram(b"flow", sender, 0);
        }
        sink.close();
        let value = |name: &str, cause: &str| {
            registry
                .series(name)
                .into_iter()
                .find(|(labels, _)| labels.contains(&("cause".to_owned(), cause.to_owned())))
                .map(|(_, value)| value)
        };
        assert_eq!(
            value(PROXY_FLUSH_ERRORS_TOTAL.name, "invalid_data"),
            Some(1),
            "one failed flush"
        );
        assert_eq!(
            value(PROXY_ROWS_DROPPED_TOTAL.name, "flush_error"),
            Some(3),
            "its three rows lost"
        );
    }

    fn syslog_sink(jobs: Sender<BatchJob>, registry: &Registry) -> InputSink {
        let (templates, _saves) = crossbeam_channel::unbounded();
        InputSink::new(
            SinkSettings {
                tenant_id: "t".into(),
                dataset_id: "d".into(),
                policy: FlushPolicy {
                    max_rows: 10,
                    max_bytes: 1 << 20,
                },
                max_age: Duration::from_secs(60),
                template_file: None,
            },
            InputDecoder::new(crate::decoders::DecoderKind::Syslog, 16),
            BatchQueue::new(jobs, 1 << 30, Gauge::default()),
            templates,
            registry,
        )
    }

    fn rows_of(job: BatchJob) -> usize {
        job.batch.num_rows()
    }

    /// A full writers' queue pauses the input instead of dropping decoded rows: the batch
    /// waits, the sink is not ready until the queue takes it, and closing hands over every
    /// row even if it must wait for a writer.
    #[test]
    fn a_full_queue_pauses_the_input_and_loses_no_row() {
        let registry = Registry::new();
        let (jobs, writer) = crossbeam_channel::bounded(1);
        let mut sink = syslog_sink(jobs, &registry);
        let sender: SocketAddr = "192.0.2.1:514".parse().unwrap();
        let send = |sink: &mut InputSink, n: usize| {
            for index in 0..n {
                let message = format!("<14>1 2026-12-06T00:00:00Z host app - - - message {index}");
                sink.datagram(message.as_bytes(), sender, 1_765_000_000_000_000);
            }
        };
        send(&mut sink, 10);
        assert!(sink.ready(), "the first batch fit the queue");
        send(&mut sink, 10);
        assert!(!sink.ready(), "the second batch waits: the socket pauses");
        // Datagrams already received still arrive while paused; none is dropped.
        send(&mut sink, 3);
        assert_eq!(rows_of(writer.try_recv().unwrap()), 10);
        assert!(
            sink.ready(),
            "the waiting batch went once the queue had room"
        );
        assert_eq!(rows_of(writer.try_recv().unwrap()), 10);

        send(&mut sink, 10);
        let taker = std::thread::spawn(move || {
            let mut rows = 0;
            while let Ok(job) = writer.recv_timeout(Duration::from_secs(5)) {
                rows += rows_of(job);
            }
            rows
        });
        sink.close();
        drop(sink);
        assert_eq!(taker.join().unwrap(), 13, "closing hands over every row");
        let dropped: i64 = registry
            .series(PROXY_ROWS_DROPPED_TOTAL.name)
            .into_iter()
            .map(|(_, value)| value)
            .sum();
        assert_eq!(dropped, 0, "no decoded row was dropped");
        let paused: i64 = registry
            .series(PROXY_INPUT_PAUSED_TOTAL.name)
            .into_iter()
            .map(|(_, value)| value)
            .sum();
        assert!(paused >= 1, "the pause is counted");
    }
}
