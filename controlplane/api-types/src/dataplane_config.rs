use serde::{Deserialize, Serialize};

use crate::dataset::DatasetSpec;
use crate::dead_letters::DeadLetterReplay;
use crate::keys::{KeyReach, hash_api_key};

/// The configuration snapshot a data-side service works from. Services receive a new snapshot
/// when it changes and never mutate it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataPlaneConfig {
    #[serde(default)]
    pub datasets: Vec<DatasetSpec>,
    #[serde(default)]
    pub ingest_keys: Vec<IngestKey>,
    /// Dead-letter replays users asked for that piper or packer has not reported done; left
    /// out when there are none, so an idle configuration's ETag never changes for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dead_letter_replays: Vec<DeadLetterReplay>,
}

/// An API key allowed to send data, scoped to a tenant or to one dataset of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestKey {
    pub name: String,
    /// Hex SHA-256 of the key; see [`hash_api_key`].
    pub key_sha256: String,
    pub tenant_id: String,
    #[serde(default)]
    pub dataset_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    #[error("the API key is not valid")]
    UnknownKey,
    /// Reported as "not found" so a key of one tenant learns nothing about another's datasets.
    #[error("dataset {tenant_id}/{dataset_id} not found")]
    NotFound {
        tenant_id: String,
        dataset_id: String,
    },
}

impl IngestKey {
    pub fn reach(&self) -> KeyReach {
        KeyReach::of(Some(&self.tenant_id), self.dataset_id.as_deref())
    }
}

impl DataPlaneConfig {
    /// The key whose hash matches `api_key`, whatever it reaches.
    pub fn key(&self, api_key: &str) -> Option<&IngestKey> {
        let hash = hash_api_key(api_key);
        self.ingest_keys.iter().find(|k| k.key_sha256 == hash)
    }

    pub fn dataset(&self, tenant_id: &str, dataset_id: &str) -> Option<&DatasetSpec> {
        self.datasets
            .iter()
            .find(|d| d.tenant_id == tenant_id && d.dataset_id == dataset_id)
    }

    /// Checks that `api_key` may write to the dataset, returning the dataset and the key's name.
    pub fn authorize(
        &self,
        api_key: &str,
        tenant_id: &str,
        dataset_id: &str,
    ) -> Result<(&DatasetSpec, &str), AuthorizeError> {
        let hash = hash_api_key(api_key);
        let key = self
            .ingest_keys
            .iter()
            .find(|k| k.key_sha256 == hash)
            .ok_or(AuthorizeError::UnknownKey)?;
        let not_found = || AuthorizeError::NotFound {
            tenant_id: tenant_id.into(),
            dataset_id: dataset_id.into(),
        };
        let in_scope =
            key.tenant_id == tenant_id && key.dataset_id.as_deref().is_none_or(|d| d == dataset_id);
        if !in_scope {
            return Err(not_found());
        }
        let dataset = self.dataset(tenant_id, dataset_id).ok_or_else(not_found)?;
        Ok((dataset, key.name.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{SourceSpec, SyslogSourceSettings};

    fn config() -> DataPlaneConfig {
        let dataset = |tenant: &str, id: &str| DatasetSpec {
            tenant_id: tenant.into(),
            dataset_id: id.into(),
            name: id.into(),
            source: SourceSpec::Syslog(SyslogSourceSettings::default()),
            pipeline: Default::default(),
            testing: false,
            active: true,
            packer: Default::default(),
            destination: Default::default(),
        };
        DataPlaneConfig {
            datasets: vec![dataset("a", "logs"), dataset("b", "logs")],
            ingest_keys: vec![IngestKey {
                name: "proxy-a".into(),
                key_sha256: hash_api_key("secret-a"),
                tenant_id: "a".into(),
                dataset_id: None,
            }],
            dead_letter_replays: Vec::new(),
        }
    }

    #[test]
    fn a_key_reaches_only_its_tenant() {
        let config = config();
        assert_eq!(
            config.authorize("secret-a", "a", "logs").unwrap().1,
            "proxy-a"
        );
        assert!(matches!(
            config.authorize("secret-a", "b", "logs"),
            Err(AuthorizeError::NotFound { .. })
        ));
        assert!(matches!(
            config.authorize("secret-a", "a", "nope"),
            Err(AuthorizeError::NotFound { .. })
        ));
        assert_eq!(
            config.authorize("wrong", "a", "logs").unwrap_err(),
            AuthorizeError::UnknownKey
        );
    }

    #[test]
    fn dataset_spec_reads_from_json_with_defaults() {
        let spec: DatasetSpec = serde_json::from_str(
            r#"{"tenant_id":"a","dataset_id":"fw","source":{"plugin":"syslog","settings":{"bind":"127.0.0.1:5514"}}}"#,
        )
        .unwrap();
        assert!(spec.active);
        let SourceSpec::Syslog(settings) = spec.source else {
            panic!("a syslog source");
        };
        assert!(settings.lift_message_fields);
        let unknown = serde_json::from_str::<DatasetSpec>(
            r#"{"tenant_id":"a","dataset_id":"fw","source":{"plugin":"syslog","settings":{}},"colour":1}"#,
        );
        assert!(unknown.is_err());
    }
}
