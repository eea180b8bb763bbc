use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::str::FromStr;

use anyhow::bail;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeFormat {
    Rfc5424,
    Rfc3164,
    Json,
}

impl FromStr for FakeFormat {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        match text {
            "rfc5424" => Ok(FakeFormat::Rfc5424),
            "rfc3164" => Ok(FakeFormat::Rfc3164),
            "json" => Ok(FakeFormat::Json),
            other => bail!("unknown format {other:?}: use rfc5424, rfc3164 or json"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FakeEvent {
    pub source_ip: Ipv4Addr,
    pub dest_ip: Ipv4Addr,
    pub source_port: u16,
    pub dest_port: u16,
    pub protocol: &'static str,
    pub action: &'static str,
    pub username: &'static str,
    pub bytes_sent: u64,
    pub bytes_recv: u64,
    pub duration_ms: u32,
    pub hostname: &'static str,
    pub app: &'static str,
    pub message: &'static str,
}

const HOSTS: [&str; 5] = ["fw01", "fw02", "edge-gw", "core-sw1", "vpn01"];
const APPS: [&str; 4] = ["filterlog", "sshd", "nginx", "openvpn"];
const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "svc-backup", "-"];
const PORTS: [u16; 8] = [22, 53, 80, 123, 443, 3389, 5432, 8080];
const MESSAGES: [&str; 4] = [
    "connection closed",
    "session established",
    "blocked by policy",
    "rate limit exceeded",
];

/// Deterministic events: the same seed yields the same sequence.
pub struct FakeGenerator {
    rng: StdRng,
    sequence: u64,
}

impl FakeGenerator {
    pub fn new(seed: u64) -> Self {
        FakeGenerator {
            rng: StdRng::seed_from_u64(seed),
            sequence: 0,
        }
    }

    pub fn next_event(&mut self) -> FakeEvent {
        self.sequence += 1;
        let rng = &mut self.rng;
        let action = match rng.random_range(0..10) {
            0..=6 => "allow",
            7..=8 => "deny",
            _ => "drop",
        };
        let protocol = ["tcp", "tcp", "tcp", "udp", "icmp"][rng.random_range(0..5)];
        FakeEvent {
            source_ip: Ipv4Addr::new(
                10,
                rng.random_range(0..4),
                rng.random(),
                rng.random_range(1..255),
            ),
            dest_ip: Ipv4Addr::new(192, 0, 2, rng.random_range(1..255)),
            source_port: rng.random_range(1024..65535),
            dest_port: PORTS[rng.random_range(0..PORTS.len())],
            protocol,
            action,
            username: USERS[rng.random_range(0..USERS.len())],
            bytes_sent: rng.random_range(40..200_000),
            bytes_recv: rng.random_range(0..2_000_000),
            duration_ms: rng.random_range(0..60_000),
            hostname: HOSTS[rng.random_range(0..HOSTS.len())],
            app: APPS[rng.random_range(0..APPS.len())],
            message: MESSAGES[rng.random_range(0..MESSAGES.len())],
        }
    }

    /// Appends one datagram for the next event to `out`.
    pub fn render(&mut self, format: FakeFormat, now: DateTime<Utc>, out: &mut Vec<u8>) {
        let event = self.next_event();
        let json_body = self.rng.random_bool(0.5);
        let mut text = String::with_capacity(320);
        // Facility local0 (16); severity warning for blocks, informational otherwise.
        let priority = 16 * 8 + if event.action == "allow" { 6 } else { 4 };
        match format {
            FakeFormat::Rfc5424 => {
                let _ = write!(
                    text,
                    "<{priority}>1 {} {} {} {} - - ",
                    now.to_rfc3339_opts(SecondsFormat::Millis, true),
                    event.hostname,
                    event.app,
                    1000 + self.sequence % 9000
                );
                if json_body {
                    text.push_str(&json(&event, None));
                } else {
                    key_values(&event, &mut text);
                }
            }
            FakeFormat::Rfc3164 => {
                let _ = write!(
                    text,
                    "<{priority}>{} {} {}[{}]: ",
                    now.format("%b %e %H:%M:%S"),
                    event.hostname,
                    event.app,
                    1000 + self.sequence % 9000
                );
                key_values(&event, &mut text);
            }
            FakeFormat::Json => text.push_str(&json(&event, Some(now))),
        }
        out.extend_from_slice(text.as_bytes());
    }
}

fn key_values(event: &FakeEvent, text: &mut String) {
    let _ = write!(
        text,
        "action={} source_ip={} dest_ip={} source_port={} dest_port={} protocol={} username={} bytes_sent={} bytes_recv={} duration_ms={} msg=\"{}\"",
        event.action,
        event.source_ip,
        event.dest_ip,
        event.source_port,
        event.dest_port,
        event.protocol,
        event.username,
        event.bytes_sent,
        event.bytes_recv,
        event.duration_ms,
        event.message
    );
}

fn json(event: &FakeEvent, timestamp: Option<DateTime<Utc>>) -> String {
    let mut object = serde_json::json!({
        "action": event.action,
        "source_ip": event.source_ip.to_string(),
        "dest_ip": event.dest_ip.to_string(),
        "source_port": event.source_port,
        "dest_port": event.dest_port,
        "protocol": event.protocol,
        "username": event.username,
        "bytes_sent": event.bytes_sent,
        "bytes_recv": event.bytes_recv,
        "duration_ms": event.duration_ms,
        "hostname": event.hostname,
        "app": event.app,
        "message": event.message,
    });
    if let (Some(time), Some(map)) = (timestamp, object.as_object_mut()) {
        map.insert(
            "timestamp".into(),
            time.to_rfc3339_opts(SecondsFormat::Millis, true).into(),
        );
    }
    object.to_string()
}

#[cfg(test)]
mod tests {
    use bytefreezer_decode_syslog::{Format, parse_message};

    use super::*;

    #[test]
    fn same_seed_same_events() {
        let (mut a, mut b) = (FakeGenerator::new(7), FakeGenerator::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_event(), b.next_event());
        }
        assert_ne!(
            FakeGenerator::new(8).next_event(),
            FakeGenerator::new(7).next_event()
        );
    }

    #[test]
    fn every_format_parses_back() {
        let now = Utc::now();
        let mut generator = FakeGenerator::new(1);
        for _ in 0..50 {
            let mut out = Vec::new();
            generator.render(FakeFormat::Rfc5424, now, &mut out);
            let text = String::from_utf8(out).unwrap();
            let parsed = parse_message(&text, now.timestamp_micros());
            assert_eq!(
                (parsed.format, parsed.error),
                (Format::Rfc5424, None),
                "{text}"
            );
            assert!(parsed.message.contains("action"));

            let mut out = Vec::new();
            generator.render(FakeFormat::Rfc3164, now, &mut out);
            let text = String::from_utf8(out).unwrap();
            let parsed = parse_message(&text, now.timestamp_micros());
            assert_eq!(
                (parsed.format, parsed.error),
                (Format::Rfc3164, None),
                "{text}"
            );
            assert!(
                parsed.hostname.is_some() && parsed.app_name.is_some(),
                "{text}"
            );

            let mut out = Vec::new();
            generator.render(FakeFormat::Json, now, &mut out);
            let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert!(
                value["source_ip"].is_string()
                    && value["bytes_sent"].is_u64()
                    && value["timestamp"].is_string()
            );
        }
        assert!(
            "xml"
                .parse::<FakeFormat>()
                .unwrap_err()
                .to_string()
                .contains("rfc5424")
        );
    }
}
