use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder, new_null_array};
use arrow::compute::{CastOptions, can_cast_types, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// A field whose types disagreed between inputs and was widened so no row is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widening {
    pub field: String,
    pub seen: Vec<DataType>,
    pub widened_to: DataType,
}

/// The union of several schemas, and the type conflicts it had to resolve.
#[derive(Debug, Clone)]
pub struct SchemaMerge {
    pub schema: SchemaRef,
    pub widenings: Vec<Widening>,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("cannot convert column {field:?} from {from} to {to}: {source}")]
    Convert {
        field: String,
        from: DataType,
        to: DataType,
        #[source]
        source: ArrowError,
    },
}

/// Merges schemas by field name, keeping first-seen order. A field missing from some input
/// becomes nullable; disagreeing types widen (integers to Int64, numbers to Float64, string at
/// worst), and each widening is reported so callers can tell the user.
pub fn merge_schemas<'a>(schemas: impl IntoIterator<Item = &'a Schema>) -> SchemaMerge {
    let mut fields: Vec<MergedField> = Vec::new();
    let mut input_count = 0usize;
    for schema in schemas {
        input_count += 1;
        for field in schema.fields() {
            match fields
                .iter_mut()
                .find(|merged| merged.name == *field.name())
            {
                Some(merged) => merged.absorb(field),
                None => fields.push(MergedField::new(field)),
            }
        }
    }
    let mut widenings = Vec::new();
    let merged_fields: Vec<Field> = fields
        .into_iter()
        .map(|merged| {
            if merged.seen.len() > 1 {
                widenings.push(Widening {
                    field: merged.name.clone(),
                    seen: merged.seen.clone(),
                    widened_to: merged.data_type.clone(),
                });
            }
            let nullable = merged.nullable || merged.present_in < input_count;
            Field::new(merged.name, merged.data_type, nullable)
        })
        .collect();
    SchemaMerge {
        schema: Arc::new(Schema::new(merged_fields)),
        widenings,
    }
}

struct MergedField {
    name: String,
    data_type: DataType,
    nullable: bool,
    present_in: usize,
    seen: Vec<DataType>,
}

impl MergedField {
    fn new(field: &Field) -> Self {
        MergedField {
            name: field.name().clone(),
            data_type: field.data_type().clone(),
            nullable: field.is_nullable(),
            present_in: 1,
            seen: vec![field.data_type().clone()],
        }
    }

    fn absorb(&mut self, field: &Field) {
        self.present_in += 1;
        self.nullable |= field.is_nullable();
        if !self.seen.contains(field.data_type()) {
            self.seen.push(field.data_type().clone());
        }
        self.data_type = widen(&self.data_type, field.data_type());
    }
}

fn widen(left: &DataType, right: &DataType) -> DataType {
    use DataType::*;
    if left == right {
        return left.clone();
    }
    match (left, right) {
        (Null, other) | (other, Null) => other.clone(),
        (a, b) if a.is_signed_integer() && b.is_signed_integer() => Int64,
        (a, b) if a.is_unsigned_integer() && b.is_unsigned_integer() => UInt64,
        (a, b) if a.is_integer() && b.is_integer() && a != &UInt64 && b != &UInt64 => Int64,
        (a, b) if a.is_numeric() && b.is_numeric() => Float64,
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => Utf8,
        // Binary can hold any string; a string column cannot hold arbitrary bytes.
        (Binary | LargeBinary, Utf8 | LargeUtf8 | Binary | LargeBinary)
        | (Utf8 | LargeUtf8, Binary | LargeBinary) => Binary,
        (Timestamp(_, _), Timestamp(_, _)) => crate::timestamp_type(),
        _ => Utf8,
    }
}

/// Reshapes a batch to `target`: missing columns become nulls, columns of another type are
/// cast (to text through Arrow's display formatting when no cast exists). Extra columns not in
/// `target` are an error in the caller's merge, so they are never silently dropped here.
pub fn conform_batch(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch, MergeError> {
    if batch.schema() == *target {
        return Ok(batch.clone());
    }
    let rows = batch.num_rows();
    let columns = target
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            None => Ok(new_null_array(field.data_type(), rows)),
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            Some(column) => convert(column, field),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(target.clone(), columns, &options).map_err(|source| {
        MergeError::Convert {
            field: "<batch>".into(),
            from: DataType::Null,
            to: DataType::Null,
            source,
        }
    })
}

fn convert(column: &ArrayRef, field: &Field) -> Result<ArrayRef, MergeError> {
    let error = |source| MergeError::Convert {
        field: field.name().clone(),
        from: column.data_type().clone(),
        to: field.data_type().clone(),
        source,
    };
    // `safe: false` makes a value that does not fit an error instead of a silent null.
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    if field.data_type() == &DataType::Utf8 {
        if can_cast_types(column.data_type(), &DataType::Utf8)
            && let Ok(cast) = cast_with_options(column, &DataType::Utf8, &strict)
        {
            return Ok(cast);
        }
        return format_as_text(column).map_err(error);
    }
    cast_with_options(column, field.data_type(), &strict).map_err(error)
}

fn format_as_text(column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
    let mut builder = StringBuilder::with_capacity(column.len(), column.len() * 8);
    for row in 0..column.len() {
        if column.is_null(row) {
            builder.append_null();
        } else {
            builder.append_value(formatter.value(row).to_string());
        }
    }
    Ok(Arc::new(builder.finish()))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray};

    use super::*;

    fn batch(fields: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(fields).unwrap()
    }

    #[test]
    fn new_fields_become_nullable_columns_and_conflicts_widen() {
        let first = batch(vec![
            ("a", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            ("b", Arc::new(Int64Array::from(vec![10, 20])) as ArrayRef),
        ]);
        let second = batch(vec![
            ("b", Arc::new(Float64Array::from(vec![1.5])) as ArrayRef),
            ("c", Arc::new(BooleanArray::from(vec![true])) as ArrayRef),
            ("a", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
        ]);
        let merge = merge_schemas([first.schema().as_ref(), second.schema().as_ref()]);
        let names: Vec<_> = merge
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(merge.schema.field(0).data_type(), &DataType::Utf8);
        assert_eq!(merge.schema.field(1).data_type(), &DataType::Float64);
        assert!(merge.schema.field(2).is_nullable());
        assert_eq!(merge.widenings.len(), 2);

        let conformed_first = conform_batch(&first, &merge.schema).unwrap();
        let a = conformed_first
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(a.value(1), "2");
        assert_eq!(conformed_first.column(2).null_count(), 2);
        let conformed_second = conform_batch(&second, &merge.schema).unwrap();
        let b = conformed_second
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(b.value(0), 1.5);
    }

    #[test]
    fn identical_schemas_merge_without_widening() {
        let only = batch(vec![("a", Arc::new(Int32Array::from(vec![1])) as ArrayRef)]);
        let merge = merge_schemas([only.schema().as_ref(), only.schema().as_ref()]);
        assert!(merge.widenings.is_empty());
        assert_eq!(merge.schema, only.schema());
    }
}
