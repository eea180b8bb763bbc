use bytefreezer_api::{
    DataPlaneConfig, DatasetSpec, IngestKey, PipelineSpec, SourceSpec, hash_api_key,
};
use chrono::{DateTime, SecondsFormat, Utc};
use rand::RngCore;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};

use crate::error::StoreError;
use crate::model::{Account, ServiceHeartbeat, Tenant};

/// The control store. One `AnyPool` serves both backends: every statement is portable SQL with
/// `$n` placeholders, which SQLite and PostgreSQL both accept, so there is one code path to test.
#[derive(Clone)]
pub struct ControlStore {
    pool: AnyPool,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn timestamp(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc))
}

fn check_identifier(field: &'static str, value: &str) -> Result<(), StoreError> {
    bytefreezer_layout::validate_identifier(field, value).map_err(|e| StoreError::Invalid {
        field,
        reason: e.to_string(),
    })
}

fn map_unique(error: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match error.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict { what: what() },
        _ => StoreError::Database(error),
    }
}

/// The columns [`dataset_from_row`] reads, in its order.
const DATASET_COLUMNS: &str = "tenant_id, dataset_id, name, source, pipeline, testing, active";

fn dataset_from_row(row: &sqlx::any::AnyRow) -> Result<DatasetSpec, StoreError> {
    let source: String = row.get(3);
    let pipeline: String = row.get(4);
    Ok(DatasetSpec {
        tenant_id: row.get(0),
        dataset_id: row.get(1),
        name: row.get(2),
        source: serde_json::from_str::<SourceSpec>(&source)?,
        pipeline: serde_json::from_str::<PipelineSpec>(&pipeline)?,
        testing: row.get::<i64, _>(5) != 0,
        active: row.get::<i64, _>(6) != 0,
    })
}

impl ControlStore {
    /// `sqlite://PATH` (created if missing) or `postgres://...`; runs the migrations.
    pub async fn connect(database_url: &str) -> Result<ControlStore, StoreError> {
        install_default_drivers();
        let url = if database_url.starts_with("sqlite:") && !database_url.contains("mode=") {
            let separator = if database_url.contains('?') { '&' } else { '?' };
            format!("{database_url}{separator}mode=rwc")
        } else {
            database_url.to_owned()
        };
        let is_sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if is_sqlite { 4 } else { 10 })
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if is_sqlite {
                        connection.execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect { url: redact(database_url), source })?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(ControlStore { pool })
    }

    pub async fn create_account(&self, name: &str) -> Result<Account, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "name",
                reason: "must not be empty".into(),
            });
        }
        let id = uuid::Uuid::now_v7().simple().to_string();
        sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(name)
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(|e| map_unique(e, || format!("account {name:?}")))?;
        Ok(Account {
            id,
            name: name.into(),
        })
    }

    async fn account_by_name(&self, name: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT id, name FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| Account {
            id: row.get(0),
            name: row.get(1),
        }))
    }

    pub async fn create_tenant(
        &self,
        account_id: &str,
        tenant_id: &str,
        name: &str,
    ) -> Result<Tenant, StoreError> {
        check_identifier("tenant_id", tenant_id)?;
        let account = sqlx::query("SELECT id FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        if account.is_none() {
            return Err(StoreError::NotFound {
                what: format!("account {account_id}"),
            });
        }
        sqlx::query(
            "INSERT INTO tenants (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(name)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| map_unique(e, || format!("tenant {tenant_id}")))?;
        Ok(Tenant {
            id: tenant_id.into(),
            account_id: account_id.into(),
            name: name.into(),
        })
    }

    async fn tenant_exists(&self, tenant_id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT id FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    pub async fn create_dataset(&self, spec: &DatasetSpec) -> Result<(), StoreError> {
        check_identifier("tenant_id", &spec.tenant_id)?;
        check_identifier("dataset_id", &spec.dataset_id)?;
        if !self.tenant_exists(&spec.tenant_id).await? {
            return Err(StoreError::NotFound {
                what: format!("tenant {}", spec.tenant_id),
            });
        }
        let stamp = now();
        sqlx::query(
            "INSERT INTO datasets (tenant_id, dataset_id, name, source, pipeline, testing, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        .execute(&self.pool)
        .await
        .map_err(|e| map_unique(e, || format!("dataset {}/{}", spec.tenant_id, spec.dataset_id)))?;
        Ok(())
    }

    pub async fn update_dataset(&self, spec: &DatasetSpec) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE datasets SET name = $3, source = $4, pipeline = $5, testing = $6, active = $7, updated_at = $8 \
             WHERE tenant_id = $1 AND dataset_id = $2",
        )
        .bind(&spec.tenant_id)
        .bind(&spec.dataset_id)
        .bind(&spec.name)
        .bind(serde_json::to_string(&spec.source)?)
        .bind(serde_json::to_string(&spec.pipeline)?)
        .bind(i64::from(spec.testing))
        .bind(i64::from(spec.active))
        .bind(now())
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("dataset {}/{}", spec.tenant_id, spec.dataset_id),
            });
        }
        Ok(())
    }

    pub async fn set_dataset_active(
        &self,
        tenant_id: &str,
        dataset_id: &str,
        active: bool,
    ) -> Result<(), StoreError> {
        let result = sqlx::query("UPDATE datasets SET active = $3, updated_at = $4 WHERE tenant_id = $1 AND dataset_id = $2")
            .bind(tenant_id)
            .bind(dataset_id)
            .bind(i64::from(active))
            .bind(now())
            .execute(&self.pool)
            .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("dataset {tenant_id}/{dataset_id}"),
            });
        }
        Ok(())
    }

    pub async fn list_datasets(&self) -> Result<Vec<DatasetSpec>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DATASET_COLUMNS} FROM datasets ORDER BY tenant_id, dataset_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dataset_from_row).collect()
    }

    pub async fn dataset(
        &self,
        tenant_id: &str,
        dataset_id: &str,
    ) -> Result<Option<DatasetSpec>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DATASET_COLUMNS} FROM datasets WHERE tenant_id = $1 AND dataset_id = $2"
        ))
        .bind(tenant_id)
        .bind(dataset_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(dataset_from_row).transpose()
    }

    /// Replaces a dataset's transformation pipeline; the caller validates it first.
    pub async fn set_dataset_pipeline(
        &self,
        tenant_id: &str,
        dataset_id: &str,
        pipeline: &PipelineSpec,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE datasets SET pipeline = $3, updated_at = $4 WHERE tenant_id = $1 AND dataset_id = $2",
        )
        .bind(tenant_id)
        .bind(dataset_id)
        .bind(serde_json::to_string(pipeline)?)
        .bind(now())
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("dataset {tenant_id}/{dataset_id}"),
            });
        }
        Ok(())
    }

    /// The tenant a presented key (plaintext) belongs to, when it is valid and not revoked;
    /// records the use.
    pub async fn api_key_tenant(&self, key: &str) -> Result<Option<String>, StoreError> {
        let hash = hash_api_key(key);
        let row = sqlx::query(
            "SELECT tenant_id FROM api_keys WHERE key_sha256 = $1 AND revoked_at IS NULL",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE key_sha256 = $1")
            .bind(&hash)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(Some(row.get(0)))
    }

    /// Creates a random key, stores its hash, and returns the plaintext: the only time it exists.
    pub async fn create_api_key(
        &self,
        name: &str,
        tenant_id: &str,
        dataset_id: Option<&str>,
    ) -> Result<String, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "name",
                reason: "must not be empty".into(),
            });
        }
        if !self.tenant_exists(tenant_id).await? {
            return Err(StoreError::NotFound {
                what: format!("tenant {tenant_id}"),
            });
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let key = format!("bf_{}", hex::encode(secret));
        sqlx::query("INSERT INTO api_keys (id, name, key_sha256, tenant_id, dataset_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(uuid::Uuid::now_v7().simple().to_string())
            .bind(name)
            .bind(hash_api_key(&key))
            .bind(tenant_id)
            .bind(dataset_id)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(key)
    }

    /// Revokes every active key with this name in the tenant.
    pub async fn revoke_api_key(&self, tenant_id: &str, name: &str) -> Result<(), StoreError> {
        let result = sqlx::query("UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND name = $2 AND revoked_at IS NULL")
            .bind(tenant_id)
            .bind(name)
            .bind(now())
            .execute(&self.pool)
            .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("active API key {name:?} of tenant {tenant_id}"),
            });
        }
        Ok(())
    }

    /// What data-side services work from: active datasets and keys not revoked.
    pub async fn dataplane_config(&self) -> Result<DataPlaneConfig, StoreError> {
        let datasets = self
            .list_datasets()
            .await?
            .into_iter()
            .filter(|d| d.active)
            .collect();
        let rows = sqlx::query("SELECT name, key_sha256, tenant_id, dataset_id FROM api_keys WHERE revoked_at IS NULL ORDER BY id")
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
        Ok(DataPlaneConfig {
            datasets,
            ingest_keys,
        })
    }

    /// Whether a presented key (plaintext) is valid and not revoked.
    pub async fn api_key_is_valid(&self, key: &str) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT id FROM api_keys WHERE key_sha256 = $1 AND revoked_at IS NULL")
                .bind(hash_api_key(key))
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// The demo account, tenant and dataset `bytefreezer up` starts with; does nothing for the
    /// parts that exist, so user changes survive restarts.
    pub async fn ensure_demo(&self, dataset: &DatasetSpec) -> Result<(), StoreError> {
        let account = match self.account_by_name("demo").await? {
            Some(account) => account,
            None => self.create_account("demo").await?,
        };
        if !self.tenant_exists(&dataset.tenant_id).await? {
            self.create_tenant(&account.id, &dataset.tenant_id, "Demo")
                .await?;
        }
        if self
            .dataset(&dataset.tenant_id, &dataset.dataset_id)
            .await?
            .is_none()
        {
            self.create_dataset(dataset).await?;
        }
        Ok(())
    }

    pub async fn record_heartbeat(&self, heartbeat: &ServiceHeartbeat) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO services (instance_id, role, host, version, started_at, last_seen, healthy, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (instance_id) DO UPDATE SET role = excluded.role, host = excluded.host, version = excluded.version, \
             started_at = excluded.started_at, last_seen = excluded.last_seen, healthy = excluded.healthy, detail = excluded.detail",
        )
        .bind(&heartbeat.instance_id)
        .bind(&heartbeat.role)
        .bind(&heartbeat.host)
        .bind(&heartbeat.version)
        .bind(heartbeat.started_at.to_rfc3339_opts(SecondsFormat::Micros, true))
        .bind(heartbeat.last_seen.to_rfc3339_opts(SecondsFormat::Micros, true))
        .bind(i64::from(heartbeat.healthy))
        .bind(&heartbeat.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn list_services(&self) -> Result<Vec<ServiceHeartbeat>, StoreError> {
        let rows = sqlx::query("SELECT instance_id, role, host, version, started_at, last_seen, healthy, detail FROM services ORDER BY role, instance_id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| ServiceHeartbeat {
                instance_id: row.get(0),
                role: row.get(1),
                host: row.get(2),
                version: row.get(3),
                started_at: timestamp(&row.get::<String, _>(4)),
                last_seen: timestamp(&row.get::<String, _>(5)),
                healthy: row.get::<i64, _>(6) != 0,
                detail: row.get(7),
            })
            .collect())
    }
}

/// Hides a password in a database URL before it goes into an error message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}
