//! Exports of a real exporter: softflowd read a pcap of three known flows and sent NetFlow v5,
//! v9 and IPFIX; `tests/data/capture_softflowd.py` regenerates the captures.

#[path = "support/columns.rs"]
mod columns;
#[path = "support/fixtures.rs"]
mod fixtures;

use arrow::array::RecordBatch;
use arrow::datatypes::{TimestampMicrosecondType, UInt8Type, UInt16Type, UInt64Type};
use bytefreezer_decode_flow::{DatagramMeta, FlowDecoder};

fn datagrams(name: &str) -> Vec<Vec<u8>> {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    fixtures::softflowd_datagrams(&data, name)
}

/// (src, dst, protocol, src port, dst port, packets, bytes) per flow, sorted.
fn flows(batch: &RecordBatch) -> Vec<(String, String, u8, u16, u16, u64, u64)> {
    let text = |name: &str| columns::text(batch, name);
    let (src, dst) = (text("src_addr"), text("dst_addr"));
    let proto = columns::primitive::<UInt8Type>(batch, "ip_protocol");
    let sport = columns::primitive::<UInt16Type>(batch, "src_port");
    let dport = columns::primitive::<UInt16Type>(batch, "dst_port");
    let packets = columns::primitive::<UInt64Type>(batch, "packets");
    let bytes = columns::primitive::<UInt64Type>(batch, "bytes");
    let mut rows: Vec<_> = (0..batch.num_rows())
        .map(|i| {
            (
                src.value(i).to_owned(),
                dst.value(i).to_owned(),
                proto.value(i),
                sport.value(i),
                dport.value(i),
                packets.value(i),
                bytes.value(i),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn decode(name: &str) -> RecordBatch {
    let mut decoder = FlowDecoder::default();
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_100_000_000,
        exporter: Some("127.0.0.1".parse().unwrap()),
    };
    for datagram in datagrams(name) {
        let report = decoder.decode(&datagram, &meta);
        assert_eq!(report.error, None, "{name}: {report:?}");
    }
    decoder.flush_table().unwrap().expect("flows")
}

/// The pcap's packets are stamped 1_795_000_000 s plus the flow's index (exporters keep
/// milliseconds, so a start may read one second early).
fn assert_starts_match_the_capture(batch: &RecordBatch) {
    let start = columns::primitive::<TimestampMicrosecondType>(batch, "flow_start");
    for i in 0..batch.num_rows() {
        let seconds = start.value(i) / 1_000_000;
        assert!(
            (1_794_999_999..=1_795_000_003).contains(&seconds),
            "flow {i} starts at {seconds}"
        );
    }
}

fn expected() -> Vec<(String, String, u8, u16, u16, u64, u64)> {
    // IP bytes: 20 (IPv4) + 20 (TCP) or 8 (UDP) + payload, per packet.
    let mut flows = vec![
        (
            "10.0.0.1".into(),
            "10.0.0.2".into(),
            6,
            40000,
            443,
            3,
            3 * 140,
        ),
        (
            "10.0.0.3".into(),
            "192.0.2.9".into(),
            17,
            5353,
            53,
            2,
            2 * 68,
        ),
        (
            "192.0.2.10".into(),
            "10.0.0.1".into(),
            6,
            22,
            51000,
            4,
            4 * 240,
        ),
    ];
    flows.sort();
    flows
}

#[test]
fn netflow_v5_from_softflowd() {
    let batch = decode("v5");
    assert_eq!(flows(&batch), expected());
    let protocol = columns::text(&batch, "flow_protocol");
    assert_eq!(protocol.value(0), "netflow_v5");
    assert_starts_match_the_capture(&batch);
}

#[test]
fn netflow_v9_from_softflowd() {
    let batch = decode("v9");
    assert_eq!(flows(&batch), expected());
    let start = batch.column_by_name("flow_start").unwrap();
    assert_eq!(
        start.null_count(),
        0,
        "v9 FIRST_SWITCHED placed in wall time"
    );
}

#[test]
fn ipfix_from_softflowd() {
    let batch = decode("ipfix");
    assert_eq!(flows(&batch), expected());
    let protocol = columns::text(&batch, "flow_protocol");
    assert_eq!(protocol.value(0), "ipfix");
    let start = batch.column_by_name("flow_start").unwrap();
    assert_eq!(start.null_count(), 0, "IPFIX flow start resolved");
    assert_starts_match_the_capture(&batch);
}
