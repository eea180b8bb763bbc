use serde::{Deserialize, Serialize};

/// `POST /api/v1/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    pub name: String,
    /// Scope the key to this tenant; without it the key acts for the whole account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// With `tenant_id`: an ingest key for this one dataset only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
    /// Admins name the account of an account-wide key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// An API key as listed: never its plaintext, which exists only in the creation response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub account_id: String,
    /// `None`: the key acts for the whole account.
    pub tenant_id: Option<String>,
    /// Set for ingest keys limited to one dataset of the tenant.
    pub dataset_id: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// The answer to `POST /api/v1/keys`: the new key's record and, this once, the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedKey {
    /// The key itself. It is not stored and cannot be shown again.
    pub key: String,
    #[serde(flatten)]
    pub record: ApiKey,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_created_key_is_the_record_plus_the_key_at_the_top_level() {
        let created = CreatedKey {
            key: "bfk_secret".into(),
            record: ApiKey {
                id: "k1".into(),
                name: "ingest".into(),
                account_id: "a1".into(),
                tenant_id: Some("acme".into()),
                dataset_id: None,
                created_at: "2026-01-01T00:00:00Z".into(),
                revoked_at: None,
                last_used_at: None,
            },
        };
        let sent = serde_json::to_value(&created).unwrap();
        assert_eq!(sent["key"], "bfk_secret");
        assert_eq!(sent["tenant_id"], "acme");
        assert_eq!(sent["dataset_id"], json!(null));
        assert_eq!(serde_json::from_value::<CreatedKey>(sent).unwrap(), created);
        let request = KeyRequest {
            name: "ingest".into(),
            tenant_id: Some("acme".into()),
            dataset_id: None,
            account_id: None,
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"name": "ingest", "tenant_id": "acme"})
        );
    }
}
