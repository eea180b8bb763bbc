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
