//! The reserved time columns (`event_time`, `receive_time`) decide a row's Parquet partition,
//! so every stage must be able to read them. The receiver checks their types when a batch
//! arrives ([`check_reserved_columns`]); piper normalizes them to UTC microsecond timestamps
//! after the pipeline ran and splits off, with a reason, the rows whose values cannot be read
//! ([`split_reserved_rows`]), so one bad row never holds back the others.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::kernels::boolean::not;
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDateTime};

use crate::columns::{EVENT_TIME, RECEIVE_TIME};
use crate::hour::EventHour;

/// Columns every stage reads as times.
pub const RESERVED_TIME_COLUMNS: [&str; 2] = [EVENT_TIME, RECEIVE_TIME];

/// The column a dead-lettered row's reason is written to.
pub const DEAD_LETTER_REASON: &str = "dead_letter_reason";

const MICROS_PER_HOUR: i64 = 3_600_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "column {column:?} is {data_type}, but it is reserved for times: send a timestamp or RFC 3339 text (for example \"2026-12-06T03:00:00Z\"), or send the time under another name and set {column} with a date_parse filter"
)]
pub struct ReservedColumnError {
    pub column: &'static str,
    pub data_type: DataType,
}

/// Whether piper can read the reserved columns of batches with this schema: each is absent,
/// a timestamp, text (parsed per row) or all null. Checked where a batch enters the pipeline,
/// so a client sending `"event_time": 17` hears about it instead of its rows waiting.
pub fn check_reserved_columns(schema: &Schema) -> Result<(), ReservedColumnError> {
    for column in RESERVED_TIME_COLUMNS {
        if let Ok(field) = schema.field_with_name(column)
            && !readable_type(field.data_type())
        {
            return Err(ReservedColumnError {
                column,
                data_type: field.data_type().clone(),
            });
        }
    }
    Ok(())
}

fn readable_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(_, _)
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Null
    )
}

/// A batch split by whether its reserved columns could be read.
#[derive(Debug)]
pub struct ReservedRows {
    /// The readable rows, their reserved columns as UTC microsecond timestamps.
    pub accepted: RecordBatch,
    /// The other rows as they were, plus a `dead_letter_reason` column; `None` when every row
    /// was readable.
    pub rejected: Option<RecordBatch>,
}

/// Normalizes `event_time` and `receive_time` to UTC microsecond timestamps, and splits off the
/// rows where either holds a value that is no time (text that does not parse, a number, a
/// time outside the calendar). A null stays null: the partition falls back as usual.
pub fn split_reserved_rows(batch: &RecordBatch) -> Result<ReservedRows, ArrowError> {
    let mut normalized = batch.clone();
    let mut reasons: RowProblems = None;
    for column in RESERVED_TIME_COLUMNS {
        let Some(array) = batch.column_by_name(column) else {
            continue;
        };
        let (times, problems) = read_times(column, array)?;
        if let Some(problems) = problems {
            let reasons = reasons.get_or_insert_with(|| vec![None; batch.num_rows()]);
            for (row, problem) in problems.into_iter().enumerate() {
                if let Some(problem) = problem
                    && reasons[row].is_none()
                {
                    reasons[row] = Some(problem);
                }
            }
        }
        normalized = replace_column(&normalized, column, Arc::new(times))?;
    }
    let Some(reasons) = reasons else {
        return Ok(ReservedRows {
            accepted: normalized,
            rejected: None,
        });
    };
    let bad: BooleanArray = reasons.iter().map(|r| Some(r.is_some())).collect();
    let accepted = filter_record_batch(&normalized, &not(&bad)?)?;
    let rejected = filter_record_batch(batch, &bad)?;
    let reason_column: StringArray = reasons.into_iter().flatten().map(Some).collect();
    let rejected = replace_column(&rejected, DEAD_LETTER_REASON, Arc::new(reason_column))?;
    Ok(ReservedRows {
        accepted,
        rejected: Some(rejected),
    })
}

/// Per row, what is wrong with a reserved column; `None` when every row is fine.
type RowProblems = Option<Vec<Option<String>>>;

/// The column as UTC microseconds, and per row what is wrong with it.
fn read_times(
    column: &str,
    array: &ArrayRef,
) -> Result<(TimestampMicrosecondArray, RowProblems), ArrowError> {
    let rows = array.len();
    let mut problems: RowProblems = None;
    let mut flag = |row: usize, problem: String| {
        problems.get_or_insert_with(|| vec![None; rows])[row] = Some(problem);
    };
    let times: TimestampMicrosecondArray = match array.data_type() {
        DataType::Timestamp(_, _) => {
            // Safe cast: a value that overflows microseconds becomes null, flagged below.
            let options = CastOptions {
                safe: true,
                ..Default::default()
            };
            let cast = cast_with_options(
                array,
                &DataType::Timestamp(TimeUnit::Microsecond, None),
                &options,
            )?;
            let cast = cast.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            (0..rows)
                .map(|row| {
                    if array.is_null(row) {
                        return None;
                    }
                    match cast.is_valid(row).then(|| cast.value(row)) {
                        Some(micros) if in_calendar(micros) => Some(micros),
                        _ => {
                            flag(
                                row,
                                format!("{column} is outside the range of calendar dates"),
                            );
                            None
                        }
                    }
                })
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = cast_with_options(array, &DataType::Utf8, &CastOptions::default())?;
            let text = text.as_string::<i32>();
            (0..rows)
                .map(|row| {
                    if text.is_null(row) {
                        return None;
                    }
                    let value = text.value(row);
                    match parse_time(value) {
                        Some(micros) if in_calendar(micros) => Some(micros),
                        _ => {
                            flag(
                                row,
                                format!("{column} {} is not an RFC 3339 time", quoted(value)),
                            );
                            None
                        }
                    }
                })
                .collect()
        }
        DataType::Null => TimestampMicrosecondArray::new_null(rows),
        other => (0..rows)
            .map(|row| {
                if array.is_valid(row) {
                    flag(
                        row,
                        format!("{column} is {other}; it must be a timestamp or RFC 3339 text"),
                    );
                }
                None::<i64>
            })
            .collect(),
    };
    Ok((times.with_timezone("UTC"), problems))
}

/// RFC 3339, or the same without an offset (taken as UTC), with `T` or a space.
fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_micros());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc().timestamp_micros())
}

/// Whether the hour of `micros` is a calendar hour, as partitioning needs.
fn in_calendar(micros: i64) -> bool {
    EventHour::from_unix_micros(micros.div_euclid(MICROS_PER_HOUR) * MICROS_PER_HOUR).is_some()
}

/// At most 64 characters of a value, quoted, so a reason never carries a megabyte of input.
fn quoted(value: &str) -> String {
    const SHOWN: usize = 64;
    match value.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{:?}...", &value[..end]),
        None => format!("{value:?}"),
    }
}

fn replace_column(
    batch: &RecordBatch,
    name: &str,
    values: ArrayRef,
) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    let field = Field::new(name, values.data_type().clone(), true);
    match schema.index_of(name) {
        Ok(position) => {
            fields[position] = field;
            columns[position] = values;
        }
        Err(_) => {
            fields.push(field);
            columns.push(values);
        }
    }
    RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        columns,
    )
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, TimestampSecondArray};

    use super::*;
    use crate::columns::timestamp_type;

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    fn micros(batch: &RecordBatch, column: &str) -> Vec<Option<i64>> {
        batch
            .column_by_name(column)
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .iter()
            .collect()
    }

    #[test]
    fn ingest_accepts_times_and_text_and_refuses_other_types() {
        let good = Schema::new(vec![
            Field::new(EVENT_TIME, DataType::Utf8, true),
            Field::new(RECEIVE_TIME, timestamp_type(), false),
        ]);
        assert!(check_reserved_columns(&good).is_ok());
        assert!(
            check_reserved_columns(&Schema::new(vec![Field::new("x", DataType::Int64, true)]))
                .is_ok()
        );
        let bad = Schema::new(vec![Field::new(EVENT_TIME, DataType::Int64, true)]);
        let error = check_reserved_columns(&bad).unwrap_err().to_string();
        assert!(
            error.contains("\"event_time\" is Int64") && error.contains("date_parse"),
            "{error}"
        );
    }

    #[test]
    fn one_unreadable_row_is_split_off_with_its_reason() {
        let input = batch(vec![
            (
                EVENT_TIME,
                Arc::new(StringArray::from(vec![
                    Some("2026-12-06T03:00:00Z"),
                    Some("x"),
                    None,
                    Some("2026-12-06 04:00:00"),
                ])) as ArrayRef,
            ),
            (
                "n",
                Arc::new(Int64Array::from(vec![0, 1, 2, 3])) as ArrayRef,
            ),
        ]);
        let split = split_reserved_rows(&input).unwrap();
        assert_eq!(split.accepted.num_rows(), 3);
        assert_eq!(
            split
                .accepted
                .schema()
                .field_with_name(EVENT_TIME)
                .unwrap()
                .data_type(),
            &timestamp_type()
        );
        let base = DateTime::parse_from_rfc3339("2026-12-06T03:00:00Z")
            .unwrap()
            .timestamp_micros();
        assert_eq!(
            micros(&split.accepted, EVENT_TIME),
            [Some(base), None, Some(base + MICROS_PER_HOUR)]
        );
        let rejected = split.rejected.unwrap();
        assert_eq!(rejected.num_rows(), 1);
        let reason = rejected
            .column_by_name(DEAD_LETTER_REASON)
            .unwrap()
            .as_string::<i32>();
        assert_eq!(reason.value(0), "event_time \"x\" is not an RFC 3339 time");
        assert_eq!(
            rejected
                .column_by_name(EVENT_TIME)
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "x"
        );
    }

    #[test]
    fn times_outside_the_calendar_and_numbers_are_rejected_rows() {
        let input = batch(vec![
            (
                EVENT_TIME,
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(5), Some(i64::MAX - 1), None])
                        .with_timezone("UTC"),
                ) as ArrayRef,
            ),
            (
                RECEIVE_TIME,
                Arc::new(TimestampSecondArray::from(vec![
                    Some(1),
                    Some(2),
                    Some(i64::MAX),
                ])) as ArrayRef,
            ),
        ]);
        let split = split_reserved_rows(&input).unwrap();
        assert_eq!(micros(&split.accepted, EVENT_TIME), [Some(5)]);
        assert_eq!(micros(&split.accepted, RECEIVE_TIME), [Some(1_000_000)]);
        let rejected = split.rejected.unwrap();
        let reasons = rejected
            .column_by_name(DEAD_LETTER_REASON)
            .unwrap()
            .as_string::<i32>();
        assert_eq!(
            reasons.value(0),
            "event_time is outside the range of calendar dates"
        );
        assert_eq!(
            reasons.value(1),
            "receive_time is outside the range of calendar dates"
        );

        let numbers = batch(vec![(
            EVENT_TIME,
            Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
        )]);
        let split = split_reserved_rows(&numbers).unwrap();
        assert_eq!(split.accepted.num_rows(), 1, "a null is no problem");
        assert!(split.rejected.unwrap().num_rows() == 1);
    }

    #[test]
    fn a_clean_batch_is_only_normalized() {
        let input = batch(vec![(
            EVENT_TIME,
            Arc::new(TimestampMicrosecondArray::from(vec![1, 2]).with_timezone("UTC")) as ArrayRef,
        )]);
        let split = split_reserved_rows(&input).unwrap();
        assert!(split.rejected.is_none());
        assert_eq!(split.accepted.num_rows(), 2);
    }
}
