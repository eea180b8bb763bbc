//! Flow decoding: NetFlow v5, NetFlow v9 (RFC 3954), IPFIX (RFC 7011/7012) and sFlow v5
//! datagrams into rows of the one flow schema (`bytefreezer_schema::flow_schema`).
//!
//! Pure and push style: `decode(datagram, meta)` appends one row per flow record, `flush()`
//! hands back a `RecordBatch`. It owns the template state the protocols need (scoped per
//! exporter and observation domain, bounded) but must not do I/O or read the clock (time
//! arrives in `DatagramMeta`). A malformed datagram is counted and reported, never a panic, and
//! never stops the records before it from being kept.
#![forbid(unsafe_code)]

mod bytes;
mod decoder;
mod elements;
mod netflow_v5;
mod packet;
mod persist;
mod record;
mod sflow;
mod templates;

pub use decoder::{DatagramMeta, DecodeReport, FlowDecoder, FlowLimits};
pub use templates::TemplateKey;
