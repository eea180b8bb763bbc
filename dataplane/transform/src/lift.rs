use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringArray, StringBuilder,
};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::kv::{Value, scan_pairs, unescape};
use crate::pipeline::TransformError;

/// Keys beyond this many distinct ones per batch stay only in the message text, so one noisy
/// sender cannot explode the schema.
pub const MAX_LIFTED_COLUMNS: usize = 256;

/// Prefix for a lifted key whose name is already a column of the batch.
const COLLISION_PREFIX: &str = "body_";

#[derive(Debug)]
pub struct LiftOutcome {
    pub batch: RecordBatch,
    pub lifted_columns: usize,
    pub rows_lifted: usize,
    pub skipped_keys: usize,
}

enum Lifted {
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A JSON string: always text, even when it looks like a number.
    Text(String),
    /// A `key=value` token: typed as Int64 when every value of the key in the batch is one.
    Token(String),
}

struct Slot {
    name: String,
    values: Vec<(usize, Lifted)>,
}

/// Which body formats a lift looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiftMode {
    /// A JSON object when the text starts with `{`, else `key=value` pairs.
    Auto,
    Json,
    /// A JSON object with nested objects flattened into dotted names (`user.name`).
    JsonFlatten,
    KeyValue,
}

/// Objects nested deeper than this stay JSON text in the column of their parent path.
const MAX_FLATTEN_DEPTH: usize = 16;

fn flatten_into(
    prefix: &str,
    object: serde_json::Map<String, serde_json::Value>,
    depth: usize,
    put: &mut impl FnMut(&str, Lifted),
) {
    for (key, value) in object {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            serde_json::Value::Object(inner) if depth < MAX_FLATTEN_DEPTH => {
                flatten_into(&path, inner, depth + 1, put)
            }
            value => {
                if let Some(value) = from_json(value) {
                    put(&path, value);
                }
            }
        }
    }
}

/// Lifts a JSON object or `key=value` pairs in each row's `column` into their own columns,
/// appended after the existing ones. The source column is left as it was.
pub fn lift_message_fields(
    batch: &RecordBatch,
    column: &str,
) -> Result<LiftOutcome, TransformError> {
    lift_fields(batch, column, LiftMode::Auto)
}

/// [`lift_message_fields`] restricted to one body format (the `json_parse` and `kv` filters).
pub fn lift_fields(
    batch: &RecordBatch,
    column: &str,
    mode: LiftMode,
) -> Result<LiftOutcome, TransformError> {
    let unchanged = |batch: &RecordBatch| LiftOutcome {
        batch: batch.clone(),
        lifted_columns: 0,
        rows_lifted: 0,
        skipped_keys: 0,
    };
    let Some(messages) = batch.column_by_name(column) else {
        return Ok(unchanged(batch));
    };
    let Some(messages) = messages.as_any().downcast_ref::<StringArray>() else {
        return Err(TransformError::Column {
            column: column.into(),
            problem: format!(
                "expected text to lift fields from, found {}",
                messages.data_type()
            ),
        });
    };
    let schema = batch.schema();
    let mut slots: Vec<Slot> = Vec::new();
    let mut slot_of: HashMap<String, usize> = HashMap::new();
    let mut skipped: HashMap<String, ()> = HashMap::new();
    let mut rows_lifted = 0;
    for row in 0..messages.len() {
        if messages.is_null(row) {
            continue;
        }
        let text = messages.value(row);
        let mut lifted_any = false;
        let mut put = |key: &str, value: Lifted| {
            let index = match slot_of.get(key) {
                Some(index) => *index,
                None => {
                    if slots.len() >= MAX_LIFTED_COLUMNS {
                        skipped.insert(key.to_owned(), ());
                        return;
                    }
                    // A key with no usable name (empty) is counted like one over the limit:
                    // its value stays only in the source text.
                    let Some(name) = column_name(key, &schema, &slots) else {
                        skipped.insert(key.to_owned(), ());
                        return;
                    };
                    slots.push(Slot {
                        name,
                        values: Vec::new(),
                    });
                    slot_of.insert(key.to_owned(), slots.len() - 1);
                    slots.len() - 1
                }
            };
            let slot = &mut slots[index];
            // A key repeated within one message keeps its first value.
            if slot
                .values
                .last()
                .is_some_and(|(last_row, _)| *last_row == row)
            {
                return;
            }
            slot.values.push((row, value));
            lifted_any = true;
        };
        let trimmed = text.trim_start();
        let parsed_json = mode != LiftMode::KeyValue
            && trimmed.starts_with('{')
            && match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(trimmed) {
                Ok(object) if mode == LiftMode::JsonFlatten => {
                    flatten_into("", object, 0, &mut put);
                    true
                }
                Ok(object) => {
                    for (key, value) in object {
                        if let Some(value) = from_json(value) {
                            put(&key, value);
                        }
                    }
                    true
                }
                Err(_) => false,
            };
        if !parsed_json && matches!(mode, LiftMode::Auto | LiftMode::KeyValue) {
            scan_pairs(text, |key, value| {
                let value = match value {
                    Value::Plain(v) => v.to_owned(),
                    Value::Escaped(v) => unescape(v),
                };
                put(key, Lifted::Token(value));
            });
        }
        rows_lifted += usize::from(lifted_any);
    }
    if slots.is_empty() {
        let mut outcome = unchanged(batch);
        outcome.skipped_keys = skipped.len();
        return Ok(outcome);
    }
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for slot in &slots {
        let array = build_column(&slot.values, batch.num_rows());
        fields.push(Field::new(&slot.name, array.data_type().clone(), true));
        columns.push(array);
    }
    let lifted_columns = slots.len();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        columns,
    )?;
    Ok(LiftOutcome {
        batch,
        lifted_columns,
        rows_lifted,
        skipped_keys: skipped.len(),
    })
}

fn from_json(value: serde_json::Value) -> Option<Lifted> {
    Some(match value {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => Lifted::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Lifted::Int(i),
            None => Lifted::Float(n.as_f64()?),
        },
        serde_json::Value::String(s) => Lifted::Text(s),
        nested => Lifted::Text(nested.to_string()),
    })
}

fn column_name(key: &str, schema: &Schema, slots: &[Slot]) -> Option<String> {
    let sanitized: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if sanitized.is_empty() {
        return None;
    }
    let taken =
        |name: &str| schema.field_with_name(name).is_ok() || slots.iter().any(|s| s.name == name);
    let name = if taken(&sanitized) {
        format!("{COLLISION_PREFIX}{sanitized}")
    } else {
        sanitized
    };
    // Two keys that sanitize to the same name: the first wins, the second stays in the text.
    (!taken(&name)).then_some(name)
}

fn build_column(values: &[(usize, Lifted)], rows: usize) -> ArrayRef {
    let all = |predicate: fn(&Lifted) -> bool| values.iter().all(|(_, v)| predicate(v));
    let is_int = |v: &Lifted| {
        matches!(v, Lifted::Int(_)) || matches!(v, Lifted::Token(t) if t.parse::<i64>().is_ok())
    };
    if all(is_int) {
        let mut builder = Int64Builder::with_capacity(rows);
        fill(
            &mut builder,
            values,
            rows,
            |b, v| match v {
                Lifted::Int(i) => b.append_value(*i),
                Lifted::Token(t) => b.append_option(t.parse().ok()),
                _ => b.append_null(),
            },
            Int64Builder::append_null,
        );
        return Arc::new(builder.finish());
    }
    if all(|v| matches!(v, Lifted::Int(_) | Lifted::Float(_))) {
        let mut builder = Float64Builder::with_capacity(rows);
        fill(
            &mut builder,
            values,
            rows,
            |b, v| match v {
                Lifted::Int(i) => b.append_value(*i as f64),
                Lifted::Float(f) => b.append_value(*f),
                _ => b.append_null(),
            },
            Float64Builder::append_null,
        );
        return Arc::new(builder.finish());
    }
    if all(|v| matches!(v, Lifted::Bool(_))) {
        let mut builder = BooleanBuilder::with_capacity(rows);
        fill(
            &mut builder,
            values,
            rows,
            |b, v| match v {
                Lifted::Bool(x) => b.append_value(*x),
                _ => b.append_null(),
            },
            BooleanBuilder::append_null,
        );
        return Arc::new(builder.finish());
    }
    let mut builder = StringBuilder::with_capacity(rows, rows * 8);
    fill(
        &mut builder,
        values,
        rows,
        |b, v| match v {
            Lifted::Int(i) => b.append_value(i.to_string()),
            Lifted::Float(f) => b.append_value(f.to_string()),
            Lifted::Bool(x) => b.append_value(if *x { "true" } else { "false" }),
            Lifted::Text(t) | Lifted::Token(t) => b.append_value(t),
        },
        StringBuilder::append_null,
    );
    Arc::new(builder.finish())
}

fn fill<B>(
    builder: &mut B,
    values: &[(usize, Lifted)],
    rows: usize,
    mut append: impl FnMut(&mut B, &Lifted),
    append_null: fn(&mut B),
) {
    let mut values = values.iter().peekable();
    for row in 0..rows {
        match values.peek() {
            Some((value_row, value)) if *value_row == row => {
                append(builder, value);
                values.next();
            }
            _ => append_null(builder),
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int32Array};
    use arrow::datatypes::{DataType, Float64Type, Int64Type};

    use super::*;

    fn batch(messages: Vec<Option<&str>>) -> RecordBatch {
        let ids = Int32Array::from_iter_values(0..messages.len() as i32);
        RecordBatch::try_from_iter(vec![
            ("id", Arc::new(ids) as ArrayRef),
            ("message", Arc::new(StringArray::from(messages)) as ArrayRef),
        ])
        .unwrap()
    }

    fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
        batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", batch.schema()))
    }

    #[test]
    fn json_and_key_values_become_typed_columns() {
        let input = batch(vec![
            Some(r#"{"user":"bob","amount":12.5,"ok":true,"n":3,"tags":["a"],"message":"inner"}"#),
            Some(r#"action=deny src=10.0.0.1 n=7 msg="two words""#),
            None,
            Some("nothing to lift here"),
        ]);
        let outcome = lift_message_fields(&input, "message").unwrap();
        let out = &outcome.batch;
        assert_eq!(outcome.rows_lifted, 2);
        assert_eq!(out.column(1), input.column(1), "message is unchanged");
        assert_eq!(column(out, "user").as_string::<i32>().value(0), "bob");
        let amount = column(out, "amount").as_primitive::<Float64Type>();
        assert_eq!((amount.value(0), amount.is_null(1)), (12.5, true));
        assert_eq!(column(out, "ok").data_type(), &DataType::Boolean);
        let n = column(out, "n").as_primitive::<Int64Type>();
        assert_eq!((n.value(0), n.value(1), n.is_null(2)), (3, 7, true));
        assert_eq!(column(out, "tags").as_string::<i32>().value(0), "[\"a\"]");
        assert_eq!(
            column(out, "body_message").as_string::<i32>().value(0),
            "inner"
        );
        assert_eq!(column(out, "msg").as_string::<i32>().value(1), "two words");
        assert_eq!(column(out, "action").as_string::<i32>().value(1), "deny");
        assert!(column(out, "action").is_null(0) && column(out, "action").is_null(3));
    }

    #[test]
    fn conflicting_values_widen_to_text_and_json_strings_stay_text() {
        let out = lift_message_fields(
            &batch(vec![
                Some("port=80"),
                Some("port=http"),
                Some(r#"{"code":"42"}"#),
            ]),
            "message",
        )
        .unwrap()
        .batch;
        assert_eq!(column(&out, "port").data_type(), &DataType::Utf8);
        assert_eq!(column(&out, "port").as_string::<i32>().value(0), "80");
        assert_eq!(column(&out, "code").data_type(), &DataType::Utf8);
    }

    #[test]
    fn invalid_json_falls_back_to_key_values_and_keys_are_bounded() {
        let out = lift_message_fields(&batch(vec![Some("{broken a=1")]), "message")
            .unwrap()
            .batch;
        assert_eq!(column(&out, "a").as_primitive::<Int64Type>().value(0), 1);

        let many: String = (0..300).map(|i| format!("k{i}={i} ")).collect();
        let outcome = lift_message_fields(&batch(vec![Some(&many)]), "message").unwrap();
        assert_eq!(outcome.lifted_columns, MAX_LIFTED_COLUMNS);
        assert_eq!(outcome.skipped_keys, 300 - MAX_LIFTED_COLUMNS);
        assert_eq!(outcome.batch.num_columns(), 2 + MAX_LIFTED_COLUMNS);
    }

    #[test]
    fn batches_without_the_column_pass_through() {
        let input = RecordBatch::try_from_iter(vec![(
            "x",
            Arc::new(Int32Array::from(vec![1])) as ArrayRef,
        )])
        .unwrap();
        assert_eq!(lift_message_fields(&input, "message").unwrap().batch, input);
        let wrong = RecordBatch::try_from_iter(vec![(
            "message",
            Arc::new(Int32Array::from(vec![1])) as ArrayRef,
        )])
        .unwrap();
        assert!(lift_message_fields(&wrong, "message").is_err());
    }
}
