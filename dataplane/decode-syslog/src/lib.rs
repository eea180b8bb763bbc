//! Syslog decoding: RFC 5424 and RFC 3164 messages, detected per message, with the variants
//! real routers, firewalls and appliances send (Cisco, ASA/FTD, Junos, F5, FortiGate, Palo
//! Alto, Check Point) and their own message ids, appended as rows of the fixed syslog Arrow
//! schema; every row says how it was parsed (`format`) and what was repaired
//! (`parse_warning`); RFC 6587 framing (octet counting or newlines) for streams; and
//! the `syslog/1` edge batch a proxy ships instead (the bytes, their receive time and sender),
//! which piper turns into the same table rows with the same decoder.
//!
//! Pure and push style: `decode(bytes, meta)` appends exactly one row, `flush()` hands back a
//! `RecordBatch`. It must not do I/O or read the clock (time arrives in `DatagramMeta`), and a
//! malformed message is kept as a row marked `unparsed` with its raw bytes, never dropped and
//! never a panic.
#![forbid(unsafe_code)]

mod cisco;
mod decoder;
mod edge;
pub mod framing;
mod legacy;
mod parse;
mod rfc5424;
mod sparse;
#[cfg(test)]
mod test_time;
mod timestamp;
mod vendor;

pub use decoder::{DatagramMeta, DecodeOutcome, FlushPolicy, SyslogDecoder};
pub use edge::{SyslogCounts, SyslogEdgeBuilder, SyslogTable, syslog_edge_to_table};
pub use parse::{Format, ParsedMessage, VendorId, Warnings, parse_message};
