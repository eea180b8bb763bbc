//! What one pipeline may cost: how many filters it has (checked when it is saved) and how much
//! text and memory its filters may produce (checked while they run), so one tenant's
//! `regex_replace` cannot exhaust the memory of the piper or control plane it shares.

use serde::{Deserialize, Serialize};

use crate::pipeline::TransformError;

/// Limits on one pipeline. The control plane validates saved pipelines and runs Test
/// Transformation with the defaults; piper takes them from `[piper.transform_limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformLimits {
    /// Filters in one pipeline, disabled ones included. Default 64.
    pub max_filters: usize,
    /// Bytes a filter may grow one text value to; a value that was already larger may keep
    /// its size but not grow. Default 1 MiB.
    pub max_value_bytes: usize,
    /// Bytes of text a filter may write into one column of one batch (Arrow text columns
    /// stop at 2 GiB). Default 256 MiB.
    pub max_column_bytes: usize,
    /// Bytes of memory a batch may hold after a filter that made it grow. Default 1 GiB.
    pub max_batch_bytes: usize,
}

impl Default for TransformLimits {
    fn default() -> Self {
        TransformLimits {
            max_filters: 64,
            max_value_bytes: 1 << 20,
            max_column_bytes: 256 << 20,
            max_batch_bytes: 1 << 30,
        }
    }
}

/// The text one filter may still write into one column: values and the column total are
/// checked before the bytes are appended, so the limit bounds the allocation, not just the
/// result.
pub(crate) struct OutputBudget<'a> {
    limits: &'a TransformLimits,
    index: usize,
    kind: &'a str,
    written: usize,
}

impl<'a> OutputBudget<'a> {
    pub(crate) fn new(limits: &'a TransformLimits, index: usize, kind: &'a str) -> Self {
        OutputBudget {
            limits,
            index,
            kind,
            written: 0,
        }
    }

    /// Whether a value of `len` bytes, made from a value of `input_len` bytes, still fits.
    pub(crate) fn check_value(&self, len: usize, input_len: usize) -> Result<(), TransformError> {
        if len > self.limits.max_value_bytes && len > input_len {
            return Err(self.exceeded(format!(
                "a value would grow to {len} bytes, past max_value_bytes ({})",
                self.limits.max_value_bytes
            )));
        }
        if self.written.saturating_add(len) > self.limits.max_column_bytes {
            return Err(self.exceeded(format!(
                "the column would exceed max_column_bytes ({}) in one batch",
                self.limits.max_column_bytes
            )));
        }
        Ok(())
    }

    /// Records a value of `len` bytes as written, after [`OutputBudget::check_value`].
    pub(crate) fn take(&mut self, len: usize, input_len: usize) -> Result<(), TransformError> {
        self.check_value(len, input_len)?;
        self.written += len;
        Ok(())
    }

    fn exceeded(&self, problem: String) -> TransformError {
        TransformError::Limit {
            index: self.index,
            kind: self.kind.to_owned(),
            problem,
        }
    }
}
