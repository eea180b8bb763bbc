//! A Cisco IOS-XR router (2001:db8:90::1) exporting IPFIX over IPv6 to UDP port 9991, with
//! SRv6 and MPLS templates: flows over IPv4 and IPv6, templates that carry both IPv4 and IPv6
//! addresses (the unused family zero), templates that repeat elements for the inner header of
//! an SRv6 tunnel, `flowStart/EndSysUpTime` placed by `systemInitTimeMilliseconds` options
//! data, and a selector's sampling interval announced in options data. The capture also holds
//! the BGP session's TCP frames, which are not flow exports.
//!
//! netgauze's decode of the same capture (pmacct test 502, shipped with it) is the reference:
//! every data record of a flow template must be one of our rows, with the value netgauze gives
//! for every column both have, and every element our schema does not name kept in
//! `extra_fields` with netgauze's value.
//!
//! A record repeating an element (SRv6: outer, then inner header) gives the later value, except
//! that an unspecified address (0.0.0.0, ::) never replaces a specified one: the MPLS template
//! sends both families and zeroes the one the packet does not have.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::exports::{self, Flow, MAC_COLUMNS, ROUTING_COLUMNS};
use crate::{captures, decode, unhex};

const CAPTURE: &str = "cisco-iosxr-srv6-ipfix.pcap";
const REFERENCE: &str = "cisco-iosxr-srv6-ipfix-netgauze.jsonl";
const PORT: u16 = 9991;

fn columns() -> Vec<&'static str> {
    let others = ["direction", "extra_fields"];
    exports::flow_columns(&[&ROUTING_COLUMNS, &MAC_COLUMNS, &others])
}

/// Elements netgauze names that our schema has no column for, with their IANA numbers: each
/// must be in `extra_fields` under the same IANA name.
const EXTRA_ELEMENTS: &[(&str, u16)] = &[
    ("bgpNextHopIPv4Address", 18),
    ("flowLabelIPv6", 31),
    ("mplsTopLabelType", 46),
    ("mplsTopLabelIPv4Address", 47),
    ("minimumTTL", 52),
    ("maximumTTL", 53),
    ("bgpNextHopIPv6Address", 63),
    ("ipv6ExtensionHeaders", 64),
    ("mplsTopLabelStackSection", 70),
    ("mplsLabelStackSection2", 71),
    ("mplsLabelStackSection3", 72),
    ("mplsLabelStackSection4", 73),
    ("mplsLabelStackSection5", 74),
    ("mplsLabelStackSection6", 75),
    ("forwardingStatus", 89),
    ("mplsTopLabelPrefixLength", 91),
    ("mplsTopLabelIPv6Address", 140),
    ("octetDeltaSumOfSquares", 198),
    ("ingressVRFID", 234),
    ("egressVRFID", 235),
    ("dot1qVlanId", 243),
    ("dot1qPriority", 244),
    ("dot1qCustomerVlanId", 245),
    ("ethernetType", 256),
    ("selectorId", 302),
];

/// Elements with a column of their own, as (netgauze's name, column).
const NAMED: &[(&str, &str)] = &[
    ("packetDeltaCount", "packets"),
    ("octetDeltaCount", "bytes"),
    ("sourceIPv4Address", "src_addr"),
    ("sourceIPv6Address", "src_addr"),
    ("destinationIPv4Address", "dst_addr"),
    ("destinationIPv6Address", "dst_addr"),
    ("ingressInterface", "input_interface"),
    ("egressInterface", "output_interface"),
    ("sourceTransportPort", "src_port"),
    ("destinationTransportPort", "dst_port"),
    ("bgpSourceAsNumber", "src_as"),
    ("bgpDestinationAsNumber", "dst_as"),
    ("sourceIPv4PrefixLength", "src_prefix_len"),
    ("sourceIPv6PrefixLength", "src_prefix_len"),
    ("destinationIPv4PrefixLength", "dst_prefix_len"),
    ("destinationIPv6PrefixLength", "dst_prefix_len"),
    ("protocolIdentifier", "ip_protocol"),
    ("tcpControlBits", "tcp_flags"),
    ("ipClassOfService", "tos"),
    ("flowDirection", "direction"),
    ("sourceMacAddress", "src_mac"),
    ("destinationMacAddress", "dst_mac"),
    ("flowStartSysUpTime", "flow_start"),
    ("flowEndSysUpTime", "flow_end"),
];

/// One message of netgauze's decode.
fn messages() -> Vec<Value> {
    let path = captures::path(REFERENCE);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| serde_json::from_str(line).expect("netgauze wrote JSON lines"))
        .collect()
}

fn ipfix(message: &Value) -> &Map<String, Value> {
    message["info"]["IPFIX"]
        .as_object()
        .expect("an IPFIX message")
}

/// netgauze's value as our column shows it.
fn column_text(name: &str, value: &Value, system_init_ms: Option<i64>) -> String {
    match (name, value) {
        ("protocolIdentifier", Value::String(protocol)) => match protocol.as_str() {
            "ICMP" => "1",
            "IPv4" => "4",
            "TCP" => "6",
            "UDP" => "17",
            "IPv6" => "41",
            "IPv6ICMP" => "58",
            other => panic!("netgauze protocol {other:?}: add its number"),
        }
        .to_owned(),
        ("tcpControlBits", Value::Object(flags)) => {
            let bits = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
            let mut value = 0u16;
            for (name, set) in flags {
                let bit = bits
                    .iter()
                    .position(|b| b == name)
                    .unwrap_or_else(|| panic!("netgauze TCP flag {name:?}"));
                if set.as_bool().expect("flag is a bool") {
                    value |= 1 << bit;
                }
            }
            value.to_string()
        }
        ("flowDirection", Value::String(direction)) => match direction.as_str() {
            "ingress" => "0".to_owned(),
            "egress" => "1".to_owned(),
            other => panic!("netgauze direction {other:?}"),
        },
        ("sourceMacAddress" | "destinationMacAddress", Value::Array(octets)) => octets
            .iter()
            .map(|o| format!("{:02x}", o.as_u64().expect("octet")))
            .collect::<Vec<_>>()
            .join(":"),
        ("flowStartSysUpTime" | "flowEndSysUpTime", Value::Number(uptime)) => {
            let init = system_init_ms.expect("systemInitTimeMilliseconds came before the flows");
            (init + uptime.as_i64().expect("uptime")).to_string()
        }
        (_, Value::Number(number)) => number.to_string(),
        (_, Value::String(text)) => text.clone(),
        (name, other) => panic!("netgauze {name}: unexpected value {other}"),
    }
}

fn is_unspecified(address: &str) -> bool {
    address
        .parse::<IpAddr>()
        .is_ok_and(|address| address.is_unspecified())
}

/// netgauze's value of an element we keep in `extra_fields`, and ours as the table renders it
/// by the element's IANA type: numbers as numbers, addresses as text.
fn extra_matches(theirs: &Value, ours: &Value) -> bool {
    match (theirs, ours) {
        (Value::Number(theirs), Value::Number(ours)) => theirs.as_u64() == ours.as_u64(),
        (Value::String(theirs), Value::String(ours)) => {
            theirs.parse::<IpAddr>().is_ok() && theirs.parse::<IpAddr>().ok() == ours.parse().ok()
        }
        // Enumerations netgauze names (mplsTopLabelType) or splits into a status and a reason
        // (forwardingStatus) are unsigned numbers in IANA's registry, and so are ours.
        (Value::String(_) | Value::Object(_), Value::Number(ours)) => ours.is_u64(),
        // octetArray elements (MPLS label stack sections) stay hex.
        (Value::Array(octets), Value::String(hex)) => octets
            .iter()
            .map(|o| o.as_u64().and_then(|o| u8::try_from(o).ok()))
            .eq(unhex(hex).into_iter().map(Some)),
        _ => false,
    }
}

/// netgauze's flow records as our columns (`extra_fields` aside), each with the elements our
/// schema does not name, as (netgauze's name for it, its value) in template order.
type Expected = (Flow, Vec<(String, Value)>);

fn expected(messages: &[Value]) -> Vec<Expected> {
    let extra_numbers: HashMap<&str, u16> = EXTRA_ELEMENTS.iter().copied().collect();
    let columns: HashMap<&str, &str> = NAMED.iter().copied().collect();
    let mut options_templates = HashSet::new();
    let mut system_init = None;
    let mut sampling = HashMap::new();
    let mut flows = Vec::new();
    for message in messages {
        let exporter = message["source_address"]
            .as_str()
            .and_then(|a| a.strip_prefix('['))
            .and_then(|a| a.split_once(']'))
            .expect("[address]:port")
            .0
            .to_owned();
        let ipfix = ipfix(message);
        let sets = ipfix["sets"].as_array().expect("sets");
        for set in sets {
            if let Some(templates) = set.get("OptionsTemplate").and_then(Value::as_array) {
                for template in templates {
                    options_templates.insert(template["id"].as_u64().expect("id"));
                }
            }
            let Some(data) = set.get("Data") else {
                continue;
            };
            let id = data["id"].as_u64().expect("set id");
            for record in data["records"].as_array().expect("records") {
                let fields: Vec<(&String, &Value)> = record["fields"]
                    .as_array()
                    .expect("fields")
                    .iter()
                    .flat_map(|f| f.as_object().expect("one field").iter())
                    .collect();
                let scope: Vec<(&String, &Value)> = record["scope_fields"]
                    .as_array()
                    .expect("scope fields")
                    .iter()
                    .flat_map(|f| f.as_object().expect("one field").iter())
                    .collect();
                if options_templates.contains(&id) {
                    for (name, value) in &fields {
                        match name.as_str() {
                            "systemInitTimeMilliseconds" => {
                                let text = value.as_str().expect("a time");
                                system_init = Some(
                                    chrono::DateTime::parse_from_rfc3339(text)
                                        .expect("RFC 3339")
                                        .timestamp_millis(),
                                );
                            }
                            "samplingPacketInterval" => {
                                let (_, selector) = scope
                                    .iter()
                                    .find(|(n, _)| n.as_str() == "selectorId")
                                    .expect("a selector's interval");
                                sampling.insert(selector.to_string(), value.to_string());
                            }
                            _ => {}
                        }
                    }
                    continue;
                }
                let mut flow = Flow::new();
                flow.insert("exporter_address", exporter.clone());
                flow.insert("flow_protocol", "ipfix".to_owned());
                flow.insert("record_type", "flow".to_owned());
                flow.insert("sequence", ipfix["sequence_number"].to_string());
                flow.insert(
                    "observation_domain",
                    ipfix["observation_domain_id"].to_string(),
                );
                let mut extra = Vec::new();
                for (name, value) in &fields {
                    if let Some(column) = columns.get(name.as_str()) {
                        let text = column_text(name, value, system_init);
                        let keep_previous = matches!(*column, "src_addr" | "dst_addr")
                            && is_unspecified(&text)
                            && flow.get(column).is_some_and(|a| !is_unspecified(a));
                        if !keep_previous {
                            flow.insert(column, text);
                        }
                    } else if extra_numbers.contains_key(name.as_str()) {
                        extra.push(((*name).clone(), (*value).clone()));
                    } else {
                        panic!("netgauze element {name} is neither a column nor listed extra");
                    }
                    if name.as_str() == "selectorId"
                        && let Some(rate) = sampling.get(&value.to_string())
                    {
                        flow.insert("sampling_rate", rate.clone());
                    }
                }
                flows.push((flow, extra));
            }
        }
    }
    flows
}

#[test]
fn cisco_iosxr_srv6_ipfix_matches_netgauze() {
    let datagrams = captures::udp_datagrams(CAPTURE, PORT);
    let messages = messages();
    assert_eq!(
        datagrams.len(),
        messages.len(),
        "one netgauze message per export datagram (the BGP frames are not exports)"
    );
    let expected = expected(&messages);
    assert_eq!(expected.len(), 75, "flow records netgauze decoded");

    let mut decoder = bytefreezer_decode_flow::FlowDecoder::default();
    let (batches, totals) = decode(&mut decoder, &datagrams);
    assert_eq!(totals.errors, Vec::<String>::new());
    let templates: usize = messages
        .iter()
        .flat_map(|m| ipfix(m)["sets"].as_array().expect("sets"))
        .filter_map(|set| set.get("Template").or_else(|| set.get("OptionsTemplate")))
        .map(|templates| templates.as_array().expect("templates").len())
        .sum();
    assert_eq!((totals.held_sets, totals.templates), (0, templates));
    let mut ours = exports::flows(&crate::concat(&batches), &columns());
    assert_eq!(
        ours.len(),
        expected.len(),
        "our rows and netgauze's records"
    );

    // Elements our schema does not name: every one in `extra_fields`, with netgauze's value.
    let mut differences = Vec::new();
    for (index, (our, (_, extra))) in ours.iter_mut().zip(&expected).enumerate() {
        let text = our.remove("extra_fields").unwrap_or_default();
        let map: BTreeMap<String, Value> =
            serde_json::from_str(&text).expect("extra_fields is a JSON object");
        // A repeated element keeps its last value under the key (JSON objects have one). The
        // table names IANA elements as the registry does, and so does netgauze, and gives
        // their values in their registry type's form.
        let theirs: BTreeMap<String, &Value> = extra
            .iter()
            .map(|(name, value)| (name.clone(), value))
            .collect();
        let keys: Vec<&String> = map.keys().collect();
        assert_eq!(
            keys,
            theirs.keys().collect::<Vec<_>>(),
            "record {index}: extra_fields keys"
        );
        for (key, value) in theirs {
            let ours = &map[&key];
            if !extra_matches(value, ours) {
                differences.push(format!(
                    "record {index}: {key}: ours {ours}, netgauze {value}"
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    let theirs: Vec<Flow> = expected.into_iter().map(|(flow, _)| flow).collect();
    crate::assert_same_in_order(CAPTURE, "netgauze", &ours, &theirs);

    // What the comparison covers: both address families, and SRv6's inner IPv4 header.
    let families = |column: &str| -> HashSet<bool> {
        ours.iter()
            .filter_map(|f| f.get(column))
            .map(|a| a.contains(':'))
            .collect()
    };
    assert_eq!(families("src_addr"), HashSet::from([false, true]));
    assert!(ours.iter().all(|f| f.contains_key("flow_start")));
    assert!(
        ours.iter()
            .all(|f| f.get("sampling_rate").map(String::as_str) == Some("1"))
    );
}
