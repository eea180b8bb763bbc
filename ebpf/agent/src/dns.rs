//! DNS seen on the wire: the socket filter copies UDP packets to or from port 53 (starting at
//! their IP header); this parses each into a query or an answer (RFC 1035: header, question,
//! A, AAAA and CNAME answers, compressed names) and pairs answers with their queries for the
//! latency. Anything malformed is an error, counted by the caller.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const DNS_PORT: u16 = 53;
const UDP: u8 = 17;
/// Names longer than this are not DNS names (RFC 1035 2.3.4: 255 octets).
const MAX_NAME: usize = 255;
/// Answers listed per response.
const MAX_ANSWERS: usize = 16;
/// Queries waiting for their answer; older ones are reported unanswered first.
pub const MAX_PENDING: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("not an IPv4 or IPv6 UDP packet")]
    NotUdp,
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("neither port is 53")]
    NotDns,
    #[error("a name is malformed (bad label, loop or over 255 bytes)")]
    BadName,
    #[error("no question")]
    NoQuestion,
}

/// One DNS message, with the UDP endpoints it travelled between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsPacket {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub id: u16,
    pub response: bool,
    pub rcode: u8,
    pub name: String,
    pub query_type: u16,
    /// A, AAAA and CNAME data of a response, as text.
    pub answers: Vec<String>,
}

impl DnsPacket {
    /// Who asked, and whom: (client, client port, server).
    fn client(&self) -> (IpAddr, u16, IpAddr) {
        if self.response {
            (self.dst, self.dst_port, self.src)
        } else {
            (self.src, self.src_port, self.dst)
        }
    }
}

pub fn parse_packet(packet: &[u8]) -> Result<DnsPacket, DnsError> {
    let version = packet.first().ok_or(DnsError::Truncated(0))? >> 4;
    let (src, dst, protocol, transport) = match version {
        4 => {
            let header = packet.get(..20).ok_or(DnsError::Truncated(packet.len()))?;
            let length = usize::from(header[0] & 0x0f) * 4;
            let src = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
            let dst = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
            (IpAddr::V4(src), IpAddr::V4(dst), header[9], length)
        }
        6 => {
            let header = packet.get(..40).ok_or(DnsError::Truncated(packet.len()))?;
            let src: [u8; 16] = header[8..24].try_into().map_err(|_| DnsError::NotUdp)?;
            let dst: [u8; 16] = header[24..40].try_into().map_err(|_| DnsError::NotUdp)?;
            (
                IpAddr::V6(Ipv6Addr::from(src)),
                IpAddr::V6(Ipv6Addr::from(dst)),
                header[6],
                40,
            )
        }
        _ => return Err(DnsError::NotUdp),
    };
    if protocol != UDP {
        return Err(DnsError::NotUdp);
    }
    let udp = packet
        .get(transport..transport + 8)
        .ok_or(DnsError::Truncated(packet.len()))?;
    let src_port = u16::from_be_bytes([udp[0], udp[1]]);
    let dst_port = u16::from_be_bytes([udp[2], udp[3]]);
    if src_port != DNS_PORT && dst_port != DNS_PORT {
        return Err(DnsError::NotDns);
    }
    let message = &packet[transport + 8..];
    let header = message
        .get(..12)
        .ok_or(DnsError::Truncated(message.len()))?;
    let id = u16::from_be_bytes([header[0], header[1]]);
    let response = header[2] & 0x80 != 0;
    let rcode = header[3] & 0x0f;
    let questions = u16::from_be_bytes([header[4], header[5]]);
    let answer_count = u16::from_be_bytes([header[6], header[7]]);
    if questions == 0 {
        return Err(DnsError::NoQuestion);
    }
    let (name, mut offset) = read_name(message, 12)?;
    let fixed = message
        .get(offset..offset + 4)
        .ok_or(DnsError::Truncated(offset))?;
    let query_type = u16::from_be_bytes([fixed[0], fixed[1]]);
    offset += 4;
    // Further questions (almost never sent) are skipped.
    for _ in 1..questions {
        offset = read_name(message, offset)?.1 + 4;
    }
    let mut answers = Vec::new();
    if response {
        for _ in 0..answer_count {
            let (_, after_name) = read_name(message, offset)?;
            let fixed = message
                .get(after_name..after_name + 10)
                .ok_or(DnsError::Truncated(after_name))?;
            let record_type = u16::from_be_bytes([fixed[0], fixed[1]]);
            let length = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
            let data_at = after_name + 10;
            let data = message
                .get(data_at..data_at + length)
                .ok_or(DnsError::Truncated(data_at))?;
            if answers.len() < MAX_ANSWERS {
                match (record_type, data.len()) {
                    (1, 4) => {
                        answers.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]).to_string())
                    }
                    (28, 16) => {
                        let octets: [u8; 16] = data.try_into().map_err(|_| DnsError::BadName)?;
                        answers.push(Ipv6Addr::from(octets).to_string());
                    }
                    (5, _) => answers.push(read_name(message, data_at)?.0),
                    _ => {}
                }
            }
            offset = data_at + length;
        }
    }
    Ok(DnsPacket {
        src,
        dst,
        src_port,
        dst_port,
        id,
        response,
        rcode,
        name,
        query_type,
        answers,
    })
}

/// The name at `offset` (following compression pointers) and the offset after it in place.
fn read_name(message: &[u8], mut offset: usize) -> Result<(String, usize), DnsError> {
    let mut name = String::new();
    let mut end = None;
    // Each pointer must go backwards, so a loop cannot go on forever; this bounds it anyway.
    for _ in 0..128 {
        let length = *message.get(offset).ok_or(DnsError::Truncated(offset))?;
        match length & 0xc0 {
            0x00 if length == 0 => {
                return Ok((
                    if name.is_empty() { ".".into() } else { name },
                    end.unwrap_or(offset + 1),
                ));
            }
            0x00 => {
                let label = message
                    .get(offset + 1..offset + 1 + usize::from(length))
                    .ok_or(DnsError::Truncated(offset))?;
                if !name.is_empty() {
                    name.push('.');
                }
                for &byte in label {
                    if byte.is_ascii_graphic() && byte != b'.' {
                        name.push(char::from(byte));
                    } else {
                        name.push_str(&format!("\\{byte:03}"));
                    }
                }
                if name.len() > MAX_NAME {
                    return Err(DnsError::BadName);
                }
                offset += 1 + usize::from(length);
            }
            0xc0 => {
                let low = *message.get(offset + 1).ok_or(DnsError::Truncated(offset))?;
                let target = usize::from(u16::from_be_bytes([length & 0x3f, low]));
                if target >= offset {
                    return Err(DnsError::BadName);
                }
                end.get_or_insert(offset + 2);
                offset = target;
            }
            _ => return Err(DnsError::BadName),
        }
    }
    Err(DnsError::BadName)
}

/// RFC 1035 and RFC 3596 names of the common query types; others as `TYPE<n>` (RFC 3597).
pub fn type_name(query_type: u16) -> String {
    let name = match query_type {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        other => return format!("TYPE{other}"),
    };
    name.to_owned()
}

pub fn rcode_name(rcode: u8) -> String {
    let name = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        other => return format!("RCODE{other}"),
    };
    name.to_owned()
}

/// A query with its answer (or none, when none came in time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsExchange {
    pub query: DnsPacket,
    /// Boot-clock nanoseconds the query was seen.
    pub asked_ns: u64,
    pub answer: Option<(DnsPacket, u64)>,
}

/// Queries seen and not yet answered, bounded by [`MAX_PENDING`].
#[derive(Debug, Default)]
pub struct PendingQueries {
    waiting: HashMap<(IpAddr, u16, IpAddr, u16), (DnsPacket, u64)>,
}

impl PendingQueries {
    /// Takes a packet seen at `now_ns`: a query waits (and a full table gives up its oldest,
    /// unanswered), an answer completes its query, or stands alone when its query was not seen.
    pub fn take(&mut self, packet: DnsPacket, now_ns: u64) -> Vec<DnsExchange> {
        let (client, port, server) = packet.client();
        let key = (client, port, server, packet.id);
        if !packet.response {
            let mut done = Vec::new();
            if self.waiting.len() >= MAX_PENDING
                && let Some(oldest) = self
                    .waiting
                    .iter()
                    .min_by_key(|(_, (_, asked))| *asked)
                    .map(|(key, _)| *key)
                && let Some((query, asked_ns)) = self.waiting.remove(&oldest)
            {
                done.push(DnsExchange {
                    query,
                    asked_ns,
                    answer: None,
                });
            }
            self.waiting.insert(key, (packet, now_ns));
            return done;
        }
        match self.waiting.remove(&key) {
            Some((query, asked_ns)) => vec![DnsExchange {
                query,
                asked_ns,
                answer: Some((packet, now_ns)),
            }],
            None => vec![DnsExchange {
                query: DnsPacket {
                    response: false,
                    answers: Vec::new(),
                    ..packet.clone()
                },
                asked_ns: now_ns,
                answer: Some((packet, now_ns)),
            }],
        }
    }

    /// Queries asked before `deadline_ns`, given up as unanswered.
    pub fn expire(&mut self, deadline_ns: u64) -> Vec<DnsExchange> {
        let expired: Vec<_> = self
            .waiting
            .iter()
            .filter(|(_, (_, asked))| *asked < deadline_ns)
            .map(|(key, _)| *key)
            .collect();
        expired
            .into_iter()
            .filter_map(|key| self.waiting.remove(&key))
            .map(|(query, asked_ns)| DnsExchange {
                query,
                asked_ns,
                answer: None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// An IPv4/UDP packet carrying `dns`.
    pub(crate) fn udp_packet(
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        dns: &[u8],
    ) -> Vec<u8> {
        let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
        packet.extend_from_slice(&src);
        packet.extend_from_slice(&dst);
        packet.extend_from_slice(&sport.to_be_bytes());
        packet.extend_from_slice(&dport.to_be_bytes());
        packet.extend_from_slice(&((8 + dns.len()) as u16).to_be_bytes());
        packet.extend_from_slice(&[0, 0]);
        packet.extend_from_slice(dns);
        packet
    }

    fn query(id: u16) -> Vec<u8> {
        let mut dns = id.to_be_bytes().to_vec();
        dns.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        dns.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
        dns
    }

    fn answer(id: u16) -> Vec<u8> {
        let mut dns = id.to_be_bytes().to_vec();
        dns.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]);
        dns.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
        // www.example.com CNAME -> example.com (pointer to 12), then example.com A 192.0.2.1
        dns.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12]);
        dns.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        dns
    }

    #[test]
    fn a_query_and_its_answer_pair_up_with_the_latency() {
        let asked = parse_packet(&udp_packet(
            [10, 0, 0, 2],
            5353,
            [10, 0, 0, 53],
            53,
            &query(7),
        ))
        .unwrap();
        assert_eq!(
            (asked.name.as_str(), asked.query_type, asked.response),
            ("example.com", 1, false)
        );
        let answered = parse_packet(&udp_packet(
            [10, 0, 0, 53],
            53,
            [10, 0, 0, 2],
            5353,
            &answer(7),
        ))
        .unwrap();
        assert_eq!(
            answered.answers,
            vec!["example.com".to_owned(), "192.0.2.1".to_owned()]
        );
        let mut pending = PendingQueries::default();
        assert!(pending.take(asked, 1_000).is_empty());
        let done = pending.take(answered, 4_000);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].asked_ns, 1_000);
        assert_eq!(done[0].answer.as_ref().unwrap().1, 4_000);
        assert!(pending.expire(u64::MAX).is_empty());
    }

    #[test]
    fn unanswered_queries_expire() {
        let mut pending = PendingQueries::default();
        let asked = parse_packet(&udp_packet(
            [10, 0, 0, 2],
            5353,
            [10, 0, 0, 53],
            53,
            &query(9),
        ))
        .unwrap();
        pending.take(asked, 1_000);
        assert!(pending.expire(500).is_empty());
        let expired = pending.expire(2_000);
        assert_eq!(expired.len(), 1);
        assert!(expired[0].answer.is_none());
    }

    #[test]
    fn pointer_loops_and_truncation_are_errors() {
        let mut looping = query(1);
        looping.truncate(12);
        looping.extend_from_slice(&[0xc0, 12]);
        let packet = udp_packet([10, 0, 0, 2], 5353, [10, 0, 0, 53], 53, &looping);
        assert_eq!(parse_packet(&packet), Err(DnsError::BadName));
        let whole = udp_packet([10, 0, 0, 2], 5353, [10, 0, 0, 53], 53, &query(1));
        for end in 0..whole.len() {
            assert!(parse_packet(&whole[..end]).is_err(), "{end}");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(dns in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_packet(&udp_packet([1, 2, 3, 4], 53, [5, 6, 7, 8], 9999, &dns));
        }
    }
}
