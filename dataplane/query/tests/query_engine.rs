//! The query engine over real Parquet files in the packer layout: results, partition pruning
//! shown by the plan, read-only SQL, and the per-query limits.

use std::path::Path;
use std::sync::Arc;

#[path = "../../storage/tests/support/moto.rs"]
mod moto;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use bytefreezer_query::{QueryEngine, QueryError, QueryLimits, QueryOutput};
use bytefreezer_storage::Bucket;
use parquet::arrow::ArrowWriter;

/// Writes one Parquet file under `t/fw/data/parquet/year=2026/month=11/day=29/hour={hour}/`.
fn write_hour(root: &Path, hour: u32, actions: &[&str]) {
    let folder = root.join(format!(
        "t/fw/data/parquet/year=2026/month=11/day=29/hour={hour:02}"
    ));
    std::fs::create_dir_all(&folder).unwrap();
    let batch = RecordBatch::try_from_iter([
        (
            "action",
            Arc::new(StringArray::from(actions.to_vec())) as ArrayRef,
        ),
        (
            "bytes",
            Arc::new(Int64Array::from_iter_values(
                (0..actions.len() as i64).map(|i| i * 10),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    let file = std::fs::File::create(folder.join("part-0.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// `(action, n)` rows of a `SELECT action, COUNT(*) AS n ... GROUP BY action` answer.
fn action_counts(output: &QueryOutput) -> Vec<(String, i64)> {
    output
        .rows
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn engine() -> (tempfile::TempDir, QueryEngine) {
    let dir = tempfile::tempdir().unwrap();
    write_hour(dir.path(), 9, &["allow", "deny", "allow"]);
    write_hour(dir.path(), 10, &["deny", "deny", "allow", "drop"]);
    let bucket = Bucket::local("packer", dir.path().to_owned()).unwrap();
    (dir, QueryEngine::new(bucket, 2))
}

#[tokio::test]
async fn group_by_counts_every_hour_and_where_on_hour_reads_one_folder() {
    let (_dir, engine) = engine();
    let output = engine
        .run(
            "t",
            "fw",
            "SELECT action, COUNT(*) AS n FROM fw GROUP BY action ORDER BY action",
            QueryLimits::default(),
            false,
        )
        .await
        .unwrap();
    let counts = action_counts(&output);
    assert_eq!(
        counts,
        [("allow".into(), 3), ("deny".into(), 3), ("drop".into(), 1)]
    );
    assert_eq!(output.row_count, 3);
    assert!(!output.truncated);

    let pruned = engine
        .run(
            "t",
            "fw",
            "SELECT action, COUNT(*) AS n FROM fw WHERE hour = '10' GROUP BY action ORDER BY action",
            QueryLimits::default(),
            true,
        )
        .await
        .unwrap();
    assert_eq!(pruned.rows[0]["action"], "allow");
    assert_eq!(pruned.rows[1]["n"], 2, "deny twice in hour 10");
    let plan = pruned.plan.unwrap();
    assert!(plan.contains("hour=10"), "{plan}");
    assert!(!plan.contains("hour=09"), "the 09 folder is pruned: {plan}");
}

#[tokio::test]
async fn columns_include_the_partition_folders() {
    let (_dir, engine) = engine();
    let columns = engine.columns("t", "fw").await.unwrap();
    let names: Vec<(&str, bool)> = columns
        .iter()
        .map(|c| (c.name.as_str(), c.partition))
        .collect();
    assert_eq!(
        names,
        [
            ("action", false),
            ("bytes", false),
            ("year", true),
            ("month", true),
            ("day", true),
            ("hour", true)
        ]
    );
    assert!(matches!(
        engine.columns("t", "nothing").await,
        Err(QueryError::NoData(_))
    ));
}

#[tokio::test]
async fn only_queries_run_and_limits_are_enforced() {
    let (_dir, engine) = engine();
    for statement in [
        "DROP TABLE fw",
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO fw VALUES ('a', 1)",
        "SET datafusion.execution.batch_size = 1",
        "COPY fw TO '/tmp/x.csv'",
    ] {
        let refused = engine
            .run("t", "fw", statement, QueryLimits::default(), false)
            .await;
        assert!(
            matches!(
                refused,
                Err(QueryError::NotAQuery(_)) | Err(QueryError::Sql(_))
            ),
            "{statement}: {refused:?}"
        );
    }
    let after = engine
        .run(
            "t",
            "fw",
            "SELECT COUNT(*) AS n FROM fw",
            QueryLimits::default(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(after.rows[0]["n"], 7, "nothing was changed or dropped");

    let few = QueryLimits {
        max_rows: 2,
        ..QueryLimits::default()
    };
    let truncated = engine
        .run("t", "fw", "SELECT * FROM fw", few, false)
        .await
        .unwrap();
    assert_eq!((truncated.row_count, truncated.truncated), (2, true));

    let tiny_memory = QueryLimits {
        memory_bytes: 1,
        ..QueryLimits::default()
    };
    let starved = engine
        .run(
            "t",
            "fw",
            "SELECT action, COUNT(*) FROM fw GROUP BY action ORDER BY action",
            tiny_memory,
            false,
        )
        .await;
    assert!(
        matches!(starved, Err(QueryError::Memory { .. })),
        "{starved:?}"
    );

    let one_second = QueryLimits {
        timeout_secs: 1,
        ..QueryLimits::default()
    };
    let endless = engine
        .run(
            "t",
            "fw",
            "SELECT SUM(a.bytes + b.bytes + c.bytes + d.bytes + e.bytes + f.bytes + g.bytes + h.bytes + i.bytes + j.bytes) FROM fw a, fw b, fw c, fw d, fw e, fw f, fw g, fw h, fw i, fw j",
            one_second,
            false,
        )
        .await;
    assert!(
        matches!(endless, Err(QueryError::Timeout(1))),
        "{endless:?}"
    );

    let wrong = engine
        .run(
            "t",
            "fw",
            "SELECT nope FROM fw",
            QueryLimits::default(),
            false,
        )
        .await;
    assert!(matches!(wrong, Err(QueryError::Sql(_))), "{wrong:?}");
}

#[tokio::test]
async fn file_list_reads_rows_from_footers_newest_first_and_skips_foreign_objects() {
    let (dir, engine) = engine();
    // Not Parquet of the layout: a stray object and a truncated file with the right name.
    let hour = dir
        .path()
        .join("t/fw/data/parquet/year=2026/month=11/day=29/hour=10");
    std::fs::write(hour.join("notes.txt"), b"not parquet").unwrap();
    std::fs::write(hour.join("broken.parquet"), b"PAR1 cut short").unwrap();
    let listing = bytefreezer_query::list_parquet_files(&engine, "t", "fw")
        .await
        .unwrap();
    assert_eq!(listing.total_files, 3, "{listing:?}");
    let rows: std::collections::BTreeMap<String, Option<i64>> = listing
        .files
        .iter()
        .map(|f| {
            (
                format!("{} {}", f.partition, f.name.rsplit('/').next().unwrap()),
                f.rows,
            )
        })
        .collect();
    assert_eq!(
        rows["year=2026/month=11/day=29/hour=09 part-0.parquet"],
        Some(3)
    );
    assert_eq!(
        rows["year=2026/month=11/day=29/hour=10 part-0.parquet"],
        Some(4)
    );
    assert_eq!(
        rows["year=2026/month=11/day=29/hour=10 broken.parquet"], None,
        "an unreadable footer is shown as unknown, not an error"
    );
    let times: Vec<&String> = listing.files.iter().map(|f| &f.last_modified).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let other = bytefreezer_query::list_parquet_files(&engine, "t", "other")
        .await
        .unwrap();
    assert_eq!(other.total_files, 0);
}

/// A dataset whose destination has a prefix and a named bucket is queried and listed there;
/// a bucket this service does not have is a clear error.
#[tokio::test]
async fn datasets_are_read_where_their_destination_puts_them() {
    use bytefreezer_api::{
        DataPlaneConfig, DatasetSpec, Destination, FlowSourceSettings, SourceSpec,
    };
    let standard = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    write_hour(&archive.path().join("site-7"), 9, &["deny", "deny"]);
    let spec = |destination: Destination| DatasetSpec {
        tenant_id: "t".into(),
        dataset_id: "fw".into(),
        name: String::new(),
        source: SourceSpec::Netflow(FlowSourceSettings {
            bind: "127.0.0.1:2055".parse().unwrap(),
        }),
        pipeline: Default::default(),
        testing: false,
        active: true,
        packer: Default::default(),
        destination,
    };
    let archived = Destination {
        bucket: Some("archive".into()),
        prefix: Some("site-7".into()),
    };
    let (config, watcher) = tokio::sync::watch::channel(Arc::new(DataPlaneConfig {
        datasets: vec![spec(archived)],
        ingest_keys: Vec::new(),
        ..Default::default()
    }));
    let engine = QueryEngine::new(
        Bucket::local("packer", standard.path().to_owned()).unwrap(),
        1,
    )
    .with_destinations(
        [(
            "archive".to_owned(),
            Bucket::local("archive", archive.path().to_owned()).unwrap(),
        )]
        .into(),
        watcher,
    );
    let output = engine
        .run(
            "t",
            "fw",
            "SELECT COUNT(*) AS n FROM fw",
            QueryLimits::default(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(output.rows[0]["n"], 2);
    let listing = bytefreezer_query::list_parquet_files(&engine, "t", "fw")
        .await
        .unwrap();
    assert_eq!(listing.total_files, 1);
    assert_eq!(listing.files[0].rows, Some(2));
    assert_eq!(listing.location, "archive/site-7/t/fw/data/parquet/");

    config.send_replace(Arc::new(DataPlaneConfig {
        datasets: vec![spec(Destination {
            bucket: Some("cold".into()),
            prefix: None,
        })],
        ingest_keys: Vec::new(),
        ..Default::default()
    }));
    let problem = engine
        .run("t", "fw", "SELECT 1", QueryLimits::default(), false)
        .await
        .unwrap_err();
    assert!(
        problem
            .to_string()
            .contains("bucket \"cold\", which this query service does not have"),
        "{problem}"
    );
}

/// The dashboard's "Load 5 events from Parquet" asks for the file columns without the folders.
#[tokio::test]
async fn select_star_except_the_partition_folders() {
    let (_dir, engine) = engine();
    let output = engine
        .run(
            "t",
            "fw",
            "SELECT * EXCEPT (year, month, day, hour) FROM \"fw\" LIMIT 5",
            QueryLimits::default(),
            false,
        )
        .await
        .unwrap();
    let names: Vec<&str> = output.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["action", "bytes"]);
    assert_eq!(output.row_count, 5);
}

/// The same Parquet layout in an S3 bucket (moto's real S3 server): queried, pruned by hour and
/// listed with rows from the footers through ranged reads.
#[tokio::test]
async fn queries_and_lists_parquet_in_s3() {
    let local = tempfile::tempdir().unwrap();
    write_hour(local.path(), 9, &["allow", "deny", "allow"]);
    write_hour(local.path(), 10, &["deny", "deny", "allow", "drop"]);
    let moto = moto::Moto::start();
    let settings = moto.settings("query");
    let buckets =
        bytefreezer_storage::Buckets::open(&bytefreezer_storage::StorageConfig::S3(settings))
            .unwrap();
    for hour in ["09", "10"] {
        let key = format!("t/fw/data/parquet/year=2026/month=11/day=29/hour={hour}/part-0.parquet");
        let bytes = std::fs::read(local.path().join(&key)).unwrap();
        buckets.packer.put(&key, bytes.into()).await.unwrap();
    }
    let engine = QueryEngine::new(buckets.packer.clone(), 1);
    let output = engine
        .run(
            "t",
            "fw",
            "SELECT action, COUNT(*) AS n FROM fw WHERE hour = '10' GROUP BY action ORDER BY action",
            QueryLimits::default(),
            true,
        )
        .await
        .unwrap();
    let counts = action_counts(&output);
    assert_eq!(
        counts,
        [("allow".into(), 1), ("deny".into(), 2), ("drop".into(), 1)]
    );
    let plan = output.plan.unwrap();
    assert!(
        plan.contains("hour=10") && !plan.contains("hour=09"),
        "{plan}"
    );
    let listing = bytefreezer_query::list_parquet_files(&engine, "t", "fw")
        .await
        .unwrap();
    assert_eq!(listing.total_files, 2);
    let mut rows: Vec<Option<i64>> = listing.files.iter().map(|f| f.rows).collect();
    rows.sort();
    assert_eq!(rows, [Some(3), Some(4)]);
}

/// Flow rows keep the elements the schema does not name as JSON text in `extra_fields`, named
/// and typed (`docs/flows.md`); SQL reads them by key.
#[tokio::test]
async fn json_text_columns_are_read_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir
        .path()
        .join("t/flows/data/parquet/year=2026/month=12/day=06/hour=23");
    std::fs::create_dir_all(&folder).unwrap();
    let extra = StringArray::from(vec![
        Some(r#"{"initiatorOctets":195271,"bgpNextHopIPv4Address":"192.0.2.1"}"#),
        Some(r#"{"initiatorOctets":5,"bgpNextHopIPv4Address":"198.51.100.7"}"#),
        Some(r#"{"9:12236":"0ace65d2"}"#),
        None,
    ]);
    let batch =
        RecordBatch::try_from_iter([("extra_fields", Arc::new(extra) as ArrayRef)]).unwrap();
    let file = std::fs::File::create(folder.join("part-0.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let bucket = Bucket::local("packer", dir.path().to_owned()).unwrap();
    let engine = QueryEngine::new(bucket, 2);
    let run = |sql: &'static str| {
        let engine = &engine;
        async move {
            engine
                .run("t", "flows", sql, QueryLimits::default(), false)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    };

    let sum =
        run("SELECT SUM(json_get_int(extra_fields, 'initiatorOctets')) AS sent FROM flows").await;
    assert_eq!(sum.rows[0]["sent"], 195_276);
    let hops = run(
        // `->>` binds looser than `=` in DataFusion's SQL dialect: parenthesized.
        "SELECT COUNT(*) AS n FROM flows WHERE (extra_fields->>'bgpNextHopIPv4Address') = '192.0.2.1'",
    )
    .await;
    assert_eq!(hops.rows[0]["n"], 1);
    let cisco = run(r#"SELECT json_get_str(extra_fields, '9:12236') AS client FROM flows WHERE json_contains(extra_fields, '9:12236')"#).await;
    assert_eq!(cisco.rows[0]["client"], "0ace65d2");
    assert_eq!(cisco.row_count, 1);
}
