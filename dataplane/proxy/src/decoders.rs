use std::net::SocketAddr;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use bytefreezer_api::HttpBodyFormat;
use bytefreezer_decode_flow::{DecodeError, FlowDecoder, FlowLimits, TemplateRestoreError};
use bytefreezer_decode_syslog::{FlushPolicy, SyslogEdgeBuilder};
use bytefreezer_schema::EventsEdgeBuilder;

use crate::http_events::{BodyError, split_events};

/// Which decoder a dataset's datagrams go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecoderKind {
    Syslog,
    /// NetFlow v5, v9, IPFIX and sFlow v5, told apart by the version in each datagram.
    Flow,
    /// JSON events, one object per line (or objects one after another), as eBPF agents send
    /// them: checked and kept as `events/1` rows; piper types them.
    Events,
}

/// What became of one datagram.
pub enum Decoded {
    Kept,
    /// A datagram with a problem: for flows the records before it are kept, for events none
    /// of the datagram's events are.
    Malformed(Malformed),
}

/// Why a datagram was malformed.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    #[error(transparent)]
    Flow(#[from] DecodeError),
    #[error(transparent)]
    Events(#[from] BodyError),
}

/// Events datagrams waiting to be flushed as one `events/1` batch.
pub struct EventDatagrams {
    events: EventsEdgeBuilder,
    bytes: usize,
}

/// Rows decoded but lost because their batch could not be built.
#[derive(Debug)]
pub struct FlushError {
    /// A label value: `invalid_data`, `schema`, `memory`, `compute` or `other`.
    pub cause: &'static str,
    pub rows: u64,
    pub message: String,
}

impl FlushError {
    fn new(error: &ArrowError, rows: u64) -> FlushError {
        let cause = match error {
            ArrowError::InvalidArgumentError(_) => "invalid_data",
            ArrowError::SchemaError(_) => "schema",
            ArrowError::MemoryError(_) => "memory",
            ArrowError::ComputeError(_)
            | ArrowError::ArithmeticOverflow(_)
            | ArrowError::DivideByZero => "compute",
            _ => "other",
        };
        FlushError {
            cause,
            rows,
            message: error.to_string(),
        }
    }
}

/// One input's decoder, whichever protocol its dataset speaks.
pub enum InputDecoder {
    /// Syslog is not parsed at the edge: the `syslog/1` batch keeps the bytes and piper parses.
    Syslog(Box<SyslogEdgeBuilder>),
    Flow {
        decoder: Box<FlowDecoder>,
        saved_generation: u64,
    },
    Events(Box<EventDatagrams>),
    /// Keeps every datagram as a row and fails every flush (tests of what a failed flush
    /// costs: no decoder builds a batch that fails from input alone).
    #[cfg(test)]
    FailingFlush {
        rows: u64,
    },
}

impl InputDecoder {
    /// The flow decoder, for its per-exporter metrics; `None` for syslog.
    pub fn flow_decoder(&self) -> Option<&FlowDecoder> {
        match self {
            InputDecoder::Syslog(_) | InputDecoder::Events(_) => None,
            InputDecoder::Flow { decoder, .. } => Some(decoder),
            #[cfg(test)]
            InputDecoder::FailingFlush { .. } => None,
        }
    }

    /// A decoder with the default flow limits.
    pub fn new(kind: DecoderKind, rows: usize) -> InputDecoder {
        InputDecoder::with_flow_limits(kind, rows, FlowLimits::default())
    }

    /// A decoder whose flow state (templates, held data, options data) stays within `limits`.
    pub fn with_flow_limits(kind: DecoderKind, rows: usize, limits: FlowLimits) -> InputDecoder {
        match kind {
            DecoderKind::Syslog => {
                InputDecoder::Syslog(Box::new(SyslogEdgeBuilder::with_capacity(rows)))
            }
            DecoderKind::Flow => InputDecoder::Flow {
                decoder: Box::new(FlowDecoder::new(limits)),
                saved_generation: 0,
            },
            DecoderKind::Events => InputDecoder::Events(Box::new(EventDatagrams {
                events: EventsEdgeBuilder::default(),
                bytes: 0,
            })),
        }
    }

    pub fn decode(
        &mut self,
        datagram: &[u8],
        receive_time_micros: i64,
        sender: SocketAddr,
    ) -> Decoded {
        match self {
            InputDecoder::Syslog(builder) => {
                let meta = bytefreezer_decode_syslog::DatagramMeta {
                    receive_time_micros,
                    sender: Some(sender.ip()),
                };
                builder.append(datagram, &meta);
                Decoded::Kept
            }
            InputDecoder::Flow { decoder, .. } => {
                let meta = bytefreezer_decode_flow::DatagramMeta {
                    receive_time_micros,
                    exporter: Some(sender.ip()),
                };
                match decoder.decode(datagram, &meta).error {
                    None => Decoded::Kept,
                    Some(error) => Decoded::Malformed(error.into()),
                }
            }
            InputDecoder::Events(pending) => {
                // Some agents end a datagram with NULs or a line break.
                let end = datagram
                    .iter()
                    .rposition(|&b| !matches!(b, 0 | b'\n' | b'\r' | b' ' | b'\t'))
                    .map_or(0, |last| last + 1);
                match split_events(
                    &datagram[..end],
                    HttpBodyFormat::Json,
                    receive_time_micros,
                    Some(sender.ip()),
                    &mut pending.events,
                ) {
                    Ok(_) => {
                        pending.bytes += end;
                        Decoded::Kept
                    }
                    Err(error) => Decoded::Malformed(error.into()),
                }
            }
            #[cfg(test)]
            InputDecoder::FailingFlush { rows } => {
                *rows += 1;
                Decoded::Kept
            }
        }
    }

    pub fn should_flush(&self, policy: &FlushPolicy) -> bool {
        match self {
            InputDecoder::Syslog(decoder) => decoder.should_flush(policy),
            InputDecoder::Flow { decoder, .. } => {
                decoder.rows() >= policy.max_rows || decoder.pending_bytes() >= policy.max_bytes
            }
            InputDecoder::Events(pending) => {
                pending.events.rows() >= policy.max_rows || pending.bytes >= policy.max_bytes
            }
            #[cfg(test)]
            InputDecoder::FailingFlush { .. } => false,
        }
    }

    /// The rows decoded since the last flush; a batch that cannot be built is logged and lost
    /// (callers that count losses use [`InputDecoder::try_flush`]).
    pub fn flush(&mut self) -> Option<RecordBatch> {
        self.try_flush().unwrap_or_else(|error| {
            tracing::error!(
                "{} rows lost: cannot build a batch: {}",
                error.rows,
                error.message
            );
            None
        })
    }

    /// The rows decoded since the last flush, or what was lost when their batch could not be
    /// built (the decoder starts empty again either way).
    pub fn try_flush(&mut self) -> Result<Option<RecordBatch>, FlushError> {
        match self {
            InputDecoder::Syslog(decoder) => Ok(decoder.flush()),
            InputDecoder::Events(pending) => {
                pending.bytes = 0;
                Ok(pending.events.flush())
            }
            InputDecoder::Flow { decoder, .. } => {
                let rows = decoder.rows() as u64;
                decoder
                    .flush()
                    .map_err(|error| FlushError::new(&error, rows))
            }
            #[cfg(test)]
            InputDecoder::FailingFlush { rows } => Err(FlushError::new(
                &ArrowError::InvalidArgumentError("column lengths differ".into()),
                std::mem::take(rows),
            )),
        }
    }

    /// Whether [`InputDecoder::recycle`] reuses a batch's buffers (flows); a syslog batch goes
    /// back to nobody, so the writer frees it at once.
    pub fn reuses_buffers(&self) -> bool {
        matches!(self, InputDecoder::Flow { .. })
    }

    /// Takes back a batch this decoder flushed, once the spool writer encoded it: a flow
    /// decoder builds its next batch in those buffers. Syslog batches are simply freed.
    pub fn recycle(&mut self, batch: RecordBatch) {
        if let InputDecoder::Flow { decoder, .. } = self {
            decoder.recycle(batch);
        }
    }

    /// Loads templates a flow input saved before a restart; `None` for syslog.
    pub fn restore_templates(
        &mut self,
        bytes: &[u8],
    ) -> Option<Result<usize, TemplateRestoreError>> {
        match self {
            InputDecoder::Syslog(_) | InputDecoder::Events(_) => None,
            #[cfg(test)]
            InputDecoder::FailingFlush { .. } => None,
            InputDecoder::Flow {
                decoder,
                saved_generation,
            } => {
                let restored = decoder.restore_templates(bytes);
                *saved_generation = decoder.template_generation();
                Some(restored)
            }
        }
    }

    /// The flow templates to write to disk, when they changed since the last call.
    pub fn templates_to_save(&mut self) -> Option<Vec<u8>> {
        match self {
            InputDecoder::Syslog(_) | InputDecoder::Events(_) => None,
            #[cfg(test)]
            InputDecoder::FailingFlush { .. } => None,
            InputDecoder::Flow {
                decoder,
                saved_generation,
            } => {
                let generation = decoder.template_generation();
                (generation != *saved_generation).then(|| {
                    *saved_generation = generation;
                    decoder.save_templates()
                })
            }
        }
    }
}
