//! The pipeline format users write, as it travels between the control plane (which stores and
//! validates it) and piper (which compiles and runs it with `bytefreezer-transform`). Kept here
//! as plain serde types so the control store reads and writes pipelines without the engine.

use serde::{Deserialize, Serialize};

/// A dataset's transformation pipeline as users write it:
/// `{"filters":[{"type":"drop","config":{"condition":"action == 'deny'"}}]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    #[serde(default)]
    pub filters: Vec<FilterSpec>,
}

/// One step of a pipeline. `condition`, when present, limits the filter to matching rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub config: serde_json::Value,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

fn enabled_by_default() -> bool {
    true
}

/// A short, stable name for a pipeline's content (the first 12 hex digits of the SHA-256 of its
/// JSON), shown next to saved pipelines and in piper's logs so a change can be traced to the
/// data it shaped.
pub fn pipeline_version(spec: &PipelineSpec) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(spec).unwrap_or_default();
    hex::encode(Sha256::digest(&json))[..12].to_owned()
}
