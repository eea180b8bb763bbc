//! End-to-end: the real `bytefreezer up` binary, real UDP, real HTTP, real files. These tests
//! assert what a user observes: rows and values in the Parquet files at the documented paths.

#[path = "support/up.rs"]
mod up;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytefreezer_api::metrics::{PACKER_FILES_TOTAL, PROXY_ROWS_DURABLE_TOTAL};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use up::{UpProcess, free_tcp, free_udp, read_parquet};

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
            up.metric(PROXY_ROWS_DURABLE_TOTAL.name) >= 15_000
                && up.metric(PACKER_FILES_TOTAL.name) >= 1
        },
    );
    let durable_before_kill = up.metric(PROXY_ROWS_DURABLE_TOTAL.name);
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
