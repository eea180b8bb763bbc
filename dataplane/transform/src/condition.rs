//! The condition language of filters (`action == 'deny' && source_ip in cidr('10.0.0.0/8')`):
//! parsed once into an expression tree, then evaluated on whole batches with Arrow kernels into
//! a boolean mask. The grammar is in `docs/transform.md`.

mod eval;
mod lexer;
mod parser;

pub use eval::evaluate;
pub(crate) use eval::resolve;
pub use parser::{Condition, ConditionError, parse_condition};
