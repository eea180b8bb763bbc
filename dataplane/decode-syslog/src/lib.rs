//! Syslog decoding: RFC 5424 and RFC 3164 messages, detected per message, appended as rows of
//! the fixed syslog Arrow schema; RFC 6587 framing (octet counting or newlines) for streams; and
//! the `syslog/1` edge batch a proxy ships instead (the bytes, their receive time and sender),
//! which piper turns into the same table rows with the same decoder.
//!
//! Pure and push style: `decode(bytes, meta)` appends exactly one row, `flush()` hands back a
//! `RecordBatch`. It must not do I/O or read the clock (time arrives in `DatagramMeta`), and a
//! malformed message is kept as a row marked `unparsed` with its raw bytes, never dropped and
//! never a panic.
#![forbid(unsafe_code)]

mod decoder;
mod edge;
pub mod framing;
mod parse;
mod timestamp;

pub use decoder::{DatagramMeta, DecodeOutcome, FlushPolicy, SyslogDecoder};
pub use edge::{SyslogEdgeBuilder, SyslogTable, syslog_edge_to_table};
pub use parse::{Format, ParsedMessage, parse_message};
