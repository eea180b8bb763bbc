//! Listing, counting and replaying dead letters. A replay moves each dead letter back to the
//! key its stage reads ([`DeadLetterObject::replay_target`]) and then removes it, while holding
//! the dataset's replay lease, so an interrupted replay run again writes the same input once and
//! two instances never both move one dead letter.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytefreezer_api::metrics::{
    Metric, PACKER_DEAD_LETTERS_REPLAYED_TOTAL, PACKER_DEAD_LETTERS_WAITING,
    PIPER_DEAD_LETTERS_REPLAYED_TOTAL, PIPER_DEAD_LETTERS_WAITING,
};
use bytefreezer_api::{DeadLetterReplay, REPLAY_DONE_DETAIL, ReplayDone};
use bytefreezer_layout::{
    DeadLetterKind, DeadLetterObject, Stage, dead_letter_prefix, dead_letter_reason_object,
    dead_letter_replay_lease, parse_dead_letter_object, validate_identifier,
};
use bytefreezer_schema::{DEAD_LETTER_REASON, decode_ipc, encode_ipc};
use bytefreezer_storage::{Bucket, LeaseKeeper};
use bytefreezer_telemetry::Registry;
use bytes::Bytes;

use crate::error::{DeadLetterError, RowsProblem};
use crate::record::DeadLetterRecord;

/// One dead letter moved back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub dead_letter: String,
    pub target: String,
}

/// The dead letters of `stage` under `prefix` (a dataset's dead-letter prefix, a tenant's
/// folder, or the whole bucket), oldest name first, with their keys.
pub async fn list_dead_letters(
    bucket: &Bucket,
    prefix: &str,
    stage: Stage,
) -> Result<Vec<(DeadLetterObject, String)>, DeadLetterError> {
    let mut found: Vec<_> = bucket
        .list(prefix)
        .await?
        .into_iter()
        .filter_map(|info| parse_dead_letter_object(&info.key).map(|letter| (letter, info.key)))
        .filter(|(letter, _)| letter.stage == stage)
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

/// The reason written beside the dead letter `key`, if it is there and readable.
pub async fn read_reason(bucket: &Bucket, key: &str) -> Option<DeadLetterRecord> {
    let bytes = bucket.get(&dead_letter_reason_object(key)).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Moves the dead letters of one dataset and stage (or of one batch) back to the stage's
/// input, holding the dataset's replay lease from `leases` (a keeper on the same bucket).
pub async fn replay_dead_letters(
    bucket: &Bucket,
    leases: &LeaseKeeper,
    stage: Stage,
    (tenant_id, dataset_id): (&str, &str),
    batch_id: Option<&str>,
) -> Result<Vec<Replayed>, DeadLetterError> {
    for (field, value) in [("tenant", tenant_id), ("dataset", dataset_id)]
        .into_iter()
        .chain(batch_id.map(|batch| ("batch", batch)))
    {
        validate_identifier(field, value).map_err(|_| DeadLetterError::Invalid {
            field,
            value: value.to_owned(),
        })?;
    }
    let Some(lease) = leases
        .try_acquire(&dead_letter_replay_lease(tenant_id, dataset_id, stage))
        .await?
    else {
        return Err(DeadLetterError::Busy {
            tenant_id: tenant_id.to_owned(),
            dataset_id: dataset_id.to_owned(),
            stage: stage.as_str(),
        });
    };
    let result = replay_leased(bucket, stage, (tenant_id, dataset_id), batch_id).await;
    if let Err(error) = leases.release(lease).await {
        tracing::warn!("cannot release the replay lease of {tenant_id}/{dataset_id}: {error}");
    }
    result
}

async fn replay_leased(
    bucket: &Bucket,
    stage: Stage,
    (tenant_id, dataset_id): (&str, &str),
    batch_id: Option<&str>,
) -> Result<Vec<Replayed>, DeadLetterError> {
    let prefix = dead_letter_prefix(tenant_id, dataset_id, stage);
    let mut replayed = Vec::new();
    for (letter, key) in list_dead_letters(bucket, &prefix, stage).await? {
        if batch_id.is_some_and(|batch| batch != letter.batch_id) {
            continue;
        }
        if let Some(target) = replay_one(bucket, &letter, &key).await? {
            replayed.push(Replayed {
                dead_letter: key,
                target,
            });
        }
    }
    Ok(replayed)
}

/// Puts one dead letter back where its stage reads, then removes it and its reason. `None`
/// when it vanished meanwhile.
async fn replay_one(
    bucket: &Bucket,
    letter: &DeadLetterObject,
    key: &str,
) -> Result<Option<String>, DeadLetterError> {
    let Some(bytes) = bucket.get(key).await? else {
        return Ok(None);
    };
    let body = match letter.kind {
        DeadLetterKind::Object => bytes,
        // The rows go back without the reason column the stage added to them.
        DeadLetterKind::Rows => Bytes::from(without_reason_column(&bytes).map_err(|problem| {
            DeadLetterError::Unreadable {
                key: key.to_owned(),
                problem,
            }
        })?),
    };
    let target = letter.replay_target();
    bucket.put(&target, body).await?;
    bucket.delete(&dead_letter_reason_object(key)).await?;
    bucket.delete(key).await?;
    Ok(Some(target))
}

fn without_reason_column(bytes: &[u8]) -> Result<Vec<u8>, RowsProblem> {
    let (_, batches) = decode_ipc(bytes).map_err(RowsProblem::NotArrow)?;
    let rows = batches
        .iter()
        .map(|batch| {
            let keep: Vec<usize> = (0..batch.num_columns())
                .filter(|i| batch.schema().field(*i).name() != DEAD_LETTER_REASON)
                .collect();
            batch.project(&keep)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(RowsProblem::Project)?;
    encode_ipc(&rows).map_err(RowsProblem::Encode)
}

/// Dead letters of `stage` per (tenant, dataset) among `keys` (a listing the stage made
/// anyway, so counting costs no request).
pub fn count_dead_letters<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    stage: Stage,
) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for key in keys {
        if let Some(letter) = parse_dead_letter_object(key)
            && letter.stage == stage
        {
            *counts
                .entry((letter.tenant_id, letter.dataset_id))
                .or_default() += 1;
        }
    }
    counts
}

/// The gauge of dead letters waiting in a stage's prefixes, per tenant and dataset; the
/// reporter sends it to the control plane as the stage's `dead_letters`.
pub fn dead_letters_waiting_gauge(stage: Stage) -> Metric {
    match stage {
        Stage::Piper => PIPER_DEAD_LETTERS_WAITING,
        Stage::Packer => PACKER_DEAD_LETTERS_WAITING,
    }
}

/// The counter of dead letters a stage moved back to its input.
fn dead_letters_replayed_counter(stage: Stage) -> Metric {
    match stage {
        Stage::Piper => PIPER_DEAD_LETTERS_REPLAYED_TOTAL,
        Stage::Packer => PACKER_DEAD_LETTERS_REPLAYED_TOTAL,
    }
}

/// Sets the waiting gauge to `counts`; datasets whose dead letters are gone lose their series.
pub fn publish_dead_letter_counts(
    registry: &Registry,
    stage: Stage,
    counts: &BTreeMap<(String, String), u64>,
) {
    let gauge = dead_letters_waiting_gauge(stage);
    let name = gauge.name;
    for (labels, _) in registry.series(name) {
        let label = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (tenant, dataset) = (label("tenant"), label("dataset"));
        if !counts.contains_key(&(tenant.clone(), dataset.clone())) {
            registry.remove(name, &[("tenant", &tenant), ("dataset", &dataset)]);
        }
    }
    for ((tenant, dataset), count) in counts {
        registry
            .gauge(
                name,
                gauge.help,
                &[("tenant", tenant), ("dataset", dataset)],
            )
            .set(i64::try_from(*count).unwrap_or(i64::MAX));
    }
}

/// How long a replay that failed (storage) waits before this instance tries it again.
const REPLAY_RETRY: Duration = Duration::from_secs(30);

/// Carries out, in a stage, the replay requests the control plane delivered: each once per
/// process, reported as an Activity event whose details carry a [`ReplayDone`] (which marks
/// the request done for this stage), forgotten when the request leaves the configuration.
pub struct ReplayRunner {
    stage: Stage,
    done: Mutex<HashSet<String>>,
    failed: Mutex<HashMap<String, Instant>>,
}

impl ReplayRunner {
    pub fn new(stage: Stage) -> ReplayRunner {
        ReplayRunner {
            stage,
            done: Mutex::new(HashSet::new()),
            failed: Mutex::new(HashMap::new()),
        }
    }

    pub async fn run(
        &self,
        requests: &[DeadLetterReplay],
        bucket: &Bucket,
        leases: &LeaseKeeper,
        registry: &Registry,
    ) {
        let stage = self.stage.as_str();
        let pending: Vec<&DeadLetterReplay> = requests
            .iter()
            .filter(|request| request.is_pending_for(stage))
            .collect();
        {
            let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
            done.retain(|id| pending.iter().any(|request| &request.id == id));
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            failed.retain(|id, _| pending.iter().any(|request| &request.id == id));
        }
        for request in pending {
            let waiting = self
                .failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&request.id)
                .is_some_and(|at| at.elapsed() < REPLAY_RETRY);
            let done = self
                .done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&request.id);
            if done || waiting {
                continue;
            }
            let dataset = (request.tenant_id.as_str(), request.dataset_id.as_str());
            match replay_dead_letters(
                bucket,
                leases,
                self.stage,
                dataset,
                request.batch_id.as_deref(),
            )
            .await
            {
                Ok(replayed) => {
                    self.report(request, &replayed, registry);
                    self.done
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(request.id.clone());
                }
                // Another instance of this stage is at it and reports it.
                Err(DeadLetterError::Busy { .. }) => {}
                Err(error) => {
                    tracing::warn!(tenant = %request.tenant_id, dataset = %request.dataset_id, "{stage}: replay {} failed, tried again in {} s: {error}", request.id, REPLAY_RETRY.as_secs());
                    self.failed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(request.id.clone(), Instant::now());
                }
            }
        }
    }

    fn report(&self, request: &DeadLetterReplay, replayed: &[Replayed], registry: &Registry) {
        let counter = dead_letters_replayed_counter(self.stage);
        let stage = self.stage.as_str();
        let count = replayed.len() as u64;
        registry
            .counter(
                counter.name,
                counter.help,
                &[
                    ("tenant", &request.tenant_id),
                    ("dataset", &request.dataset_id),
                ],
            )
            .increment(count);
        tracing::info!(tenant = %request.tenant_id, dataset = %request.dataset_id, "{stage}: replay {}: replayed {count} dead letters", request.id);
        let done = ReplayDone {
            replay_id: request.id.clone(),
            stage: stage.to_owned(),
            replayed: count,
        };
        registry.activity().record(
            stage,
            (&request.tenant_id, &request.dataset_id),
            true,
            format!("replayed {count} dead letters"),
            serde_json::json!({
                REPLAY_DONE_DETAIL: done,
                "batch_id": request.batch_id,
                "objects": replayed.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(),
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::record_batch::RecordBatch;
    use bytefreezer_layout::{HourPartition, IntakeObject, PiperObject, parse_intake_object};

    use super::*;
    use crate::record::write_dead_letter;

    fn bucket(dir: &tempfile::TempDir) -> Bucket {
        Bucket::local("b", dir.path().to_path_buf()).unwrap()
    }

    async fn letter(bucket: &Bucket, letter: &DeadLetterObject, body: Vec<u8>) -> String {
        let record = DeadLetterRecord::new(letter, "input", "test", "boom".into(), 1);
        write_dead_letter(bucket, letter, Bytes::from(body), &record)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn replays_put_objects_and_rows_back_once_and_count_what_waits() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = bucket(&dir);
        let leases = LeaseKeeper::new(bucket.clone(), "me", Duration::from_secs(60));
        let intake = |batch: &str| IntakeObject {
            tenant_id: "acme".into(),
            dataset_id: "fw".into(),
            batch_id: batch.into(),
        };
        let object = DeadLetterObject::of_intake(&intake("b1"), DeadLetterKind::Object);
        letter(&bucket, &object, b"original bytes".to_vec()).await;
        let batch = RecordBatch::try_from_iter([
            ("seq", Arc::new(Int64Array::from(vec![7])) as _),
            (
                DEAD_LETTER_REASON,
                Arc::new(StringArray::from(vec!["bad time"])) as _,
            ),
        ])
        .unwrap();
        let rows = DeadLetterObject::of_intake(&intake("b2"), DeadLetterKind::Rows);
        letter(&bucket, &rows, encode_ipc(&[batch]).unwrap()).await;
        let packed = DeadLetterObject::of_piper_object(&PiperObject {
            tenant_id: "acme".into(),
            dataset_id: "fw".into(),
            hour: HourPartition {
                year: 2026,
                month: 12,
                day: 6,
                hour: 1,
            },
            batch_id: "b3".into(),
        });
        letter(&bucket, &packed, b"piper object".to_vec()).await;
        let keys: Vec<String> = bucket
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.key)
            .collect();
        let piper_counts = count_dead_letters(keys.iter().map(String::as_str), Stage::Piper);
        assert_eq!(piper_counts[&("acme".into(), "fw".into())], 2);

        let replayed = replay_dead_letters(&bucket, &leases, Stage::Piper, ("acme", "fw"), None)
            .await
            .unwrap();
        assert_eq!(replayed.len(), 2);
        assert_eq!(
            bucket.get("acme/fw/b1.arrows").await.unwrap().unwrap(),
            Bytes::from_static(b"original bytes")
        );
        let rows_target = rows.replay_target();
        assert!(parse_intake_object(&rows_target).is_some());
        let (schema, _) = decode_ipc(&bucket.get(&rows_target).await.unwrap().unwrap()).unwrap();
        assert!(schema.column_with_name(DEAD_LETTER_REASON).is_none());
        assert!(!bucket.exists(&object.key()).await.unwrap());
        assert!(
            !bucket
                .exists(&dead_letter_reason_object(&object.key()))
                .await
                .unwrap()
        );
        // A second replay finds nothing: the object went back once.
        let again = replay_dead_letters(&bucket, &leases, Stage::Piper, ("acme", "fw"), None)
            .await
            .unwrap();
        assert!(again.is_empty());
        // Packer's dead letter stayed, and goes back to the piper object it was.
        let replayed =
            replay_dead_letters(&bucket, &leases, Stage::Packer, ("acme", "fw"), Some("b3"))
                .await
                .unwrap();
        assert_eq!(replayed[0].target, packed.replay_target());
    }

    #[tokio::test]
    async fn a_held_replay_lease_makes_others_wait() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = bucket(&dir);
        let holder = LeaseKeeper::new(bucket.clone(), "a", Duration::from_secs(60));
        let other = LeaseKeeper::new(bucket.clone(), "b", Duration::from_secs(60));
        let _held = holder
            .try_acquire(&dead_letter_replay_lease("acme", "fw", Stage::Piper))
            .await
            .unwrap()
            .unwrap();
        let busy = replay_dead_letters(&bucket, &other, Stage::Piper, ("acme", "fw"), None).await;
        assert!(
            matches!(busy, Err(DeadLetterError::Busy { .. })),
            "{busy:?}"
        );
        let invalid =
            replay_dead_letters(&bucket, &other, Stage::Piper, ("acme", "../x"), None).await;
        assert!(matches!(invalid, Err(DeadLetterError::Invalid { .. })));
    }
}
