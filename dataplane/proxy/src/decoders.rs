use std::net::SocketAddr;

use arrow::record_batch::RecordBatch;
use bytefreezer_decode_flow::FlowDecoder;
use bytefreezer_decode_syslog::{DecodeOutcome, FlushPolicy, SyslogDecoder};

/// Which decoder a dataset's datagrams go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecoderKind {
    Syslog,
    /// NetFlow v5, v9, IPFIX and sFlow v5, told apart by the version in each datagram.
    Flow,
}

/// What became of one datagram.
pub enum Decoded {
    Kept,
    /// Syslog that did not parse: kept as a row marked unparsed.
    KeptUnparsed,
    /// A flow datagram with a problem; the records before it are kept.
    Malformed(String),
}

/// One input's decoder, whichever protocol its dataset speaks.
pub enum InputDecoder {
    Syslog(Box<SyslogDecoder>),
    Flow {
        decoder: Box<FlowDecoder>,
        saved_generation: u64,
    },
}

impl InputDecoder {
    /// The flow decoder, for its per-exporter metrics; `None` for syslog.
    pub fn flow_decoder(&self) -> Option<&FlowDecoder> {
        match self {
            InputDecoder::Syslog(_) => None,
            InputDecoder::Flow { decoder, .. } => Some(decoder),
        }
    }

    pub fn new(kind: DecoderKind, rows: usize) -> InputDecoder {
        match kind {
            DecoderKind::Syslog => {
                InputDecoder::Syslog(Box::new(SyslogDecoder::with_capacity(rows)))
            }
            DecoderKind::Flow => InputDecoder::Flow {
                decoder: Box::default(),
                saved_generation: 0,
            },
        }
    }

    pub fn decode(
        &mut self,
        datagram: &[u8],
        receive_time_micros: i64,
        sender: SocketAddr,
    ) -> Decoded {
        match self {
            InputDecoder::Syslog(decoder) => {
                let meta = bytefreezer_decode_syslog::DatagramMeta {
                    receive_time_micros,
                    sender: Some(sender.ip()),
                };
                match decoder.decode(datagram, &meta) {
                    DecodeOutcome::Parsed => Decoded::Kept,
                    DecodeOutcome::Unparsed => Decoded::KeptUnparsed,
                }
            }
            InputDecoder::Flow { decoder, .. } => {
                let meta = bytefreezer_decode_flow::DatagramMeta {
                    receive_time_micros,
                    exporter: Some(sender.ip()),
                };
                match decoder.decode(datagram, &meta).error {
                    None => Decoded::Kept,
                    Some(error) => Decoded::Malformed(error),
                }
            }
        }
    }

    pub fn should_flush(&self, policy: &FlushPolicy) -> bool {
        match self {
            InputDecoder::Syslog(decoder) => decoder.should_flush(policy),
            InputDecoder::Flow { decoder, .. } => {
                decoder.rows() >= policy.max_rows || decoder.pending_bytes() >= policy.max_bytes
            }
        }
    }

    pub fn flush(&mut self) -> Option<RecordBatch> {
        match self {
            InputDecoder::Syslog(decoder) => decoder.flush(),
            InputDecoder::Flow { decoder, .. } => match decoder.flush() {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!("cannot build a flow batch: {error}");
                    None
                }
            },
        }
    }

    /// Loads templates a flow input saved before a restart; `None` for syslog.
    pub fn restore_templates(&mut self, bytes: &[u8]) -> Option<Result<usize, String>> {
        match self {
            InputDecoder::Syslog(_) => None,
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
            InputDecoder::Syslog(_) => None,
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
