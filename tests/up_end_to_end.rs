//! End-to-end: the real `bytefreezer up` binary, real UDP, real HTTP, real files. These tests
//! assert what a user observes: rows and values in the Parquet files at the documented paths.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

struct UpProcess {
    child: Child,
    http: SocketAddr,
    syslog: SocketAddr,
    netflow: SocketAddr,
    ipfix: SocketAddr,
    sflow: SocketAddr,
    data_dir: PathBuf,
}

impl UpProcess {
    fn start(data_dir: &Path, http: SocketAddr, syslog: SocketAddr) -> UpProcess {
        UpProcess::start_with(data_dir, http, syslog, &[])
    }

    fn start_with(
        data_dir: &Path,
        http: SocketAddr,
        syslog: SocketAddr,
        extra: &[&std::ffi::OsStr],
    ) -> UpProcess {
        let (netflow, ipfix, sflow) = (free_udp(), free_udp(), free_udp());
        let child = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args(["up", "--no-fakedata", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .args([
                "--netflow-bind",
                &netflow.to_string(),
                "--ipfix-bind",
                &ipfix.to_string(),
                "--sflow-bind",
                &sflow.to_string(),
            ])
            .args([
                "--http",
                &http.to_string(),
                "--syslog-bind",
                &syslog.to_string(),
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start bytefreezer up");
        let process = UpProcess {
            child,
            http,
            syslog,
            netflow,
            ipfix,
            sflow,
            data_dir: data_dir.to_path_buf(),
        };
        process.wait_until(
            Duration::from_secs(60),
            "/readyz says the proxy listens",
            |p| {
                reqwest::blocking::get(format!("http://{}/readyz", p.http))
                    .is_ok_and(|response| response.status() == 200)
            },
        );
        assert_eq!(
            process.metric("bytefreezer_proxy_input_up"),
            4,
            "syslog, netflow, ipfix and sflow demo inputs"
        );
        process
    }

    fn metrics(&self) -> Option<String> {
        let response = reqwest::blocking::get(format!("http://{}/metrics", self.http)).ok()?;
        response.text().ok()
    }

    /// Sum of a metric over all its label sets; 0 when absent or unreachable.
    fn metric(&self, name: &str) -> u64 {
        let Some(text) = self.metrics() else { return 0 };
        text.lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    fn wait_until(&self, limit: Duration, what: &str, mut done: impl FnMut(&UpProcess) -> bool) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if done(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out after {limit:?} waiting until {what}");
    }

    fn parquet_folder(&self) -> PathBuf {
        self.data_dir
            .join("buckets/packer/demo/syslog/data/parquet")
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: plain kill(2) on the child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "bytefreezer up did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for UpProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_tcp() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The message for sequence number `seq`: RFC 5424 with key=value and JSON bodies, RFC 3164,
/// a bare JSON datagram, and bytes that are not valid UTF-8. Every kind carries `seq`.
fn message(seq: u64) -> Vec<u8> {
    let now = chrono::Utc::now();
    match seq % 5 {
        0 => format!(
            "<134>1 {} fw01 filterlog 4242 ID47 [meta seq=\"{seq}\"] seq={seq} action=deny source_ip=10.0.0.{} msg=\"blocked connection\"",
            now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            seq % 250
        )
        .into_bytes(),
        1 => format!("<38>{} web02 sshd[812]: seq={seq} user=alice accepted", now.format("%b %e %H:%M:%S"))
            .into_bytes(),
        2 => format!(
            "<165>1 {} app03 billing - - - {{\"seq\":{seq},\"user\":\"bob\",\"amount\":12.5}}",
            now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )
        .into_bytes(),
        3 => format!("{{\"seq\":{seq},\"event\":\"login\",\"ok\":true}}").into_bytes(),
        _ => {
            let mut bytes = b"\xff\xfe garbage \xc3\x28 ".to_vec();
            bytes.extend_from_slice(format!("seq={seq}").as_bytes());
            bytes
        }
    }
}

fn send(target: SocketAddr, sequence: std::ops::Range<u64>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in sequence {
        socket.send_to(&message(seq), target).unwrap();
        // Paced so a small kernel receive buffer on the test host does not drop datagrams.
        if seq % 20 == 19 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[derive(Default)]
struct ParquetRows {
    files: Vec<PathBuf>,
    seq: Vec<i64>,
    columns: HashMap<String, Vec<Option<String>>>,
}

/// Reads every finished Parquet file under `folder` (multipart uploads in progress have other names).
fn read_parquet(folder: &Path, keep_columns: &[&str]) -> ParquetRows {
    let mut rows = ParquetRows::default();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                rows.files.push(path);
            }
        }
    }
    rows.files.sort();
    for file in &rows.files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let seq = arrow::compute::cast(
                batch.column_by_name("seq").expect("seq column"),
                &DataType::Int64,
            )
            .unwrap();
            let seq = seq.as_primitive::<Int64Type>();
            rows.seq
                .extend((0..seq.len()).map(|i| if seq.is_null(i) { -1 } else { seq.value(i) }));
            for name in keep_columns {
                let values = match batch.column_by_name(name) {
                    Some(column) => {
                        let text = arrow::compute::cast(column, &DataType::Utf8).unwrap();
                        let text = text.as_string::<i32>();
                        (0..text.len())
                            .map(|i| text.is_valid(i).then(|| text.value(i).to_owned()))
                            .collect()
                    }
                    None => vec![None; batch.num_rows()],
                };
                rows.columns
                    .entry(name.to_string())
                    .or_default()
                    .extend(values);
            }
        }
    }
    rows
}

fn assert_readable_by_pyarrow_and_duckdb(folder: &Path, expected_rows: usize) {
    let script = format!(
        r#"
import pyarrow.dataset as ds, duckdb, sys
folder = {folder:?}
table = ds.dataset(folder, format="parquet", partitioning="hive").to_table()
assert table.num_rows == {expected_rows}, table.num_rows
count = duckdb.sql(f"SELECT count(*) FROM read_parquet('{{folder}}/**/*.parquet', hive_partitioning=true, union_by_name=true)").fetchall()[0][0]
assert count == {expected_rows}, count
hours = duckdb.sql(f"SELECT DISTINCT year, month, day, hour FROM read_parquet('{{folder}}/**/*.parquet', hive_partitioning=true, union_by_name=true)").fetchall()
assert len(hours) >= 1, hours
print("ok", table.num_rows, count)
"#,
        folder = folder.display().to_string()
    );
    let output = Command::new("python3").args(["-c", &script]).output().expect(
        "python3 is needed to check Parquet with pyarrow and DuckDB; `cargo xtask test` installs them",
    );
    assert!(
        output.status.success(),
        "pyarrow/DuckDB could not read the Parquet (install them with `cargo xtask install-test-deps`):\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn up_turns_mixed_syslog_into_partitioned_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let total = 10_000u64;
    send(up.syslog, 0..total);

    up.wait_until(
        Duration::from_secs(90),
        "all 10,000 rows are in Parquet",
        |up| read_parquet(&up.parquet_folder(), &[]).seq.len() as u64 >= total,
    );
    let rows = read_parquet(
        &up.parquet_folder(),
        &[
            "format",
            "hostname",
            "app_name",
            "procid",
            "action",
            "user",
            "parse_error",
            "facility",
            "severity",
            "structured_data",
        ],
    );
    assert_eq!(rows.seq.len() as u64, total, "exact row count");
    let mut seen = rows.seq.clone();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..total as i64).collect::<Vec<_>>(),
        "every message exactly once"
    );

    let layout = regex_like_layout();
    for file in &rows.files {
        let relative = file
            .strip_prefix(dir.path().join("buckets/packer"))
            .unwrap();
        assert!(
            layout(&relative.display().to_string()),
            "unexpected Parquet path {}",
            relative.display()
        );
    }

    let row_of = |seq: i64| rows.seq.iter().position(|s| *s == seq).unwrap();
    let value = |column: &str, seq: i64| rows.columns[column][row_of(seq)].clone();
    assert_eq!(value("format", 0).as_deref(), Some("rfc5424"));
    assert_eq!(value("hostname", 0).as_deref(), Some("fw01"));
    assert_eq!(value("app_name", 0).as_deref(), Some("filterlog"));
    assert_eq!(value("procid", 0).as_deref(), Some("4242"));
    assert_eq!(value("facility", 0).as_deref(), Some("16"));
    assert_eq!(value("severity", 0).as_deref(), Some("6"));
    assert_eq!(value("action", 0).as_deref(), Some("deny"));
    assert_eq!(
        value("structured_data", 0).as_deref(),
        Some("[meta seq=\"0\"]")
    );
    assert_eq!(value("format", 1).as_deref(), Some("rfc3164"));
    assert_eq!(value("hostname", 1).as_deref(), Some("web02"));
    assert_eq!(value("app_name", 1).as_deref(), Some("sshd"));
    assert_eq!(value("procid", 1).as_deref(), Some("812"));
    assert_eq!(value("user", 1).as_deref(), Some("alice"));
    assert_eq!(value("user", 2).as_deref(), Some("bob"));
    assert_eq!(value("format", 3).as_deref(), Some("unparsed"));
    assert_eq!(value("format", 4).as_deref(), Some("unparsed"));
    assert!(
        value("parse_error", 4).is_some(),
        "invalid bytes are marked"
    );
    assert!(value("parse_error", 0).is_none());
    let count_format = |format: &str| {
        rows.columns["format"]
            .iter()
            .filter(|f| f.as_deref() == Some(format))
            .count()
    };
    assert_eq!(count_format("rfc5424"), 4000);
    assert_eq!(count_format("rfc3164"), 2000);
    assert_eq!(count_format("unparsed"), 4000);

    assert_readable_by_pyarrow_and_duckdb(&up.parquet_folder(), total as usize);
    assert_cat_prints_rows_as_ndjson(&rows.files[0], dir.path());
    let status = up.terminate();
    assert!(status.success(), "clean stop on SIGTERM, got {status}");
}

fn assert_cat_prints_rows_as_ndjson(parquet: &Path, scratch: &Path) {
    let expected = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(parquet).unwrap())
        .unwrap()
        .metadata()
        .file_metadata()
        .num_rows() as usize;
    let output = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .arg("cat")
        .arg(parquet)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect();
    assert_eq!(lines.len(), expected);
    assert!(
        lines
            .iter()
            .all(|row| row["format"].is_string() && row["receive_time"].is_string())
    );

    let garbage = scratch.join("garbage.bin");
    std::fs::write(&garbage, b"neither parquet nor arrow").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .arg("cat")
        .arg(&garbage)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("neither Parquet nor an Arrow IPC stream")
    );
}

/// `demo/syslog/data/parquet/year=YYYY/month=MM/day=DD/hour=HH/NAME.parquet`
fn regex_like_layout() -> impl Fn(&str) -> bool {
    |path: &str| {
        let parts: Vec<&str> = path.split('/').collect();
        let numbered = |part: &str, prefix: &str, digits: usize| {
            part.strip_prefix(prefix)
                .is_some_and(|n| n.len() == digits && n.bytes().all(|b| b.is_ascii_digit()))
        };
        parts.len() == 9
            && parts[..4] == ["demo", "syslog", "data", "parquet"]
            && numbered(parts[4], "year=", 4)
            && numbered(parts[5], "month=", 2)
            && numbered(parts[6], "day=", 2)
            && numbered(parts[7], "hour=", 2)
            && parts[8].ends_with(".parquet")
    }
}

#[test]
fn sigkill_mid_pipeline_loses_no_durable_message_and_duplicates_none() {
    let dir = tempfile::tempdir().unwrap();
    let (http, syslog) = (free_tcp(), free_udp());
    let up = UpProcess::start(dir.path(), http, syslog);

    let sender = std::thread::spawn(move || send(syslog, 0..60_000));
    up.wait_until(
        Duration::from_secs(90),
        "piper and packer are at work",
        |up| {
            up.metric("bytefreezer_proxy_rows_durable_total") >= 15_000
                && up.metric("bytefreezer_packer_files_total") >= 1
        },
    );
    let durable_before_kill = up.metric("bytefreezer_proxy_rows_durable_total");
    up.kill();
    sender.join().unwrap();

    let up = UpProcess::start(dir.path(), http, syslog);
    let mut last = (0usize, Instant::now());
    up.wait_until(
        Duration::from_secs(120),
        "the restarted pipeline settles",
        |up| {
            let rows = read_parquet(&up.parquet_folder(), &[]).seq.len();
            if rows != last.0 {
                last = (rows, Instant::now());
            }
            rows as u64 >= durable_before_kill && last.1.elapsed() > Duration::from_secs(3)
        },
    );
    let rows = read_parquet(&up.parquet_folder(), &[]);
    eprintln!(
        "durable before SIGKILL: {durable_before_kill}; rows in Parquet after restart: {}",
        rows.seq.len()
    );
    let mut seen = rows.seq.clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen.len(),
        rows.seq.len(),
        "no message appears twice in Parquet"
    );
    assert!(
        rows.seq.len() as u64 >= durable_before_kill,
        "{} rows in Parquet but {durable_before_kill} were durable before SIGKILL",
        rows.seq.len()
    );
    assert!(up.terminate().success());
}

fn geoip_test_database() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-data/geoip/GeoIP2-City-Test.mmdb");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask install-test-deps` (it downloads MaxMind's test databases from PyPI)",
        path.display()
    );
    path
}

fn firewall_message(seq: u64) -> Vec<u8> {
    let action = if seq.is_multiple_of(2) {
        "deny"
    } else {
        "allow"
    };
    format!(
        "<134>1 {} fw01 filterlog - - - seq={seq} action={action} src=81.2.69.142",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
    .into_bytes()
}

fn send_firewall(target: SocketAddr, sequence: std::ops::Range<u64>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in sequence {
        socket.send_to(&firewall_message(seq), target).unwrap();
    }
}

#[test]
fn a_saved_pipeline_shapes_new_parquet_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let city = geoip_test_database();
    let up = UpProcess::start_with(
        dir.path(),
        free_tcp(),
        free_udp(),
        &["--geoip-city-db".as_ref(), city.as_os_str()],
    );
    let key = std::fs::read_to_string(dir.path().join("up-proxy.key")).unwrap();
    let client = reqwest::blocking::Client::new();
    let url = |path: &str| format!("http://{}{path}", up.http);
    let put = |path: &str, body: &str, key: Option<&str>| {
        let mut request = client
            .put(url(path))
            // What `curl -d` sends, as in the README.
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(key) = key {
            request = request.bearer_auth(key.trim());
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json::<serde_json::Value>().unwrap_or_default(),
        )
    };

    send_firewall(up.syslog, 0..20);
    up.wait_until(
        Duration::from_secs(60),
        "the first 20 rows are in Parquet",
        |p| read_parquet(&p.parquet_folder(), &[]).seq.len() == 20,
    );

    let own = "/api/v1/tenants/demo/datasets/syslog/pipeline";
    let documented = r#"{"filters":[{"type":"drop","config":{"condition":"action == 'deny'"}},{"type":"geoip","config":{"field":"src"}}]}"#;
    let (status, body) = put(
        own,
        r#"{"filters":[{"type":"drop","config":{"condition":"action =="}}]}"#,
        Some(&key),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["filter_index"], 0);
    assert!(
        body["error"].as_str().unwrap().contains("config.condition"),
        "{body}"
    );
    assert_eq!(put(own, documented, None).0, 401);
    assert_eq!(put(own, documented, Some("bf_not_a_key")).0, 401);
    assert_eq!(
        put(
            "/api/v1/tenants/other/datasets/syslog/pipeline",
            documented,
            Some(&key)
        )
        .0,
        404
    );
    assert_eq!(
        put(
            "/api/v1/tenants/demo/datasets/nope/pipeline",
            documented,
            Some(&key)
        )
        .0,
        404
    );
    assert_eq!(put(own, "{not json", Some(&key)).0, 400);

    let trial: serde_json::Value = client
        .post(url("/api/v1/transform/test"))
        .bearer_auth(key.trim())
        .json(&serde_json::json!({
            "pipeline": serde_json::from_str::<serde_json::Value>(documented).unwrap(),
            "events": [{"action": "deny", "src": "81.2.69.142"}, {"action": "allow", "src": "81.2.69.142"}]
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (trial["rows_in"].as_u64(), trial["rows_out"].as_u64()),
        (Some(2), Some(1)),
        "{trial}"
    );
    assert_eq!(trial["output"][0]["src_geo_city"], "London", "{trial}");
    assert_eq!(
        trial["filters"][1]["fields_added"][0], "src_geo_country",
        "{trial}"
    );
    assert_eq!(
        read_parquet(&up.parquet_folder(), &[]).seq.len(),
        20,
        "Test Transformation does not touch running data"
    );
    let catalog: serde_json::Value = client
        .get(url("/api/v1/transform/filters"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        catalog["filters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["type"] == "geoip")
    );

    let (status, saved) = put(own, documented, Some(&key));
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"].as_str().map(str::len), Some(12));
    let saved_at = Instant::now();
    let mut next = 1_000;
    let latency = loop {
        send_firewall(up.syslog, next..next + 10);
        next += 10;
        let rows = read_parquet(&up.parquet_folder(), &["src_geo_city"]);
        if rows.columns["src_geo_city"]
            .iter()
            .any(|c| c.as_deref() == Some("London"))
        {
            break saved_at.elapsed();
        }
        assert!(
            saved_at.elapsed() < Duration::from_secs(30),
            "the saved pipeline never reached Parquet"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("saved pipeline visible in new Parquet after {latency:?} (target 5 s)");
    assert!(
        latency < Duration::from_secs(10),
        "the saved pipeline took {latency:?} to reach Parquet"
    );

    send_firewall(up.syslog, next..next + 100);
    let last = next + 99;
    up.wait_until(
        Duration::from_secs(60),
        "the last message is in Parquet",
        |p| {
            read_parquet(&p.parquet_folder(), &[])
                .seq
                .contains(&(last as i64))
        },
    );
    let rows = read_parquet(&up.parquet_folder(), &["action", "src_geo_city"]);
    for (i, seq) in rows.seq.iter().enumerate() {
        let transformed = rows.columns["src_geo_city"][i].is_some();
        let action = rows.columns["action"][i].as_deref();
        if *seq >= next as i64 {
            assert!(
                transformed && action == Some("allow"),
                "seq {seq}: {action:?}, enriched: {transformed}"
            );
        }
        if transformed {
            assert_eq!(
                action,
                Some("allow"),
                "seq {seq}: the new pipeline drops denials"
            );
        }
        if *seq < 20 {
            assert!(
                !transformed,
                "data written before the change stays as it was"
            );
        }
    }
    assert_eq!(rows.seq.iter().filter(|s| **s < 20).count(), 20);

    // A pipeline that validates but fails on the data (severity is a number, not JSON text):
    // piper reports it in activity and keeps the batch until the pipeline is fixed.
    let failing = r#"{"filters":[{"type":"json_parse","config":{"field":"severity"}}]}"#;
    assert_eq!(put(own, failing, Some(&key)).0, 200);
    let failure_reported = |p: &UpProcess| {
        let activity: serde_json::Value =
            reqwest::blocking::get(format!("http://{}/activity", p.http))
                .and_then(|r| r.json())
                .unwrap_or_default();
        activity.as_array().is_some_and(|events| {
            events.iter().any(|e| {
                e["stage"] == "piper"
                    && e["outcome"] == "error"
                    && e["details"]["failed_step"] == "pipeline"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("expected text"))
            })
        })
    };
    let failing_since = Instant::now();
    let mut last_sent: u64 = 5_000;
    let mut last_allowed: i64 = 0;
    while !failure_reported(&up) {
        assert!(
            failing_since.elapsed() < Duration::from_secs(30),
            "the runtime failure never showed in activity"
        );
        send_firewall(up.syslog, last_sent..last_sent + 5);
        // Odd sequence numbers are allowed; the fixed pipeline drops the even denials.
        last_allowed = if last_sent.is_multiple_of(2) {
            last_sent + 3
        } else {
            last_sent + 4
        } as i64;
        last_sent += 5;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(put(own, documented, Some(&key)).0, 200);
    up.wait_until(
        Duration::from_secs(30),
        "the held batch is transformed after the fix",
        |p| {
            read_parquet(&p.parquet_folder(), &[])
                .seq
                .contains(&last_allowed)
        },
    );
    let activity: serde_json::Value =
        reqwest::blocking::get(format!("http://{}/activity?limit=500", up.http))
            .unwrap()
            .json()
            .unwrap();
    assert!(
        activity
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["stage"] == "packer" && e["outcome"] == "ok"),
        "packer files are in activity"
    );
    assert_eq!(up.terminate().code(), Some(0));
}

fn netflow_v5(records: &[(&str, &str, u32)]) -> Vec<u8> {
    let now = chrono::Utc::now().timestamp() as u32;
    let mut packet = Vec::new();
    for value in [5u16, records.len() as u16] {
        packet.extend_from_slice(&value.to_be_bytes());
    }
    for value in [100_000u32, now, 0, 1] {
        packet.extend_from_slice(&value.to_be_bytes());
    }
    packet.extend_from_slice(&[0, 0, 0, 0]);
    for (src, dst, bytes) in records {
        for address in [src, dst, &"0.0.0.0"] {
            packet.extend_from_slice(&address.parse::<std::net::Ipv4Addr>().unwrap().octets());
        }
        packet.extend_from_slice(&[0, 1, 0, 2]);
        for value in [1u32, *bytes, 99_000, 99_500] {
            packet.extend_from_slice(&value.to_be_bytes());
        }
        packet.extend_from_slice(&[
            0x1f, 0x90, 0x01, 0xbb, 0, 0x10, 6, 0, 0, 0, 0, 0, 24, 24, 0, 0,
        ]);
    }
    packet
}

fn ipfix_message(src: &str, dst: &str, bytes: u64) -> Vec<u8> {
    let mut sets = Vec::new();
    // Template 256: sourceIPv4Address, destinationIPv4Address, octetDeltaCount (8), protocolIdentifier.
    let template: [u16; 10] = [2, 24, 256, 4, 8, 4, 12, 4, 1, 8];
    for value in template {
        sets.extend_from_slice(&value.to_be_bytes());
    }
    sets.extend_from_slice(&[0, 4, 0, 1]);
    sets.extend_from_slice(&[1, 0, 0, 21]);
    for address in [src, dst] {
        sets.extend_from_slice(&address.parse::<std::net::Ipv4Addr>().unwrap().octets());
    }
    sets.extend_from_slice(&bytes.to_be_bytes());
    sets.push(17);
    let mut message = Vec::new();
    message.extend_from_slice(&10u16.to_be_bytes());
    message.extend_from_slice(&(16 + sets.len() as u16).to_be_bytes());
    for value in [chrono::Utc::now().timestamp() as u32, 1, 0] {
        message.extend_from_slice(&value.to_be_bytes());
    }
    message.extend_from_slice(&sets);
    message
}

/// One compact flow sample (1 in 100) with an IPv4 data record: 10.5.0.1 -> 10.5.0.2, TCP 443.
fn sflow_datagram() -> Vec<u8> {
    let words = |w: &[u32]| w.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>();
    let mut ipv4 = words(&[64, 6]);
    ipv4.extend([10, 5, 0, 1, 10, 5, 0, 2]);
    ipv4.extend(words(&[40_000, 443, 0x10, 0]));
    let mut sample = words(&[1, 7, 100, 1_000, 0, 2, 3, 1, 3, ipv4.len() as u32]);
    sample.extend(ipv4);
    let mut datagram = words(&[5, 1]);
    datagram.extend([192, 0, 2, 77]);
    datagram.extend(words(&[0, 1, 1_000, 1, 1, sample.len() as u32]));
    datagram.extend(sample);
    datagram
}

fn duckdb(sql: &str) -> String {
    let script = format!("import duckdb\nprint(duckdb.sql({sql:?}).fetchall())");
    let output = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "DuckDB failed (install with `cargo xtask install-test-deps`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn netflow_ipfix_and_sflow_become_queryable_flow_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(
            &netflow_v5(&[
                ("10.0.0.1", "10.0.0.9", 1000),
                ("10.0.0.1", "10.0.0.8", 500),
                ("10.0.0.2", "10.0.0.9", 40),
            ]),
            up.netflow,
        )
        .unwrap();
    socket.send_to(b"\x00\x05 not a flow", up.netflow).unwrap();
    socket
        .send_to(&ipfix_message("192.0.2.1", "192.0.2.2", 7777), up.ipfix)
        .unwrap();
    socket.send_to(&sflow_datagram(), up.sflow).unwrap();
    // IPFIX sent to the NetFlow port is accepted too, as exporters mix them.
    socket
        .send_to(&ipfix_message("192.0.2.3", "192.0.2.2", 1), up.netflow)
        .unwrap();
    let folder = |dataset: &str| {
        up.data_dir
            .join(format!("buckets/packer/demo/{dataset}/data/parquet"))
    };
    let parquet_count = |dataset: &str| {
        let mut stack = vec![folder(dataset)];
        let mut count = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    stack.push(entry.path());
                } else if entry.path().extension().is_some_and(|e| e == "parquet") {
                    count += 1;
                }
            }
        }
        count
    };
    up.wait_until(
        Duration::from_secs(60),
        "flow Parquet for every flow dataset",
        |_| {
            parquet_count("netflow") > 0 && parquet_count("ipfix") > 0 && parquet_count("sflow") > 0
        },
    );
    let netflow = format!("{}/**/*.parquet", folder("netflow").display());
    up.wait_until(
        Duration::from_secs(30),
        "all four NetFlow port flows are in Parquet",
        |_| duckdb(&format!("SELECT count(*) FROM read_parquet('{netflow}')")) == "[(4,)]",
    );
    assert_eq!(
        duckdb(&format!(
            "SELECT src_addr, SUM(bytes) FROM read_parquet('{netflow}', hive_partitioning=true) GROUP BY src_addr ORDER BY src_addr"
        )),
        "[('10.0.0.1', 1500), ('10.0.0.2', 40), ('192.0.2.3', 1)]"
    );
    assert_eq!(
        duckdb(&format!(
            "SELECT flow_protocol, dst_port, ip_protocol FROM read_parquet('{netflow}') WHERE src_addr = '10.0.0.2'"
        )),
        "[('netflow_v5', 443, 6)]"
    );
    let ipfix = format!("{}/**/*.parquet", folder("ipfix").display());
    assert_eq!(
        duckdb(&format!(
            "SELECT src_addr, bytes, ip_protocol, exporter_address FROM read_parquet('{ipfix}')"
        )),
        "[('192.0.2.1', 7777, 17, '127.0.0.1')]"
    );
    let sflow = format!("{}/**/*.parquet", folder("sflow").display());
    assert_eq!(
        duckdb(&format!(
            "SELECT flow_protocol, exporter_address, src_addr, dst_port, bytes, bytes_scaled FROM read_parquet('{sflow}')"
        )),
        "[('sflow_v5', '192.0.2.77', '10.5.0.1', 443, 64, 6400)]"
    );
    up.wait_until(
        Duration::from_secs(10),
        "the malformed datagram is counted",
        |p| p.metric("bytefreezer_proxy_decode_errors_total") == 1,
    );
    assert_eq!(up.terminate().code(), Some(0));
}

/// softflowd's NetFlow v9 export (template and data in one datagram), from the decoder's fixtures.
fn softflowd_v9_export() -> Vec<u8> {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("dataplane/decode-flow/tests/data/softflowd-v9.bin"),
    )
    .unwrap();
    bytes[4..].to_vec()
}

/// The same export with its template flowsets removed: data an exporter sends between template
/// refreshes.
fn without_templates(datagram: &[u8]) -> Vec<u8> {
    let mut out = datagram[..20].to_vec();
    let mut at = 20;
    while at + 4 <= datagram.len() {
        let id = u16::from_be_bytes([datagram[at], datagram[at + 1]]);
        let length = usize::from(u16::from_be_bytes([datagram[at + 2], datagram[at + 3]]));
        if id != 0 {
            out.extend_from_slice(&datagram[at..at + length]);
        }
        at += length;
    }
    out
}

#[test]
fn flow_templates_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let export = softflowd_v9_export();
    let data_only = without_templates(&export);
    assert!(data_only.len() < export.len());
    let rows = |up: &UpProcess| {
        let netflow = format!(
            "{}/**/*.parquet",
            up.data_dir
                .join("buckets/packer/demo/netflow/data/parquet")
                .display()
        );
        if !up.data_dir.join("buckets/packer/demo/netflow").exists() {
            return 0;
        }
        duckdb(&format!("SELECT count(*) FROM read_parquet('{netflow}')"))
            .trim_start_matches("[(")
            .trim_end_matches(",)]")
            .parse::<u64>()
            .unwrap_or(0)
    };
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(&export, up.netflow).unwrap();
    up.wait_until(
        Duration::from_secs(30),
        "the first export is in Parquet",
        |p| rows(p) == 3,
    );
    assert_eq!(up.terminate().code(), Some(0));

    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    socket.send_to(&data_only, up.netflow).unwrap();
    up.wait_until(
        Duration::from_secs(30),
        "data sent after the restart, without templates, is in Parquet",
        |p| rows(p) == 6,
    );
    assert_eq!(up.terminate().code(), Some(0));
}
