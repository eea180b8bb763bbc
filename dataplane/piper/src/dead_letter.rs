//! Dead letters: an intake object piper gave up on, or the rows of one it could not interpret,
//! moved to `{tenant}/{dataset}/dead-letter/piper/` in the intake bucket with a JSON reason
//! beside each, counted, and reported to Activity. `bytefreezer dead-letter` lists and replays
//! them.

use bytefreezer_layout::{
    DeadLetterKind, IntakeObject, Stage, dead_letter_object, dead_letter_reason_object,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::piper::Piper;

/// The JSON written beside every dead letter (`….json` next to `….arrows`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// RFC 3339 UTC.
    pub time: String,
    /// The stage that gave up: `piper`.
    pub stage: String,
    /// The key of the input the dead letter came from.
    pub input: String,
    /// `object`: the input as it was; `rows`: rows split out of it, each with its reason in a
    /// `dead_letter_reason` column.
    pub kind: String,
    /// The cause, as in the `reason` label of `bytefreezer_piper_dead_lettered_total`.
    pub reason: String,
    /// What went wrong, for people.
    pub message: String,
    /// Attempts made before giving up (1 for rows and unreadable objects).
    pub attempts: u32,
    /// Rows in the dead letter, when known.
    pub rows: Option<u64>,
    pub pipeline_version: String,
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
    pub(crate) async fn write(&self, piper: &Piper, body: Bytes) -> Result<String, String> {
        let target = dead_letter_object(
            &self.key.tenant_id,
            &self.key.dataset_id,
            Stage::Piper,
            &self.key.batch_id,
            self.kind,
        );
        let record = DeadLetterRecord {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            stage: "piper".into(),
            input: self.input.to_owned(),
            kind: match self.kind {
                DeadLetterKind::Object => "object",
                DeadLetterKind::Rows => "rows",
            }
            .into(),
            reason: self.reason.into(),
            message: self.message.clone(),
            attempts: self.attempts,
            rows: self.rows,
            pipeline_version: self.pipeline_version.to_owned(),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| e.to_string())?;
        piper
            .buckets
            .intake
            .put(&target, body)
            .await
            .map_err(|e| format!("cannot write dead letter {target}: {e}"))?;
        piper
            .buckets
            .intake
            .put(&dead_letter_reason_object(&target), Bytes::from(json))
            .await
            .map_err(|e| format!("cannot write the reason of dead letter {target}: {e}"))?;
        Ok(target)
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
                    "bytefreezer_piper_dead_lettered_total",
                    "Intake objects moved to the dead-letter prefix, by cause.",
                    &labels,
                )
                .increment(1),
            DeadLetterKind::Rows => piper
                .registry
                .counter(
                    "bytefreezer_piper_dead_lettered_rows_total",
                    "Rows split out of intake objects into the dead-letter prefix, by cause.",
                    &labels,
                )
                .increment(self.rows.unwrap_or(0)),
        }
        let what = match (self.kind, self.rows) {
            (DeadLetterKind::Rows, Some(rows)) => format!("{rows} rows of {}", self.input),
            _ => self.input.to_owned(),
        };
        let message = format!("dead-lettered {what} ({}): {}", self.reason, self.message);
        tracing::warn!(tenant = %self.key.tenant_id, dataset = %self.key.dataset_id, "piper: {message}; replay with `bytefreezer dead-letter replay`");
        piper.registry.activity().record(
            "piper",
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
