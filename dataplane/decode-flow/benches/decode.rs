//! Flow records decoded per second into Arrow, with the `netflow_parser` crate parsing the very
//! same datagrams (into Rust structs, without Arrow) in the same run.
//!
//! The datagrams look like what routers send: NetFlow v5 with 30 records, NetFlow v9 with a
//! Cisco-like 22-field template (IPv4 5-tuple, bytes, packets, first/last switched, interfaces,
//! AS numbers, masks, next hop, tos, tcp flags, direction, VLANs and the sampler id, which the
//! schema does not name and so lands in `extra_fields`) with 25 records, its options template
//! announcing the sampling interval, IPFIX with the same flow keys in IPFIX types (64-bit
//! counters, millisecond timestamps, 23 fields) with 20 records, and sFlow flow samples with a
//! 128-byte sampled header. Addresses, ports and counters vary from record to record. Templates
//! travel in the first datagram of each run, as after an exporter's template refresh.
//!
//! What is measured is what the proxy does per datagram: `decode` into the builders, and a
//! `flush` into an edge batch (`docs/specs/edge-batch.md`) whenever 8192 rows are pending, its
//! buffers handed back after use as the spool writer does. A second group measures what the
//! proxy's spool writer then does with a full batch (65,536 NetFlow v9 rows): encode it as Arrow
//! IPC with each spool compression (zstd, zstd-fast, LZ4, none), and prints the bytes per row of
//! each. A third (`flow_edge`) measures the whole edge path per row, decode + flush + encode
//! with each codec, and the conversion of the edge batch into the flow table that piper runs.

use std::hint::black_box;
use std::net::IpAddr;

use bytefreezer_decode_flow::{DatagramMeta, FlowDecoder};
use bytefreezer_schema::{IpcCompression, edge_to_table, encode_ipc_with};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const FLUSH_ROWS: usize = 8_192;
/// The proxy's default `batch_max_rows`.
const SPOOL_BATCH_ROWS: usize = 65_536;
const V5_RECORDS: usize = 30;
const V9_RECORDS: usize = 25;
const IPFIX_RECORDS: usize = 20;
const SFLOW_SAMPLES: usize = 6;
const SFLOW_HEADER_BYTES: usize = 128;
/// Datagrams per iteration: enough that every iteration flushes about once.
const DATAGRAMS: usize = 320;
const EXPORT_SECS: u32 = 1_795_000_000;
const UPTIME_MS: u32 = 86_400_000;

/// xorshift64*: varied but repeatable field values.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One flow's facts, written by each protocol in its own layout.
struct Flow {
    src: [u8; 4],
    dst: [u8; 4],
    next_hop: [u8; 4],
    src_port: u16,
    dst_port: u16,
    protocol: u8,
    tos: u8,
    tcp_flags: u8,
    bytes: u32,
    packets: u32,
    first_ms: u32,
    last_ms: u32,
    input: u16,
    output: u16,
    src_as: u32,
    dst_as: u32,
    src_mask: u8,
    dst_mask: u8,
    direction: u8,
    src_vlan: u16,
    dst_vlan: u16,
}

impl Flow {
    fn random(random: &mut Random) -> Flow {
        let protocol = [6, 6, 6, 17, 17, 1][random.below(6) as usize];
        let packets = 1 + random.below(2_000) as u32;
        let last_ms = UPTIME_MS - random.below(30_000) as u32;
        Flow {
            src: [
                10,
                random.below(256) as u8,
                random.below(256) as u8,
                1 + random.below(254) as u8,
            ],
            dst: [
                1 + random.below(223) as u8,
                random.below(256) as u8,
                random.below(256) as u8,
                1 + random.below(254) as u8,
            ],
            next_hop: [192, 0, 2, 1 + random.below(4) as u8],
            src_port: 1_024 + random.below(64_000) as u16,
            dst_port: [443, 80, 53, 22, 8_080, 3_389][random.below(6) as usize],
            protocol,
            tos: [0, 0, 0, 0x28, 0xb8][random.below(5) as usize],
            tcp_flags: if protocol == 6 { 0x1b } else { 0 },
            bytes: packets * (40 + random.below(1_460) as u32),
            packets,
            first_ms: last_ms - random.below(120_000) as u32,
            last_ms,
            input: 1 + random.below(48) as u16,
            output: 1 + random.below(48) as u16,
            src_as: 64_512 + random.below(1_000) as u32,
            dst_as: random.below(400_000) as u32,
            src_mask: 8 + random.below(17) as u8,
            dst_mask: 16 + random.below(9) as u8,
            direction: random.below(2) as u8,
            src_vlan: 100 + random.below(8) as u16,
            dst_vlan: 200 + random.below(8) as u16,
        }
    }
}

#[derive(Default)]
struct Packet(Vec<u8>);

impl Packet {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
    /// A v9 flowset or IPFIX set around `body`, padded to 4 bytes.
    fn set(&mut self, id: u16, body: &Packet) -> &mut Self {
        let padding = (4 - body.0.len() % 4) % 4;
        self.u16(id).u16((4 + body.0.len() + padding) as u16);
        self.bytes(&body.0).bytes(&[0; 3][..padding])
    }
}

fn netflow_v5(random: &mut Random, sequence: u32) -> Vec<u8> {
    let mut packet = Packet::default();
    packet
        .u16(5)
        .u16(V5_RECORDS as u16)
        .u32(UPTIME_MS)
        .u32(EXPORT_SECS)
        .u32(0);
    // Sequence, engine type and id, sampling (mode 1, 1 in 100).
    packet.u32(sequence).u8(0).u8(1).u16(0x4000 | 100);
    for _ in 0..V5_RECORDS {
        let flow = Flow::random(random);
        packet
            .bytes(&flow.src)
            .bytes(&flow.dst)
            .bytes(&flow.next_hop);
        packet
            .u16(flow.input)
            .u16(flow.output)
            .u32(flow.packets)
            .u32(flow.bytes);
        packet
            .u32(flow.first_ms)
            .u32(flow.last_ms)
            .u16(flow.src_port)
            .u16(flow.dst_port);
        packet
            .u8(0)
            .u8(flow.tcp_flags)
            .u8(flow.protocol)
            .u8(flow.tos);
        packet.u16(flow.src_as as u16).u16(flow.dst_as as u16);
        packet.u8(flow.src_mask).u8(flow.dst_mask).u16(0);
    }
    packet.0
}

/// (element, length) of a Cisco-like NetFlow v9 IPv4 template.
const V9_FIELDS: [(u16, u16); 22] = [
    (8, 4),  // IPV4_SRC_ADDR
    (12, 4), // IPV4_DST_ADDR
    (7, 2),  // L4_SRC_PORT
    (11, 2), // L4_DST_PORT
    (4, 1),  // PROTOCOL
    (5, 1),  // SRC_TOS
    (6, 1),  // TCP_FLAGS
    (1, 4),  // IN_BYTES
    (2, 4),  // IN_PKTS
    (22, 4), // FIRST_SWITCHED
    (21, 4), // LAST_SWITCHED
    (10, 2), // INPUT_SNMP
    (14, 2), // OUTPUT_SNMP
    (16, 4), // SRC_AS
    (17, 4), // DST_AS
    (9, 1),  // SRC_MASK
    (13, 1), // DST_MASK
    (15, 4), // IPV4_NEXT_HOP
    (61, 1), // DIRECTION
    (58, 2), // SRC_VLAN
    (59, 2), // DST_VLAN
    (48, 1), // FLOW_SAMPLER_ID
];

fn netflow_v9(random: &mut Random, sequence: u32, with_templates: bool) -> Vec<u8> {
    let mut packet = Packet::default();
    packet
        .u16(9)
        .u16(0)
        .u32(UPTIME_MS)
        .u32(EXPORT_SECS)
        .u32(sequence)
        .u32(0);
    if with_templates {
        let mut template = Packet::default();
        template.u16(256).u16(V9_FIELDS.len() as u16);
        for (element, length) in V9_FIELDS {
            template.u16(element).u16(length);
        }
        packet.set(0, &template);
        // Options: scope system (1, 4 bytes); FLOW_SAMPLER_ID, SAMPLING_INTERVAL (34),
        // FLOW_SAMPLER_MODE (49).
        let mut options = Packet::default();
        options.u16(257).u16(4).u16(12).u16(1).u16(4);
        options.u16(48).u16(1).u16(34).u16(4).u16(49).u16(1);
        packet.set(1, &options);
        let mut options_data = Packet::default();
        options_data.u32(0).u8(1).u32(100).u8(2);
        packet.set(257, &options_data);
    }
    let mut data = Packet::default();
    for _ in 0..V9_RECORDS {
        let f = Flow::random(random);
        data.bytes(&f.src)
            .bytes(&f.dst)
            .u16(f.src_port)
            .u16(f.dst_port);
        data.u8(f.protocol)
            .u8(f.tos)
            .u8(f.tcp_flags)
            .u32(f.bytes)
            .u32(f.packets);
        data.u32(f.first_ms)
            .u32(f.last_ms)
            .u16(f.input)
            .u16(f.output);
        data.u32(f.src_as)
            .u32(f.dst_as)
            .u8(f.src_mask)
            .u8(f.dst_mask);
        data.bytes(&f.next_hop)
            .u8(f.direction)
            .u16(f.src_vlan)
            .u16(f.dst_vlan)
            .u8(1);
    }
    packet.set(256, &data);
    packet.0
}

/// (element, length) of an IPFIX IPv4 template with the same flow keys.
const IPFIX_FIELDS: [(u16, u16); 23] = [
    (8, 4),   // sourceIPv4Address
    (12, 4),  // destinationIPv4Address
    (7, 2),   // sourceTransportPort
    (11, 2),  // destinationTransportPort
    (4, 1),   // protocolIdentifier
    (5, 1),   // ipClassOfService
    (6, 2),   // tcpControlBits
    (1, 8),   // octetDeltaCount
    (2, 8),   // packetDeltaCount
    (152, 8), // flowStartMilliseconds
    (153, 8), // flowEndMilliseconds
    (10, 4),  // ingressInterface
    (14, 4),  // egressInterface
    (16, 4),  // bgpSourceAsNumber
    (17, 4),  // bgpDestinationAsNumber
    (9, 1),   // sourceIPv4PrefixLength
    (13, 1),  // destinationIPv4PrefixLength
    (15, 4),  // ipNextHopIPv4Address
    (61, 1),  // flowDirection
    (58, 2),  // vlanId
    (59, 2),  // postVlanId
    (32, 2),  // icmpTypeCodeIPv4
    (89, 1),  // forwardingStatus
];

fn ipfix(random: &mut Random, sequence: u32, with_template: bool) -> Vec<u8> {
    let mut sets = Packet::default();
    if with_template {
        let mut template = Packet::default();
        template.u16(256).u16(IPFIX_FIELDS.len() as u16);
        for (element, length) in IPFIX_FIELDS {
            template.u16(element).u16(length);
        }
        sets.set(2, &template);
    }
    let export_ms = u64::from(EXPORT_SECS) * 1_000;
    let mut data = Packet::default();
    for _ in 0..IPFIX_RECORDS {
        let f = Flow::random(random);
        let icmp = if f.protocol == 1 { 0x0800 } else { 0 };
        data.bytes(&f.src)
            .bytes(&f.dst)
            .u16(f.src_port)
            .u16(f.dst_port);
        data.u8(f.protocol).u8(f.tos).u16(u16::from(f.tcp_flags));
        data.u64(u64::from(f.bytes)).u64(u64::from(f.packets));
        data.u64(export_ms - u64::from(UPTIME_MS - f.first_ms));
        data.u64(export_ms - u64::from(UPTIME_MS - f.last_ms));
        data.u32(u32::from(f.input)).u32(u32::from(f.output));
        data.u32(f.src_as)
            .u32(f.dst_as)
            .u8(f.src_mask)
            .u8(f.dst_mask);
        data.bytes(&f.next_hop)
            .u8(f.direction)
            .u16(f.src_vlan)
            .u16(f.dst_vlan);
        data.u16(icmp).u8(0x40);
    }
    sets.set(256, &data);
    let mut packet = Packet::default();
    packet
        .u16(10)
        .u16((16 + sets.0.len()) as u16)
        .u32(EXPORT_SECS);
    packet.u32(sequence).u32(0).bytes(&sets.0);
    packet.0
}

fn sflow(random: &mut Random, sequence: u32) -> Vec<u8> {
    let mut packet = Packet::default();
    packet
        .u32(5)
        .u32(1)
        .bytes(&[192, 0, 2, 1])
        .u32(0)
        .u32(sequence)
        .u32(UPTIME_MS);
    packet.u32(SFLOW_SAMPLES as u32);
    for index in 0..SFLOW_SAMPLES {
        let f = Flow::random(random);
        // Ethernet, 802.1Q, IPv4, TCP or UDP, then payload up to the 128 captured bytes.
        let mut frame = Packet::default();
        frame.bytes(&[0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e]);
        frame.bytes(&[0x00, 0x25, 0x90, 0x01, 0x02, index as u8]);
        frame.u16(0x8100).u16(f.src_vlan).u16(0x0800);
        frame
            .u8(0x45)
            .u8(f.tos)
            .u16(1_400)
            .u32(0)
            .u8(64)
            .u8(f.protocol)
            .u16(0);
        frame.bytes(&f.src).bytes(&f.dst);
        frame
            .u16(f.src_port)
            .u16(f.dst_port)
            .u32(1)
            .u32(2)
            .u8(0x50)
            .u8(f.tcp_flags);
        frame.u16(65_535).u32(0);
        while frame.0.len() < SFLOW_HEADER_BYTES {
            frame.u8(0xa5);
        }
        let mut raw = Packet::default();
        raw.u32(1)
            .u32(1_418)
            .u32(4)
            .u32(SFLOW_HEADER_BYTES as u32)
            .bytes(&frame.0);
        let mut switch = Packet::default();
        switch
            .u32(u32::from(f.src_vlan))
            .u32(0)
            .u32(u32::from(f.dst_vlan))
            .u32(0);
        let mut sample = Packet::default();
        sample
            .u32(sequence * 8 + index as u32)
            .u32(u32::from(f.input));
        sample.u32(2_048).u32(sequence * 16_384).u32(0);
        sample
            .u32(u32::from(f.input))
            .u32(u32::from(f.output))
            .u32(2);
        sample.u32(1).u32(raw.0.len() as u32).bytes(&raw.0);
        sample.u32(1001).u32(switch.0.len() as u32).bytes(&switch.0);
        packet.u32(1).u32(sample.0.len() as u32).bytes(&sample.0);
    }
    packet.0
}

/// What the proxy does with each datagram: decode, and flush once enough rows are pending.
fn decode_all(decoder: &mut FlowDecoder, datagrams: &[Vec<u8>], meta: &DatagramMeta) {
    for datagram in datagrams {
        black_box(decoder.decode(datagram, meta));
        if decoder.rows() >= FLUSH_ROWS
            && let Some(batch) = decoder.flush().expect("batch")
        {
            decoder.recycle(black_box(batch));
        }
    }
}

fn parse_all(parser: &mut netflow_parser::NetflowParser, datagrams: &[Vec<u8>]) -> usize {
    datagrams
        .iter()
        .map(|datagram| parser.parse_bytes(datagram).packets.len())
        .sum()
}

/// Checks, outside the measurement, that both sides decode every record without an error.
fn check(datagrams: &[Vec<u8>], meta: &DatagramMeta, records: usize, peer: bool) {
    let mut decoder = FlowDecoder::default();
    for datagram in datagrams {
        let report = decoder.decode(datagram, meta);
        assert_eq!(report.error, None, "{report:?}");
    }
    let batch = decoder.flush().expect("batch").expect("rows");
    assert_eq!(batch.num_rows(), records);
    if peer {
        let mut parser = netflow_parser::NetflowParser::default();
        for datagram in datagrams {
            let parsed = parser.parse_bytes(datagram);
            assert!(parsed.error.is_none(), "netflow_parser: {:?}", parsed.error);
        }
    }
}

fn decode(c: &mut Criterion) {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let meta = DatagramMeta {
        receive_time_micros: i64::from(EXPORT_SECS) * 1_000_000,
        exporter: Some(IpAddr::from([192, 0, 2, 1])),
    };
    let sequences = 0..DATAGRAMS as u32;
    let cases: [(&str, Vec<Vec<u8>>, usize, bool); 4] = [
        (
            "netflow_v5",
            sequences
                .clone()
                .map(|i| netflow_v5(&mut random, i))
                .collect(),
            V5_RECORDS,
            true,
        ),
        (
            "netflow_v9",
            sequences
                .clone()
                .map(|i| netflow_v9(&mut random, i, i == 0))
                .collect(),
            V9_RECORDS,
            true,
        ),
        (
            "ipfix",
            sequences
                .clone()
                .map(|i| ipfix(&mut random, i, i == 0))
                .collect(),
            IPFIX_RECORDS,
            true,
        ),
        (
            "sflow",
            sequences.map(|i| sflow(&mut random, i)).collect(),
            SFLOW_SAMPLES,
            false,
        ),
    ];
    let mut group = c.benchmark_group("flow_decode");
    for (name, datagrams, per_datagram, peer) in &cases {
        let records = datagrams.len() * per_datagram;
        check(datagrams, &meta, records, *peer);
        group.throughput(Throughput::Elements(records as u64));
        group.bench_function(*name, |b| {
            let mut decoder = FlowDecoder::default();
            b.iter(|| decode_all(&mut decoder, datagrams, &meta))
        });
        if *peer {
            group.bench_function(format!("{name}_netflow_parser"), |b| {
                let mut parser = netflow_parser::NetflowParser::default();
                b.iter(|| parse_all(&mut parser, datagrams))
            });
        }
    }
    group.finish();
}

/// A proxy-sized batch of NetFlow v9 rows, as the spool writer receives it.
fn spool_batch(meta: &DatagramMeta) -> arrow::record_batch::RecordBatch {
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let mut decoder = FlowDecoder::default();
    let mut sequence = 0;
    while decoder.rows() < SPOOL_BATCH_ROWS {
        let datagram = netflow_v9(&mut random, sequence, sequence == 0);
        assert_eq!(decoder.decode(&datagram, meta).error, None);
        sequence += 1;
    }
    decoder.flush().expect("batch").expect("rows")
}

fn spool_encode(c: &mut Criterion) {
    let meta = DatagramMeta {
        receive_time_micros: i64::from(EXPORT_SECS) * 1_000_000,
        exporter: Some(IpAddr::from([192, 0, 2, 1])),
    };
    let batch = spool_batch(&meta);
    let mut group = c.benchmark_group("flow_spool_encode");
    group.throughput(Throughput::Elements(batch.num_rows() as u64));
    for (name, compression) in [
        ("netflow_v9_zstd", IpcCompression::Zstd),
        ("netflow_v9_zstd_fast", IpcCompression::ZstdFast),
        ("netflow_v9_lz4", IpcCompression::Lz4),
        ("netflow_v9_none", IpcCompression::None),
    ] {
        let encoded = encode_ipc_with(std::slice::from_ref(&batch), compression).expect("encode");
        eprintln!(
            "{name}: {} rows, {} bytes in memory, {} bytes encoded ({:.1} bytes per row)",
            batch.num_rows(),
            batch.get_array_memory_size(),
            encoded.len(),
            encoded.len() as f64 / batch.num_rows() as f64
        );
        group.bench_function(name, |b| {
            b.iter(|| encode_ipc_with(std::slice::from_ref(black_box(&batch)), compression))
        });
    }
    group.finish();
}

/// The edge path a proxy runs per row (decode, flush at 65,536 rows, encode with the spool
/// codec, buffers back to the decoder), and piper's conversion of the batch into table rows.
fn edge(c: &mut Criterion) {
    let meta = DatagramMeta {
        receive_time_micros: i64::from(EXPORT_SECS) * 1_000_000,
        exporter: Some(IpAddr::from([192, 0, 2, 1])),
    };
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let datagrams: Vec<Vec<u8>> = (0..(SPOOL_BATCH_ROWS / V9_RECORDS) as u32)
        .map(|i| netflow_v9(&mut random, i, i == 0))
        .collect();
    let rows = datagrams.len() * V9_RECORDS;
    let mut group = c.benchmark_group("flow_edge");
    group.throughput(Throughput::Elements(rows as u64));
    for (name, compression) in [
        ("netflow_v9_decode_encode_zstd", IpcCompression::Zstd),
        (
            "netflow_v9_decode_encode_zstd_fast",
            IpcCompression::ZstdFast,
        ),
        ("netflow_v9_decode_encode_lz4", IpcCompression::Lz4),
        ("netflow_v9_decode_encode_none", IpcCompression::None),
    ] {
        group.bench_function(name, |b| {
            let mut decoder = FlowDecoder::default();
            b.iter(|| {
                for datagram in &datagrams {
                    black_box(decoder.decode(datagram, &meta));
                }
                let batch = decoder.flush().expect("batch").expect("rows");
                let encoded = encode_ipc_with(std::slice::from_ref(&batch), compression);
                decoder.recycle(batch);
                black_box(encoded.expect("encode").len())
            })
        });
    }
    let batch = spool_batch(&meta);
    let table = edge_to_table(&batch).expect("table");
    eprintln!(
        "netflow_v9 edge batch: {} rows, {} bytes in memory ({:.1} a row), {} columns; table: {} bytes in memory ({:.1} a row)",
        batch.num_rows(),
        batch.get_array_memory_size(),
        batch.get_array_memory_size() as f64 / batch.num_rows() as f64,
        batch.num_columns(),
        table.get_array_memory_size(),
        table.get_array_memory_size() as f64 / table.num_rows() as f64
    );
    group.throughput(Throughput::Elements(batch.num_rows() as u64));
    group.bench_function("netflow_v9_edge_to_table", |b| {
        b.iter(|| edge_to_table(black_box(&batch)).expect("table"))
    });
    group.finish();
}

criterion_group!(benches, decode, spool_encode, edge);
criterion_main!(benches);
