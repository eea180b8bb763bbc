//! End-to-end on a running `bytefreezer up` and a real Kafka broker (tansu): a `kafka` dataset
//! created at runtime reads a topic of three partitions into Parquet, with JSON keys (nested
//! ones flattened) as columns; paused, it reads nothing while the topic grows, and resumed it
//! goes on from its last commit; a proxy killed between a durable write and its commit loses
//! nothing after its restart (the batch is stored twice: at least once); bad settings are refused with the field named. `bytefreezer
//! fakedata --target kafka://…` feeds it too.

#[path = "support/up.rs"]
mod up;

#[path = "../dataplane/proxy/src/kafka_test_broker.rs"]
mod kafka_test_broker;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use kafka_test_broker::TestBroker;
use serde_json::json;
use up::{UpProcess, count_rows, free_tcp, free_udp, read_parquet, seq_with, wait_for};

fn dataset(id: &str, settings: serde_json::Value) -> serde_json::Value {
    json!({
        "dataset_id": id,
        "source": { "plugin": "kafka", "settings": settings },
        "testing": true,
    })
}

/// Whether the proxy reports the dataset's input up (`bytefreezer_proxy_input_up{dataset} 1`).
fn input_up(up: &UpProcess, dataset: &str) -> bool {
    let label = format!("dataset=\"{dataset}\"");
    up.metrics().unwrap_or_default().lines().any(|line| {
        line.starts_with("bytefreezer_proxy_input_up{")
            && line.contains(&label)
            && line.ends_with(" 1")
    })
}

#[test]
fn a_kafka_dataset_reaches_parquet_pauses_resumes_and_a_killed_proxy_loses_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = TestBroker::start();
    runtime.block_on(broker.create_topic("web", 3));
    runtime.block_on(broker.produce_seqs("web", 0..300));
    let dir = tempfile::tempdir().unwrap();
    let (http, syslog) = (free_tcp(), free_udp());
    let up = UpProcess::start(dir.path(), http, syslog);

    let (status, body) = up.api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(dataset(
            "bus",
            json!({ "brokers": "kafka://h:9092", "topics": ["web"] }),
        )),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string().contains("source.settings.brokers"),
        "{body}"
    );
    let (status, body) = up.api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(dataset(
            "bus",
            json!({ "brokers": broker.brokers, "topics": ["web"], "group_id": "bf-e2e", "session_timeout_secs": 6 }),
        )),
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

    // Paused, the dataset reads nothing; resumed, it goes on from its last commit.
    let (status, body) = up.api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets/bus/pause",
        None,
    );
    assert_eq!(status, 200, "{body}");
    wait_for(Duration::from_secs(10), "the input stops", || {
        !input_up(&up, "bus")
    });
    runtime.block_on(broker.produce_seqs("web", 300..400));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(read_parquet(&folder, &[]).seq.len(), 300);
    let (status, body) = up.api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets/bus/resume",
        None,
    );
    assert_eq!(status, 200, "{body}");
    wait_for(Duration::from_secs(60), "400 rows are in Parquet", || {
        read_parquet(&folder, &[]).seq.len() >= 400
    });
    let mut seen = read_parquet(&folder, &[]).seq;
    seen.sort_unstable();
    assert_eq!(seen, (0..400).collect::<Vec<_>>(), "each message once");

    // Killed between a durable write and its commit (the crash point aborts the process right
    // after a batch is in the spool), the proxy reads those messages again after its restart:
    // every message is in Parquet, the batch written before the crash twice (at least once).
    assert_eq!(up.terminate().code(), Some(0));
    let mut crashing = UpProcess::start_with_env(
        dir.path(),
        http,
        syslog,
        &[],
        &[("BYTEFREEZER_CRASH_POINTS", "proxy.kafka_stored=1")],
    );
    runtime.block_on(broker.produce_seqs("web", 400..3400));
    wait_for(
        Duration::from_secs(60),
        "the proxy crashes after a durable write",
        || crashing.exited(),
    );
    // The broker used here (tansu 0.6) gives a member that joins while an expired one is still
    // listed an empty assignment, where Kafka would rebalance: the restart waits out the dead
    // member's session timeout (6 s) first.
    std::thread::sleep(Duration::from_secs(10));
    // The batch the crash left in the spool, its rows in its name (`….demo.bus.ROWS.promised.arrows`).
    let crashed_rows: usize = std::fs::read_dir(dir.path().join("spool"))
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let rows = name
                .strip_suffix(".promised.arrows")?
                .split_once(".demo.bus.")?
                .1;
            rows.parse::<usize>().ok()
        })
        .sum();
    assert!(crashed_rows > 0, "the crash left its batch in the spool");
    let up = UpProcess::start(dir.path(), http, syslog);
    // Produced after the restart: proof the restarted input owns the partitions again.
    runtime.block_on(broker.produce_seqs("web", 3400..3600));
    wait_for(
        Duration::from_secs(120),
        "every produced message is in Parquet, the crashed batch's twice",
        || {
            let rows = read_parquet(&folder, &[]).seq;
            let mut seen = rows.clone();
            seen.sort_unstable();
            seen.dedup();
            seen == (0..3600).collect::<Vec<_>>() && rows.len() == 3600 + crashed_rows
        },
    );
    let mut copies: BTreeMap<i64, usize> = BTreeMap::new();
    for seq in read_parquet(&folder, &[]).seq {
        *copies.entry(seq).or_default() += 1;
    }
    let twice = copies.values().filter(|&&n| n > 1).count();
    eprintln!("after the crash: 3600 messages, {twice} stored twice (at least once delivery)");
    assert!(
        twice > 0,
        "the batch stored before the crash was read again"
    );
    assert!(copies.values().all(|&n| n <= 2));

    // fakedata produces to a topic; a second dataset reads it.
    runtime.block_on(broker.create_topic("generated", 1));
    let (status, body) = up.api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(dataset(
            "generated",
            json!({ "brokers": broker.brokers, "topics": ["generated"], "format": "json" }),
        )),
    );
    assert_eq!(status, 201, "{body}");
    let fakedata = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["fakedata", "--format", "json", "--count", "500", "--target"])
        .arg(format!("kafka://{}/generated", broker.brokers))
        .output()
        .unwrap();
    assert!(
        fakedata.status.success(),
        "{}",
        String::from_utf8_lossy(&fakedata.stderr)
    );
    let generated = dir
        .path()
        .join("buckets/packer/demo/generated/data/parquet");
    wait_for(Duration::from_secs(60), "500 generated rows", || {
        count_rows(&generated) == 500
    });
    assert_eq!(up.terminate().code(), Some(0));
}
