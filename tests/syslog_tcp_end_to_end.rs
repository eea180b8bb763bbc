//! End-to-end on a running `bytefreezer up`: syslog over TCP from util-linux `logger` (octet
//! counting and newlines) and from `bytefreezer fakedata` becomes Parquet rows; a syslog-over-TLS
//! dataset created at runtime takes TLS senders and closes its port when paused; and what the
//! proxy read before a clean stop is in Parquet after the restart.

#[path = "support/up.rs"]
mod up;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use bytefreezer_api::metrics::PROXY_SYSLOG_TCP_MESSAGES_TOTAL;
use serde_json::{Value, json};
use up::{UpProcess, count_rows, free_tcp, free_udp, read_parquet, wait_for};

fn logger(address: SocketAddr, extra: &[&str], message: &str) {
    let output = Command::new("logger")
        .args(["--tcp", "--server", "127.0.0.1", "--port"])
        .arg(address.port().to_string())
        .args(["--rfc5424", "--tag", "e2e"])
        .args(extra)
        .arg(message)
        .output()
        .expect("util-linux logger (package bsdutils) runs");
    assert!(
        output.status.success(),
        "logger: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn fakedata(target: &str, extra: &[&str], count: u64) {
    let status = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["fakedata", "--target", target, "--format", "rfc5424"])
        .args(["--count", &count.to_string(), "--rate", "5000"])
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success(), "fakedata to {target}");
}

#[test]
fn syslog_over_tcp_from_logger_and_fakedata_becomes_parquet_rows() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    logger(up.syslog_tcp, &["--octet-count"], "seq=1 counted over tcp");
    logger(up.syslog_tcp, &[], "seq=2 newline over tcp");
    fakedata(&format!("tcp://{}", up.syslog_tcp), &[], 300);
    fakedata(
        &format!("tcp://{}", up.syslog_tcp),
        &["--framing", "newline"],
        200,
    );

    let folder = dir
        .path()
        .join("buckets/packer/demo/syslog-tcp/data/parquet");
    wait_for(Duration::from_secs(60), "502 rows are in Parquet", || {
        read_parquet(&folder, &[]).seq.len() == 502
    });
    let rows = read_parquet(
        &folder,
        &["message", "app_name", "sender_address", "format"],
    );
    let from_logger: Vec<(i64, Option<String>)> = rows
        .seq
        .iter()
        .zip(&rows.columns["app_name"])
        .zip(&rows.columns["message"])
        .filter(|((_, app), _)| app.as_deref() == Some("e2e"))
        .map(|((seq, _), message)| (*seq, message.clone()))
        .collect();
    let mut from_logger = from_logger;
    from_logger.sort();
    assert_eq!(
        from_logger,
        vec![
            (1, Some("seq=1 counted over tcp".to_owned())),
            (2, Some("seq=2 newline over tcp".to_owned())),
        ]
    );
    assert!(
        rows.columns["format"]
            .iter()
            .all(|f| f.as_deref() == Some("rfc5424")),
        "every message parsed as RFC 5424: {:?}",
        rows.columns["format"]
    );
    assert!(
        rows.columns["sender_address"]
            .iter()
            .all(|a| a.as_deref() == Some("127.0.0.1"))
    );
    assert_eq!(up.metric(PROXY_SYSLOG_TCP_MESSAGES_TOTAL.name), 502);
    assert_eq!(up.terminate().code(), Some(0));
}

#[test]
fn a_tls_dataset_created_at_runtime_takes_tls_senders_and_closes_when_paused() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let pki = bytefreezer_http_listen::TestPki::new(dir.path());
    let (cert, key_file, ca_file) = (pki.cert_file, pki.key_file, pki.ca_file);

    let api = |method, path: &str, body| up.api(method, path, body);
    let bind = free_tcp();
    let dataset = |settings: Value| {
        json!({
            "dataset_id": "secure",
            "source": { "plugin": "syslog", "settings": settings },
            "testing": true,
        })
    };
    // TLS without its certificate, and TLS files on plain tcp, are refused with the field.
    let (status, body) = api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(dataset(
            json!({ "bind": bind.to_string(), "transport": "tls" }),
        )),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("tls_cert_file"), "{body}");
    // The demo syslog-over-TCP dataset's port is taken for TCP (not for UDP).
    let (status, body) = api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(dataset(
            json!({ "bind": up.syslog_tcp.to_string(), "transport": "tcp" }),
        )),
    );
    assert_eq!(status, 409, "{body}");
    let (status, body) = api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(dataset(json!({
            "bind": bind.to_string(),
            "transport": "tls",
            "framing": "octet_counting",
            "tls_cert_file": cert.display().to_string(),
            "tls_key_file": key_file.display().to_string(),
        }))),
    );
    assert_eq!(status, 201, "{body}");
    wait_for(Duration::from_secs(10), "the TLS port is open", || {
        TcpStream::connect(bind).is_ok()
    });
    let target = format!("tls://localhost:{}", bind.port());
    let ca = ca_file.display().to_string();
    fakedata(&target, &["--ca-file", &ca], 250);
    // Plain text on the TLS port is not a handshake: refused, nothing stored.
    let mut plain = TcpStream::connect(bind).unwrap();
    let _ = plain.write_all(b"13 <13>plaintext");
    drop(plain);

    let folder = dir.path().join("buckets/packer/demo/secure/data/parquet");
    wait_for(Duration::from_secs(60), "250 rows are in Parquet", || {
        count_rows(&folder) == 250
    });

    // Paused: its port closes; resumed: it opens again.
    let (status, body) = api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets/secure/pause",
        None,
    );
    assert!(status == 200 || status == 204, "{status} {body}");
    wait_for(Duration::from_secs(10), "the paused port is closed", || {
        TcpStream::connect(bind).is_err()
    });
    let (status, body) = api(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets/secure/resume",
        None,
    );
    assert!(status == 200 || status == 204, "{status} {body}");
    wait_for(Duration::from_secs(10), "the resumed port is open", || {
        TcpStream::connect(bind).is_ok()
    });
    fakedata(&target, &["--ca-file", &ca], 50);
    wait_for(Duration::from_secs(60), "300 rows are in Parquet", || {
        count_rows(&folder) == 300
    });
    assert_eq!(up.terminate().code(), Some(0));
}

#[test]
fn messages_read_before_a_clean_stop_are_in_parquet_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (http, syslog) = (free_tcp(), free_udp());
    let up = UpProcess::start(dir.path(), http, syslog);
    let syslog_tcp = up.syslog_tcp;
    let mut stream = TcpStream::connect(syslog_tcp).unwrap();
    const MESSAGES: i64 = 5000;
    for seq in 0..MESSAGES {
        writeln!(stream, "<13>1 - h app - - - seq={seq} before the stop").unwrap();
    }
    stream.flush().unwrap();
    wait_for(
        Duration::from_secs(30),
        "the proxy read every message",
        || up.metric(PROXY_SYSLOG_TCP_MESSAGES_TOTAL.name) == MESSAGES as u64,
    );
    // Stopped while the sender is still connected: what was read reaches the spool first.
    assert_eq!(up.terminate().code(), Some(0));
    drop(stream);
    // The batches wait in the spool whatever port the input opens next.
    let up = UpProcess::start(dir.path(), http, syslog);
    let folder = dir
        .path()
        .join("buckets/packer/demo/syslog-tcp/data/parquet");
    wait_for(
        Duration::from_secs(60),
        "every message read before the stop is in Parquet",
        || read_parquet(&folder, &[]).seq.len() >= MESSAGES as usize,
    );
    let mut seq = read_parquet(&folder, &[]).seq;
    seq.sort();
    assert_eq!(seq, (0..MESSAGES).collect::<Vec<_>>());
    assert_eq!(up.terminate().code(), Some(0));
}
