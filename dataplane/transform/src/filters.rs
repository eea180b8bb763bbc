use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, new_null_array,
};
use arrow::compute::kernels::boolean::{and, not};
use arrow::compute::kernels::zip::zip;
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use bytefreezer_api::{FilterSpec, FilterType, UnknownFilterType};
use bytefreezer_schema::EVENT_TIME;
use regex::Regex;
use serde::Deserialize;

use crate::condition::{Condition, evaluate, parse_condition};
use crate::convert::{Target, TimeFormat, Zone, convert, parse_times};
use crate::geoip::{GeoIp, enrich};
use crate::lift::{LiftMode, lift_fields};
use crate::limits::{OutputBudget, TransformLimits};
use crate::pipeline::{PipelineError, TransformError};
use crate::template::Template;
use crate::text_filters;

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
    Mask {
        fields: Vec<String>,
        prefix: usize,
        suffix: usize,
    },
    Hash {
        fields: Vec<String>,
        key: Option<Vec<u8>>,
    },
    RegexReplace {
        fields: Vec<String>,
        pattern: Regex,
        replacement: text_filters::Replacement,
    },
    RegexExtract {
        field: String,
        pattern: Regex,
    },
    Sample {
        rate: f64,
        field: Option<String>,
    },
    Lift {
        field: String,
        mode: LiftMode,
    },
    Convert {
        field: String,
        to: Target,
    },
    DateParse {
        field: String,
        format: TimeFormat,
        zone: Zone,
        target: String,
    },
    GeoIp {
        field: String,
        databases: GeoIp,
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
    Template(Template),
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
struct MaskConfig {
    field: Option<String>,
    fields: Option<Vec<String>>,
    #[serde(default)]
    keep_prefix: usize,
    #[serde(default)]
    keep_suffix: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HashConfig {
    field: Option<String>,
    fields: Option<Vec<String>>,
    /// `sha256` (default) or `hmac-sha256` with `key`.
    algorithm: Option<String>,
    key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegexReplaceConfig {
    field: Option<String>,
    fields: Option<Vec<String>>,
    pattern: String,
    replacement: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegexExtractConfig {
    field: String,
    pattern: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleConfig {
    rate: f64,
    field: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldConfig {
    field: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConvertConfig {
    field: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DateParseConfig {
    field: String,
    /// `rfc3339` (default), `unix`, `unix_ms`, or a strftime pattern such as `%d/%b/%Y:%H:%M:%S %z`.
    format: Option<String>,
    /// Zone of times written without an offset: `UTC` (default) or an IANA name.
    timezone: Option<String>,
    /// Column to set. Default `event_time`, which decides the Parquet hour partition.
    target: Option<String>,
}

fn field_list(field: Option<String>, fields: Option<Vec<String>>) -> Vec<String> {
    field
        .into_iter()
        .chain(fields.unwrap_or_default())
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddFieldConfig {
    field: String,
    value: serde_json::Value,
}

impl CompiledFilter {
    pub fn compile(
        index: usize,
        spec: &FilterSpec,
        geoip: &GeoIp,
    ) -> Result<CompiledFilter, PipelineError> {
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
        let filter_type: FilterType = spec
            .kind
            .parse()
            .map_err(|unknown: UnknownFilterType| error(unknown.to_string()))?;
        let step = match filter_type {
            FilterType::RenameField | FilterType::CopyField => {
                let FromTo { from, to } = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                if from.is_empty() || to.is_empty() {
                    return Err(error("config: from and to must not be empty".into()));
                }
                if filter_type == FilterType::RenameField {
                    if condition.is_some() {
                        return Err(error("condition: a rename applies to the whole column; use copy_field with a condition".into()));
                    }
                    Step::Rename { from, to }
                } else {
                    Step::Copy { from, to }
                }
            }
            FilterType::RemoveField
            | FilterType::Lowercase
            | FilterType::Uppercase
            | FilterType::Trim => {
                let Fields { field, fields } = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                let fields: Vec<String> = field
                    .into_iter()
                    .chain(fields.unwrap_or_default())
                    .collect();
                if fields.is_empty() {
                    return Err(error("config: set field or fields".into()));
                }
                match filter_type {
                    FilterType::RemoveField if condition.is_some() => {
                        return Err(error(
                            "condition: removing applies to the whole column".into(),
                        ));
                    }
                    FilterType::RemoveField => Step::Remove { fields },
                    FilterType::Lowercase => Step::Case {
                        fields,
                        change: CaseChange::Lower,
                    },
                    FilterType::Uppercase => Step::Case {
                        fields,
                        change: CaseChange::Upper,
                    },
                    _ => Step::Case {
                        fields,
                        change: CaseChange::Trim,
                    },
                }
            }
            FilterType::Drop | FilterType::Keep => {
                let ConditionConfig { condition: text } =
                    serde_json::from_value(config(&spec.config))
                        .map_err(|e| error(format!("config: {e}")))?;
                let parsed =
                    parse_condition(&text).map_err(|e| error(format!("config.condition: {e}")))?;
                if filter_type == FilterType::Drop {
                    Step::Drop { condition: parsed }
                } else {
                    Step::Keep { condition: parsed }
                }
            }
            FilterType::AddField => {
                let AddFieldConfig { field, value } = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                let value = match value {
                    serde_json::Value::String(text) => {
                        let template = Template::parse(&text)
                            .map_err(|e| error(format!("config.value: {e}")))?;
                        match template.as_constant() {
                            Some(text) => Constant::Text(text),
                            None => Constant::Template(template),
                        }
                    }
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
            FilterType::Mask => {
                let config: MaskConfig = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                let fields = field_list(config.field, config.fields);
                if fields.is_empty() {
                    return Err(error("config: set field or fields".into()));
                }
                Step::Mask {
                    fields,
                    prefix: config.keep_prefix,
                    suffix: config.keep_suffix,
                }
            }
            FilterType::Hash => {
                let config: HashConfig = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                let fields = field_list(config.field, config.fields);
                if fields.is_empty() {
                    return Err(error("config: set field or fields".into()));
                }
                let key = match (config.algorithm.as_deref().unwrap_or("sha256"), config.key) {
                    ("sha256", None) => None,
                    ("sha256", Some(_)) => {
                        return Err(error(
                            "config.key: a key needs algorithm \"hmac-sha256\"".into(),
                        ));
                    }
                    ("hmac-sha256", Some(key)) if !key.is_empty() => Some(key.into_bytes()),
                    ("hmac-sha256", _) => {
                        return Err(error(
                            "config.key: hmac-sha256 needs a non-empty key".into(),
                        ));
                    }
                    (other, _) => {
                        return Err(error(format!(
                            "config.algorithm: {other:?} is not sha256 or hmac-sha256"
                        )));
                    }
                };
                Step::Hash { fields, key }
            }
            FilterType::RegexReplace => {
                let config: RegexReplaceConfig = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                let fields = field_list(config.field, config.fields);
                if fields.is_empty() {
                    return Err(error("config: set field or fields".into()));
                }
                let pattern = Regex::new(&config.pattern)
                    .map_err(|e| error(format!("config.pattern: {e}")))?;
                Step::RegexReplace {
                    fields,
                    pattern,
                    replacement: text_filters::Replacement::parse(&config.replacement),
                }
            }
            FilterType::RegexExtract => {
                let config: RegexExtractConfig = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                let pattern = Regex::new(&config.pattern)
                    .map_err(|e| error(format!("config.pattern: {e}")))?;
                if pattern.capture_names().flatten().next().is_none() {
                    return Err(error(
                        "config.pattern: name the groups to extract, like (?P<user>\\w+)".into(),
                    ));
                }
                Step::RegexExtract {
                    field: config.field,
                    pattern,
                }
            }
            FilterType::Sample => {
                let config: SampleConfig = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                if !(config.rate > 0.0 && config.rate <= 1.0) {
                    return Err(error(format!(
                        "config.rate: {} is not in (0, 1]",
                        config.rate
                    )));
                }
                Step::Sample {
                    rate: config.rate,
                    field: config.field,
                }
            }
            FilterType::Geoip => {
                let FieldConfig { field } = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                if geoip.city.is_none() {
                    return Err(error(
                        "no GeoIP city database is configured on this node: set [geoip] city_database in the piper and control configuration (bytefreezer up: --geoip-city-db)".into(),
                    ));
                }
                Step::GeoIp {
                    field,
                    databases: geoip.clone(),
                }
            }
            FilterType::JsonFlatten => {
                let FieldConfig { field } = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                if condition.is_some() {
                    return Err(error(
                        "condition: parsing adds columns for the whole batch".into(),
                    ));
                }
                Step::Lift {
                    field,
                    mode: LiftMode::JsonFlatten,
                }
            }
            FilterType::Kv | FilterType::JsonParse => {
                let FieldConfig { field } = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                if condition.is_some() {
                    return Err(error(
                        "condition: parsing adds columns for the whole batch".into(),
                    ));
                }
                let mode = if filter_type == FilterType::Kv {
                    LiftMode::KeyValue
                } else {
                    LiftMode::Json
                };
                Step::Lift { field, mode }
            }
            FilterType::Convert => {
                let ConvertConfig { field, to } = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                let to = Target::parse(&to).ok_or_else(|| {
                    error(format!(
                        "config.to: {to:?} is not one of int, float, bool, string, timestamp, ip"
                    ))
                })?;
                if condition.is_some() {
                    return Err(error(
                        "condition: a conversion changes the type of the whole column".into(),
                    ));
                }
                Step::Convert { field, to }
            }
            FilterType::DateParse => {
                let config: DateParseConfig = serde_json::from_value(config(&spec.config))
                    .map_err(|e| error(format!("config: {e}")))?;
                let format = match config.format.as_deref() {
                    None | Some("rfc3339") => TimeFormat::Rfc3339,
                    Some("unix") => TimeFormat::UnixSeconds,
                    Some("unix_ms") => TimeFormat::UnixMillis,
                    Some(pattern) if pattern.contains('%') => {
                        TimeFormat::Pattern(pattern.to_owned())
                    }
                    Some(other) => {
                        return Err(error(format!(
                            "config.format: {other:?} is not rfc3339, unix, unix_ms or a %-pattern"
                        )));
                    }
                };
                let zone = match config.timezone.as_deref() {
                    None => Zone::Utc,
                    Some(name) => Zone::parse(name).ok_or_else(|| {
                        error(format!(
                            "config.timezone: {name:?} is not UTC or an IANA zone name"
                        ))
                    })?,
                };
                Step::DateParse {
                    field: config.field,
                    format,
                    zone,
                    target: config.target.unwrap_or_else(|| EVENT_TIME.to_owned()),
                }
            }
        };
        Ok(CompiledFilter {
            index,
            kind: spec.kind.clone(),
            step,
            condition,
        })
    }

    pub fn apply(
        &self,
        batch: RecordBatch,
        limits: &TransformLimits,
    ) -> Result<RecordBatch, TransformError> {
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
                    Constant::Template(template) => Arc::new(template.render(
                        &batch,
                        &mut OutputBudget::new(limits, self.index, &self.kind),
                    )?),
                };
                set_column(&batch, field, values, mask.as_ref())?
            }
            Step::Copy { from, to } => match batch.column_by_name(from).cloned() {
                Some(values) => set_column(&batch, to, values, mask.as_ref())?,
                None => batch,
            },
            Step::Case { fields, change } => map_text(batch, fields, mask.as_ref(), |text| {
                Ok(text
                    .iter()
                    .map(|value| {
                        value.map(|v| match change {
                            CaseChange::Lower => v.to_lowercase(),
                            CaseChange::Upper => v.to_uppercase(),
                            CaseChange::Trim => v.trim().to_owned(),
                        })
                    })
                    .collect())
            })?,
            Step::Mask {
                fields,
                prefix,
                suffix,
            } => map_text(batch, fields, mask.as_ref(), |text| {
                Ok(text_filters::mask(text, *prefix, *suffix))
            })?,
            Step::Hash { fields, key } => map_text(batch, fields, mask.as_ref(), |text| {
                Ok(text_filters::hash(text, key.as_deref()))
            })?,
            Step::RegexReplace {
                fields,
                pattern,
                replacement,
            } => map_text(batch, fields, mask.as_ref(), |text| {
                let mut budget = OutputBudget::new(limits, self.index, &self.kind);
                text_filters::regex_replace(text, pattern, replacement, &mut budget)
            })?,
            Step::RegexExtract { field, pattern } => {
                let Some(column) = batch.column_by_name(field) else {
                    return Ok(batch);
                };
                let text = cast(column, &DataType::Utf8)?;
                let Some(text) = text.as_any().downcast_ref::<StringArray>() else {
                    return Ok(batch);
                };
                let mut batch = batch.clone();
                for (name, values) in text_filters::regex_extract(text, pattern) {
                    batch = set_column(&batch, &name, Arc::new(values), mask.as_ref())?;
                }
                batch
            }
            Step::Lift { field, mode } => lift_fields(&batch, field, *mode)?.batch,
            Step::Convert { field, to } => match batch.column_by_name(field) {
                Some(column) => {
                    let converted = convert(column, *to)?;
                    set_column(&batch, field, converted, None)?
                }
                None => batch,
            },
            Step::DateParse {
                field,
                format,
                zone,
                target,
            } => {
                let Some(column) = batch.column_by_name(field) else {
                    return Ok(batch);
                };
                let text = cast(column, &DataType::Utf8)?;
                let Some(text) = text.as_any().downcast_ref::<StringArray>() else {
                    return Ok(batch);
                };
                let parsed = parse_times(text, format, zone);
                // Rows whose text does not parse keep their old value, so partitioning falls
                // back to what the event already had.
                let mut parsed_rows = arrow::compute::is_not_null(&parsed)?;
                if let Some(mask) = &mask {
                    parsed_rows = and(&parsed_rows, mask)?;
                }
                set_column(&batch, target, Arc::new(parsed), Some(&parsed_rows))?
            }
            Step::GeoIp { field, databases } => {
                let Some(column) = batch.column_by_name(field).cloned() else {
                    return Ok(batch);
                };
                let mut batch = batch;
                for (name, values) in enrich(databases, field, &column)? {
                    batch = set_column(&batch, &name, values, mask.as_ref())?;
                }
                batch
            }
            Step::Sample { rate, field } => {
                let keys = match field.as_deref().and_then(|f| batch.column_by_name(f)) {
                    Some(column) => Some(cast(column, &DataType::Utf8)?),
                    None => None,
                };
                let keys = keys
                    .as_ref()
                    .and_then(|k| k.as_any().downcast_ref::<StringArray>());
                let keep: BooleanArray = (0..rows)
                    .map(|row| {
                        let outside_condition = mask.as_ref().is_some_and(|m| !m.value(row));
                        let in_sample = match keys {
                            Some(keys) if keys.is_valid(row) => {
                                text_filters::in_sample(keys.value(row).as_bytes(), *rate)
                            }
                            Some(_) => text_filters::in_sample(b"", *rate),
                            None => text_filters::in_sample(&(row as u64).to_be_bytes(), *rate),
                        };
                        Some(outside_condition || in_sample)
                    })
                    .collect();
                filter_record_batch(&batch, &keep)?
            }
        })
    }
}

/// Replaces each of `fields` (cast to text when needed) with `change` of it.
fn map_text(
    batch: RecordBatch,
    fields: &[String],
    mask: Option<&BooleanArray>,
    change: impl Fn(&StringArray) -> Result<StringArray, TransformError>,
) -> Result<RecordBatch, TransformError> {
    let mut batch = batch;
    for field in fields {
        let Some(column) = batch.column_by_name(field) else {
            continue;
        };
        let text = cast(column, &DataType::Utf8)?;
        let Some(text) = text.as_any().downcast_ref::<StringArray>() else {
            continue;
        };
        batch = set_column(&batch, field, Arc::new(change(text)?), mask)?;
    }
    Ok(batch)
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
