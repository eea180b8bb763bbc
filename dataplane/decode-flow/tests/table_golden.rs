//! The flow table rows every capture gives must stay what they were when the decoder still
//! built the table schema itself (before the edge batch format, `docs/specs/edge-batch.md`):
//! `table_golden.txt` holds, per capture, the row count and a digest of every row rendered
//! column by column, written by that decoder. Today the decoder ships edge batches and
//! `bytefreezer_schema::edge_to_table` builds the table; a digest that differs means a user
//! would read different rows.
//!
//! On a mismatch the rendered rows are written under `CARGO_TARGET_TMPDIR/table_golden/` to
//! compare by hand. `BYTEFREEZER_BLESS=1` rewrites the file (only for a deliberate change to
//! the table, which docs/flows.md must then describe).

#[path = "support/captures.rs"]
mod captures;

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytefreezer_decode_flow::{DatagramMeta, FlowDecoder};
use bytefreezer_schema::{FLOW_EDGE_FORMAT_V1, FlowColumn, flow_edge_format_of};
use captures::Captured;

const GOLDEN: &str = "tests/table_golden.txt";

/// Every capture the tests use: the small exports kept in git and the public real-device
/// captures (`.test-data/captures`), whole (every UDP datagram of a pcap, whatever its port).
fn captures() -> Vec<(String, Vec<Captured>)> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = Vec::new();
    for folder in [
        manifest.join("tests/data"),
        manifest.join("../../.test-data/captures"),
    ] {
        let entries = std::fs::read_dir(&folder)
            .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask test`)", folder.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let extension = path.extension().and_then(|e| e.to_str());
            if matches!(extension, Some("bin" | "pcap")) {
                files.push(path);
            }
        }
    }
    files.sort();
    let exporter = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("file name")
                .to_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let datagrams = if name.ends_with(".pcap") {
                bytefreezer_pcap::packets(&bytes)
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .iter()
                    .filter_map(bytefreezer_pcap::udp_datagram)
                    .map(|datagram| Captured {
                        receive_time_micros: datagram.timestamp_micros,
                        exporter: datagram.source,
                        destination_port: datagram.destination_port,
                        payload: datagram.payload.to_vec(),
                    })
                    .collect()
            } else {
                length_prefixed(&bytes)
                    .unwrap_or_else(|| vec![bytes])
                    .into_iter()
                    .map(|payload| Captured::from_payload(payload, exporter, 2055))
                    .collect()
            };
            (name, datagrams)
        })
        .collect()
}

/// The datagrams of a file of big-endian u32 lengths each followed by that many bytes (the
/// exports in `tests/data`); `None` when the file is not laid out so (a single datagram).
fn length_prefixed(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut rest = bytes;
    let mut datagrams = Vec::new();
    while !rest.is_empty() {
        let (length, tail) = rest.split_first_chunk::<4>()?;
        let length = u32::from_be_bytes(*length) as usize;
        datagrams.push(tail.get(..length)?.to_vec());
        rest = &tail[length..];
    }
    Some(datagrams)
}

/// The table rows of a capture, in batches of at most 8,192 rows as a proxy would flush.
fn table_rows(datagrams: &[Captured]) -> Vec<RecordBatch> {
    let mut decoder = FlowDecoder::default();
    let mut batches = Vec::new();
    for datagram in datagrams {
        let meta = DatagramMeta {
            receive_time_micros: datagram.receive_time_micros,
            exporter: Some(datagram.exporter),
        };
        decoder.decode(&datagram.payload, &meta);
        if decoder.rows() >= 8_192 {
            batches.extend(decoder.flush_table().expect("batch builds"));
        }
    }
    batches.extend(decoder.flush_table().expect("batch builds"));
    batches
}

/// Every row as `name=value` pairs in schema order (`∅` for null), one line a row. A null in a
/// column added since `flow/1` is left out, so the digests of rows that have no value there
/// stay those the first decoder wrote.
fn render(batches: &[RecordBatch]) -> String {
    let options = FormatOptions::default().with_null("∅");
    let mut text = String::new();
    for batch in batches {
        let schema = batch.schema();
        let formatters: Vec<ArrayFormatter<'_>> = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options).expect("formatter"))
            .collect();
        for row in 0..batch.num_rows() {
            for ((field, formatter), array) in
                schema.fields().iter().zip(&formatters).zip(batch.columns())
            {
                let added = FlowColumn::ALL
                    .into_iter()
                    .find(|column| column.name() == field.name())
                    .is_some_and(|column| flow_edge_format_of(column) != FLOW_EDGE_FORMAT_V1);
                if added && array.is_null(row) {
                    continue;
                }
                let _ = write!(text, "{}={}|", field.name(), formatter.value(row));
            }
            text.push('\n');
        }
    }
    text
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms, unlike `DefaultHasher`.
fn digest(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[test]
fn table_rows_of_every_capture_match_the_golden_digests() {
    let mut lines = String::new();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("table_golden");
    std::fs::create_dir_all(&out).expect("output folder");
    for (name, datagrams) in captures() {
        let batches = table_rows(&datagrams);
        let rendered = render(&batches);
        std::fs::write(out.join(format!("{name}.txt")), &rendered).expect("write rendering");
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let _ = writeln!(lines, "{name} {rows} {:016x}", digest(&rendered));
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("BYTEFREEZER_BLESS").is_some() {
        std::fs::write(&golden, &lines).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&golden).expect("golden file");
    assert_eq!(
        lines,
        expected,
        "table rows differ from {GOLDEN}; the rows are under {}",
        out.display()
    );
}
