#[path = "../../storage/tests/support/moto.rs"]
mod moto;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;
use bytefreezer_api::{
    DataPlaneConfig, DatasetSpec, Destination, PackerThresholds, SourceSpec, SyslogSourceSettings,
};
use bytefreezer_layout::{
    HourPartition, packed_marker_object, packer_plan_object, parquet_object, piper_object,
};
use bytefreezer_packer::{Packer, PackerConfig};
use bytefreezer_schema::encode_ipc;
use bytefreezer_storage::{Buckets, DestinationConfig, StorageConfig};
use bytefreezer_telemetry::Registry;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const HOUR_START: i64 = 1_795_000_000_000_000 / 3_600_000_000 * 3_600_000_000;

fn hour() -> HourPartition {
    HourPartition::from_unix_micros(HOUR_START).unwrap()
}

fn packer(buckets: &Buckets, holder: &str, testing: bool, config: PackerConfig) -> Packer {
    packer_with(
        buckets,
        holder,
        testing,
        config,
        PackerThresholds::default(),
    )
}

fn packer_with(
    buckets: &Buckets,
    holder: &str,
    testing: bool,
    config: PackerConfig,
    thresholds: PackerThresholds,
) -> Packer {
    packer_for(buckets, holder, config, |dataset| {
        dataset.testing = testing;
        dataset.packer = thresholds;
    })
}

fn packer_for(
    buckets: &Buckets,
    holder: &str,
    config: PackerConfig,
    shape: impl FnOnce(&mut DatasetSpec),
) -> Packer {
    let mut dataset = DatasetSpec {
        tenant_id: "t".into(),
        dataset_id: "d".into(),
        name: "d".into(),
        source: SourceSpec::Syslog(SyslogSourceSettings::default()),
        pipeline: Default::default(),
        testing: false,
        active: true,
        packer: PackerThresholds::default(),
        destination: Default::default(),
    };
    shape(&mut dataset);
    let (sender, receiver) = tokio::sync::watch::channel(Arc::new(DataPlaneConfig {
        datasets: vec![dataset],
        ingest_keys: vec![],
        dead_letter_replays: vec![],
    }));
    std::mem::forget(sender);
    Packer::new(
        config,
        buckets.clone(),
        receiver,
        holder.into(),
        Registry::new(),
    )
}

fn batch(ids: std::ops::Range<i64>, extra: Option<(&str, ArrayRef)>) -> RecordBatch {
    let len = ids.clone().count();
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        (
            "receive_time",
            Arc::new(
                TimestampMicrosecondArray::from(vec![HOUR_START + 1; len]).with_timezone("UTC"),
            ),
        ),
        ("id", Arc::new(Int64Array::from_iter_values(ids))),
    ];
    columns.extend(extra);
    RecordBatch::try_from_iter(columns).unwrap()
}

async fn put_input(buckets: &Buckets, batch_id: &str, batch: RecordBatch) -> String {
    let key = piper_object("t", "d", &hour(), batch_id);
    buckets
        .piper
        .put(&key, Bytes::from(encode_ipc(&[batch]).unwrap()))
        .await
        .unwrap();
    key
}

fn parquet_files(buckets: &Buckets) -> Vec<std::path::PathBuf> {
    let root = buckets
        .packer
        .local_root()
        .unwrap()
        .join("t/d/data/parquet");
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else if entry.path().extension().is_some_and(|e| e == "parquet") {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

fn read_all(files: &[std::path::PathBuf]) -> Vec<RecordBatch> {
    files
        .iter()
        .flat_map(|file| {
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
        })
        .collect()
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("id")
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    ids.sort_unstable();
    ids
}

fn buckets() -> (tempfile::TempDir, Buckets) {
    let dir = tempfile::tempdir().unwrap();
    let buckets = Buckets::open(&StorageConfig::Local {
        root: dir.path().into(),
    })
    .unwrap();
    (dir, buckets)
}

#[tokio::test]
async fn testing_mode_writes_one_zstd_parquet_at_the_documented_path() {
    let (_dir, buckets) = buckets();
    put_input(&buckets, "b1", batch(0..100, None)).await;
    put_input(&buckets, "b2", batch(100..150, None)).await;
    let cycle = packer(&buckets, "a", true, PackerConfig::default())
        .run_once()
        .await
        .unwrap();
    assert_eq!(
        (cycle.files_written, cycle.rows_written, cycle.inputs_packed),
        (1, 150, 2)
    );
    let files = parquet_files(&buckets);
    assert_eq!(files.len(), 1);
    let relative = files[0]
        .strip_prefix(buckets.packer.local_root().unwrap())
        .unwrap()
        .display()
        .to_string();
    let h = hour();
    assert!(
        relative.starts_with(&format!(
            "t/d/data/parquet/year={:04}/month={:02}/day={:02}/hour={:02}/",
            h.year, h.month, h.day, h.hour
        )),
        "{relative}"
    );
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&files[0]).unwrap()).unwrap();
    let column = reader.metadata().row_group(0).column(1);
    assert!(matches!(
        column.compression(),
        parquet::basic::Compression::ZSTD(_)
    ));
    assert!(column.statistics().is_some());
    assert_eq!(ids(&read_all(&files)), (0..150).collect::<Vec<_>>());
    assert!(
        buckets.piper.list("t/").await.unwrap().is_empty(),
        "inputs deleted"
    );
    assert!(
        buckets
            .packer
            .list("_bytefreezer/plans/")
            .await
            .unwrap()
            .is_empty(),
        "plan deleted"
    );
    let mut markers: Vec<String> = buckets
        .packer
        .list("_bytefreezer/packed/")
        .await
        .unwrap()
        .into_iter()
        .map(|marker| marker.key)
        .collect();
    markers.sort();
    let packed = ["b1", "b2"].map(|b| packed_marker_object(&piper_object("t", "d", &hour(), b)));
    assert_eq!(markers, packed, "a marker per packed input");
}

#[tokio::test]
async fn schemas_merge_and_conflicts_widen_without_losing_values() {
    let (_dir, buckets) = buckets();
    put_input(
        &buckets,
        "b1",
        batch(
            0..2,
            Some(("port", Arc::new(Int64Array::from(vec![80, 443])))),
        ),
    )
    .await;
    put_input(
        &buckets,
        "b2",
        batch(
            2..4,
            Some(("port", Arc::new(StringArray::from(vec!["http", "ssh"])))),
        ),
    )
    .await;
    put_input(
        &buckets,
        "b3",
        batch(
            4..5,
            Some(("user", Arc::new(StringArray::from(vec!["bob"])))),
        ),
    )
    .await;
    packer(&buckets, "a", true, PackerConfig::default())
        .run_once()
        .await
        .unwrap();
    let batches = read_all(&parquet_files(&buckets));
    let schema = batches[0].schema();
    assert_eq!(
        schema.field_with_name("port").unwrap().data_type(),
        &DataType::Utf8
    );
    let mut ports: Vec<Option<String>> = Vec::new();
    for batch in &batches {
        let port = batch.column_by_name("port").unwrap().as_string::<i32>();
        ports.extend((0..port.len()).map(|i| port.is_valid(i).then(|| port.value(i).to_owned())));
    }
    ports.sort();
    assert_eq!(
        ports,
        vec![
            None,
            Some("443".into()),
            Some("80".into()),
            Some("http".into()),
            Some("ssh".into())
        ]
    );
    assert_eq!(ids(&batches), vec![0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn production_mode_waits_for_age_or_size() {
    let (_dir, buckets) = buckets();
    for n in 0..4 {
        put_input(&buckets, &format!("b{n}"), batch(n * 10..n * 10 + 10, None)).await;
    }
    let cycle = packer(&buckets, "a", false, PackerConfig::default())
        .run_once()
        .await
        .unwrap();
    assert_eq!(cycle.files_written, 0, "young and small partitions wait");
    let tiny = PackerConfig {
        max_file_bytes: 1,
        ..PackerConfig::default()
    };
    let cycle = packer(&buckets, "a", false, tiny).run_once().await.unwrap();
    assert_eq!(
        (cycle.files_written, cycle.rows_written),
        (4, 40),
        "each input over the size budget is its own file"
    );
    put_input(&buckets, "b9", batch(90..95, None)).await;
    let aged = PackerConfig {
        max_age_secs: 0,
        ..PackerConfig::default()
    };
    assert_eq!(
        packer(&buckets, "a", false, aged)
            .run_once()
            .await
            .unwrap()
            .rows_written,
        5
    );
}

#[tokio::test]
async fn a_dataset_s_own_thresholds_override_the_packer_s_and_open_partitions_are_shown() {
    let (_dir, buckets) = buckets();
    put_input(&buckets, "b1", batch(0..10, None)).await;
    let defaults = packer(&buckets, "a", false, PackerConfig::default());
    assert_eq!(defaults.run_once().await.unwrap().files_written, 0);
    let open = defaults.open_partitions().lock().unwrap().clone();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (
            open[0].objects,
            open[0].partition.as_str(),
            open[0].flush_at_bytes
        ),
        (1, hour().path_segment().as_str(), 128 * 1024 * 1024)
    );
    assert!(open[0].flush_in_secs > 1100, "{:?}", open[0]);
    let quick = PackerThresholds {
        max_age_secs: Some(1),
        max_file_bytes: None,
    };
    let overridden = packer_with(&buckets, "a", false, PackerConfig::default(), quick);
    assert_eq!(
        overridden.run_once().await.unwrap().files_written,
        0,
        "not 1 s old yet"
    );
    assert!(overridden.open_partitions().lock().unwrap()[0].flush_in_secs <= 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let cycle = overridden.run_once().await.unwrap();
    assert_eq!((cycle.files_written, cycle.rows_written), (1, 10));
    assert!(overridden.open_partitions().lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_dataset_destination_chooses_the_bucket_and_prefix_and_an_unknown_bucket_loses_nothing() {
    let (dir, buckets) = buckets();
    put_input(&buckets, "b1", batch(0..7, None)).await;
    let archive = dir.path().join("archive");
    let to_archive = |dataset: &mut DatasetSpec| {
        dataset.testing = true;
        dataset.destination = Destination {
            bucket: Some("archive".into()),
            prefix: Some("site-7/fw".into()),
        };
    };
    let unconfigured = packer_for(&buckets, "a", PackerConfig::default(), to_archive);
    assert!(unconfigured.run_once().await.is_ok());
    assert!(parquet_files(&buckets).is_empty());
    assert!(!archive.exists());
    let waiting = buckets.piper.list("").await.unwrap();
    assert!(
        waiting.iter().any(|o| o.key.ends_with("b1.arrows")),
        "the input stays until the bucket exists: {waiting:?}"
    );
    let configured = PackerConfig {
        destinations: [(
            "archive".to_owned(),
            DestinationConfig::Folder(archive.clone()),
        )]
        .into(),
        ..PackerConfig::default()
    };
    let cycle = packer_for(&buckets, "a", configured, to_archive)
        .run_once()
        .await
        .unwrap();
    assert_eq!(
        (cycle.files_written, cycle.rows_written),
        (1, 7),
        "the waiting plan completes: {cycle:?}"
    );
    let folder = archive
        .join("site-7/fw/t/d/data/parquet")
        .join(hour().path_segment());
    let files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{folder:?}");
    assert_eq!(ids(&read_all(&files)), (0..7).collect::<Vec<_>>());
    assert!(
        parquet_files(&buckets).is_empty(),
        "nothing in the packer bucket"
    );
}

/// The proxy resends a batch whose 201 it never saw, or piper transforms an intake object again
/// after a crash: the same piper object is written after it was packed and deleted.
#[tokio::test]
async fn an_input_written_again_after_it_was_packed_is_dropped_not_packed_twice() {
    let (_dir, buckets) = buckets();
    let (packer, registry, _config) = observed_packer(&buckets, PackerConfig::default());
    put_input(&buckets, "b1", batch(0..10, None)).await;
    assert_eq!(packer.run_once().await.unwrap().files_written, 1);
    put_input(&buckets, "b1", batch(0..10, None)).await;
    put_input(&buckets, "b2", batch(10..15, None)).await;
    let cycle = packer.run_once().await.unwrap();
    assert_eq!(
        (cycle.redelivered, cycle.files_written, cycle.rows_written),
        (1, 1, 5),
        "{cycle:?}"
    );
    assert_eq!(
        ids(&read_all(&parquet_files(&buckets))),
        (0..15).collect::<Vec<_>>()
    );
    assert!(buckets.piper.list("t/").await.unwrap().is_empty());
    let redelivered = registry.counter(
        "bytefreezer_packer_inputs_redelivered_total",
        "",
        &[("tenant", "t"), ("dataset", "d")],
    );
    assert_eq!(redelivered.get(), 1);
}

/// A named destination may be one S3 bucket (moto's real server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_destination_may_be_an_s3_bucket() {
    let (_dir, buckets) = buckets();
    let moto = moto::Moto::start();
    moto.create_buckets(&["bf-cold"]);
    put_input(&buckets, "b1", batch(0..7, None)).await;
    let cold: DestinationConfig = toml::from_str::<std::collections::BTreeMap<String, DestinationConfig>>(
        &format!(
            "cold = {{ bucket = \"bf-cold\", endpoint = \"{}\", access_key_id = \"test\", secret_access_key = \"test\" }}",
            moto.endpoint
        ),
    )
    .unwrap()
    .remove("cold")
    .unwrap();
    let config = PackerConfig {
        destinations: [("cold".to_owned(), cold.clone())].into(),
        ..PackerConfig::default()
    };
    let cycle = packer_for(&buckets, "a", config, |dataset| {
        dataset.testing = true;
        dataset.destination = Destination {
            bucket: Some("cold".into()),
            prefix: None,
        };
    })
    .run_once()
    .await
    .unwrap();
    assert_eq!((cycle.files_written, cycle.rows_written), (1, 7));
    let bucket = cold.open("cold").unwrap();
    let files = bucket.list("t/d/data/parquet/").await.unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    let bytes = bucket.get(&files[0].key).await.unwrap().unwrap();
    let rows: usize = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap()
        .map(|batch| batch.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 7);
    assert!(parquet_files(&buckets).is_empty());
}

#[tokio::test]
async fn recovery_finishes_a_plan_whose_file_was_written() {
    let (_dir, buckets) = buckets();
    let k1 = put_input(&buckets, "b1", batch(0..10, None)).await;
    packer(&buckets, "a", true, PackerConfig::default())
        .run_once()
        .await
        .unwrap();
    let files = parquet_files(&buckets);
    assert_eq!(files.len(), 1);
    // Simulate the crash: the plan and the input are back as they were before the deletes.
    let file_id = files[0].file_stem().unwrap().to_str().unwrap().to_owned();
    let plan = serde_json::json!({"tenant_id":"t","dataset_id":"d","hour":hour().path_segment(),"file_id":file_id,"inputs":[k1]});
    buckets
        .packer
        .put(
            &packer_plan_object("t", "d", &hour(), &file_id),
            Bytes::from(plan.to_string()),
        )
        .await
        .unwrap();
    put_input(&buckets, "b1", batch(0..10, None)).await;
    let cycle = packer(&buckets, "a", true, PackerConfig::default())
        .run_once()
        .await
        .unwrap();
    assert_eq!((cycle.plans_recovered, cycle.files_written), (1, 0));
    assert_eq!(parquet_files(&buckets).len(), 1);
    assert_eq!(
        ids(&read_all(&parquet_files(&buckets))),
        (0..10).collect::<Vec<_>>()
    );
    assert!(buckets.piper.list("t/").await.unwrap().is_empty());
}

#[tokio::test]
async fn recovery_writes_exactly_the_planned_inputs() {
    let (_dir, buckets) = buckets();
    let k1 = put_input(&buckets, "b1", batch(0..10, None)).await;
    let plan = serde_json::json!({"tenant_id":"t","dataset_id":"d","hour":hour().path_segment(),"file_id":"planned","inputs":[k1]});
    buckets
        .packer
        .put(
            &packer_plan_object("t", "d", &hour(), "planned"),
            Bytes::from(plan.to_string()),
        )
        .await
        .unwrap();
    put_input(&buckets, "b2", batch(10..15, None)).await;
    let cycle = packer(&buckets, "a", true, PackerConfig::default())
        .run_once()
        .await
        .unwrap();
    assert_eq!(cycle.plans_recovered, 1);
    let planned =
        buckets
            .packer
            .local_root()
            .unwrap()
            .join(parquet_object("t", "d", &hour(), "planned"));
    assert_eq!(ids(&read_all(&[planned])), (0..10).collect::<Vec<_>>());
    assert_eq!(parquet_files(&buckets).len(), 2);
    assert_eq!(
        ids(&read_all(&parquet_files(&buckets))),
        (0..15).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_packers_never_pack_an_input_twice() {
    let (_dir, buckets) = buckets();
    let a = packer(&buckets, "a", true, PackerConfig::default());
    let b = packer(&buckets, "b", true, PackerConfig::default());
    for round in 0..10i64 {
        for n in 0..5 {
            let first = (round * 5 + n) * 10;
            put_input(
                &buckets,
                &format!("r{round:02}n{n}"),
                batch(first..first + 10, None),
            )
            .await;
        }
        let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
        ra.unwrap();
        rb.unwrap();
    }
    a.run_once().await.unwrap();
    assert_eq!(
        ids(&read_all(&parquet_files(&buckets))),
        (0..500).collect::<Vec<_>>()
    );
}

/// A packer whose registry and configuration the test keeps.
fn observed_packer(
    buckets: &Buckets,
    config: PackerConfig,
) -> (
    Packer,
    Registry,
    tokio::sync::watch::Sender<Arc<DataPlaneConfig>>,
) {
    let dataset = DatasetSpec {
        tenant_id: "t".into(),
        dataset_id: "d".into(),
        name: "d".into(),
        source: SourceSpec::Syslog(SyslogSourceSettings::default()),
        pipeline: Default::default(),
        testing: true,
        active: true,
        packer: PackerThresholds::default(),
        destination: Default::default(),
    };
    let (sender, receiver) = tokio::sync::watch::channel(Arc::new(DataPlaneConfig {
        datasets: vec![dataset],
        ingest_keys: vec![],
        dead_letter_replays: vec![],
    }));
    let registry = Registry::new();
    let packer = Packer::new(
        config,
        buckets.clone(),
        receiver,
        "a".into(),
        registry.clone(),
    );
    (packer, registry, sender)
}

fn failing_fast() -> PackerConfig {
    PackerConfig {
        max_attempts: 3,
        retry_backoff_ms: 0,
        retry_backoff_max_ms: 0,
        ..PackerConfig::default()
    }
}

/// Rows with a column Parquet cannot store (a struct without fields): the file that contains
/// them cannot be written, whatever else is in it.
fn plan_breaking_batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let len = ids.clone().count();
    let empty = arrow::array::StructArray::new_empty_fields(len, None);
    batch(ids, Some(("payload", Arc::new(empty) as ArrayRef)))
}

fn dead_letter_of(batch_id: &str) -> (String, String) {
    let input =
        bytefreezer_layout::parse_piper_object(&piper_object("t", "d", &hour(), batch_id)).unwrap();
    let key = bytefreezer_layout::DeadLetterObject::of_piper_object(&input).key();
    let reason = bytefreezer_layout::dead_letter_reason_object(&key);
    (key, reason)
}

async fn reason_of(buckets: &Buckets, batch_id: &str) -> serde_json::Value {
    let (_, reason) = dead_letter_of(batch_id);
    let bytes = buckets
        .piper
        .get(&reason)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{reason} is there"));
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn unreadable_and_plan_breaking_inputs_are_dead_lettered_and_the_rest_packed() {
    let (_dir, buckets) = buckets();
    put_input(&buckets, "b1", batch(0..3, None)).await;
    let garbage = piper_object("t", "d", &hour(), "b2");
    buckets
        .piper
        .put(&garbage, Bytes::from_static(b"garbage"))
        .await
        .unwrap();
    let breaking = put_input(&buckets, "b3", plan_breaking_batch(100..102)).await;
    put_input(&buckets, "b4", batch(3..6, None)).await;
    put_input(&buckets, "b5", batch(6..9, None)).await;
    let (packer, registry, _config) = observed_packer(&buckets, failing_fast());
    let mut passes = 0;
    let mut dead_lettered = 0;
    while passes < 20 && dead_lettered < 2 {
        dead_lettered += packer.run_once().await.unwrap().dead_lettered;
        passes += 1;
    }
    assert_eq!(dead_lettered, 2, "after {passes} passes");
    // The good rows are in Parquet, once each; the bad ones are not.
    assert_eq!(
        ids(&read_all(&parquet_files(&buckets))),
        (0..9).collect::<Vec<_>>()
    );
    for (batch_id, source) in [("b2", &garbage), ("b3", &breaking)] {
        let (dead_letter, _) = dead_letter_of(batch_id);
        assert!(
            buckets.piper.exists(&dead_letter).await.unwrap(),
            "{batch_id}"
        );
        assert!(!buckets.piper.exists(source).await.unwrap(), "{source}");
    }
    let unreadable = reason_of(&buckets, "b2").await;
    assert_eq!(
        (
            unreadable["stage"].as_str(),
            unreadable["reason"].as_str(),
            unreadable["attempts"].as_u64()
        ),
        (Some("packer"), Some("unreadable"), Some(1))
    );
    let broken = reason_of(&buckets, "b3").await;
    assert_eq!(
        (broken["reason"].as_str(), broken["attempts"].as_u64()),
        (Some("plan"), Some(3))
    );
    assert!(
        broken["message"]
            .as_str()
            .unwrap()
            .contains("empty structs"),
        "{broken}"
    );
    // Bounded: one failed file with everything in it, then the culprit alone twice.
    let metrics = registry.render();
    assert!(
        metrics.contains(r#"bytefreezer_packer_errors_total{tenant="t",dataset="d"} 3"#),
        "{metrics}"
    );
    for reason in ["unreadable", "plan"] {
        assert!(
            metrics.contains(&format!(
                r#"bytefreezer_packer_dead_letters_total{{tenant="t",dataset="d",reason="{reason}"}} 1"#
            )),
            "{metrics}"
        );
    }
    let errors = registry
        .activity()
        .recent(100)
        .into_iter()
        .filter(|e| e.outcome == "error")
        .count();
    assert!(errors < 10, "{errors} error events");
    assert!(
        buckets
            .packer
            .list("_bytefreezer/plans/")
            .await
            .unwrap()
            .is_empty(),
        "no failed plan is left to be retried forever"
    );
    assert!(
        buckets
            .piper
            .list("_bytefreezer/attempts/")
            .await
            .unwrap()
            .is_empty(),
        "no attempt count outlives its input"
    );
    let idle = packer.run_once().await.unwrap();
    assert_eq!((idle.plans_failed, idle.files_written), (0, 0));
    assert!(
        registry
            .render()
            .contains(r#"bytefreezer_packer_dead_letters_waiting{tenant="t",dataset="d"} 2"#)
    );
}

#[tokio::test]
async fn attempt_counts_survive_restarts_of_the_packer() {
    let (_dir, buckets) = buckets();
    let breaking = put_input(&buckets, "b1", plan_breaking_batch(0..2)).await;
    for restart in 1..=2 {
        // A new packer each pass, as after a crash: only the bucket remembers.
        let (packer, _, _config) = observed_packer(&buckets, failing_fast());
        let cycle = packer.run_once().await.unwrap();
        assert_eq!(
            (cycle.plans_failed, cycle.dead_lettered),
            (1, 0),
            "pass {restart}"
        );
    }
    let (packer, _, _config) = observed_packer(&buckets, failing_fast());
    let cycle = packer.run_once().await.unwrap();
    assert_eq!(cycle.dead_lettered, 1, "the third attempt gives up");
    assert_eq!(
        reason_of(&buckets, "b1").await["attempts"].as_u64(),
        Some(3)
    );
    assert!(!buckets.piper.exists(&breaking).await.unwrap());
    assert!(
        buckets
            .piper
            .list("_bytefreezer/attempts/")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_replay_request_puts_a_dead_letter_back_and_it_is_packed_once() {
    let (_dir, buckets) = buckets();
    let garbage = piper_object("t", "d", &hour(), "b1");
    buckets
        .piper
        .put(&garbage, Bytes::from_static(b"garbage"))
        .await
        .unwrap();
    let (packer, registry, config) = observed_packer(&buckets, failing_fast());
    assert_eq!(packer.run_once().await.unwrap().dead_lettered, 1);
    // Someone repairs the object where it waits, then asks for a replay.
    let (dead_letter, _) = dead_letter_of("b1");
    buckets
        .piper
        .put(
            &dead_letter,
            Bytes::from(encode_ipc(&[batch(0..4, None)]).unwrap()),
        )
        .await
        .unwrap();
    let mut next = (**config.borrow()).clone();
    next.dead_letter_replays = vec![bytefreezer_api::DeadLetterReplay {
        id: "r1".into(),
        tenant_id: "t".into(),
        dataset_id: "d".into(),
        batch_id: None,
        stages: vec!["piper".into(), "packer".into()],
    }];
    config.send_replace(Arc::new(next));
    for _ in 0..3 {
        packer.run_once().await.unwrap();
    }
    assert_eq!(
        ids(&read_all(&parquet_files(&buckets))),
        vec![0, 1, 2, 3],
        "packed once, though the request stays in the configuration"
    );
    assert!(!buckets.piper.exists(&dead_letter).await.unwrap());
    let replays: Vec<_> = registry
        .activity()
        .recent(100)
        .into_iter()
        .filter_map(|e| bytefreezer_api::ReplayDone::from_details(&e.details))
        .collect();
    assert_eq!(
        replays,
        [bytefreezer_api::ReplayDone {
            replay_id: "r1".into(),
            stage: "packer".into(),
            replayed: 1
        }]
    );
}
