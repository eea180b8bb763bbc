//! Export fixtures in `tests/data` (each datagram stored as a big-endian u32 length and its
//! bytes), our decoding of them as comparable flows, and the field-by-field comparison.
// Shared by several test crates, each using a part.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use bytefreezer_decode_flow::{DatagramMeta, FlowDecoder};

/// One flow record as text, keyed by flow schema column; a missing key is a null.
pub type Flow = BTreeMap<&'static str, String>;

/// What an export message says of all its records: who sent them, how, and their sampling.
pub const EXPORT_COLUMNS: [&str; 6] = [
    "exporter_address",
    "flow_protocol",
    "record_type",
    "sequence",
    "observation_domain",
    "sampling_rate",
];

pub const TIME_COLUMNS: [&str; 2] = ["flow_start", "flow_end"];

/// The conversation a flow record counts and the interfaces it crossed, which every exporter
/// compared here sends.
pub const TRAFFIC_COLUMNS: [&str; 11] = [
    "src_addr",
    "dst_addr",
    "src_port",
    "dst_port",
    "ip_protocol",
    "tcp_flags",
    "tos",
    "bytes",
    "packets",
    "input_interface",
    "output_interface",
];

/// What a router adds from its routing table.
pub const ROUTING_COLUMNS: [&str; 4] = ["src_as", "dst_as", "src_prefix_len", "dst_prefix_len"];

/// An sFlow counter sample's generic interface counters.
pub const INTERFACE_COUNTER_COLUMNS: [&str; 9] = [
    "if_speed",
    "if_in_octets",
    "if_out_octets",
    "if_in_packets",
    "if_out_packets",
    "if_in_errors",
    "if_out_errors",
    "if_in_discards",
    "if_out_discards",
];

pub const MAC_COLUMNS: [&str; 2] = ["src_mac", "dst_mac"];

pub const ICMP_COLUMNS: [&str; 2] = ["icmp_type", "icmp_code"];

/// The export, time and traffic columns, which the exporters compared with their whole records
/// fill, and then the `others` a comparison adds.
pub fn flow_columns(others: &[&[&'static str]]) -> Vec<&'static str> {
    let mut columns = [&EXPORT_COLUMNS[..], &TIME_COLUMNS, &TRAFFIC_COLUMNS].concat();
    columns.extend(others.concat());
    columns
}

/// Columns that identify a flow within one fixture, in sort order.
const KEY: [&str; 7] = [
    "record_type",
    "src_addr",
    "dst_addr",
    "ip_protocol",
    "src_port",
    "dst_port",
    "input_interface",
];

pub fn data_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn datagrams(file: &str) -> Vec<Vec<u8>> {
    let path = data_dir().join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rest = bytes.as_slice();
    let mut out = Vec::new();
    while let [a, b, c, d, tail @ ..] = rest {
        let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
        assert!(
            len <= tail.len(),
            "{file}: datagram {} cut short",
            out.len()
        );
        out.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    assert!(rest.is_empty(), "{file}: trailing bytes");
    assert!(!out.is_empty(), "{file}: no datagrams");
    out
}

/// Our decoder over every datagram, as if all came from `exporter`; no datagram may fail.
pub fn decode(file: &str, datagrams: &[Vec<u8>], exporter: IpAddr) -> RecordBatch {
    let mut decoder = FlowDecoder::default();
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_100_000_000,
        exporter: Some(exporter),
    };
    for (index, datagram) in datagrams.iter().enumerate() {
        let report = decoder.decode(datagram, &meta);
        assert_eq!(report.error, None, "{file}: datagram {index}: {report:?}");
    }
    decoder
        .flush_table()
        .unwrap()
        .expect("the fixture has flows")
}

/// `columns` of every row as text: timestamps in whole milliseconds since the epoch (what
/// the tools print), numbers in decimal, addresses and MACs as the schema writes them.
pub fn flows(batch: &RecordBatch, columns: &[&'static str]) -> Vec<Flow> {
    let mut rows = vec![Flow::new(); batch.num_rows()];
    for &name in columns {
        let column = batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("the flow schema has no column {name}"));
        if let DataType::Timestamp(..) = column.data_type() {
            let times = column.as_primitive::<TimestampMicrosecondType>();
            for (row, flow) in rows.iter_mut().enumerate() {
                if times.is_valid(row) {
                    flow.insert(name, times.value(row).div_euclid(1_000).to_string());
                }
            }
            continue;
        }
        let text = arrow::compute::cast(column, &DataType::Utf8).unwrap();
        let text = text.as_string::<i32>();
        for (row, flow) in rows.iter_mut().enumerate() {
            if text.is_valid(row) {
                flow.insert(name, text.value(row).to_owned());
            }
        }
    }
    rows
}

fn key(flow: &Flow) -> String {
    KEY.map(|column| flow.get(column).map_or("-", String::as_str))
        .join(" ")
}

/// Pairs the flows of both sides by their key and lists every field that differs, so one
/// failure shows all of them: `flow <key>: <column>: ours <value>, <tool> <value>`.
pub fn assert_same_flows(fixture: &str, tool: &str, ours: Vec<Flow>, theirs: Vec<Flow>) {
    assert!(!theirs.is_empty(), "{fixture}: {tool} shows no flows");
    let mut ours = ours;
    let mut theirs = theirs;
    ours.sort_by_key(key);
    theirs.sort_by_key(key);
    let our_keys: Vec<String> = ours.iter().map(key).collect();
    let their_keys: Vec<String> = theirs.iter().map(key).collect();
    assert_eq!(
        our_keys, their_keys,
        "{fixture}: ours and {tool} see different flows (type src dst protocol sport dport input)"
    );
    let mut differences = Vec::new();
    for (our, their) in ours.iter().zip(&theirs) {
        for (column, a, b) in differing_fields(our, their) {
            differences.push(format!("flow {}: {column}: ours {a}, {tool} {b}", key(our)));
        }
    }
    assert!(
        differences.is_empty(),
        "{fixture}: {} field(s) differ between our decoder and {tool}:\n  {}",
        differences.len(),
        differences.join("\n  ")
    );
}

/// Every column whose value differs between two flows, with both values ("null" for none).
pub fn differing_fields<'a>(
    our: &'a Flow,
    their: &'a Flow,
) -> Vec<(&'static str, &'a str, &'a str)> {
    let columns: std::collections::BTreeSet<&'static str> =
        our.keys().chain(their.keys()).copied().collect();
    let shown = |value: Option<&'a String>| value.map_or("null", String::as_str);
    columns
        .into_iter()
        .filter(|column| our.get(column) != their.get(column))
        .map(|column| (column, shown(our.get(column)), shown(their.get(column))))
        .collect()
}
