use bytefreezer_api::rest::DatasetRecord;
use bytefreezer_api::{DataPlaneConfig, DatasetSpec, IngestKey, PipelineSpec, SourceSpec};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::model::{Actor, Tenant};
use crate::store::{
    AuditRecord, ControlStore, check_identifier, commit_audited, map_unique, not_found, now,
};

/// The columns [`dataset_from_row`] reads, in its order.
const DATASET_COLUMNS: &str = "d.tenant_id, d.dataset_id, d.name, d.source, d.pipeline, d.testing, d.active, d.assigned_proxy, d.packer, d.destination";

fn dataset_from_row(row: &AnyRow) -> Result<DatasetRecord, StoreError> {
    let source: String = row.get(3);
    let pipeline: String = row.get(4);
    Ok(DatasetRecord {
        spec: DatasetSpec {
            tenant_id: row.get(0),
            dataset_id: row.get(1),
            name: row.get(2),
            source: serde_json::from_str::<SourceSpec>(&source)?,
            pipeline: serde_json::from_str::<PipelineSpec>(&pipeline)?,
            testing: row.get::<i64, _>(5) != 0,
            active: row.get::<i64, _>(6) != 0,
            packer: serde_json::from_str(&row.get::<String, _>(8))?,
            destination: serde_json::from_str(&row.get::<String, _>(9))?,
        },
        assigned_proxy: row.get(7),
    })
}

/// Which data-side services a configuration is for.
#[derive(Debug, Clone, Default)]
pub struct ConfigScope {
    /// `None`: every account (the key of an admin-run, single-operator deployment).
    pub account_id: Option<String>,
    pub tenant_id: Option<String>,
    /// A proxy asking for its own datasets: those assigned to it and the unassigned ones.
    pub proxy: Option<String>,
}

impl ControlStore {
    async fn tenant_or_not_found(&self, tenant_id: &str) -> Result<Tenant, StoreError> {
        self.tenant(tenant_id)
            .await?
            .ok_or_else(|| not_found(format_args!("tenant {tenant_id}")))
    }

    pub async fn create_dataset(
        &self,
        actor: &Actor,
        spec: &DatasetSpec,
    ) -> Result<DatasetRecord, StoreError> {
        check_identifier("tenant_id", &spec.tenant_id)?;
        check_identifier("dataset_id", &spec.dataset_id)?;
        let tenant = self.tenant_or_not_found(&spec.tenant_id).await?;
        let stamp = now();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO datasets (tenant_id, dataset_id, name, source, pipeline, testing, active, created_at, updated_at, packer, destination) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&spec.tenant_id)
        .bind(&spec.dataset_id)
        .bind(&spec.name)
        .bind(serde_json::to_string(&spec.source)?)
        .bind(serde_json::to_string(&spec.pipeline)?)
        .bind(i64::from(spec.testing))
        .bind(i64::from(spec.active))
        .bind(&stamp)
        .bind(&stamp)
        .bind(serde_json::to_string(&spec.packer)?)
        .bind(serde_json::to_string(&spec.destination)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, || format!("dataset {}/{}", spec.tenant_id, spec.dataset_id)))?;
        let record = DatasetRecord {
            spec: spec.clone(),
            assigned_proxy: None,
        };
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (Some(&tenant.account_id), Some(&spec.tenant_id)),
                "dataset.create",
                dataset_target(&spec.tenant_id, &spec.dataset_id),
                None::<&()>,
                Some(&record.redacted()),
            )?,
        )
        .await?;
        Ok(record)
    }

    pub async fn dataset_record(
        &self,
        tenant_id: &str,
        dataset_id: &str,
    ) -> Result<Option<DatasetRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.tenant_id = $1 AND d.dataset_id = $2"
        ))
        .bind(tenant_id)
        .bind(dataset_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(dataset_from_row).transpose()
    }

    pub async fn dataset(
        &self,
        tenant_id: &str,
        dataset_id: &str,
    ) -> Result<Option<DatasetSpec>, StoreError> {
        Ok(self
            .dataset_record(tenant_id, dataset_id)
            .await?
            .map(|record| record.spec))
    }

    /// Datasets of one account (`Some`) or all (`None`), optionally of one tenant.
    pub async fn list_dataset_records(
        &self,
        account_id: Option<&str>,
        tenant_id: Option<&str>,
    ) -> Result<Vec<DatasetRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DATASET_COLUMNS} FROM datasets d JOIN tenants t ON t.id = d.tenant_id \
             WHERE ($1 IS NULL OR t.account_id = $1) AND ($2 IS NULL OR d.tenant_id = $2) \
             ORDER BY d.tenant_id, d.dataset_id"
        ))
        .bind(account_id)
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dataset_from_row).collect()
    }

    pub async fn list_datasets(&self) -> Result<Vec<DatasetSpec>, StoreError> {
        Ok(self
            .list_dataset_records(None, None)
            .await?
            .into_iter()
            .map(|record| record.spec)
            .collect())
    }

    /// Changes one dataset in a transaction that also writes its audit entry with the
    /// before/after of the record.
    async fn change_dataset(
        &self,
        actor: &Actor,
        tenant_id: &str,
        dataset_id: &str,
        action: &str,
        change: impl FnOnce(&mut DatasetRecord),
    ) -> Result<DatasetRecord, StoreError> {
        let tenant = self.tenant_or_not_found(tenant_id).await?;
        let mut tx = self.begin().await?;
        // Read inside the transaction (locked on PostgreSQL), so a pause racing a pipeline
        // change cannot undo the other and the audit's "before" is what was replaced.
        let lock = if self.is_postgres { " FOR UPDATE" } else { "" };
        let row = sqlx::query(&format!(
            "SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.tenant_id = $1 AND d.dataset_id = $2{lock}"
        ))
        .bind(tenant_id)
        .bind(dataset_id)
        .fetch_optional(&mut *tx)
        .await?;
        let before = row
            .as_ref()
            .map(dataset_from_row)
            .transpose()?
            .ok_or_else(|| not_found(format_args!("dataset {tenant_id}/{dataset_id}")))?;
        let mut after = before.clone();
        change(&mut after);
        after.spec.tenant_id = before.spec.tenant_id.clone();
        after.spec.dataset_id = before.spec.dataset_id.clone();
        let result = sqlx::query(
            "UPDATE datasets SET name = $3, source = $4, pipeline = $5, testing = $6, active = $7, assigned_proxy = $8, updated_at = $9, packer = $10, destination = $11 \
             WHERE tenant_id = $1 AND dataset_id = $2",
        )
        .bind(tenant_id)
        .bind(dataset_id)
        .bind(&after.spec.name)
        .bind(serde_json::to_string(&after.spec.source)?)
        .bind(serde_json::to_string(&after.spec.pipeline)?)
        .bind(i64::from(after.spec.testing))
        .bind(i64::from(after.spec.active))
        .bind(&after.assigned_proxy)
        .bind(now())
        .bind(serde_json::to_string(&after.spec.packer)?)
        .bind(serde_json::to_string(&after.spec.destination)?)
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("dataset {tenant_id}/{dataset_id}"),
            });
        }
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (Some(&tenant.account_id), Some(tenant_id)),
                action,
                dataset_target(tenant_id, dataset_id),
                Some(&before.redacted()),
                Some(&after.redacted()),
            )?,
        )
        .await?;
        Ok(after)
    }

    /// Replaces name, source, pipeline, testing and active; the ids cannot change.
    pub async fn update_dataset(
        &self,
        actor: &Actor,
        spec: &DatasetSpec,
    ) -> Result<DatasetRecord, StoreError> {
        self.change_dataset(
            actor,
            &spec.tenant_id,
            &spec.dataset_id,
            "dataset.update",
            |record| {
                record.spec = spec.clone();
            },
        )
        .await
    }

    /// Pause (`false`) or resume (`true`).
    pub async fn set_dataset_active(
        &self,
        actor: &Actor,
        tenant_id: &str,
        dataset_id: &str,
        active: bool,
    ) -> Result<DatasetRecord, StoreError> {
        let action = if active {
            "dataset.resume"
        } else {
            "dataset.pause"
        };
        self.change_dataset(actor, tenant_id, dataset_id, action, |record| {
            record.spec.active = active;
        })
        .await
    }

    /// Replaces a dataset's transformation pipeline; the caller validates it first.
    pub async fn set_dataset_pipeline(
        &self,
        actor: &Actor,
        tenant_id: &str,
        dataset_id: &str,
        pipeline: &PipelineSpec,
    ) -> Result<DatasetRecord, StoreError> {
        self.change_dataset(actor, tenant_id, dataset_id, "dataset.pipeline", |record| {
            record.spec.pipeline = pipeline.clone();
        })
        .await
    }

    /// Assigns the dataset to one proxy instance, or to every proxy with `None`.
    pub async fn assign_dataset(
        &self,
        actor: &Actor,
        tenant_id: &str,
        dataset_id: &str,
        proxy: Option<&str>,
    ) -> Result<DatasetRecord, StoreError> {
        if let Some(proxy) = proxy {
            check_identifier("proxy", proxy)?;
        }
        self.change_dataset(actor, tenant_id, dataset_id, "dataset.assign", |record| {
            record.assigned_proxy = proxy.map(str::to_owned);
        })
        .await
    }

    pub async fn delete_dataset(
        &self,
        actor: &Actor,
        tenant_id: &str,
        dataset_id: &str,
    ) -> Result<(), StoreError> {
        let tenant = self.tenant_or_not_found(tenant_id).await?;
        let before = self
            .dataset_record(tenant_id, dataset_id)
            .await?
            .ok_or_else(|| not_found(format_args!("dataset {tenant_id}/{dataset_id}")))?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM dead_letter_replay_results WHERE replay_id IN \
             (SELECT id FROM dead_letter_replays WHERE tenant_id = $1 AND dataset_id = $2)",
        )
        .bind(tenant_id)
        .bind(dataset_id)
        .execute(&mut *tx)
        .await?;
        // Its history goes with it, so a dataset created later under the same ids starts clean.
        for table in [
            "datasets",
            "dataset_stats",
            "activity_events",
            "dead_letter_replays",
        ] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND dataset_id = $2"
            ))
            .bind(tenant_id)
            .bind(dataset_id)
            .execute(&mut *tx)
            .await?;
        }
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (Some(&tenant.account_id), Some(tenant_id)),
                "dataset.delete",
                dataset_target(tenant_id, dataset_id),
                Some(&before.redacted()),
                None::<&()>,
            )?,
        )
        .await?;
        Ok(())
    }

    /// What data-side services of a scope work from: its datasets (for a proxy, the active ones
    /// assigned to it or to no proxy) and its keys not revoked.
    pub async fn dataplane_config_for(
        &self,
        scope: &ConfigScope,
    ) -> Result<DataPlaneConfig, StoreError> {
        let datasets = self
            .list_dataset_records(scope.account_id.as_deref(), scope.tenant_id.as_deref())
            .await?
            .into_iter()
            // Proxies stop paused inputs; receiver, piper and packer keep the paused dataset so
            // the batches already spooled or in the buckets still land.
            .filter(|record| record.spec.active || scope.proxy.is_none())
            .filter(|record| match (&scope.proxy, &record.assigned_proxy) {
                (Some(proxy), Some(assigned)) => proxy == assigned,
                _ => true,
            })
            .map(|record| record.spec)
            .collect();
        let rows = sqlx::query(
            "SELECT name, key_sha256, tenant_id, dataset_id FROM api_keys \
             WHERE revoked_at IS NULL AND tenant_id IS NOT NULL \
             AND ($1 IS NULL OR account_id = $1) AND ($2 IS NULL OR tenant_id = $2) ORDER BY id",
        )
        .bind(scope.account_id.as_deref())
        .bind(scope.tenant_id.as_deref())
        .fetch_all(&self.pool)
        .await?;
        let ingest_keys = rows
            .into_iter()
            .map(|row| IngestKey {
                name: row.get(0),
                key_sha256: row.get(1),
                tenant_id: row.get(2),
                dataset_id: row.get(3),
            })
            .collect();
        // Proxies have no dead letters; their configuration stays free of replays.
        let dead_letter_replays = match scope.proxy {
            Some(_) => Vec::new(),
            None => {
                self.pending_replays(scope.account_id.as_deref(), scope.tenant_id.as_deref())
                    .await?
            }
        };
        Ok(DataPlaneConfig {
            datasets,
            ingest_keys,
            dead_letter_replays,
        })
    }

    /// The configuration of every account: inside `bytefreezer up`, where one process is the
    /// whole data side.
    pub async fn dataplane_config(&self) -> Result<DataPlaneConfig, StoreError> {
        self.dataplane_config_for(&ConfigScope::default()).await
    }

    /// The demo account, tenant and datasets `bytefreezer up` starts with; does nothing for the
    /// parts that exist, so user changes survive restarts.
    pub async fn ensure_demo(&self, dataset: &DatasetSpec) -> Result<String, StoreError> {
        let system = Actor::system();
        let account = match self.account_by_name("demo").await? {
            Some(account) => account,
            None => self.create_account(&system, "demo").await?,
        };
        if self.tenant(&dataset.tenant_id).await?.is_none() {
            self.create_tenant(&system, &account.id, &dataset.tenant_id, "Demo")
                .await?;
        }
        if self
            .dataset(&dataset.tenant_id, &dataset.dataset_id)
            .await?
            .is_none()
        {
            self.create_dataset(&system, dataset).await?;
        }
        Ok(account.id)
    }
}

fn dataset_target(tenant_id: &str, dataset_id: &str) -> String {
    format!("dataset/{tenant_id}/{dataset_id}")
}
