//! A value written in the query, or computed once from its constants while planning
//! (`repeat('x', 1000000)` becomes a literal), is copied into every row of each batch that
//! selects or aggregates it: one megabyte becomes 8 GB over a batch of 8,192 rows before any
//! limit sees a result. Such values are therefore held to the per-call limit divided by the
//! batch size.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, LogicalPlan};

use crate::bounded_functions::STRING_TOO_LONG;
use crate::output_bounds::scalar_bytes;

/// Refuses `plan` (optimized, so with its constants folded) when one of its literals holds more
/// than `max_string_bytes / batch_rows` bytes.
pub(crate) fn check_literals(
    plan: &LogicalPlan,
    max_string_bytes: usize,
    batch_rows: usize,
) -> Result<()> {
    let max_bytes = max_string_bytes / batch_rows.max(1);
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|expr| {
                if let Expr::Literal(value, _) = expr {
                    let bytes = scalar_bytes(value);
                    if bytes > max_bytes {
                        return Err(DataFusionError::ResourcesExhausted(format!(
                            "{STRING_TOO_LONG}: the query holds a value of {bytes} bytes, written \
                             in it or computed from its constants; such a value is copied into \
                             each of the {batch_rows} rows of a batch, so it may hold at most \
                             {max_bytes} bytes ([query.limits] max_string_bytes / {batch_rows})"
                        )));
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(())
}
