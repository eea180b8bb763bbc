//! What piper cannot process goes to the dataset's dead-letter prefix with its reason instead of
//! being retried in a tight loop, and the rest of the data keeps flowing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use bytefreezer_api::{DataPlaneConfig, DatasetSpec, SourceSpec, SyslogSourceSettings};
use bytefreezer_layout::intake_object;
use bytefreezer_piper::{DeadLetterRecord, Piper, PiperConfig};
use bytefreezer_schema::{DEAD_LETTER_REASON, decode_ipc, encode_ipc, json_rows_to_batch};
use bytefreezer_storage::{Buckets, StorageConfig};
use bytefreezer_telemetry::Registry;
use bytes::Bytes;

fn dataset(pipeline: &str) -> DatasetSpec {
    DatasetSpec {
        tenant_id: "t".into(),
        dataset_id: "d".into(),
        name: "d".into(),
        source: SourceSpec::Syslog(SyslogSourceSettings::default()),
        pipeline: serde_json::from_str(pipeline).unwrap(),
        testing: true,
        active: true,
        packer: Default::default(),
        destination: Default::default(),
    }
}

fn piper(buckets: &Buckets, config: PiperConfig, spec: DatasetSpec) -> (Piper, Registry) {
    let (sender, receiver) = tokio::sync::watch::channel(Arc::new(DataPlaneConfig {
        datasets: vec![spec],
        ingest_keys: vec![],
        dead_letter_replays: vec![],
    }));
    std::mem::forget(sender);
    let registry = Registry::new();
    let piper = Piper::new(
        config,
        buckets.clone(),
        receiver,
        "node-a".into(),
        registry.clone(),
    )
    .unwrap();
    (piper, registry)
}

fn buckets(dir: &tempfile::TempDir) -> Buckets {
    Buckets::open(&StorageConfig::Local {
        root: dir.path().into(),
    })
    .unwrap()
}

/// NDJSON as the receiver stores it: `event_time` is RFC 3339 text, one row's is "x".
fn ndjson_object(good_rows: usize, poisoned_at: usize) -> Bytes {
    let mut body = String::new();
    for row in 0..=good_rows {
        if row == poisoned_at {
            body.push_str("{\"event_time\":\"x\",\"message\":\"poison\"}\n");
        } else {
            body.push_str(&format!(
                "{{\"event_time\":\"2026-12-06T0{}:00:00Z\",\"message\":\"row {row}\",\"n\":{row}}}\n",
                row % 3
            ));
        }
    }
    let batch = json_rows_to_batch(body.as_bytes(), 1_795_000_000_000_000).unwrap();
    Bytes::from(encode_ipc(&[batch]).unwrap())
}

async fn rows_under(bucket: &bytefreezer_storage::Bucket, prefix: &str) -> usize {
    let mut rows = 0;
    for object in bucket.list(prefix).await.unwrap() {
        if object.key.ends_with(".arrows") {
            let (_, batches) =
                decode_ipc(&bucket.get(&object.key).await.unwrap().unwrap()).unwrap();
            rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
    }
    rows
}

#[tokio::test]
async fn one_poisoned_row_among_ten_thousand_is_dead_lettered_and_the_rest_flow() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = buckets(&dir);
    buckets
        .intake
        .put(&intake_object("t", "d", "b1"), ndjson_object(10_000, 4_321))
        .await
        .unwrap();
    let (piper, registry) = piper(&buckets, PiperConfig::default(), dataset("{}"));
    let cycle = piper.run_once().await.unwrap();
    assert_eq!(
        (
            cycle.objects,
            cycle.failed,
            cycle.rows_in,
            cycle.rows_out,
            cycle.rows_dead_lettered
        ),
        (1, 0, 10_001, 10_000, 1)
    );
    assert_eq!(rows_under(&buckets.piper, "t/d/").await, 10_000);
    assert!(
        !buckets
            .intake
            .exists(&intake_object("t", "d", "b1"))
            .await
            .unwrap(),
        "the input is done"
    );

    let (_, rejected) = decode_ipc(
        &buckets
            .intake
            .get("t/d/dead-letter/piper/b1.rows.arrows")
            .await
            .unwrap()
            .expect("the poisoned row is in the dead-letter prefix"),
    )
    .unwrap();
    assert_eq!(rejected[0].num_rows(), 1);
    let reason = rejected[0]
        .column_by_name(DEAD_LETTER_REASON)
        .unwrap()
        .as_string::<i32>();
    assert_eq!(reason.value(0), "event_time \"x\" is not an RFC 3339 time");
    let record: DeadLetterRecord = serde_json::from_slice(
        &buckets
            .intake
            .get("t/d/dead-letter/piper/b1.rows.json")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (record.kind.as_str(), record.rows, record.input.as_str()),
        ("rows", Some(1), "t/d/b1.arrows")
    );

    let metrics = registry.render();
    assert!(
        metrics.contains(
            r#"bytefreezer_piper_dead_lettered_rows_total{tenant="t",dataset="d",reason="reserved_column"} 1"#
        ),
        "{metrics}"
    );
    let activity = registry.activity().recent(10);
    assert!(
        activity
            .iter()
            .any(|e| e.outcome == "error" && e.message.contains("dead-lettered 1 rows")),
        "{activity:?}"
    );
    assert!(
        piper.run_once().await.unwrap().objects == 0,
        "nothing is left to retry"
    );
}

#[tokio::test]
async fn flow_times_past_the_calendar_are_dead_lettered_rows_not_a_stuck_object() {
    use arrow::array::{ArrayRef, Int64Array, TimestampMicrosecondArray};
    let dir = tempfile::tempdir().unwrap();
    let buckets = buckets(&dir);
    let batch = arrow::record_batch::RecordBatch::try_from_iter(vec![
        (
            "event_time",
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(1_795_000_000_000_000),
                    Some(i64::MAX - 7),
                    None,
                ])
                .with_timezone("UTC"),
            ) as ArrayRef,
        ),
        (
            "bytes",
            Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
        ),
    ])
    .unwrap();
    buckets
        .intake
        .put(
            &intake_object("t", "d", "f1"),
            Bytes::from(encode_ipc(&[batch]).unwrap()),
        )
        .await
        .unwrap();
    let (piper, _) = piper(&buckets, PiperConfig::default(), dataset("{}"));
    let cycle = piper.run_once().await.unwrap();
    assert_eq!(
        (cycle.failed, cycle.rows_out, cycle.rows_dead_lettered),
        (0, 2, 1)
    );
}

#[tokio::test]
async fn a_failing_object_backs_off_then_moves_to_the_dead_letter_while_others_flow() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = buckets(&dir);
    let event = format!("{{\"message\":\"{}\"}}\n", "e".repeat(1_000_000));
    let big = json_rows_to_batch(event.as_bytes(), 1_795_000_000_000_000).unwrap();
    buckets
        .intake
        .put(
            &intake_object("t", "d", "big"),
            Bytes::from(encode_ipc(&[big]).unwrap()),
        )
        .await
        .unwrap();
    let doubling = r#"{"type":"regex_replace","config":{"field":"message","pattern":"(?s)(.*)","replacement":"$1$1"}}"#;
    let pipeline = format!(r#"{{"filters":[{}]}}"#, [doubling; 12].join(","));
    let config = PiperConfig {
        max_attempts: 3,
        retry_backoff_ms: 100,
        ..PiperConfig::default()
    };
    let (piper, registry) = piper(&buckets, config, dataset(&pipeline));
    let (mut passes, mut failed, mut waiting) = (0, 0, 0);
    let started = Instant::now();
    loop {
        let cycle = piper.run_once().await.unwrap();
        passes += 1;
        failed += cycle.failed;
        waiting += cycle.waiting;
        if cycle.dead_lettered == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never dead-lettered"
        );
        // A small object of the same dataset arrives meanwhile and is not held up.
        if passes == 1 {
            buckets
                .intake
                .put(
                    &intake_object("t", "d", "small"),
                    Bytes::from(
                        encode_ipc(&[json_rows_to_batch(b"{\"message\":\"ok\"}", 0).unwrap()])
                            .unwrap(),
                    ),
                )
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(failed, 2, "attempts 1 and 2 fail, attempt 3 gives up");
    assert!(
        waiting > 5,
        "between attempts the object waits instead of spinning: {waiting}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waits of 100 and 200 ms: {:?}",
        started.elapsed()
    );
    assert_eq!(
        rows_under(&buckets.piper, "t/d/").await,
        1,
        "the small object flowed"
    );
    assert!(
        buckets
            .intake
            .exists("t/d/dead-letter/piper/big.arrows")
            .await
            .unwrap()
    );
    let record: DeadLetterRecord = serde_json::from_slice(
        &buckets
            .intake
            .get("t/d/dead-letter/piper/big.json")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!((record.reason.as_str(), record.attempts), ("limit", 3));
    assert!(
        record.message.contains("max_value_bytes"),
        "{}",
        record.message
    );
    assert!(registry.render().contains(
        r#"bytefreezer_piper_dead_lettered_total{tenant="t",dataset="d",reason="limit"} 1"#
    ));
    assert!(
        buckets
            .intake
            .list("")
            .await
            .unwrap()
            .iter()
            .all(|o| !o.key.ends_with("big.arrows") || o.key.contains("dead-letter"))
    );
}

#[tokio::test]
async fn attempt_counts_survive_restarts_so_a_crash_loop_still_dead_letters() {
    use bytefreezer_layout::{Stage, attempts_object};
    let dir = tempfile::tempdir().unwrap();
    let buckets = buckets(&dir);
    let input = intake_object("t", "d", "x");
    buckets
        .intake
        .put(
            &input,
            Bytes::from(
                encode_ipc(&[json_rows_to_batch(b"{\"message\":\"hello\"}", 0).unwrap()]).unwrap(),
            ),
        )
        .await
        .unwrap();
    // Doubling "hello" needs 10 bytes; the limit allows 4, so every attempt fails cheaply.
    let doubling = r#"{"filters":[{"type":"regex_replace","config":{"field":"message","pattern":"(?s)(.*)","replacement":"$1$1"}}]}"#;
    let config = || PiperConfig {
        max_attempts: 3,
        retry_backoff_ms: 0,
        retry_backoff_max_ms: 0,
        transform_limits: bytefreezer_transform::TransformLimits {
            max_value_bytes: 4,
            ..Default::default()
        },
        ..PiperConfig::default()
    };
    let record = attempts_object(Stage::Piper, &input);
    for restart in 1..=2 {
        // Each pass runs in a new piper, as after a crash: only the bucket remembers.
        let (piper, _) = piper(&buckets, config(), dataset(doubling));
        let cycle = piper.run_once().await.unwrap();
        assert_eq!(
            (cycle.failed, cycle.dead_lettered),
            (1, 0),
            "pass {restart}"
        );
        assert!(buckets.intake.exists(&record).await.unwrap());
    }
    let (piper, _) = piper(&buckets, config(), dataset(doubling));
    let cycle = piper.run_once().await.unwrap();
    assert_eq!(
        cycle.dead_lettered, 1,
        "the third attempt, in the third process, gives up"
    );
    let reason: DeadLetterRecord = serde_json::from_slice(
        &buckets
            .intake
            .get("t/d/dead-letter/piper/x.json")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!((reason.reason.as_str(), reason.attempts), ("limit", 3));
    assert!(
        !buckets.intake.exists(&record).await.unwrap(),
        "the count goes with the object"
    );
    assert!(!buckets.intake.exists(&input).await.unwrap());
}
