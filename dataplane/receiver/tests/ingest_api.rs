use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int64Array, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;
use bytefreezer_api::{
    DataPlaneConfig, DatasetSpec, IngestKey, SourceSpec, SyslogSourceSettings, hash_api_key,
};
use bytefreezer_receiver::{ARROW_STREAM_CONTENT_TYPE, BATCH_ID_HEADER, Receiver, ReceiverConfig};
use bytefreezer_schema::{decode_ipc, encode_ipc};
use bytefreezer_storage::{Bucket, Buckets, StorageConfig};
use bytefreezer_telemetry::{Registry, shutdown_pair};

const KEY: &str = "bf_test_key_tenant_a";

fn config() -> DataPlaneConfig {
    let dataset = |tenant: &str| DatasetSpec {
        tenant_id: tenant.into(),
        dataset_id: "logs".into(),
        name: "logs".into(),
        source: SourceSpec::Syslog(SyslogSourceSettings::default()),
        pipeline: Default::default(),
        testing: true,
        active: true,
        packer: Default::default(),
        destination: Default::default(),
    };
    let paused = DatasetSpec {
        dataset_id: "paused".into(),
        active: false,
        ..dataset("a")
    };
    DataPlaneConfig {
        datasets: vec![dataset("a"), dataset("b"), paused],
        ingest_keys: vec![IngestKey {
            name: "k".into(),
            key_sha256: hash_api_key(KEY),
            tenant_id: "a".into(),
            dataset_id: None,
        }],
        ..Default::default()
    }
}

fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

struct Running {
    base: String,
    intake: Bucket,
    _dir: tempfile::TempDir,
    _stop: bytefreezer_telemetry::ShutdownTrigger,
}

async fn start(tls: Option<(std::path::PathBuf, std::path::PathBuf)>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let buckets = Buckets::open(&StorageConfig::Local {
        root: dir.path().join("buckets"),
    })
    .unwrap();
    let listen = free_address();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (tls_cert_file, tls_key_file) = tls.map_or((None, None), |(c, k)| (Some(c), Some(k)));
    let receiver_config = ReceiverConfig {
        listen,
        tls_cert_file,
        tls_key_file,
        max_body_bytes: 1024 * 1024,
        ..ReceiverConfig::default()
    };
    let (sender, datasets) = tokio::sync::watch::channel(Arc::new(config()));
    std::mem::forget(sender);
    let receiver = Receiver::new(
        receiver_config,
        buckets.intake.clone(),
        datasets,
        Registry::new(),
    );
    let (stop, shutdown) = shutdown_pair();
    tokio::spawn(receiver.run(shutdown));
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(listen).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Running {
        base: format!("{scheme}://localhost:{}", listen.port()),
        intake: buckets.intake,
        _dir: dir,
        _stop: stop,
    }
}

fn arrow_body(rows: i64) -> Vec<u8> {
    let batch = RecordBatch::try_from_iter(vec![
        (
            "receive_time",
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_i64; rows as usize]).with_timezone("UTC"),
            ) as ArrayRef,
        ),
        (
            "n",
            Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef,
        ),
    ])
    .unwrap();
    encode_ipc(&[batch]).unwrap()
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    client
        .post(url)
        .bearer_auth(key)
        .header("content-type", content_type)
        .header(BATCH_ID_HEADER, "batch-1")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn arrow_batches_are_stored_and_bad_requests_get_clear_4xx() {
    let running = start(None).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/ingest/a/logs", running.base);

    let response = post(
        &client,
        &url,
        KEY,
        ARROW_STREAM_CONTENT_TYPE,
        arrow_body(25),
    )
    .await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (body["batch_id"].as_str(), body["rows"].as_u64()),
        (Some("batch-1"), Some(25))
    );
    let stored = running
        .intake
        .get("a/logs/batch-1.arrows")
        .await
        .unwrap()
        .expect("intake object");
    assert_eq!(decode_ipc(&stored).unwrap().1[0].num_rows(), 25);
    let spooled_before_the_pause = post(
        &client,
        &format!("{}/api/v1/ingest/a/paused", running.base),
        KEY,
        ARROW_STREAM_CONTENT_TYPE,
        arrow_body(3),
    )
    .await;
    assert_eq!(
        spooled_before_the_pause.status(),
        201,
        "a paused dataset still takes what its proxies spooled"
    );

    let status = |response: reqwest::Response| response.status().as_u16();
    assert_eq!(
        status(
            post(
                &client,
                &url,
                "wrong",
                ARROW_STREAM_CONTENT_TYPE,
                arrow_body(1)
            )
            .await
        ),
        401
    );
    let other_tenant = format!("{}/api/v1/ingest/b/logs", running.base);
    assert_eq!(
        status(
            post(
                &client,
                &other_tenant,
                KEY,
                ARROW_STREAM_CONTENT_TYPE,
                arrow_body(1)
            )
            .await
        ),
        404
    );
    let missing = format!("{}/api/v1/ingest/a/nope", running.base);
    assert_eq!(
        status(
            post(
                &client,
                &missing,
                KEY,
                ARROW_STREAM_CONTENT_TYPE,
                arrow_body(1)
            )
            .await
        ),
        404
    );
    let garbage = post(
        &client,
        &url,
        KEY,
        ARROW_STREAM_CONTENT_TYPE,
        b"garbage".to_vec(),
    )
    .await;
    assert_eq!(garbage.status(), 400);
    assert!(
        garbage
            .text()
            .await
            .unwrap()
            .contains("not a valid Arrow IPC stream")
    );
    assert_eq!(
        status(
            post(
                &client,
                &url,
                KEY,
                ARROW_STREAM_CONTENT_TYPE,
                vec![0u8; 2 * 1024 * 1024]
            )
            .await
        ),
        413
    );
    assert_eq!(
        status(post(&client, &url, KEY, "text/plain", b"x".to_vec()).await),
        415
    );
    let no_key = client
        .post(&url)
        .header("content-type", ARROW_STREAM_CONTENT_TYPE)
        .body(arrow_body(1))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    let bad_id = client
        .post(&url)
        .bearer_auth(KEY)
        .header("content-type", ARROW_STREAM_CONTENT_TYPE)
        .header(BATCH_ID_HEADER, "../escape")
        .body(arrow_body(1))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_id.status(), 400);

    // Counters and activity are not for whoever reaches the public port.
    for path in ["metrics", "activity", "readyz"] {
        let response = client
            .get(format!("{}/{path}", running.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "/{path}");
    }
    let health = client
        .get(format!("{}/healthz", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn ndjson_and_gzip_ndjson_become_rows() {
    let running = start(None).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/ingest/a/logs", running.base);
    let response = post(
        &client,
        &url,
        KEY,
        "application/x-ndjson",
        b"{\"a\":1}\n{\"a\":2,\"b\":\"x\"}\n".to_vec(),
    )
    .await;
    assert_eq!(response.status(), 201);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n")
        .unwrap();
    let response = client
        .post(&url)
        .bearer_auth(KEY)
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(gzip.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["rows"], 3);
    // The scheme is case-insensitive, as for the control plane and the query service; a
    // scheme without a key is no key.
    for (authorization, expected) in [
        (format!("bearer {KEY}"), 201),
        (format!("BEARER  {KEY} "), 201),
        ("Bearer ".to_owned(), 401),
        (format!("Basic {KEY}"), 401),
    ] {
        let response = client
            .post(&url)
            .header("authorization", &authorization)
            .header("content-type", "application/x-ndjson")
            .body("{\"a\":1}\n")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{authorization:?}");
    }
    let bad = post(
        &client,
        &url,
        KEY,
        "application/x-ndjson",
        b"{\"a\":1}\n{nope".to_vec(),
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("line 2"));
}

/// Reserved columns piper could never read are refused whole at ingest with the column named;
/// text that is not a time is accepted, for piper to dead-letter those rows alone.
#[tokio::test]
async fn reserved_columns_of_the_wrong_type_are_refused_at_ingest() {
    let running = start(None).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/ingest/a/logs", running.base);
    let numeric = post(
        &client,
        &url,
        KEY,
        "application/x-ndjson",
        b"{\"event_time\":17,\"message\":\"poison\"}\n{\"event_time\":18,\"message\":\"x\"}\n"
            .to_vec(),
    )
    .await;
    assert_eq!(numeric.status(), 400);
    let text = numeric.text().await.unwrap();
    assert!(text.contains("event_time"), "{text}");
    let textual = post(
        &client,
        &url,
        KEY,
        "application/x-ndjson",
        b"{\"event_time\":\"x\",\"message\":\"poison\"}\n{\"message\":\"good\"}\n".to_vec(),
    )
    .await;
    assert_eq!(textual.status(), 201, "rows are checked by piper, per row");
    let arrow = RecordBatch::try_from_iter(vec![(
        "receive_time",
        Arc::new(Int64Array::from(vec![1_i64, 2])) as ArrayRef,
    )])
    .unwrap();
    let response = post(
        &client,
        &url,
        KEY,
        ARROW_STREAM_CONTENT_TYPE,
        encode_ipc(&[arrow]).unwrap(),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("receive_time"));
}

#[tokio::test]
async fn https_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = bytefreezer_http_listen::TestPki::new(dir.path());
    let (cert_path, key_path) = (pki.cert_file.clone(), pki.key_file.clone());

    let running = start(Some((cert_path, key_path))).await;
    let url = format!("{}/api/v1/ingest/a/logs", running.base);
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        post(
            &trusting,
            &url,
            KEY,
            ARROW_STREAM_CONTENT_TYPE,
            arrow_body(3)
        )
        .await
        .status(),
        201
    );
    let untrusting = reqwest::Client::new();
    assert!(
        untrusting
            .post(&url)
            .body(arrow_body(1))
            .send()
            .await
            .is_err(),
        "an unknown CA must fail the handshake"
    );
}

/// A one-row `flow/1` edge batch, or the same columns claiming edge format `format`.
fn edge_body(format: &str) -> Vec<u8> {
    use arrow::array::{DictionaryArray, Int8Array, StringArray};
    use bytefreezer_schema::{
        EDGE_FORMAT_KEY, FLOW_PROTOCOLS, FlowColumn, RECORD_TYPES, flow_edge_schema,
    };
    let schema = flow_edge_schema([
        FlowColumn::ReceiveTime,
        FlowColumn::FlowProtocol,
        FlowColumn::RecordType,
    ]);
    let mut metadata = schema.metadata().clone();
    metadata.insert(EDGE_FORMAT_KEY.to_owned(), format.to_owned());
    let schema = Arc::new(schema.as_ref().clone().with_metadata(metadata));
    let names = |values: &[&str]| -> ArrayRef {
        Arc::new(
            DictionaryArray::try_new(
                Int8Array::from(vec![0]),
                Arc::new(StringArray::from(values.to_vec())),
            )
            .unwrap(),
        )
    };
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMicrosecondArray::from(vec![1_i64]).with_timezone("UTC")),
            names(&FLOW_PROTOCOLS),
            names(&RECORD_TYPES),
        ],
    )
    .unwrap();
    encode_ipc(&[batch]).unwrap()
}

#[tokio::test]
async fn edge_batches_are_stored_and_an_unknown_edge_version_gets_a_clear_400() {
    let running = start(None).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/ingest/a/logs", running.base);

    let known = post(
        &client,
        &url,
        KEY,
        ARROW_STREAM_CONTENT_TYPE,
        edge_body("flow/1"),
    )
    .await;
    assert_eq!(known.status(), 201);

    let future = post(
        &client,
        &url,
        KEY,
        ARROW_STREAM_CONTENT_TYPE,
        edge_body("flow/9"),
    )
    .await;
    assert_eq!(future.status(), 400);
    let body: serde_json::Value = future.json().await.unwrap();
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"flow/9\"") && message.contains("flow/1"),
        "{message}"
    );
}
