//! sFlow v5 datagrams built from the specification (sflow.org/sflow_version_5.txt).

#[path = "support/columns.rs"]
mod columns;

use arrow::array::Array;
use arrow::datatypes::{UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use bytefreezer_decode_flow::{DatagramMeta, FlowDecoder};

fn xdr(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn opaque(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out
}

fn record(format: u32, body: Vec<u8>) -> Vec<u8> {
    let mut out = xdr(&[format, body.len() as u32]);
    out.extend(body);
    out
}

/// Ethernet, one 802.1Q tag (VLAN 42), IPv4, TCP 10.0.0.1:40000 -> 10.0.0.2:443 with SYN|ACK.
fn tagged_tcp_frame() -> Vec<u8> {
    let mut frame = vec![
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x81, 0x00, 0x00, 42, 0x08, 0x00,
    ];
    frame.extend([
        0x45, 0x10, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    frame.extend([
        0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x12, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    frame
}

/// Ethernet, MPLS (two labels), IPv6 UDP 2001:db8::1:5353 -> 2001:db8::2:53.
fn mpls_ipv6_udp_frame() -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 0x04, 0x02, 0, 0, 0, 0, 0x03, 0x88, 0x47];
    frame.extend([0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40]);
    let mut ipv6 = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
    ipv6.extend(
        "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    ipv6.extend(
        "2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    frame.extend(ipv6);
    frame.extend([0x14, 0xe9, 0x00, 0x35, 0, 8, 0, 0]);
    frame
}

fn raw_header(frame: &[u8], frame_length: u32) -> Vec<u8> {
    let mut body = xdr(&[1, frame_length, 4, frame.len() as u32]);
    body.extend(opaque(frame));
    record(1, body)
}

fn datagram() -> Vec<u8> {
    let mut samples = Vec::new();
    // Expanded flow sample: raw header, extended switch, extended gateway.
    let mut expanded = xdr(&[7, 0, 3, 1000, 50_000, 0, 0, 3, 0, 9, 3]);
    expanded.extend(raw_header(&tagged_tcp_frame(), 1514));
    expanded.extend(record(1001, xdr(&[42, 0, 43, 0])));
    let gateway = xdr(&[1, 0xc000_02fe, 64500, 64501, 64502, 1, 2, 2, 64510, 64511]);
    expanded.extend(record(1003, gateway));
    samples.extend(record(3, expanded));
    // Compact flow sample: MPLS + IPv6 raw header.
    let mut compact = xdr(&[8, 5, 512, 9000, 0, 5, 6, 1]);
    compact.extend(raw_header(&mpls_ipv6_udp_frame(), 90));
    samples.extend(record(1, compact));
    // Counter sample: counted, not stored.
    samples.extend(record(2, xdr(&[1, 3, 0])));
    let mut out = xdr(&[5, 1, 0xc000_0201, 0, 12_345, 60_000, 3]);
    out.extend(samples);
    out
}

#[test]
fn flow_samples_decode_headers_vlans_mpls_and_gateway_data() {
    let mut decoder = FlowDecoder::default();
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        exporter: Some("198.51.100.1".parse().unwrap()),
    };
    let report = decoder.decode(&datagram(), &meta);
    assert_eq!(
        (
            report.records,
            report.counter_samples,
            report.error.as_ref()
        ),
        (2, 1, None),
        "{report:?}"
    );
    let batch = decoder.flush_table().unwrap().unwrap();
    assert_eq!(
        columns::texts(&batch, "flow_protocol")[0],
        Some("sflow_v5".into())
    );
    assert_eq!(
        columns::texts(&batch, "exporter_address")[0],
        Some("192.0.2.1".into()),
        "the agent address"
    );
    assert_eq!(
        columns::texts(&batch, "src_addr"),
        [Some("10.0.0.1".into()), Some("2001:db8::1".into())]
    );
    assert_eq!(
        columns::texts(&batch, "dst_addr"),
        [Some("10.0.0.2".into()), Some("2001:db8::2".into())]
    );
    assert_eq!(
        columns::texts(&batch, "src_mac")[0],
        Some("02:00:00:00:00:01".into())
    );
    assert_eq!(
        columns::texts(&batch, "next_hop")[0],
        Some("192.0.2.254".into())
    );
    let ports = columns::primitive::<UInt16Type>(&batch, "dst_port");
    assert_eq!((ports.value(0), ports.value(1)), (443, 53));
    let flags = columns::primitive::<UInt16Type>(&batch, "tcp_flags");
    assert_eq!(flags.value(0), 0x12);
    let proto = columns::primitive::<UInt8Type>(&batch, "ip_protocol");
    assert_eq!((proto.value(0), proto.value(1)), (6, 17));
    let vlan = columns::primitive::<UInt16Type>(&batch, "src_vlan");
    assert_eq!(vlan.value(0), 42);
    let dst_vlan = columns::primitive::<UInt16Type>(&batch, "dst_vlan");
    assert_eq!(dst_vlan.value(0), 43);
    let dst_as = columns::primitive::<UInt32Type>(&batch, "dst_as");
    let src_as = columns::primitive::<UInt32Type>(&batch, "src_as");
    assert_eq!((src_as.value(0), dst_as.value(0)), (64501, 64511));
    let bytes = columns::primitive::<UInt64Type>(&batch, "bytes");
    let scaled = columns::primitive::<UInt64Type>(&batch, "bytes_scaled");
    assert_eq!((bytes.value(0), scaled.value(0)), (1514, 1514 * 1000));
    assert_eq!((bytes.value(1), scaled.value(1)), (90, 90 * 512));
    let packets = columns::primitive::<UInt64Type>(&batch, "packets_scaled");
    assert_eq!(packets.value(1), 512);
    let input = columns::primitive::<UInt32Type>(&batch, "input_interface");
    assert_eq!((input.value(0), input.value(1)), (3, 5));
    assert!(batch.column_by_name("flow_start").unwrap().is_null(0));
}

#[test]
fn truncated_and_corrupted_sflow_is_an_error_not_a_panic() {
    let full = datagram();
    let mut decoder = FlowDecoder::default();
    let meta = DatagramMeta {
        receive_time_micros: 1,
        exporter: None,
    };
    for cut in 4..full.len() {
        let report = decoder.decode(&full[..cut], &meta);
        assert!(report.records <= 2);
    }
    for position in 4..full.len() {
        let mut corrupt = full.clone();
        corrupt[position] ^= 0xff;
        let _ = decoder.decode(&corrupt, &meta);
    }
    let mut huge = full.clone();
    huge[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(
        decoder
            .decode(&huge, &meta)
            .error
            .unwrap()
            .to_string()
            .contains("samples")
    );
}

#[test]
fn interface_counter_samples_become_counter_rows() {
    let mut generic = xdr(&[7, 6]);
    generic.extend(xdr(&[0, 1_000_000_000])); // ifSpeed, 64 bits
    generic.extend(xdr(&[1, 1])); // direction, status
    generic.extend(xdr(&[0, 5_000])); // ifInOctets
    generic.extend(xdr(&[10, 2, 1, 3, 4, 0])); // in ucast, mcast, bcast, discards, errors, unknown
    generic.extend(xdr(&[1, 0])); // ifOutOctets = 2^32
    generic.extend(xdr(&[20, 0, 0, 5, 6, 0])); // out ucast, mcast, bcast, discards, errors, promiscuous
    let mut sample = xdr(&[11, 0, 7, 2]); // sequence, source type, source index, records
    sample.extend(record(1, generic));
    sample.extend(record(2, xdr(&[1, 2, 3]))); // an Ethernet counters record, not stored
    let mut datagram = xdr(&[5, 1, 0xc000_0201, 0, 99, 60_000, 1]);
    datagram.extend(record(4, sample));
    let mut decoder = FlowDecoder::default();
    let meta = DatagramMeta {
        receive_time_micros: 1,
        exporter: None,
    };
    let report = decoder.decode(&datagram, &meta);
    assert_eq!(
        (
            report.records,
            report.counter_samples,
            report.error.as_ref()
        ),
        (1, 1, None),
        "{report:?}"
    );
    let batch = decoder.flush_table().unwrap().unwrap();
    assert_eq!(
        columns::texts(&batch, "record_type"),
        [Some("counters".into())]
    );
    let value = |name: &str| columns::primitive::<UInt64Type>(&batch, name).value(0);
    assert_eq!(value("if_speed"), 1_000_000_000);
    assert_eq!(
        (value("if_in_octets"), value("if_out_octets")),
        (5_000, 1 << 32)
    );
    assert_eq!((value("if_in_packets"), value("if_out_packets")), (13, 20));
    assert_eq!((value("if_in_errors"), value("if_out_errors")), (4, 6));
    assert_eq!((value("if_in_discards"), value("if_out_discards")), (3, 5));
    let index = columns::primitive::<UInt32Type>(&batch, "input_interface");
    assert_eq!(index.value(0), 7);
    assert!(batch.column_by_name("bytes").unwrap().is_null(0));
}
