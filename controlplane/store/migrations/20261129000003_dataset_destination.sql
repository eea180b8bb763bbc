-- Per-dataset Parquet destination (JSON, `{}` for the packer bucket at the standard path).
ALTER TABLE datasets ADD COLUMN destination TEXT NOT NULL DEFAULT '{}';
