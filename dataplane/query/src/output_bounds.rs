//! The most bytes a call of a growing function can produce, worked out from its arguments alone,
//! so a call that could build a huge value is refused before anything is allocated.

use arrow::array::{Array, ArrayRef, Int64Array, IntervalMonthDayNanoArray};
use arrow::compute::kernels::length::length;
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;

/// Bytes an element of a list costs besides its value: its offset and validity.
const ELEMENT_OVERHEAD: u64 = 8;
const NANOS_PER_DAY: i128 = 86_400_000_000_000;

/// How a function's output grows with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Growth {
    /// `repeat(text, n)`: `len(text) × n`.
    Repeat,
    /// `lpad`/`rpad(text, n [, fill])`: `n` characters of at most 4 bytes.
    Pad,
    /// `replace(text, from, to)`: every match of `from` (at most `len(text) + 1` of them for an
    /// empty `from`) becomes `to`.
    Replace,
    /// `regexp_replace(text, pattern, replacement [, flags])`: like `replace`, where each group
    /// reference (`\1`, `$1`) in the replacement can repeat up to the whole text; one match
    /// only without the `g` flag.
    RegexpReplace,
    /// `concat(a, b, ...)` and the `||` operator: the sum of the arguments.
    Concat,
    /// `concat_ws(separator, a, b, ...)`: the arguments and a separator between each two.
    ConcatWs,
    /// `array_repeat(element, n)`: `n` elements.
    ArrayRepeat,
    /// `array_resize(list, n [, fill])`: `n` elements of `fill`.
    ArrayResize,
    /// `range`/`generate_series(start, stop [, step])` as functions: one 8-byte element per step.
    Range,
}

/// The functions bounded before they run, by name.
pub(crate) const GROWING: [(&str, Growth); 12] = [
    ("repeat", Growth::Repeat),
    ("lpad", Growth::Pad),
    ("rpad", Growth::Pad),
    ("replace", Growth::Replace),
    ("regexp_replace", Growth::RegexpReplace),
    ("concat", Growth::Concat),
    ("concat_ws", Growth::ConcatWs),
    ("array_repeat", Growth::ArrayRepeat),
    ("array_resize", Growth::ArrayResize),
    ("range", Growth::Range),
    ("generate_series", Growth::Range),
    // Not a growing function by itself, but nested calls double a value each time.
    ("array_concat", Growth::Concat),
];

/// Functions whose output is a small multiple of their input (hex doubles it, a case change
/// can triple it, an array built of its arguments): nested calls can still double a value each
/// time, so their output is checked after each call, which stops such a chain at the limit.
pub(crate) const CHECKED_AFTER: [&str; 13] = [
    "encode",
    "to_hex",
    "upper",
    "lower",
    "initcap",
    "translate",
    "overlay",
    "make_array",
    "array_append",
    "array_prepend",
    "flatten",
    "string_to_array",
    "array_to_string",
];

/// One argument as per-row numbers: a value's size in bytes, or an integer's value.
pub(crate) enum Numbers {
    Scalar(Option<i64>),
    Array(Int64Array),
}

impl Numbers {
    /// The size in bytes of each value: exact for text and binary, the average per row for
    /// other arrays (a list's or struct's share of the array's memory).
    pub(crate) fn sizes(value: &ColumnarValue) -> Result<Numbers> {
        match value {
            ColumnarValue::Scalar(scalar) => Ok(Numbers::Scalar(
                (!scalar.is_null()).then(|| scalar_bytes(scalar) as i64),
            )),
            ColumnarValue::Array(array) if has_byte_length(array.data_type()) => {
                Ok(Numbers::Array(to_int64(&length(array.as_ref())?)?))
            }
            ColumnarValue::Array(array) => {
                let average = array.get_array_memory_size().div_ceil(array.len().max(1)) as i64;
                Ok(Numbers::Scalar(Some(average)))
            }
        }
    }

    /// The value of each row of an integer argument.
    pub(crate) fn integers(value: &ColumnarValue) -> Result<Numbers> {
        match value {
            ColumnarValue::Scalar(scalar) => {
                Ok(Numbers::Scalar(match scalar.cast_to(&DataType::Int64)? {
                    ScalarValue::Int64(n) => n,
                    _ => None,
                }))
            }
            ColumnarValue::Array(array) => Ok(Numbers::Array(to_int64(array)?)),
        }
    }

    /// Points in time as microseconds (dates and timestamps: nanoseconds would overflow past
    /// the year 2262), integers as they are.
    fn positions(value: &ColumnarValue) -> Result<Numbers> {
        if !is_temporal(value) {
            return Numbers::integers(value);
        }
        let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
        let array = value.to_array(1)?;
        let array = cast_with_options(&array, &micros, &CastOptions::default())?;
        let array = cast_with_options(&array, &DataType::Int64, &CastOptions::default())?;
        let numbers = to_int64(&array)?;
        Ok(match value {
            ColumnarValue::Scalar(_) => {
                Numbers::Scalar((numbers.is_valid(0)).then(|| numbers.value(0)))
            }
            ColumnarValue::Array(_) => Numbers::Array(numbers),
        })
    }

    /// A step: integers as they are, intervals as their shortest length in nanoseconds (a month
    /// counts as 28 days).
    fn steps(value: &ColumnarValue) -> Result<Numbers> {
        if !matches!(value.data_type(), DataType::Interval(_)) {
            return Numbers::integers(value);
        }
        let array = value.to_array(1)?;
        let array = cast_with_options(
            &array,
            &DataType::Interval(IntervalUnit::MonthDayNano),
            &CastOptions::default(),
        )?;
        let intervals = array
            .as_any()
            .downcast_ref::<IntervalMonthDayNanoArray>()
            .ok_or_else(|| DataFusionError::Internal("cast to an interval".into()))?;
        let nanos: Int64Array = intervals
            .iter()
            .map(|interval| {
                interval.map(|i| {
                    let nanos = i128::from(i.months) * 28 * NANOS_PER_DAY
                        + i128::from(i.days) * NANOS_PER_DAY
                        + i128::from(i.nanoseconds);
                    nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
                })
            })
            .collect();
        Ok(match value {
            ColumnarValue::Scalar(_) => Numbers::Scalar(nanos.is_valid(0).then(|| nanos.value(0))),
            ColumnarValue::Array(_) => Numbers::Array(nanos),
        })
    }

    fn value(&self, row: usize) -> Option<i64> {
        match self {
            Numbers::Scalar(value) => *value,
            Numbers::Array(array) => {
                (row < array.len() && array.is_valid(row)).then(|| array.value(row))
            }
        }
    }

    /// The row's number, negative and null as 0.
    pub(crate) fn get(&self, row: usize) -> u64 {
        self.value(row).map_or(0, |v| v.max(0) as u64)
    }
}

fn is_temporal(value: &ColumnarValue) -> bool {
    matches!(
        value.data_type(),
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    )
}

fn has_byte_length(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

fn to_int64(array: &ArrayRef) -> Result<Int64Array> {
    let numbers = cast_with_options(array, &DataType::Int64, &CastOptions::default())?;
    numbers
        .as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("cast to Int64".into()))
}

/// The bytes a scalar holds: a text's or binary's length, or its memory for other values.
pub(crate) fn scalar_bytes(scalar: &ScalarValue) -> usize {
    match scalar {
        ScalarValue::Utf8(Some(text))
        | ScalarValue::LargeUtf8(Some(text))
        | ScalarValue::Utf8View(Some(text)) => text.len(),
        ScalarValue::Binary(Some(bytes))
        | ScalarValue::LargeBinary(Some(bytes))
        | ScalarValue::BinaryView(Some(bytes))
        | ScalarValue::FixedSizeBinary(_, Some(bytes)) => bytes.len(),
        other => other.size(),
    }
}

/// Group references in a regular-expression replacement (`\1`, `$1`, `${name}`): each can
/// repeat up to the whole matched text.
fn group_references(replacement: &ColumnarValue) -> u64 {
    match replacement {
        ColumnarValue::Scalar(scalar) => match scalar_text(scalar) {
            Some(text) => text.matches(['\\', '$']).count() as u64,
            None => 0,
        },
        // A column of replacements: every byte might be a reference.
        ColumnarValue::Array(_) => u64::MAX / 4,
    }
}

fn scalar_text(scalar: &ScalarValue) -> Option<&str> {
    match scalar {
        ScalarValue::Utf8(Some(text))
        | ScalarValue::LargeUtf8(Some(text))
        | ScalarValue::Utf8View(Some(text)) => Some(text),
        _ => None,
    }
}

/// Whether `regexp_replace`'s flags ask for every match (`g`); a column of flags might.
fn replaces_every_match(flags: Option<&ColumnarValue>) -> bool {
    match flags {
        None => false,
        Some(ColumnarValue::Scalar(scalar)) => scalar_text(scalar).is_some_and(|f| f.contains('g')),
        Some(ColumnarValue::Array(_)) => true,
    }
}

/// The most bytes a call over `rows` rows can produce (saturating). A call whose arguments are
/// all scalars counts once per row too: its value is copied into every row of the batch.
pub(crate) fn output_bound(growth: Growth, args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let sizes = |index: usize| args.get(index).map(Numbers::sizes).transpose();
    let integers = |index: usize| args.get(index).map(Numbers::integers).transpose();
    let mut total: u64 = 0;
    let mut add = |bytes: u64| total = total.saturating_add(bytes);
    match growth {
        Growth::Repeat => {
            let (Some(text), Some(count)) = (sizes(0)?, integers(1)?) else {
                return Ok(0);
            };
            (0..rows).for_each(|row| add(text.get(row).saturating_mul(count.get(row))));
        }
        Growth::Pad => {
            let Some(target) = integers(1)? else {
                return Ok(0);
            };
            (0..rows).for_each(|row| add(target.get(row).saturating_mul(4)));
        }
        Growth::Replace | Growth::RegexpReplace => {
            let (Some(text), Some(to)) = (sizes(0)?, sizes(2)?) else {
                return Ok(0);
            };
            let regexp = growth == Growth::RegexpReplace;
            let references = if regexp {
                group_references(&args[2])
            } else {
                0
            };
            let every = !regexp || replaces_every_match(args.get(3));
            for row in 0..rows {
                let text = text.get(row);
                let matches = if every { text.saturating_add(1) } else { 1 };
                add(text
                    .saturating_add(matches.saturating_mul(to.get(row)))
                    .saturating_add(references.saturating_mul(text)));
            }
        }
        Growth::Concat | Growth::ConcatWs => {
            let values: Vec<Numbers> = args.iter().map(Numbers::sizes).collect::<Result<_>>()?;
            let separators = if growth == Growth::ConcatWs {
                args.len().saturating_sub(2) as u64
            } else {
                0
            };
            for row in 0..rows {
                let mut row_total: u64 = 0;
                for (index, value) in values.iter().enumerate() {
                    let times = if index == 0 && growth == Growth::ConcatWs {
                        separators
                    } else {
                        1
                    };
                    row_total = row_total.saturating_add(value.get(row).saturating_mul(times));
                }
                add(row_total);
            }
        }
        Growth::ArrayRepeat => {
            let (Some(element), Some(count)) = (sizes(0)?, integers(1)?) else {
                return Ok(0);
            };
            for row in 0..rows {
                add(count
                    .get(row)
                    .saturating_mul(element.get(row).saturating_add(ELEMENT_OVERHEAD)));
            }
        }
        Growth::ArrayResize => {
            let Some(count) = integers(1)? else {
                return Ok(0);
            };
            let fill = sizes(2)?;
            for row in 0..rows {
                let element = fill.as_ref().map_or(0, |fill| fill.get(row));
                add(count
                    .get(row)
                    .saturating_mul(element.saturating_add(ELEMENT_OVERHEAD)));
            }
        }
        Growth::Range => {
            let (start, stop) = match args.len() {
                0 => return Ok(0),
                // `range(stop)` counts from 0.
                1 => (None, Numbers::positions(&args[0])?),
                _ => (
                    Some(Numbers::positions(&args[0])?),
                    Numbers::positions(&args[1])?,
                ),
            };
            let step = args.get(2).map(Numbers::steps).transpose()?;
            // Positions in time are microseconds, interval steps nanoseconds.
            let unit: u128 = if is_temporal(&args[0]) { 1000 } else { 1 };
            for row in 0..rows {
                let from = start.as_ref().map_or(Some(0), |s| s.value(row));
                let (Some(from), Some(to)) = (from, stop.value(row)) else {
                    continue;
                };
                let step = step.as_ref().map_or(Some(1), |s| s.value(row));
                let step = step.map_or(1, |s| s.unsigned_abs().max(1));
                let span = (i128::from(to) - i128::from(from)).unsigned_abs() * unit;
                let elements = (span / u128::from(step)).saturating_add(1);
                let elements = u64::try_from(elements).unwrap_or(u64::MAX);
                add(elements.saturating_mul(ELEMENT_OVERHEAD + 8));
            }
        }
    }
    Ok(total)
}
