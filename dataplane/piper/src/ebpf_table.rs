//! The typed table of an `ebpf` dataset (docs/ebpf.md): the agents' records arrive as JSON
//! events whose keys piper lifts like any event's; here the known keys get the types the schema
//! gives them (`pid` a uint32, `bytes_sent` a uint64, ...), every known column is present in every
//! batch (null where a record kind has no such field), and `timestamp` becomes `event_time`.
//! A value that does not fit its column's type is null; keys the schema does not list follow
//! the typed columns as they were lifted.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondArray, new_null_array};
use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use bytefreezer_schema::{EVENT_TIME, EVENTS_EDGE_SENDER, RECEIVE_TIME};

/// The record's own time: RFC 3339 text, or a number since the epoch (seconds, milliseconds,
/// microseconds or nanoseconds, told apart by magnitude).
pub const EBPF_TIMESTAMP: &str = "timestamp";

/// Every typed column, in table order (after `receive_time`, `sender_address` and
/// `event_time`).
pub const EBPF_COLUMNS: &[(&str, DataType)] = &[
    ("record_type", DataType::Utf8),
    ("host", DataType::Utf8),
    ("event", DataType::Utf8),
    ("pid", DataType::UInt32),
    ("ppid", DataType::UInt32),
    ("uid", DataType::UInt32),
    ("user", DataType::Utf8),
    ("comm", DataType::Utf8),
    ("exe", DataType::Utf8),
    ("cmdline", DataType::Utf8),
    ("container_id", DataType::Utf8),
    ("cgroup_id", DataType::UInt64),
    ("exit_code", DataType::Int32),
    ("ip_version", DataType::UInt8),
    ("ip_protocol", DataType::UInt8),
    ("src_addr", DataType::Utf8),
    ("src_port", DataType::UInt16),
    ("dst_addr", DataType::Utf8),
    ("dst_port", DataType::UInt16),
    ("direction", DataType::Utf8),
    ("outcome", DataType::Utf8),
    ("bytes_sent", DataType::UInt64),
    ("bytes_received", DataType::UInt64),
    ("packets_sent", DataType::UInt64),
    ("packets_received", DataType::UInt64),
    ("retransmits", DataType::UInt32),
    ("rtt_us", DataType::UInt32),
    ("packets", DataType::UInt64),
    ("bytes", DataType::UInt64),
    ("icmp_type", DataType::UInt8),
    ("icmp_code", DataType::UInt8),
    ("duration_us", DataType::UInt64),
    ("dns_id", DataType::UInt16),
    ("dns_query", DataType::Utf8),
    ("dns_type", DataType::Utf8),
    ("dns_rcode", DataType::Utf8),
    ("dns_answers", DataType::Utf8),
    ("dns_latency_us", DataType::UInt64),
];

/// `table` (an events table) in the typed layout.
pub fn ebpf_typed(table: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let rows = table.num_rows();
    let schema = table.schema();
    let mut fields: Vec<Field> = Vec::with_capacity(EBPF_COLUMNS.len() + 8);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(EBPF_COLUMNS.len() + 8);
    let mut placed: Vec<&str> = Vec::new();
    for name in [RECEIVE_TIME, EVENTS_EDGE_SENDER] {
        if let Ok(index) = schema.index_of(name) {
            fields.push(schema.field(index).clone());
            columns.push(table.column(index).clone());
            placed.push(name);
        }
    }
    let time_type = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let (event_time, time_complete) = match table.column_by_name(EBPF_TIMESTAMP) {
        Some(timestamp) => event_time(timestamp)?,
        None => (new_null_array(&time_type, rows), true),
    };
    fields.push(Field::new(EVENT_TIME, time_type, true));
    columns.push(event_time);
    placed.push(EVENT_TIME);
    if time_complete {
        placed.push(EBPF_TIMESTAMP);
    }
    let safe = CastOptions {
        safe: true,
        ..CastOptions::default()
    };
    for (name, data_type) in EBPF_COLUMNS {
        let column = match table.column_by_name(name) {
            Some(column) if column.data_type() == data_type => column.clone(),
            Some(column) => cast_with_options(column, data_type, &safe)?,
            None => new_null_array(data_type, rows),
        };
        fields.push(Field::new(*name, data_type.clone(), true));
        columns.push(column);
        placed.push(name);
    }
    for (field, column) in schema.fields().iter().zip(table.columns()) {
        if !placed.contains(&field.name().as_str()) {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// `event_time` from the records' `timestamp`, and whether every given value was read (then
/// the `timestamp` column is redundant and left out).
fn event_time(timestamp: &ArrayRef) -> Result<(ArrayRef, bool), ArrowError> {
    let micros: TimestampMicrosecondArray = match timestamp.data_type() {
        DataType::Int64 | DataType::Float64 => {
            let whole = cast_with_options(timestamp, &DataType::Int64, &CastOptions::default())?;
            whole
                .as_primitive::<Int64Type>()
                .iter()
                .map(|value| value.map(epoch_micros))
                .collect()
        }
        _ => {
            // Text: RFC 3339, or digits (a number that shared its column with text).
            let text = cast_with_options(timestamp, &DataType::Utf8, &CastOptions::default())?;
            text.as_string::<i32>()
                .iter()
                .map(|value| {
                    let value = value?.trim();
                    match value.parse::<i64>() {
                        Ok(number) => Some(epoch_micros(number)),
                        Err(_) => string_to_timestamp_nanos(value)
                            .ok()
                            .map(|nanos| nanos.div_euclid(1_000)),
                    }
                })
                .collect()
        }
    };
    let micros = micros.with_timezone("UTC");
    let complete = micros.null_count() == timestamp.null_count();
    Ok((Arc::new(micros), complete))
}

/// A count since the epoch in whichever unit its size says: seconds until the year 5138,
/// then milliseconds, microseconds, nanoseconds.
fn epoch_micros(value: i64) -> i64 {
    match value.unsigned_abs() {
        0..100_000_000_000 => value.saturating_mul(1_000_000),
        100_000_000_000..100_000_000_000_000 => value.saturating_mul(1_000),
        100_000_000_000_000..100_000_000_000_000_000 => value,
        _ => value / 1_000,
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{StringArray, UInt32Array, UInt64Array};
    use bytefreezer_api::NestedJson;
    use bytefreezer_schema::EventsEdgeBuilder;

    use super::*;
    use crate::events_table::events_to_table;

    fn typed(events: &[&str]) -> RecordBatch {
        let mut edge = EventsEdgeBuilder::default();
        for event in events {
            edge.append_json(event, 1_000_000, Some("192.0.2.1".parse().unwrap()));
        }
        let table = events_to_table(&edge.flush().unwrap(), NestedJson::Flatten).unwrap();
        ebpf_typed(&table).unwrap()
    }

    #[test]
    fn known_keys_get_their_types_and_every_typed_column_is_present() {
        let table = typed(&[
            r#"{"record_type":"process","timestamp":"2026-12-07T10:00:00.5Z","pid":42,"comm":"nginx","cgroup_id":18446744073709551615,"labels":{"team":"web"}}"#,
            r#"{"record_type":"connection","timestamp":1796637600000000000,"pid":-1,"bytes_sent":100002}"#,
        ]);
        let pid: &UInt32Array = table.column_by_name("pid").unwrap().as_primitive();
        assert_eq!(pid.iter().collect::<Vec<_>>(), [Some(42), None]);
        let sent: &UInt64Array = table.column_by_name("bytes_sent").unwrap().as_primitive();
        assert_eq!(sent.iter().collect::<Vec<_>>(), [None, Some(100_002)]);
        let times: &TimestampMicrosecondArray =
            table.column_by_name(EVENT_TIME).unwrap().as_primitive();
        assert_eq!(
            times.iter().collect::<Vec<_>>(),
            [Some(1_796_637_600_500_000), Some(1_796_637_600_000_000)]
        );
        assert!(table.column_by_name(EBPF_TIMESTAMP).is_none());
        let dns: &StringArray = table.column_by_name("dns_query").unwrap().as_string();
        assert_eq!(dns.null_count(), 2);
        let names: Vec<&str> = table
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            &names[..4],
            [RECEIVE_TIME, EVENTS_EDGE_SENDER, EVENT_TIME, "record_type"]
        );
        assert_eq!(names.last(), Some(&"labels.team"));
        assert_eq!(names.len(), 3 + EBPF_COLUMNS.len() + 1);
    }

    #[test]
    fn an_unreadable_timestamp_is_kept_beside_a_null_event_time() {
        let table = typed(&[r#"{"record_type":"dns","timestamp":"yesterday"}"#]);
        assert!(table.column_by_name(EVENT_TIME).unwrap().is_null(0));
        let kept: &StringArray = table.column_by_name(EBPF_TIMESTAMP).unwrap().as_string();
        assert_eq!(kept.value(0), "yesterday");
    }

    #[test]
    fn epoch_numbers_are_read_in_the_unit_their_size_says() {
        let micros = 1_796_637_600_000_000;
        for value in [1_796_637_600, 1_796_637_600_000, micros, micros * 1_000] {
            assert_eq!(epoch_micros(value), micros, "{value}");
        }
    }
}
