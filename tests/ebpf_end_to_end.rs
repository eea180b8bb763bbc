//! End-to-end on a running `bytefreezer up`: its demo `ebpf` dataset takes NDJSON datagrams in
//! every shape agents send (NDJSON, pretty-printed, NUL-padded, an array, extra and nested
//! fields, epoch-number timestamps, a malformed one) and lands them in Parquet in the typed
//! schema of docs/ebpf.md; then `bytefreezer agent` (as root: the real probes) reports this
//! host's own TCP connection, program run and DNS lookup into the same dataset.

#[path = "support/up.rs"]
mod up;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use arrow::array::AsArray;
use arrow::datatypes::DataType;
use bytefreezer_api::metrics::{AGENT_RECORDS_TOTAL, PROXY_DECODE_ERRORS_TOTAL};
use up::{UpProcess, free_tcp, free_udp, parquet_batches, parquet_files, wait_for};

type Row = BTreeMap<String, Option<String>>;

/// Every row of the Parquet files under `folder`, each column as text, and each column's type.
fn rows(folder: &Path) -> (Vec<Row>, BTreeMap<String, DataType>) {
    let mut rows = Vec::new();
    let mut types = BTreeMap::new();
    for file in parquet_files(folder) {
        for batch in parquet_batches(&file) {
            let schema = batch.schema();
            let mut batch_rows = vec![Row::new(); batch.num_rows()];
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                types.insert(field.name().clone(), field.data_type().clone());
                let text = arrow::compute::cast(column, &DataType::Utf8).unwrap();
                let text = text.as_string::<i32>();
                for (row, value) in batch_rows.iter_mut().zip(text.iter()) {
                    row.insert(field.name().clone(), value.map(str::to_owned));
                }
            }
            rows.extend(batch_rows);
        }
    }
    (rows, types)
}

fn value<'a>(row: &'a Row, column: &str) -> Option<&'a str> {
    row.get(column).and_then(|v| v.as_deref())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .is_some_and(|uids| uids.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn ndjson_datagrams_and_the_agent_s_records_land_typed_in_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let folder = dir.path().join("buckets/packer/demo/ebpf/data/parquet");

    let fixture: Vec<String> = serde_json::from_str(include_str!("fixtures/ebpf-datagrams.json"))
        .expect("the fixture is a JSON array of datagrams");
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in &fixture {
        sender.send_to(datagram.as_bytes(), up.ebpf).unwrap();
    }
    wait_for(Duration::from_secs(60), "7 fixture rows in Parquet", || {
        rows(&folder)
            .0
            .iter()
            .filter(|r| value(r, "seq").is_some())
            .count()
            >= 7
    });
    let (all, types) = rows(&folder);
    let by_seq: BTreeMap<i64, &Row> = all
        .iter()
        .filter_map(|row| Some((value(row, "seq")?.parse().ok()?, row)))
        .collect();
    assert_eq!(
        by_seq.keys().copied().collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
    for (column, expected) in [
        ("pid", DataType::UInt32),
        ("bytes_sent", DataType::UInt64),
        ("dst_port", DataType::UInt16),
        ("exit_code", DataType::Int32),
        ("ip_protocol", DataType::UInt8),
        ("dns_query", DataType::Utf8),
    ] {
        assert_eq!(types.get(column), Some(&expected), "{column}");
    }
    assert!(
        matches!(types.get("event_time"), Some(DataType::Timestamp(_, _))),
        "{types:?}"
    );
    assert_eq!(value(by_seq[&1], "comm"), Some("nginx"));
    assert_eq!(value(by_seq[&1], "pid"), Some("4242"));
    assert_eq!(
        value(by_seq[&1], "event_time"),
        Some("2026-12-07T10:00:00.000001Z")
    );
    assert_eq!(value(by_seq[&2], "bytes_sent"), Some("18000000000"));
    assert_eq!(value(by_seq[&2], "dns_query"), None);
    assert_eq!(value(by_seq[&3], "dns_answers"), Some("192.0.2.1"));
    assert_eq!(value(by_seq[&4], "icmp_type"), Some("8"));
    // An epoch-nanosecond timestamp, a negative pid (null), nested extra fields flattened.
    assert_eq!(
        value(by_seq[&5], "event_time"),
        Some("2026-12-07T10:00:04Z")
    );
    assert_eq!(value(by_seq[&5], "pid"), None);
    assert_eq!(value(by_seq[&5], "k8s.pod"), Some("api-7"));
    assert_eq!(value(by_seq[&6], "src_addr"), Some("2001:db8::1"));
    assert_eq!(value(by_seq[&7], "dst_port"), None);
    assert_eq!(value(by_seq[&7], "outcome"), Some("failed"));
    assert!(
        up.metric(PROXY_DECODE_ERRORS_TOTAL.name) >= 1,
        "the malformed datagram is counted"
    );

    if !is_root() {
        eprintln!(
            "SKIPPED the agent half: loading eBPF probes needs root (or CAP_BPF, CAP_PERFMON \
             and CAP_NET_RAW); run the tests as root to exercise it"
        );
        assert_eq!(up.terminate().code(), Some(0));
        return;
    }
    let metrics = free_tcp();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["agent", "--flow-interval-secs", "1", "--host", "e2e-host"])
        .arg("--proxy")
        .arg(format!("udp://{}", up.ebpf))
        .arg("--metrics-listen")
        .arg(metrics.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start bytefreezer agent");
    wait_for(Duration::from_secs(30), "the agent serves /metrics", || {
        reqwest::blocking::get(format!("http://{metrics}/metrics")).is_ok()
    });

    let marker = format!("bfe2e{}", std::process::id());
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_port = server.local_addr().unwrap().port();
    let serve = std::thread::spawn(move || {
        let (mut peer, _) = server.accept().unwrap();
        let mut received = vec![0u8; 20_000];
        peer.read_exact(&mut received).unwrap();
    });
    let mut client = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
    client.write_all(&[9u8; 20_000]).unwrap();
    serve.join().unwrap();
    drop(client);
    let program = dir.path().join(&marker);
    std::os::unix::fs::symlink("/bin/true", &program).unwrap();
    assert!(Command::new(&program).status().unwrap().success());
    let responder = UdpSocket::bind("127.0.0.78:53").expect("port 53 on 127.0.0.78");
    let resolver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in [marker.as_str(), "test"] {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    resolver.send_to(&query, "127.0.0.78:53").unwrap();
    let mut buffer = [0u8; 512];
    let (length, peer) = responder.recv_from(&mut buffer).unwrap();
    let mut answer = buffer[..length].to_vec();
    answer[2] = 0x81;
    answer[3] = 0x83; // NXDOMAIN
    responder.send_to(&answer, peer).unwrap();

    let name = format!("{marker}.test");
    wait_for(
        Duration::from_secs(90),
        "the agent's connection, process and dns records in Parquet",
        || {
            let (all, _) = rows(&folder);
            let ours = |kind: &str| {
                all.iter()
                    .filter(|r| {
                        value(r, "host") == Some("e2e-host")
                            && value(r, "record_type") == Some(kind)
                    })
                    .cloned()
                    .collect::<Vec<_>>()
            };
            ours("connection")
                .iter()
                .any(|r| value(r, "dst_port") == Some(&server_port.to_string()))
                && ours("process")
                    .iter()
                    .any(|r| value(r, "comm") == Some(marker.as_str()))
                && ours("dns")
                    .iter()
                    .any(|r| value(r, "dns_query") == Some(name.as_str()))
        },
    );
    let (all, _) = rows(&folder);
    let find = |kind: &str, column: &str, wanted: &str| -> Row {
        all.iter()
            .find(|r| {
                value(r, "host") == Some("e2e-host")
                    && value(r, "record_type") == Some(kind)
                    && value(r, column) == Some(wanted)
            })
            .cloned()
            .unwrap()
    };
    let connection = find("connection", "dst_port", &server_port.to_string());
    assert_eq!(
        value(&connection, "pid"),
        Some(std::process::id().to_string().as_str())
    );
    let sent: u64 = value(&connection, "bytes_sent").unwrap().parse().unwrap();
    assert!((20_000..=20_002).contains(&sent), "{connection:?}");
    assert!(value(&connection, "event_time").is_some());
    let process = find("process", "comm", &marker);
    assert_eq!(value(&process, "event"), Some("exec"));
    assert_eq!(value(&process, "user"), Some("root"));
    let dns = find("dns", "dns_query", &name);
    assert_eq!(value(&dns, "dns_rcode"), Some("NXDOMAIN"));

    let scraped = reqwest::blocking::get(format!("http://{metrics}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(scraped.contains(AGENT_RECORDS_TOTAL.name), "{scraped}");
    // SIGTERM stops the agent cleanly.
    let pid = rustix::process::Pid::from_raw(agent.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = agent.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(up.terminate().code(), Some(0));

    // `up --agent` runs the agent in the same process, sending to its demo ebpf dataset.
    let second = tempfile::tempdir().unwrap();
    let up = UpProcess::start_with(second.path(), free_tcp(), free_udp(), &["--agent".as_ref()]);
    let folder = second.path().join("buckets/packer/demo/ebpf/data/parquet");
    let marker = format!("bfup{}", std::process::id());
    let program = second.path().join(&marker);
    std::os::unix::fs::symlink("/bin/true", &program).unwrap();
    wait_for(
        Duration::from_secs(60),
        "up --agent records a program run",
        || {
            // Run again until the agent, started with up, has its probes attached.
            assert!(Command::new(&program).status().unwrap().success());
            rows(&folder)
                .0
                .iter()
                .any(|r| value(r, "comm") == Some(marker.as_str()))
        },
    );
    assert_eq!(up.terminate().code(), Some(0));
}
