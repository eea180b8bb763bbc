//! End-to-end on a running `bytefreezer up` and moto's SQS server, driven by boto3 (the AWS SDK
//! for Python, which moto installs): an `sqs` dataset created at runtime turns a queue's
//! messages into Parquet rows and empties the queue; a proxy killed with SIGKILL while messages
//! flow loses none of them after its restart.

#[path = "../dataplane/storage/tests/support/moto.rs"]
mod moto;
#[path = "support/up.rs"]
mod up;

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use up::{UpProcess, free_tcp, free_udp, read_parquet, seq_with, wait_for};

/// Runs a boto3 snippet against moto with `sqs` bound to a client; what it prints.
fn boto3(endpoint: &str, snippet: &str) -> String {
    let script = format!(
        "import boto3, json, sys\n\
         sqs = boto3.client('sqs', endpoint_url='{endpoint}', region_name='us-east-1', \
         aws_access_key_id='test', aws_secret_access_key='test')\n{snippet}"
    );
    let output = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 with boto3 (installed with moto by cargo xtask test)");
    assert!(
        output.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn send(endpoint: &str, queue_url: &str, seqs: std::ops::Range<i64>) {
    boto3(
        endpoint,
        &format!(
            "url = '{queue_url}'\n\
             for start in range({}, {}, 10):\n    \
                 entries = [{{'Id': str(i), 'MessageBody': json.dumps({{'seq': i, 'user': {{'name': 'u%d' % (i % 5)}}}})}} \
                            for i in range(start, min(start + 10, {}))]\n    \
                 sqs.send_message_batch(QueueUrl=url, Entries=entries)",
            seqs.start, seqs.end, seqs.end
        ),
    );
}

fn waiting(endpoint: &str, queue_url: &str) -> String {
    boto3(
        endpoint,
        &format!(
            "a = sqs.get_queue_attributes(QueueUrl='{queue_url}', AttributeNames=['All'])['Attributes']\n\
             print(a['ApproximateNumberOfMessages'], a['ApproximateNumberOfMessagesNotVisible'])"
        ),
    )
}

#[test]
fn an_sqs_dataset_reaches_parquet_and_a_killed_proxy_loses_nothing() {
    let moto = moto::Moto::start();
    let endpoint = moto.endpoint.as_str();
    let queue_url = boto3(
        endpoint,
        "print(sqs.create_queue(QueueName='events')['QueueUrl'])",
    );
    send(endpoint, &queue_url, 0..200);
    let dir = tempfile::tempdir().unwrap();
    let (http, syslog) = (free_tcp(), free_udp());
    let up = UpProcess::start(dir.path(), http, syslog);
    let (status, body) = up.api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(json!({
            "dataset_id": "queue",
            "source": { "plugin": "sqs", "settings": {
                "queue_url": queue_url,
                "access_key_id": "test",
                "secret_access_key": "test",
                "wait_time_secs": 1,
                "receivers": 2,
                "visibility_timeout_secs": 20,
            }},
            "testing": true,
        })),
    );
    assert_eq!(status, 201, "{body}");

    let folder = dir.path().join("buckets/packer/demo/queue/data/parquet");
    // At least once: a message whose delete came after its visibility timeout (a slow server)
    // is received again and stored twice, so the wait is for every message, not a row count.
    wait_for(
        Duration::from_secs(60),
        "the 200 messages are in Parquet",
        || {
            let mut seen = read_parquet(&folder, &[]).seq;
            seen.sort_unstable();
            seen.dedup();
            seen == (0..200).collect::<Vec<_>>()
        },
    );
    let expected: Vec<(i64, Option<String>)> = (0..200)
        .map(|seq| (seq, Some(format!("u{}", seq % 5))))
        .collect();
    let mut stored = seq_with(&folder, "user.name");
    if stored.len() > 200 {
        eprintln!(
            "{} rows for 200 messages: some were received twice",
            stored.len()
        );
    }
    stored.dedup();
    assert_eq!(stored, expected);
    wait_for(Duration::from_secs(30), "the queue is empty", || {
        waiting(endpoint, &queue_url) == "0 0"
    });

    // Killed while messages flow: what it stored but had not deleted comes back after the
    // visibility timeout, what it had received but not stored too; nothing is lost.
    let sender = {
        let (endpoint, queue_url) = (endpoint.to_owned(), queue_url.clone());
        std::thread::spawn(move || send(&endpoint, &queue_url, 200..1000))
    };
    wait_for(Duration::from_secs(60), "new rows arrive", || {
        read_parquet(&folder, &[]).seq.len() > 300
    });
    up.kill();
    sender.join().unwrap();
    let up = UpProcess::start(dir.path(), http, syslog);
    wait_for(
        Duration::from_secs(120),
        "every sent message is in Parquet",
        || {
            let mut seen = read_parquet(&folder, &[]).seq;
            seen.sort_unstable();
            seen.dedup();
            seen == (0..1000).collect::<Vec<_>>()
        },
    );
    wait_for(Duration::from_secs(30), "the queue is empty", || {
        waiting(endpoint, &queue_url) == "0 0"
    });
    let rows = read_parquet(&folder, &[]).seq.len();
    eprintln!(
        "after SIGKILL: 1000 messages, {} rows stored twice (at least once)",
        rows - 1000
    );
    assert_eq!(up.terminate().code(), Some(0));
}
