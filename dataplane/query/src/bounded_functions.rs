//! String functions whose output can be far larger than their input (`repeat('x', 2000000000)`
//! asks for 2 GB in one allocation, which no memory pool sees) are replaced, per session, by
//! wrappers that work out the largest output a call can produce from its arguments and refuse
//! the call before the inner function allocates anything.

use arrow::array::{Array, Int64Array};
use arrow::compute::kernels::length::length;
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};
use datafusion::prelude::SessionContext;

/// The message prefix of a refused call; the engine maps it to its own error.
pub(crate) const STRING_TOO_LONG: &str = "string function output over the limit";

/// How a function's output grows with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(text, n)`: `len(text) × n`.
    Repeat,
    /// `lpad`/`rpad(text, n [, fill])`: `n` characters of at most 4 bytes.
    Pad,
    /// `replace(text, from, to)`: every match of `from` (at most `len(text) + 1` of them for an
    /// empty `from`) becomes `to`.
    Replace,
}

const BOUNDED: [(&str, Growth); 4] = [
    ("repeat", Growth::Repeat),
    ("lpad", Growth::Pad),
    ("rpad", Growth::Pad),
    ("replace", Growth::Replace),
];

/// Replaces the growing string functions of `context` with bounded ones: one call (over one
/// batch) may produce at most `max_bytes` bytes.
pub(crate) fn register(context: &SessionContext, max_bytes: usize) -> Result<()> {
    for (name, growth) in BOUNDED {
        let inner = context.udf(name)?;
        context.register_udf(ScalarUDF::new_from_impl(Bounded {
            inner: inner.as_ref().clone(),
            growth,
            max_bytes,
        }));
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: ScalarUDF,
    growth: Growth,
    max_bytes: usize,
}

/// One argument as per-row numbers: a string's length in bytes, or an integer's value.
enum Numbers {
    Scalar(Option<i64>),
    Array(Int64Array),
}

impl Numbers {
    fn of(value: &ColumnarValue, string_length: bool) -> Result<Numbers> {
        match value {
            ColumnarValue::Scalar(scalar) if string_length => Ok(Numbers::Scalar(
                scalar_text(scalar).map(|text| text.len() as i64),
            )),
            ColumnarValue::Scalar(scalar) => {
                Ok(Numbers::Scalar(match scalar.cast_to(&DataType::Int64)? {
                    ScalarValue::Int64(n) => n,
                    _ => None,
                }))
            }
            ColumnarValue::Array(array) => {
                let numbers = if string_length {
                    length(array.as_ref())?
                } else {
                    array.clone()
                };
                let numbers =
                    cast_with_options(&numbers, &DataType::Int64, &CastOptions::default())?;
                let numbers = numbers
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .cloned()
                    .ok_or_else(|| DataFusionError::Internal("cast to Int64".into()))?;
                Ok(Numbers::Array(numbers))
            }
        }
    }

    fn get(&self, row: usize) -> u64 {
        let value = match self {
            Numbers::Scalar(value) => *value,
            Numbers::Array(array) => {
                (row < array.len() && array.is_valid(row)).then(|| array.value(row))
            }
        };
        value.map_or(0, |v| v.max(0) as u64)
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

impl Bounded {
    /// The most bytes this call can produce, summed over its rows (saturating).
    fn output_bound(&self, args: &ScalarFunctionArgs) -> Result<u64> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let numbers = |index: usize, string_length: bool| -> Result<Option<Numbers>> {
            args.args
                .get(index)
                .map(|value| Numbers::of(value, string_length))
                .transpose()
        };
        let mut total: u64 = 0;
        match self.growth {
            Growth::Repeat => {
                let (Some(text), Some(count)) = (numbers(0, true)?, numbers(1, false)?) else {
                    return Ok(0);
                };
                for row in 0..rows {
                    total = total.saturating_add(text.get(row).saturating_mul(count.get(row)));
                }
            }
            Growth::Pad => {
                let Some(target) = numbers(1, false)? else {
                    return Ok(0);
                };
                for row in 0..rows {
                    total = total.saturating_add(target.get(row).saturating_mul(4));
                }
            }
            Growth::Replace => {
                let (Some(text), Some(to)) = (numbers(0, true)?, numbers(2, true)?) else {
                    return Ok(0);
                };
                for row in 0..rows {
                    let matches = text.get(row).saturating_add(1);
                    total = total
                        .saturating_add(text.get(row))
                        .saturating_add(matches.saturating_mul(to.get(row)));
                }
            }
        }
        Ok(total)
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bound = self.output_bound(&args)?;
        if bound > self.max_bytes as u64 {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{STRING_TOO_LONG}: {}() could produce {bound} bytes, more than the limit of {} \
                 ([query.limits] max_string_bytes)",
                self.name(),
                self.max_bytes
            )));
        }
        self.inner.invoke_with_args(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn growing_functions_are_refused_before_they_allocate() {
        let context = SessionContext::new();
        register(&context, 1 << 20).unwrap();
        for sql in [
            "SELECT repeat('x', 2000000000)",
            "SELECT lpad('x', 2000000000)",
            "SELECT rpad('x', 2000000000, 'ab')",
            "SELECT replace(repeat('a', 2000), 'a', repeat('b', 1000))",
            "SELECT length(repeat(v, 100000)) FROM (VALUES ('abcdefghij'), ('k')) AS t(v)",
        ] {
            let outcome = match context.sql(sql).await {
                Ok(frame) => frame.collect().await.map(|_| ()),
                Err(error) => Err(error),
            };
            let error = outcome.expect_err(sql).to_string();
            assert!(error.contains(STRING_TOO_LONG), "{sql}: {error}");
        }
        let small = context
            .sql("SELECT repeat('ab', 3) AS r, lpad('x', 3, '-') AS l, replace('aXa', 'X', 'yy') AS p")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&small)
            .unwrap()
            .to_string();
        assert!(
            text.contains("ababab") && text.contains("--x") && text.contains("ayya"),
            "{text}"
        );
    }
}
