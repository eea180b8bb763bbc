//! `bytefreezer dead-letter list|replay`: what piper could not process, read from and moved
//! back to the intake bucket named by the piper role's configuration (or `bytefreezer up`'s
//! data folder). A replayed object is picked up by piper's next pass.

use anyhow::{Context, Result, bail};
use bytefreezer_layout::{
    DeadLetterKind, DeadLetterObject, Stage, dataset_prefix, dead_letter_prefix,
    dead_letter_reason_object, intake_object, parse_dead_letter_object, replayed_rows_batch_id,
};
use bytefreezer_piper::DeadLetterRecord;
use bytefreezer_schema::{DEAD_LETTER_REASON, decode_ipc, encode_ipc};
use bytefreezer_storage::{Bucket, Buckets, StorageConfig};
use bytes::Bytes;

use crate::cli::{DeadLetterArgs, DeadLetterCommand, DeadLetterScope};
use crate::role_config::{PiperFile, load};

pub async fn run(args: DeadLetterArgs) -> Result<()> {
    match args.command {
        DeadLetterCommand::List(scope) => {
            let bucket = intake_bucket(&scope)?;
            for (letter, key) in dead_letters(&bucket, &scope).await? {
                let record = reason(&bucket, &key).await;
                let (reason, message, rows) = match &record {
                    Some(record) => (
                        record.reason.as_str(),
                        record.message.as_str(),
                        record.rows.map(|r| r.to_string()).unwrap_or_default(),
                    ),
                    None => ("?", "(no reason recorded)", String::new()),
                };
                let kind = match letter.kind {
                    DeadLetterKind::Object => "object",
                    DeadLetterKind::Rows => "rows",
                };
                println!(
                    "{}/{}\t{}\t{kind}\t{rows}\t{reason}\t{message}",
                    letter.tenant_id, letter.dataset_id, letter.batch_id
                );
            }
            Ok(())
        }
        DeadLetterCommand::Replay { scope, batch } => {
            let (Some(tenant), Some(dataset)) = (&scope.tenant, &scope.dataset) else {
                bail!("replay needs --tenant and --dataset");
            };
            let bucket = intake_bucket(&scope)?;
            let mut replayed = 0;
            for (letter, key) in dead_letters(&bucket, &scope).await? {
                if batch.as_ref().is_some_and(|b| *b != letter.batch_id) {
                    continue;
                }
                let target = replay(&bucket, &letter, &key).await?;
                println!("replayed {key} -> {target}");
                replayed += 1;
            }
            if replayed == 0 {
                bail!("no dead letters of {tenant}/{dataset} to replay");
            }
            Ok(())
        }
    }
}

fn intake_bucket(scope: &DeadLetterScope) -> Result<Bucket> {
    let storage = match (&scope.config, &scope.data_dir) {
        (Some(path), _) => load::<PiperFile>(path)?.storage,
        (None, Some(dir)) => StorageConfig::Local {
            root: dir.join("buckets"),
        },
        (None, None) => bail!("name the piper's configuration (--config) or `up`'s --data-dir"),
    };
    Ok(Buckets::open(&storage)
        .context("cannot open the buckets")?
        .intake)
}

/// The dead letters in scope, oldest name first, with their keys.
async fn dead_letters(
    bucket: &Bucket,
    scope: &DeadLetterScope,
) -> Result<Vec<(DeadLetterObject, String)>> {
    let stage = Stage::parse(&scope.stage).context("--stage: piper")?;
    let prefix = match (&scope.tenant, &scope.dataset) {
        (Some(tenant), Some(dataset)) => dead_letter_prefix(tenant, dataset, stage),
        (Some(tenant), None) => format!("{tenant}/"),
        (None, Some(_)) => bail!("--dataset needs --tenant"),
        (None, None) => String::new(),
    };
    let mut found: Vec<_> = bucket
        .list(&prefix)
        .await
        .context("cannot list the intake bucket")?
        .into_iter()
        .filter_map(|info| parse_dead_letter_object(&info.key).map(|letter| (letter, info.key)))
        .filter(|(letter, _)| letter.stage == stage)
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

async fn reason(bucket: &Bucket, key: &str) -> Option<DeadLetterRecord> {
    let bytes = bucket.get(&dead_letter_reason_object(key)).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Puts the dead letter back where piper reads, then removes it: an interrupted replay run
/// again writes the same intake object, never a second one.
async fn replay(bucket: &Bucket, letter: &DeadLetterObject, key: &str) -> Result<String> {
    let bytes = bucket
        .get(key)
        .await?
        .with_context(|| format!("{key} vanished"))?;
    let (target, body) = match letter.kind {
        DeadLetterKind::Object => (
            intake_object(&letter.tenant_id, &letter.dataset_id, &letter.batch_id),
            bytes,
        ),
        DeadLetterKind::Rows => {
            let (_, batches) =
                decode_ipc(&bytes).with_context(|| format!("{key} is not an Arrow stream"))?;
            let rows = batches
                .iter()
                .map(|batch| {
                    let keep: Vec<usize> = (0..batch.num_columns())
                        .filter(|i| batch.schema().field(*i).name() != DEAD_LETTER_REASON)
                        .collect();
                    batch.project(&keep)
                })
                .collect::<Result<Vec<_>, _>>()?;
            (
                intake_object(
                    &letter.tenant_id,
                    &letter.dataset_id,
                    &replayed_rows_batch_id(&letter.batch_id),
                ),
                Bytes::from(encode_ipc(&rows)?),
            )
        }
    };
    debug_assert!(target.starts_with(&dataset_prefix(&letter.tenant_id, &letter.dataset_id)));
    bucket.put(&target, body).await?;
    bucket.delete(&dead_letter_reason_object(key)).await?;
    bucket.delete(key).await?;
    Ok(target)
}
