//! Parquet of two tenants (`t` and `u`, dataset `fw`) for the limit tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::record_batch::RecordBatch;
use bytefreezer_api::{
    DataPlaneConfig, DatasetSpec, IngestKey, SourceSpec, SyslogSourceSettings, hash_api_key,
};
use bytefreezer_query::{QueryConfig, QueryEngine, QueryService};
use bytefreezer_storage::Bucket;
use bytefreezer_telemetry::Registry;
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

/// A key of tenant `t`, limited to `dataset` when it names one.
pub fn tenant_key(name: &str, dataset: Option<&str>) -> IngestKey {
    IngestKey {
        name: name.into(),
        key_sha256: hash_api_key(name),
        tenant_id: "t".into(),
        dataset_id: dataset.map(str::to_owned),
    }
}

/// The query service over `engine` on a free local port, knowing tenant `t`'s dataset `fw` and
/// `keys`; its address.
pub async fn serve_fw(
    engine: QueryEngine,
    keys: Vec<IngestKey>,
    registry: &Registry,
) -> SocketAddr {
    let config = DataPlaneConfig {
        datasets: vec![DatasetSpec {
            tenant_id: "t".into(),
            dataset_id: "fw".into(),
            name: "fw".into(),
            source: SourceSpec::Syslog(SyslogSourceSettings::default()),
            pipeline: Default::default(),
            testing: false,
            active: true,
            packer: Default::default(),
            destination: Default::default(),
        }],
        ingest_keys: keys,
        ..Default::default()
    };
    let (_config, datasets) = tokio::sync::watch::channel(Arc::new(config));
    let router =
        QueryService::new(engine, datasets, &QueryConfig::default(), registry.clone()).router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

pub fn two_tenants() -> (tempfile::TempDir, QueryEngine) {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(dir.path(), "t", "fw");
    write_parquet(dir.path(), "u", "fw");
    let bucket = Bucket::local("packer", dir.path().to_owned()).unwrap();
    (dir, QueryEngine::new(bucket, 2))
}
