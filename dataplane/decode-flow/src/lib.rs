//! Flow decoding: NetFlow v5, NetFlow v9 (RFC 3954), IPFIX (RFC 7011/7012) and sFlow v5
//! datagrams into rows of the one flow schema (`bytefreezer_schema::flow_schema`).
//!
//! Pure and push style: `decode(datagram, meta)` appends one row per flow record, `flush()`
//! hands back a `RecordBatch`. It owns the template state the protocols need (scoped per
//! exporter and observation domain, bounded) but must not do I/O or read the clock (time
//! arrives in `DatagramMeta`). A malformed datagram is counted and reported, never a panic, and
//! never stops the records before it from being kept.
//!
//! Speed comes from decoding a data set a column at a time: each template is compiled once,
//! when learnt, into a plan saying which bytes of a record feed which column (`plan`), NetFlow
//! v5's fixed record is one more plan, and columns are plain vectors written in bulk and handed
//! to Arrow without a copy (`columns`). Layouts a plan cannot express go field by field through
//! the row path (`elements::apply` into a reused `FlowRecord`), which gives the same rows.
//! `FlowDecoder::exporter_metrics` counts per exporter and observation domain what happened to
//! templates, held data and malformed datagrams.
#![forbid(unsafe_code)]

mod bytes;
mod columns;
mod decoder;
mod elements;
mod error;
mod event_columns;
mod metrics;
mod netflow_v5;
mod packet;
mod persist;
mod plan;
mod record;
mod sflow;
mod templates;
mod text;

pub use decoder::{DatagramMeta, DecodeReport, FlowDecoder, FlowLimits};
pub use error::{DecodeError, TemplateRestoreError};
pub use metrics::{
    ExporterMetrics, ExporterScope, MalformedCause, MalformedCounts, RefusedCounts, TemplateRefusal,
};
pub use templates::TemplateKey;
