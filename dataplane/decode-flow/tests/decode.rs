//! Flow datagrams built field by field from the specifications (Cisco NetFlow v5, RFC 3954,
//! RFC 7011), decoded into the flow schema.

#[path = "support/columns.rs"]
mod columns;

use std::net::IpAddr;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use bytefreezer_decode_flow::{DatagramMeta, DecodeError, FlowDecoder, FlowLimits};

const NOW: i64 = 1_795_000_000_000_000;

fn meta(exporter: &str) -> DatagramMeta {
    DatagramMeta {
        receive_time_micros: NOW,
        exporter: Some(exporter.parse().unwrap()),
    }
}

#[derive(Default, Clone)]
struct Packet(Vec<u8>);

impl Packet {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn ip(mut self, v: &str) -> Self {
        match v.parse::<IpAddr>().unwrap() {
            IpAddr::V4(a) => self.0.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => self.0.extend_from_slice(&a.octets()),
        }
        self
    }
    fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    /// A set (or v9 flowset) around `body`, padded to 4 bytes as exporters do.
    fn set(self, id: u16, body: Packet) -> Self {
        let mut body = body.0;
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        self.u16(id).u16(body.len() as u16 + 4).bytes(&body)
    }
}

fn flush(decoder: &mut FlowDecoder) -> RecordBatch {
    decoder.flush_table().unwrap().expect("rows")
}

fn v5_record(src: &str, dst: &str, sport: u16, dport: u16, proto: u8, first: u32) -> Packet {
    Packet::default()
        .ip(src)
        .ip(dst)
        .ip("192.0.2.254")
        .u16(3)
        .u16(7)
        .u32(10) // packets
        .u32(1500) // bytes
        .u32(first)
        .u32(first + 500)
        .u16(sport)
        .u16(dport)
        .u8(0)
        .u8(0x1b)
        .u8(proto)
        .u8(0x20)
        .u16(64500)
        .u16(64501)
        .u8(24)
        .u8(16)
        .u16(0)
}

#[test]
fn netflow_v5_records_with_times_sampling_and_icmp() {
    let records = [
        v5_record("10.0.0.1", "10.0.0.2", 51000, 443, 6, 9_000),
        v5_record("10.0.0.3", "198.51.100.7", 0, 0x0800, 1, 9_500),
    ];
    let mut packet = Packet::default()
        .u16(5)
        .u16(2)
        .u32(10_000) // sysUptime ms
        .u32(1_795_000_000) // unix secs
        .u32(0)
        .u32(777) // flow sequence
        .u8(1)
        .u8(2)
        .u16(0x4000 | 100); // sampling mode 1, 1 in 100
    for record in records {
        packet = packet.bytes(&record.0);
    }
    let mut decoder = FlowDecoder::default();
    let report = decoder.decode(&packet.0, &meta("192.0.2.1"));
    assert_eq!((report.records, report.error), (2, None));
    let batch = flush(&mut decoder);
    assert_eq!(
        columns::texts(&batch, "src_addr"),
        [Some("10.0.0.1".into()), Some("10.0.0.3".into())]
    );
    assert_eq!(
        columns::texts(&batch, "flow_protocol")[0],
        Some("netflow_v5".into())
    );
    assert_eq!(
        columns::texts(&batch, "exporter_address")[0],
        Some("192.0.2.1".into())
    );
    assert_eq!(
        columns::texts(&batch, "next_hop")[0],
        Some("192.0.2.254".into())
    );
    let bytes = columns::primitive::<UInt64Type>(&batch, "bytes");
    let scaled = columns::primitive::<UInt64Type>(&batch, "bytes_scaled");
    assert_eq!((bytes.value(0), scaled.value(0)), (1500, 150_000));
    let start = columns::primitive::<TimestampMicrosecondType>(&batch, "flow_start");
    // Exported at 1_795_000_000 s with uptime 10 s; the flow started at uptime 9 s.
    assert_eq!(start.value(0), 1_794_999_999_000_000);
    let icmp = columns::primitive::<UInt8Type>(&batch, "icmp_type");
    assert!(icmp.is_null(0));
    assert_eq!(icmp.value(1), 8, "echo request");
    let domain = columns::primitive::<UInt32Type>(&batch, "observation_domain");
    assert_eq!(domain.value(0), 0x0102);
    let mut truncated = packet_prefix(&packet.0, 24 + 48 + 10);
    let report = decoder.decode(&truncated, &meta("192.0.2.1"));
    assert_eq!(report.records, 1, "the whole record before the cut is kept");
    assert!(
        report
            .error
            .unwrap()
            .to_string()
            .contains("truncated at record 1")
    );
    truncated[3] = 31;
    assert!(
        decoder
            .decode(&truncated, &meta("192.0.2.1"))
            .error
            .unwrap()
            .to_string()
            .contains("more than 30")
    );
}

fn packet_prefix(bytes: &[u8], len: usize) -> Vec<u8> {
    bytes[..len].to_vec()
}

fn v9_header(sequence: u32, source_id: u32) -> Packet {
    Packet::default()
        .u16(9)
        .u16(0)
        .u32(60_000) // sysUptime
        .u32(1_795_000_000)
        .u32(sequence)
        .u32(source_id)
}

fn v9_template() -> Packet {
    Packet::default()
        .u16(256)
        .u16(9)
        .u16(8)
        .u16(4)
        .u16(12)
        .u16(4)
        .u16(7)
        .u16(2)
        .u16(11)
        .u16(2)
        .u16(4)
        .u16(1)
        .u16(1)
        .u16(4)
        .u16(2)
        .u16(4)
        .u16(22)
        .u16(4)
        .u16(21)
        .u16(4)
}

fn v9_data(records: &[(&str, &str, u16)]) -> Packet {
    let mut data = Packet::default();
    for (src, dst, port) in records {
        data = data
            .ip(src)
            .ip(dst)
            .u16(40000)
            .u16(*port)
            .u8(17)
            .u32(4096)
            .u32(4)
            .u32(58_000)
            .u32(59_000);
    }
    data
}

#[test]
fn netflow_v9_data_before_its_template_is_held_then_decoded() {
    let mut decoder = FlowDecoder::default();
    let early = v9_header(1, 7).set(256, v9_data(&[("10.1.0.1", "10.1.0.2", 53)]));
    let report = decoder.decode(&early.0, &meta("192.0.2.9"));
    assert_eq!((report.records, report.held_sets), (0, 1));
    let late = v9_header(2, 7).set(0, v9_template()).set(
        256,
        v9_data(&[("10.1.0.3", "10.1.0.4", 123), ("10.1.0.5", "10.1.0.6", 161)]),
    );
    let report = decoder.decode(&late.0, &meta("192.0.2.9"));
    assert_eq!(
        (report.templates, report.released_records, report.records),
        (1, 1, 2),
        "{report:?}"
    );
    let batch = flush(&mut decoder);
    assert_eq!(
        columns::texts(&batch, "src_addr"),
        [
            Some("10.1.0.1".into()),
            Some("10.1.0.3".into()),
            Some("10.1.0.5".into())
        ]
    );
    assert_eq!(
        columns::texts(&batch, "flow_protocol")[0],
        Some("netflow_v9".into())
    );
    let end = columns::primitive::<TimestampMicrosecondType>(&batch, "flow_end");
    assert_eq!(
        end.value(0),
        1_794_999_999_000_000,
        "LAST_SWITCHED 59 s at uptime 60 s"
    );
    let event = columns::primitive::<TimestampMicrosecondType>(&batch, "event_time");
    assert_eq!(
        event.value(0),
        end.value(0),
        "the hour partition follows the flow end"
    );
    let ports = columns::primitive::<UInt16Type>(&batch, "dst_port");
    assert_eq!(ports.values().to_vec(), [53, 123, 161]);

    // The same template id from another exporter is another template: its data waits.
    let other = v9_header(1, 7).set(256, v9_data(&[("10.9.0.1", "10.9.0.2", 80)]));
    assert_eq!(decoder.decode(&other.0, &meta("192.0.2.10")).held_sets, 1);
}

/// RFC 3954 has no variable-length fields, but H3C NetStream and others put IPFIX's marker
/// (length 65535) into v9 templates; nfdump and tshark read them as IPFIX does, and so does this.
#[test]
fn netflow_v9_templates_with_variable_length_fields_decode_like_ipfix() {
    let template = Packet::default()
        .u16(260)
        .u16(3)
        .u16(8)
        .u16(4) // IPV4_SRC_ADDR
        .u16(12)
        .u16(4) // IPV4_DST_ADDR
        .u16(82)
        .u16(65535); // interface name, variable length
    let data = Packet::default()
        .ip("10.4.0.1")
        .ip("10.4.0.2")
        .u8(4)
        .bytes(b"eth0")
        .ip("10.4.0.3")
        .ip("10.4.0.4")
        .u8(255)
        .u16(2)
        .bytes(b"lo");
    let packet = v9_header(4, 3).set(0, template).set(260, data);
    let mut decoder = FlowDecoder::default();
    let report = decoder.decode(&packet.0, &meta("192.0.2.40"));
    assert_eq!(
        (report.templates, report.records, report.error.as_ref()),
        (1, 2, None),
        "{report:?}"
    );
    let batch = flush(&mut decoder);
    assert_eq!(
        columns::texts(&batch, "src_addr"),
        [Some("10.4.0.1".into()), Some("10.4.0.3".into())]
    );
    let names: Vec<String> = columns::texts(&batch, "extra_fields")
        .into_iter()
        .map(|extra| {
            let extra: serde_json::Value = serde_json::from_str(&extra.unwrap()).unwrap();
            extra["interfaceName"].as_str().unwrap().to_owned()
        })
        .collect();
    // The table names the element and gives its string as text (`docs/flows.md`).
    assert_eq!(names, ["eth0", "lo"]);
}

/// One unusable set costs only itself: a v9 template set that declares more fields than it
/// holds, put anywhere among good data sets, is skipped and counted, and every good set's rows
/// are still decoded.
#[test]
fn a_packet_with_one_broken_set_still_yields_every_other_sets_rows() {
    let broken_template = Packet::default()
        .u16(270)
        .u16(9) // declares nine fields
        .u16(8)
        .u16(4); // holds one
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    for round in 0..50 {
        let good_sets = 1 + next(5) as usize;
        let broken_at = next(good_sets as u64 + 1) as usize;
        let mut packet = v9_header(round, 11).set(0, v9_template());
        let mut expected = 0;
        for set in 0..=good_sets {
            if set == broken_at {
                packet = packet.set(0, broken_template.clone());
            }
            if set < good_sets {
                let records = 1 + next(3) as usize;
                let rows: Vec<(&str, &str, u16)> = (0..records)
                    .map(|record| ("10.5.0.1", "10.5.0.2", record as u16))
                    .collect();
                packet = packet.set(256, v9_data(&rows));
                expected += records;
            }
        }
        let mut decoder = FlowDecoder::default();
        let report = decoder.decode(&packet.0, &meta("192.0.2.50"));
        assert_eq!(
            (report.records, report.skipped_sets),
            (expected, 1),
            "round {round}: {report:?}"
        );
        assert!(
            matches!(report.error, Some(DecodeError::Template(_))),
            "{report:?}"
        );
        assert_eq!(flush(&mut decoder).num_rows(), expected);
    }
}

/// Palo Alto and Cisco ACI pad datagrams with zeros after the last flowset; a zero set id with
/// a zero length is padding, not a malformed set.
#[test]
fn zero_padding_after_the_last_set_is_not_malformed() {
    let packet = v9_header(5, 12)
        .set(0, v9_template())
        .set(256, v9_data(&[("10.6.0.1", "10.6.0.2", 53)]))
        .bytes(&[0; 12]);
    let mut decoder = FlowDecoder::default();
    let report = decoder.decode(&packet.0, &meta("192.0.2.60"));
    assert_eq!(
        (report.records, report.error.as_ref()),
        (1, None),
        "{report:?}"
    );
    // Bytes that are not all zero are still a set, and a broken one.
    let mut decoder = FlowDecoder::default();
    let packet = v9_header(6, 12)
        .set(0, v9_template())
        .set(256, v9_data(&[("10.6.0.1", "10.6.0.2", 53)]))
        .bytes(&[0, 0, 0, 0, 0, 1]);
    let report = decoder.decode(&packet.0, &meta("192.0.2.60"));
    assert_eq!(report.records, 1);
    assert!(report.error.is_some(), "{report:?}");
}

#[test]
fn netflow_v9_options_announce_the_sampling_rate() {
    let mut decoder = FlowDecoder::default();
    let options_template = Packet::default()
        .u16(257)
        .u16(4) // scope bytes: one field
        .u16(4) // option bytes: one field
        .u16(1)
        .u16(4) // scope: system
        .u16(34)
        .u16(4); // SAMPLING_INTERVAL
    let options_data = Packet::default().u32(0).u32(512);
    let packet = v9_header(3, 1)
        .set(0, v9_template())
        .set(1, options_template)
        .set(257, options_data)
        .set(256, v9_data(&[("10.2.0.1", "10.2.0.2", 443)]));
    let report = decoder.decode(&packet.0, &meta("192.0.2.20"));
    assert_eq!(
        (report.records, report.error.as_ref()),
        (1, None),
        "{report:?}"
    );
    let batch = flush(&mut decoder);
    let rate = columns::primitive::<UInt32Type>(&batch, "sampling_rate");
    let packets = columns::primitive::<UInt64Type>(&batch, "packets_scaled");
    assert_eq!((rate.value(0), packets.value(0)), (512, 4 * 512));
}

fn ipfix(domain: u32, sets: Packet) -> Vec<u8> {
    let body = sets.0;
    Packet::default()
        .u16(10)
        .u16(16 + body.len() as u16)
        .u32(1_795_000_000)
        .u32(99)
        .u32(domain)
        .bytes(&body)
        .0
}

#[test]
fn ipfix_ipv6_variable_length_enterprise_and_reduced_size_fields() {
    let template = Packet::default()
        .u16(300)
        .u16(7)
        .u16(27)
        .u16(16) // sourceIPv6Address
        .u16(28)
        .u16(16) // destinationIPv6Address
        .u16(1)
        .u16(4) // octetDeltaCount, reduced from 8 to 4 bytes
        .u16(152)
        .u16(8) // flowStartMilliseconds
        .u16(153)
        .u16(8) // flowEndMilliseconds
        .u16(0x8000 | 42)
        .u16(65535)
        .u32(29305) // enterprise element, variable length
        .u16(82)
        .u16(65535); // interfaceName, variable length
    let start_ms: u64 = 1_795_000_000_000;
    let data = Packet::default()
        .ip("2001:db8::1")
        .ip("2001:db8::2")
        .u32(123_456)
        .bytes(&start_ms.to_be_bytes())
        .bytes(&(start_ms + 2_000).to_be_bytes())
        .u8(3)
        .bytes(b"abc")
        .u8(255)
        .u16(4)
        .bytes(b"eth0");
    let message = ipfix(5, Packet::default().set(2, template).set(300, data));
    let mut decoder = FlowDecoder::default();
    let report = decoder.decode(&message, &meta("2001:db8::fe"));
    assert_eq!(
        (report.records, report.error.as_ref()),
        (1, None),
        "{report:?}"
    );
    let batch = flush(&mut decoder);
    assert_eq!(
        columns::texts(&batch, "src_addr")[0],
        Some("2001:db8::1".into())
    );
    assert_eq!(
        columns::texts(&batch, "exporter_address")[0],
        Some("2001:db8::fe".into())
    );
    assert_eq!(
        columns::texts(&batch, "flow_protocol")[0],
        Some("ipfix".into())
    );
    let bytes = columns::primitive::<UInt64Type>(&batch, "bytes");
    assert_eq!(bytes.value(0), 123_456);
    let end = columns::primitive::<TimestampMicrosecondType>(&batch, "flow_end");
    assert_eq!(end.value(0), (start_ms as i64 + 2_000) * 1_000);
    let extra = columns::texts(&batch, "extra_fields")[0].clone().unwrap();
    let extra: serde_json::Value = serde_json::from_str(&extra).unwrap();
    // RFC 5103's reverse element, named as that RFC names it and read as the forward
    // element's type (unsigned64, reduced to 3 bytes).
    assert_eq!(extra["reverseExportedFlowRecordTotalCount"], 0x61_6263);
    assert_eq!(extra["interfaceName"], "eth0");
}

#[test]
fn ipfix_withdrawal_and_scoping_by_observation_domain() {
    let template = |id: u16| {
        Packet::default()
            .u16(id)
            .u16(2)
            .u16(8)
            .u16(4)
            .u16(12)
            .u16(4)
    };
    let data = Packet::default().ip("10.3.0.1").ip("10.3.0.2");
    let mut decoder = FlowDecoder::default();
    let first = ipfix(1, Packet::default().set(2, template(400)).set(400, data));
    assert_eq!(decoder.decode(&first, &meta("192.0.2.30")).records, 1);
    let data = Packet::default().ip("10.3.0.1").ip("10.3.0.2");
    let other_domain = ipfix(2, Packet::default().set(400, data));
    assert_eq!(
        decoder.decode(&other_domain, &meta("192.0.2.30")).held_sets,
        1
    );
    let withdraw = ipfix(
        1,
        Packet::default().set(2, Packet::default().u16(400).u16(0)),
    );
    decoder.decode(&withdraw, &meta("192.0.2.30"));
    let data = Packet::default().ip("10.3.0.1").ip("10.3.0.2");
    let after = ipfix(1, Packet::default().set(400, data));
    let report = decoder.decode(&after, &meta("192.0.2.30"));
    assert_eq!(
        (report.records, report.held_sets),
        (0, 1),
        "withdrawn templates are gone"
    );
}

#[test]
fn template_counts_and_held_data_are_bounded() {
    let mut decoder = FlowDecoder::new(FlowLimits {
        max_templates_per_exporter: 2,
        max_templates: 10,
        max_held_sets: 3,
        max_held_age_micros: 1_000,
        ..FlowLimits::default()
    });
    let mut sets = Packet::default();
    for id in 500..505u16 {
        sets = sets.set(2, Packet::default().u16(id).u16(1).u16(8).u16(4));
    }
    let report = decoder.decode(&ipfix(1, sets), &meta("192.0.2.40"));
    assert_eq!((report.templates, report.refused_templates), (2, 3));
    assert_eq!(decoder.template_count(), 2);
    let mut held = Packet::default();
    for id in 600..605u16 {
        held = held.set(id, Packet::default().u32(1));
    }
    let report = decoder.decode(&ipfix(1, held), &meta("192.0.2.40"));
    assert_eq!((report.held_sets, report.dropped_held_sets), (5, 2));
    let later = DatagramMeta {
        receive_time_micros: NOW + 10_000,
        exporter: meta("192.0.2.40").exporter,
    };
    let report = decoder.decode(&ipfix(1, Packet::default()), &later);
    assert_eq!(report.dropped_held_sets, 3, "held longer than the limit");
}

#[test]
fn every_truncation_and_corruption_is_an_error_not_a_panic() {
    let template = v9_template();
    let v9 = v9_header(1, 1)
        .set(0, template)
        .set(
            256,
            v9_data(&[("10.0.0.1", "10.0.0.2", 1), ("10.0.0.3", "10.0.0.4", 2)]),
        )
        .0;
    let mut decoder = FlowDecoder::default();
    for cut in 0..v9.len() {
        let report = decoder.decode(&v9[..cut], &meta("192.0.2.50"));
        assert!(report.records <= 2);
    }
    for position in 0..v9.len() {
        for value in [0u8, 0xff, 0x80, 1] {
            let mut corrupt = v9.clone();
            corrupt[position] = value;
            let _ = decoder.decode(&corrupt, &meta("192.0.2.51"));
        }
    }
    assert!(
        decoder
            .decode(&[0, 11, 0, 0], &meta("192.0.2.52"))
            .error
            .unwrap()
            .to_string()
            .contains("version 11")
    );
    assert!(decoder.decode(&[0], &meta("192.0.2.52")).error.is_some());
    assert!(decoder.flush_table().unwrap().is_some());
}

#[test]
fn saved_templates_decode_data_after_a_restart() {
    let mut before = FlowDecoder::default();
    let options_template = Packet::default()
        .u16(257)
        .u16(4)
        .u16(4)
        .u16(1)
        .u16(4)
        .u16(34)
        .u16(4);
    let first = v9_header(1, 3)
        .set(0, v9_template())
        .set(1, options_template)
        .set(257, Packet::default().u32(0).u32(64));
    let generation = before.template_generation();
    before.decode(&first.0, &meta("192.0.2.60"));
    assert!(before.template_generation() > generation);
    let saved = before.save_templates();

    let mut after = FlowDecoder::default();
    assert_eq!(after.restore_templates(&saved), Ok(2));
    let data = v9_header(2, 3).set(256, v9_data(&[("10.6.0.1", "10.6.0.2", 80)]));
    let report = after.decode(&data.0, &meta("192.0.2.60"));
    assert_eq!((report.records, report.held_sets), (1, 0), "{report:?}");
    let batch = flush(&mut after);
    let rate = columns::primitive::<UInt32Type>(&batch, "sampling_rate");
    assert_eq!(rate.value(0), 64, "options state survives too");
    // Another exporter's data is still not decoded with these templates.
    assert_eq!(after.decode(&data.0, &meta("192.0.2.61")).held_sets, 1);

    let mut fresh = FlowDecoder::default();
    for cut in 0..saved.len() {
        assert!(fresh.restore_templates(&saved[..cut]).is_err());
    }
    assert_eq!(fresh.template_count(), 0, "damaged files change nothing");
}

/// Inputs the fuzzer found crashing once, replayed as the fuzz target feeds them.
#[test]
fn fuzzer_findings_stay_fixed() {
    let data_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for name in ["fuzz-crash-time-overflow.bin"] {
        let data = std::fs::read(data_dir.join(name)).unwrap();
        let mut decoder = FlowDecoder::default();
        for datagram in data.split(|b| *b == 0xff).filter(|d| !d.is_empty()) {
            let _ = decoder.decode(datagram, &meta("192.0.2.1"));
        }
        let _ = decoder.decode(&data, &meta("192.0.2.1"));
        let _ = decoder.flush_table();
    }
}

/// The fuzz target's seeds (`fuzz/seeds/decode`: one real datagram from each capture in
/// `tests/data`) decode to rows of every protocol, so fuzzing starts deep inside each decoder.
#[test]
fn the_fuzz_seed_corpus_reaches_every_protocol() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode");
    let mut protocols = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let datagram = std::fs::read(&path).unwrap();
        let mut decoder = FlowDecoder::default();
        let report = decoder.decode(&datagram, &meta("192.0.2.1"));
        assert_eq!(report.error, None, "{}", path.display());
        assert!(report.records > 0, "{} decodes to no rows", path.display());
        let batch = decoder.flush_table().unwrap().unwrap();
        let column = batch
            .column_by_name("flow_protocol")
            .unwrap()
            .as_string::<i32>();
        protocols.extend(column.iter().flatten().map(str::to_owned));
    }
    assert_eq!(
        protocols.into_iter().collect::<Vec<_>>(),
        ["ipfix", "netflow_v5", "netflow_v9", "sflow_v5"]
    );
}
