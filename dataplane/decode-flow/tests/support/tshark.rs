//! Runs tshark over export datagrams and reads its JSON dissection.
// Shared by several test crates, each using a part.
#![allow(dead_code)]

use serde_json::{Map, Value};

use crate::exports::Flow;
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

/// The first text value named `name` in `map` or its subtrees; panics when tshark shows none.
pub fn required<'a>(map: &'a Map<String, Value>, name: &str) -> &'a str {
    leaf(map, name).unwrap_or_else(|| panic!("tshark shows no {name} in {map:?}"))
}

/// `required`'s value as a number; panics when it is not one.
pub fn number(map: &Map<String, Value>, name: &str) -> u64 {
    let text = required(map, name);
    text.parse()
        .unwrap_or_else(|e| panic!("tshark's {name} is {text:?}: {e}"))
}

/// tshark's view of an sFlow counter sample as our counters row: `common` (the datagram's
/// exporter, protocol and sequence) and the generic interface counters; `None` when the sample
/// has no generic interface counters.
pub fn sflow_counter_sample(sample: &Map<String, Value>, common: &Flow) -> Option<Flow> {
    let generic = sample
        .get("Generic interface counters")
        .and_then(Value::as_object)?;
    let mut flow = common.clone();
    flow.insert("record_type", "counters".into());
    let index = required(sample, "sflow.counters_sample.source_id_index");
    flow.insert("observation_domain", index.to_owned());
    flow.insert(
        "input_interface",
        required(generic, "sflow_245.ifindex").to_owned(),
    );
    let sum = |names: &[&str]| names.iter().map(|n| number(generic, n)).sum::<u64>();
    let counters: [(&'static str, &[&str]); 9] = [
        ("if_speed", &["sflow_245.ifspeed"]),
        ("if_in_octets", &["sflow_245.ifinoct"]),
        ("if_out_octets", &["sflow_245.ifoutoct"]),
        // The schema's packets are unicast + multicast + broadcast (docs/flows.md).
        (
            "if_in_packets",
            &[
                "sflow_245.ifinpkt",
                "sflow_245.ifinmcast",
                "sflow_245.ifinbcast",
            ],
        ),
        (
            "if_out_packets",
            &[
                "sflow_245.ifoutpkt",
                "sflow_245.ifoutmcast",
                "sflow_245.ifoutbcast",
            ],
        ),
        ("if_in_errors", &["sflow_245.ifinerr"]),
        ("if_out_errors", &["sflow_245.ifouterr"]),
        ("if_in_discards", &["sflow_245.ifindisc"]),
        ("if_out_discards", &["sflow_245.ifoutdisc"]),
    ];
    for (column, names) in counters {
        flow.insert(column, sum(names).to_string());
    }
    Some(flow)
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
