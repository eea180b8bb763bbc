//! Who is calling: a dashboard session (cookie, with a CSRF token on every change) or an API key
//! (`Authorization: Bearer`). Everything a caller reaches is limited to its account or tenant,
//! and anything outside answers exactly like something missing.

use axum::http::{HeaderMap, Method, header};
use bytefreezer_api::{KeyReach, KeyUse, bearer_token};
use bytefreezer_control_store::{Actor, ApiKey, ControlStore, Role, Tenant};

use crate::api_error::ApiError;

/// `__Host-`: browsers accept it only Secure, from this host, for path `/`, so a sibling
/// subdomain cannot plant a session.
pub(crate) const SESSION_COOKIE: &str = "__Host-bf_session";
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// What a caller may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// An admin user: every account.
    Admin,
    /// A user or key of one account. `write` is false for viewers.
    Account { account_id: String, write: bool },
    /// A key of one tenant.
    Tenant {
        account_id: String,
        tenant_id: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub actor: Actor,
    pub access: Access,
    /// Set for API keys: `/auth/me` tells keys from users by it.
    pub key_id: Option<String>,
}

impl Principal {
    /// Keys limited to one dataset only send data to the receiver; the control plane refuses
    /// them outright, so such a key handed to a field agent cannot manage anything.
    fn from_key(key: ApiKey) -> Result<Principal, ApiError> {
        let reach = KeyReach::of(key.tenant_id.as_deref(), key.dataset_id.as_deref());
        if let Some(refusal) = reach.refusal(&key.name, KeyUse::Manage) {
            return Err(ApiError::Forbidden(refusal));
        }
        let access = match key.tenant_id {
            Some(tenant_id) => Access::Tenant {
                account_id: key.account_id,
                tenant_id,
            },
            None => Access::Account {
                account_id: key.account_id,
                write: true,
            },
        };
        Ok(Principal {
            actor: Actor(format!("key:{}", key.name)),
            access,
            key_id: Some(key.id),
        })
    }

    /// The account filter for listings: `None` for admins (every account).
    pub(crate) fn account_filter(&self) -> Option<&str> {
        match &self.access {
            Access::Admin => None,
            Access::Account { account_id, .. } | Access::Tenant { account_id, .. } => {
                Some(account_id)
            }
        }
    }

    pub(crate) fn tenant_filter(&self) -> Option<&str> {
        match &self.access {
            Access::Tenant { tenant_id, .. } => Some(tenant_id),
            _ => None,
        }
    }

    pub(crate) fn sees_account(&self, account_id: &str) -> bool {
        self.account_filter().is_none_or(|own| own == account_id) && self.tenant_filter().is_none()
    }

    pub(crate) fn sees_tenant(&self, tenant: &Tenant) -> bool {
        self.account_filter()
            .is_none_or(|own| own == tenant.account_id)
            && self.tenant_filter().is_none_or(|own| own == tenant.id)
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.access == Access::Admin
    }

    /// Viewers read; everyone else in scope may change things.
    pub(crate) fn require_write(&self) -> Result<(), ApiError> {
        match self.access {
            Access::Account { write: false, .. } => Err(ApiError::Forbidden(
                "viewers cannot change anything; ask an account admin".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Whether the caller may read secrets in pipelines (HMAC keys): those who may change
    /// them. Viewers read pipelines with [`bytefreezer_api::REDACTED`] in their place.
    pub(crate) fn sees_secrets(&self) -> bool {
        self.require_write().is_ok()
    }

    /// Account-wide changes (tenants, users, account keys): not for tenant keys or viewers.
    pub(crate) fn require_account_write(&self) -> Result<(), ApiError> {
        self.require_write()?;
        match self.access {
            Access::Tenant { .. } => Err(ApiError::Forbidden(
                "a tenant key cannot change account-wide settings".into(),
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("only admins can do this".into()))
        }
    }

    /// The account a new tenant or key belongs to: the caller's own, or the one an admin names.
    pub(crate) fn target_account(&self, requested: Option<&str>) -> Result<String, ApiError> {
        match (self.account_filter(), requested) {
            (Some(own), None) => Ok(own.to_owned()),
            (Some(own), Some(requested)) if own == requested => Ok(own.to_owned()),
            (Some(_), Some(requested)) => {
                Err(ApiError::NotFound(format!("account {requested} not found")))
            }
            (None, Some(requested)) => Ok(requested.to_owned()),
            (None, None) => Err(ApiError::invalid(
                "account_id",
                "required for admins, who belong to no account",
            )),
        }
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The API key of `Authorization: Bearer <key>`, parsed as the receiver and the query service
/// parse it.
fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token)
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Authenticates a request. Session callers must echo their CSRF token in `X-CSRF-Token` on
/// anything but GET/HEAD, so another site cannot make a logged-in browser change things.
pub(crate) async fn authenticate(
    store: &ControlStore,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    if let Some(key) = bearer_key(headers) {
        return match store.authenticate_api_key(key).await? {
            Some(key) => Principal::from_key(key),
            None => Err(ApiError::Unauthorized),
        };
    }
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Err(ApiError::Unauthorized);
    };
    let Some(session) = store.session(token).await? else {
        return Err(ApiError::Unauthorized);
    };
    if !matches!(*method, Method::GET | Method::HEAD) {
        let sent = headers.get(CSRF_HEADER).map(|v| v.as_bytes());
        if !sent.is_some_and(|sent| constant_time_eq(sent, session.csrf_token.as_bytes())) {
            return Err(ApiError::Forbidden(
                "missing or wrong X-CSRF-Token header (it comes with the login response)".into(),
            ));
        }
    }
    let user = session.user;
    let access = match (user.role, user.account_id) {
        (Role::Admin, _) => Access::Admin,
        (role, Some(account_id)) => Access::Account {
            account_id,
            write: role == Role::AccountAdmin,
        },
        (_, None) => return Err(ApiError::Unauthorized),
    };
    Ok(Principal {
        actor: Actor(user.email),
        access,
        key_id: None,
    })
}

impl axum::extract::FromRequestParts<std::sync::Arc<crate::routes::ServerState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &std::sync::Arc<crate::routes::ServerState>,
    ) -> Result<Principal, ApiError> {
        authenticate(&state.store, &parts.method, &parts.headers).await
    }
}
