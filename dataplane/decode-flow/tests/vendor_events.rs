//! Firewall, NAT and application exports in the layouts their vendors document, decoded by us
//! and by Wireshark's `cflow` dissector (tshark), compared field by field: a Cisco ASA NSEL
//! flow-denied and flow-teardown pair (NetFlow v9, Cisco's "NetFlow Implementation Guide for
//! ASA" field types), NAT44 session events (IPFIX, RFC 8158's elements), a Palo Alto PAN-OS
//! record with App-ID and User-ID (NetFlow v9 types 56701, 56702), and an H3C NetStream
//! template with IPFIX's variable-length marker inside NetFlow v9.
//!
//! The package registries this project installs test data from carry no real capture of
//! these devices (the public real-device captures are tested in `real_devices.rs`), so the
//! datagrams are built here; tshark, an independent decoder, says what they hold.

#[path = "support/columns.rs"]
mod columns;
#[path = "support/exports.rs"]
mod exports;
#[path = "support/pcap.rs"]
mod pcap;
#[path = "support/tools.rs"]
mod tools;
#[path = "support/tshark.rs"]
mod tshark;

use std::net::{IpAddr, Ipv4Addr};

use arrow::array::RecordBatch;
use bytefreezer_decode_flow::{DatagramMeta, FlowDecoder};
use columns::texts;
use serde_json::{Map, Value};
use tshark::{leaf, objects_with};

const PORT: u16 = 2055;

/// A NetFlow v9 packet of `sets` (set id, body).
fn v9(sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut packet = Vec::new();
    packet.extend(9u16.to_be_bytes());
    packet.extend((sets.len() as u16).to_be_bytes());
    for word in [3_600_000u32, 1_795_000_000, 1, 0] {
        packet.extend(word.to_be_bytes());
    }
    for (id, body) in sets {
        packet.extend(id.to_be_bytes());
        packet.extend((4 + body.len() as u16).to_be_bytes());
        packet.extend(body);
    }
    packet
}

/// An IPFIX message of `sets`.
fn ipfix(sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let body: Vec<u8> = sets
        .iter()
        .flat_map(|(id, body)| {
            let mut set = id.to_be_bytes().to_vec();
            set.extend((4 + body.len() as u16).to_be_bytes());
            set.extend(body);
            set
        })
        .collect();
    let mut packet = Vec::new();
    packet.extend(10u16.to_be_bytes());
    packet.extend((16 + body.len() as u16).to_be_bytes());
    for word in [1_795_000_000u32, 1, 7] {
        packet.extend(word.to_be_bytes());
    }
    packet.extend(body);
    packet
}

/// A template (v9 or IPFIX, IANA elements only) of `fields` (element, length).
fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    body.extend((fields.len() as u16).to_be_bytes());
    for (element, length) in fields {
        body.extend(element.to_be_bytes());
        body.extend(length.to_be_bytes());
    }
    body
}

/// `text` NUL-padded to `length` bytes, as exporters send fixed-length names.
fn padded(text: &str, length: usize) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.resize(length, 0);
    bytes
}

/// Two ASA NSEL events: a flow denied by an ingress ACL, and a flow torn down.
fn asa_nsel() -> Vec<u8> {
    let fields = [
        (148, 4),    // NF_F_CONN_ID
        (8, 4),      // NF_F_SRC_ADDR_IPV4
        (7, 2),      // NF_F_SRC_PORT
        (10, 2),     // NF_F_SRC_INTF_ID
        (12, 4),     // NF_F_DST_ADDR_IPV4
        (11, 2),     // NF_F_DST_PORT
        (14, 2),     // NF_F_DST_INTF_ID
        (4, 1),      // NF_F_PROTOCOL
        (176, 1),    // NF_F_ICMP_TYPE
        (177, 1),    // NF_F_ICMP_CODE
        (233, 1),    // NF_F_FW_EVENT
        (33002, 2),  // NF_F_FW_EXT_EVENT
        (323, 8),    // NF_F_EVENT_TIME_MSEC
        (225, 4),    // NF_F_XLATE_SRC_ADDR_IPV4
        (226, 4),    // NF_F_XLATE_DST_ADDR_IPV4
        (227, 2),    // NF_F_XLATE_SRC_PORT
        (228, 2),    // NF_F_XLATE_DST_PORT
        (33000, 12), // NF_F_INGRESS_ACL_ID
        (33001, 12), // NF_F_EGRESS_ACL_ID
        (40000, 20), // NF_F_USERNAME
        (231, 4),    // NF_F_FWD_FLOW_DELTA_BYTES
        (232, 4),    // NF_F_REV_FLOW_DELTA_BYTES
    ];
    let record = |connection: u32,
                  inside: [u8; 4],
                  port: u16,
                  event: u8,
                  extended: u16,
                  acl: [u8; 12],
                  user: &str,
                  bytes: u32| {
        let mut r = Vec::new();
        r.extend(connection.to_be_bytes());
        r.extend(inside);
        r.extend(port.to_be_bytes());
        r.extend(3u16.to_be_bytes());
        r.extend([198, 51, 100, 20]);
        r.extend(443u16.to_be_bytes());
        r.extend(4u16.to_be_bytes());
        r.extend([6, 0, 0, event]);
        r.extend(extended.to_be_bytes());
        r.extend(1_795_000_000_123u64.to_be_bytes());
        r.extend([203, 0, 113, inside[3]]);
        r.extend([198, 51, 100, 20]);
        r.extend((port + 11_000).to_be_bytes());
        r.extend(443u16.to_be_bytes());
        r.extend(acl);
        r.extend([0; 12]);
        r.extend(padded(user, 20));
        r.extend(bytes.to_be_bytes());
        r.extend((bytes * 3).to_be_bytes());
        r
    };
    let mut data = record(
        1001,
        [10, 1, 2, 3],
        51_000,
        3,
        1001,
        [0x2c, 0x7c, 0xf3, 0xb3, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff],
        "jdoe",
        0,
    );
    data.extend(record(
        1002,
        [10, 1, 2, 4],
        51_001,
        2,
        2030,
        [0, 0, 0, 10, 0, 0, 0, 11, 0, 0, 0, 12],
        "alice",
        1234,
    ));
    v9(&[(0, template(263, &fields)), (263, data)])
}

/// NAT44 session create and delete events (natEvent 4 and 5 of RFC 8158's registry values).
fn nat44_events() -> Vec<u8> {
    let fields = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (230, 1),
        (225, 4),
        (226, 4),
        (227, 2),
        (228, 2),
        (323, 8),
    ];
    let mut data = Vec::new();
    for (inside, event, public_port) in [
        ([192, 168, 1, 10], 4u8, 1024u16),
        ([192, 168, 1, 11], 5, 1025),
    ] {
        data.extend(inside);
        data.extend([8, 8, 8, 8]);
        data.extend(40_000u16.to_be_bytes());
        data.extend(53u16.to_be_bytes());
        data.extend([17, event]);
        data.extend([203, 0, 113, 9]);
        data.extend([8, 8, 8, 8]);
        data.extend(public_port.to_be_bytes());
        data.extend(53u16.to_be_bytes());
        data.extend(1_795_000_000_500u64.to_be_bytes());
    }
    ipfix(&[(2, template(256, &fields)), (256, data)])
}

/// A PAN-OS record: privateEnterpriseNumber 25461, then App-ID (32 bytes) and User-ID (64).
fn palo_alto() -> Vec<u8> {
    let fields = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (1, 4),
        (2, 4),
        (346, 4),
        (56701, 32),
        (56702, 64),
    ];
    let mut data = vec![10, 0, 0, 1, 10, 0, 0, 2];
    data.extend(1234u16.to_be_bytes());
    data.extend(443u16.to_be_bytes());
    data.push(6);
    data.extend(1000u32.to_be_bytes());
    data.extend(10u32.to_be_bytes());
    data.extend(25_461u32.to_be_bytes());
    data.extend(padded("ssl", 32));
    data.extend(padded("example\\bob", 64));
    v9(&[(0, template(300, &fields)), (300, data)])
}

/// H3C NetStream: an applicationName of variable length inside a NetFlow v9 template.
fn h3c_variable_length() -> Vec<u8> {
    let fields = [(8, 4), (12, 4), (4, 1), (96, 65_535), (1, 4)];
    let mut data = vec![10, 0, 0, 1, 10, 0, 0, 2, 17, 3];
    data.extend(b"dns");
    data.extend(99u32.to_be_bytes());
    data.extend([0, 0, 0]);
    v9(&[(0, template(400, &fields)), (400, data)])
}

fn decode(datagram: &[u8]) -> RecordBatch {
    let mut decoder = FlowDecoder::default();
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_100_000_000,
        exporter: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
    };
    let report = decoder.decode(datagram, &meta);
    assert_eq!(report.error, None, "{report:?}");
    decoder.flush_table().unwrap().expect("rows")
}

/// tshark's flow records of `datagram`, in order.
fn tshark_records(datagram: &[u8]) -> Vec<Map<String, Value>> {
    let frames = tshark::dissect(&[datagram.to_vec()], PORT, "cflow");
    objects_with(&frames[0], &["cflow.srcaddr"])
        .into_iter()
        .cloned()
        .collect()
}

fn shown(record: &Map<String, Value>, name: &str) -> String {
    leaf(record, name)
        .unwrap_or_else(|| panic!("tshark shows no {name} in {record:?}"))
        .to_owned()
}

/// tshark's `aa:bb:...` bytes as our ACL id text, `0x<acl>/0x<ace>/0x<hash>`.
fn acl_text(hex: &str) -> String {
    let digits: String = hex.split(':').collect();
    assert_eq!(digits.len(), 24, "{hex}");
    format!(
        "0x{}/0x{}/0x{}",
        &digits[..8],
        &digits[8..16],
        &digits[16..]
    )
}

/// tshark's `aa:bb:...` bytes of an unknown field as text up to the first NUL.
fn hex_name(hex: &str) -> String {
    let bytes: Vec<u8> = hex
        .split(':')
        .map(|byte| u8::from_str_radix(byte, 16).unwrap())
        .take_while(|byte| *byte != 0)
        .collect();
    String::from_utf8(bytes).unwrap()
}

/// Each of our `column`'s values equals tshark's, read from each record with `theirs`.
fn assert_column(
    batch: &RecordBatch,
    records: &[Map<String, Value>],
    column: &str,
    theirs: impl Fn(&Map<String, Value>) -> String,
) {
    let ours = texts(batch, column);
    let expected: Vec<Option<String>> = records.iter().map(|r| Some(theirs(r))).collect();
    assert_eq!(ours, expected, "{column}");
}

fn assert_no_extra(batch: &RecordBatch, keys: &[&str]) {
    for extra in texts(batch, "extra_fields").into_iter().flatten() {
        for key in keys {
            assert!(!extra.contains(key), "{key} still in extra_fields: {extra}");
        }
    }
}

#[test]
fn asa_nsel_events_fill_the_firewall_and_nat_columns_as_tshark_reads_them() {
    let datagram = asa_nsel();
    let batch = decode(&datagram);
    let records = tshark_records(&datagram);
    assert_eq!((batch.num_rows(), records.len()), (2, 2));
    assert_column(&batch, &records, "firewall_event", |r| {
        shown(r, "cflow.firewall_event")
    });
    assert_column(&batch, &records, "firewall_ext_event", |r| {
        shown(r, "cflow.fw_ext_event")
    });
    assert_column(&batch, &records, "xlate_src_addr", |r| {
        shown(r, "cflow.post_natsource_ipv4_address")
    });
    assert_column(&batch, &records, "xlate_dst_addr", |r| {
        shown(r, "cflow.post_natdestination_ipv4_address")
    });
    assert_column(&batch, &records, "xlate_src_port", |r| {
        shown(r, "cflow.post_naptsource_transport_port")
    });
    assert_column(&batch, &records, "xlate_dst_port", |r| {
        shown(r, "cflow.post_naptdestination_transport_port")
    });
    assert_column(&batch, &records, "ingress_acl_id", |r| {
        acl_text(&shown(r, "cflow.ingress_acl_id"))
    });
    assert_column(&batch, &records, "egress_acl_id", |r| {
        acl_text(&shown(r, "cflow.egress_acl_id"))
    });
    assert_column(&batch, &records, "user_name", |r| {
        shown(r, "cflow.aaa_username")
    });
    assert_column(&batch, &records, "src_addr", |r| shown(r, "cflow.srcaddr"));
    assert_eq!(
        texts(&batch, "ingress_acl_id")[0].as_deref(),
        Some("0x2c7cf3b3/0x00000001/0xffffffff")
    );
    assert_no_extra(
        &batch,
        &[
            "\"0:233\"",
            "\"0:33002\"",
            "\"0:225\"",
            "\"0:33000\"",
            "\"0:40000\"",
        ],
    );
    // What the columns are not for stays in extra_fields: the connection id, event time.
    let extra = texts(&batch, "extra_fields")[0].clone().unwrap();
    assert!(extra.contains("\"0:148\":\"000003e9\""), "{extra}");
}

#[test]
fn nat44_events_fill_the_nat_columns_as_tshark_reads_them() {
    let datagram = nat44_events();
    let batch = decode(&datagram);
    let records = tshark_records(&datagram);
    assert_eq!((batch.num_rows(), records.len()), (2, 2));
    assert_column(&batch, &records, "nat_event", |r| {
        shown(r, "cflow.nat_event")
    });
    assert_column(&batch, &records, "xlate_src_addr", |r| {
        shown(r, "cflow.post_natsource_ipv4_address")
    });
    assert_column(&batch, &records, "xlate_src_port", |r| {
        shown(r, "cflow.post_naptsource_transport_port")
    });
    assert_column(&batch, &records, "src_addr", |r| shown(r, "cflow.srcaddr"));
    // "Which inside address was behind 203.0.113.9:1025": one row answers it.
    let inside: Vec<_> = texts(&batch, "xlate_src_port")
        .into_iter()
        .zip(texts(&batch, "src_addr"))
        .filter(|(port, _)| port.as_deref() == Some("1025"))
        .map(|(_, inside)| inside)
        .collect();
    assert_eq!(inside, [Some("192.168.1.11".to_owned())]);
    assert_no_extra(
        &batch,
        &["natEvent", "postNATSourceIPv4Address", "postNAPTSource"],
    );
}

#[test]
fn palo_alto_app_id_and_user_id_become_names() {
    let datagram = palo_alto();
    let batch = decode(&datagram);
    let records = tshark_records(&datagram);
    assert_eq!((batch.num_rows(), records.len()), (1, 1));
    // tshark has no names for PAN-OS's types: it shows their bytes, in template order.
    let unknown = |r: &Map<String, Value>, index: usize| match &r["cflow.unknown_field_type"] {
        Value::Array(values) => values[index].as_str().unwrap().to_owned(),
        other => panic!("two unknown fields expected, got {other}"),
    };
    assert_column(&batch, &records, "app_name", |r| hex_name(&unknown(r, 0)));
    assert_column(&batch, &records, "user_name", |r| hex_name(&unknown(r, 1)));
    assert_eq!(texts(&batch, "app_name"), [Some("ssl".to_owned())]);
    assert_no_extra(&batch, &["\"0:56701\"", "\"0:56702\""]);
}

#[test]
fn h3c_variable_length_application_names_decode_as_tshark_reads_them() {
    let datagram = h3c_variable_length();
    let batch = decode(&datagram);
    let records = tshark_records(&datagram);
    assert_eq!((batch.num_rows(), records.len()), (1, 1));
    assert_column(&batch, &records, "app_name", |r| {
        shown(r, "cflow.appl_name")
    });
    assert_column(&batch, &records, "bytes", |r| shown(r, "cflow.octets"));
}
