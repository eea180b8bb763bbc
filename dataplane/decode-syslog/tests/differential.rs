//! A second implementation on the same inputs: every corpus line is parsed by this crate and
//! by `syslog_loose` (the parser Vector uses), and the two are compared field by field. The
//! table printed says where they agree per sender family; disagreements are expected where the
//! two follow different conventions (syslog_loose has no Cisco, F5 or relay-header rules) and
//! where the sources side with one of them, so the floors asserted below are per family and
//! guard against regressions on the senders both read the same way.

// This test reads the lines, not the sources' expectations.
#[allow(dead_code)]
#[path = "support/corpus.rs"]
mod corpus;

use std::collections::BTreeMap;

use bytefreezer_decode_syslog::parse_message;
use chrono::{DateTime, Datelike, Utc};
use corpus::{FIELDS, corpus, receive_time_micros};
use syslog_loose::{ProcId, Variant, parse_message_with_year_tz};

/// The five fields as each parser gives them, times as UTC microseconds.
type Fields = [Option<String>; 5];

fn ours(line: &str, receive_time_micros: i64) -> Fields {
    let parsed = parse_message(line, receive_time_micros);
    [
        parsed.hostname.map(str::to_owned),
        parsed.app_name.map(str::to_owned),
        parsed.procid.map(str::to_owned),
        parsed.event_time_micros.map(|micros| micros.to_string()),
        Some(parsed.message.to_owned()),
    ]
}

fn theirs(line: &str, receive_time_micros: i64) -> Fields {
    let year = DateTime::<Utc>::from_timestamp_micros(receive_time_micros)
        .map_or(2026, |time| time.year());
    let parsed = parse_message_with_year_tz(line, |_| year, Some(Utc), Variant::Either);
    let procid = parsed.procid.map(|procid| match procid {
        ProcId::PID(pid) => pid.to_string(),
        ProcId::Name(name) => name.to_owned(),
    });
    [
        parsed.hostname.map(str::to_owned),
        parsed.appname.map(str::to_owned),
        procid,
        parsed
            .timestamp
            .map(|time| time.with_timezone(&Utc).timestamp_micros().to_string()),
        // What it could not parse is all message, as here.
        Some(parsed.msg.to_owned()),
    ]
}

/// Lowest agreement per field tolerated for the families both parsers read alike; measured
/// 2026-12-06 with syslog_loose 0.23 (see docs/syslog.md), set a little below.
const FLOORS: [(&str, f64); 2] = [("rfc5424", 0.85), ("linux", 0.65)];

#[test]
fn agreement_with_syslog_loose_per_family_and_field() {
    let entries = corpus();
    let mut tally: BTreeMap<(String, &str), (usize, usize)> = BTreeMap::new();
    let mut examples = Vec::new();
    for entry in entries.iter().filter(|entry| !entry.malformed) {
        let receive = receive_time_micros(entry);
        let (a, b) = (ours(&entry.line, receive), theirs(&entry.line, receive));
        for (index, field) in FIELDS.iter().enumerate() {
            let same = a[index] == b[index];
            for family in [entry.family.clone(), "all".to_owned()] {
                let counts = tally.entry((family, field)).or_default();
                counts.0 += usize::from(same);
                counts.1 += 1;
            }
            if !same && examples.len() < 40 {
                examples.push(format!(
                    "{} {field}: ours {:?} theirs {:?}\n    {:?}",
                    entry.family, a[index], b[index], entry.line
                ));
            }
        }
    }
    eprintln!("agreement with syslog_loose, per family and field:");
    for ((family, field), (same, total)) in &tally {
        eprintln!(
            "  {family:12} {field:10} {same:4}/{total:<4} {:5.1}%",
            100.0 * *same as f64 / *total as f64
        );
    }
    for example in &examples {
        eprintln!("{example}");
    }
    for (family, floor) in FLOORS {
        for field in FIELDS {
            let (same, total) = tally[&(family.to_owned(), field)];
            let share = same as f64 / total as f64;
            assert!(
                share >= floor,
                "{family} {field}: {same}/{total} agree with syslog_loose, floor {floor}"
            );
        }
    }
}
