//! End-to-end: NetFlow, IPFIX and sFlow sent to a running `bytefreezer up` become queryable
//! flow Parquet, and flow templates survive a restart.

#[path = "support/up.rs"]
mod up;

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use bytefreezer_api::metrics::{
    PROXY_DECODE_ERRORS_TOTAL, PROXY_FLOW_TEMPLATE_EVENTS_TOTAL, PROXY_FLOW_TEMPLATES,
};
use up::{UpProcess, duckdb, free_tcp, free_udp};

fn netflow_v5(records: &[(&str, &str, u32)]) -> Vec<u8> {
    let now = chrono::Utc::now().timestamp() as u32;
    let mut packet = Vec::new();
    for value in [5u16, records.len() as u16] {
        packet.extend_from_slice(&value.to_be_bytes());
    }
    for value in [100_000u32, now, 0, 1] {
        packet.extend_from_slice(&value.to_be_bytes());
    }
    packet.extend_from_slice(&[0, 0, 0, 0]);
    for (src, dst, bytes) in records {
        for address in [src, dst, &"0.0.0.0"] {
            packet.extend_from_slice(&address.parse::<std::net::Ipv4Addr>().unwrap().octets());
        }
        packet.extend_from_slice(&[0, 1, 0, 2]);
        for value in [1u32, *bytes, 99_000, 99_500] {
            packet.extend_from_slice(&value.to_be_bytes());
        }
        packet.extend_from_slice(&[
            0x1f, 0x90, 0x01, 0xbb, 0, 0x10, 6, 0, 0, 0, 0, 0, 24, 24, 0, 0,
        ]);
    }
    packet
}

fn ipfix_message(src: &str, dst: &str, bytes: u64) -> Vec<u8> {
    let mut sets = Vec::new();
    // Template 256: sourceIPv4Address, destinationIPv4Address, octetDeltaCount (8),
    // protocolIdentifier, and two elements without a column: initiatorOctets (8) and
    // bgpNextHopIPv4Address, which land in `extra_fields`.
    let template: [u16; 16] = [2, 32, 256, 6, 8, 4, 12, 4, 1, 8, 4, 1, 231, 8, 18, 4];
    for value in template {
        sets.extend_from_slice(&value.to_be_bytes());
    }
    sets.extend_from_slice(&[1, 0, 0, 33]);
    for address in [src, dst] {
        sets.extend_from_slice(&address.parse::<std::net::Ipv4Addr>().unwrap().octets());
    }
    sets.extend_from_slice(&bytes.to_be_bytes());
    sets.push(17);
    sets.extend_from_slice(&(bytes * 2).to_be_bytes());
    sets.extend_from_slice(&[198, 51, 100, 1]);
    let mut message = Vec::new();
    message.extend_from_slice(&10u16.to_be_bytes());
    message.extend_from_slice(&(16 + sets.len() as u16).to_be_bytes());
    for value in [chrono::Utc::now().timestamp() as u32, 1, 0] {
        message.extend_from_slice(&value.to_be_bytes());
    }
    message.extend_from_slice(&sets);
    message
}

/// One compact flow sample (1 in 100) with an IPv4 data record: 10.5.0.1 -> 10.5.0.2, TCP 443.
fn sflow_datagram() -> Vec<u8> {
    let words = |w: &[u32]| w.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>();
    let mut ipv4 = words(&[64, 6]);
    ipv4.extend([10, 5, 0, 1, 10, 5, 0, 2]);
    ipv4.extend(words(&[40_000, 443, 0x10, 0]));
    let mut sample = words(&[1, 7, 100, 1_000, 0, 2, 3, 1, 3, ipv4.len() as u32]);
    sample.extend(ipv4);
    let mut datagram = words(&[5, 1]);
    datagram.extend([192, 0, 2, 77]);
    datagram.extend(words(&[0, 1, 1_000, 1, 1, sample.len() as u32]));
    datagram.extend(sample);
    datagram
}
#[test]
fn netflow_ipfix_and_sflow_become_queryable_flow_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(
            &netflow_v5(&[
                ("10.0.0.1", "10.0.0.9", 1000),
                ("10.0.0.1", "10.0.0.8", 500),
                ("10.0.0.2", "10.0.0.9", 40),
            ]),
            up.netflow,
        )
        .unwrap();
    socket.send_to(b"\x00\x05 not a flow", up.netflow).unwrap();
    socket
        .send_to(&ipfix_message("192.0.2.1", "192.0.2.2", 7777), up.ipfix)
        .unwrap();
    socket.send_to(&sflow_datagram(), up.sflow).unwrap();
    // IPFIX sent to the NetFlow port is accepted too, as exporters mix them.
    socket
        .send_to(&ipfix_message("192.0.2.3", "192.0.2.2", 1), up.netflow)
        .unwrap();
    let folder = |dataset: &str| {
        up.data_dir
            .join(format!("buckets/packer/demo/{dataset}/data/parquet"))
    };
    let parquet_count = |dataset: &str| up::parquet_files(&folder(dataset)).len();
    up.wait_until(
        Duration::from_secs(60),
        "flow Parquet for every flow dataset",
        |_| {
            parquet_count("netflow") > 0 && parquet_count("ipfix") > 0 && parquet_count("sflow") > 0
        },
    );
    let netflow = format!("{}/**/*.parquet", folder("netflow").display());
    up.wait_until(
        Duration::from_secs(30),
        "all four NetFlow port flows are in Parquet",
        |_| duckdb(&format!("SELECT count(*) FROM read_parquet('{netflow}')")) == "[(4,)]",
    );
    assert_eq!(
        duckdb(&format!(
            "SELECT src_addr, SUM(bytes) FROM read_parquet('{netflow}', hive_partitioning=true) GROUP BY src_addr ORDER BY src_addr"
        )),
        "[('10.0.0.1', 1500), ('10.0.0.2', 40), ('192.0.2.3', 1)]"
    );
    assert_eq!(
        duckdb(&format!(
            "SELECT flow_protocol, dst_port, ip_protocol FROM read_parquet('{netflow}') WHERE src_addr = '10.0.0.2'"
        )),
        "[('netflow_v5', 443, 6)]"
    );
    let ipfix = format!("{}/**/*.parquet", folder("ipfix").display());
    assert_eq!(
        duckdb(&format!(
            "SELECT src_addr, bytes, ip_protocol, exporter_address FROM read_parquet('{ipfix}')"
        )),
        "[('192.0.2.1', 7777, 17, '127.0.0.1')]"
    );
    // The elements without a column, named and typed by piper, read by key through the
    // Query service.
    let key = std::fs::read_to_string(up.data_dir.join("up-proxy.key")).unwrap();
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("http://{}/api/v1/query", up.http))
        .bearer_auth(key.trim())
        .json(&serde_json::json!({
            "tenant_id": "demo",
            "dataset_id": "ipfix",
            "sql": "SELECT json_get_int(extra_fields, 'initiatorOctets') AS sent, \
                    extra_fields->>'bgpNextHopIPv4Address' AS hop FROM ipfix",
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        answer["rows"],
        serde_json::json!([{ "sent": 15_554, "hop": "198.51.100.1" }]),
        "{answer}"
    );
    let sflow = format!("{}/**/*.parquet", folder("sflow").display());
    assert_eq!(
        duckdb(&format!(
            "SELECT flow_protocol, exporter_address, src_addr, dst_port, bytes, bytes_scaled FROM read_parquet('{sflow}')"
        )),
        "[('sflow_v5', '192.0.2.77', '10.5.0.1', 443, 64, 6400)]"
    );
    up.wait_until(
        Duration::from_secs(10),
        "the malformed datagram is counted",
        |p| p.metric(PROXY_DECODE_ERRORS_TOTAL.name) == 1,
    );
    assert_eq!(up.terminate().code(), Some(0));
}

/// softflowd's NetFlow v9 export (template and data in one datagram), from the decoder's fixtures.
fn softflowd_v9_export() -> Vec<u8> {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("dataplane/decode-flow/tests/data/softflowd-v9.bin"),
    )
    .unwrap();
    bytes[4..].to_vec()
}

/// The same export with its template flowsets removed: data an exporter sends between template
/// refreshes.
fn without_templates(datagram: &[u8]) -> Vec<u8> {
    let mut out = datagram[..20].to_vec();
    let mut at = 20;
    while at + 4 <= datagram.len() {
        let id = u16::from_be_bytes([datagram[at], datagram[at + 1]]);
        let length = usize::from(u16::from_be_bytes([datagram[at + 2], datagram[at + 3]]));
        if id != 0 {
            out.extend_from_slice(&datagram[at..at + length]);
        }
        at += length;
    }
    out
}

#[test]
fn flow_templates_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let export = softflowd_v9_export();
    let data_only = without_templates(&export);
    assert!(data_only.len() < export.len());
    let rows = |up: &UpProcess| {
        let netflow = format!(
            "{}/**/*.parquet",
            up.data_dir
                .join("buckets/packer/demo/netflow/data/parquet")
                .display()
        );
        if !up.data_dir.join("buckets/packer/demo/netflow").exists() {
            return 0;
        }
        duckdb(&format!("SELECT count(*) FROM read_parquet('{netflow}')"))
            .trim_start_matches("[(")
            .trim_end_matches(",)]")
            .parse::<u64>()
            .unwrap_or(0)
    };
    // Per exporter and source id: the templates held, and what they made the decoder do.
    let exporter_series = |up: &UpProcess, name: &str, extra: &str| {
        up.metrics().is_some_and(|metrics| {
            metrics.lines().any(|line| {
                line.starts_with(&format!("{name}{{"))
                    && line.contains("dataset=\"netflow\"")
                    && line.contains("exporter=\"127.0.0.1\"")
                    && line.contains(extra)
                    && !line.ends_with(" 0")
            })
        })
    };
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(&export, up.netflow).unwrap();
    up.wait_until(
        Duration::from_secs(30),
        "the first export is in Parquet",
        |p| rows(p) == 3,
    );
    up.wait_until(
        Duration::from_secs(10),
        "per-exporter template metrics are in /metrics",
        |p| {
            exporter_series(p, PROXY_FLOW_TEMPLATES.name, "")
                && exporter_series(p, PROXY_FLOW_TEMPLATE_EVENTS_TOTAL.name, "event=\"learnt\"")
        },
    );
    assert_eq!(up.terminate().code(), Some(0));

    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    socket.send_to(&data_only, up.netflow).unwrap();
    up.wait_until(
        Duration::from_secs(30),
        "data sent after the restart, without templates, is in Parquet",
        |p| rows(p) == 6,
    );
    up.wait_until(
        Duration::from_secs(10),
        "restored templates count as held",
        |p| exporter_series(p, PROXY_FLOW_TEMPLATES.name, ""),
    );
    assert_eq!(up.terminate().code(), Some(0));
}
