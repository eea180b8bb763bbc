//! The same real exports (softflowd NetFlow v5/v9/IPFIX, fprobe NetFlow v5) sent over UDP to
//! nfcapd, nfdump's collector, read back with `nfdump -o json`, and compared flow by flow and
//! field by field with our decoding.
//!
//! nfdump stores flows in fixed records, so it cannot tell a field the exporter did not send
//! from a zero; tshark_netflow.rs checks which fields are present, this test checks values.

#[path = "support/exports.rs"]
mod exports;
#[path = "support/tools.rs"]
mod tools;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use exports::{Flow, ICMP_COLUMNS, ROUTING_COLUMNS, TIME_COLUMNS, TRAFFIC_COLUMNS};
use serde_json::Value;

/// nfcapd reports every flow as sent by the socket address it came from.
const EXPORTER: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn columns() -> Vec<&'static str> {
    let others = ["exporter_address", "record_type", "next_hop", "direction"];
    [
        &TIME_COLUMNS[..],
        &TRAFFIC_COLUMNS,
        &ROUTING_COLUMNS,
        &ICMP_COLUMNS,
        &others,
    ]
    .concat()
}

/// Columns where nfdump's zero means "zero or not sent" (its record has no nulls, and its JSON
/// leaves out a zero AS or next hop): a zero on one side matches a null on the other.
const ZERO_IS_ABSENT: &[&str] = &[
    "next_hop",
    "src_as",
    "dst_as",
    "src_prefix_len",
    "dst_prefix_len",
    "input_interface",
    "output_interface",
    "direction",
    "tos",
];

fn drop_zeros(flow: &mut Flow) {
    flow.retain(|column, value| {
        !(ZERO_IS_ABSENT.contains(column) && matches!(value.as_str(), "0" | "0.0.0.0" | "::"))
    });
}

fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind((EXPORTER, 0)).expect("a free UDP port");
    socket.local_addr().unwrap().port()
}

fn wait_for_startup(nfcapd: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::fs::read_to_string(log).is_ok_and(|text| text.contains("Startup")) {
            return;
        }
        if let Ok(Some(status)) = nfcapd.try_wait() {
            panic!(
                "nfcapd exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = nfcapd.kill();
    let _ = nfcapd.wait();
    panic!("nfcapd did not start within 10 s");
}

/// Sends the datagrams to a fresh nfcapd, stops it (SIGTERM writes its file) and returns what
/// `nfdump -o json` prints for that file.
fn collect_with_nfcapd(datagrams: &[Vec<u8>]) -> Vec<Value> {
    let nfcapd = tools::require("nfcapd", "nfdump");
    let nfdump = tools::require("nfdump", "nfdump");
    let dir = tools::TempDir::new("nfcapd");
    let flows_dir = dir.path().join("flows");
    std::fs::create_dir_all(&flows_dir).unwrap();
    let log_path = dir.path().join("nfcapd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_udp_port();
    let mut child = Command::new(nfcapd)
        .env("TZ", "UTC")
        .args(["-b", "127.0.0.1", "-p", &port.to_string(), "-w"])
        .arg(&flows_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("nfcapd starts");
    wait_for_startup(&mut child, &log_path);
    let sender = UdpSocket::bind((EXPORTER, 0)).unwrap();
    for datagram in datagrams {
        sender.send_to(datagram, (EXPORTER, port)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    // nfcapd has no acknowledgement; give it time to take the datagrams off the socket.
    std::thread::sleep(Duration::from_millis(500));
    tools::output(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let status = child.wait().unwrap();
    let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.success(), "nfcapd ended with {status}:\n{log_text}");
    let file = std::fs::read_dir(&flows_dir)
        .unwrap()
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("nfcapd.") && !name.contains("current")
        })
        .unwrap_or_else(|| {
            panic!(
                "nfcapd wrote no file in {}:\n{log_text}",
                flows_dir.display()
            )
        });
    let json = tools::output(
        Command::new(nfdump)
            .env("TZ", "UTC")
            .arg("-r")
            .arg(&file)
            .args(["-o", "json"]),
    );
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("nfdump printed bad JSON ({e}):\n{json}"))
}

/// nfdump's times ("2026-11-29T21:25:14.431", local time, TZ=UTC) in ms since the epoch.
fn time_ms(text: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f")
        .unwrap_or_else(|e| panic!("nfdump printed {text:?}, not a time: {e}"))
        .and_utc()
        .timestamp_millis()
}

/// nfdump's TCP flags ("...AP.S.", one character per bit from CWR down to FIN) as a number.
fn tcp_flags(text: &str) -> String {
    let bits = text
        .chars()
        .fold(0u16, |bits, c| bits << 1 | u16::from(c != '.'));
    bits.to_string()
}

/// The export time (ms) in a NetFlow v5/v9 or IPFIX header.
fn export_ms(datagram: &[u8]) -> i64 {
    let word = |at: usize| i64::from(u32::from_be_bytes(datagram[at..at + 4].try_into().unwrap()));
    match datagram[1] {
        5 => word(8) * 1_000 + word(12) / 1_000_000,
        9 => word(8) * 1_000,
        _ => word(4) * 1_000,
    }
}

/// nfdump's first and last, in ms, undoing two nfdump 1.7.1 quirks (the values it stores are
/// still compared exactly after that):
/// - It adds a 32-bit uptime stamp to the exporter's boot time without wrapping. softflowd,
///   replaying a capture older than its own start, exports stamps from "before boot" as
///   wrapped 32-bit values, which nfdump places 2^32 ms (49.7 days) late: after the message
///   that carries them was even exported, which cannot be. Such a time is taken 2^32 ms back.
/// - For IPFIX it stores flowStartSysUpTime (IE 22) as `last` and flowEndSysUpTime (IE 21) as
///   `first`, so its own output has flows ending before they start (tshark_netflow.rs checks
///   that ours match tshark's reading of IE 22 and 21). A `last` before `first` is swapped.
fn nfdump_times(record: &Value, latest_export_ms: i64) -> (String, String) {
    let time = |name: &str| {
        let text = record[name]
            .as_str()
            .unwrap_or_else(|| panic!("nfdump record without {name}: {record}"));
        let ms = time_ms(text);
        if ms > latest_export_ms + 1_000 {
            ms - (1 << 32)
        } else {
            ms
        }
    };
    let (first, last) = (time("first"), time("last"));
    let (first, last) = if last < first {
        (last, first)
    } else {
        (first, last)
    };
    (first.to_string(), last.to_string())
}

fn nfdump_flow(record: &Value, latest_export_ms: i64) -> Flow {
    let mut flow = Flow::from([("record_type", "flow".to_owned())]);
    let text = |name: &str| match &record[name] {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    };
    let pairs: [(&'static str, &[&str]); 17] = [
        ("src_addr", &["src4_addr", "src6_addr"]),
        ("dst_addr", &["dst4_addr", "dst6_addr"]),
        ("next_hop", &["ip4_next_hop", "ip6_next_hop"]),
        ("exporter_address", &["ip4_router", "ip6_router"]),
        ("src_port", &["src_port"]),
        ("dst_port", &["dst_port"]),
        ("ip_protocol", &["proto"]),
        ("tos", &["src_tos"]),
        ("bytes", &["in_bytes"]),
        ("packets", &["in_packets"]),
        ("input_interface", &["input_snmp"]),
        ("output_interface", &["output_snmp"]),
        ("src_as", &["src_as"]),
        ("dst_as", &["dst_as"]),
        ("src_prefix_len", &["src_mask"]),
        ("dst_prefix_len", &["dst_mask"]),
        ("direction", &["direction"]),
    ];
    for (column, names) in pairs {
        if let Some(value) = names.iter().find_map(|name| text(name)) {
            flow.insert(column, value);
        }
    }
    for (column, name) in [("icmp_type", "icmp_type"), ("icmp_code", "icmp_code")] {
        if let Some(value) = text(name) {
            flow.insert(column, value);
        }
    }
    if let Some(flags) = text("tcp_flags") {
        flow.insert("tcp_flags", tcp_flags(&flags));
    }
    let (first, last) = nfdump_times(record, latest_export_ms);
    flow.insert("flow_start", first);
    flow.insert("flow_end", last);
    drop_zeros(&mut flow);
    flow
}

fn our_flows(file: &str, datagrams: &[Vec<u8>]) -> Vec<Flow> {
    let batch = exports::decode(file, datagrams, IpAddr::V4(EXPORTER));
    let mut flows = exports::flows(&batch, &columns());
    for flow in &mut flows {
        drop_zeros(flow);
        if matches!(
            flow.get("ip_protocol").map(String::as_str),
            Some("1" | "58")
        ) {
            // nfdump's JSON prints an ICMP flow's type and code instead of its ports and TCP
            // flags, so those are compared through icmp_type and icmp_code.
            for column in ["src_port", "dst_port", "tcp_flags"] {
                flow.remove(column);
            }
        }
    }
    flows
}

fn compare(file: &str) {
    let datagrams = exports::datagrams(file);
    let latest_export_ms = datagrams.iter().map(|d| export_ms(d)).max().unwrap();
    let mut theirs: Vec<Flow> = collect_with_nfcapd(&datagrams)
        .iter()
        .filter(|record| record["type"] == "FLOW")
        .map(|record| nfdump_flow(record, latest_export_ms))
        .collect();
    let mut ours = our_flows(file, &datagrams);
    if datagrams[0].starts_with(&[0, 9]) {
        // nfdump 1.7.1 reads no ICMP type from element 139 (ICMP_IPv6_TYPE) in NetFlow v9,
        // which softflowd sends for ICMPv6 flows (its IPFIX reader does, and tshark agrees with
        // our value in tshark_netflow.rs): those two fields are not compared for v9 ICMPv6.
        for flow in ours.iter_mut().chain(theirs.iter_mut()) {
            if flow.get("ip_protocol").is_some_and(|p| p == "58") {
                flow.remove("icmp_type");
                flow.remove("icmp_code");
            }
        }
    }
    exports::assert_same_flows(file, "nfdump", ours, theirs);
}

#[test]
fn softflowd_v5_matches_nfdump() {
    compare("softflowd-v5.bin");
}

#[test]
fn softflowd_v9_matches_nfdump() {
    compare("softflowd-v9.bin");
}

#[test]
fn softflowd_ipfix_matches_nfdump() {
    compare("softflowd-ipfix.bin");
}

#[test]
fn softflowd_mixed_v5_matches_nfdump() {
    compare("softflowd-mixed-v5.bin");
}

#[test]
fn softflowd_mixed_v9_matches_nfdump() {
    compare("softflowd-mixed-v9.bin");
}

#[test]
fn softflowd_mixed_ipfix_matches_nfdump() {
    compare("softflowd-mixed-ipfix.bin");
}

#[test]
fn fprobe_v5_matches_nfdump() {
    compare("fprobe-v5.bin");
}
