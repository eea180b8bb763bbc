use sqlx::Row;

use crate::error::StoreError;
use crate::model::{AuditEntry, AuditQuery};
use crate::store::{ControlStore, stamp};

impl ControlStore {
    /// Audit entries matching the query, newest first. Page on with `before` = the last id.
    /// `actor` and `target` match as prefixes (`dataset/demo/` finds every demo dataset).
    pub async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64::from(query.limit.clamp(1, 500));
        let prefix = |value: &Option<String>| {
            value.as_ref().map(|v| {
                format!(
                    "{}%",
                    v.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                )
            })
        };
        let rows = sqlx::query(
            "SELECT id, at, account_id, tenant_id, actor, action, target, diff FROM audit_entries \
             WHERE ($1 IS NULL OR account_id = $1) AND ($2 IS NULL OR tenant_id = $2) \
             AND ($3 IS NULL OR actor LIKE $3 ESCAPE '\\') AND ($4 IS NULL OR action = $4) \
             AND ($5 IS NULL OR target LIKE $5 ESCAPE '\\') AND ($6 IS NULL OR at >= $6) \
             AND ($7 IS NULL OR at < $7) AND ($8 IS NULL OR id < $8) \
             ORDER BY id DESC LIMIT $9",
        )
        .bind(query.account_id.as_deref())
        .bind(query.tenant_id.as_deref())
        .bind(prefix(&query.actor))
        .bind(query.action.as_deref())
        .bind(prefix(&query.target))
        .bind(query.since.map(stamp))
        .bind(query.until.map(stamp))
        .bind(query.before.as_deref())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| AuditEntry {
                id: row.get(0),
                at: row.get(1),
                account_id: row.get(2),
                tenant_id: row.get(3),
                actor: row.get(4),
                action: row.get(5),
                target: row.get(6),
                diff: serde_json::from_str(&row.get::<String, _>(7))
                    .unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }
}
