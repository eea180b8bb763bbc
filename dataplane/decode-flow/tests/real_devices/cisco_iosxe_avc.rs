//! Two Cisco IOS-XE ISR4000 routers (10.101.255.1 and .2) exporting IPFIX with AVC/NBAR2:
//! Cisco enterprise (PEN 9) elements, variable-length HTTP host and URI fields, options with
//! interface, VRF, sampler and NBAR application tables, six observation domains, and template
//! ids 264/265 used by different layouts in different domains. The routers' templates arrive
//! only after minutes of data, so many data sets come before their template.
//!
//! tshark dissects the same capture; a decoder that holds nothing must give exactly tshark's
//! flow records (options data is not a flow), field by field where our schema names the field,
//! and the Cisco elements kept in `extra_fields` must hold tshark's values. The data sets tshark
//! finds no template for must be the ones we hold, per exporter and domain.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::exports::{self, EXPORT_COLUMNS, Flow, TRAFFIC_COLUMNS};
use crate::{captures, decode, decoder_without_holding, tshark, unhex};

const CAPTURE: &str = "cisco-iosxe-avc-ipfix.pcap";
const PORT: u16 = 2055;

fn columns() -> Vec<&'static str> {
    [
        &EXPORT_COLUMNS[..],
        &TRAFFIC_COLUMNS,
        &["src_vlan", "direction"],
    ]
    .concat()
}

/// Cisco (PEN 9) elements kept in `extra_fields`, as (key, what tshark calls the value).
const CISCO_CLIENT_ADDRESS: &str = "9:12236";
const CISCO_SERVER_ADDRESS: &str = "9:12237";
const CISCO_SERVER_PORT: &str = "9:12241";
/// Variable length: a 4-byte application id, a 2-byte sub-application id, then the host name.
const CISCO_HTTP_HOST: &str = "9:12235";

/// tshark's view of the capture.
struct Dissection {
    flows: Vec<Flow>,
    /// Data sets with no template yet, per (exporter, observation domain).
    without_template: BTreeMap<(String, String), u64>,
    /// Names the options data announced, per (exporter, what is named, its id): when first
    /// announced, and every name announced for it.
    names: BTreeMap<(String, &'static str, String), (i64, Vec<String>)>,
}

/// The (what is named, id, name) an options record of tshark's announces: an interface's
/// name and description, or an application's name.
fn announced(record: &Map<String, Value>) -> Vec<(&'static str, String, String)> {
    let text = |name: &str| tshark::leaf(record, name).map(str::to_owned);
    if let Some(index) = text("cflow.inputint") {
        let name = text("cflow.if_name").map(|name| ("interface", index.clone(), name));
        let description = text("cflow.if_descr").map(|text| ("description", index, text));
        return name.into_iter().chain(description).collect();
    }
    if let (Some(engine), Some(selector), Some(name)) = (
        text("cflow.appl_id.classification_engine_id"),
        text("cflow.appl_id.selector_id"),
        text("cflow.appl_name"),
    ) {
        let selector = u64::from_str_radix(&selector.replace(':', ""), 16).expect("hex");
        return vec![("application", format!("{engine}:{selector}"), name)];
    }
    Vec::new()
}

fn dissect(datagrams: &[captures::Captured]) -> Dissection {
    let frames = tshark::dissect_file(&captures::path(CAPTURE), PORT, "cflow");
    assert_eq!(
        frames.len(),
        datagrams.len(),
        "every frame is an export datagram"
    );
    let mut options_templates = std::collections::HashSet::new();
    let mut flows = Vec::new();
    let mut without_template = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (layers, datagram) in frames.iter().zip(datagrams) {
        let cflow = layers["cflow"].as_object().expect("tshark dissects IPFIX");
        let exporter = datagram.exporter.to_string();
        let field = |name: &str| tshark::leaf(cflow, name).expect(name).to_owned();
        let (domain, sequence) = (field("cflow.od_id"), field("cflow.sequence"));
        for (name, set) in cflow {
            let Some(set) = set.as_object().filter(|_| name.starts_with("Set ")) else {
                continue;
            };
            let set_id = tshark::leaf(set, "cflow.flowset_id").expect("set id");
            if set_id == "3" {
                for template in
                    tshark::objects_with(&Value::Object(set.clone()), &["cflow.template_id"])
                {
                    let id = tshark::leaf(template, "cflow.template_id").expect("id");
                    options_templates.insert((exporter.clone(), domain.clone(), id.to_owned()));
                }
            }
            if set.keys().any(|key| key.ends_with("no template found")) {
                *without_template
                    .entry((exporter.clone(), domain.clone()))
                    .or_default() += 1;
            }
            let key = (exporter.clone(), domain.clone(), set_id.to_owned());
            if options_templates.contains(&key) {
                for (record_name, record) in set {
                    let Some(record) = record.as_object() else {
                        continue;
                    };
                    let announced_here = match record_name.starts_with("Flow ") {
                        true => announced(record),
                        false => Vec::new(),
                    };
                    for (kind, id, name) in announced_here {
                        let (_, announced): &mut (i64, Vec<String>) = names
                            .entry((exporter.clone(), kind, id))
                            .or_insert((datagram.receive_time_micros, Vec::new()));
                        if !announced.contains(&name) {
                            announced.push(name);
                        }
                    }
                }
            }
            if set_id.parse::<u16>().is_ok_and(|id| id >= 256) && !options_templates.contains(&key)
            {
                for (record_name, record) in set {
                    if let (true, Some(record)) =
                        (record_name.starts_with("Flow "), record.as_object())
                    {
                        flows.push(flow(record, &exporter, &domain, &sequence));
                    }
                }
            }
        }
    }
    Dissection {
        flows,
        without_template,
        names,
    }
}

fn flow(record: &Map<String, Value>, exporter: &str, domain: &str, sequence: &str) -> Flow {
    let mut flow = Flow::new();
    let text = |name: &str| tshark::leaf(record, name).map(str::to_owned);
    let mut put = |column: &'static str, value: Option<String>| {
        if let Some(value) = value {
            flow.insert(column, value);
        }
    };
    put("exporter_address", Some(exporter.to_owned()));
    put("flow_protocol", Some("ipfix".to_owned()));
    put("record_type", Some("flow".to_owned()));
    put("sequence", Some(sequence.to_owned()));
    put("observation_domain", Some(domain.to_owned()));
    put("src_addr", text("cflow.srcaddr"));
    put("dst_addr", text("cflow.dstaddr"));
    put("src_port", text("cflow.srcport"));
    put("dst_port", text("cflow.dstport"));
    put("ip_protocol", text("cflow.protocol"));
    put("tcp_flags", text("cflow.tcpflags").map(|t| tshark::hex(&t)));
    put("tos", text("cflow.tos").map(|t| tshark::hex(&t)));
    put("bytes", text("cflow.octets"));
    put("packets", text("cflow.packets"));
    put("input_interface", text("cflow.inputint"));
    put("output_interface", text("cflow.outputint"));
    put("src_vlan", text("cflow.vlanid"));
    put("direction", text("cflow.direction"));
    put(
        CISCO_CLIENT_ADDRESS,
        text("cflow.pie.cisco.connection_client_ipv4_address"),
    );
    put(
        CISCO_SERVER_ADDRESS,
        text("cflow.pie.cisco.connection_server_ipv4_address"),
    );
    put(
        CISCO_SERVER_PORT,
        text("cflow.pie.cisco.connection_server_transport_port"),
    );
    put(
        CISCO_HTTP_HOST,
        text("cflow.pie.cisco.application_http_host"),
    );
    flow
}

/// Our rows, with the Cisco elements of `extra_fields` read as tshark shows them.
fn ours(batches: &[arrow::array::RecordBatch]) -> Vec<Flow> {
    let batch = crate::concat(batches);
    let mut columns = columns();
    columns.push("extra_fields");
    let mut flows = exports::flows(&batch, &columns);
    for flow in &mut flows {
        let extra: Map<String, Value> = flow
            .remove("extra_fields")
            .map(|text| serde_json::from_str(&text).expect("extra_fields is a JSON object"))
            .unwrap_or_default();
        let bytes = |key: &str| extra.get(key).and_then(Value::as_str).map(unhex);
        if let Some(b) = bytes(CISCO_CLIENT_ADDRESS) {
            flow.insert(CISCO_CLIENT_ADDRESS, ipv4(&b));
        }
        if let Some(b) = bytes(CISCO_SERVER_ADDRESS) {
            flow.insert(CISCO_SERVER_ADDRESS, ipv4(&b));
        }
        if let Some(b) = bytes(CISCO_SERVER_PORT) {
            flow.insert(
                CISCO_SERVER_PORT,
                u16::from_be_bytes([b[0], b[1]]).to_string(),
            );
        }
        if let Some(b) = bytes(CISCO_HTTP_HOST) {
            let host = b.get(6..).expect("application ids before the host");
            flow.insert(CISCO_HTTP_HOST, String::from_utf8_lossy(host).into_owned());
        }
    }
    flows
}

/// Interface names and descriptions and application names from the routers' options data
/// (their tables come in observation domain 6, their flows in others): a row received after
/// its router announced the name of its interface or application has that name, and one
/// received before has none.
fn assert_named_as_announced(
    batches: &[arrow::array::RecordBatch],
    names: &BTreeMap<(String, &'static str, String), (i64, Vec<String>)>,
) {
    let batch = crate::concat(batches);
    let rows = exports::flows(
        &batch,
        &[
            "exporter_address",
            "input_interface",
            "input_interface_name",
            "output_interface",
            "output_interface_name",
            "input_interface_description",
            "output_interface_description",
            "app_id",
            "app_name",
        ],
    );
    let times = batch
        .column_by_name("receive_time")
        .expect("receive_time")
        .as_any()
        .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
        .expect("timestamps")
        .values()
        .to_vec();
    assert!(
        names.values().all(|(_, announced)| announced.len() == 1),
        "one name per id in this capture"
    );
    let mut named = 0;
    let mut per_column: BTreeMap<&str, usize> = BTreeMap::new();
    for (row, time) in rows.iter().zip(times) {
        for (kind, id_column, name_column) in [
            ("interface", "input_interface", "input_interface_name"),
            ("interface", "output_interface", "output_interface_name"),
            (
                "description",
                "input_interface",
                "input_interface_description",
            ),
            (
                "description",
                "output_interface",
                "output_interface_description",
            ),
            ("application", "app_id", "app_name"),
        ] {
            let Some(id) = row.get(id_column) else {
                continue;
            };
            let key = (row["exporter_address"].clone(), kind, id.clone());
            let expected = match names.get(&key) {
                Some((first, announced)) if time > *first => Some(&announced[0]),
                Some((first, _)) if time == *first => continue,
                _ => None,
            };
            assert_eq!(row.get(name_column), expected, "{name_column} of {row:?}");
            named += usize::from(expected.is_some());
            *per_column.entry(name_column).or_default() += usize::from(expected.is_some());
        }
    }
    assert!(named > 100_000, "only {named} names applied");
    assert!(
        per_column.len() == 5 && per_column.values().all(|applied| *applied > 1_000),
        "names applied per column: {per_column:?}"
    );
}

fn ipv4(bytes: &[u8]) -> String {
    let octets: [u8; 4] = bytes.try_into().expect("an IPv4 address");
    std::net::Ipv4Addr::from(octets).to_string()
}

#[test]
fn cisco_iosxe_avc_ipfix_matches_tshark() {
    let datagrams = captures::udp_datagrams(CAPTURE, PORT);
    assert_eq!(datagrams.len(), 6_666, "datagrams from both routers");
    let tshark = dissect(&datagrams);

    let mut decoder = decoder_without_holding();
    let (batches, totals) = decode(&mut decoder, &datagrams);
    assert_eq!(totals.errors, Vec::<String>::new());
    assert_eq!(totals.released_records, 0);
    assert_named_as_announced(&batches, &tshark.names);
    let ours = ours(&batches);
    assert_eq!(ours.len(), 52_894, "flow records tshark and we decode");
    // Most AVC records name their ends only through Cisco's connection client/server
    // addresses (enterprise elements), kept in `extra_fields`; the comparison below checks them.
    let cisco_addressed = ours
        .iter()
        .filter(|f| f.contains_key(CISCO_CLIENT_ADDRESS))
        .count();
    assert!(
        cisco_addressed > 40_000,
        "{cisco_addressed} rows with Cisco client addresses"
    );
    let hosts = ours
        .iter()
        .filter(|f| f.contains_key(CISCO_HTTP_HOST))
        .count();
    assert_eq!(hosts, 38, "records with a variable-length HTTP host");
    let per_domain = |flows: &[Flow]| {
        let mut counts = BTreeMap::<(String, String), usize>::new();
        for f in flows {
            *counts
                .entry((
                    f["exporter_address"].clone(),
                    f["observation_domain"].clone(),
                ))
                .or_default() += 1;
        }
        counts
    };
    assert_eq!(
        per_domain(&ours),
        per_domain(&tshark.flows),
        "flow records per exporter and domain"
    );
    // Compared as sorted lists: each record carries its message's sequence number, so equal
    // lists mean the same records in the same messages.
    let (mut ours, mut theirs) = (ours, tshark.flows);
    ours.sort();
    theirs.sort();
    crate::assert_same_in_order(CAPTURE, "tshark", &ours, &theirs);

    // The same capture holding what comes before its template: the same sets tshark found no
    // template for are held, per exporter and domain; those whose template comes within the
    // hold time are decoded then, the rest dropped and counted.
    let mut decoder = bytefreezer_decode_flow::FlowDecoder::default();
    let (batches, totals) = decode(&mut decoder, &datagrams);
    assert_eq!(totals.errors, Vec::<String>::new());
    let held: BTreeMap<(String, String), u64> = decoder
        .exporter_metrics()
        .filter(|(_, metrics)| metrics.sets_held > 0)
        .map(|(scope, metrics)| {
            let exporter = scope.exporter.expect("sender").to_string();
            let domain = scope.domain.expect("domain").to_string();
            ((exporter, domain), metrics.sets_held)
        })
        .collect();
    assert_eq!(held, tshark.without_template);
    let (released, dropped): (u64, u64) =
        decoder.exporter_metrics().fold((0, 0), |(r, d), (_, m)| {
            (r + m.sets_released, d + m.sets_dropped)
        });
    assert_eq!(totals.held_sets, 940);
    assert_eq!(
        (released, dropped),
        (650, 281),
        "released and dropped data sets"
    );
    assert_eq!(totals.dropped_held_sets, 281);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 52_894 + totals.released_records);
    assert_eq!(totals.released_records, 6_679);
}
