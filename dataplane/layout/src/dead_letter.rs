//! Dead-letter keys: where a stage puts an object (or the rows of one) it cannot process, with
//! a JSON reason beside it, in the same bucket as the failing input so nothing crosses buckets
//! and a replay is a copy back within one store.

use crate::identifier::validate_identifier;
use crate::keys::{ARROW_STREAM_SUFFIX, Stage, split};

/// The folder segment between a dataset and its dead letters. No intake, piper or Parquet key
/// has it in this position, so no stage ever mistakes a dead letter for work.
const DEAD_LETTER_SEGMENT: &str = "dead-letter";
/// Rows a stage split out of an object it otherwise processed.
const ROWS_SUFFIX: &str = ".rows";
const REASON_SUFFIX: &str = ".json";

/// What was dead-lettered: a whole input object, or only some of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterKind {
    /// The input as it was, byte for byte.
    Object,
    /// The rows the stage could not interpret, with a `dead_letter_reason` column.
    Rows,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterObject {
    pub tenant_id: String,
    pub dataset_id: String,
    pub stage: Stage,
    pub batch_id: String,
    pub kind: DeadLetterKind,
}

/// `{tenant}/{dataset}/dead-letter/{stage}/`: every dead letter of one dataset and stage.
pub fn dead_letter_prefix(tenant_id: &str, dataset_id: &str, stage: Stage) -> String {
    format!(
        "{tenant_id}/{dataset_id}/{DEAD_LETTER_SEGMENT}/{}/",
        stage.as_str()
    )
}

/// `{tenant}/{dataset}/dead-letter/{stage}/{batch_id}.arrows` for a whole object,
/// `{batch_id}.rows.arrows` for rows split out of it.
pub fn dead_letter_object(
    tenant_id: &str,
    dataset_id: &str,
    stage: Stage,
    batch_id: &str,
    kind: DeadLetterKind,
) -> String {
    format!(
        "{}{batch_id}{}{ARROW_STREAM_SUFFIX}",
        dead_letter_prefix(tenant_id, dataset_id, stage),
        kind_suffix(kind)
    )
}

/// The JSON reason beside a dead letter: the same name ending `.json` instead of `.arrows`.
pub fn dead_letter_reason_object(dead_letter_key: &str) -> String {
    let stem = dead_letter_key
        .strip_suffix(ARROW_STREAM_SUFFIX)
        .unwrap_or(dead_letter_key);
    format!("{stem}{REASON_SUFFIX}")
}

/// Parses a key made by [`dead_letter_object`]; reasons and anything else give `None`.
pub fn parse_dead_letter_object(key: &str) -> Option<DeadLetterObject> {
    let [tenant_id, dataset_id, DEAD_LETTER_SEGMENT, stage, file] = split::<5>(key)? else {
        return None;
    };
    let stem = file.strip_suffix(ARROW_STREAM_SUFFIX)?;
    let (batch_id, kind) = match stem.strip_suffix(ROWS_SUFFIX) {
        Some(batch_id) => (batch_id, DeadLetterKind::Rows),
        None => (stem, DeadLetterKind::Object),
    };
    for id in [tenant_id, dataset_id, batch_id] {
        validate_identifier("identifier", id).ok()?;
    }
    Some(DeadLetterObject {
        tenant_id: tenant_id.into(),
        dataset_id: dataset_id.into(),
        stage: Stage::parse(stage)?,
        batch_id: batch_id.into(),
        kind,
    })
}

/// The batch id under which dead-lettered rows of `batch_id` are replayed. It differs from the
/// original (whose outputs may still wait in the next bucket under that name, and must not be
/// overwritten) and is the same on every call, so a replay interrupted and run again writes the
/// same input once.
pub fn replayed_rows_batch_id(batch_id: &str) -> String {
    // FNV-1a: no dependency, stable across versions and platforms.
    let hash = batch_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("rows-{hash:016x}")
}

fn kind_suffix(kind: DeadLetterKind) -> &'static str {
    match kind {
        DeadLetterKind::Object => "",
        DeadLetterKind::Rows => ROWS_SUFFIX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{parse_intake_object, parse_piper_object};

    #[test]
    fn dead_letter_keys_have_the_documented_layout_and_parse_back() {
        let object = dead_letter_object("acme", "fw", Stage::Piper, "b1", DeadLetterKind::Object);
        assert_eq!(object, "acme/fw/dead-letter/piper/b1.arrows");
        assert_eq!(
            dead_letter_reason_object(&object),
            "acme/fw/dead-letter/piper/b1.json"
        );
        let rows = dead_letter_object("acme", "fw", Stage::Piper, "b1", DeadLetterKind::Rows);
        assert_eq!(rows, "acme/fw/dead-letter/piper/b1.rows.arrows");
        let parsed = parse_dead_letter_object(&rows).unwrap();
        assert_eq!(
            (parsed.batch_id.as_str(), parsed.kind, parsed.stage),
            ("b1", DeadLetterKind::Rows, Stage::Piper)
        );
        assert_eq!(
            parse_dead_letter_object(&object).unwrap().kind,
            DeadLetterKind::Object
        );
        assert!(object.starts_with(&dead_letter_prefix("acme", "fw", Stage::Piper)));
    }

    #[test]
    fn dead_letters_are_never_taken_for_work_and_reasons_are_not_dead_letters() {
        let object = dead_letter_object("acme", "fw", Stage::Piper, "b1", DeadLetterKind::Object);
        assert!(parse_intake_object(&object).is_none());
        assert!(parse_piper_object(&object).is_none());
        assert!(parse_dead_letter_object(&dead_letter_reason_object(&object)).is_none());
        assert!(parse_dead_letter_object("acme/fw/dead-letter/mixer/b1.arrows").is_none());
        assert!(parse_dead_letter_object("acme/fw/b1.arrows").is_none());
    }

    #[test]
    fn replayed_rows_get_a_new_stable_valid_batch_id() {
        let id = replayed_rows_batch_id("0196f0c2-7b6e-7c3a-9a51-000000000001");
        assert_eq!(
            id,
            replayed_rows_batch_id("0196f0c2-7b6e-7c3a-9a51-000000000001")
        );
        assert_ne!(
            id,
            replayed_rows_batch_id("0196f0c2-7b6e-7c3a-9a51-000000000002")
        );
        assert!(validate_identifier("batch id", &id).is_ok());
    }
}
