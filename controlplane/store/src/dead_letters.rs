//! Dead-letter replay requests: recorded (and audited) when a user asks, delivered to piper and
//! packer in their configuration until each reported it done in an Activity event (a
//! [`ReplayDone`] in its details). The control plane never reads or moves the objects.

use std::collections::BTreeMap;

use bytefreezer_api::{
    DEAD_LETTER_STAGES, DeadLetterReplay, ReplayDone, ReplayRequest, ReplayStageResult,
};
use chrono::Utc;
use sqlx::any::Any;
use sqlx::{Row, Transaction};

use crate::error::StoreError;
use crate::model::Actor;
use crate::store::{
    AuditRecord, ControlStore, check_identifier, commit_audited, new_id, not_found, now, stamp,
    timestamp,
};

/// A request no stage finished within this long is no longer delivered (`expired`), so a stage
/// that never runs cannot make the configuration grow without end.
const REPLAY_DELIVERY_DAYS: i64 = 7;
/// Pending requests delivered in one configuration at most.
const MAX_PENDING_DELIVERED: i64 = 100;

impl ControlStore {
    /// Records a replay request for one dataset (or one batch of it) and its audit entry.
    pub async fn request_replay(
        &self,
        actor: &Actor,
        tenant_id: &str,
        dataset_id: &str,
        batch_id: Option<&str>,
    ) -> Result<ReplayRequest, StoreError> {
        check_identifier("tenant_id", tenant_id)?;
        check_identifier("dataset_id", dataset_id)?;
        if let Some(batch_id) = batch_id {
            check_identifier("batch_id", batch_id)?;
        }
        let tenant = self
            .tenant(tenant_id)
            .await?
            .ok_or_else(|| not_found(format_args!("tenant {tenant_id}")))?;
        if self.dataset(tenant_id, dataset_id).await?.is_none() {
            return Err(not_found(format_args!("dataset {tenant_id}/{dataset_id}")));
        }
        let request = ReplayRequest {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            dataset_id: dataset_id.to_owned(),
            batch_id: batch_id.map(str::to_owned),
            requested_by: actor.0.clone(),
            created_at: now(),
            state: "pending".into(),
            stages: Vec::new(),
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO dead_letter_replays (id, account_id, tenant_id, dataset_id, batch_id, requested_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&request.id)
        .bind(&tenant.account_id)
        .bind(tenant_id)
        .bind(dataset_id)
        .bind(batch_id)
        .bind(&request.requested_by)
        .bind(&request.created_at)
        .execute(&mut *tx)
        .await?;
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (Some(&tenant.account_id), Some(tenant_id)),
                "dead_letter.replay",
                format!("dataset/{tenant_id}/{dataset_id}"),
                None::<&()>,
                Some(&serde_json::json!({ "id": request.id, "batch_id": batch_id })),
            )?,
        )
        .await?;
        Ok(request)
    }

    /// A dataset's replay requests, newest first, with what each stage reported.
    pub async fn replay_requests(
        &self,
        tenant_id: &str,
        dataset_id: &str,
        limit: u32,
    ) -> Result<Vec<ReplayRequest>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, dataset_id, batch_id, requested_by, created_at FROM dead_letter_replays \
             WHERE tenant_id = $1 AND dataset_id = $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant_id)
        .bind(dataset_id)
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await?;
        let mut requests: Vec<ReplayRequest> = rows
            .iter()
            .map(|row| ReplayRequest {
                id: row.get(0),
                tenant_id: row.get(1),
                dataset_id: row.get(2),
                batch_id: row.get(3),
                requested_by: row.get(4),
                created_at: row.get(5),
                state: String::new(),
                stages: Vec::new(),
            })
            .collect();
        let oldest = requests.last().map(|r| r.id.clone()).unwrap_or_default();
        let results = sqlx::query(
            "SELECT s.replay_id, s.stage, s.replayed, s.instance_id, s.completed_at \
             FROM dead_letter_replay_results s JOIN dead_letter_replays r ON r.id = s.replay_id \
             WHERE r.tenant_id = $1 AND r.dataset_id = $2 AND r.id >= $3 ORDER BY s.replay_id, s.stage",
        )
        .bind(tenant_id)
        .bind(dataset_id)
        .bind(&oldest)
        .fetch_all(&self.pool)
        .await?;
        let mut by_request: BTreeMap<String, Vec<ReplayStageResult>> = BTreeMap::new();
        for row in &results {
            by_request
                .entry(row.get(0))
                .or_default()
                .push(ReplayStageResult {
                    stage: row.get(1),
                    replayed: u64::try_from(row.get::<i64, _>(2)).unwrap_or(0),
                    instance_id: row.get(3),
                    completed_at: row.get(4),
                });
        }
        let expiry = Utc::now() - chrono::Duration::days(REPLAY_DELIVERY_DAYS);
        for request in &mut requests {
            request.stages = by_request.remove(&request.id).unwrap_or_default();
            let done = DEAD_LETTER_STAGES
                .iter()
                .all(|stage| request.stages.iter().any(|s| s.stage == stage.as_str()));
            request.state = if done {
                "done"
            } else if timestamp(&request.created_at) < expiry {
                "expired"
            } else {
                "pending"
            }
            .into();
        }
        Ok(requests)
    }

    /// The requests of a scope some stage has not reported done, for the configuration.
    pub(crate) async fn pending_replays(
        &self,
        account_id: Option<&str>,
        tenant_id: Option<&str>,
    ) -> Result<Vec<DeadLetterReplay>, StoreError> {
        let since = stamp(Utc::now() - chrono::Duration::days(REPLAY_DELIVERY_DAYS));
        let rows = sqlx::query(
            "SELECT r.id, r.tenant_id, r.dataset_id, r.batch_id FROM dead_letter_replays r \
             WHERE ($1 IS NULL OR r.account_id = $1) AND ($2 IS NULL OR r.tenant_id = $2) AND r.created_at >= $3 \
             AND (SELECT COUNT(*) FROM dead_letter_replay_results s WHERE s.replay_id = r.id) < $4 \
             ORDER BY r.id LIMIT $5",
        )
        .bind(account_id)
        .bind(tenant_id)
        .bind(&since)
        .bind(DEAD_LETTER_STAGES.len() as i64)
        .bind(MAX_PENDING_DELIVERED)
        .fetch_all(&self.pool)
        .await?;
        // What the stages reported for requests of the scope, in one query, not one per request.
        let finished = sqlx::query(
            "SELECT s.replay_id, s.stage FROM dead_letter_replay_results s \
             JOIN dead_letter_replays r ON r.id = s.replay_id \
             WHERE ($1 IS NULL OR r.account_id = $1) AND ($2 IS NULL OR r.tenant_id = $2) AND r.created_at >= $3",
        )
        .bind(account_id)
        .bind(tenant_id)
        .bind(&since)
        .fetch_all(&self.pool)
        .await?;
        let finished: Vec<(String, String)> = finished
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let pending = rows
            .iter()
            .map(|row| {
                let id: String = row.get(0);
                let stages = DEAD_LETTER_STAGES
                    .iter()
                    .filter(|stage| {
                        !finished
                            .iter()
                            .any(|(r, s)| *r == id && s == stage.as_str())
                    })
                    .map(|stage| stage.to_string())
                    .collect();
                DeadLetterReplay {
                    id,
                    tenant_id: row.get(1),
                    dataset_id: row.get(2),
                    batch_id: row.get(3),
                    stages,
                }
            })
            .collect();
        Ok(pending)
    }
}

/// Records, inside a report's transaction, that `instance_id` carried out a replay for the
/// dataset its Activity event names. A replay of another dataset, an unknown request or a
/// stage without dead letters is ignored; reported twice, the larger count stays.
pub(crate) async fn record_replay_done(
    tx: &mut Transaction<'_, Any>,
    instance_id: &str,
    (tenant_id, dataset_id): (&str, &str),
    stage: &str,
    done: &ReplayDone,
) -> Result<(), StoreError> {
    if done.stage != stage
        || !DEAD_LETTER_STAGES
            .iter()
            .any(|known| known.as_str() == stage)
    {
        return Ok(());
    }
    let known = sqlx::query(
        "SELECT id FROM dead_letter_replays WHERE id = $1 AND tenant_id = $2 AND dataset_id = $3",
    )
    .bind(&done.replay_id)
    .bind(tenant_id)
    .bind(dataset_id)
    .fetch_optional(&mut **tx)
    .await?;
    if known.is_none() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO dead_letter_replay_results (replay_id, stage, replayed, instance_id, completed_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (replay_id, stage) DO UPDATE SET \
         replayed = CASE WHEN excluded.replayed > dead_letter_replay_results.replayed \
         THEN excluded.replayed ELSE dead_letter_replay_results.replayed END",
    )
    .bind(&done.replay_id)
    .bind(stage)
    .bind(i64::try_from(done.replayed).unwrap_or(i64::MAX))
    .bind(instance_id)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
