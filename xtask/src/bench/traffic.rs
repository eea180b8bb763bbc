//! Pre-built datagrams for the load generator: varied RFC 5424 syslog lines of about 250 bytes,
//! and NetFlow v9 / IPFIX exports grown from softflowd's real captures
//! (`dataplane/decode-flow/tests/data/softflowd-{v9,ipfix}.bin`): their template datagram
//! first, then data datagrams of 28 flows each built on the same template.
//!
//! Every flow record carries `packets = 1`, so a collector's packet total (pmacct's print
//! plugin) counts flows exactly.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// Flows per generated data datagram, about what softflowd and routers put in 1.2 KB.
pub const FLOWS_PER_DATAGRAM: usize = 28;
/// Distinct datagrams the generator cycles through.
const POOL: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Syslog,
    NetflowV9,
    Ipfix,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Syslog => "syslog",
            Protocol::NetflowV9 => "netflow_v9",
            Protocol::Ipfix => "ipfix",
        }
    }

    pub fn events(self) -> &'static str {
        match self {
            Protocol::Syslog => "messages",
            Protocol::NetflowV9 | Protocol::Ipfix => "flows",
        }
    }
}

/// Where the export header keeps its sequence number, which the sender rewrites per datagram
/// so collectors see an unbroken sequence (v9 counts datagrams, IPFIX counts data records).
#[derive(Debug, Clone, Copy)]
pub enum Sequence {
    None,
    PerDatagram { offset: usize },
    PerRecord { offset: usize },
}

pub struct Traffic {
    pub protocol: Protocol,
    /// Sent once before anything else (templates); their events count too.
    pub setup: Vec<Vec<u8>>,
    pub setup_events: u64,
    pub stream: Vec<Vec<u8>>,
    pub events_per_datagram: u64,
    pub sequence: Sequence,
}

impl Traffic {
    pub fn build(protocol: Protocol, root: &Path) -> Result<Traffic> {
        match protocol {
            Protocol::Syslog => Ok(syslog()),
            Protocol::NetflowV9 | Protocol::Ipfix => {
                let name = if protocol == Protocol::Ipfix {
                    "ipfix"
                } else {
                    "v9"
                };
                let path = root.join(format!(
                    "dataplane/decode-flow/tests/data/softflowd-{name}.bin"
                ));
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read the flow fixture {}", path.display()))?;
                let datagrams = split_fixture(&bytes)
                    .with_context(|| format!("{} is not length-framed", path.display()))?;
                flows(protocol, datagrams)
                    .with_context(|| format!("cannot build datagrams from {}", path.display()))
            }
        }
    }
}

fn syslog() -> Traffic {
    const HOSTS: [&str; 6] = [
        "fw-edge-01",
        "web-03",
        "db-primary",
        "lb-2",
        "mail-gw",
        "k8s-node-7",
    ];
    const APPS: [&str; 6] = ["sshd", "nginx", "postgres", "haproxy", "postfix", "kubelet"];
    const TEXTS: [&str; 6] = [
        "Accepted publickey for deploy from 198.51.100.23 port 52144 ssh2: ED25519 SHA256:9xQv",
        "GET /api/v2/orders?page=3 HTTP/1.1 200 1534 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
        "duration: 12.482 ms  statement: SELECT id, total FROM orders WHERE customer_id = $1",
        "frontend https-in backend app-servers/app2 0/0/1/12/13 200 2214 - - ---- 812/812/3/1/0",
        "NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 Relay access denied; to=<x>",
        "Failed to update lease for node: context deadline exceeded (Client.Timeout exceeded)",
    ];
    let mut stream = Vec::with_capacity(POOL * 8);
    for index in 0..POOL * 8 {
        let (h, a, t) = (index % 6, (index / 6) % 6, (index / 36) % 6);
        let message = format!(
            "<{pri}>1 2025-06-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z {host} {app} {pid} \
             ID{msgid} [meta seq=\"{index}\" zone=\"z{zone}\"][origin ip=\"10.{a}.{b}.{c}\"] \
             {text} request_id={request:016x}",
            pri = 8 + (index % 8) * 8 + (index % 7),
            day = 1 + index % 28,
            hour = index % 24,
            minute = index % 60,
            second = (index / 60) % 60,
            micros = index * 7919 % 1_000_000,
            host = HOSTS[h],
            app = APPS[a],
            pid = 1000 + index % 30_000,
            msgid = index % 97,
            zone = index % 5,
            text = TEXTS[t],
            a = index % 256,
            b = (index / 256) % 256,
            c = index % 251,
            request = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        stream.push(message.into_bytes());
    }
    Traffic {
        protocol: Protocol::Syslog,
        setup: Vec::new(),
        setup_events: 0,
        stream,
        events_per_datagram: 1,
        sequence: Sequence::None,
    }
}

/// `<u32 big-endian length><bytes>` repeated, as `capture_softflowd.py` writes.
fn split_fixture(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while let [a, b, c, d, tail @ ..] = rest {
        let length = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
        out.push(tail.get(..length)?.to_vec());
        rest = &tail[length..];
    }
    Some(out)
}

/// One data template: its id, record length, and where source address, source port and
/// packet count sit in a record.
#[derive(Debug, Clone, Copy)]
struct Template {
    id: u16,
    record_length: usize,
    source_address: Option<usize>,
    source_port: Option<usize>,
    packets: Option<(usize, usize)>,
}

/// A set (IPFIX) or flowset (v9): id, the offset of its body in the datagram, body length.
fn sets(datagram: &[u8], header_length: usize) -> Vec<(u16, usize, usize)> {
    let mut out = Vec::new();
    let mut at = header_length;
    while at + 4 <= datagram.len() {
        let id = u16::from_be_bytes([datagram[at], datagram[at + 1]]);
        let length = u16::from_be_bytes([datagram[at + 2], datagram[at + 3]]) as usize;
        if length < 4 || at + length > datagram.len() {
            break;
        }
        out.push((id, at + 4, length - 4));
        at += length;
    }
    out
}

fn parse_templates(body: &[u8], ipfix: bool) -> Vec<Template> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= body.len() {
        let id = u16::from_be_bytes([body[at], body[at + 1]]);
        let count = u16::from_be_bytes([body[at + 2], body[at + 3]]) as usize;
        at += 4;
        let mut template = Template {
            id,
            record_length: 0,
            source_address: None,
            source_port: None,
            packets: None,
        };
        for _ in 0..count {
            let Some(field) = body.get(at..at + 4) else {
                return out;
            };
            let kind = u16::from_be_bytes([field[0], field[1]]);
            let length = u16::from_be_bytes([field[2], field[3]]) as usize;
            at += 4;
            if ipfix && kind & 0x8000 != 0 {
                at += 4; // enterprise number
            }
            match kind & 0x7fff {
                8 => template.source_address = Some(template.record_length),
                7 => template.source_port = Some(template.record_length),
                2 => template.packets = Some((template.record_length, length)),
                _ => {}
            }
            template.record_length += length;
        }
        if id >= 256 && template.record_length > 0 {
            out.push(template);
        }
    }
    out
}

fn set_packets_to_one(record: &mut [u8], template: &Template) {
    if let Some((offset, length)) = template.packets
        && let Some(field) = record.get_mut(offset..offset + length)
    {
        field.fill(0);
        if let Some(last) = field.last_mut() {
            *last = 1;
        }
    }
}

fn flows(protocol: Protocol, fixture: Vec<Vec<u8>>) -> Result<Traffic> {
    let ipfix = protocol == Protocol::Ipfix;
    let (header_length, template_set) = if ipfix { (16, 2) } else { (20, 0) };
    let mut setup = fixture;
    let mut templates = Vec::new();
    for datagram in &setup {
        for (id, start, length) in sets(datagram, header_length) {
            if id == template_set {
                templates.extend(parse_templates(&datagram[start..start + length], ipfix));
            }
        }
    }
    // Sample records: the data sets of the capture, with packets rewritten to 1.
    let mut setup_events = 0;
    let mut sample: Option<(Template, Vec<Vec<u8>>)> = None;
    for datagram in &mut setup {
        for (id, start, length) in sets(datagram, header_length) {
            let Some(template) = templates.iter().find(|t| t.id == id).copied() else {
                continue;
            };
            let records = length / template.record_length;
            setup_events += records as u64;
            for index in 0..records {
                let offset = start + index * template.record_length;
                let record = &mut datagram[offset..offset + template.record_length];
                set_packets_to_one(record, &template);
                if sample.as_ref().is_none_or(|(t, _)| t.id == template.id) {
                    sample
                        .get_or_insert_with(|| (template, Vec::new()))
                        .1
                        .push(record.to_vec());
                }
            }
        }
    }
    let Some((template, records)) = sample else {
        bail!("the capture holds no data records to copy");
    };
    let first = setup.first().context("the capture is empty")?;
    let header = first[..header_length].to_vec();
    let mut stream = Vec::with_capacity(POOL);
    for index in 0..POOL {
        let mut datagram = header.clone();
        let set_length = 4 + FLOWS_PER_DATAGRAM * template.record_length;
        datagram.extend_from_slice(&template.id.to_be_bytes());
        datagram.extend_from_slice(&(set_length as u16).to_be_bytes());
        for flow in 0..FLOWS_PER_DATAGRAM {
            let mut record = records[flow % records.len()].clone();
            // Distinct 5-tuples across the pool, so aggregating collectors do real work.
            let unique = (index * FLOWS_PER_DATAGRAM + flow) as u32;
            if let Some(at) = template.source_address {
                record[at + 2..at + 4].copy_from_slice(&(unique as u16).to_be_bytes());
            }
            if let Some(at) = template.source_port {
                record[at..at + 2]
                    .copy_from_slice(&(10_000 + (unique % 50_000) as u16).to_be_bytes());
            }
            datagram.extend_from_slice(&record);
        }
        if ipfix {
            let total = datagram.len() as u16;
            datagram[2..4].copy_from_slice(&total.to_be_bytes());
        } else {
            datagram[2..4].copy_from_slice(&(FLOWS_PER_DATAGRAM as u16).to_be_bytes());
        }
        stream.push(datagram);
    }
    Ok(Traffic {
        protocol,
        setup,
        setup_events,
        stream,
        events_per_datagram: FLOWS_PER_DATAGRAM as u64,
        sequence: if ipfix {
            Sequence::PerRecord { offset: 8 }
        } else {
            Sequence::PerDatagram { offset: 12 }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn flow_datagrams_hold_28_records_of_the_captured_template() {
        for protocol in [Protocol::NetflowV9, Protocol::Ipfix] {
            let traffic = Traffic::build(protocol, &root()).unwrap();
            assert_eq!(traffic.setup_events, 3);
            let datagram = &traffic.stream[0];
            let header = if protocol == Protocol::Ipfix { 16 } else { 20 };
            let sets = sets(datagram, header);
            assert_eq!(sets.len(), 1);
            assert_eq!(sets[0].0, 1024);
            assert_eq!(sets[0].2 % FLOWS_PER_DATAGRAM, 0);
        }
    }

    #[test]
    fn syslog_messages_are_about_250_bytes_and_varied() {
        let traffic = Traffic::build(Protocol::Syslog, &root()).unwrap();
        let mean = traffic.stream.iter().map(Vec::len).sum::<usize>() / traffic.stream.len();
        assert!((200..300).contains(&mean), "{mean}");
        assert_ne!(traffic.stream[0], traffic.stream[1]);
    }
}
