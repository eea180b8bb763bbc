//! The shapes of data as it moves between stages: the fixed Arrow schema of each protocol, the
//! edge batch formats a proxy ships (flow, and syslog whose parsing lives with its decoder) and
//! the flow edge's conversion into the flow table (`edge`), the
//! Arrow IPC encoding (zstd for intake and piper objects, zstd or LZ4 for the proxy's spool),
//! schema merging with type widening, splitting a batch by the event hour that decides its
//! Parquet partition, and reading the reserved time columns (`event_time`, `receive_time`):
//! checked at ingest, normalized by piper, unreadable rows split off for the dead letter.
//!
//! This crate is pure: no I/O, no clock, no global state. It must not know about buckets, keys,
//! HTTP or configuration; it only turns `RecordBatch`es into bytes and back (Arrow IPC, and JSON
//! rows in) and reasons about their schemas.

mod columns;
mod edge;
mod enterprise_elements;
mod events;
mod extra_names;
mod extra_values;
mod flow;
mod hour;
mod iana_elements;
mod ipc;
mod json_rows;
mod merge;
mod reserved;
mod syslog;

pub use columns::{EVENT_TIME, RECEIVE_TIME, TIMESTAMP_UNIT, timestamp_type};
pub use edge::{
    EDGE_FORMAT_KEY, EdgeError, FLOW_EDGE_FORMAT, FLOW_EDGE_FORMAT_V1, FLOW_EDGE_FORMATS,
    FLOW_PROTOCOLS, KNOWN_EDGE_FORMATS, RECORD_TYPES, SYSLOG_EDGE_FORMAT, SYSLOG_EDGE_RAW,
    SYSLOG_EDGE_SENDER, ValueProblem, check_fixed_edge_batch, edge_column, edge_format,
    edge_to_table, flow_edge_format_of, flow_edge_schema, flow_edge_type, syslog_edge_schema,
};
pub use events::{
    EVENTS_EDGE_FORMAT, EVENTS_EDGE_JSON, EVENTS_EDGE_SENDER, EVENTS_EDGE_TEXT, EventsEdge,
    EventsEdgeBuilder, events_edge_schema, read_events_edge,
};
pub use extra_names::iana_element_name;
pub use flow::{FlowColumn, flow_schema};
pub use hour::{EventHour, HourError, split_by_event_hour};
pub use ipc::{
    IpcCompression, IpcError, IpcLimitError, IpcLimits, IpcScan, UnknownCompression,
    count_ipc_rows, decode_ipc, decode_ipc_limited, encode_ipc, encode_ipc_with, read_ipc_schema,
    scan_ipc,
};
pub use json_rows::{JsonRowsError, json_rows_to_batch};
pub use merge::{MergeError, SchemaMerge, Widening, conform_batch, merge_schemas};
pub use reserved::{
    DEAD_LETTER_REASON, RESERVED_TIME_COLUMNS, ReservedColumnError, ReservedRows,
    check_reserved_columns, split_reserved_rows,
};
pub use syslog::{SyslogColumn, syslog_schema};
