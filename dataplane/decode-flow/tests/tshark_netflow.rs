//! NetFlow v5, v9 and IPFIX exports of real exporters (softflowd, fprobe), decoded by us and by
//! Wireshark's `cflow` dissector (tshark), compared record by record and field by field.
//!
//! tshark is the reference for which fields a record carries: a field it does not show must be
//! null in our row. Times need placing: tshark shows `FIRST/LAST_SWITCHED` and
//! `flowStart/EndSysUpTime` as the exporter's uptime, so the expected wall times are computed
//! here from the header (and options data), as RFC 3954 and RFC 7011 define them.

#[path = "support/exports.rs"]
mod exports;
#[path = "support/pcap.rs"]
mod pcap;
#[path = "support/tools.rs"]
mod tools;
#[path = "support/tshark.rs"]
mod tshark;

use std::net::IpAddr;

use exports::{Flow, ICMP_COLUMNS, MAC_COLUMNS, ROUTING_COLUMNS};
use serde_json::{Map, Value};
use tshark::{date_to_ms, hex, leaf, required, seconds_to_ms};

const PORT: u16 = 2055;

/// Columns compared; every other column is ours alone (scaled counters, event time, ...).
fn columns() -> Vec<&'static str> {
    let others = ["next_hop", "src_vlan", "direction"];
    exports::flow_columns(&[&ROUTING_COLUMNS, &MAC_COLUMNS, &ICMP_COLUMNS, &others])
}

/// What a message header says that its records need.
struct Header {
    protocol: &'static str,
    export_ms: i64,
    uptime_ms: Option<i64>,
    sequence: String,
    domain: String,
    v5_sampling: Option<String>,
}

fn header(cflow: &Map<String, Value>) -> Header {
    let field = |name: &str| required(cflow, name);
    let version: u16 = field("cflow.version").parse().unwrap();
    let number = |name: &str| -> i64 { field(name).parse().unwrap() };
    let (export_ms, domain) = match version {
        5 => (
            number("cflow.unix_secs") * 1_000 + number("cflow.unix_nsecs") / 1_000_000,
            (number("cflow.engine_type") << 8 | number("cflow.engine_id")).to_string(),
        ),
        9 => (
            number("cflow.unix_secs") * 1_000,
            field("cflow.source_id").to_owned(),
        ),
        _ => (
            number("cflow.exporttime") * 1_000,
            field("cflow.od_id").to_owned(),
        ),
    };
    // v5: the top two bits of the sampling field are the mode, 0 meaning not sampled.
    let v5_sampling = (version == 5 && field("cflow.samplingmode") != "0")
        .then(|| field("cflow.samplerate").to_owned());
    Header {
        protocol: match version {
            5 => "netflow_v5",
            9 => "netflow_v9",
            _ => "ipfix",
        },
        export_ms,
        uptime_ms: (version != 10).then(|| seconds_to_ms(field("cflow.sysuptime"))),
        sequence: field("cflow.sequence").to_owned(),
        domain,
        v5_sampling,
    }
}

/// Options data that later records depend on.
#[derive(Default)]
struct Announced {
    sampling: Option<String>,
    system_init_ms: Option<i64>,
}

/// Wall time of an uptime stamp, in ms.
fn place(stamp: &str, header: &Header, announced: &Announced) -> String {
    let stamp = seconds_to_ms(stamp);
    let placed = match (header.uptime_ms, announced.system_init_ms) {
        // RFC 3954: the stamp is sysUptime in ms at the flow's packet; uptime counters are
        // 32 bits and wrap, so the age is taken modulo 2^32.
        (Some(uptime), _) => header.export_ms - (uptime - stamp).rem_euclid(1 << 32),
        // RFC 7011 flowStartSysUpTime: ms since systemInitTimeMilliseconds. softflowd reading
        // a capture older than its own start (our fixtures) exports those flows' offsets as
        // 32-bit negatives: an offset that would put a flow more than a day after the message
        // was exported is read as negative.
        (None, Some(init)) if init + stamp > header.export_ms + 86_400_000 => {
            init + stamp - (1 << 32)
        }
        (None, Some(init)) => init + stamp,
        (None, None) => panic!("IPFIX uptime stamp {stamp} without systemInitTimeMilliseconds"),
    };
    placed.to_string()
}

fn record(map: &Map<String, Value>, header: &Header, announced: &Announced) -> Flow {
    let mut flow = Flow::new();
    let mut put = |column: &'static str, value: Option<String>| {
        if let Some(value) = value {
            flow.insert(column, value);
        }
    };
    let text = |names: &[&str]| names.iter().find_map(|n| leaf(map, n)).map(str::to_owned);
    put("src_addr", text(&["cflow.srcaddr", "cflow.srcaddrv6"]));
    put("dst_addr", text(&["cflow.dstaddr", "cflow.dstaddrv6"]));
    put("next_hop", text(&["cflow.nexthop", "cflow.nexthopv6"]));
    put("src_port", text(&["cflow.srcport"]));
    put("dst_port", text(&["cflow.dstport"]));
    put("ip_protocol", text(&["cflow.protocol"]));
    put("tcp_flags", text(&["cflow.tcpflags"]).map(|t| hex(&t)));
    put("tos", text(&["cflow.tos"]).map(|t| hex(&t)));
    put("bytes", text(&["cflow.octets"]));
    put("packets", text(&["cflow.packets"]));
    put("input_interface", text(&["cflow.inputint"]));
    put("output_interface", text(&["cflow.outputint"]));
    put("src_as", text(&["cflow.srcas"]));
    put("dst_as", text(&["cflow.dstas"]));
    put(
        "src_prefix_len",
        text(&["cflow.srcmask", "cflow.srcmaskv6"]),
    );
    put(
        "dst_prefix_len",
        text(&["cflow.dstmask", "cflow.dstmaskv6"]),
    );
    put("src_vlan", text(&["cflow.vlanid"]));
    put("src_mac", text(&["cflow.srcmac"]));
    put("dst_mac", text(&["cflow.dstmac"]));
    put("direction", text(&["cflow.direction"]));
    if let Some(type_code) = text(&["cflow.icmp_type_code_ipv4"]) {
        let type_code: u16 = hex(&type_code).parse().unwrap();
        put("icmp_type", Some((type_code >> 8).to_string()));
        put("icmp_code", Some((type_code & 0xff).to_string()));
    }
    put("icmp_type", text(&["cflow.icmp_ipv6_type"]));
    put("icmp_code", text(&["cflow.icmp_ipv6_code"]));
    let start = text(&["cflow.timestart"]).map(|t| place(&t, header, announced));
    put("flow_start", start);
    put(
        "flow_end",
        text(&["cflow.timeend"]).map(|t| place(&t, header, announced)),
    );
    put("flow_protocol", Some(header.protocol.to_owned()));
    put("record_type", Some("flow".to_owned()));
    put("sequence", Some(header.sequence.clone()));
    put("observation_domain", Some(header.domain.clone()));
    put(
        "sampling_rate",
        announced.sampling.clone().or(header.v5_sampling.clone()),
    );
    put("exporter_address", Some(pcap::EXPORTER.to_string()));
    flow
}

fn tshark_flows(datagrams: &[Vec<u8>]) -> Vec<Flow> {
    // tshark reads exactly `count` records of a v9 message. softflowd counts only its data
    // records there (RFC 3954 says all records, templates included), so tshark would stop
    // after the templates. The copy tshark reads claims the largest count, which makes it
    // read every flowset to the end of the datagram, as collectors (and we) do.
    let patched: Vec<Vec<u8>> = datagrams
        .iter()
        .map(|datagram| {
            let mut copy = datagram.clone();
            if copy.starts_with(&[0, 9]) {
                copy[2..4].copy_from_slice(&u16::MAX.to_be_bytes());
            }
            copy
        })
        .collect();
    let mut announced = Announced::default();
    let mut flows = Vec::new();
    for layers in tshark::dissect(&patched, PORT, "cflow") {
        let cflow = layers["cflow"]
            .as_object()
            .unwrap_or_else(|| panic!("tshark did not dissect a datagram as cflow: {layers}"));
        let header = header(cflow);
        let options = tshark::objects_with(
            &layers["cflow"],
            &[
                "cflow.sys_init_time",
                "cflow.sampling_interval",
                "cflow.sampling_packet_interval",
            ],
        );
        for options in options {
            if let Some(init) = leaf(options, "cflow.sys_init_time") {
                announced.system_init_ms = Some(date_to_ms(init));
            }
            let interval = leaf(options, "cflow.sampling_interval")
                .or(leaf(options, "cflow.sampling_packet_interval"));
            if let Some(interval) = interval.filter(|i| *i != "0") {
                announced.sampling = Some(interval.to_owned());
            }
        }
        let records = tshark::objects_with(&layers["cflow"], &["cflow.srcaddr", "cflow.srcaddrv6"]);
        flows.extend(records.into_iter().map(|r| record(r, &header, &announced)));
    }
    flows
}

fn compare(file: &str) {
    let datagrams = exports::datagrams(file);
    let batch = exports::decode(file, &datagrams, IpAddr::V4(pcap::EXPORTER));
    let mut ours = exports::flows(&batch, &columns());
    if datagrams[0].starts_with(&[0, 5]) {
        // NetFlow v5 has no ICMP fields: exporters put type and code in the ports (Cisco:
        // type * 256 + code in the destination port; fprobe: type in the source port, code in
        // the destination port) and tshark shows the ports as they are. Our ICMP reading of
        // v5 is compared with nfdump's in nfdump.rs; here only the ports.
        for flow in &mut ours {
            flow.remove("icmp_type");
            flow.remove("icmp_code");
        }
    }
    exports::assert_same_flows(file, "tshark", ours, tshark_flows(&datagrams));
}

#[test]
fn softflowd_v5_matches_tshark() {
    compare("softflowd-v5.bin");
}

#[test]
fn softflowd_v9_matches_tshark() {
    compare("softflowd-v9.bin");
}

#[test]
fn softflowd_ipfix_matches_tshark() {
    compare("softflowd-ipfix.bin");
}

#[test]
fn softflowd_mixed_v5_matches_tshark() {
    compare("softflowd-mixed-v5.bin");
}

#[test]
fn softflowd_mixed_v9_matches_tshark() {
    compare("softflowd-mixed-v9.bin");
}

#[test]
fn softflowd_mixed_ipfix_matches_tshark() {
    compare("softflowd-mixed-ipfix.bin");
}

#[test]
fn fprobe_v5_matches_tshark() {
    compare("fprobe-v5.bin");
}
