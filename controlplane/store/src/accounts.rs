use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::model::{Account, Actor, Role, Session, Tenant, User};
use crate::store::{
    AuditRecord, ControlStore, check_identifier, check_name, commit_audited, map_unique, new_id,
    not_found, now, stamp,
};

/// Dashboard sessions last a working day.
const SESSION_HOURS: i64 = 12;
const MIN_PASSWORD_CHARS: usize = 10;

fn account_from_row(row: &AnyRow) -> Account {
    Account {
        id: row.get(0),
        name: row.get(1),
        created_at: row.get(2),
    }
}

fn tenant_from_row(row: &AnyRow) -> Tenant {
    Tenant {
        id: row.get(0),
        account_id: row.get(1),
        name: row.get(2),
        created_at: row.get(3),
    }
}

const USER_COLUMNS: &str = "id, account_id, email, role, created_at";

fn user_from_row(row: &AnyRow) -> User {
    User {
        id: row.get(0),
        account_id: row.get(1),
        email: row.get(2),
        role: Role::parse(&row.get::<String, _>(3)).unwrap_or(Role::Viewer),
        created_at: row.get(4),
    }
}

fn random_token() -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    hex::encode(secret)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn check_new_password(field: &'static str, password: &str) -> Result<(), StoreError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::Invalid {
            field,
            reason: format!("must have at least {MIN_PASSWORD_CHARS} characters"),
        });
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), StoreError> {
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "email",
            reason: "must look like name@host".into(),
        })
    }
}

impl ControlStore {
    /// Runs argon2 off the async workers, at most [`crate::store::PASSWORD_CHECKS`] at once, so
    /// a flood of logins cannot stall the API or the pipeline sharing the runtime.
    async fn hashing<T: Send + 'static>(
        &self,
        password: &str,
        work: impl FnOnce(&str) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let _permit = self
            .password_checks
            .acquire()
            .await
            .map_err(|_| StoreError::Invalid {
                field: "password",
                reason: "the control plane is shutting down".into(),
            })?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || work(&password))
            .await
            .map_err(|e| StoreError::Invalid {
                field: "password",
                reason: format!("password check failed: {e}"),
            })
    }

    pub async fn create_account(&self, actor: &Actor, name: &str) -> Result<Account, StoreError> {
        check_name("name", name)?;
        let account = Account {
            id: new_id(),
            name: name.into(),
            created_at: now(),
        };
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&account.id)
            .bind(name)
            .bind(&account.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_unique(e, || format!("account {name:?}")))?;
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (Some(&account.id), None),
                "account.create",
                format!("account/{}", account.id),
                None::<&()>,
                Some(&account),
            )?,
        )
        .await?;
        Ok(account)
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(account_from_row))
    }

    pub(crate) async fn account_by_name(&self, name: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(account_from_row))
    }

    pub async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query("SELECT id, name, created_at FROM accounts ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(account_from_row).collect())
    }

    pub async fn rename_account(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
    ) -> Result<Account, StoreError> {
        check_name("name", name)?;
        let before = self
            .account(id)
            .await?
            .ok_or_else(|| not_found(format_args!("account {id}")))?;
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE accounts SET name = $2 WHERE id = $1")
            .bind(id)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_unique(e, || format!("account {name:?}")))?;
        let after = Account {
            name: name.into(),
            ..before.clone()
        };
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (Some(id), None),
                "account.update",
                format!("account/{id}"),
                Some(&before),
                Some(&after),
            )?,
        )
        .await?;
        Ok(after)
    }

    /// Deletes an account that has no tenants, users or keys left.
    pub async fn delete_account(&self, actor: &Actor, id: &str) -> Result<(), StoreError> {
        let before = self
            .account(id)
            .await?
            .ok_or_else(|| not_found(format_args!("account {id}")))?;
        let mut tx = self.begin().await?;
        for (table, what) in [
            ("tenants", "tenants"),
            ("users", "users"),
            ("api_keys", "API keys"),
        ] {
            let row = sqlx::query(&format!(
                "SELECT COUNT(*) FROM {table} WHERE account_id = $1"
            ))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if row.get::<i64, _>(0) > 0 {
                return Err(StoreError::Invalid {
                    field: "account",
                    reason: format!("still has {what}; delete them first"),
                });
            }
        }
        sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (Some(id), None),
                "account.delete",
                format!("account/{id}"),
                Some(&before),
                None::<&()>,
            )?,
        )
        .await?;
        Ok(())
    }

    pub async fn create_tenant(
        &self,
        actor: &Actor,
        account_id: &str,
        tenant_id: &str,
        name: &str,
    ) -> Result<Tenant, StoreError> {
        check_identifier("tenant_id", tenant_id)?;
        check_name("name", name)?;
        if self.account(account_id).await?.is_none() {
            return Err(StoreError::NotFound {
                what: format!("account {account_id}"),
            });
        }
        let tenant = Tenant {
            id: tenant_id.into(),
            account_id: account_id.into(),
            name: name.into(),
            created_at: now(),
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO tenants (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(name)
        .bind(&tenant.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, || format!("tenant {tenant_id}")))?;
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (Some(account_id), Some(tenant_id)),
                "tenant.create",
                format!("tenant/{tenant_id}"),
                None::<&()>,
                Some(&tenant),
            )?,
        )
        .await?;
        Ok(tenant)
    }

    pub async fn tenant(&self, tenant_id: &str) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT id, account_id, name, created_at FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(tenant_from_row))
    }

    /// Tenants of one account, or of every account with `None`.
    pub async fn list_tenants(&self, account_id: Option<&str>) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, account_id, name, created_at FROM tenants \
             WHERE ($1 IS NULL OR account_id = $1) ORDER BY id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(tenant_from_row).collect())
    }

    pub async fn rename_tenant(
        &self,
        actor: &Actor,
        tenant_id: &str,
        name: &str,
    ) -> Result<Tenant, StoreError> {
        check_name("name", name)?;
        let before = self
            .tenant(tenant_id)
            .await?
            .ok_or_else(|| not_found(format_args!("tenant {tenant_id}")))?;
        let after = Tenant {
            name: name.into(),
            ..before.clone()
        };
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE tenants SET name = $2 WHERE id = $1")
            .bind(tenant_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (Some(&before.account_id), Some(tenant_id)),
                "tenant.update",
                format!("tenant/{tenant_id}"),
                Some(&before),
                Some(&after),
            )?,
        )
        .await?;
        Ok(after)
    }

    /// Deletes a tenant without datasets; its keys go with it, recorded in the audit entry.
    pub async fn delete_tenant(&self, actor: &Actor, tenant_id: &str) -> Result<(), StoreError> {
        let before = self
            .tenant(tenant_id)
            .await?
            .ok_or_else(|| not_found(format_args!("tenant {tenant_id}")))?;
        // Read on the pool before the transaction: a second pool connection inside it could
        // wait on the transaction's own lock (SQLite) until the busy timeout.
        let keys = self.list_api_keys(None, Some(tenant_id)).await?;
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT COUNT(*) FROM datasets WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&mut *tx)
            .await?;
        if row.get::<i64, _>(0) > 0 {
            return Err(StoreError::Invalid {
                field: "tenant",
                reason: "still has datasets; delete them first".into(),
            });
        }
        // The tenant's keys go with it; the audit entry keeps their records.
        sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1")
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        commit_audited(
            tx,
            actor,
            AuditRecord {
                account_id: Some(&before.account_id),
                tenant_id: Some(tenant_id),
                action: "tenant.delete",
                target: format!("tenant/{tenant_id}"),
                before: serde_json::json!({ "tenant": before, "api_keys": keys }),
                after: serde_json::Value::Null,
            },
        )
        .await?;
        Ok(())
    }

    /// Creates a user with an argon2id password hash. Admins have no account; the other roles
    /// must have one.
    pub async fn create_user(
        &self,
        actor: &Actor,
        account_id: Option<&str>,
        email: &str,
        password: &str,
        role: Role,
    ) -> Result<User, StoreError> {
        check_email(email)?;
        check_new_password("password", password)?;
        match (role, account_id) {
            (Role::Admin, Some(_)) => {
                return Err(StoreError::Invalid {
                    field: "account_id",
                    reason: "admins belong to no account".into(),
                });
            }
            (Role::AccountAdmin | Role::Viewer, None) => {
                return Err(StoreError::Invalid {
                    field: "account_id",
                    reason: "required for this role".into(),
                });
            }
            (_, Some(account)) if self.account(account).await?.is_none() => {
                return Err(StoreError::NotFound {
                    what: format!("account {account}"),
                });
            }
            _ => {}
        }
        let hash = self.password_hash(password).await?;
        let user = User {
            id: new_id(),
            account_id: account_id.map(str::to_owned),
            email: email.to_lowercase(),
            role,
            created_at: now(),
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, account_id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.id)
        .bind(&user.account_id)
        .bind(&user.email)
        .bind(&hash)
        .bind(role.as_str())
        .bind(&user.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, || format!("user {email}")))?;
        commit_audited(
            tx,
            actor,
            AuditRecord {
                account_id,
                tenant_id: None,
                action: "user.create",
                target: format!("user/{}", user.email),
                before: serde_json::Value::Null,
                after: serde_json::to_value(&user)?,
            },
        )
        .await?;
        Ok(user)
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    pub async fn list_users(&self, account_id: Option<&str>) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE ($1 IS NULL OR account_id = $1) ORDER BY email"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get(0))
    }

    pub async fn delete_user(&self, actor: &Actor, id: &str) -> Result<(), StoreError> {
        let before = self
            .user(id)
            .await?
            .ok_or_else(|| not_found(format_args!("user {id}")))?;
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        commit_audited(
            tx,
            actor,
            AuditRecord::change(
                (before.account_id.as_deref(), None),
                "user.delete",
                format!("user/{}", before.email),
                Some(&before),
                None::<&()>,
            )?,
        )
        .await?;
        Ok(())
    }

    /// Checks a password and opens a session: `(session token, csrf token, user)`. The same
    /// "invalid" answer for an unknown email and a wrong password.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Option<(String, Session)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
        ))
        .bind(email.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            // Spend the same time as a real check so response times do not reveal emails.
            self.hashing(password, |password| {
                let _ = Argon2::default()
                    .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng));
            })
            .await?;
            return Ok(None);
        };
        if !self.password_matches(password, row.get(5)).await? {
            return Ok(None);
        }
        let user = user_from_row(&row);
        let token = random_token();
        let csrf_token = random_token();
        let created = chrono::Utc::now();
        sqlx::query(
            "INSERT INTO sessions (token_sha256, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(&token))
        .bind(&user.id)
        .bind(&csrf_token)
        .bind(stamp(created))
        .bind(stamp(created + chrono::Duration::hours(SESSION_HOURS)))
        .execute(&self.pool)
        .await?;
        Ok(Some((token, Session { user, csrf_token })))
    }

    /// Changes a user's password after checking the current one; `false` when it is wrong.
    /// Every other session of the user ends (a stolen cookie stops working), the one with
    /// `keep_session` (the caller's cookie token) stays. Audited without any hash.
    pub async fn change_password(
        &self,
        actor: &Actor,
        user_id: &str,
        current_password: &str,
        new_password: &str,
        keep_session: &str,
    ) -> Result<bool, StoreError> {
        check_new_password("new_password", new_password)?;
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE id = $1"
        ))
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found(format_args!("user {user_id}")))?;
        let user = user_from_row(&row);
        if !self.password_matches(current_password, row.get(5)).await? {
            return Ok(false);
        }
        let hash = self.password_hash(new_password).await?;
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user_id)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_sha256 <> $2")
            .bind(user_id)
            .bind(token_hash(keep_session))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        commit_audited(
            tx,
            actor,
            AuditRecord {
                account_id: user.account_id.as_deref(),
                tenant_id: None,
                action: "user.password",
                target: format!("user/{}", user.email),
                before: serde_json::Value::Null,
                after: serde_json::json!({ "password": "changed", "other_sessions_ended": ended }),
            },
        )
        .await?;
        Ok(true)
    }

    /// Whether `password` is the one `stored` (an argon2 hash) was made from; an unreadable
    /// hash matches nothing.
    async fn password_matches(&self, password: &str, stored: String) -> Result<bool, StoreError> {
        self.hashing(password, move |password| {
            PasswordHash::new(&stored).is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
        })
        .await
    }

    /// An argon2id hash of a new password, computed off the async workers.
    async fn password_hash(&self, password: &str) -> Result<String, StoreError> {
        self.hashing(password, |password| {
            Argon2::default()
                .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
                .map(|hash| hash.to_string())
                .map_err(|e| e.to_string())
        })
        .await?
        .map_err(|reason| StoreError::Invalid {
            field: "password",
            reason,
        })
    }

    /// The live session of a cookie token, if any.
    pub async fn session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.account_id, u.email, u.role, u.created_at, s.csrf_token FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.token_sha256 = $1 AND s.expires_at > $2",
        )
        .bind(token_hash(token))
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| Session {
            user: user_from_row(&row),
            csrf_token: row.get(5),
        }))
    }

    pub async fn logout(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1 OR expires_at <= $2")
            .bind(token_hash(token))
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
