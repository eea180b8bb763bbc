//! The JSON reason beside every dead letter, and the one way a stage writes a dead letter.

use bytefreezer_layout::{DeadLetterObject, dead_letter_reason_object};
use bytefreezer_storage::Bucket;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::DeadLetterError;

/// The JSON written beside every dead letter (`….json` next to `….arrows`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// RFC 3339 UTC.
    pub time: String,
    /// The stage that gave up: `piper` or `packer`.
    pub stage: String,
    /// The key of the input the dead letter came from.
    pub input: String,
    /// `object`: the input as it was; `rows`: rows split out of it, each with its reason in a
    /// `dead_letter_reason` column.
    pub kind: String,
    /// The cause, as in the `reason` label of the stage's dead-letter counter.
    pub reason: String,
    /// What went wrong, for people.
    pub message: String,
    /// Attempts made before giving up (1 for rows and unreadable objects).
    pub attempts: u32,
    /// Rows in the dead letter, when known.
    pub rows: Option<u64>,
    /// Piper: the pipeline version that failed; packer: empty.
    #[serde(default)]
    pub pipeline_version: String,
}

impl DeadLetterRecord {
    /// A record stamped now for `letter`.
    pub fn new(
        letter: &DeadLetterObject,
        input: &str,
        reason: &str,
        message: String,
        attempts: u32,
    ) -> DeadLetterRecord {
        DeadLetterRecord {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            stage: letter.stage.as_str().to_owned(),
            input: input.to_owned(),
            kind: letter.kind.as_str().to_owned(),
            reason: reason.to_owned(),
            message,
            attempts,
            rows: None,
            pipeline_version: String::new(),
        }
    }
}

/// Writes `body` as `letter` and its reason beside it, both durable when this returns. The
/// caller deletes the input only afterwards, so a crash in between repeats, never loses.
pub async fn write_dead_letter(
    bucket: &Bucket,
    letter: &DeadLetterObject,
    body: Bytes,
    record: &DeadLetterRecord,
) -> Result<String, DeadLetterError> {
    let key = letter.key();
    let json = serde_json::to_vec_pretty(record).map_err(|source| DeadLetterError::Encode {
        key: key.clone(),
        source,
    })?;
    bucket.put(&key, body).await?;
    bucket
        .put(&dead_letter_reason_object(&key), Bytes::from(json))
        .await?;
    Ok(key)
}
