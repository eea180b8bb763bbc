//! The real-world corpus (`tests/corpus/real_world.jsonl`), shared by the tests that read it.

use chrono::DateTime;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Entry {
    pub family: String,
    pub source: String,
    pub line: String,
    pub expect: Expected,
    #[serde(default)]
    pub malformed: bool,
}

#[derive(Deserialize)]
pub struct Expected {
    hostname: Option<String>,
    app_name: Option<String>,
    procid: Option<String>,
    timestamp: Option<String>,
    message: Option<String>,
}

/// The fields every line's source states; times are compared as UTC microseconds.
pub const FIELDS: [&str; 5] = ["hostname", "app_name", "procid", "timestamp", "message"];

pub fn micros(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("corpus timestamp {text:?}: {error}"))
        .timestamp_micros()
}

pub fn corpus() -> Vec<Entry> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/real_world.jsonl");
    std::fs::read_to_string(path)
        .expect("the corpus ships with the crate")
        .lines()
        .enumerate()
        .map(|(number, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("corpus line {}: {error}", number + 1))
        })
        .collect()
}

/// Yearless stamps resolve to the year nearest the receive time, so each line is "received"
/// at the time its source expects (or mid-2026 when it expects none).
pub fn receive_time_micros(entry: &Entry) -> i64 {
    entry
        .expect
        .timestamp
        .as_deref()
        .map_or_else(|| micros("2026-06-01T00:00:00Z"), micros)
}

impl Entry {
    pub fn expected(&self, field: &str) -> Option<String> {
        let expect = &self.expect;
        match field {
            "hostname" => expect.hostname.clone(),
            "app_name" => expect.app_name.clone(),
            "procid" => expect.procid.clone(),
            "message" => expect.message.clone(),
            "timestamp" => expect.timestamp.as_deref().map(|t| micros(t).to_string()),
            other => panic!("no field {other}"),
        }
    }
}
