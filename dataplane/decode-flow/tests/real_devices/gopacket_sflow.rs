//! sFlow v5 from gopacket's tests: `SFlowTestPacket1`, collected from a hardware switch on a
//! live network (agent 10.1.248.22: six flow samples with raw headers and extended switch
//! data, one counter sample with generic and Ethernet interface counters), and
//! `SFlowEthernetFramePacket` (seven flow samples of sampled Ethernet frame records). The
//! expected values are those gopacket's own `sflow_test.go` asserts.

use crate::Totals;
use crate::captures::{self, Captured};
use crate::exports::Flow;

const COLUMNS: &[&str] = &[
    "exporter_address",
    "record_type",
    "sequence",
    "observation_domain",
    "sampling_rate",
    "input_interface",
    "output_interface",
    "bytes",
    "src_mac",
    "dst_mac",
];

/// gopacket's datagram `name`, as if 192.0.2.1 sent it to sFlow's port.
fn export(name: &str) -> Captured {
    let exporter = "192.0.2.1".parse().expect("address");
    Captured::from_payload(captures::read(name), exporter, 6343)
}

/// `columns` of our rows of one datagram, and what decoding it did.
fn our_rows(datagram: &Captured, columns: &[&'static str]) -> (Vec<Flow>, Totals) {
    crate::rows_of(std::slice::from_ref(datagram), columns)
}

#[test]
fn hardware_switch_sflow_matches_gopacket() {
    let (rows, totals) = our_rows(&export("gopacket-sflow-switch.bin"), COLUMNS);
    assert_eq!(totals.errors, Vec::<String>::new());
    assert_eq!(totals.counter_samples, 1);
    let flows: Vec<&Flow> = rows.iter().filter(|r| r["record_type"] == "flow").collect();
    assert_eq!(flows.len(), 6, "flow samples");
    assert_eq!(rows.len(), 7, "six flows and one counters row");
    for row in &rows {
        assert_eq!(
            row["exporter_address"], "10.1.248.22",
            "the agent names the exporter"
        );
        assert_eq!(row["sequence"], "40443");
    }
    let first = flows[0];
    assert_eq!(first["observation_domain"], "531");
    assert_eq!(first["sampling_rate"], "16000");
    assert_eq!(first["input_interface"], "531");
    assert_eq!(first["output_interface"], "0");
    assert_eq!(first["bytes"], "1490");
}

#[test]
fn sampled_ethernet_records_give_macs() {
    let (rows, totals) = our_rows(&export("gopacket-sflow-ethernet.bin"), COLUMNS);
    assert_eq!(totals.errors, Vec::<String>::new());
    assert_eq!(rows.len(), 7, "flow samples");
    for row in &rows {
        assert!(
            row.contains_key("src_mac") && row.contains_key("dst_mac"),
            "{row:?}"
        );
    }
}

/// The switch's counter sample carries generic and Ethernet interface counters (record 2, the
/// dot3 MIB): the Ethernet ones are kept in the counters row's `extra_fields` as numbers under
/// their MIB names, which are also tshark's field names, with tshark's values.
#[test]
fn hardware_switch_ethernet_counters_match_tshark() {
    let datagram = export("gopacket-sflow-switch.bin");
    let (rows, totals) = our_rows(
        &datagram,
        &["record_type", "input_interface", "extra_fields"],
    );
    assert_eq!(totals.errors, Vec::<String>::new());
    let counters: Vec<&Flow> = rows
        .iter()
        .filter(|r| r["record_type"] == "counters")
        .collect();
    assert_eq!(counters.len(), 1);
    let extra: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        counters[0]
            .get("extra_fields")
            .expect("Ethernet counters kept"),
    )
    .expect("extra_fields is a JSON object");

    let frames = crate::tshark::dissect(&[datagram.payload], 6343, "sflow");
    let ethernet = crate::tshark::objects_with(&frames[0], &["sflow_245.dot3StatsFCSErrors"]);
    assert_eq!(ethernet.len(), 1, "one Ethernet counters record");
    let theirs: serde_json::Map<String, serde_json::Value> = ethernet[0]
        .iter()
        .filter_map(|(name, value)| {
            let name = name.strip_prefix("sflow_245.dot3")?;
            let value: u64 = value.as_str()?.parse().ok()?;
            Some((format!("dot3{name}"), value.into()))
        })
        .collect();
    assert_eq!(theirs.len(), 13, "tshark shows the 13 dot3 counters");
    assert_eq!(extra, theirs);
    let generic = crate::tshark::objects_with(&frames[0], &["sflow_245.ifindex"]);
    assert_eq!(
        counters[0]["input_interface"],
        crate::tshark::leaf(generic[0], "sflow_245.ifindex").expect("ifindex")
    );
}
