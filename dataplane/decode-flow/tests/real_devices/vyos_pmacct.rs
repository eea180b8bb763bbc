//! A VyOS router's pmacct probes. `nfprobe` NetFlow v9: one packet with four templates, an
//! options template announcing sampler 1's interval, one options record and one flow record,
//! whose field 201 is pmacct's tag (an element our schema does not name). `sfprobe` sFlow v5:
//! three datagrams with 15 flow samples (raw header, extended switch data and pmacct's own
//! record 8800:2) and one generic counter sample. Both checked against tshark's dissection of
//! the same bytes written to a pcap, and against what node-netflowv9's tests assert.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::Totals;
use crate::captures::{self, Captured};
use crate::exports::{Flow, INTERFACE_COUNTER_COLUMNS, MAC_COLUMNS};
use crate::tshark::{self, required};

/// Export `name`, as sent to `port` by the exporter of the pcap `tshark::dissect` writes.
fn export(name: &str, port: u16) -> Captured {
    Captured::from_payload(
        captures::read(name),
        IpAddr::V4(crate::pcap::EXPORTER),
        port,
    )
}

/// Every column the pmacct exports fill, as compared with tshark.
fn columns() -> Vec<&'static str> {
    let others = ["direction", "src_vlan", "dst_vlan", "extra_fields"];
    crate::exports::flow_columns(&[&MAC_COLUMNS, &INTERFACE_COUNTER_COLUMNS, &others])
}

/// Our rows of `datagrams`, in order, and what decoding them did.
fn our_rows(datagrams: &[Captured]) -> (Vec<Flow>, Totals) {
    crate::rows_of(datagrams, &columns())
}

fn extra(flow: &mut Flow) -> Map<String, Value> {
    flow.remove("extra_fields")
        .map(|text| serde_json::from_str(&text).expect("extra_fields is a JSON object"))
        .unwrap_or_default()
}

#[test]
fn vyos_nfprobe_netflow_v9_matches_tshark() {
    let datagram = export("vyos-nfprobe-v9.bin", 2055);
    let (mut rows, totals) = our_rows(std::slice::from_ref(&datagram));
    assert_eq!(totals.errors, Vec::<String>::new());
    // node-netflowv9's test: templates 1024, 1025, 2048, 2049; one flow.
    assert_eq!((totals.templates, totals.records), (5, 1), "{totals:?}");
    assert_eq!(rows.len(), 1);

    let frames = tshark::dissect(&[datagram.payload], 2055, "cflow");
    let cflow = frames[0]["cflow"]
        .as_object()
        .expect("tshark dissects NetFlow v9");
    let mut templates: Vec<&str> =
        tshark::objects_with(&frames[0]["cflow"], &["cflow.template_id"])
            .into_iter()
            .map(|t| required(t, "cflow.template_id"))
            .collect();
    templates.sort();
    assert_eq!(templates, ["1024", "1025", "2048", "2049", "4096"]);
    let records = tshark::objects_with(&frames[0]["cflow"], &["cflow.srcaddr"]);
    assert_eq!(records.len(), 1, "one flow record");
    let record = records[0];
    let options = tshark::objects_with(&frames[0]["cflow"], &["cflow.sampler_random_interval"]);
    assert_eq!(options.len(), 1, "one options record");
    assert_eq!(
        required(options[0], "cflow.sampler_id"),
        required(record, "cflow.sampler_id"),
        "the flow names the sampler the options record announces"
    );

    // Uptime stamps placed by the header: export time less uptime, plus the stamp.
    let export_ms = 1_000
        * required(cflow, "cflow.unix_secs")
            .parse::<i64>()
            .expect("seconds");
    let boot_ms = export_ms - tshark::seconds_to_ms(required(cflow, "cflow.sysuptime"));
    let at = |name: &str| (boot_ms + tshark::seconds_to_ms(required(record, name))).to_string();
    let text = |name: &str| required(record, name).to_owned();
    let mut theirs = Flow::new();
    theirs.insert("exporter_address", crate::pcap::EXPORTER.to_string());
    theirs.insert("flow_protocol", "netflow_v9".into());
    theirs.insert("record_type", "flow".into());
    theirs.insert("sequence", required(cflow, "cflow.sequence").into());
    theirs.insert(
        "observation_domain",
        required(cflow, "cflow.source_id").into(),
    );
    theirs.insert(
        "sampling_rate",
        required(options[0], "cflow.sampler_random_interval").into(),
    );
    theirs.insert("flow_start", at("cflow.timestart"));
    theirs.insert("flow_end", at("cflow.timeend"));
    theirs.insert("src_addr", text("cflow.srcaddr"));
    theirs.insert("dst_addr", text("cflow.dstaddr"));
    theirs.insert("src_port", text("cflow.srcport"));
    theirs.insert("dst_port", text("cflow.dstport"));
    theirs.insert("ip_protocol", text("cflow.protocol"));
    theirs.insert("tcp_flags", tshark::hex(required(record, "cflow.tcpflags")));
    theirs.insert("tos", tshark::hex(required(record, "cflow.tos")));
    theirs.insert("bytes", text("cflow.octets"));
    theirs.insert("packets", text("cflow.packets"));
    theirs.insert("input_interface", text("cflow.inputint"));
    theirs.insert("output_interface", text("cflow.outputint"));
    theirs.insert("direction", text("cflow.direction"));
    theirs.insert("src_mac", text("cflow.srcmac"));
    theirs.insert("dst_mac", text("cflow.dstmac"));
    theirs.insert("src_vlan", text("cflow.vlanid"));

    let mut ours = rows.remove(0);
    let extra = extra(&mut ours);
    crate::assert_same_in_order("vyos-nfprobe-v9.bin", "tshark", &[ours.clone()], &[theirs]);
    // node-netflowv9's test asserts these three.
    assert_eq!(
        (
            ours["src_addr"].as_str(),
            ours["dst_addr"].as_str(),
            ours["packets"].as_str()
        ),
        ("10.100.0.84", "192.0.76.2", "1")
    );

    // What the schema does not name stays in extra_fields: pmacct's tag in field 201 (which
    // tshark calls by its IANA name, MPLS label stack length; above NetFlow v9's range 0-127
    // it keeps its number), FLOWS (3), IP version (60) and the sampler id (48), by IANA name.
    // Named elements' values take their IANA type's form (numbers here); the unnamed tag
    // stays hex.
    let number = |key: &str| {
        extra
            .get(key)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("extra_fields has no number {key}: {extra:?}"))
            .to_string()
    };
    let tag = extra["0:201"].as_str().expect("the tag as hex");
    assert_eq!(
        u64::from_str_radix(tag, 16).expect("hex").to_string(),
        required(record, "cflow.mpls_label_length")
    );
    assert_eq!(tag, "00000003", "pmacct's tag, all four bytes");
    assert_eq!(number("deltaFlowCount"), required(record, "cflow.flows"));
    assert_eq!(number("ipVersion"), required(record, "cflow.ip_version"));
    assert_eq!(number("samplerId"), required(record, "cflow.sampler_id"));
    assert_eq!(extra.len(), 4, "{extra:?}");
}

/// tshark's view of one sFlow sample, as our row.
fn sflow_sample(sample: &Map<String, Value>, sflow: &Map<String, Value>) -> Flow {
    let mut common = Flow::new();
    common.insert(
        "exporter_address",
        required(sflow, "sflow_245.agent").into(),
    );
    common.insert("flow_protocol", "sflow_v5".into());
    common.insert(
        "sequence",
        required(sflow, "sflow_245.sequence_number").into(),
    );
    if let Some(counters) = tshark::sflow_counter_sample(sample, &common) {
        return counters;
    }
    let mut flow = common;
    flow.insert("record_type", "flow".into());
    flow.insert("packets", "1".into());
    flow.insert(
        "observation_domain",
        required(sample, "sflow.flow_sample.index").into(),
    );
    let rate = required(sample, "sflow.flow_sample.sampling_rate");
    flow.insert("sampling_rate", rate.into());
    flow.insert(
        "input_interface",
        required(sample, "sflow.flow_sample.input_interface").into(),
    );
    flow.insert(
        "output_interface",
        required(sample, "sflow.flow_sample.output_interface_value").into(),
    );
    let switch = sample["Extended switch data"]
        .as_object()
        .expect("extended switch data");
    flow.insert("src_vlan", required(switch, "sflow_245.vlan.in").into());
    flow.insert("dst_vlan", required(switch, "sflow_245.vlan.out").into());
    let raw = sample["Raw packet header"]
        .as_object()
        .expect("a raw packet header");
    flow.insert(
        "bytes",
        required(raw, "sflow_245.header.frame_length").into(),
    );
    let header = raw["sflow_245.header_tree"].as_object().expect("dissected");
    let layer = |name: &str| header.get(name).and_then(Value::as_object);
    let eth = layer("eth").expect("Ethernet");
    flow.insert("src_mac", required(eth, "eth.src").into());
    flow.insert("dst_mac", required(eth, "eth.dst").into());
    let ip = layer("ip").expect("IPv4");
    flow.insert("src_addr", required(ip, "ip.src").into());
    flow.insert("dst_addr", required(ip, "ip.dst").into());
    flow.insert("ip_protocol", required(ip, "ip.proto").into());
    flow.insert("tos", tshark::hex(required(ip, "ip.dsfield")));
    let tcp = layer("tcp").expect("TCP");
    flow.insert("src_port", required(tcp, "tcp.srcport").into());
    flow.insert("dst_port", required(tcp, "tcp.dstport").into());
    flow.insert("tcp_flags", tshark::hex(required(tcp, "tcp.flags")));
    flow
}

#[test]
fn vyos_sfprobe_sflow_matches_tshark() {
    let datagrams: Vec<Captured> = (1..=3)
        .map(|n| export(&format!("vyos-sfprobe-{n}.bin"), 6343))
        .collect();
    let (mut ours, totals) = our_rows(&datagrams);
    assert_eq!(totals.errors, Vec::<String>::new());
    assert_eq!(totals.counter_samples, 1);
    assert_eq!(ours.len(), 16, "15 flow samples and one counters row");

    let payloads: Vec<Vec<u8>> = datagrams.into_iter().map(|d| d.payload).collect();
    let frames = tshark::dissect(&payloads, 6343, "sflow");
    let mut theirs = Vec::new();
    let mut enterprise_data = Vec::new();
    for frame in &frames {
        let sflow = frame["sflow"].as_object().expect("tshark dissects sFlow");
        for (name, sample) in sflow {
            let Some(sample) = sample
                .as_object()
                .filter(|_| name.starts_with("Flow sample") || name.starts_with("Counters"))
            else {
                continue;
            };
            theirs.push(sflow_sample(sample, sflow));
            if let Some(record) = sample
                .get("Unknown enterprise format")
                .and_then(Value::as_object)
            {
                enterprise_data.push(required(record, "sflow.enterprise.data").replace(':', ""));
            }
        }
    }
    assert_eq!(theirs.len(), 16, "samples tshark shows");
    assert_eq!(
        enterprise_data.len(),
        15,
        "every flow sample has pmacct's record"
    );

    // pmacct's record 8800:2 (its word is 0x02260002: enterprise 8800 in the top 20 bits,
    // format 2; tshark's text view says "Non-standard sFlow (8800)") keeps its enterprise, and
    // holds tshark's bytes.
    let mut kept = Vec::new();
    for flow in &mut ours {
        let extra = extra(flow);
        if flow["record_type"] == "flow" {
            assert_eq!(extra.len(), 1, "{extra:?}");
            kept.push(extra["8800:2"].as_str().expect("hex").to_owned());
        } else {
            assert!(extra.is_empty(), "only generic counters: {extra:?}");
        }
    }
    assert_eq!(kept, enterprise_data);
    // Ours are in sample order; the counter sample is the first of the third datagram.
    crate::assert_same_in_order("vyos-sfprobe", "tshark", &ours, &theirs);
    assert_eq!(ours[0]["sampling_rate"], "500");
    assert_eq!(ours[8]["if_speed"], "100000000");
}
