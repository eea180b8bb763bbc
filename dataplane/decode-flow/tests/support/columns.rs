//! One column of a decoded batch, for the tests that check values row by row.
// Shared by several test crates, each using a part.
#![allow(dead_code)]

use arrow::array::{Array, AsArray, PrimitiveArray, RecordBatch, StringArray};
use arrow::datatypes::{ArrowPrimitiveType, DataType};

/// Column `name` as `T`; panics when the flow schema has no such column or another type.
pub fn primitive<'a, T: ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    name: &str,
) -> &'a PrimitiveArray<T> {
    column(batch, name).as_primitive::<T>()
}

/// Column `name` as text, as the schema prints its values.
pub fn text(batch: &RecordBatch, name: &str) -> StringArray {
    arrow::compute::cast(column(batch, name), &DataType::Utf8)
        .unwrap()
        .as_string::<i32>()
        .clone()
}

/// Column `name`'s values as text, `None` for a null.
pub fn texts(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    text(batch, name)
        .iter()
        .map(|value| value.map(str::to_owned))
        .collect()
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("the flow schema has no column {name}"))
}
