//! Dead letters across the two planes. The control plane never reads or moves data objects: a
//! user's replay request travels to piper and packer in their [`DataPlaneConfig`], the stage
//! that owns the dead-letter prefix moves the objects back, and its Activity event carrying a
//! [`ReplayDone`] marks the request done. The stages report how many dead letters wait
//! ([`DeadLetterCount`]) with their heartbeat.
//!
//! [`DataPlaneConfig`]: crate::DataPlaneConfig

use serde::{Deserialize, Serialize};

use crate::role::Role;

/// The stages that keep a dead-letter prefix, and so carry out replays.
pub const DEAD_LETTER_STAGES: [Role; 2] = [Role::Piper, Role::Packer];

/// The key, in an Activity event's details, of the [`ReplayDone`] it reports.
pub const REPLAY_DONE_DETAIL: &str = "dead_letter_replay";

/// A replay a stage still has to carry out, as the data-plane configuration delivers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterReplay {
    pub id: String,
    pub tenant_id: String,
    pub dataset_id: String,
    /// Only this batch; `None`: every dead letter of the dataset.
    #[serde(default)]
    pub batch_id: Option<String>,
    /// The stages that have not reported it done: `piper`, `packer`.
    pub stages: Vec<String>,
}

impl DeadLetterReplay {
    pub fn is_pending_for(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }
}

/// What a stage did for one replay request; rides in the details of its Activity event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayDone {
    pub replay_id: String,
    pub stage: String,
    /// Dead letters moved back to the stage's input.
    pub replayed: u64,
}

impl ReplayDone {
    /// The replay an Activity event's details report, if any.
    pub fn from_details(details: &serde_json::Value) -> Option<ReplayDone> {
        serde_json::from_value(details.get(REPLAY_DONE_DETAIL)?.clone()).ok()
    }
}

/// Dead letters waiting in one dataset's prefix of one stage, as that stage last counted them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterCount {
    pub tenant_id: String,
    pub dataset_id: String,
    pub stage: String,
    /// Dead-letter objects (whole inputs, or rows split out of one), reasons not counted.
    pub objects: u64,
}

/// `POST /api/v1/tenants/{tenant}/datasets/{dataset}/dead-letters/replay`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequestBody {
    /// Only this batch (as `dead-letter list` shows it); absent: all of the dataset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
}

/// A replay request as the control plane keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRequest {
    pub id: String,
    pub tenant_id: String,
    pub dataset_id: String,
    pub batch_id: Option<String>,
    pub requested_by: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// `pending` until every stage with a dead-letter prefix reported it, then `done`.
    pub state: String,
    /// The stages that carried it out.
    pub stages: Vec<ReplayStageResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayStageResult {
    pub stage: String,
    pub replayed: u64,
    pub instance_id: String,
    /// RFC 3339 UTC.
    pub completed_at: String,
}

/// `GET /api/v1/tenants/{tenant}/datasets/{dataset}/dead-letters`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLettersView {
    /// Per stage, as last reported by its services (the largest count when several run).
    pub dead_letters: Vec<DeadLetterCount>,
    /// Newest first.
    pub replays: Vec<ReplayRequest>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_rides_in_activity_details_and_reads_back() {
        let done = ReplayDone {
            replay_id: "r1".into(),
            stage: Role::Packer.to_string(),
            replayed: 3,
        };
        let details = serde_json::json!({ "rows": 1, REPLAY_DONE_DETAIL: done });
        assert_eq!(ReplayDone::from_details(&details), Some(done));
        assert_eq!(
            ReplayDone::from_details(&serde_json::json!({"rows": 1})),
            None
        );
        assert_eq!(
            ReplayDone::from_details(&serde_json::json!({ REPLAY_DONE_DETAIL: "x" })),
            None
        );
    }
}
