//! What the agent sends: each record one JSON object on its own line (NDJSON), records packed
//! into UDP datagrams of at most the configured size, the format the `ebpf` input reads
//! (docs/ebpf.md lists every field). A record too large for one datagram has its command line
//! shortened; one still too large is dropped and counted.

use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// One record as sent. Absent fields are left out of the JSON.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WireRecord {
    pub record_type: &'static str,
    pub timestamp: String,
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_protocol: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_received: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets_sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets_received: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmits: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_id: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_rcode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_answers: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_latency_us: Option<u64>,
}

impl WireRecord {
    pub fn new(record_type: &'static str, time: DateTime<Utc>, host: &str) -> WireRecord {
        WireRecord {
            record_type,
            timestamp: time.to_rfc3339_opts(SecondsFormat::Micros, true),
            host: host.to_owned(),
            ..WireRecord::default()
        }
    }

    pub fn endpoints(&mut self, src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) {
        self.ip_version = Some(if src.is_ipv4() { 4 } else { 6 });
        self.src_addr = Some(src.to_string());
        self.dst_addr = Some(dst.to_string());
        self.src_port = Some(src_port);
        self.dst_port = Some(dst_port);
    }
}

/// Records packed into datagrams of at most `max_bytes`.
pub struct DatagramPacker {
    max_bytes: usize,
    current: Vec<u8>,
    ready: Vec<Vec<u8>>,
    /// Records dropped because even without a command line they exceeded a datagram.
    pub oversized: u64,
}

impl DatagramPacker {
    pub fn new(max_bytes: usize) -> DatagramPacker {
        DatagramPacker {
            max_bytes,
            current: Vec::with_capacity(max_bytes),
            ready: Vec::new(),
            oversized: 0,
        }
    }

    pub fn push(&mut self, record: &WireRecord) {
        let Some(line) = self.encode(record) else {
            self.oversized += 1;
            return;
        };
        if self.current.len() + line.len() > self.max_bytes {
            self.ready.push(std::mem::take(&mut self.current));
        }
        self.current.extend_from_slice(&line);
    }

    /// Datagrams complete so far, and the partial one when `all`.
    pub fn take(&mut self, all: bool) -> Vec<Vec<u8>> {
        if all && !self.current.is_empty() {
            self.ready.push(std::mem::take(&mut self.current));
        }
        std::mem::take(&mut self.ready)
    }

    fn encode(&self, record: &WireRecord) -> Option<Vec<u8>> {
        let mut line = serde_json::to_vec(record).ok()?;
        line.push(b'\n');
        if line.len() <= self.max_bytes {
            return Some(line);
        }
        let cmdline = record.cmdline.as_ref()?;
        let excess = line.len() - self.max_bytes;
        let mut keep = cmdline.len().checked_sub(excess + '…'.len_utf8())?;
        while !cmdline.is_char_boundary(keep) {
            keep -= 1;
        }
        let shorter = WireRecord {
            cmdline: Some(format!("{}…", &cmdline[..keep])),
            ..record.clone()
        };
        let mut line = serde_json::to_vec(&shorter).ok()?;
        line.push(b'\n');
        (line.len() <= self.max_bytes).then_some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cmdline: &str) -> WireRecord {
        WireRecord {
            pid: Some(7),
            cmdline: Some(cmdline.to_owned()),
            ..WireRecord::new(
                "process",
                DateTime::from_timestamp_nanos(1_700_000_000_123_456_000),
                "edge1",
            )
        }
    }

    #[test]
    fn records_are_json_lines_packed_up_to_the_datagram_size() {
        let mut packer = DatagramPacker::new(300);
        for _ in 0..5 {
            packer.push(&record("sleep 1"));
        }
        let datagrams = packer.take(true);
        assert!(datagrams.len() > 1);
        let mut lines = 0;
        for datagram in &datagrams {
            assert!(datagram.len() <= 300);
            for line in datagram.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let value: serde_json::Value = serde_json::from_slice(line).unwrap();
                assert_eq!(value["record_type"], "process");
                assert_eq!(value["timestamp"], "2023-11-14T22:13:20.123456Z");
                assert_eq!(value["pid"], 7);
                assert!(value.get("ppid").is_none());
                lines += 1;
            }
        }
        assert_eq!(lines, 5);
    }

    #[test]
    fn a_long_command_line_is_shortened_to_fit_and_a_record_that_cannot_fit_is_counted() {
        let mut packer = DatagramPacker::new(300);
        packer.push(&record(&"é".repeat(400)));
        let datagram = packer.take(true).remove(0);
        assert!(datagram.len() <= 300);
        let value: serde_json::Value = serde_json::from_slice(&datagram).unwrap();
        assert!(value["cmdline"].as_str().unwrap().ends_with('…'));
        let mut tiny = DatagramPacker::new(40);
        tiny.push(&record("x"));
        assert_eq!(tiny.oversized, 1);
        assert!(tiny.take(true).is_empty());
    }
}
