//! Flow records decoded per second from NetFlow v9 datagrams of 30 records each, into Arrow
//! columns, next to the `netflow_parser` crate parsing the very same datagrams (into Rust
//! structs, without Arrow) in the same run.

use bytefreezer_decode_flow::{DatagramMeta, FlowDecoder};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const RECORDS_PER_DATAGRAM: usize = 30;
const DATAGRAMS: usize = 100;

fn v9_datagram(sequence: u32, with_template: bool) -> Vec<u8> {
    let mut packet = Vec::new();
    for value in [9u16, 0] {
        packet.extend_from_slice(&value.to_be_bytes());
    }
    for value in [60_000u32, 1_795_000_000, sequence, 1] {
        packet.extend_from_slice(&value.to_be_bytes());
    }
    let fields: [(u16, u16); 11] = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (6, 1),
        (1, 4),
        (2, 4),
        (22, 4),
        (21, 4),
        (10, 4),
    ];
    if with_template {
        let length = 4 + 4 + fields.len() * 4;
        for value in [0u16, length as u16, 256, fields.len() as u16] {
            packet.extend_from_slice(&value.to_be_bytes());
        }
        for (element, size) in fields {
            packet.extend_from_slice(&element.to_be_bytes());
            packet.extend_from_slice(&size.to_be_bytes());
        }
    }
    let record_len: usize = fields.iter().map(|(_, size)| usize::from(*size)).sum();
    let length = 4 + record_len * RECORDS_PER_DATAGRAM;
    packet.extend_from_slice(&256u16.to_be_bytes());
    packet.extend_from_slice(&(length as u16).to_be_bytes());
    for i in 0..RECORDS_PER_DATAGRAM as u32 {
        packet.extend_from_slice(&(0x0a00_0000 | i).to_be_bytes());
        packet.extend_from_slice(&(0xc000_0200 | (i % 200)).to_be_bytes());
        packet.extend_from_slice(&(40_000 + i as u16).to_be_bytes());
        packet.extend_from_slice(&443u16.to_be_bytes());
        packet.extend_from_slice(&[6, 0x18]);
        for value in [1_500 * (i + 1), i + 1, 58_000, 59_000, 3] {
            packet.extend_from_slice(&value.to_be_bytes());
        }
    }
    packet
}

fn decode(c: &mut Criterion) {
    let datagrams: Vec<Vec<u8>> = (0..DATAGRAMS as u32)
        .map(|i| v9_datagram(i, i == 0))
        .collect();
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        exporter: Some(std::net::IpAddr::from([192, 0, 2, 1])),
    };
    let mut group = c.benchmark_group("flow_decode");
    group.throughput(Throughput::Elements(
        (DATAGRAMS * RECORDS_PER_DATAGRAM) as u64,
    ));
    group.bench_function("netflow_v9", |b| {
        let mut decoder = FlowDecoder::default();
        b.iter(|| {
            for datagram in &datagrams {
                decoder.decode(datagram, &meta);
            }
            decoder.flush().expect("batch")
        })
    });
    group.bench_function("netflow_v9_netflow_parser", |b| {
        let mut parser = netflow_parser::NetflowParser::default();
        b.iter(|| {
            let mut packets = 0;
            for datagram in &datagrams {
                packets += parser.parse_bytes(datagram).packets.len();
            }
            packets
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
