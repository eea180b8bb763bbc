//! End-to-end on a running `bytefreezer up`: events posted to an `http` dataset (JSON, NDJSON,
//! arrays, text lines, gzip and zstd) become Parquet rows; bad bodies, wrong tokens and unknown
//! paths are refused with clear answers; datasets on one port are added, guarded and paused at
//! runtime; and events answered 200 survive a kill of the process.

#[path = "support/up.rs"]
mod up;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use bytefreezer_api::metrics::{PROXY_HTTP_EVENTS_TOTAL, PROXY_HTTP_UNROUTED_TOTAL};
use serde_json::{Value, json};
use up::{UpProcess, duckdb, free_tcp, free_udp, read_parquet, wait_for};

struct Sender {
    client: reqwest::blocking::Client,
}

impl Sender {
    fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, response.json().unwrap_or(Value::Null), headers)
    }
}

fn events_url(address: SocketAddr, path: &str) -> String {
    format!("http://{address}{path}")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn posted_events_become_parquet_rows_and_bad_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let sender = Sender {
        client: reqwest::blocking::Client::new(),
    };
    let url = events_url(up.events, "/events");

    let ndjson = b"{\"seq\":1,\"user\":{\"name\":\"ana\"},\"action\":\"login\"}\n{\"seq\":2,\"user\":{\"name\":\"bo\"},\"action\":\"logout\"}\n";
    let (status, body, _) = sender.post(&url, ndjson.to_vec(), &[]);
    assert_eq!((status, &body), (200, &json!({ "events": 2 })));
    let array = br#"[{"seq":3,"action":"login"},{"seq":4,"bytes":1500}]"#;
    let (status, _, _) = sender.post(
        &url,
        gzip(array),
        &[
            ("content-encoding", "gzip"),
            ("content-type", "application/json"),
        ],
    );
    assert_eq!(status, 200);
    let pretty = serde_json::to_vec_pretty(&json!({ "seq": 5, "user": { "name": "cy" } })).unwrap();
    let zstd = zstd::encode_all(&pretty[..], 3).unwrap();
    assert_eq!(
        sender.post(&url, zstd, &[("content-encoding", "zstd")]).0,
        200
    );

    // Refused: bad JSON names its line, an unknown path, a wrong method, an unknown encoding.
    let (status, body, _) = sender.post(&url, b"{\"seq\":6}\n{oops\n".to_vec(), &[]);
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("line 2"), "{body}");
    let (status, body, _) = sender.post(&events_url(up.events, "/nope"), ndjson.to_vec(), &[]);
    assert_eq!(status, 404, "{body}");
    assert_eq!(up.metric(PROXY_HTTP_UNROUTED_TOTAL.name), 1);
    let response = sender.client.get(&url).send().unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let (status, _, _) = sender.post(&url, ndjson.to_vec(), &[("content-encoding", "br")]);
    assert_eq!(status, 415);
    // Over the dataset's max_body_bytes (10 MiB by default), declared: refused before a byte
    // of the body is sent (a client that sends it anyway finds the connection closed).
    let mut stream = std::net::TcpStream::connect(up.events).unwrap();
    write!(
        stream,
        "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        11 << 20
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Inflated past the limit: a small gzip body of 11 MiB of spaces.
    let (status, _, _) = sender.post(
        &url,
        gzip(&vec![b' '; 11 << 20]),
        &[("content-encoding", "gzip")],
    );
    assert_eq!(status, 413);

    let folder = up.data_dir.join("buckets/packer/demo/events/data/parquet");
    wait_for(
        Duration::from_secs(60),
        "the five accepted events are in Parquet",
        || read_parquet(&folder, &[]).seq.len() == 5,
    );
    let rows = read_parquet(&folder, &["user.name", "action", "bytes", "sender_address"]);
    /// seq, user.name, action, bytes
    type Row = (i64, Option<String>, Option<String>, Option<String>);
    let mut by_seq: Vec<Row> = (0..5)
        .map(|i| {
            (
                rows.seq[i],
                rows.columns["user.name"][i].clone(),
                rows.columns["action"][i].clone(),
                rows.columns["bytes"][i].clone(),
            )
        })
        .collect();
    by_seq.sort();
    let text = |v: &str| Some(v.to_owned());
    assert_eq!(
        by_seq,
        vec![
            (1, text("ana"), text("login"), None),
            (2, text("bo"), text("logout"), None),
            (3, None, text("login"), None),
            (4, None, None, text("1500")),
            (5, text("cy"), None, None),
        ]
    );
    assert!(
        rows.columns["sender_address"]
            .iter()
            .all(|a| a.as_deref() == Some("127.0.0.1")),
        "{:?}",
        rows.columns["sender_address"]
    );
    assert_eq!(up.metric(PROXY_HTTP_EVENTS_TOTAL.name), 5);

    // `bytefreezer fakedata` feeds an http input as it feeds a syslog one.
    let fed = std::process::Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["fakedata", "--target", &url, "--format", "json"])
        .args(["--count", "300", "--rate", "3000"])
        .status()
        .unwrap();
    assert!(fed.success());
    let pattern = format!("{}/**/*.parquet", folder.display());
    wait_for(
        Duration::from_secs(60),
        "the 300 fake events are in Parquet",
        || {
            duckdb(&format!(
                "SELECT count(*) FROM read_parquet('{pattern}', union_by_name=true) WHERE username IS NOT NULL"
            )) == "[(300,)]"
        },
    );
    assert_eq!(up.metric(PROXY_HTTP_EVENTS_TOTAL.name), 305);
    assert_eq!(up.terminate().code(), Some(0));
}

#[test]
fn datasets_share_a_port_by_path_with_their_own_token_and_pause_at_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let api = |method, path: &str, body| up.api(method, path, body);
    let token = "webhook-secret-0123456789";
    let hooks = |path: &str, token: Option<&str>| {
        json!({
            "dataset_id": "hooks",
            "source": { "plugin": "http", "settings": {
                "bind": up.events.to_string(), "path": path, "token": token, "format": "text",
            } },
            "testing": true,
        })
    };
    // The demo dataset's path on its port is taken; another path on the same port is not.
    let (status, body) = api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(hooks("/events", None)),
    );
    assert_eq!(status, 409, "{body}");
    let (status, body) = api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(hooks("/hooks", Some("short"))),
    );
    assert_eq!(status, 422, "{body}");
    let (status, body) = api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(hooks("/hooks", Some(token))),
    );
    assert_eq!(status, 201, "{body}");
    // Readers see the token redacted.
    let (_, audit) = api(reqwest::Method::GET, "/api/v1/audit", None);
    assert!(!audit.to_string().contains(token), "{audit}");

    let sender = Sender {
        client: reqwest::blocking::Client::new(),
    };
    let url = events_url(up.events, "/hooks");
    let bearer = format!("Bearer {token}");
    wait_for(Duration::from_secs(10), "the new path is served", || {
        sender.post(&url, b"probe".to_vec(), &[]).0 == 401
    });
    let (status, _, headers) = sender.post(
        &url,
        b"x".to_vec(),
        &[("authorization", "Bearer wrong-token-0123456789")],
    );
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (status, body, _) = sender.post(
        &url,
        b"seq=1 first line\r\nseq=2 second line\n".to_vec(),
        &[("authorization", &bearer)],
    );
    assert_eq!((status, &body), (200, &json!({ "events": 2 })));
    let folder = dir.path().join("buckets/packer/demo/hooks/data/parquet");
    wait_for(Duration::from_secs(60), "both lines are in Parquet", || {
        !read_parquet_messages(&folder).is_empty()
    });
    let mut messages = read_parquet_messages(&folder);
    messages.sort();
    assert_eq!(messages, ["seq=1 first line", "seq=2 second line"]);

    // Paused: its path answers 404 while the demo dataset on the same port still takes events.
    let (status, body) = api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets/hooks/pause",
        None,
    );
    assert!(status == 200 || status == 204, "{status} {body}");
    wait_for(Duration::from_secs(10), "the paused path is gone", || {
        sender
            .post(&url, b"late".to_vec(), &[("authorization", &bearer)])
            .0
            == 404
    });
    assert_eq!(
        sender
            .post(
                &events_url(up.events, "/events"),
                b"{\"seq\":1}".to_vec(),
                &[]
            )
            .0,
        200
    );
    assert_eq!(up.terminate().code(), Some(0));
}

fn read_parquet_messages(folder: &std::path::Path) -> Vec<String> {
    let mut messages = Vec::new();
    for path in up::parquet_files(folder) {
        let file = std::fs::File::open(&path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let column = batch.column_by_name("message").expect("message column");
            let text = arrow::array::AsArray::as_string::<i32>(column);
            messages.extend(text.iter().flatten().map(str::to_owned));
        }
    }
    messages
}

#[test]
fn events_answered_200_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let (http, syslog) = (free_tcp(), free_udp());
    let up = UpProcess::start(dir.path(), http, syslog);
    let sender = Sender {
        client: reqwest::blocking::Client::new(),
    };
    let url = events_url(up.events, "/events");
    let mut acknowledged = 0;
    for request in 0..20 {
        let body: String = (0..50)
            .map(|i| format!("{{\"seq\":{}}}\n", request * 50 + i))
            .collect();
        let (status, _, _) = sender.post(&url, body.into_bytes(), &[]);
        assert_eq!(status, 200);
        acknowledged += 50;
    }
    // No time to ship: the process dies with the events in its spool (or on their way).
    up.kill();
    let up = UpProcess::start(dir.path(), http, syslog);
    let folder = dir.path().join("buckets/packer/demo/events/data/parquet");
    wait_for(
        Duration::from_secs(60),
        "every acknowledged event is in Parquet after the restart",
        || read_parquet(&folder, &[]).seq.len() >= acknowledged,
    );
    let mut seq = read_parquet(&folder, &[]).seq;
    seq.sort();
    seq.dedup();
    assert_eq!(seq, (0..acknowledged as i64).collect::<Vec<_>>());
    assert_eq!(up.terminate().code(), Some(0));
}
