use object_store::aws::AmazonS3Builder;
use serde::{Deserialize, Serialize};

/// `kind = "s3"`: the three buckets in any S3-compatible store (AWS, MinIO, Ceph, moto).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The store's URL, e.g. `http://127.0.0.1:9000` for MinIO; absent: AWS itself.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Default `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    pub intake_bucket: String,
    pub piper_bucket: String,
    pub packer_bucket: String,
    /// Credentials; when absent they come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
    /// (and `AWS_SESSION_TOKEN`) in the environment, as with the AWS tools.
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Path-style URLs (`endpoint/bucket/key`), which MinIO and most self-hosted stores need.
    /// Default true when an endpoint is set.
    #[serde(default)]
    pub path_style: Option<bool>,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

impl S3Settings {
    pub(crate) fn builder(&self, bucket: &str) -> AmazonS3Builder {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&self.region);
        if let Some(endpoint) = &self.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(!self.path_style.unwrap_or(true));
        } else if let Some(path_style) = self.path_style {
            builder = builder.with_virtual_hosted_style_request(!path_style);
        }
        if let Some(key) = &self.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        builder
    }
}
