//! sFlow v5 datagrams (`tests/data/sflow-v5.bin`, built by `build_sflow.py` per the sFlow v5
//! specification, with frames from scapy) decoded by us and by Wireshark's `sflow` dissector
//! (tshark), which also dissects each sampled header as Ethernet, 802.1Q/802.1ad, IPv4/IPv6,
//! TCP/UDP/ICMP. Compared sample by sample and field by field.

#[path = "support/exports.rs"]
mod exports;
#[path = "support/pcap.rs"]
mod pcap;
#[path = "support/tools.rs"]
mod tools;
#[path = "support/tshark.rs"]
mod tshark;

use std::net::IpAddr;

use exports::{Flow, ICMP_COLUMNS, INTERFACE_COUNTER_COLUMNS, MAC_COLUMNS, ROUTING_COLUMNS};
use serde_json::{Map, Value};
use tshark::{hex, leaf, number, required};

const FIXTURE: &str = "sflow-v5.bin";

fn columns() -> Vec<&'static str> {
    let scaled = ["bytes_scaled", "packets_scaled"];
    let others = ["next_hop", "src_vlan", "dst_vlan"];
    exports::flow_columns(&[
        &ROUTING_COLUMNS,
        &MAC_COLUMNS,
        &ICMP_COLUMNS,
        &INTERFACE_COUNTER_COLUMNS,
        &scaled,
        &others,
    ])
}

/// The direct child layer `name` of a dissected header (not one quoted inside ICMP).
fn layer<'a>(header: &'a Map<String, Value>, name: &str) -> Option<&'a Map<String, Value>> {
    header.get(name).and_then(Value::as_object)
}

/// What tshark's dissection of the sampled frame says about the flow.
fn sampled_header(header: &Map<String, Value>, flow: &mut Flow) {
    let eth = layer(header, "eth").expect("an Ethernet header");
    flow.insert("src_mac", required(eth, "eth.src").to_owned());
    flow.insert("dst_mac", required(eth, "eth.dst").to_owned());
    // With several tags, `src_vlan` is the innermost (the customer's) one: 802.1Q after 802.1ad.
    let innermost = match header.get("vlan") {
        Some(Value::Array(tags)) => tags.last().and_then(Value::as_object),
        Some(Value::Object(tag)) => Some(tag),
        _ => None,
    };
    if let Some(tag) = innermost.or(layer(header, "ieee8021ad")) {
        let id = leaf(tag, "vlan.id").or(leaf(tag, "ieee8021ad.id")).unwrap();
        flow.insert("src_vlan", id.to_owned());
    }
    if let Some(ip) = layer(header, "ip") {
        flow.insert("src_addr", required(ip, "ip.src").to_owned());
        flow.insert("dst_addr", required(ip, "ip.dst").to_owned());
        flow.insert("ip_protocol", required(ip, "ip.proto").to_owned());
        flow.insert("tos", hex(required(ip, "ip.dsfield")));
    }
    if let Some(ip) = layer(header, "ipv6") {
        flow.insert("src_addr", required(ip, "ipv6.src").to_owned());
        flow.insert("dst_addr", required(ip, "ipv6.dst").to_owned());
        flow.insert("ip_protocol", required(ip, "ipv6.nxt").to_owned());
        flow.insert("tos", hex(required(ip, "ipv6.tclass")));
    }
    if let Some(tcp) = layer(header, "tcp") {
        flow.insert("src_port", required(tcp, "tcp.srcport").to_owned());
        flow.insert("dst_port", required(tcp, "tcp.dstport").to_owned());
        flow.insert("tcp_flags", hex(required(tcp, "tcp.flags")));
    }
    if let Some(udp) = layer(header, "udp") {
        flow.insert("src_port", required(udp, "udp.srcport").to_owned());
        flow.insert("dst_port", required(udp, "udp.dstport").to_owned());
    }
    if let Some(icmp) = layer(header, "icmp").or(layer(header, "icmpv6")) {
        let prefix = if header.contains_key("icmp") {
            "icmp"
        } else {
            "icmpv6"
        };
        flow.insert(
            "icmp_type",
            required(icmp, &format!("{prefix}.type")).to_owned(),
        );
        flow.insert(
            "icmp_code",
            required(icmp, &format!("{prefix}.code")).to_owned(),
        );
    }
}

fn flow_sample(sample: &Map<String, Value>, common: &Flow) -> Flow {
    let mut flow = common.clone();
    flow.insert("record_type", "flow".into());
    let index = leaf(sample, "sflow.flow_sample.source_id_index")
        .or(leaf(sample, "sflow.flow_sample.index"))
        .expect("a source index");
    flow.insert("observation_domain", index.to_owned());
    // Compact samples show the input ifIndex as a plain value, expanded ones as format/value.
    let input = leaf(sample, "sflow.flow_sample.input_interface_value")
        .or(leaf(sample, "sflow.flow_sample.input_interface"))
        .expect("an input interface");
    flow.insert("input_interface", input.to_owned());
    let output = required(sample, "sflow.flow_sample.output_interface_value");
    flow.insert("output_interface", output.to_owned());
    let rate = number(sample, "sflow.flow_sample.sampling_rate");
    let frame_length = number(sample, "sflow_245.header.frame_length");
    // One row per sampled packet: the frame as the agent saw it, scaled by the sampling rate.
    flow.insert("sampling_rate", rate.to_string());
    flow.insert("bytes", frame_length.to_string());
    flow.insert("packets", "1".into());
    flow.insert("bytes_scaled", (frame_length * rate).to_string());
    flow.insert("packets_scaled", rate.to_string());
    let header = sample
        .get("Raw packet header")
        .and_then(|record| record.get("sflow_245.header_tree"))
        .and_then(Value::as_object)
        .expect("a dissected raw packet header");
    sampled_header(header, &mut flow);
    if let Some(switch) = sample
        .get("Extended switch data")
        .and_then(Value::as_object)
    {
        flow.insert("src_vlan", required(switch, "sflow_245.vlan.in").to_owned());
        flow.insert(
            "dst_vlan",
            required(switch, "sflow_245.vlan.out").to_owned(),
        );
    }
    if let Some(router) = sample
        .get("Extended router data")
        .and_then(Value::as_object)
    {
        let next_hop = leaf(router, "sflow_245.nexthop").or(leaf(router, "sflow_245.nexthop.v6"));
        flow.insert("next_hop", next_hop.expect("a next hop").to_owned());
        let masks = [
            ("src_prefix_len", "sflow_245.nexthop.src_mask"),
            ("dst_prefix_len", "sflow_245.nexthop.dst_mask"),
        ];
        for (column, name) in masks {
            flow.insert(column, required(router, name).to_owned());
        }
    }
    let gateway_record = sample.get("Extended gateway data");
    if let Some(gateway) = gateway_record.and_then(Value::as_object) {
        // The gateway's next hop is the BGP next hop; the router record's wins when both come.
        if !flow.contains_key("next_hop") {
            flow.insert(
                "next_hop",
                required(gateway, "sflow_245.nexthop").to_owned(),
            );
        }
        flow.insert("src_as", required(gateway, "sflow_245.srcAS").to_owned());
        // The destination AS is the last AS of the path.
        let path = tshark::objects_with(gateway_record.unwrap(), &["sflow_245.dstAS"]);
        let last = path
            .last()
            .and_then(|segment| match &segment["sflow_245.dstAS"] {
                Value::Array(ases) => ases.last().and_then(Value::as_str).map(str::to_owned),
                Value::String(asn) => Some(asn.clone()),
                _ => None,
            })
            .expect("an AS path");
        flow.insert("dst_as", last);
    }
    flow
}

fn tshark_rows(datagrams: &[Vec<u8>]) -> Vec<Flow> {
    let mut rows = Vec::new();
    for layers in tshark::dissect(datagrams, 6343, "sflow") {
        let sflow = layers["sflow"]
            .as_object()
            .unwrap_or_else(|| panic!("tshark did not dissect a datagram as sFlow: {layers}"));
        let mut common = Flow::new();
        let agent = leaf(sflow, "sflow_245.agent").or(leaf(sflow, "sflow_245.agent.v6"));
        common.insert("exporter_address", agent.expect("an agent").to_owned());
        common.insert("flow_protocol", "sflow_v5".into());
        let sequence = required(sflow, "sflow_245.sequence_number");
        common.insert("sequence", sequence.to_owned());
        for sample in sflow.values().filter_map(Value::as_object) {
            match required(sample, "sflow_245.sampletype") {
                "1" | "3" => rows.push(flow_sample(sample, &common)),
                "2" | "4" => rows.extend(tshark::sflow_counter_sample(sample, &common)),
                other => panic!("the fixture has no sample type {other}"),
            }
        }
    }
    rows
}

#[test]
fn sflow_samples_match_tshark() {
    let datagrams = exports::datagrams(FIXTURE);
    // The pcap's sender is not the agent: sFlow rows name the agent from the datagram.
    let batch = exports::decode(FIXTURE, &datagrams, IpAddr::V4(pcap::EXPORTER));
    let ours = exports::flows(&batch, &columns());
    let theirs = tshark_rows(&datagrams);
    assert_eq!(theirs.len(), 7, "tshark: 5 flow samples, 2 counter samples");
    exports::assert_same_flows(FIXTURE, "tshark", ours, theirs);
}
