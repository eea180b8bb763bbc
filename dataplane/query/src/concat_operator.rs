//! The `||` operator on text is a binary expression, not a function, so the bounded functions
//! cannot replace it: this planner turns `a || b` on text into a function with the operator's
//! meaning (its types, and NULL when either side is NULL) that refuses, like the bounded
//! functions, a call whose output over one batch could pass the limit. Lists keep DataFusion's
//! own planning (`array_concat` and friends, which are bounded functions).

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, Result, ScalarValue, plan_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, Column};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::bounded_functions::too_long;
use crate::output_bounds::{Growth, output_bound};

#[derive(Debug)]
pub(crate) struct StringConcatPlanner {
    pub max_bytes: usize,
}

fn is_list(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
    )
}

impl ExprPlanner for StringConcatPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        if expr.op != BinaryOperator::StringConcat {
            return Ok(PlannerResult::Original(expr));
        }
        let (left, right) = (expr.left.get_type(schema)?, expr.right.get_type(schema)?);
        if is_list(&left) || is_list(&right) {
            return Ok(PlannerResult::Original(expr));
        }
        let udf = ScalarUDF::new_from_impl(StringConcatOperator {
            signature: Signature::user_defined(Volatility::Immutable),
            max_bytes: self.max_bytes,
        });
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::new(udf), vec![expr.left, expr.right]),
        )))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct StringConcatOperator {
    signature: Signature,
    max_bytes: usize,
}

fn coercer_types(arg_types: &[DataType]) -> Result<(DataType, DataType)> {
    match arg_types {
        [left, right] => Ok((left.clone(), right.clone())),
        _ => plan_err!("|| takes two operands"),
    }
}

impl ScalarUDFImpl for StringConcatOperator {
    fn name(&self) -> &str {
        "||"
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [left, right] => Ok(format!("{} || {}", left.schema_name(), right.schema_name())),
            _ => plan_err!("|| takes two operands"),
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let (left, right) = coercer_types(arg_types)?;
        let (left, right) =
            BinaryTypeCoercer::new(&left, &Operator::StringConcat, &right).get_input_types()?;
        Ok(vec![left, right])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let (left, right) = coercer_types(arg_types)?;
        BinaryTypeCoercer::new(&left, &Operator::StringConcat, &right).get_result_type()
    }

    /// Checks the bound, then evaluates DataFusion's own `||` over the two operands.
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bound = output_bound(Growth::Concat, &args.args, args.number_rows)?;
        if bound > self.max_bytes as u64 {
            return Err(too_long("||", bound, self.max_bytes));
        }
        let scalar = args
            .args
            .iter()
            .all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let [left, right] = args.args.as_slice() else {
            return plan_err!("|| takes two operands");
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("left", left.data_type(), true),
            Field::new("right", right.data_type(), true),
        ]));
        let batch =
            RecordBatch::try_new(schema, vec![left.to_array(rows)?, right.to_array(rows)?])?;
        let concat = BinaryExpr::new(
            Arc::new(Column::new("left", 0)),
            Operator::StringConcat,
            Arc::new(Column::new("right", 1)),
        );
        let output = concat.evaluate(&batch)?;
        if scalar {
            let array = output.to_array(1)?;
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &array, 0,
            )?));
        }
        Ok(output)
    }
}
