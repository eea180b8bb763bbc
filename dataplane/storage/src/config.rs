use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::bucket::{Bucket, StorageError};
use crate::s3::S3Settings;

/// Where the three buckets live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StorageConfig {
    /// A local folder holding `intake/`, `piper/` and `packer/`. Default `./bytefreezer-data/buckets`.
    Local {
        #[serde(default = "default_local_root")]
        root: PathBuf,
    },
    /// Three buckets of an S3-compatible store; see [`S3Settings`].
    S3(S3Settings),
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig::Local {
            root: default_local_root(),
        }
    }
}

fn default_local_root() -> PathBuf {
    PathBuf::from("bytefreezer-data/buckets")
}

/// The intake, piper and packer buckets of one deployment.
#[derive(Clone, Debug)]
pub struct Buckets {
    pub intake: Bucket,
    pub piper: Bucket,
    pub packer: Bucket,
}

impl Buckets {
    pub fn open(config: &StorageConfig) -> Result<Buckets, StorageError> {
        match config {
            StorageConfig::Local { root } => Ok(Buckets {
                intake: Bucket::local("intake", root.join("intake"))?,
                piper: Bucket::local("piper", root.join("piper"))?,
                packer: Bucket::local("packer", root.join("packer"))?,
            }),
            StorageConfig::S3(settings) => Ok(Buckets {
                intake: Bucket::s3("intake", &settings.intake_bucket, settings)?,
                piper: Bucket::s3("piper", &settings.piper_bucket, settings)?,
                packer: Bucket::s3("packer", &settings.packer_bucket, settings)?,
            }),
        }
    }
}
