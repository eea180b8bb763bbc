use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, TimestampMicrosecondArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
pub use bytefreezer_layout::HourPartition as EventHour;

use crate::columns::{EVENT_TIME, RECEIVE_TIME};

const MICROS_PER_HOUR: i64 = 3_600_000_000;

#[derive(Debug, thiserror::Error)]
pub enum HourError {
    #[error("column {column:?} is not a microsecond timestamp: {data_type}")]
    NotATimestamp {
        column: &'static str,
        data_type: arrow::datatypes::DataType,
    },
    #[error("cannot split batch by hour: {0}")]
    Take(#[from] ArrowError),
    #[error("timestamp {micros} µs is outside the range of calendar dates")]
    OutOfRange { micros: i64 },
}

/// Splits a batch into one batch per event hour. A row's hour is that of `event_time`, or of
/// `receive_time` when the event carried no time, or of `fallback_micros` when the batch has
/// neither column (for example NDJSON posted without timestamps).
pub fn split_by_event_hour(
    batch: &RecordBatch,
    fallback_micros: i64,
) -> Result<Vec<(EventHour, RecordBatch)>, HourError> {
    let event = timestamp_column(batch, EVENT_TIME)?;
    let receive = timestamp_column(batch, RECEIVE_TIME)?;
    let hour_of_row = |row: usize| -> i64 {
        let micros = match (event, receive) {
            (Some(event), _) if event.is_valid(row) => event.value(row),
            (_, Some(receive)) if receive.is_valid(row) => receive.value(row),
            _ => fallback_micros,
        };
        micros.div_euclid(MICROS_PER_HOUR)
    };
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let first_hour = hour_of_row(0);
    if (1..batch.num_rows()).all(|row| hour_of_row(row) == first_hour) {
        return Ok(vec![(hour_from_index(first_hour)?, batch.clone())]);
    }
    let mut rows_by_hour: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for row in 0..batch.num_rows() {
        rows_by_hour
            .entry(hour_of_row(row))
            .or_default()
            .push(row as u32);
    }
    rows_by_hour
        .into_iter()
        .map(|(hour, rows)| {
            let indices = Arc::new(UInt32Array::from(rows));
            Ok((
                hour_from_index(hour)?,
                take_record_batch(batch, indices.as_ref())?,
            ))
        })
        .collect()
}

fn hour_from_index(hour_index: i64) -> Result<EventHour, HourError> {
    let micros = hour_index * MICROS_PER_HOUR;
    EventHour::from_unix_micros(micros).ok_or(HourError::OutOfRange { micros })
}

fn timestamp_column<'a>(
    batch: &'a RecordBatch,
    column: &'static str,
) -> Result<Option<&'a TimestampMicrosecondArray>, HourError> {
    let Some(array) = batch.column_by_name(column) else {
        return Ok(None);
    };
    array
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .map(Some)
        .ok_or_else(|| HourError::NotATimestamp {
            column,
            data_type: array.data_type().clone(),
        })
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, Int32Array};

    use super::*;

    fn timestamps(values: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
    }

    #[test]
    fn rows_go_to_the_hour_of_their_event_time_else_receive_time() {
        let hour = MICROS_PER_HOUR;
        let batch = RecordBatch::try_from_iter(vec![
            (
                "n",
                Arc::new(Int32Array::from(vec![0, 1, 2, 3])) as ArrayRef,
            ),
            (
                EVENT_TIME,
                timestamps(vec![
                    Some(hour * 5),
                    None,
                    Some(hour * 5 + 10),
                    Some(hour * 7),
                ]),
            ),
            (RECEIVE_TIME, timestamps(vec![Some(hour * 9); 4])),
        ])
        .unwrap();
        let parts = split_by_event_hour(&batch, 0).unwrap();
        let summary: Vec<(u32, usize)> =
            parts.iter().map(|(h, b)| (h.hour, b.num_rows())).collect();
        assert_eq!(summary, vec![(5, 2), (7, 1), (9, 1)]);
        assert_eq!(parts[0].0.to_string(), "1970-01-01T05");
    }

    #[test]
    fn negative_times_land_in_the_right_hour() {
        let batch =
            RecordBatch::try_from_iter(vec![(EVENT_TIME, timestamps(vec![Some(-1)]))]).unwrap();
        let parts = split_by_event_hour(&batch, 0).unwrap();
        assert_eq!(parts[0].0.year, 1969);
        assert_eq!(parts[0].0.hour, 23);
    }
}
