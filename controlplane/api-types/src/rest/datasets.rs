use serde::{Deserialize, Serialize};

use crate::dataset::{DatasetSpec, Destination, PackerThresholds, SourceSpec};
use crate::pipeline::PipelineSpec;

/// A dataset as the control plane keeps and answers it: the spec services run plus who runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    #[serde(flatten)]
    pub spec: DatasetSpec,
    /// The proxy instance that runs this dataset; `None`: every proxy of the scope.
    pub assigned_proxy: Option<String>,
}

impl DatasetRecord {
    /// The record with its pipeline's secrets (HMAC keys) redacted: what the audit log keeps
    /// and what readers who may not change the dataset see.
    pub fn redacted(&self) -> DatasetRecord {
        DatasetRecord {
            spec: self.spec.redacted(),
            assigned_proxy: self.assigned_proxy.clone(),
        }
    }
}

/// A dataset as created (`POST /api/v1/tenants/{tenant}/datasets`) or replaced (`PUT` on the
/// dataset); the tenant comes from the path. A replacement sets every field: what it leaves
/// out takes its default, not its current value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DatasetRequest {
    /// Required when creating; must match the path when replacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
    /// Empty: the dataset id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub source: SourceSpec,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub pipeline: PipelineSpec,
    #[serde(default)]
    pub testing: bool,
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// Per-dataset `max_file_bytes` / `max_age_secs` for packer; absent: packer's defaults.
    #[serde(default, skip_serializing_if = "PackerThresholds::is_unset")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub packer: PackerThresholds,
    /// `{"bucket": name from [packer.destinations], "prefix": "a/b"}`; absent: the packer
    /// bucket at the standard path.
    #[serde(default, skip_serializing_if = "Destination::is_default")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub destination: Destination,
}

fn active_by_default() -> bool {
    true
}

impl DatasetRequest {
    /// The request that replaces a dataset with `record` as it is: the start of an update
    /// that changes only some fields.
    pub fn replacing(record: &DatasetRecord) -> DatasetRequest {
        let spec = record.spec.clone();
        DatasetRequest {
            dataset_id: None,
            name: spec.name,
            source: spec.source,
            pipeline: spec.pipeline,
            testing: spec.testing,
            active: spec.active,
            packer: spec.packer,
            destination: spec.destination,
        }
    }
}

/// `PUT /api/v1/tenants/{tenant}/datasets/{dataset}/assignment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignmentRequest {
    /// A proxy instance id, or null for every proxy of the scope.
    pub proxy: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_record_turns_into_the_request_that_replaces_it_unchanged() {
        let record: DatasetRecord = serde_json::from_value(json!({
            "tenant_id": "acme", "dataset_id": "fw", "name": "Firewall",
            "source": {"plugin": "netflow", "settings": {"bind": "127.0.0.1:2055"}},
            "pipeline": {"filters": [{"type": "drop", "config": {"condition": "a == 1"}}]},
            "testing": true, "active": false, "assigned_proxy": "proxy-1",
            "packer": {"max_age_secs": 60}, "destination": {"prefix": "site-7"}
        }))
        .unwrap();
        let request = DatasetRequest::replacing(&record);
        let sent = serde_json::to_value(&request).unwrap();
        assert_eq!(sent["destination"], json!({"prefix": "site-7"}));
        assert_eq!(sent["packer"], json!({"max_age_secs": 60}));
        assert!(sent.get("dataset_id").is_none(), "{sent}");
        let decoded: DatasetRequest = serde_json::from_value(sent).unwrap();
        assert_eq!(decoded, request);
    }

    #[test]
    fn left_out_fields_take_their_defaults_and_null_unassigns() {
        let request: DatasetRequest = serde_json::from_value(json!({
            "dataset_id": "fw",
            "source": {"plugin": "syslog", "settings": {}}
        }))
        .unwrap();
        assert!(request.active && !request.testing && request.name.is_empty());
        assert!(request.pipeline.filters.is_empty());
        let unassign = AssignmentRequest { proxy: None };
        assert_eq!(
            serde_json::to_value(&unassign).unwrap(),
            json!({"proxy": null})
        );
    }
}
