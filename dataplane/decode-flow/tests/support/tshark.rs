//! Runs tshark over export datagrams and reads its JSON dissection.
// Shared by several test crates, each using a part.
#![allow(dead_code)]

use serde_json::{Map, Value};

use crate::{pcap, tools};

/// The dissection of each datagram (`_source.layers` of each frame), decoded as `protocol`
/// (`cflow` or `sflow`) on UDP `port`.
pub fn dissect(datagrams: &[Vec<u8>], port: u16, protocol: &str) -> Vec<Value> {
    let dir = tools::TempDir::new("tshark");
    let file = dir.path().join("exports.pcap");
    pcap::write(&file, datagrams, port, 1_795_000_100);
    let frames = dissect_file(&file, port, protocol);
    assert_eq!(frames.len(), datagrams.len(), "tshark read every frame");
    frames
}

/// The dissection of each frame of capture `file` (`_source.layers`), UDP `port` decoded as
/// `protocol`. Reading the capture itself keeps each exporter's own address and port, which
/// tshark's template cache is keyed by.
pub fn dissect_file(file: &std::path::Path, port: u16, protocol: &str) -> Vec<Value> {
    let tshark = tools::require("tshark", "tshark");
    let json = tools::output(
        std::process::Command::new(tshark)
            // Absolute times print in local time; pin it so `date_to_ms` reads them right.
            .env("TZ", "UTC")
            .arg("-n")
            .arg("-r")
            .arg(file)
            .args(["-d", &format!("udp.port=={port},{protocol}")])
            // Repeated fields become arrays instead of repeated keys that JSON readers drop.
            .args(["-T", "json", "--no-duplicate-keys"]),
    );
    let frames: Vec<Value> = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("tshark printed JSON we cannot read: {e}"));
    frames
        .into_iter()
        .map(|frame| frame["_source"]["layers"].clone())
        .collect()
}

/// Objects under `value` (itself included) that have any of `keys`, in document order,
/// without looking inside the objects found.
pub fn objects_with<'a>(value: &'a Value, keys: &[&str]) -> Vec<&'a Map<String, Value>> {
    let mut found = Vec::new();
    collect(value, keys, &mut found);
    found
}

fn collect<'a>(value: &'a Value, keys: &[&str], found: &mut Vec<&'a Map<String, Value>>) {
    match value {
        Value::Object(map) if keys.iter().any(|key| map.contains_key(*key)) => found.push(map),
        Value::Object(map) => map.values().for_each(|v| collect(v, keys, found)),
        Value::Array(items) => items.iter().for_each(|v| collect(v, keys, found)),
        _ => {}
    }
}

/// The first text value named `name` in `map` or in the subtrees it holds.
pub fn leaf<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    if let Some(Value::String(text)) = map.get(name) {
        return Some(text);
    }
    map.values().find_map(|value| match value {
        Value::Object(inner) => leaf(inner, name),
        _ => None,
    })
}

/// tshark's "0x1a" as "26".
pub fn hex(text: &str) -> String {
    let digits = text.trim_start_matches("0x");
    u64::from_str_radix(digits, 16)
        .unwrap_or_else(|e| panic!("tshark printed {text:?}, not hex: {e}"))
        .to_string()
}

/// tshark's seconds with a fraction ("3335314.264000000") in whole milliseconds.
pub fn seconds_to_ms(text: &str) -> i64 {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let millis: String = fraction.chars().chain("000".chars()).take(3).collect();
    let parse = |digits: &str| -> i64 {
        digits
            .parse()
            .unwrap_or_else(|e| panic!("tshark printed {text:?}, not seconds: {e}"))
    };
    parse(seconds) * 1_000 + parse(&millis)
}

/// tshark's absolute times ("Nov 29, 2026 21:25:10.820000000 UTC") in milliseconds.
pub fn date_to_ms(text: &str) -> i64 {
    let local = text
        .strip_suffix(" UTC")
        .unwrap_or_else(|| panic!("tshark printed {text:?}, not a UTC time (is TZ set?)"));
    chrono::NaiveDateTime::parse_from_str(local, "%b %e, %Y %H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("tshark printed {text:?}, not a time: {e}"))
        .and_utc()
        .timestamp_millis()
}
