//! Parquet of two tenants (`t` and `u`, dataset `fw`) for the limit tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::record_batch::RecordBatch;
use bytefreezer_query::QueryEngine;
use bytefreezer_storage::Bucket;
use parquet::arrow::ArrowWriter;

/// Counts about 9.2 * 10^18 generated rows: runs until cancelled.
pub const ENDLESS: &str = "SELECT count(*) FROM generate_series(1, 9223372036854775806)";

pub fn write_parquet(root: &Path, tenant: &str, dataset: &str) {
    let folder = root.join(format!(
        "{tenant}/{dataset}/data/parquet/year=2026/month=11/day=29/hour=09"
    ));
    std::fs::create_dir_all(&folder).unwrap();
    let batch = RecordBatch::try_from_iter([(
        "action",
        Arc::new(StringArray::from(vec!["allow", "deny"])) as ArrayRef,
    )])
    .unwrap();
    let file = std::fs::File::create(folder.join("part-0.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

pub fn two_tenants() -> (tempfile::TempDir, QueryEngine) {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(dir.path(), "t", "fw");
    write_parquet(dir.path(), "u", "fw");
    let bucket = Bucket::local("packer", dir.path().to_owned()).unwrap();
    (dir, QueryEngine::new(bucket, 2))
}
