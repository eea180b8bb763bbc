//! Dead letters: an intake object piper gave up on, or the rows of one it could not interpret,
//! moved to `{tenant}/{dataset}/dead-letter/piper/` in the intake bucket with a JSON reason
//! beside each (`bytefreezer_dead_letter`), counted, and reported to Activity.
//! `bytefreezer dead-letter` and replay requests from the control plane move them back.

use bytefreezer_api::Role;
use bytefreezer_api::metrics::{PIPER_DEAD_LETTERED_ROWS_TOTAL, PIPER_DEAD_LETTERED_TOTAL};
use bytefreezer_dead_letter::{DeadLetterError, DeadLetterRecord, write_dead_letter};
use bytefreezer_layout::{DeadLetterKind, DeadLetterObject, IntakeObject};
use bytefreezer_storage::StorageError;
use bytes::Bytes;

use crate::piper::Piper;

/// A dead letter (and its reason) that could not be written; the input stays where it is.
#[derive(Debug, thiserror::Error)]
#[error("cannot write dead letter {key}: {source}")]
pub(crate) struct DeadLetterWriteError {
    key: String,
    #[source]
    source: DeadLetterError,
}

/// Why an object piper gave up on is not moved to the dead letter yet; the next pass tries
/// again, so nothing is lost.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeadLetterMoveError {
    #[error(transparent)]
    Read(StorageError),
    #[error(transparent)]
    Write(#[from] DeadLetterWriteError),
    #[error(transparent)]
    Delete(StorageError),
}

/// What goes wrong with the rows or the object, and whether it moves to the dead letter.
pub(crate) struct DeadLetter<'a> {
    pub key: &'a IntakeObject,
    pub input: &'a str,
    pub kind: DeadLetterKind,
    pub reason: &'static str,
    pub message: String,
    pub attempts: u32,
    pub rows: Option<u64>,
    pub pipeline_version: &'a str,
}

impl DeadLetter<'_> {
    /// Writes `body` and its reason. The caller deletes the input afterwards (objects) or
    /// goes on writing the good rows (rows), so a crash in between repeats, never loses.
    pub(crate) async fn write(
        &self,
        piper: &Piper,
        body: Bytes,
    ) -> Result<String, DeadLetterWriteError> {
        let letter = DeadLetterObject::of_intake(self.key, self.kind);
        let mut record = DeadLetterRecord::new(
            &letter,
            self.input,
            self.reason,
            self.message.clone(),
            self.attempts,
        );
        record.rows = self.rows;
        record.pipeline_version = self.pipeline_version.to_owned();
        write_dead_letter(&piper.buckets.intake, &letter, body, &record)
            .await
            .map_err(|source| DeadLetterWriteError {
                key: letter.key(),
                source,
            })
    }

    /// Counts the dead letter and reports it to Activity, once it is written.
    pub(crate) fn emit(&self, piper: &Piper, target: &str) {
        let labels = [
            ("tenant", self.key.tenant_id.as_str()),
            ("dataset", self.key.dataset_id.as_str()),
            ("reason", self.reason),
        ];
        match self.kind {
            DeadLetterKind::Object => piper
                .registry
                .counter(
                    PIPER_DEAD_LETTERED_TOTAL.name,
                    PIPER_DEAD_LETTERED_TOTAL.help,
                    &labels,
                )
                .increment(1),
            DeadLetterKind::Rows => piper
                .registry
                .counter(
                    PIPER_DEAD_LETTERED_ROWS_TOTAL.name,
                    PIPER_DEAD_LETTERED_ROWS_TOTAL.help,
                    &labels,
                )
                .increment(self.rows.unwrap_or(0)),
        }
        let what = match (self.kind, self.rows) {
            (DeadLetterKind::Rows, Some(rows)) => format!("{rows} rows of {}", self.input),
            _ => self.input.to_owned(),
        };
        let message = format!("dead-lettered {what} ({}): {}", self.reason, self.message);
        tracing::warn!(tenant = %self.key.tenant_id, dataset = %self.key.dataset_id, "piper: {message}; replay with `bytefreezer ctl dead-letters replay`");
        piper.registry.activity().record(
            Role::Piper.as_str(),
            (self.key.tenant_id.as_str(), self.key.dataset_id.as_str()),
            false,
            message,
            serde_json::json!({
                "object": self.input,
                "dead_letter": target,
                "reason": self.reason,
                "attempts": self.attempts,
                "rows": self.rows,
                "pipeline_version": self.pipeline_version,
            }),
        );
    }
}
