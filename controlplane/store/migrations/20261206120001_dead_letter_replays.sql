-- Dead-letter replays users asked for (`POST .../dead-letters/replay`). The control plane never
-- moves data objects: the stages that keep dead letters (piper, packer) receive pending requests
-- in their configuration, carry them out, and report each in an Activity event, recorded here.
CREATE TABLE dead_letter_replays (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    -- NULL: every dead letter of the dataset.
    batch_id TEXT,
    requested_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX dead_letter_replays_dataset ON dead_letter_replays (tenant_id, dataset_id, id);

CREATE TABLE dead_letter_replay_results (
    replay_id TEXT NOT NULL REFERENCES dead_letter_replays (id),
    stage TEXT NOT NULL,
    replayed BIGINT NOT NULL,
    instance_id TEXT NOT NULL,
    completed_at TEXT NOT NULL,
    PRIMARY KEY (replay_id, stage)
);
