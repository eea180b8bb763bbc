use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, new_null_array,
};
use arrow::compute::kernels::boolean::{and, not};
use arrow::compute::kernels::zip::zip;
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde::Deserialize;

use crate::condition::{Condition, evaluate, parse_condition};
use crate::pipeline::{PipelineError, TransformError};
use crate::spec::FilterSpec;

/// One validated filter.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    pub index: usize,
    pub kind: String,
    step: Step,
    condition: Option<Condition>,
}

#[derive(Debug, Clone)]
enum Step {
    Rename {
        from: String,
        to: String,
    },
    Remove {
        fields: Vec<String>,
    },
    Drop {
        condition: Condition,
    },
    Keep {
        condition: Condition,
    },
    AddField {
        field: String,
        value: Constant,
    },
    Copy {
        from: String,
        to: String,
    },
    Case {
        fields: Vec<String>,
        change: CaseChange,
    },
}

#[derive(Debug, Clone, Copy)]
enum CaseChange {
    Lower,
    Upper,
    Trim,
}

#[derive(Debug, Clone)]
enum Constant {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromTo {
    from: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    field: Option<String>,
    fields: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionConfig {
    condition: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddFieldConfig {
    field: String,
    value: serde_json::Value,
}

impl CompiledFilter {
    pub fn compile(index: usize, spec: &FilterSpec) -> Result<CompiledFilter, PipelineError> {
        let error = |problem: String| PipelineError::Filter {
            index,
            kind: spec.kind.clone(),
            problem,
        };
        let config = |value: &serde_json::Value| value.clone();
        let condition = spec
            .condition
            .as_deref()
            .map(parse_condition)
            .transpose()
            .map_err(|e| error(format!("condition: {e}")))?;
        let step = match spec.kind.as_str() {
            "rename_field" | "copy_field" => {
                let FromTo { from, to } = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                if from.is_empty() || to.is_empty() {
                    return Err(error("config: from and to must not be empty".into()));
                }
                if spec.kind == "rename_field" {
                    if condition.is_some() {
                        return Err(error("condition: a rename applies to the whole column; use copy_field with a condition".into()));
                    }
                    Step::Rename { from, to }
                } else {
                    Step::Copy { from, to }
                }
            }
            "remove_field" | "lowercase" | "uppercase" | "trim" => {
                let Fields { field, fields } = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                let fields: Vec<String> = field
                    .into_iter()
                    .chain(fields.unwrap_or_default())
                    .collect();
                if fields.is_empty() {
                    return Err(error("config: set field or fields".into()));
                }
                match spec.kind.as_str() {
                    "remove_field" if condition.is_some() => {
                        return Err(error(
                            "condition: removing applies to the whole column".into(),
                        ));
                    }
                    "remove_field" => Step::Remove { fields },
                    "lowercase" => Step::Case {
                        fields,
                        change: CaseChange::Lower,
                    },
                    "uppercase" => Step::Case {
                        fields,
                        change: CaseChange::Upper,
                    },
                    _ => Step::Case {
                        fields,
                        change: CaseChange::Trim,
                    },
                }
            }
            "drop" | "keep" => {
                let ConditionConfig { condition: text } =
                    serde_json::from_value(config(&spec.config))
                        .map_err(|e| error(format!("config: {e}")))?;
                let parsed =
                    parse_condition(&text).map_err(|e| error(format!("config.condition: {e}")))?;
                if spec.kind == "drop" {
                    Step::Drop { condition: parsed }
                } else {
                    Step::Keep { condition: parsed }
                }
            }
            "add_field" => {
                let AddFieldConfig { field, value } = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                let value = match value {
                    serde_json::Value::String(text) => Constant::Text(text),
                    serde_json::Value::Bool(flag) => Constant::Bool(flag),
                    serde_json::Value::Number(number) => match number.as_i64() {
                        Some(int) => Constant::Int(int),
                        None => Constant::Float(
                            number
                                .as_f64()
                                .ok_or_else(|| error("config.value: not a number".into()))?,
                        ),
                    },
                    _ => {
                        return Err(error(
                            "config.value: use a string, number or boolean".into(),
                        ));
                    }
                };
                if field.is_empty() {
                    return Err(error("config.field: must not be empty".into()));
                }
                Step::AddField { field, value }
            }
            _ => return Err(error("filter type not supported yet".into())),
        };
        Ok(CompiledFilter {
            index,
            kind: spec.kind.clone(),
            step,
            condition,
        })
    }

    pub fn apply(&self, batch: RecordBatch) -> Result<RecordBatch, TransformError> {
        let rows = batch.num_rows();
        let mask = match &self.condition {
            Some(condition) => Some(evaluate(condition, &batch)?),
            None => None,
        };
        Ok(match &self.step {
            Step::Rename { from, to } => {
                let Some(position) = batch.schema().index_of(from).ok() else {
                    return Ok(batch);
                };
                let batch = without(&batch, std::slice::from_ref(to), Some(position))?;
                let position = batch
                    .schema()
                    .index_of(from)
                    .map_err(TransformError::Arrow)?;
                let fields: Vec<Field> = batch
                    .schema()
                    .fields()
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        if i == position {
                            f.as_ref().clone().with_name(to)
                        } else {
                            f.as_ref().clone()
                        }
                    })
                    .collect();
                RecordBatch::try_new(Arc::new(Schema::new(fields)), batch.columns().to_vec())?
            }
            Step::Remove { fields } => without(&batch, fields, None)?,
            Step::Drop { condition } => {
                let mut hit = evaluate(condition, &batch)?;
                if let Some(mask) = &mask {
                    hit = and(&hit, mask)?;
                }
                filter_record_batch(&batch, &not(&hit)?)?
            }
            Step::Keep { condition } => {
                let mut hit = evaluate(condition, &batch)?;
                if let Some(mask) = &mask {
                    // Rows outside the filter's own condition are left alone.
                    hit = arrow::compute::kernels::boolean::or(&hit, &not(mask)?)?;
                }
                filter_record_batch(&batch, &hit)?
            }
            Step::AddField { field, value } => {
                let values: ArrayRef = match value {
                    Constant::Text(text) => Arc::new(StringArray::from(vec![text.as_str(); rows])),
                    Constant::Int(int) => Arc::new(Int64Array::from(vec![*int; rows])),
                    Constant::Float(float) => Arc::new(Float64Array::from(vec![*float; rows])),
                    Constant::Bool(flag) => Arc::new(BooleanArray::from(vec![*flag; rows])),
                };
                set_column(&batch, field, values, mask.as_ref())?
            }
            Step::Copy { from, to } => match batch.column_by_name(from).cloned() {
                Some(values) => set_column(&batch, to, values, mask.as_ref())?,
                None => batch,
            },
            Step::Case { fields, change } => {
                let mut batch = batch;
                for field in fields {
                    let Some(column) = batch.column_by_name(field) else {
                        continue;
                    };
                    let Some(text) = column.as_any().downcast_ref::<StringArray>() else {
                        continue;
                    };
                    let changed: StringArray = text
                        .iter()
                        .map(|value| {
                            value.map(|v| match change {
                                CaseChange::Lower => v.to_lowercase(),
                                CaseChange::Upper => v.to_uppercase(),
                                CaseChange::Trim => v.trim().to_owned(),
                            })
                        })
                        .collect();
                    batch = set_column(&batch, field, Arc::new(changed), mask.as_ref())?;
                }
                batch
            }
        })
    }
}

/// The batch without `names`; `keep` protects one column index from removal.
fn without(
    batch: &RecordBatch,
    names: &[String],
    keep: Option<usize>,
) -> Result<RecordBatch, TransformError> {
    let indices: Vec<usize> = (0..batch.num_columns())
        .filter(|i| Some(*i) == keep || !names.contains(batch.schema().field(*i).name()))
        .collect();
    Ok(batch.project(&indices)?)
}

/// Puts `values` in column `name` (replacing or appending); with a mask, only in masked rows,
/// keeping the old value (or null) elsewhere.
fn set_column(
    batch: &RecordBatch,
    name: &str,
    values: ArrayRef,
    mask: Option<&BooleanArray>,
) -> Result<RecordBatch, TransformError> {
    let existing = batch.column_by_name(name).cloned();
    let values = match mask {
        None => values,
        Some(mask) => {
            let old = match &existing {
                Some(old) if old.data_type() == values.data_type() => old.clone(),
                Some(old) if values.data_type() == &DataType::Utf8 => cast(old, &DataType::Utf8)?,
                _ => new_null_array(values.data_type(), batch.num_rows()),
            };
            zip(mask, &values, &old)?
        }
    };
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = batch.columns().to_vec();
    let field = Field::new(name, values.data_type().clone(), true);
    match batch.schema().index_of(name) {
        Ok(position) => {
            fields[position] = field;
            columns[position] = values;
        }
        Err(_) => {
            fields.push(field);
            columns.push(values);
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(
            fields,
            batch.schema().metadata().clone(),
        )),
        columns,
    )?)
}
