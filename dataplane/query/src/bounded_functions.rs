//! Functions whose output can be far larger than their input (`repeat('x', 2000000000)` asks
//! for 2 GB in one allocation, which no memory pool sees) are replaced, per session, by wrappers
//! that work out the largest output a call can produce from its arguments and refuse the call
//! before the inner function allocates anything. Functions that only multiply their input by a
//! small factor are checked after each call, so nesting them cannot double a value without end.
//! A call's limit covers its output over one batch: a value computed once and copied into
//! every row counts once per row.

use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};
use datafusion::prelude::SessionContext;

use crate::concat_operator::StringConcatPlanner;
use crate::output_bounds::{CHECKED_AFTER, GROWING, Growth, output_bound, scalar_bytes};

/// The message prefix of a refused call; the engine maps it to its own error.
pub(crate) const STRING_TOO_LONG: &str = "string function output over the limit";

/// Replaces the growing functions of `context` (and its `||` operator) with bounded ones: one
/// call over one batch may produce at most `max_bytes` bytes.
pub(crate) fn register(context: &mut SessionContext, max_bytes: usize) -> Result<()> {
    let checks = GROWING
        .iter()
        .map(|(name, growth)| (*name, Check::Before(*growth)))
        .chain(CHECKED_AFTER.iter().map(|name| (*name, Check::After)));
    for (name, check) in checks {
        let inner = context.udf(name)?;
        let bounded = ScalarUDF::new_from_impl(Bounded {
            inner: inner.as_ref().clone(),
            check,
            max_bytes,
        });
        SessionContext::register_udf(context, bounded);
    }
    context.register_expr_planner(Arc::new(StringConcatPlanner { max_bytes }))?;
    Ok(())
}

/// The error of a call refused for its size.
pub(crate) fn too_long(function: &str, bytes: u64, max_bytes: usize) -> DataFusionError {
    DataFusionError::ResourcesExhausted(format!(
        "{STRING_TOO_LONG}: {function} could produce {bytes} bytes over one batch, more than the \
         limit of {max_bytes} ([query.limits] max_string_bytes)"
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Check {
    /// Bound from the arguments before the call.
    Before(Growth),
    /// The output measured after the call.
    After,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: ScalarUDF,
    check: Check,
    max_bytes: usize,
}

/// The bytes a call's output holds over `rows` rows: a scalar is copied into each.
fn output_bytes(output: &ColumnarValue, rows: usize) -> u64 {
    match output {
        ColumnarValue::Array(array) => array.get_array_memory_size() as u64,
        ColumnarValue::Scalar(scalar) => {
            (scalar_bytes(scalar) as u64).saturating_mul(rows.max(1) as u64)
        }
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
        let rows = args.number_rows;
        if let Check::Before(growth) = self.check {
            let bound = output_bound(growth, &args.args, rows)?;
            if bound > self.max_bytes as u64 {
                return Err(too_long(
                    &format!("{}()", self.name()),
                    bound,
                    self.max_bytes,
                ));
            }
        }
        let output = self.inner.invoke_with_args(args)?;
        if self.check == Check::After {
            let bytes = output_bytes(&output, rows);
            if bytes > self.max_bytes as u64 {
                return Err(too_long(
                    &format!("{}()", self.name()),
                    bytes,
                    self.max_bytes,
                ));
            }
        }
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn refusal(context: &SessionContext, sql: &str) -> String {
        let outcome = match context.sql(sql).await {
            Ok(frame) => frame.collect().await.map(|_| ()),
            Err(error) => Err(error),
        };
        outcome.expect_err(sql).to_string()
    }

    #[tokio::test]
    async fn growing_functions_are_refused_before_they_allocate() {
        let mut context = SessionContext::new();
        register(&mut context, 1 << 20).unwrap();
        for sql in [
            "SELECT repeat('x', 2000000000)",
            "SELECT lpad('x', 2000000000)",
            "SELECT rpad('x', 2000000000, 'ab')",
            "SELECT replace(repeat('a', 2000), 'a', repeat('b', 1000))",
            "SELECT regexp_replace(repeat('a', 2000), 'a*', repeat('b', 1000), 'g')",
            "SELECT regexp_replace(repeat('a', 600000), '(.*)', '\\1\\1')",
            "SELECT length(repeat(v, 100000)) FROM (VALUES ('abcdefghij'), ('k')) AS t(v)",
            "SELECT array_repeat('x', 2000000000)",
            "SELECT array_resize([1], 2000000000, 7)",
            "SELECT range(1, 2000000000)",
            "SELECT generate_series(DATE '2000-01-01', DATE '9000-01-01', INTERVAL '1 day')",
            "SELECT concat(CAST(value AS VARCHAR), repeat('y', 1000)) \
             FROM generate_series(1, 2000) AS t(value)",
            "SELECT concat_ws(repeat('-', 600000), 'a', 'b', 'c')",
            "SELECT v || v FROM (SELECT repeat('x', 600000) AS v)",
            "SELECT upper(upper(encode(encode(encode(encode(encode(encode(encode(encode(\
             repeat('x', 10000), 'hex'), 'hex'), 'hex'), 'hex'), 'hex'), 'hex'), 'hex'), \
             'hex')))",
        ] {
            let error = refusal(&context, sql).await;
            assert!(error.contains(STRING_TOO_LONG), "{sql}: {error}");
        }
        let small = context
            .sql(
                "SELECT concat_ws('/', repeat('ab', 3), lpad('x', 3, '-'), replace('aXa', 'X', \
                 'yy'), regexp_replace('a1b22', '[0-9]+', 'N', 'g'), concat('a', NULL, 'b'), \
                 'a' || 'b', coalesce(NULL || 'b', 'null'), cardinality(array_repeat(1, 3)), \
                 cardinality(range(1, 11)), encode('ab', 'hex')) AS s",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&small)
            .unwrap()
            .to_string();
        assert!(
            text.contains("ababab/--x/ayya/aNbN/ab/ab/null/3/10/6162"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_column_concatenated_with_itself_stops_at_the_limit() {
        let mut context = SessionContext::new();
        register(&mut context, 1 << 20).unwrap();
        let doubling = "WITH a AS (SELECT repeat('x', 100) || CAST(value AS VARCHAR) AS v FROM \
             generate_series(1, 100) AS t(value)), b AS (SELECT v || v AS v FROM a), c AS \
             (SELECT v || v AS v FROM b), d AS (SELECT v || v AS v FROM c), e AS (SELECT v || v \
             AS v FROM d), f AS (SELECT v || v AS v FROM e), g AS (SELECT v || v AS v FROM f), \
             h AS (SELECT v || v AS v FROM g), i AS (SELECT v || v AS v FROM h) SELECT v FROM i";
        let error = refusal(&context, doubling).await;
        assert!(error.contains(STRING_TOO_LONG), "{error}");
    }
}
