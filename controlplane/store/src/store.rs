use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::error::StoreError;
use crate::model::Actor;

/// The control store. One `AnyPool` serves both backends: every statement is portable SQL with
/// `$n` placeholders, which SQLite and PostgreSQL both accept, so there is one code path to test.
#[derive(Clone)]
pub struct ControlStore {
    pub(crate) pool: AnyPool,
    pub(crate) is_postgres: bool,
    pub(crate) password_checks: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Password hashes computed at once; argon2 takes ~19 MiB and tens of milliseconds each.
pub(crate) const PASSWORD_CHECKS: usize = 2;

pub(crate) fn now() -> String {
    stamp(Utc::now())
}

pub(crate) fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn timestamp(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc))
}

/// Time-ordered ids, so ordering by id is ordering by creation.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

pub(crate) fn check_identifier(field: &'static str, value: &str) -> Result<(), StoreError> {
    bytefreezer_layout::validate_identifier(field, value).map_err(|e| StoreError::Invalid {
        field,
        reason: e.to_string(),
    })
}

pub(crate) fn check_name(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        return Err(StoreError::Invalid {
            field,
            reason: "must not be empty".into(),
        });
    }
    if value.chars().count() > 200 {
        return Err(StoreError::Invalid {
            field,
            reason: "must be at most 200 characters".into(),
        });
    }
    Ok(())
}

pub(crate) fn map_unique(error: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match error.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict { what: what() },
        _ => StoreError::Database(error),
    }
}

/// What one mutation writes to the audit log, in the transaction of the change.
pub(crate) struct AuditRecord<'a> {
    pub account_id: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub action: &'a str,
    pub target: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

impl<'a> AuditRecord<'a> {
    /// A record of `before` becoming `after` (either may be `None`: creation, deletion).
    pub(crate) fn change<B: serde::Serialize, A: serde::Serialize>(
        (account_id, tenant_id): (Option<&'a str>, Option<&'a str>),
        action: &'a str,
        target: String,
        before: Option<&B>,
        after: Option<&A>,
    ) -> Result<AuditRecord<'a>, StoreError> {
        Ok(AuditRecord {
            account_id,
            tenant_id,
            action,
            target,
            before: serde_json::to_value(before)?,
            after: serde_json::to_value(after)?,
        })
    }
}

pub(crate) fn not_found(what: impl std::fmt::Display) -> StoreError {
    StoreError::NotFound {
        what: what.to_string(),
    }
}

pub(crate) async fn write_audit(
    tx: &mut Transaction<'_, Any>,
    actor: &Actor,
    record: AuditRecord<'_>,
) -> Result<(), StoreError> {
    let diff = serde_json::json!({ "before": record.before, "after": record.after });
    sqlx::query(
        "INSERT INTO audit_entries (id, at, account_id, tenant_id, actor, action, target, diff) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(now())
    .bind(record.account_id)
    .bind(record.tenant_id)
    .bind(&actor.0)
    .bind(record.action)
    .bind(&record.target)
    .bind(diff.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes the audit entry of a change and commits both together.
pub(crate) async fn commit_audited(
    mut tx: Transaction<'_, Any>,
    actor: &Actor,
    record: AuditRecord<'_>,
) -> Result<(), StoreError> {
    write_audit(&mut tx, actor, record).await?;
    tx.commit().await?;
    Ok(())
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
                        // Case-sensitive LIKE, as on PostgreSQL, so filters behave the same.
                        connection.execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA case_sensitive_like = ON;").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact(database_url),
                source,
            })?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(ControlStore {
            pool,
            is_postgres: !is_sqlite,
            password_checks: std::sync::Arc::new(tokio::sync::Semaphore::new(PASSWORD_CHECKS)),
        })
    }

    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(self.pool.begin().await?)
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
