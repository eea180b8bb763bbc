//! sFlow v5 from gopacket's tests: `SFlowTestPacket1`, collected from a hardware switch on a
//! live network (agent 10.1.248.22: six flow samples with raw headers and extended switch
//! data, one counter sample with generic and Ethernet interface counters), and
//! `SFlowEthernetFramePacket` (seven flow samples of sampled Ethernet frame records). The
//! expected values are those gopacket's own `sflow_test.go` asserts.

use arrow::array::RecordBatch;
use bytefreezer_decode_flow::{DatagramMeta, FlowDecoder};

use crate::exports::{self, Flow};

fn decode(name: &str) -> (Vec<Flow>, bytefreezer_decode_flow::DecodeReport) {
    let datagram = crate::captures::read(name);
    let mut decoder = FlowDecoder::default();
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        exporter: Some("192.0.2.1".parse().expect("address")),
    };
    let report = decoder.decode(&datagram, &meta);
    let batch: RecordBatch = decoder.flush().expect("batch").expect("rows");
    let columns = [
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
    (exports::flows(&batch, &columns), report)
}

#[test]
fn hardware_switch_sflow_matches_gopacket() {
    let (rows, report) = decode("gopacket-sflow-switch.bin");
    assert_eq!(report.error, None);
    assert_eq!(report.counter_samples, 1);
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
    let (rows, report) = decode("gopacket-sflow-ethernet.bin");
    assert_eq!(report.error, None);
    assert_eq!(rows.len(), 7, "flow samples");
    for row in &rows {
        assert!(
            row.contains_key("src_mac") && row.contains_key("dst_mac"),
            "{row:?}"
        );
    }
}
