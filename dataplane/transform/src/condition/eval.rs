use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Float64Array, Int64Array, Scalar, StringArray,
    StructArray,
};
use arrow::compute::kernels::boolean::{and, not, or};
use arrow::compute::kernels::cmp::{eq, gt, gt_eq, lt, lt_eq, neq};
use arrow::compute::kernels::comparison::{contains, ends_with, starts_with};
use arrow::compute::{cast, is_not_null, is_null, prep_null_mask_filter};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::parser::{CompareOp, Condition, Expr, Literal, TextOp};

/// The rows of `batch` where the condition holds. A missing field or a null value never
/// matches, except for `field == null`; so the mask has no nulls.
pub fn evaluate(condition: &Condition, batch: &RecordBatch) -> Result<BooleanArray, ArrowError> {
    let mask = eval(&condition.expr, batch)?;
    Ok(if mask.null_count() > 0 {
        prep_null_mask_filter(&mask)
    } else {
        mask
    })
}

fn eval(expr: &Expr, batch: &RecordBatch) -> Result<BooleanArray, ArrowError> {
    let rows = batch.num_rows();
    let definite = |mask: BooleanArray| {
        if mask.null_count() > 0 {
            prep_null_mask_filter(&mask)
        } else {
            mask
        }
    };
    Ok(match expr {
        Expr::Or(left, right) => or(&eval(left, batch)?, &eval(right, batch)?)?,
        Expr::And(left, right) => and(&eval(left, batch)?, &eval(right, batch)?)?,
        Expr::Not(inner) => not(&eval(inner, batch)?)?,
        Expr::Constant(value) => BooleanArray::from(vec![*value; rows]),
        Expr::Exists(field) => match resolve(batch, field) {
            Some(column) => is_not_null(column.as_ref())?,
            None => BooleanArray::from(vec![false; rows]),
        },
        Expr::Truthy(field) => match resolve(batch, field) {
            Some(column) => definite(
                cast(&column, &DataType::Boolean)?
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .cloned()
                    .unwrap_or_else(|| BooleanArray::from(vec![false; rows])),
            ),
            None => BooleanArray::from(vec![false; rows]),
        },
        Expr::Compare { field, op, value } => match (resolve(batch, field), value) {
            (None, Literal::Null) => BooleanArray::from(vec![*op == CompareOp::Eq; rows]),
            (None, _) => BooleanArray::from(vec![false; rows]),
            (Some(column), Literal::Null) => match op {
                CompareOp::Eq => is_null(column.as_ref())?,
                _ => is_not_null(column.as_ref())?,
            },
            (Some(column), literal) => definite(compare(&column, *op, literal)?),
        },
        Expr::In { field, values } => {
            // A missing field is null, as for `field == null`.
            let missing_matches = values.contains(&Literal::Null);
            let mut mask = BooleanArray::from(vec![missing_matches; rows]);
            if let Some(column) = resolve(batch, field) {
                mask = BooleanArray::from(vec![false; rows]);
                for value in values {
                    let hit = match value {
                        Literal::Null => is_null(column.as_ref())?,
                        literal => definite(compare(&column, CompareOp::Eq, literal)?),
                    };
                    mask = or(&mask, &hit)?;
                }
            }
            mask
        }
        Expr::Text { field, op, value } => match resolve(batch, field) {
            Some(column) => {
                let text = cast(&column, &DataType::Utf8)?;
                let needle = Scalar::new(StringArray::from(vec![value.as_str()]));
                definite(match op {
                    TextOp::Contains => contains(&text, &needle)?,
                    TextOp::StartsWith => starts_with(&text, &needle)?,
                    TextOp::EndsWith => ends_with(&text, &needle)?,
                })
            }
            None => BooleanArray::from(vec![false; rows]),
        },
        Expr::Matches { field, regex } => per_string(batch, field, |text| regex.is_match(text))?,
        Expr::InCidr { field, networks } => per_string(batch, field, |text| {
            text.parse::<IpAddr>()
                .is_ok_and(|address| networks.iter().any(|network| network.contains(address)))
        })?,
    })
}

fn per_string(
    batch: &RecordBatch,
    field: &str,
    test: impl Fn(&str) -> bool,
) -> Result<BooleanArray, ArrowError> {
    let Some(column) = resolve(batch, field) else {
        return Ok(BooleanArray::from(vec![false; batch.num_rows()]));
    };
    let text = cast(&column, &DataType::Utf8)?;
    let Some(text) = text.as_any().downcast_ref::<StringArray>() else {
        return Ok(BooleanArray::from(vec![false; batch.num_rows()]));
    };
    let mut builder = BooleanBuilder::with_capacity(text.len());
    for row in 0..text.len() {
        builder.append_value(text.is_valid(row) && test(text.value(row)));
    }
    Ok(builder.finish())
}

fn compare(
    column: &ArrayRef,
    op: CompareOp,
    literal: &Literal,
) -> Result<BooleanArray, ArrowError> {
    let (left, right): (ArrayRef, ArrayRef) = match literal {
        Literal::Str(value) => (
            cast(column, &DataType::Utf8)?,
            Arc::new(StringArray::from(vec![value.as_str()])),
        ),
        Literal::Int(value) if column.data_type().is_integer() => (
            cast(column, &DataType::Int64)?,
            Arc::new(Int64Array::from(vec![*value])),
        ),
        Literal::Int(value) => (
            cast(column, &DataType::Float64)?,
            Arc::new(Float64Array::from(vec![*value as f64])),
        ),
        Literal::Float(value) => (
            cast(column, &DataType::Float64)?,
            Arc::new(Float64Array::from(vec![*value])),
        ),
        Literal::Bool(value) => (
            cast(column, &DataType::Boolean)?,
            Arc::new(BooleanArray::from(vec![*value])),
        ),
        Literal::Null => return is_null(column.as_ref()),
    };
    let right = Scalar::new(right);
    match op {
        CompareOp::Eq => eq(&left, &right),
        CompareOp::NotEq => neq(&left, &right),
        CompareOp::Lt => lt(&left, &right),
        CompareOp::LtEq => lt_eq(&left, &right),
        CompareOp::Gt => gt(&left, &right),
        CompareOp::GtEq => gt_eq(&left, &right),
    }
}

/// A column by name; a dotted name that is not a column walks into struct columns.
pub(crate) fn resolve(batch: &RecordBatch, field: &str) -> Option<ArrayRef> {
    if let Some(column) = batch.column_by_name(field) {
        return Some(column.clone());
    }
    let mut parts = field.split('.');
    let mut current = batch.column_by_name(parts.next()?)?.clone();
    for part in parts {
        let structure = current.as_any().downcast_ref::<StructArray>()?;
        current = structure.column_by_name(part)?.clone();
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int32Array, StringArray};
    use arrow::datatypes::{Field, Fields};

    use super::super::parse_condition;
    use super::*;

    fn batch() -> RecordBatch {
        let nested = StructArray::new(
            Fields::from(vec![Field::new("city", DataType::Utf8, true)]),
            vec![Arc::new(StringArray::from(vec![
                Some("London"),
                None,
                Some("Paris"),
                None,
            ]))],
            None,
        );
        RecordBatch::try_from_iter(vec![
            (
                "action",
                Arc::new(StringArray::from(vec![
                    Some("deny"),
                    Some("allow"),
                    None,
                    Some("drop"),
                ])) as ArrayRef,
            ),
            (
                "port",
                Arc::new(Int32Array::from(vec![
                    Some(22),
                    Some(443),
                    Some(8080),
                    None,
                ])) as ArrayRef,
            ),
            (
                "bytes",
                Arc::new(StringArray::from(vec![
                    Some("100"),
                    Some("x"),
                    Some("2000"),
                    Some("5"),
                ])) as ArrayRef,
            ),
            (
                "source_ip",
                Arc::new(StringArray::from(vec![
                    Some("10.1.2.3"),
                    Some("192.0.2.1"),
                    Some("not-an-ip"),
                    Some("10.0.0.9"),
                ])) as ArrayRef,
            ),
            ("geo", Arc::new(nested) as ArrayRef),
        ])
        .unwrap()
    }

    fn rows(text: &str) -> Vec<bool> {
        let condition = parse_condition(text).unwrap();
        evaluate(&condition, &batch())
            .unwrap()
            .iter()
            .map(|v| v.unwrap())
            .collect()
    }

    #[test]
    fn comparisons_follow_types_and_nulls_never_match() {
        assert_eq!(rows("action == 'deny'"), [true, false, false, false]);
        assert_eq!(rows("action != 'deny'"), [false, true, false, true]);
        assert_eq!(rows("port >= 443"), [false, true, true, false]);
        assert_eq!(rows("port < 100.5"), [true, false, false, false]);
        assert_eq!(
            rows("bytes > 50"),
            [true, false, true, false],
            "text parsed as numbers, the rest never matches"
        );
        assert_eq!(rows("action == null"), [false, false, true, false]);
        assert_eq!(rows("missing == null"), [true; 4]);
        assert_eq!(rows("missing != 'x'"), [false; 4]);
    }

    #[test]
    fn boolean_logic_lists_text_regex_cidr_exists_and_paths() {
        assert_eq!(
            rows("action == 'deny' || port == 8080"),
            [true, false, true, false]
        );
        assert_eq!(
            rows("not (action in ['deny', 'drop'])"),
            [false, true, true, false]
        );
        assert_eq!(rows("action in ['deny', null]"), [true, false, true, false]);
        assert_eq!(
            rows("action starts_with 'd' and action ends_with 'p'"),
            [false, false, false, true]
        );
        assert_eq!(rows("action contains 'll'"), [false, true, false, false]);
        assert_eq!(
            rows("action matches '^(deny|drop)$'"),
            [true, false, false, true]
        );
        assert_eq!(
            rows("source_ip in cidr('10.0.0.0/8')"),
            [true, false, false, true]
        );
        assert_eq!(
            rows("source_ip in cidr('10.0.0.0/24', '192.0.2.0/24')"),
            [false, true, false, true]
        );
        assert_eq!(rows("exists(port)"), [true, true, true, false]);
        assert_eq!(rows("geo.city == 'Paris'"), [false, false, true, false]);
        assert_eq!(rows("!exists(nope) && true"), [true; 4]);
    }
}
