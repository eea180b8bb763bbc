//! End-to-end on a running `bytefreezer up` and the NATS server on this machine: a `nats`
//! dataset created at runtime reads a JetStream stream into Parquet, with JSON keys (nested ones
//! flattened) as columns; a proxy killed with SIGKILL while messages flow loses none of them
//! after its restart; bad settings are refused with the field named; `bytefreezer fakedata
//! --target nats://…` publishes into it.

#[path = "support/up.rs"]
mod up;

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{self, stream::Config as StreamConfig};
use serde_json::json;
use up::{UpProcess, count_rows, free_tcp, free_udp, read_parquet, seq_with, wait_for};

const NATS_URL: &str = "nats://127.0.0.1:4222";

struct TestStream {
    context: jetstream::Context,
    name: String,
    subject: String,
}

impl TestStream {
    async fn create() -> TestStream {
        let client = async_nats::connect(NATS_URL).await.unwrap_or_else(|error| {
            panic!(
                "this test needs a NATS server with JetStream at {NATS_URL} ({error}); start one \
                 with `nats-server -js` (Debian package nats-server)"
            )
        });
        let context = jetstream::new(client);
        let name = format!("BFE2E_{}", uuid::Uuid::new_v4().simple());
        let subject = format!("bfe2e.{name}");
        context
            .create_stream(StreamConfig {
                name: name.clone(),
                subjects: vec![format!("{subject}.>")],
                ..Default::default()
            })
            .await
            .expect("create a JetStream stream (is JetStream enabled: nats-server -js?)");
        TestStream {
            context,
            name,
            subject,
        }
    }

    async fn publish(&self, seqs: std::ops::Range<i64>) {
        let mut acks = Vec::new();
        for seq in seqs {
            let event = json!({ "seq": seq, "user": { "name": format!("u{}", seq % 5) } });
            acks.push(
                self.context
                    .publish(format!("{}.web", self.subject), event.to_string().into())
                    .await
                    .unwrap(),
            );
        }
        for ack in acks {
            ack.await.unwrap();
        }
    }
}

#[test]
fn a_jetstream_dataset_reaches_parquet_and_a_killed_proxy_loses_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stream = runtime.block_on(TestStream::create());
    runtime.block_on(stream.publish(0..300));
    let dir = tempfile::tempdir().unwrap();
    let (http, syslog) = (free_tcp(), free_udp());
    let up = UpProcess::start(dir.path(), http, syslog);

    let dataset = |settings| {
        json!({
            "dataset_id": "bus",
            "source": { "plugin": "nats", "settings": settings },
            "testing": true,
        })
    };
    let (status, body) = up.api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(dataset(json!({ "mode": "jetstream", "consumer": "bf" }))),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string().contains("source.settings.stream"),
        "{body}"
    );
    let (status, body) = up.api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(dataset(json!({
            "url": NATS_URL,
            "mode": "jetstream",
            "stream": stream.name,
            "consumer": "bf-e2e",
        }))),
    );
    assert_eq!(status, 201, "{body}");

    let folder = dir.path().join("buckets/packer/demo/bus/data/parquet");
    wait_for(Duration::from_secs(60), "300 rows are in Parquet", || {
        read_parquet(&folder, &[]).seq.len() == 300
    });
    let expected: Vec<(i64, Option<String>)> = (0..300)
        .map(|seq| (seq, Some(format!("u{}", seq % 5))))
        .collect();
    assert_eq!(seq_with(&folder, "user.name"), expected);

    // Killed while messages flow, the proxy acknowledged only what was durable: after the
    // restart every message is in Parquet (a message stored but not yet acknowledged when
    // the process died may be there twice: at least once).
    let publisher = runtime.spawn(async move {
        stream.publish(300..3300).await;
        stream
    });
    wait_for(Duration::from_secs(60), "new rows arrive", || {
        read_parquet(&folder, &[]).seq.len() > 600
    });
    up.kill();
    let stream = runtime.block_on(publisher).unwrap();
    let up = UpProcess::start(dir.path(), http, syslog);
    wait_for(
        Duration::from_secs(120),
        "every published message is in Parquet",
        || {
            let mut seen = read_parquet(&folder, &[]).seq;
            seen.sort_unstable();
            seen.dedup();
            seen == (0..3300).collect::<Vec<_>>()
        },
    );
    let mut copies: BTreeMap<i64, usize> = BTreeMap::new();
    for seq in read_parquet(&folder, &[]).seq {
        *copies.entry(seq).or_default() += 1;
    }
    let twice = copies.values().filter(|&&n| n > 1).count();
    eprintln!("after SIGKILL: 3300 messages, {twice} stored twice (at least once delivery)");

    // fakedata publishes generated events into the stream; they arrive like any other.
    let before = count_rows(&folder);
    let generated = format!("{}.generated", stream.subject);
    let fakedata = std::process::Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["fakedata", "--format", "json", "--count", "200", "--target"])
        .arg(format!("{NATS_URL}/{generated}"))
        .output()
        .unwrap();
    assert!(
        fakedata.status.success(),
        "{}",
        String::from_utf8_lossy(&fakedata.stderr)
    );
    wait_for(Duration::from_secs(60), "200 generated rows", || {
        count_rows(&folder) == before + 200
    });
    assert_eq!(up.terminate().code(), Some(0));
    runtime.block_on(async {
        let _ = stream.context.delete_stream(&stream.name).await;
    });
}
