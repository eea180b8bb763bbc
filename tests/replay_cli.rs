//! `bytefreezer replay`: captures (pcap and pcapng) of real exports decoded into Parquet.

#[path = "../dataplane/decode-flow/tests/support/fixtures.rs"]
mod fixtures;

use std::path::Path;
use std::process::Command;

use arrow::array::AsArray;
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn softflowd_v9() -> Vec<Vec<u8>> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("dataplane/decode-flow/tests/data");
    fixtures::softflowd_datagrams(&data, "v9")
}

/// Ethernet + 802.1Q + IPv4 + UDP around `payload`, from 192.0.2.1 to 192.0.2.2:`port`.
fn frame(payload: &[u8], port: u16) -> Vec<u8> {
    let mut frame = vec![
        0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x81, 0x00, 0, 7, 0x08, 0x00,
    ];
    let total = (20 + 8 + payload.len()) as u16;
    frame.extend([
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0,
        0,
        64,
        17,
        0,
        0,
        192,
        0,
        2,
        1,
        192,
        0,
        2,
        2,
    ]);
    let udp_len = (8 + payload.len()) as u16;
    frame.extend(40000u16.to_be_bytes());
    frame.extend(port.to_be_bytes());
    frame.extend(udp_len.to_be_bytes());
    frame.extend([0, 0]);
    frame.extend(payload);
    frame
}

fn pcap(frames: &[Vec<u8>], seconds: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    for value in [0u32, 0, 65_535, 1] {
        out.extend(value.to_le_bytes());
    }
    for frame in frames {
        for value in [seconds, 0, frame.len() as u32, frame.len() as u32] {
            out.extend(value.to_le_bytes());
        }
        out.extend(frame);
    }
    out
}

fn pcapng(frames: &[Vec<u8>], micros: u64) -> Vec<u8> {
    let block = |kind: u32, body: Vec<u8>| {
        let length = (12 + body.len()) as u32;
        let mut out = Vec::new();
        out.extend(kind.to_be_bytes());
        out.extend(length.to_be_bytes());
        out.extend(body);
        out.extend(length.to_be_bytes());
        out
    };
    let mut out = block(
        0x0a0d_0d0a,
        [
            0x1a2b_3c4du32.to_be_bytes().as_slice(),
            &[0, 1, 0, 0],
            &[0xff; 8],
        ]
        .concat(),
    );
    out.extend(block(
        1,
        [
            1u16.to_be_bytes().as_slice(),
            &[0, 0],
            &65_535u32.to_be_bytes(),
        ]
        .concat(),
    ));
    for frame in frames {
        let mut body = Vec::new();
        body.extend(0u32.to_be_bytes());
        body.extend(((micros >> 32) as u32).to_be_bytes());
        body.extend((micros as u32).to_be_bytes());
        body.extend((frame.len() as u32).to_be_bytes());
        body.extend((frame.len() as u32).to_be_bytes());
        body.extend(frame);
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        out.extend(block(6, body));
    }
    out
}

fn replay(capture: &[u8], plugin: &str, extra: &[&str]) -> (bool, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture.bin");
    std::fs::write(&path, capture).unwrap();
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["replay", "--plugin", plugin, "--pcap"])
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text, dir)
}

/// (file paths relative to `out`, values of `column` across all files, sorted).
fn parquet_values(out: &Path, column: &str) -> (Vec<String>, Vec<String>) {
    let mut files = Vec::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    let mut values = Vec::new();
    for file in &files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let text = arrow::compute::cast(batch.column_by_name(column).unwrap(), &DataType::Utf8)
                .unwrap();
            values.extend(
                text.as_string::<i32>()
                    .iter()
                    .map(|v| v.unwrap_or("null").to_owned()),
            );
        }
    }
    values.sort();
    let files = files
        .iter()
        .map(|f| f.strip_prefix(out).unwrap().display().to_string())
        .collect();
    (files, values)
}

#[test]
fn pcap_and_pcapng_of_netflow_exports_become_partitioned_parquet() {
    let frames: Vec<Vec<u8>> = softflowd_v9().iter().map(|d| frame(d, 2055)).collect();
    let mut with_noise = frames.clone();
    with_noise.push(frame(b"not for us", 9999));
    for (name, capture) in [
        ("pcap", pcap(&with_noise, 1_795_000_000)),
        ("pcapng", pcapng(&with_noise, 1_795_000_000_000_000)),
    ] {
        let (ok, text, dir) = replay(&capture, "netflow", &["--port", "2055"]);
        assert!(ok, "{name}: {text}");
        assert!(text.contains("3 rows"), "{name}: {text}");
        let (files, sources) = parquet_values(&dir.path().join("out"), "src_addr");
        assert_eq!(sources, ["10.0.0.1", "10.0.0.3", "192.0.2.10"], "{name}");
        assert!(
            files
                .iter()
                .all(|f| f.starts_with("year=2026/month=11/day=18/hour=")),
            "{name}: {files:?}"
        );
        let (_, exporters) = parquet_values(&dir.path().join("out"), "exporter_address");
        assert!(exporters.iter().all(|e| e == "192.0.2.1"), "{exporters:?}");
    }
}

#[test]
fn syslog_captures_replay_with_fields_lifted_and_bad_captures_fail_clearly() {
    let messages = [
        "<134>1 2026-11-24T10:00:00Z fw01 filterlog - - - action=deny src=10.0.0.1",
        "<38>Nov 24 10:00:01 web02 sshd[812]: action=allow user=alice",
    ];
    let frames: Vec<Vec<u8>> = messages.iter().map(|m| frame(m.as_bytes(), 514)).collect();
    let (ok, text, dir) = replay(&pcapng(&frames, 1_795_000_000_000_000), "syslog", &[]);
    assert!(ok, "{text}");
    let (_, actions) = parquet_values(&dir.path().join("out"), "action");
    assert_eq!(actions, ["allow", "deny"]);
    let (ok, text, _dir) = replay(b"definitely not a capture", "syslog", &[]);
    assert!(!ok);
    assert!(text.contains("not a pcap or pcapng file"), "{text}");
    let mut truncated = pcap(&frames, 1);
    truncated.truncate(truncated.len() - 5);
    let (ok, text, _dir) = replay(&truncated, "syslog", &[]);
    assert!(!ok && text.contains("truncated"), "{text}");
}
