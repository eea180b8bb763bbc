use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::bucket::{Bucket, StorageError};
use crate::s3::S3Settings;

/// A named bucket a dataset's `destination.bucket` may choose instead of the packer bucket:
/// a local folder (`archive = "/mnt/archive"`) or one bucket of an S3-compatible store
/// (`archive = { bucket = "bf-archive", endpoint = "http://minio:9000" }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DestinationConfig {
    Folder(PathBuf),
    S3(S3Destination),
}

/// One S3 bucket: the same keys as `[storage]` with `kind = "s3"`, but one `bucket`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Destination {
    pub bucket: String,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
    #[serde(default)]
    pub path_style: Option<bool>,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

impl DestinationConfig {
    /// The bucket, named `name` in messages.
    pub fn open(&self, name: &str) -> Result<Bucket, StorageError> {
        match self {
            DestinationConfig::Folder(root) => Bucket::local(name, root.clone()),
            DestinationConfig::S3(s3) => {
                let settings = S3Settings {
                    endpoint: s3.endpoint.clone(),
                    region: s3.region.clone(),
                    intake_bucket: s3.bucket.clone(),
                    piper_bucket: s3.bucket.clone(),
                    packer_bucket: s3.bucket.clone(),
                    access_key_id: s3.access_key_id.clone(),
                    secret_access_key: s3.secret_access_key.clone(),
                    path_style: s3.path_style,
                };
                Bucket::s3(name, &s3.bucket, &settings)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_destination_is_a_folder_or_one_s3_bucket_and_typos_are_refused() {
        let parsed: BTreeMap<String, DestinationConfig> = toml::from_str(
            "archive = \"/mnt/archive\"\n\
             cold = { bucket = \"bf-cold\", endpoint = \"http://127.0.0.1:9000\" }\n",
        )
        .unwrap();
        assert_eq!(
            parsed["archive"],
            DestinationConfig::Folder("/mnt/archive".into())
        );
        let DestinationConfig::S3(cold) = &parsed["cold"] else {
            panic!("cold is an S3 bucket: {parsed:?}");
        };
        assert_eq!(cold.bucket, "bf-cold");
        assert_eq!(cold.region, "us-east-1");
        assert!(parsed["cold"].open("cold").is_ok());
        let typo = toml::from_str::<BTreeMap<String, DestinationConfig>>(
            "cold = { bucket = \"bf-cold\", endpiont = \"http://x\" }\n",
        );
        assert!(typo.is_err());
    }
}
