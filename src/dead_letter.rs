//! `bytefreezer dead-letter list|replay`: what piper or packer could not process, read from and
//! moved back within the bucket that holds the stage's input (piper: intake; packer: piper),
//! named by the role's configuration (or `bytefreezer up`'s data folder). A replayed object is
//! picked up by the stage's next pass. The move itself is the stages' own
//! (`bytefreezer_piper::dead_letters`), which also carry out replays asked through the control
//! plane (`bytefreezer ctl dead-letters replay`).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytefreezer_layout::{DeadLetterKind, Stage, dead_letter_prefix};
use bytefreezer_piper::dead_letters::{list_dead_letters, read_reason, replay_dead_letters};
use bytefreezer_storage::{Bucket, Buckets, LeaseKeeper, StorageConfig};

use crate::cli::{DeadLetterArgs, DeadLetterCommand, DeadLetterScope};
use crate::role_config::{PackerFile, PiperFile, load};

/// How long the replay lease this command takes lives if the command dies holding it.
const REPLAY_LEASE_TTL: Duration = Duration::from_secs(120);

pub async fn run(args: DeadLetterArgs) -> Result<()> {
    match args.command {
        DeadLetterCommand::List(scope) => {
            let (bucket, stage) = input_bucket(&scope)?;
            let prefix = prefix(&scope, stage)?;
            let letters = list_dead_letters(&bucket, &prefix, stage)
                .await
                .with_context(|| format!("cannot list bucket {}", bucket.name()))?;
            for (letter, key) in letters {
                let record = read_reason(&bucket, &key).await;
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
            let (bucket, stage) = input_bucket(&scope)?;
            let leases = LeaseKeeper::new(
                bucket.clone(),
                format!("dead-letter-command-{}", std::process::id()),
                REPLAY_LEASE_TTL,
            );
            let replayed =
                replay_dead_letters(&bucket, &leases, stage, (tenant, dataset), batch.as_deref())
                    .await?;
            for moved in &replayed {
                println!("replayed {} -> {}", moved.dead_letter, moved.target);
            }
            if replayed.is_empty() {
                bail!("no dead letters of {tenant}/{dataset} to replay");
            }
            Ok(())
        }
    }
}

/// The bucket that holds the stage's input (and so its dead letters), and the stage.
fn input_bucket(scope: &DeadLetterScope) -> Result<(Bucket, Stage)> {
    let stage = Stage::parse(&scope.stage).context("--stage: piper or packer")?;
    let storage = match (&scope.config, &scope.data_dir, stage) {
        (Some(path), _, Stage::Piper) => load::<PiperFile>(path)?.storage,
        (Some(path), _, Stage::Packer) => load::<PackerFile>(path)?.storage,
        (None, Some(dir), _) => StorageConfig::Local {
            root: dir.join("buckets"),
        },
        (None, None, _) => {
            bail!("name the stage's role configuration (--config) or `up`'s --data-dir")
        }
    };
    let buckets = Buckets::open(&storage).context("cannot open the buckets")?;
    Ok(match stage {
        Stage::Piper => (buckets.intake, stage),
        Stage::Packer => (buckets.piper, stage),
    })
}

fn prefix(scope: &DeadLetterScope, stage: Stage) -> Result<String> {
    Ok(match (&scope.tenant, &scope.dataset) {
        (Some(tenant), Some(dataset)) => dead_letter_prefix(tenant, dataset, stage),
        (Some(tenant), None) => format!("{tenant}/"),
        (None, Some(_)) => bail!("--dataset needs --tenant"),
        (None, None) => String::new(),
    })
}
