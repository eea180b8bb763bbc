//! The plan and row paths give the same rows; the per-exporter metrics count what happened.

use super::*;
use crate::templates::FieldSpec;

/// xorshift64: repeatable variety.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

fn be16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn be32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn set(out: &mut Vec<u8>, id: u16, body: &[u8]) {
    be16(out, id);
    be16(out, body.len() as u16 + 4);
    out.extend_from_slice(body);
}

/// A field value: random bytes, or the extremes that make the row path treat a value
/// specially (zero sampling, counters too wide for their column, times out of range).
fn value(random: &mut Random, length: usize) -> Vec<u8> {
    match random.below(6) {
        0 => vec![0; length],
        1 => vec![0xff; length],
        _ => (0..length).map(|_| random.next() as u8).collect(),
    }
}

const ELEMENTS: [u16; 72] = [
    1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 21, 22, 27, 28, 29, 30, 32, 34, 48, 56,
    57, 58, 59, 61, 62, 80, 85, 86, 89, 139, 150, 151, 152, 153, 154, 155, 156, 157, 160, 176, 177,
    178, 179, 305, 999, 8, // Firewall, NAT and application elements (`event_columns`).
    233, 40005, 33002, 33000, 33001, 230, 225, 226, 227, 228, 281, 282, 40001, 40003, 95, 96, 371,
    40000, 56701, 56702,
];
const LENGTHS: [u16; 12] = [1, 2, 3, 4, 4, 6, 8, 8, 16, 0, 12, 20];

/// One datagram with an options template and its data (sampling, boot time), a flow
/// template and a data set of it, for `protocol`.
fn datagram(random: &mut Random, ipfix: bool, fields: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut sets = Vec::new();
    let mut options = Vec::new();
    be16(&mut options, 300);
    if ipfix {
        be16(&mut options, 3);
        be16(&mut options, 1);
    } else {
        be16(&mut options, 4);
        be16(&mut options, 12);
    }
    for (element, length) in [(1u16, 4u16), (34, 4), (160, 8)] {
        be16(&mut options, element);
        be16(&mut options, length);
    }
    set(&mut sets, if ipfix { 3 } else { 1 }, &options);
    let mut options_data = vec![0; 4];
    be32(&mut options_data, random.pick(&[0, 1, 100]));
    options_data.extend_from_slice(&random.pick(&[0u64, 1_794_000_000_000]).to_be_bytes());
    set(&mut sets, 300, &options_data);

    let mut template = Vec::new();
    be16(&mut template, 256);
    be16(&mut template, fields.len() as u16);
    for (element, length, enterprise) in fields {
        if *enterprise != 0 {
            be16(&mut template, element | 0x8000);
            be16(&mut template, *length);
            be32(&mut template, *enterprise);
        } else {
            be16(&mut template, *element);
            be16(&mut template, *length);
        }
    }
    set(&mut sets, if ipfix { 2 } else { 0 }, &template);
    let mut data = Vec::new();
    for _ in 0..1 + random.below(12) {
        for (_, length, _) in fields {
            data.extend(value(random, usize::from(*length)));
        }
    }
    // Padding shorter than a record.
    data.extend(std::iter::repeat_n(0, random.below(3)));
    set(&mut sets, 256, &data);

    let mut packet = Vec::new();
    if ipfix {
        be16(&mut packet, 10);
        be16(&mut packet, 16 + sets.len() as u16);
        be32(&mut packet, 1_795_000_000);
        be32(&mut packet, 7);
        be32(&mut packet, 42);
    } else {
        be16(&mut packet, 9);
        be16(&mut packet, 0);
        be32(&mut packet, random.pick(&[60_000, 4_000_000_000]));
        be32(&mut packet, 1_795_000_000);
        be32(&mut packet, 7);
        be32(&mut packet, 42);
    }
    packet.extend(sets);
    packet
}

#[test]
fn compiled_plans_give_the_rows_of_the_row_path() {
    let mut random = Random(0x5eed_1234_abcd_0042);
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        exporter: Some(IpAddr::from([192, 0, 2, 7])),
    };
    let mut planned = 0;
    for round in 0..3_000 {
        let ipfix = round % 2 == 0;
        let count = 1 + random.below(24);
        let fields: Vec<(u16, u16, u32)> = (0..count)
            .map(|_| {
                let length = random.pick(&LENGTHS);
                let enterprise = if ipfix && random.below(12) == 0 {
                    29_305
                } else {
                    0
                };
                let element = random.pick(&ELEMENTS);
                // IPFIX numbers above 15 bits only with an enterprise.
                let element = if ipfix && element >= 0x8000 {
                    233
                } else {
                    element
                };
                (element, length, enterprise)
            })
            .collect();
        let specs: Vec<FieldSpec> = fields
            .iter()
            .map(|(element, length, enterprise)| FieldSpec {
                element: *element,
                length: *length,
                enterprise: *enterprise,
            })
            .collect();
        planned += usize::from(Plan::compile(&specs).is_some());
        let packet = datagram(&mut random, ipfix, &fields);
        let mut fast = FlowDecoder::default();
        let mut slow = FlowDecoder {
            row_path_only: true,
            ..FlowDecoder::default()
        };
        let fast_report = fast.decode(&packet, &meta);
        let slow_report = slow.decode(&packet, &meta);
        assert_eq!(fast_report, slow_report, "{fields:?}");
        let (fast, slow) = (fast.flush_table().unwrap(), slow.flush_table().unwrap());
        assert_eq!(fast, slow, "{fields:?}");
    }
    assert!(planned > 300, "only {planned} templates had a plan");
}

#[test]
fn realistic_templates_have_plans() {
    let cisco: Vec<FieldSpec> = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (5, 1),
        (6, 1),
        (1, 4),
        (2, 4),
        (22, 4),
        (21, 4),
        (10, 2),
        (14, 2),
        (16, 4),
        (17, 4),
        (9, 1),
        (13, 1),
        (15, 4),
        (61, 1),
        (58, 2),
        (59, 2),
        (48, 1),
        (27, 16),
        (28, 16),
        (152, 8),
        (153, 8),
        (56, 6),
        (80, 6),
        (32, 2),
    ]
    .into_iter()
    .map(|(element, length)| FieldSpec {
        element,
        length,
        enterprise: 0,
    })
    .filter(|f| ![8, 12].contains(&f.element))
    .collect();
    let plan = Plan::compile(&cisco).expect("a plan");
    assert_eq!(
        plan.record_len,
        cisco.iter().map(|f| f.length as usize).sum::<usize>()
    );
}

fn v9_packet(source_id: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut packet = Vec::new();
    be16(&mut packet, 9);
    be16(&mut packet, 0);
    be32(&mut packet, 60_000);
    be32(&mut packet, 1_795_000_000);
    be32(&mut packet, 1);
    be32(&mut packet, source_id);
    for (id, body) in sets {
        set(&mut packet, *id, body);
    }
    packet
}

fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut body = Vec::new();
    be16(&mut body, id);
    be16(&mut body, fields.len() as u16);
    for (element, length) in fields {
        be16(&mut body, *element);
        be16(&mut body, *length);
    }
    body
}

fn metrics_of(decoder: &FlowDecoder, exporter: &str, domain: Option<u32>) -> ExporterMetrics {
    let scope = ExporterScope {
        exporter: Some(exporter.parse().unwrap()),
        domain,
    };
    decoder
        .exporter_metrics()
        .find(|(s, _)| **s == scope)
        .map(|(_, metrics)| *metrics)
        .unwrap_or_default()
}

#[test]
fn exporter_metrics_count_templates_held_sets_and_malformed_datagrams() {
    let mut decoder = FlowDecoder::new(FlowLimits {
        max_templates_per_exporter: 2,
        max_held_sets: 1,
        ..FlowLimits::default()
    });
    let meta = |exporter: &str, time: i64| DatagramMeta {
        receive_time_micros: time,
        exporter: Some(exporter.parse().unwrap()),
    };
    let a = "192.0.2.1";
    // Data for templates not yet known: held; the second pushes the first out.
    decoder.decode(&v9_packet(5, &[(256, vec![0; 4])]), &meta(a, 0));
    decoder.decode(&v9_packet(5, &[(257, vec![0; 4])]), &meta(a, 0));
    // The template of the held set comes, then again unchanged, then changed, then a
    // third template over the per-exporter limit of two.
    let four = template(257, &[(8, 4)]);
    decoder.decode(&v9_packet(5, &[(0, four.clone())]), &meta(a, 1));
    decoder.decode(&v9_packet(5, &[(0, four)]), &meta(a, 2));
    decoder.decode(
        &v9_packet(5, &[(0, template(257, &[(12, 4)]))]),
        &meta(a, 3),
    );
    decoder.decode(&v9_packet(5, &[(0, template(258, &[(7, 2)]))]), &meta(a, 4));
    decoder.decode(&v9_packet(5, &[(0, template(259, &[(7, 2)]))]), &meta(a, 5));
    // Another domain of the same exporter: a held set that expires.
    decoder.decode(&v9_packet(6, &[(300, vec![0; 4])]), &meta(a, 6));
    decoder.decode(&v9_packet(6, &[]), &meta(a, 6 + 61_000_000));
    // Malformed: a set past the end, a bad template, too short, unknown version.
    let mut past_end = v9_packet(5, &[]);
    past_end.extend([1, 0, 0, 40]);
    decoder.decode(&past_end, &meta(a, 7));
    decoder.decode(&v9_packet(5, &[(0, template(7, &[(8, 4)]))]), &meta(a, 7));
    decoder.decode(&[9], &meta(a, 8));
    decoder.decode(&[0, 7, 0, 0], &meta(a, 8));
    decoder.decode(&[0, 5, 0, 1], &meta("192.0.2.2", 8));

    let domain5 = metrics_of(&decoder, a, Some(5));
    assert_eq!(
        domain5,
        ExporterMetrics {
            templates: 2,
            templates_learnt: 3,
            templates_refreshed: 1,
            templates_withdrawn: 0,
            templates_refused: 1,
            refused: crate::metrics::RefusedCounts([0, 1, 0, 0, 0]),
            options_refused: 0,
            odd_length_fields: 0,
            sets_held: 2,
            sets_released: 1,
            sets_dropped: 1,
            malformed: crate::MalformedCounts {
                bad_length: 1,
                template: 1,
                ..Default::default()
            },
        }
    );
    let domain6 = metrics_of(&decoder, a, Some(6));
    assert_eq!((domain6.sets_held, domain6.sets_dropped), (1, 1));
    let unknown = metrics_of(&decoder, a, None);
    assert_eq!(
        (
            unknown.malformed.truncated,
            unknown.malformed.unknown_version
        ),
        (1, 1)
    );
    let v5 = metrics_of(&decoder, "192.0.2.2", None);
    assert_eq!(v5.malformed.truncated, 1);
    assert_eq!(decoder.metrics_overflow(), &ExporterMetrics::default());

    // IPFIX withdrawals lower the gauge; restored templates raise it.
    let saved = decoder.save_templates();
    let mut restored = FlowDecoder::default();
    assert_eq!(restored.restore_templates(&saved), Ok(2));
    assert_eq!(metrics_of(&restored, a, Some(5)).templates, 2);
}

#[test]
fn ipfix_withdrawals_are_counted() {
    let mut decoder = FlowDecoder::default();
    let meta = DatagramMeta {
        receive_time_micros: 0,
        exporter: Some(IpAddr::from([192, 0, 2, 3])),
    };
    let ipfix = |sets: &[(u16, Vec<u8>)]| {
        let mut body = Vec::new();
        for (id, set_body) in sets {
            set(&mut body, *id, set_body);
        }
        let mut packet = Vec::new();
        be16(&mut packet, 10);
        be16(&mut packet, 16 + body.len() as u16);
        be32(&mut packet, 1_795_000_000);
        be32(&mut packet, 1);
        be32(&mut packet, 9);
        packet.extend(body);
        packet
    };
    let two = [
        (2, template(256, &[(8, 4)])),
        (2, template(257, &[(12, 4)])),
    ];
    decoder.decode(&ipfix(&two), &meta);
    decoder.decode(&ipfix(&[(2, template(256, &[]))]), &meta);
    let scope = ExporterScope {
        exporter: meta.exporter,
        domain: Some(9),
    };
    let metrics = |decoder: &FlowDecoder| {
        *decoder
            .exporter_metrics()
            .find(|(s, _)| **s == scope)
            .unwrap()
            .1
    };
    assert_eq!(
        (
            metrics(&decoder).templates,
            metrics(&decoder).templates_withdrawn
        ),
        (1, 1)
    );
    // Withdrawing every template of the domain (template id 2).
    decoder.decode(&ipfix(&[(2, template(2, &[]))]), &meta);
    assert_eq!(
        (
            metrics(&decoder).templates,
            metrics(&decoder).templates_withdrawn
        ),
        (0, 2)
    );
}

/// Found in a Cisco IOS-XE AVC capture: the options record announcing sampler 9's
/// interval (50) made every flow of the domain look sampled 1 in 50, even flows naming no
/// sampler. A sampler's interval now goes to the flows naming that sampler only.
#[test]
fn a_samplers_interval_applies_to_the_flows_naming_it() {
    let mut body = Vec::new();
    let mut set = |id: u16, content: &[u8]| {
        body.extend(id.to_be_bytes());
        body.extend((content.len() as u16 + 4).to_be_bytes());
        body.extend(content);
    };
    // Options template 300: scope FLOW_SAMPLER_ID (1 byte), FLOW_SAMPLER_RANDOM_INTERVAL.
    set(3, &[1, 44, 0, 2, 0, 1, 0, 48, 0, 1, 0, 50, 0, 4]);
    set(300, &[9, 0, 0, 0, 50, 0, 0, 0]);
    // Template 400: source address and bytes; 401 adds FLOW_SAMPLER_ID.
    set(
        2,
        &[
            1, 144, 0, 2, 0, 8, 0, 4, 0, 1, 0, 4, 1, 145, 0, 3, 0, 8, 0, 4, 0, 1, 0, 4, 0, 48, 0, 1,
        ],
    );
    set(400, &[10, 0, 0, 1, 0, 0, 0, 100]);
    set(
        401,
        &[
            10, 0, 0, 2, 0, 0, 0, 100, 9, 10, 0, 0, 3, 0, 0, 0, 100, 7, 0, 0, 0,
        ],
    );
    let mut datagram = vec![0, 10];
    datagram.extend((16 + body.len() as u16).to_be_bytes());
    datagram.extend([0x6a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 6]);
    datagram.extend(body);
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        exporter: None,
    };
    let mut batches = Vec::new();
    for row_path_only in [false, true] {
        let mut decoder = FlowDecoder {
            row_path_only,
            ..FlowDecoder::default()
        };
        let report = decoder.decode(&datagram, &meta);
        assert_eq!((report.records, report.error), (3, None));
        batches.push(decoder.flush_table().unwrap().unwrap());
    }
    // Column by column through the plan, field by field through the row path: the same rows.
    assert_eq!(batches[0], batches[1]);
    let rates = batches[0].column_by_name("sampling_rate").unwrap();
    let rates = arrow::array::AsArray::as_primitive::<arrow::datatypes::UInt32Type>(rates);
    let rates: Vec<Option<u32>> = rates.iter().collect();
    // No sampler named, sampler 9, an unannounced sampler 7.
    assert_eq!(rates, [None, Some(50), None]);
    let scaled = batches[0].column_by_name("bytes_scaled").unwrap();
    let scaled = arrow::array::AsArray::as_primitive::<arrow::datatypes::UInt64Type>(scaled);
    let scaled: Vec<Option<u64>> = scaled.iter().collect();
    assert_eq!(scaled, [Some(100), Some(5_000), Some(100)]);
}

/// A v9 options template (300: FLOW_SAMPLER_ID, FLOW_SAMPLER_RANDOM_INTERVAL) and one record
/// per sampler id announcing interval 50.
fn sampler_announcements(samplers: std::ops::Range<u8>) -> Vec<u8> {
    let mut options = Vec::new();
    for value in [300, 4, 4, 48, 1, 50, 4] {
        be16(&mut options, value);
    }
    let mut records = Vec::new();
    for id in samplers {
        records.push(id);
        be32(&mut records, 50);
    }
    v9_packet(1, &[(1, options), (300, records)])
}

#[test]
fn options_announcements_are_bounded_per_exporter_and_in_total() {
    let mut decoder = FlowDecoder::new(FlowLimits {
        max_options_entries: 6,
        max_options_entries_per_exporter: 4,
        ..FlowLimits::default()
    });
    let meta = |exporter: &str| DatagramMeta {
        receive_time_micros: 0,
        exporter: Some(exporter.parse().unwrap()),
    };
    decoder.decode(&sampler_announcements(0..10), &meta("192.0.2.1"));
    assert_eq!(decoder.options_entries(), 4, "the exporter's share");
    decoder.decode(&sampler_announcements(0..10), &meta("192.0.2.2"));
    assert_eq!(decoder.options_entries(), 6, "the total");
    // Announced again, the kept ones are refreshed and refused ones counted again.
    decoder.decode(&sampler_announcements(0..10), &meta("192.0.2.1"));
    assert_eq!(decoder.options_entries(), 6);
    assert_eq!(
        metrics_of(&decoder, "192.0.2.1", Some(1)).options_refused,
        12
    );
    assert_eq!(
        metrics_of(&decoder, "192.0.2.2", Some(1)).options_refused,
        8
    );
}

#[test]
fn held_data_is_bounded_in_bytes_per_exporter_and_in_total() {
    let meta = |exporter: &str| DatagramMeta {
        receive_time_micros: 0,
        exporter: Some(exporter.parse().unwrap()),
    };
    let data = |template_id: u16| v9_packet(1, &[(template_id, vec![0; 1_000])]);
    let mut probe = FlowDecoder::default();
    probe.decode(&data(256), &meta("192.0.2.1"));
    let one = probe.held_bytes();
    assert!(one > 1_000, "{one}");

    let mut decoder = FlowDecoder::new(FlowLimits {
        max_held_bytes_per_exporter: 3 * one,
        max_held_bytes: 5 * one,
        ..FlowLimits::default()
    });
    let mut dropped = 0;
    for template_id in 256..261 {
        dropped += decoder
            .decode(&data(template_id), &meta("192.0.2.1"))
            .dropped_held_sets;
    }
    assert_eq!(
        (decoder.held_bytes(), dropped),
        (3 * one, 2),
        "the exporter's share"
    );
    for template_id in 256..261 {
        dropped += decoder
            .decode(&data(template_id), &meta("192.0.2.2"))
            .dropped_held_sets;
    }
    assert_eq!((decoder.held_bytes(), dropped), (5 * one, 5), "the total");
    // A set larger than any room is dropped at once, and nothing else with it.
    let huge = v9_packet(1, &[(300, vec![0; 4 * 1_000])]);
    assert_eq!(
        decoder.decode(&huge, &meta("192.0.2.3")).dropped_held_sets,
        1
    );
    assert_eq!(decoder.held_bytes(), 5 * one);
    // Templates arriving release their sets and give their bytes back.
    let template = template(258, &[(1, 4)]);
    decoder.decode(&v9_packet(1, &[(0, template)]), &meta("192.0.2.2"));
    assert_eq!(decoder.held_bytes(), 4 * one);
    assert_eq!(
        metrics_of(&decoder, "192.0.2.1", Some(1)).sets_dropped
            + metrics_of(&decoder, "192.0.2.2", Some(1)).sets_dropped
            + metrics_of(&decoder, "192.0.2.3", Some(1)).sets_dropped,
        6
    );
}

/// A held set that proves unusable once its template comes costs only itself: the sets held
/// after it still decode, and it is counted like a broken set in its own datagram.
#[test]
fn one_unusable_held_set_does_not_cost_the_sets_held_after_it() {
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        exporter: Some("192.0.2.9".parse().unwrap()),
    };
    // Bytes (4), then a variable-length name: one byte of length, then the name.
    let record = |bytes: u32, name: &[u8]| {
        let mut r = bytes.to_be_bytes().to_vec();
        r.push(name.len() as u8);
        r.extend(name);
        r
    };
    let mut decoder = FlowDecoder::default();
    let good = |bytes| v9_packet(1, &[(256, record(bytes, b"dns"))]);
    // A length past the end of its set.
    let mut broken = 7u32.to_be_bytes().to_vec();
    broken.extend([40, b'x', b'y']);
    for packet in [good(1), v9_packet(1, &[(256, broken)]), good(3)] {
        assert_eq!(decoder.decode(&packet, &meta).held_sets, 1);
    }
    let report = decoder.decode(
        &v9_packet(1, &[(0, template(256, &[(1, 4), (96, 65_535)]))]),
        &meta,
    );
    assert_eq!(
        (report.released_records, report.skipped_sets),
        (2, 1),
        "{report:?}"
    );
    assert!(report.error.is_some());
    let metrics = metrics_of(&decoder, "192.0.2.9", Some(1));
    assert_eq!((metrics.sets_released, metrics.malformed.truncated), (3, 1));
    use arrow::array::AsArray;
    let batch = decoder.flush_table().unwrap().unwrap();
    let bytes = batch
        .column_by_name("bytes")
        .unwrap()
        .as_primitive::<arrow::datatypes::UInt64Type>()
        .values()
        .to_vec();
    assert_eq!(bytes, [1, 3]);
}

/// A field whose length does not fit its element's column is read by its announced length
/// into `extra_fields`, never refusing the template or its records, and counted.
#[test]
fn fields_of_an_unexpected_length_are_kept_and_counted() {
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        exporter: Some("192.0.2.8".parse().unwrap()),
    };
    let mut decoder = FlowDecoder::default();
    // A 2-byte source address, a 4-byte MAC, a 4-byte port (reduced-size encoding's
    // opposite, legal: it fits when the value does), bytes.
    let fields = [(8, 2), (56, 4), (7, 4), (1, 4)];
    let mut data = vec![10, 1, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 80];
    data.extend(99u32.to_be_bytes());
    let packet = v9_packet(1, &[(0, template(256, &fields)), (256, data)]);
    let report = decoder.decode(&packet, &meta);
    assert_eq!((report.records, report.error), (1, None));
    assert_eq!(
        metrics_of(&decoder, "192.0.2.8", Some(1)).odd_length_fields,
        2
    );
    let batch = decoder.flush_table().unwrap().unwrap();
    let text = |name: &str| {
        let array = arrow::compute::cast(
            batch.column_by_name(name).unwrap(),
            &arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        use arrow::array::AsArray;
        array
            .as_string::<i32>()
            .iter()
            .next()
            .flatten()
            .map(str::to_owned)
    };
    assert_eq!(text("src_addr"), None);
    assert_eq!(text("src_port").as_deref(), Some("80"));
    assert_eq!(text("bytes").as_deref(), Some("99"));
    assert_eq!(
        text("extra_fields").as_deref(),
        Some(r#"{"sourceIPv4Address":"0a01","sourceMacAddress":"aabbccdd"}"#)
    );
    // The same template again is a refresh, not counted twice.
    decoder.decode(&packet, &meta);
    assert_eq!(
        metrics_of(&decoder, "192.0.2.8", Some(1)).odd_length_fields,
        2
    );
}

/// Interface, VRF and application names announced in options data name the flows carrying
/// those ids, through the plan and the row path alike, and come back from a saved file.
#[test]
fn names_announced_in_options_data_name_the_flows() {
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        exporter: Some("192.0.2.5".parse().unwrap()),
    };
    let padded = |text: &str, length: usize| {
        let mut bytes = text.as_bytes().to_vec();
        bytes.resize(length, 0);
        bytes
    };
    // Options templates (one scope field, one option field): ifIndex (v9's Interface scope,
    // type 2) → name and → description, VRF id → name, application id → name.
    let options = |id: u16, scope: (u16, u16), field: (u16, u16)| {
        let mut body = Vec::new();
        be16(&mut body, id);
        be16(&mut body, 4);
        be16(&mut body, 4);
        for (element, length) in [scope, field] {
            be16(&mut body, element);
            be16(&mut body, length);
        }
        body
    };
    let mut interfaces = Vec::new();
    for (index, name) in [(3u32, "GigabitEthernet0/0/1"), (7, "Tunnel100")] {
        be32(&mut interfaces, index);
        interfaces.extend(padded(name, 32));
    }
    let mut descriptions = Vec::new();
    be32(&mut descriptions, 3);
    descriptions.extend(padded("uplink to ISP A", 32));
    let mut vrfs = Vec::new();
    be32(&mut vrfs, 1);
    vrfs.extend(padded("blue", 32));
    let application = [13u8, 0, 0, 1, 0xc5];
    let mut applications = application.to_vec();
    applications.extend(padded("webex-meeting", 24));
    let announcements = v9_packet(
        1,
        &[
            (1, options(300, (2, 4), (82, 32))),
            (1, options(301, (234, 4), (236, 32))),
            (1, options(302, (95, 5), (96, 24))),
            (1, options(303, (2, 4), (83, 32))),
            (300, interfaces),
            (303, descriptions),
            (301, vrfs),
            (302, applications),
        ],
    );
    // Flows: input 3 (named), output 9 (not), ingress VRF 1, the named application.
    let flow_fields = [(10, 2), (14, 4), (234, 4), (95, 5), (1, 4)];
    let mut flows = Vec::new();
    for output in [9u32, 7] {
        be16(&mut flows, 3);
        be32(&mut flows, output);
        be32(&mut flows, 1);
        flows.extend(application);
        be32(&mut flows, 100);
    }
    let data = v9_packet(1, &[(0, template(256, &flow_fields)), (256, flows)]);

    let decode = |decoder: &mut FlowDecoder, packets: &[&Vec<u8>]| {
        for packet in packets {
            let report = decoder.decode(packet, &meta);
            assert_eq!(report.error, None, "{report:?}");
        }
        decoder.flush_table().unwrap().unwrap()
    };
    let text = |batch: &arrow::record_batch::RecordBatch, name: &str| -> Vec<Option<String>> {
        use arrow::array::AsArray;
        let array = arrow::compute::cast(
            batch.column_by_name(name).unwrap(),
            &arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect()
    };
    let mut fast = FlowDecoder::default();
    let mut slow = FlowDecoder {
        row_path_only: true,
        ..FlowDecoder::default()
    };
    let planned = decode(&mut fast, &[&announcements, &data]);
    let by_rows = decode(&mut slow, &[&announcements, &data]);
    assert_eq!(planned, by_rows);
    let some = |v: &str| Some(v.to_owned());
    assert_eq!(
        text(&planned, "input_interface_name"),
        [some("GigabitEthernet0/0/1"), some("GigabitEthernet0/0/1")]
    );
    assert_eq!(
        text(&planned, "output_interface_name"),
        [None, some("Tunnel100")]
    );
    assert_eq!(
        text(&planned, "input_interface_description"),
        [some("uplink to ISP A"), some("uplink to ISP A")]
    );
    assert_eq!(text(&planned, "output_interface_description"), [None, None]);
    assert_eq!(
        text(&planned, "ingress_vrf_name"),
        [some("blue"), some("blue")]
    );
    assert_eq!(text(&planned, "egress_vrf_name"), [None, None]);
    assert_eq!(text(&planned, "app_id"), [some("13:453"), some("13:453")]);
    assert_eq!(
        text(&planned, "app_name"),
        [some("webex-meeting"), some("webex-meeting")]
    );

    // A restarted collector names flows before the exporter announces again.
    let saved = fast.save_templates();
    let mut restarted = FlowDecoder::default();
    restarted.restore_templates(&saved).unwrap();
    let again = decode(&mut restarted, &[&data]);
    assert_eq!(
        text(&again, "output_interface_name"),
        [None, some("Tunnel100")]
    );
    assert_eq!(text(&again, "app_name"), text(&planned, "app_name"));
    // Another exporter's flows are not named by this one's announcements.
    let other = DatagramMeta {
        exporter: Some("192.0.2.6".parse().unwrap()),
        ..meta
    };
    fast.decode(&data, &other);
    let unnamed = fast.flush_table().unwrap().unwrap();
    assert_eq!(text(&unnamed, "input_interface_name"), [None, None]);
}
