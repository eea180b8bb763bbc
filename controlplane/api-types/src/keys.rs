use sha2::{Digest, Sha256};

/// API keys are stored and compared only as their SHA-256: they are long random secrets, so a
/// fast hash is enough and the plaintext never needs to be kept.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The credential in an `Authorization` header value (`Bearer <token>`, the scheme in any case),
/// or `None` when the header holds another scheme or an empty token. Every listener (control
/// server, receiver, query service) parses the header with this one function, so a key accepted
/// by one is spelled the same way for the others.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// What a caller wants to do with an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Send events to the receiver.
    SendData,
    /// Read data through the query service.
    Query,
    /// Use the control plane's API.
    Manage,
}

/// How far an API key reaches, from its account, tenant and dataset columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyReach {
    Account,
    Tenant,
    /// Limited to one dataset of a tenant: such a key is handed to field agents and only sends
    /// data, so losing it cannot expose or change anything.
    Dataset,
}

impl KeyReach {
    pub fn of(tenant_id: Option<&str>, dataset_id: Option<&str>) -> KeyReach {
        match (tenant_id, dataset_id) {
            (_, Some(_)) => KeyReach::Dataset,
            (Some(_), None) => KeyReach::Tenant,
            (None, None) => KeyReach::Account,
        }
    }

    /// The one scope check both planes apply: dataset keys only send data.
    pub fn allows(self, use_: KeyUse) -> bool {
        match self {
            KeyReach::Dataset => use_ == KeyUse::SendData,
            KeyReach::Account | KeyReach::Tenant => true,
        }
    }

    /// Why a key of this reach is refused for `use_`, naming the key, for a 403.
    pub fn refusal(self, key_name: &str, use_: KeyUse) -> Option<String> {
        if self.allows(use_) {
            return None;
        }
        let wanted = match use_ {
            KeyUse::SendData => "send data",
            KeyUse::Query => "query data",
            KeyUse::Manage => "manage anything",
        };
        Some(format!(
            "key {key_name:?} is limited to one dataset and only sends data; it cannot \
             {wanted}: use a tenant or account key"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_takes_the_scheme_in_any_case_and_refuses_empty_tokens() {
        assert_eq!(bearer_token("Bearer bf_abc"), Some("bf_abc"));
        assert_eq!(bearer_token("bearer  bf_abc "), Some("bf_abc"));
        assert_eq!(bearer_token("Basic dXNlcjpwdw=="), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn dataset_keys_only_send_data() {
        let dataset = KeyReach::of(Some("t"), Some("fw"));
        assert!(dataset.allows(KeyUse::SendData));
        assert!(!dataset.allows(KeyUse::Query));
        assert!(!dataset.allows(KeyUse::Manage));
        assert!(dataset.refusal("agent", KeyUse::Query).is_some());
        for reach in [KeyReach::of(Some("t"), None), KeyReach::of(None, None)] {
            assert!(reach.allows(KeyUse::Query) && reach.allows(KeyUse::Manage));
        }
    }
}
