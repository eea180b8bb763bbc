use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use bytefreezer_api::{DataPlaneConfig, DatasetSpec, SourceSpec, SyslogSourceSettings};
use bytefreezer_decode_syslog::{DatagramMeta, SyslogDecoder};
use bytefreezer_layout::{intake_object, parse_piper_object};
use bytefreezer_piper::{Piper, PiperConfig};
use bytefreezer_schema::{decode_ipc, encode_ipc};
use bytefreezer_storage::{Buckets, StorageConfig};
use bytefreezer_telemetry::Registry;
use bytes::Bytes;

const HOUR_MICROS: i64 = 3_600_000_000;
const BASE: i64 = 1_795_000_000_000_000 / HOUR_MICROS * HOUR_MICROS;

fn dataset(tenant: &str, id: &str) -> DatasetSpec {
    DatasetSpec {
        tenant_id: tenant.into(),
        dataset_id: id.into(),
        name: id.into(),
        source: SourceSpec::Syslog(SyslogSourceSettings::default()),
        pipeline: Default::default(),
        testing: true,
        active: true,
        packer: Default::default(),
        destination: Default::default(),
    }
}

fn piper(buckets: &Buckets, holder: &str, datasets: Vec<DatasetSpec>) -> Piper {
    let config = DataPlaneConfig {
        datasets,
        ingest_keys: vec![],
        dead_letter_replays: vec![],
    };
    let (_sender, receiver) = tokio::sync::watch::channel(Arc::new(config));
    std::mem::forget(_sender);
    Piper::new(
        PiperConfig::default(),
        buckets.clone(),
        receiver,
        holder.into(),
        Registry::new(),
    )
    .unwrap()
}

/// Syslog rows: even ones at hour 0 (RFC 5424 time), odd ones without a time, received in hour 1.
fn intake_bytes(first_seq: usize, rows: usize) -> Bytes {
    let mut decoder = SyslogDecoder::new();
    for seq in first_seq..first_seq + rows {
        let meta = DatagramMeta {
            receive_time_micros: BASE + HOUR_MICROS + 5,
            sender: None,
        };
        let message = if seq % 2 == 0 {
            let time = chrono::DateTime::from_timestamp_micros(BASE + 10).unwrap();
            format!(
                "<13>1 {} h a - - - seq={seq} action=deny",
                time.to_rfc3339()
            )
        } else {
            format!("<13>1 - h a - - - {{\"seq\":{seq},\"user\":\"u{seq}\"}}")
        };
        decoder.decode(message.as_bytes(), &meta);
    }
    Bytes::from(encode_ipc(&[decoder.flush().unwrap()]).unwrap())
}

async fn piper_rows(buckets: &Buckets) -> Vec<(String, Vec<i64>)> {
    let mut out = Vec::new();
    for object in buckets.piper.list("").await.unwrap() {
        let parsed = parse_piper_object(&object.key).expect("piper key layout");
        let (_, batches) =
            decode_ipc(&buckets.piper.get(&object.key).await.unwrap().unwrap()).unwrap();
        let mut seqs = Vec::new();
        for batch in batches {
            let seq = batch
                .column_by_name("seq")
                .unwrap()
                .as_primitive::<Int64Type>();
            seqs.extend((0..seq.len()).map(|i| seq.value(i)));
        }
        out.push((format!("{}:{}", parsed.hour.hour, parsed.batch_id), seqs));
    }
    out.sort();
    out
}

#[tokio::test]
async fn intake_objects_become_lifted_hourly_piper_objects_and_disappear() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = Buckets::open(&StorageConfig::Local {
        root: dir.path().into(),
    })
    .unwrap();
    buckets
        .intake
        .put(&intake_object("t", "d", "b1"), intake_bytes(0, 10))
        .await
        .unwrap();
    let piper = piper(&buckets, "node-a", vec![dataset("t", "d")]);
    let cycle = piper.run_once().await.unwrap();
    assert_eq!((cycle.objects, cycle.rows_in, cycle.rows_out), (1, 10, 10));

    let hour0 = chrono::DateTime::from_timestamp_micros(BASE)
        .unwrap()
        .format("%H")
        .to_string()
        .parse::<u32>()
        .unwrap();
    let rows = piper_rows(&buckets).await;
    assert_eq!(rows.len(), 2, "one object per event hour: {rows:?}");
    assert_eq!(
        rows.iter()
            .find(|(k, _)| *k == format!("{hour0}:b1"))
            .unwrap()
            .1,
        vec![0, 2, 4, 6, 8]
    );
    assert_eq!(rows.iter().map(|(_, s)| s.len()).sum::<usize>(), 10);
    assert!(
        buckets.intake.list("t/").await.unwrap().is_empty(),
        "input deleted"
    );

    let object = &buckets.piper.list("").await.unwrap()[0];
    let (schema, _) = decode_ipc(&buckets.piper.get(&object.key).await.unwrap().unwrap()).unwrap();
    assert!(schema.field_with_name("action").is_ok() && schema.field_with_name("user").is_ok());
}

#[tokio::test]
async fn a_rerun_after_a_crash_rewrites_the_same_objects() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = Buckets::open(&StorageConfig::Local {
        root: dir.path().into(),
    })
    .unwrap();
    let bytes = intake_bytes(0, 6);
    buckets
        .intake
        .put(&intake_object("t", "d", "b1"), bytes.clone())
        .await
        .unwrap();
    let piper = piper(&buckets, "node-a", vec![dataset("t", "d")]);
    piper.run_once().await.unwrap();
    let first = piper_rows(&buckets).await;
    // The crash happened after the writes but before the delete: the input is back.
    buckets
        .intake
        .put(&intake_object("t", "d", "b1"), bytes)
        .await
        .unwrap();
    piper.run_once().await.unwrap();
    assert_eq!(piper_rows(&buckets).await, first);
}

#[tokio::test]
async fn unknown_datasets_wait_and_corrupt_objects_are_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = Buckets::open(&StorageConfig::Local {
        root: dir.path().into(),
    })
    .unwrap();
    buckets
        .intake
        .put(&intake_object("t", "other", "b1"), intake_bytes(0, 2))
        .await
        .unwrap();
    buckets
        .intake
        .put(
            &intake_object("t", "d", "bad"),
            Bytes::from_static(b"not arrow"),
        )
        .await
        .unwrap();
    buckets
        .intake
        .put(&intake_object("t", "d", "good"), intake_bytes(0, 2))
        .await
        .unwrap();
    let piper = piper(&buckets, "node-a", vec![dataset("t", "d")]);
    let cycle = piper.run_once().await.unwrap();
    assert_eq!(
        (
            cycle.objects,
            cycle.failed,
            cycle.dead_lettered,
            cycle.skipped_unknown_dataset
        ),
        (1, 0, 1, 1)
    );
    assert!(
        buckets
            .intake
            .exists(&intake_object("t", "other", "b1"))
            .await
            .unwrap()
    );
    assert!(
        !buckets
            .intake
            .exists(&intake_object("t", "d", "bad"))
            .await
            .unwrap()
    );
    assert!(
        buckets
            .intake
            .exists("t/d/dead-letter/piper/bad.arrows")
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_work_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = Buckets::open(&StorageConfig::Local {
        root: dir.path().into(),
    })
    .unwrap();
    for batch in 0..40 {
        buckets
            .intake
            .put(
                &intake_object("t", "d", &format!("b{batch:03}")),
                intake_bytes(batch * 10, 10),
            )
            .await
            .unwrap();
    }
    let a = Arc::new(piper(&buckets, "node-a", vec![dataset("t", "d")]));
    let b = Arc::new(piper(&buckets, "node-b", vec![dataset("t", "d")]));
    let mut total = 0;
    for _ in 0..5 {
        let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
        total += ra.unwrap().rows_out + rb.unwrap().rows_out;
    }
    assert_eq!(total, 400);
    let mut seqs: Vec<i64> = piper_rows(&buckets)
        .await
        .into_iter()
        .flat_map(|(_, s)| s)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..400).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_dataset_pipeline_runs_after_the_lift() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = Buckets::open(&StorageConfig::Local {
        root: dir.path().into(),
    })
    .unwrap();
    buckets
        .intake
        .put(&intake_object("t", "d", "b1"), intake_bytes(0, 10))
        .await
        .unwrap();
    let mut spec = dataset("t", "d");
    spec.pipeline = serde_json::from_str(
        r#"{"filters":[{"type":"drop","config":{"condition":"action == 'deny'"}},{"type":"add_field","config":{"field":"env","value":"lab"}}]}"#,
    )
    .unwrap();
    let piper = piper(&buckets, "node-a", vec![spec]);
    let cycle = piper.run_once().await.unwrap();
    // Even rows carry action=deny and are dropped; odd rows (JSON bodies) stay.
    assert_eq!((cycle.rows_in, cycle.rows_out), (10, 5));
    let rows = piper_rows(&buckets).await;
    let seqs: Vec<i64> = rows.into_iter().flat_map(|(_, s)| s).collect();
    assert_eq!(seqs, vec![1, 3, 5, 7, 9]);
    let object = &buckets.piper.list("").await.unwrap()[0];
    let (schema, _) = decode_ipc(&buckets.piper.get(&object.key).await.unwrap().unwrap()).unwrap();
    assert!(schema.field_with_name("env").is_ok());
}

#[tokio::test]
async fn an_invalid_pipeline_keeps_the_object_for_later() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = Buckets::open(&StorageConfig::Local {
        root: dir.path().into(),
    })
    .unwrap();
    buckets
        .intake
        .put(&intake_object("t", "d", "b1"), intake_bytes(0, 4))
        .await
        .unwrap();
    let mut spec = dataset("t", "d");
    spec.pipeline =
        serde_json::from_str(r#"{"filters":[{"type":"drop","config":{"condition":"action =="}}]}"#)
            .unwrap();
    let cycle = piper(&buckets, "node-a", vec![spec])
        .run_once()
        .await
        .unwrap();
    assert_eq!((cycle.objects, cycle.failed), (0, 1));
    assert!(
        buckets
            .intake
            .exists(&intake_object("t", "d", "b1"))
            .await
            .unwrap()
    );
}

/// A two-row `flow/1` edge batch, as a proxy ships it: binary addresses, no `event_time`, no
/// scaled counters, no text.
fn edge_intake_bytes() -> Bytes {
    use arrow::array::{
        ArrayRef, BinaryArray, DictionaryArray, Int8Array, StringArray, TimestampMicrosecondArray,
        UInt32Array, UInt64Array,
    };
    use bytefreezer_schema::{FLOW_PROTOCOLS, FlowColumn, RECORD_TYPES, flow_edge_schema};
    let names = |keys: Vec<i8>, values: &[&str]| -> ArrayRef {
        Arc::new(
            DictionaryArray::try_new(
                Int8Array::from(keys),
                Arc::new(StringArray::from(values.to_vec())),
            )
            .unwrap(),
        )
    };
    let time = |values: Vec<Option<i64>>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
    };
    let batch = arrow::record_batch::RecordBatch::try_new(
        flow_edge_schema([
            FlowColumn::ReceiveTime,
            FlowColumn::FlowEnd,
            FlowColumn::FlowProtocol,
            FlowColumn::SamplingRate,
            FlowColumn::SrcAddr,
            FlowColumn::Bytes,
            FlowColumn::RecordType,
        ]),
        vec![
            time(vec![
                Some(BASE + HOUR_MICROS + 5),
                Some(BASE + HOUR_MICROS + 5),
            ]),
            time(vec![Some(BASE + 10), None]),
            names(vec![1, 1], &FLOW_PROTOCOLS),
            Arc::new(UInt32Array::from(vec![100, 100])),
            Arc::new(BinaryArray::from(vec![
                &[10u8, 0, 0, 1][..],
                &[10u8, 0, 0, 2][..],
            ])),
            Arc::new(UInt64Array::from(vec![10, 20])),
            names(vec![0, 0], &RECORD_TYPES),
        ],
    )
    .unwrap();
    Bytes::from(encode_ipc(&[batch]).unwrap())
}

#[tokio::test]
async fn edge_flow_batches_become_table_rows_before_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = Buckets::open(&StorageConfig::Local {
        root: dir.path().into(),
    })
    .unwrap();
    buckets
        .intake
        .put(&intake_object("t", "flows", "b1"), edge_intake_bytes())
        .await
        .unwrap();
    let mut flows = dataset("t", "flows");
    flows.source = SourceSpec::Netflow(bytefreezer_api::FlowSourceSettings {
        bind: "127.0.0.1:2055".parse().unwrap(),
    });
    let piper = piper(&buckets, "node-a", vec![flows]);
    let cycle = piper.run_once().await.unwrap();
    assert_eq!((cycle.objects, cycle.rows_in, cycle.rows_out), (1, 2, 2));

    let mut rows = Vec::new();
    for object in buckets.piper.list("").await.unwrap() {
        let (schema, batches) =
            decode_ipc(&buckets.piper.get(&object.key).await.unwrap().unwrap()).unwrap();
        // Names and types of the table schema (piper's reserved-column check makes
        // receive_time nullable).
        let shape = |fields: &arrow::datatypes::Fields| {
            fields
                .iter()
                .map(|field| (field.name().clone(), field.data_type().clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shape(schema.fields()),
            shape(bytefreezer_schema::flow_schema().fields())
        );
        for batch in batches {
            let column = |name: &str| {
                arrow::compute::cast(
                    batch.column_by_name(name).unwrap(),
                    &arrow::datatypes::DataType::Utf8,
                )
                .unwrap()
            };
            let (src, scaled, protocol) = (
                column("src_addr"),
                column("bytes_scaled"),
                column("flow_protocol"),
            );
            for row in 0..batch.num_rows() {
                rows.push(format!(
                    "{} {} {}",
                    src.as_string::<i32>().value(row),
                    scaled.as_string::<i32>().value(row),
                    protocol.as_string::<i32>().value(row)
                ));
            }
        }
    }
    rows.sort();
    assert_eq!(
        rows,
        ["10.0.0.1 1000 netflow_v9", "10.0.0.2 2000 netflow_v9"],
        "text addresses, sampling-corrected counters and protocol names, one object per event hour"
    );
    assert_eq!(buckets.piper.list("").await.unwrap().len(), 2);
}

#[tokio::test]
async fn syslog_rows_are_counted_by_format_and_repair_per_dataset() {
    use bytefreezer_decode_syslog::SyslogEdgeBuilder;
    let dir = tempfile::tempdir().unwrap();
    let buckets = Buckets::open(&StorageConfig::Local {
        root: dir.path().into(),
    })
    .unwrap();
    let meta = DatagramMeta {
        receive_time_micros: BASE + 5,
        sender: Some("192.0.2.9".parse().unwrap()),
    };
    let mut edge = SyslogEdgeBuilder::with_capacity(4);
    let lines: [&[u8]; 4] = [
        b"<166>%ASA-6-302013: Built inbound TCP connection 1 for outside",
        b"<38>Nov 24 22:14:15 web02 sshd[812]: Accepted publickey for alice",
        b"<14>1 2026-11-24T22:14:15 host app - - - a time without an offset",
        b"not syslog at all",
    ];
    for line in lines {
        edge.append(line, &meta);
    }
    buckets
        .intake
        .put(
            &intake_object("t", "d", "b1"),
            Bytes::from(encode_ipc(&[edge.flush().unwrap()]).unwrap()),
        )
        .await
        .unwrap();
    let (_sender, receiver) = tokio::sync::watch::channel(Arc::new(DataPlaneConfig {
        datasets: vec![dataset("t", "d")],
        ingest_keys: vec![],
        dead_letter_replays: vec![],
    }));
    let registry = Registry::new();
    let piper = Piper::new(
        PiperConfig::default(),
        buckets.clone(),
        receiver,
        "node-a".into(),
        registry.clone(),
    )
    .unwrap();
    let cycle = piper.run_once().await.unwrap();
    assert_eq!((cycle.objects, cycle.rows_out), (1, 4));

    let metrics = registry.render();
    for (format, rows) in [
        ("cisco_asa", 1),
        ("rfc3164", 1),
        ("rfc5424", 1),
        ("unparsed", 1),
    ] {
        let line = format!(
            r#"bytefreezer_piper_syslog_rows_total{{tenant="t",dataset="d",format="{format}"}} {rows}"#
        );
        assert!(metrics.contains(&line), "{line} missing from:\n{metrics}");
    }
    // The ASA line has no time and the RFC 5424 one no offset: both are read, and flagged.
    assert!(
        metrics.contains(r#"bytefreezer_piper_syslog_repaired_total{tenant="t",dataset="d"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"bytefreezer_piper_unparsed_total{tenant="t",dataset="d"} 1"#),
        "{metrics}"
    );
}
