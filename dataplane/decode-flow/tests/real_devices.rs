//! Our decoder on public captures of real devices' exports, checked against independent
//! decodes of the same bytes. The captures are not in git (third-party licences): `cargo xtask
//! test` fetches them from package registries into `.test-data/captures` (see
//! `xtask/src/install.rs`, `ensure_public_captures`), and a missing one fails the test.
//!
//! - `cisco_iosxe_avc`: two Cisco IOS-XE ISR4000 routers exporting IPFIX with AVC/NBAR2, from
//!   the crates.io package `netflow_parser` 1.0.6 (MIT/Apache-2.0), `pcaps/IPFIX.pcap`;
//!   compared with tshark's IPFIX dissection record by record.
//! - `cisco_iosxr_srv6`: a Cisco IOS-XR router exporting IPFIX over IPv6 with SRv6 and MPLS
//!   templates, from the crates.io package `netgauze-pcap-decoder` 0.13.0 (Apache-2.0), pmacct
//!   test 502; compared record by record with netgauze's decode shipped beside it.
//! - `gopacket_sflow`: sFlow v5 from a hardware switch and a datagram of sampled Ethernet
//!   records, from Debian's `golang-github-google-gopacket-dev` 1.1.19-3 (BSD-3-Clause),
//!   `layers/sflow_test.go`; checked against the values gopacket's own tests assert, and the
//!   switch's Ethernet interface counters against tshark's.
//! - `vyos_pmacct`: a VyOS router's pmacct `nfprobe` NetFlow v9 packet (npm `node-netflowv9`
//!   0.2.16, GPL-2.0) and `sfprobe` sFlow v5 datagrams (npm `node-sflow` 0.0.3, GPL-2.0),
//!   compared with tshark's dissection of the same bytes.

#[path = "support/captures.rs"]
mod captures;
#[path = "support/exports.rs"]
mod exports;
#[path = "support/pcap.rs"]
mod pcap;
#[path = "support/tools.rs"]
mod tools;
#[path = "support/tshark.rs"]
mod tshark;

#[path = "real_devices/cisco_iosxe_avc.rs"]
mod cisco_iosxe_avc;
#[path = "real_devices/cisco_iosxr_srv6.rs"]
mod cisco_iosxr_srv6;
#[path = "real_devices/gopacket_sflow.rs"]
mod gopacket_sflow;
#[path = "real_devices/vyos_pmacct.rs"]
mod vyos_pmacct;

use arrow::array::RecordBatch;
use bytefreezer_decode_flow::{DatagramMeta, DecodeReport, FlowDecoder, FlowLimits};
use captures::Captured;

/// What decoding a whole capture did, summed over its datagrams.
#[derive(Debug, Default)]
struct Totals {
    records: usize,
    templates: usize,
    held_sets: usize,
    released_records: usize,
    dropped_held_sets: usize,
    counter_samples: usize,
    errors: Vec<String>,
}

impl Totals {
    fn add(&mut self, index: usize, report: &DecodeReport) {
        self.records += report.records;
        self.templates += report.templates;
        self.held_sets += report.held_sets;
        self.released_records += report.released_records;
        self.dropped_held_sets += report.dropped_held_sets;
        self.counter_samples += report.counter_samples;
        if let Some(error) = &report.error {
            self.errors.push(format!("datagram {index}: {error}"));
        }
    }
}

/// Every datagram through one decoder, with its capture time and sender; the rows in capture
/// order (empty when there are none).
fn decode(decoder: &mut FlowDecoder, datagrams: &[Captured]) -> (Vec<RecordBatch>, Totals) {
    let mut totals = Totals::default();
    let mut batches = Vec::new();
    for (index, datagram) in datagrams.iter().enumerate() {
        let meta = DatagramMeta {
            receive_time_micros: datagram.receive_time_micros,
            exporter: Some(datagram.exporter),
        };
        totals.add(index, &decoder.decode(&datagram.payload, &meta));
        if decoder.rows() >= 8_192 {
            batches.extend(decoder.flush_table().expect("batch builds"));
        }
    }
    batches.extend(decoder.flush_table().expect("batch builds"));
    (batches, totals)
}

/// A decoder that holds no data set for a later template: what arrives before its template
/// is dropped at the next datagram, as a collector without holding (tshark) would.
fn decoder_without_holding() -> FlowDecoder {
    FlowDecoder::new(FlowLimits {
        max_held_age_micros: -1,
        ..FlowLimits::default()
    })
}

/// `columns` of the rows a fresh decoder gives for `datagrams`, in order, and what decoding
/// them did.
fn rows_of(datagrams: &[Captured], columns: &[&'static str]) -> (Vec<exports::Flow>, Totals) {
    let (batches, totals) = decode(&mut FlowDecoder::default(), datagrams);
    (exports::flows(&concat(&batches), columns), totals)
}

/// The bytes of `extra_fields`' hex text.
fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).expect("hex"))
        .collect()
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    let schema = batches.first().expect("some rows").schema();
    arrow::compute::concat_batches(&schema, batches).expect("same schema")
}

/// Compares two decodes record by record in capture order (keys are not unique in captures
/// whose records carry no addresses); lists the first differences of every field.
fn assert_same_in_order(
    capture: &str,
    tool: &str,
    ours: &[exports::Flow],
    theirs: &[exports::Flow],
) {
    let mut differences = Vec::new();
    for (index, (our, their)) in ours.iter().zip(theirs).enumerate() {
        for (column, a, b) in exports::differing_fields(our, their) {
            differences.push(format!("record {index}: {column}: ours {a}, {tool} {b}"));
        }
    }
    let shown: Vec<&String> = differences.iter().take(30).collect();
    assert!(
        differences.is_empty() && ours.len() == theirs.len(),
        "{capture}: {} records ours, {} {tool}; {} field(s) differ, first:\n  {}",
        ours.len(),
        theirs.len(),
        differences.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}
