//! The same datagrams through this decoder and the `netflow_parser` crate must name the same
//! flows (addresses, ports, protocol).

#[path = "support/columns.rs"]
mod columns;
#[path = "support/fixtures.rs"]
mod fixtures;

use std::net::IpAddr;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{UInt8Type, UInt16Type};
use bytefreezer_decode_flow::{DatagramMeta, FlowDecoder};
use netflow_parser::NetflowParser;

type Flow = (
    Option<IpAddr>,
    Option<IpAddr>,
    Option<u16>,
    Option<u16>,
    Option<u8>,
);

fn fixture(name: &str) -> Vec<Vec<u8>> {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    fixtures::softflowd_datagrams(&data, name)
}

fn ours(datagrams: &[Vec<u8>]) -> Vec<Flow> {
    let mut decoder = FlowDecoder::default();
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        exporter: Some("192.0.2.1".parse().unwrap()),
    };
    for datagram in datagrams {
        assert_eq!(decoder.decode(datagram, &meta).error, None);
    }
    let Some(batch): Option<RecordBatch> = decoder.flush_table().unwrap() else {
        return Vec::new();
    };
    let text = |name: &str| columns::text(&batch, name);
    let (src, dst) = (text("src_addr"), text("dst_addr"));
    let sport = columns::primitive::<UInt16Type>(&batch, "src_port").clone();
    let dport = columns::primitive::<UInt16Type>(&batch, "dst_port").clone();
    let proto = columns::primitive::<UInt8Type>(&batch, "ip_protocol").clone();
    let mut flows: Vec<Flow> = (0..batch.num_rows())
        .map(|i| {
            (
                src.is_valid(i).then(|| src.value(i).parse().unwrap()),
                dst.is_valid(i).then(|| dst.value(i).parse().unwrap()),
                sport.is_valid(i).then(|| sport.value(i)),
                dport.is_valid(i).then(|| dport.value(i)),
                proto.is_valid(i).then(|| proto.value(i)),
            )
        })
        .collect();
    flows.sort();
    flows
}

fn theirs(datagrams: &[Vec<u8>]) -> Vec<Flow> {
    let mut parser = NetflowParser::default();
    let mut flows = Vec::new();
    for datagram in datagrams {
        let (sets, error) = parser.parse_bytes_as_netflow_common_flowsets(datagram);
        assert!(error.is_none(), "netflow_parser: {error:?}");
        flows.extend(sets.into_iter().map(|f| {
            (
                f.src_addr,
                f.dst_addr,
                f.src_port,
                f.dst_port,
                f.protocol_number,
            )
        }));
    }
    // It lists options data records (sampling, system init) as flows with no fields.
    flows.retain(|flow| *flow != (None, None, None, None, None));
    flows.sort();
    flows
}

#[test]
fn softflowd_exports_agree_with_netflow_parser() {
    for name in ["v5", "v9", "ipfix"] {
        let datagrams = fixture(name);
        let ours = ours(&datagrams);
        assert_eq!(ours.len(), 3, "{name}");
        assert_eq!(ours, theirs(&datagrams), "{name}");
    }
}
