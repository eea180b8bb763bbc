-- Per-dataset packer thresholds (JSON, `{}` when the packer's defaults apply).
ALTER TABLE datasets ADD COLUMN packer TEXT NOT NULL DEFAULT '{}';
