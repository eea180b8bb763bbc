use std::io::{BufRead, BufReader, Cursor};
use std::sync::Arc;

use crate::columns::{RECEIVE_TIME, timestamp_type};
use arrow::array::{ArrayRef, TimestampMicrosecondArray};
use arrow::datatypes::{Field, Schema};
use arrow::error::ArrowError;
use arrow::json::ReaderBuilder;
use arrow::json::reader::infer_json_schema_from_iterator;
use arrow::record_batch::RecordBatch;

/// Why a JSON body did not become a batch. Lines and array elements count from 1.
#[derive(Debug, thiserror::Error)]
pub enum JsonRowsError {
    #[error("the body holds no JSON object")]
    Empty,
    #[error("invalid JSON array: {0}")]
    Array(#[source] serde_json::Error),
    #[error("array element {element} is not a JSON object")]
    ElementNotObject { element: usize },
    #[error("line {line} is not valid UTF-8")]
    LineNotUtf8 {
        line: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line} is not valid JSON: {source}")]
    LineNotJson {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {line} is not a JSON object")]
    LineNotObject { line: usize },
    #[error("cannot infer a schema: {0}")]
    Schema(#[source] ArrowError),
    #[error("cannot convert JSON: {0}")]
    Convert(#[source] ArrowError),
    /// Building the decoder or the batch; neither happens for objects that parsed.
    #[error(transparent)]
    Arrow(ArrowError),
}

/// Turns newline-delimited JSON objects (or one JSON array of objects) into one batch, adding
/// `receive_time` when the events do not carry it. Errors name the line.
pub fn json_rows_to_batch(
    body: &[u8],
    receive_time_micros: i64,
) -> Result<RecordBatch, JsonRowsError> {
    let values = parse_values(body)?;
    if values.is_empty() {
        return Err(JsonRowsError::Empty);
    }
    let schema =
        infer_json_schema_from_iterator(values.iter().map(Ok)).map_err(JsonRowsError::Schema)?;
    let mut decoder = ReaderBuilder::new(Arc::new(schema))
        .with_batch_size(values.len())
        .build_decoder()
        .map_err(JsonRowsError::Arrow)?;
    decoder.serialize(&values).map_err(JsonRowsError::Convert)?;
    let batch = decoder
        .flush()
        .map_err(JsonRowsError::Convert)?
        .ok_or(JsonRowsError::Empty)?;
    if batch.schema().field_with_name(RECEIVE_TIME).is_ok() {
        // A client-supplied receive_time would not be a timestamp; keep it under another name.
        return rename_receive_time(batch, receive_time_micros);
    }
    append_receive_time(batch, receive_time_micros)
}

fn parse_values(body: &[u8]) -> Result<Vec<serde_json::Value>, JsonRowsError> {
    let trimmed = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&body[..0], |start| &body[start..]);
    if trimmed.first() == Some(&b'[') {
        let values: Vec<serde_json::Value> =
            serde_json::from_slice(trimmed).map_err(JsonRowsError::Array)?;
        return values
            .into_iter()
            .enumerate()
            .map(|(index, value)| match value {
                serde_json::Value::Object(_) => Ok(value),
                _ => Err(JsonRowsError::ElementNotObject { element: index + 1 }),
            })
            .collect();
    }
    let mut values = Vec::new();
    for (index, line) in BufReader::new(Cursor::new(body)).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|source| JsonRowsError::LineNotUtf8 {
            line: number,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(value @ serde_json::Value::Object(_)) => values.push(value),
            Ok(_) => return Err(JsonRowsError::LineNotObject { line: number }),
            Err(source) => {
                return Err(JsonRowsError::LineNotJson {
                    line: number,
                    source,
                });
            }
        }
    }
    Ok(values)
}

fn append_receive_time(batch: RecordBatch, micros: i64) -> Result<RecordBatch, JsonRowsError> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    fields.insert(0, Field::new(RECEIVE_TIME, timestamp_type(), false));
    columns.insert(
        0,
        Arc::new(
            TimestampMicrosecondArray::from(vec![micros; batch.num_rows()]).with_timezone("UTC"),
        ),
    );
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(JsonRowsError::Arrow)
}

fn rename_receive_time(batch: RecordBatch, micros: i64) -> Result<RecordBatch, JsonRowsError> {
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| {
            if f.name() == RECEIVE_TIME {
                f.as_ref().clone().with_name("client_receive_time")
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let renamed = RecordBatch::try_new(Arc::new(Schema::new(fields)), batch.columns().to_vec())
        .map_err(JsonRowsError::Arrow)?;
    append_receive_time(renamed, micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_arrays_become_rows_with_receive_time() {
        let batch = json_rows_to_batch(b"{\"a\":1,\"b\":\"x\"}\n\n{\"a\":2}\n", 5).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema().field(0).name(), RECEIVE_TIME);
        assert!(batch.schema().field_with_name("b").is_ok());
        assert_eq!(
            json_rows_to_batch(b" [{\"a\":1},{\"a\":2},{\"c\":true}]", 5)
                .unwrap()
                .num_rows(),
            3
        );
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            json_rows_to_batch(b"{\"a\":1}\n{oops\n", 0)
                .unwrap_err()
                .to_string()
                .split(':')
                .next()
                .unwrap(),
            "line 2 is not valid JSON"
        );
        assert!(
            json_rows_to_batch(b"{\"a\":1}\n42\n", 0)
                .unwrap_err()
                .to_string()
                .contains("line 2 is not a JSON object")
        );
        assert!(json_rows_to_batch(b"", 0).is_err());
        assert!(
            json_rows_to_batch(b"[1]", 0)
                .unwrap_err()
                .to_string()
                .contains("element 1")
        );
    }
}
