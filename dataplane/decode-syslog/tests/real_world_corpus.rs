//! The decoder against real senders' lines: `tests/corpus/real_world.jsonl` holds lines taken
//! from other parsers' test suites and vendor samples with the fields their sources expect
//! (provenance per line, list in `tests/corpus/SOURCES.md`). Every row must say how it was
//! parsed, every malformed line must be flagged, and each field must agree with the sources on
//! at least 97% of the well-formed lines.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use bytefreezer_decode_syslog::{DatagramMeta, Format, SyslogDecoder};
use bytefreezer_schema::SyslogColumn;

#[path = "support/corpus.rs"]
mod corpus;

use corpus::{Entry, FIELDS, corpus, receive_time_micros};

const REQUIRED_AGREEMENT: f64 = 0.97;

fn decode(entries: &[Entry]) -> RecordBatch {
    let mut decoder = SyslogDecoder::with_capacity(entries.len());
    for entry in entries {
        let meta = DatagramMeta {
            receive_time_micros: receive_time_micros(entry),
            sender: None,
        };
        decoder.decode(entry.line.as_bytes(), &meta);
    }
    decoder.flush().expect("one row per line")
}

fn text(batch: &RecordBatch, column: SyslogColumn, row: usize) -> Option<String> {
    let array = batch.column(column.index()).as_string::<i32>();
    array.is_valid(row).then(|| array.value(row).to_owned())
}

fn found(batch: &RecordBatch, field: &str, row: usize) -> Option<String> {
    match field {
        "hostname" => text(batch, SyslogColumn::Hostname, row),
        "app_name" => text(batch, SyslogColumn::AppName, row),
        "procid" => text(batch, SyslogColumn::ProcId, row),
        "message" => text(batch, SyslogColumn::Message, row),
        "timestamp" => {
            let times = batch
                .column(SyslogColumn::EventTime.index())
                .as_primitive::<TimestampMicrosecondType>();
            times.is_valid(row).then(|| times.value(row).to_string())
        }
        other => panic!("no field {other}"),
    }
}

#[test]
fn real_world_lines_agree_with_their_sources() {
    let entries = corpus();
    let families: std::collections::BTreeSet<&str> =
        entries.iter().map(|e| e.family.as_str()).collect();
    assert!(entries.len() >= 300, "{} lines", entries.len());
    assert!(families.len() >= 6, "{families:?}");
    let batch = decode(&entries);

    let known: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
    let mut agree: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    let mut disagreements = Vec::new();
    let mut unflagged = Vec::new();
    for (row, entry) in entries.iter().enumerate() {
        let format = text(&batch, SyslogColumn::Format, row).expect("format is never null");
        assert!(known.contains(&format.as_str()), "row {row}: {format}");
        if entry.malformed {
            let flagged = format == "unparsed"
                || text(&batch, SyslogColumn::ParseError, row).is_some()
                || text(&batch, SyslogColumn::ParseWarning, row).is_some();
            if !flagged {
                unflagged.push(&entry.line);
            }
            continue;
        }
        for field in FIELDS {
            let (want, got) = (entry.expected(field), found(&batch, field, row));
            for key in [(entry.family.as_str(), field), ("all", field)] {
                let tally = agree.entry(key).or_default();
                tally.0 += usize::from(want == got);
                tally.1 += 1;
            }
            if want != got {
                disagreements.push(format!(
                    "{} {field}: want {want:?} got {got:?}\n    line {:?}\n    from {}",
                    entry.family, entry.line, entry.source
                ));
            }
        }
    }
    eprintln!("agreement with the sources, per family and field:");
    for ((family, field), (same, total)) in &agree {
        eprintln!("  {family:12} {field:10} {same:4}/{total:<4}");
    }
    for line in &disagreements {
        eprintln!("{line}");
    }
    assert!(
        unflagged.is_empty(),
        "malformed lines not flagged: {unflagged:#?}"
    );
    for field in FIELDS {
        let (same, total) = agree[&("all", field)];
        let share = same as f64 / total as f64;
        assert!(
            share >= REQUIRED_AGREEMENT,
            "{field}: {same}/{total} = {:.1}% agree, need {:.0}%",
            share * 100.0,
            REQUIRED_AGREEMENT * 100.0
        );
    }
}

/// Every prefix of every corpus line, and each line with bytes overwritten at random, decodes
/// to exactly one row without a panic: the fuzz target's property on real shapes, in every
/// test run.
/// Bytes that mean something to the parser, and two that break UTF-8.
const NOISE: &[u8] = b" :[]<>%\"=-,/*.0123456789AZaz\xff\xc3";

#[test]
fn cut_and_corrupted_real_lines_never_panic() {
    let entries = corpus();
    let mut decoder = SyslogDecoder::with_capacity(1024);
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        sender: None,
    };
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        // xorshift64: reproducible noise without a dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut rows = 0;
    for entry in &entries {
        let line = entry.line.as_bytes();
        for end in 0..=line.len() {
            decoder.decode(&line[..end], &meta);
            rows += 1;
        }
        for _ in 0..64 {
            let mut corrupted = line.to_vec();
            for _ in 0..1 + next() % 4 {
                if corrupted.is_empty() {
                    break;
                }
                let at = (next() % corrupted.len() as u64) as usize;
                corrupted[at] = NOISE[(next() % NOISE.len() as u64) as usize];
            }
            decoder.decode(&corrupted, &meta);
            rows += 1;
        }
        if decoder.rows() > 900 {
            let batch = decoder.flush().expect("rows were decoded");
            rows -= batch.num_rows();
        }
    }
    let left = decoder.flush().map_or(0, |batch| batch.num_rows());
    assert_eq!(rows, left, "one row per message");
}
