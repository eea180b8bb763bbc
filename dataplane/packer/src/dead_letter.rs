//! What packer cannot pack: a piper object that is not a readable Arrow stream goes to the
//! dataset's dead-letter prefix in the piper bucket at once; the inputs of a plan whose Parquet
//! file cannot be written are tried again with backoff, alone from then on, and the one that
//! still fails after `max_attempts` goes there too, so the rest of its partition packs. Each
//! dead letter has its JSON reason beside it, is counted
//! (`bytefreezer_packer_dead_letters_total{reason}`) and reported to Activity.

use bytefreezer_api::Role;
use bytefreezer_api::metrics::{PACKER_DEAD_LETTERS_TOTAL, PACKER_ERRORS_TOTAL};
use bytefreezer_dead_letter::{DeadLetterRecord, write_dead_letter};
use bytefreezer_layout::{DeadLetterObject, HourPartition, PiperObject, packer_plan_object};
use bytes::Bytes;

use crate::packer::Packer;
use crate::plan::Plan;

/// Why packer gave up on an input, as in the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeadLetterReason {
    /// Not a readable Arrow stream.
    Unreadable,
    /// Its Parquet file could not be written, alone, `max_attempts` times.
    Plan,
}

impl DeadLetterReason {
    fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::Unreadable => "unreadable",
            DeadLetterReason::Plan => "plan",
        }
    }
}

impl Packer {
    /// Moves `input` to its dead-letter key with its reason, and only then deletes it.
    pub(crate) async fn dead_letter(
        &self,
        input: &PiperObject,
        key: &str,
        body: Option<Bytes>,
        (reason, message): (DeadLetterReason, &str),
        attempts: u32,
    ) -> anyhow::Result<()> {
        let body = match body {
            Some(body) => body,
            None => match self.buckets.piper.get(key).await? {
                Some(body) => body,
                // Packed or moved by another instance meanwhile.
                None => return Ok(()),
            },
        };
        let letter = DeadLetterObject::of_piper_object(input);
        let record =
            DeadLetterRecord::new(&letter, key, reason.as_str(), message.to_owned(), attempts);
        let target = write_dead_letter(&self.buckets.piper, &letter, body, &record).await?;
        self.buckets.piper.delete(key).await?;
        self.attempts.forget(key).await;
        let (tenant, dataset) = (input.tenant_id.as_str(), input.dataset_id.as_str());
        self.registry
            .counter(
                PACKER_DEAD_LETTERS_TOTAL.name,
                PACKER_DEAD_LETTERS_TOTAL.help,
                &[
                    ("tenant", tenant),
                    ("dataset", dataset),
                    ("reason", reason.as_str()),
                ],
            )
            .increment(1);
        let summary = format!("dead-lettered {key} ({}): {message}", reason.as_str());
        tracing::warn!(%tenant, %dataset, "packer: {summary}; replay with `bytefreezer ctl dead-letters replay`");
        self.registry.activity().record(
            Role::Packer.as_str(),
            (tenant, dataset),
            false,
            summary,
            serde_json::json!({
                "object": key,
                "dead_letter": target,
                "reason": reason.as_str(),
                "attempts": attempts,
            }),
        );
        Ok(())
    }

    /// A plan whose Parquet file could not be written because of its inputs: the plan goes
    /// (no file was written, so nothing is lost or doubled), each input counts a failed attempt
    /// and is packed alone after its backoff; an input that failed alone `max_attempts` times
    /// is dead-lettered. Returns whether it was.
    pub(crate) async fn plan_failed(
        &self,
        plan: &Plan,
        hour: &HourPartition,
        error: &anyhow::Error,
    ) -> anyhow::Result<bool> {
        let message = format!("{error:#}");
        let plan_key = packer_plan_object(&plan.tenant_id, &plan.dataset_id, hour, &plan.file_id);
        self.buckets.packer.delete(&plan_key).await?;
        let (tenant, dataset) = (plan.tenant_id.as_str(), plan.dataset_id.as_str());
        self.registry
            .counter(
                PACKER_ERRORS_TOTAL.name,
                PACKER_ERRORS_TOTAL.help,
                &[("tenant", tenant), ("dataset", dataset)],
            )
            .increment(1);
        let mut attempts = 0;
        let mut retry_in_ms = 0;
        for key in &plan.inputs {
            let attempt = self.attempts.record_failure(key, &message).await;
            attempts = attempts.max(attempt.attempts);
            retry_in_ms = attempt.retry_in.as_millis() as u64;
            let alone = plan.inputs.len() == 1;
            if alone
                && attempt.attempts >= self.config.max_attempts.max(1)
                && let Some(input) = bytefreezer_layout::parse_piper_object(key)
            {
                self.dead_letter(
                    &input,
                    key,
                    None,
                    (DeadLetterReason::Plan, &message),
                    attempt.attempts,
                )
                .await?;
                return Ok(true);
            }
        }
        let next = if plan.inputs.len() > 1 {
            "each is tried alone"
        } else {
            "tried again"
        };
        tracing::error!(%tenant, %dataset, "packer: cannot write Parquet {} from {} inputs: {message} (attempt {attempts}; {next} in {retry_in_ms} ms)", plan.file_id, plan.inputs.len());
        self.registry.activity().record(
            Role::Packer.as_str(),
            (tenant, dataset),
            false,
            format!("cannot write Parquet {}: {message}", plan.file_id),
            serde_json::json!({
                "partition": plan.hour,
                "inputs": plan.inputs.len(),
                "attempts": attempts,
                "retried": true,
                "retry_in_ms": retry_in_ms,
            }),
        );
        Ok(false)
    }
}
