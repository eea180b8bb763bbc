//! Dead-letter keys: where a stage puts an object (or the rows of one) it cannot process, with
//! a JSON reason beside it, in the same bucket as the failing input so nothing crosses buckets
//! and a replay is a copy back within one store. Also the keys of what a stage keeps about
//! failing inputs: their persisted attempt counts and the lease of a replay.

use crate::hour::HourPartition;
use crate::identifier::validate_identifier;
use crate::keys::{
    ARROW_STREAM_SUFFIX, INTERNAL_PREFIX, IntakeObject, PiperObject, Stage, intake_object,
    lease_object, piper_object, split,
};

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

impl DeadLetterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterKind::Object => "object",
            DeadLetterKind::Rows => "rows",
        }
    }
}

/// One dead letter. Piper's (of intake objects) have no hour; packer's (of piper objects) keep
/// the input's hour, which a replay needs to put the object back where packer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterObject {
    pub tenant_id: String,
    pub dataset_id: String,
    pub stage: Stage,
    pub hour: Option<HourPartition>,
    pub batch_id: String,
    pub kind: DeadLetterKind,
}

impl DeadLetterObject {
    /// Piper gave up on an intake object, or on some of its rows.
    pub fn of_intake(input: &IntakeObject, kind: DeadLetterKind) -> DeadLetterObject {
        DeadLetterObject {
            tenant_id: input.tenant_id.clone(),
            dataset_id: input.dataset_id.clone(),
            stage: Stage::Piper,
            hour: None,
            batch_id: input.batch_id.clone(),
            kind,
        }
    }

    /// Packer gave up on a piper object.
    pub fn of_piper_object(input: &PiperObject) -> DeadLetterObject {
        DeadLetterObject {
            tenant_id: input.tenant_id.clone(),
            dataset_id: input.dataset_id.clone(),
            stage: Stage::Packer,
            hour: Some(input.hour),
            batch_id: input.batch_id.clone(),
            kind: DeadLetterKind::Object,
        }
    }

    /// `{tenant}/{dataset}/dead-letter/piper/{batch_id}.arrows` (`{batch_id}.rows.arrows` for
    /// rows), `{tenant}/{dataset}/dead-letter/packer/year=…/hour=HH/{batch_id}.arrows`.
    pub fn key(&self) -> String {
        let hour = self
            .hour
            .map(|hour| format!("{}/", hour.path_segment()))
            .unwrap_or_default();
        format!(
            "{}{hour}{}{}{ARROW_STREAM_SUFFIX}",
            dead_letter_prefix(&self.tenant_id, &self.dataset_id, self.stage),
            self.batch_id,
            kind_suffix(self.kind)
        )
    }

    /// Where a replay puts it back: the key its stage reads work from. Rows get a new, stable
    /// batch id ([`replayed_rows_batch_id`]); a whole object keeps its own, so replaying it
    /// twice, or after a crash, writes the same object and never a second copy of its rows.
    pub fn replay_target(&self) -> String {
        let batch_id = match self.kind {
            DeadLetterKind::Object => self.batch_id.clone(),
            DeadLetterKind::Rows => replayed_rows_batch_id(&self.batch_id),
        };
        match (self.stage, &self.hour) {
            (Stage::Packer, Some(hour)) => {
                piper_object(&self.tenant_id, &self.dataset_id, hour, &batch_id)
            }
            _ => intake_object(&self.tenant_id, &self.dataset_id, &batch_id),
        }
    }
}

/// `{tenant}/{dataset}/dead-letter/{stage}/`: every dead letter of one dataset and stage.
pub fn dead_letter_prefix(tenant_id: &str, dataset_id: &str, stage: Stage) -> String {
    format!(
        "{tenant_id}/{dataset_id}/{DEAD_LETTER_SEGMENT}/{}/",
        stage.as_str()
    )
}

/// The JSON reason beside a dead letter: the same name ending `.json` instead of `.arrows`.
pub fn dead_letter_reason_object(dead_letter_key: &str) -> String {
    let stem = dead_letter_key
        .strip_suffix(ARROW_STREAM_SUFFIX)
        .unwrap_or(dead_letter_key);
    format!("{stem}{REASON_SUFFIX}")
}

/// Parses a key made by [`DeadLetterObject::key`]; reasons and anything else give `None`.
pub fn parse_dead_letter_object(key: &str) -> Option<DeadLetterObject> {
    let (head, hour, file) = match split::<9>(key) {
        Some(
            [
                tenant,
                dataset,
                segment,
                stage,
                year,
                month,
                day,
                hour,
                file,
            ],
        ) => (
            [tenant, dataset, segment, stage],
            Some(HourPartition::parse_path_segments(&[
                year, month, day, hour,
            ])?),
            file,
        ),
        None => {
            let [tenant, dataset, segment, stage, file] = split::<5>(key)?;
            ([tenant, dataset, segment, stage], None, file)
        }
    };
    let [tenant_id, dataset_id, DEAD_LETTER_SEGMENT, stage] = head else {
        return None;
    };
    let stage = Stage::parse(stage)?;
    // Packer's dead letters need their hour to go back; piper's have none.
    if (stage == Stage::Packer) != hour.is_some() {
        return None;
    }
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
        stage,
        hour,
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

/// The lease a stage instance holds while it replays one dataset's dead letters, so two
/// instances never both move the same dead letter back (which could process it twice).
pub fn dead_letter_replay_lease(tenant_id: &str, dataset_id: &str, stage: Stage) -> String {
    lease_object(
        stage,
        &format!(
            "{tenant_id}/{dataset_id}/{DEAD_LETTER_SEGMENT}/{}/replay",
            stage.as_str()
        ),
    )
}

/// `_bytefreezer/attempts/{stage}/`: the persisted attempt counts of a stage's failing inputs.
pub fn attempts_prefix(stage: Stage) -> String {
    format!("{INTERNAL_PREFIX}/attempts/{}/", stage.as_str())
}

/// Where a stage keeps how often `input_key` failed, in the input's bucket, so a restart (or a
/// crash loop) does not start the count over.
pub fn attempts_object(stage: Stage, input_key: &str) -> String {
    format!("{}{input_key}{REASON_SUFFIX}", attempts_prefix(stage))
}

/// The input key of an [`attempts_object`] of `stage`.
pub fn parse_attempts_object(stage: Stage, key: &str) -> Option<String> {
    let input = key
        .strip_prefix(&attempts_prefix(stage))?
        .strip_suffix(REASON_SUFFIX)?;
    (!input.is_empty()).then(|| input.to_owned())
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
    use crate::keys::{
        parse_intake_object, parse_packer_plan_object, parse_parquet_object, parse_piper_object,
    };

    fn intake(batch: &str) -> IntakeObject {
        IntakeObject {
            tenant_id: "acme".into(),
            dataset_id: "fw".into(),
            batch_id: batch.into(),
        }
    }

    fn piper(batch: &str) -> PiperObject {
        PiperObject {
            tenant_id: "acme".into(),
            dataset_id: "fw".into(),
            hour: HourPartition {
                year: 2026,
                month: 12,
                day: 6,
                hour: 7,
            },
            batch_id: batch.into(),
        }
    }

    #[test]
    fn dead_letter_keys_have_the_documented_layout_and_parse_back() {
        let object = DeadLetterObject::of_intake(&intake("b1"), DeadLetterKind::Object);
        assert_eq!(object.key(), "acme/fw/dead-letter/piper/b1.arrows");
        assert_eq!(
            dead_letter_reason_object(&object.key()),
            "acme/fw/dead-letter/piper/b1.json"
        );
        let rows = DeadLetterObject::of_intake(&intake("b1"), DeadLetterKind::Rows);
        assert_eq!(rows.key(), "acme/fw/dead-letter/piper/b1.rows.arrows");
        assert_eq!(parse_dead_letter_object(&rows.key()).unwrap(), rows);
        assert_eq!(parse_dead_letter_object(&object.key()).unwrap(), object);
        assert!(
            object
                .key()
                .starts_with(&dead_letter_prefix("acme", "fw", Stage::Piper))
        );
        let packed = DeadLetterObject::of_piper_object(&piper("b2"));
        assert_eq!(
            packed.key(),
            "acme/fw/dead-letter/packer/year=2026/month=12/day=06/hour=07/b2.arrows"
        );
        assert_eq!(parse_dead_letter_object(&packed.key()).unwrap(), packed);
    }

    #[test]
    fn a_replay_goes_back_where_the_stage_reads() {
        let object = DeadLetterObject::of_intake(&intake("b1"), DeadLetterKind::Object);
        assert_eq!(
            parse_intake_object(&object.replay_target()).unwrap(),
            intake("b1")
        );
        let rows = DeadLetterObject::of_intake(&intake("b1"), DeadLetterKind::Rows);
        assert_eq!(
            parse_intake_object(&rows.replay_target()).unwrap().batch_id,
            replayed_rows_batch_id("b1")
        );
        let packed = DeadLetterObject::of_piper_object(&piper("b2"));
        assert_eq!(
            parse_piper_object(&packed.replay_target()).unwrap(),
            piper("b2")
        );
    }

    #[test]
    fn dead_letters_are_never_taken_for_work_and_reasons_are_not_dead_letters() {
        let keys = [
            DeadLetterObject::of_intake(&intake("b1"), DeadLetterKind::Object).key(),
            DeadLetterObject::of_piper_object(&piper("b1")).key(),
        ];
        for key in &keys {
            assert!(parse_intake_object(key).is_none(), "{key}");
            assert!(parse_piper_object(key).is_none(), "{key}");
            assert!(parse_parquet_object(key).is_none(), "{key}");
            assert!(parse_packer_plan_object(key).is_none(), "{key}");
            assert!(parse_dead_letter_object(&dead_letter_reason_object(key)).is_none());
        }
        assert!(parse_dead_letter_object("acme/fw/dead-letter/mixer/b1.arrows").is_none());
        assert!(parse_dead_letter_object("acme/fw/dead-letter/packer/b1.arrows").is_none());
        assert!(
            parse_dead_letter_object(
                "acme/fw/dead-letter/piper/year=2026/month=12/day=06/hour=07/b1.arrows"
            )
            .is_none()
        );
        assert!(parse_dead_letter_object("acme/fw/b1.arrows").is_none());
    }

    #[test]
    fn attempt_records_name_their_input_and_are_internal() {
        let input = piper("b1");
        let key = piper_object(&input.tenant_id, &input.dataset_id, &input.hour, "b1");
        let record = attempts_object(Stage::Packer, &key);
        assert!(record.starts_with("_bytefreezer/attempts/packer/"));
        assert_eq!(parse_attempts_object(Stage::Packer, &record), Some(key));
        assert_eq!(parse_attempts_object(Stage::Piper, &record), None);
        assert!(parse_piper_object(&record).is_none());
        assert!(
            dead_letter_replay_lease("acme", "fw", Stage::Piper)
                .starts_with("_bytefreezer/leases/")
        );
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
