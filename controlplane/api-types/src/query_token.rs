//! Short-lived query tokens: the control plane mints one for a logged-in user and one tenant,
//! the query service verifies it with the secret both share, so the dashboard never holds a
//! permanent API key. HMAC-SHA256 over the claims; the query service may hold the secret since
//! it already reads every tenant's data, while browsers, proxies and receivers never see it.
//!
//! Format: `bfq1.<hex of the claims' JSON>.<hex of the HMAC-SHA256 of that hex>`.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Every query token starts with this, so a listener tells tokens from API keys at once.
pub const QUERY_TOKEN_PREFIX: &str = "bfq1.";

/// Tokens larger than this are refused before any decoding.
const MAX_TOKEN_BYTES: usize = 4096;

/// What a query token allows: queries over one tenant's datasets until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryTokenClaims {
    /// Who it was issued to (a user's email or `key:<name>`), for the query service's log.
    pub subject: String,
    pub account_id: String,
    pub tenant_id: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unique per token, as written in the control plane's audit entry.
    pub token_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryTokenError {
    #[error("the query token is malformed")]
    Malformed,
    #[error("the query token's signature is not valid")]
    BadSignature,
    #[error("the query token expired; the dashboard asks for a new one")]
    Expired,
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!())
}

/// Signs `claims` with `secret`.
pub fn sign_query_token(claims: &QueryTokenClaims, secret: &[u8]) -> String {
    let body = hex::encode(serde_json::to_vec(claims).unwrap_or_default());
    let mut signer = mac(secret);
    signer.update(body.as_bytes());
    let signature = hex::encode(signer.finalize().into_bytes());
    format!("{QUERY_TOKEN_PREFIX}{body}.{signature}")
}

/// Checks the signature (in constant time) and the expiry against `now` (unix seconds).
pub fn verify_query_token(
    token: &str,
    secret: &[u8],
    now: i64,
) -> Result<QueryTokenClaims, QueryTokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(QueryTokenError::Malformed);
    }
    let (body, signature) = token
        .strip_prefix(QUERY_TOKEN_PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .ok_or(QueryTokenError::Malformed)?;
    let signature = hex::decode(signature).map_err(|_| QueryTokenError::Malformed)?;
    let mut verifier = mac(secret);
    verifier.update(body.as_bytes());
    verifier
        .verify_slice(&signature)
        .map_err(|_| QueryTokenError::BadSignature)?;
    let json = hex::decode(body).map_err(|_| QueryTokenError::Malformed)?;
    let claims: QueryTokenClaims =
        serde_json::from_slice(&json).map_err(|_| QueryTokenError::Malformed)?;
    if claims.expires_at <= now {
        return Err(QueryTokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> QueryTokenClaims {
        QueryTokenClaims {
            subject: "ada@example.com".into(),
            account_id: "acc".into(),
            tenant_id: "t".into(),
            expires_at: 1_000,
            token_id: "tok-1".into(),
        }
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_only_with_its_secret() {
        let token = sign_query_token(&claims(), b"secret");
        assert!(token.starts_with(QUERY_TOKEN_PREFIX));
        assert_eq!(verify_query_token(&token, b"secret", 999), Ok(claims()));
        assert_eq!(
            verify_query_token(&token, b"secret", 1_000),
            Err(QueryTokenError::Expired)
        );
        assert_eq!(
            verify_query_token(&token, b"other", 999),
            Err(QueryTokenError::BadSignature)
        );
    }

    #[test]
    fn a_changed_claim_breaks_the_signature() {
        let token = sign_query_token(&claims(), b"secret");
        let forged = sign_query_token(
            &QueryTokenClaims {
                tenant_id: "u".into(),
                ..claims()
            },
            b"guess",
        );
        let (_, forged_body) = forged
            .rsplit_once('.')
            .unwrap()
            .0
            .split_at(QUERY_TOKEN_PREFIX.len());
        let signature = token.rsplit_once('.').unwrap().1;
        let spliced = format!("{QUERY_TOKEN_PREFIX}{forged_body}.{signature}");
        assert_eq!(
            verify_query_token(&spliced, b"secret", 0),
            Err(QueryTokenError::BadSignature)
        );
        for broken in ["bfq1.", "bfq1.zz.zz", "bf_key", "bfq1.00"] {
            assert!(
                verify_query_token(broken, b"secret", 0).is_err(),
                "{broken}"
            );
        }
    }
}
