//! The `events/1` edge batch (docs/specs/edge-batch.md): what a proxy ships for inputs whose
//! senders post events (`http`) or a queue holds them (`nats`, `sqs`, `kafka`). The edge only splits a body into
//! events and checks each JSON event is an object; piper turns the JSON into columns, so the
//! edge stays cheap and one parser shapes every input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, StringArray, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;

use crate::columns::{RECEIVE_TIME, timestamp_type};
use crate::edge::{EDGE_FORMAT_KEY, EdgeError, ValueProblem, check_fixed_edge_batch, edge_column};

/// The events edge format this build writes and reads.
pub const EVENTS_EDGE_FORMAT: &str = "events/1";
/// `events/1`'s column of JSON events: one object per row, null in rows that are text.
pub const EVENTS_EDGE_JSON: &str = "json";
/// `events/1`'s column of text events: one line per row, null in rows that are JSON.
pub const EVENTS_EDGE_TEXT: &str = "text";
/// `events/1`'s column of the sender's address, 4 or 16 bytes (null when unknown).
pub const EVENTS_EDGE_SENDER: &str = "sender_address";

/// The schema of an `events/1` batch: `receive_time`, `sender_address`, `json`, `text`.
pub fn events_edge_schema() -> SchemaRef {
    EVENTS_EDGE_SCHEMA.clone()
}

static EVENTS_EDGE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let metadata = [(EDGE_FORMAT_KEY.to_owned(), EVENTS_EDGE_FORMAT.to_owned())]
        .into_iter()
        .collect();
    Arc::new(Schema::new_with_metadata(
        vec![
            Field::new(RECEIVE_TIME, timestamp_type(), false),
            Field::new(EVENTS_EDGE_SENDER, DataType::Binary, true),
            Field::new(EVENTS_EDGE_JSON, DataType::Utf8, true),
            Field::new(EVENTS_EDGE_TEXT, DataType::Utf8, true),
        ],
        metadata,
    ))
});

/// Appends events to an `events/1` batch.
pub struct EventsEdgeBuilder {
    receive_time: TimestampMicrosecondBuilder,
    sender_address: BinaryBuilder,
    json: StringBuilder,
    text: StringBuilder,
    rows: usize,
    bytes: usize,
}

impl Default for EventsEdgeBuilder {
    fn default() -> Self {
        EventsEdgeBuilder::with_capacity(0, 0)
    }
}

impl EventsEdgeBuilder {
    pub fn with_capacity(rows: usize, bytes: usize) -> EventsEdgeBuilder {
        EventsEdgeBuilder {
            receive_time: TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            sender_address: BinaryBuilder::with_capacity(rows, rows * 4),
            json: StringBuilder::with_capacity(rows, bytes),
            text: StringBuilder::with_capacity(0, 0),
            rows: 0,
            bytes: 0,
        }
    }

    /// One JSON event; the caller has checked it is a JSON object.
    pub fn append_json(&mut self, event: &str, receive_time_micros: i64, sender: Option<IpAddr>) {
        self.append_meta(receive_time_micros, sender);
        self.json.append_value(event);
        self.text.append_null();
        self.bytes += event.len();
    }

    /// One text event (a line without its line break).
    pub fn append_text(&mut self, event: &str, receive_time_micros: i64, sender: Option<IpAddr>) {
        self.append_meta(receive_time_micros, sender);
        self.json.append_null();
        self.text.append_value(event);
        self.bytes += event.len();
    }

    fn append_meta(&mut self, receive_time_micros: i64, sender: Option<IpAddr>) {
        self.receive_time.append_value(receive_time_micros);
        match sender {
            Some(IpAddr::V4(address)) => self.sender_address.append_value(address.octets()),
            Some(IpAddr::V6(address)) => self.sender_address.append_value(address.octets()),
            None => self.sender_address.append_null(),
        }
        self.rows += 1;
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Event bytes appended since the last flush.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The events appended since the last flush; `None` when there are none.
    pub fn flush(&mut self) -> Option<RecordBatch> {
        if self.rows == 0 {
            return None;
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.receive_time.finish()),
            Arc::new(self.sender_address.finish()),
            Arc::new(self.json.finish()),
            Arc::new(self.text.finish()),
        ];
        self.rows = 0;
        self.bytes = 0;
        // The builders produce exactly the schema's types, so this only fails on a bug here.
        RecordBatch::try_new(events_edge_schema(), columns).ok()
    }
}

/// The columns of an `events/1` batch, checked: every row has a receive time, a well-formed
/// sender address or null, and exactly one of `json` and `text`.
pub struct EventsEdge<'a> {
    pub receive_time: &'a arrow::array::TimestampMicrosecondArray,
    pub json: &'a StringArray,
    pub text: &'a StringArray,
    /// The sender of each row as text (`192.0.2.7`, `2001:db8::1`), null when unknown.
    pub sender_text: StringArray,
}

/// Reads an `events/1` batch, refusing one that does not follow the format.
pub fn read_events_edge(batch: &RecordBatch) -> Result<EventsEdge<'_>, EdgeError> {
    const FORMAT: &str = EVENTS_EDGE_FORMAT;
    check_fixed_edge_batch(batch, FORMAT, &events_edge_schema())?;
    let column = |name: &'static str| edge_column(batch, FORMAT, name);
    let receive_time = column(RECEIVE_TIME)?.as_primitive::<TimestampMicrosecondType>();
    let sender = column(EVENTS_EDGE_SENDER)?.as_binary::<i32>();
    let json = column(EVENTS_EDGE_JSON)?.as_string::<i32>();
    let text = column(EVENTS_EDGE_TEXT)?.as_string::<i32>();
    let mut sender_text = StringBuilder::with_capacity(batch.num_rows(), batch.num_rows() * 12);
    for row in 0..batch.num_rows() {
        let bad = |column: &'static str, problem: ValueProblem| EdgeError::BadValue {
            format: FORMAT,
            column,
            row,
            problem,
        };
        if receive_time.is_null(row) {
            return Err(bad(RECEIVE_TIME, ValueProblem::Null));
        }
        if json.is_null(row) == text.is_null(row) {
            return Err(bad(EVENTS_EDGE_JSON, ValueProblem::Null));
        }
        if sender.is_null(row) {
            sender_text.append_null();
            continue;
        }
        let bytes = sender.value(row);
        let address = match bytes.len() {
            4 => IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(bytes).unwrap_or_default(),
            )),
            16 => IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(bytes).unwrap_or_default(),
            )),
            other => {
                return Err(bad(
                    EVENTS_EDGE_SENDER,
                    ValueProblem::AddressLength { bytes: other },
                ));
            }
        };
        sender_text.append_value(address.to_string());
    }
    Ok(EventsEdge {
        receive_time,
        json,
        text,
        sender_text: sender_text.finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_batches_read_back_with_their_senders_and_kinds() {
        let mut builder = EventsEdgeBuilder::default();
        builder.append_json(r#"{"a":1}"#, 5, Some("192.0.2.7".parse().unwrap()));
        builder.append_text("plain line", 6, Some("2001:db8::1".parse().unwrap()));
        builder.append_json("{}", 7, None);
        assert_eq!(builder.bytes(), 7 + 10 + 2);
        let batch = builder.flush().unwrap();
        assert!(builder.flush().is_none());
        let edge = read_events_edge(&batch).unwrap();
        assert_eq!(edge.json.value(0), r#"{"a":1}"#);
        assert!(edge.json.is_null(1) && edge.text.value(1) == "plain line");
        assert_eq!(edge.sender_text.value(0), "192.0.2.7");
        assert_eq!(edge.sender_text.value(1), "2001:db8::1");
        assert!(edge.sender_text.is_null(2));
        assert_eq!(edge.receive_time.value(2), 7);
    }

    #[test]
    fn a_row_with_both_kinds_or_neither_is_refused() {
        let batch = RecordBatch::try_new(
            events_edge_schema(),
            vec![
                Arc::new(
                    arrow::array::TimestampMicrosecondArray::from(vec![1]).with_timezone("UTC"),
                ),
                Arc::new(arrow::array::BinaryArray::from(vec![None::<&[u8]>])),
                Arc::new(StringArray::from(vec![Some("{}")])),
                Arc::new(StringArray::from(vec![Some("x")])),
            ],
        )
        .unwrap();
        assert!(matches!(
            read_events_edge(&batch),
            Err(EdgeError::BadValue { row: 0, .. })
        ));
    }
}
