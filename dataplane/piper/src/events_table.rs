//! Table rows from an `events/1` edge batch: each JSON event's keys become columns (nested
//! objects flattened or kept as JSON text, as the dataset says), text events go to `message`,
//! and every row keeps its `receive_time` and `sender_address`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use bytefreezer_api::NestedJson;
use bytefreezer_schema::{EVENTS_EDGE_SENDER, EdgeError, RECEIVE_TIME, read_events_edge};
use bytefreezer_transform::{LiftMode, lift_fields};

/// Where the JSON events wait while their keys are lifted: a name no key becomes (lifted names
/// hold only letters, digits, `_`, `.` and `-`).
const PENDING_JSON: &str = "events json";
/// The column that keeps the JSON events when some of their keys could not become columns
/// (more distinct keys than a batch may lift), so nothing is lost.
pub const EVENT_JSON: &str = "event_json";
/// The column of text events.
pub const MESSAGE: &str = "message";

pub fn events_to_table(batch: &RecordBatch, nested: NestedJson) -> Result<RecordBatch, EdgeError> {
    let edge = read_events_edge(batch)?;
    let mut fields = vec![
        Field::new(RECEIVE_TIME, edge.receive_time.data_type().clone(), false),
        Field::new(EVENTS_EDGE_SENDER, DataType::Utf8, true),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(edge.receive_time.clone()),
        Arc::new(edge.sender_text.clone()),
    ];
    if edge.text.null_count() < edge.text.len() {
        fields.push(Field::new(MESSAGE, DataType::Utf8, true));
        columns.push(Arc::new(edge.text.clone()));
    }
    let has_json = edge.json.null_count() < edge.json.len();
    if !has_json {
        return Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?);
    }
    fields.push(Field::new(PENDING_JSON, DataType::Utf8, true));
    columns.push(Arc::new(edge.json.clone()));
    let with_json = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let mode = match nested {
        NestedJson::Flatten => LiftMode::JsonFlatten,
        NestedJson::JsonText => LiftMode::Json,
    };
    let lifted = lift_fields(&with_json, PENDING_JSON, mode)
        .map_err(|error| EdgeError::Arrow(ArrowError::ComputeError(error.to_string())))?;
    let position = lifted
        .batch
        .schema()
        .index_of(PENDING_JSON)
        .map_err(EdgeError::Arrow)?;
    let table = if lifted.skipped_keys == 0 {
        let mut table = lifted.batch;
        table.remove_column(position);
        table
    } else {
        let schema = lifted.batch.schema();
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let field = field.as_ref().clone();
                if i == position {
                    field.with_name(EVENT_JSON)
                } else {
                    field
                }
            })
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            lifted.batch.columns().to_vec(),
        )?
    };
    Ok(table)
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int64Array};
    use bytefreezer_schema::EventsEdgeBuilder;

    use super::*;

    fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> Vec<Option<&'a str>> {
        batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", batch.schema()))
            .as_string::<i32>()
            .iter()
            .collect()
    }

    #[test]
    fn json_keys_become_columns_and_text_lines_the_message() {
        let sender = Some("192.0.2.7".parse().unwrap());
        let mut edge = EventsEdgeBuilder::default();
        edge.append_json(
            r#"{"user":{"name":"ana","id":7},"action":"login","receive_time":"x"}"#,
            10,
            sender,
        );
        edge.append_text("a plain line", 11, None);
        let batch = edge.flush().unwrap();

        let flat = events_to_table(&batch, NestedJson::Flatten).unwrap();
        assert_eq!(text_column(&flat, "user.name"), [Some("ana"), None]);
        let ids: &Int64Array = flat.column_by_name("user.id").unwrap().as_primitive();
        assert_eq!(ids.iter().collect::<Vec<_>>(), [Some(7), None]);
        assert_eq!(text_column(&flat, "action"), [Some("login"), None]);
        assert_eq!(text_column(&flat, MESSAGE), [None, Some("a plain line")]);
        assert_eq!(
            text_column(&flat, EVENTS_EDGE_SENDER),
            [Some("192.0.2.7"), None]
        );
        // A key named like a column the table already has keeps its value under another name.
        assert_eq!(text_column(&flat, "body_receive_time"), [Some("x"), None]);
        assert!(flat.column_by_name(PENDING_JSON).is_none());
        assert!(flat.column_by_name(EVENT_JSON).is_none());

        let kept = events_to_table(&batch, NestedJson::JsonText).unwrap();
        let user = text_column(&kept, "user");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(user[0].unwrap()).unwrap(),
            serde_json::json!({ "name": "ana", "id": 7 })
        );
        assert_eq!(user[1], None);
    }

    #[test]
    fn keys_beyond_the_lift_limit_keep_the_events_whole() {
        let mut edge = EventsEdgeBuilder::default();
        let keys: Vec<String> = (0..bytefreezer_transform::MAX_LIFTED_COLUMNS + 5)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect();
        let event = format!("{{{}}}", keys.join(","));
        edge.append_json(&event, 1, None);
        let table = events_to_table(&edge.flush().unwrap(), NestedJson::Flatten).unwrap();
        assert_eq!(text_column(&table, EVENT_JSON), [Some(event.as_str())]);
    }

    #[test]
    fn text_only_batches_have_no_json_columns() {
        let mut edge = EventsEdgeBuilder::default();
        edge.append_text("one", 1, None);
        let table = events_to_table(&edge.flush().unwrap(), NestedJson::Flatten).unwrap();
        let names: Vec<&str> = table
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, [RECEIVE_TIME, EVENTS_EDGE_SENDER, MESSAGE]);
    }
}
