use bytefreezer_api::hash_api_key;
use bytefreezer_api::rest::ApiKey;
use rand::RngCore;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::model::Actor;
use crate::store::{
    AuditRecord, ControlStore, check_identifier, check_name, commit_audited, new_id, not_found, now,
};

const KEY_COLUMNS: &str =
    "id, name, account_id, tenant_id, dataset_id, created_at, revoked_at, last_used_at";

fn key_from_row(row: &AnyRow) -> ApiKey {
    ApiKey {
        id: row.get(0),
        name: row.get(1),
        account_id: row.get(2),
        tenant_id: row.get(3),
        dataset_id: row.get(4),
        created_at: row.get(5),
        revoked_at: row.get(6),
        last_used_at: row.get(7),
    }
}

/// What a new key may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyScope {
    Account {
        account_id: String,
    },
    Tenant {
        tenant_id: String,
        /// Limits an ingest key to one dataset of the tenant.
        dataset_id: Option<String>,
    },
}

impl ControlStore {
    /// Creates a random key, stores its hash, and returns the plaintext (the only time it
    /// exists) with the key's record.
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        name: &str,
        scope: &KeyScope,
    ) -> Result<(String, ApiKey), StoreError> {
        check_name("name", name)?;
        let (account_id, tenant_id, dataset_id) = match scope {
            KeyScope::Account { account_id } => {
                if self.account(account_id).await?.is_none() {
                    return Err(StoreError::NotFound {
                        what: format!("account {account_id}"),
                    });
                }
                (account_id.clone(), None, None)
            }
            KeyScope::Tenant {
                tenant_id,
                dataset_id,
            } => {
                if let Some(dataset_id) = dataset_id {
                    check_identifier("dataset_id", dataset_id)?;
                }
                let tenant = self
                    .tenant(tenant_id)
                    .await?
                    .ok_or_else(|| not_found(format_args!("tenant {tenant_id}")))?;
                (
                    tenant.account_id,
                    Some(tenant_id.clone()),
                    dataset_id.clone(),
                )
            }
        };
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let key = format!("bf_{}", hex::encode(secret));
        let record = ApiKey {
            id: new_id(),
            name: name.into(),
            account_id,
            tenant_id,
            dataset_id,
            created_at: now(),
            revoked_at: None,
            last_used_at: None,
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, name, key_sha256, account_id, tenant_id, dataset_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&record.id)
        .bind(name)
        .bind(hash_api_key(&key))
        .bind(&record.account_id)
        .bind(&record.tenant_id)
        .bind(&record.dataset_id)
        .bind(&record.created_at)
        .execute(&mut *tx)
        .await?;
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (Some(&record.account_id), record.tenant_id.as_deref()),
                "api_key.create",
                format!("api_key/{}", record.id),
                None::<&()>,
                Some(&record),
            )?,
        )
        .await?;
        Ok((key, record))
    }

    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(key_from_row))
    }

    pub async fn list_api_keys(
        &self,
        account_id: Option<&str>,
        tenant_id: Option<&str>,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE ($1 IS NULL OR account_id = $1) \
             AND ($2 IS NULL OR tenant_id = $2) ORDER BY id"
        ))
        .bind(account_id)
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(key_from_row).collect())
    }

    pub async fn revoke_api_key(&self, actor: &Actor, id: &str) -> Result<ApiKey, StoreError> {
        let before = self
            .api_key(id)
            .await?
            .filter(|key| key.revoked_at.is_none())
            .ok_or_else(|| not_found(format_args!("active API key {id}")))?;
        let after = ApiKey {
            revoked_at: Some(now()),
            ..before.clone()
        };
        let mut tx = self.begin().await?;
        let result =
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(&after.revoked_at)
                .execute(&mut *tx)
                .await?;
        if result.rows_affected() == 0 {
            // Revoked by someone else since it was read: nothing changed, nothing to audit.
            return Err(StoreError::NotFound {
                what: format!("active API key {id}"),
            });
        }
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (Some(&before.account_id), before.tenant_id.as_deref()),
                "api_key.revoke",
                format!("api_key/{id}"),
                Some(&before),
                Some(&after),
            )?,
        )
        .await?;
        Ok(after)
    }

    /// The key a caller presents (plaintext), when it is valid and not revoked; records the use
    /// at most once a minute so polling services do not write on every request.
    pub async fn authenticate_api_key(&self, key: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_sha256 = $1 AND revoked_at IS NULL"
        ))
        .bind(hash_api_key(key))
        .fetch_optional(&self.pool)
        .await?;
        let Some(mut record) = row.as_ref().map(key_from_row) else {
            return Ok(None);
        };
        let stamp = now();
        let stale = record
            .last_used_at
            .as_deref()
            .is_none_or(|last| stamp.get(..16) != last.get(..16));
        if stale {
            sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                .bind(&record.id)
                .bind(&stamp)
                .execute(&self.pool)
                .await?;
            record.last_used_at = Some(stamp);
        }
        Ok(Some(record))
    }
}
