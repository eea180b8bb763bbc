use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::reader::Packet;

/// A UDP payload found in a captured frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    pub timestamp_micros: i64,
    pub source: IpAddr,
    pub source_port: u16,
    pub destination: IpAddr,
    pub destination_port: u16,
    pub payload: &'a [u8],
}

const LINK_ETHERNET: u32 = 1;
const LINK_RAW: u32 = 101;
const LINK_RAW_ALT: u32 = 12;
const LINK_IPV4: u32 = 228;
const LINK_IPV6: u32 = 229;
const LINK_LINUX_SLL: u32 = 113;
const LINK_LINUX_SLL2: u32 = 276;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The UDP datagram in `packet`, if it carries one (first fragments and unfragmented only).
pub fn udp_datagram<'a>(packet: &Packet<'a>) -> Option<UdpDatagram<'a>> {
    let data = packet.data;
    let ip = match packet.link_type {
        LINK_ETHERNET => {
            let mut at = 12;
            let mut ethertype = u16_at(data, at)?;
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                at += 4;
                ethertype = u16_at(data, at)?;
            }
            if ethertype != 0x0800 && ethertype != 0x86dd {
                return None;
            }
            data.get(at + 2..)?
        }
        LINK_LINUX_SLL => data.get(16..)?,
        LINK_LINUX_SLL2 => data.get(20..)?,
        LINK_RAW | LINK_RAW_ALT | LINK_IPV4 | LINK_IPV6 => data,
        _ => return None,
    };
    let (source, destination, udp) = match ip.first()? >> 4 {
        4 => {
            let header_len = usize::from(ip.first()? & 0x0f) * 4;
            let flags_offset = u16_at(ip, 6)?;
            if ip.len() < 20 || ip[9] != 17 || flags_offset & 0x1fff != 0 || header_len < 20 {
                return None;
            }
            let total = usize::from(u16_at(ip, 2)?).min(ip.len());
            let source = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let destination = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            (
                IpAddr::V4(source),
                IpAddr::V4(destination),
                ip.get(header_len..total)?,
            )
        }
        6 => {
            if *ip.get(6)? != 17 {
                return None;
            }
            let source: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let destination: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let payload_len = usize::from(u16_at(ip, 4)?);
            let end = (40 + payload_len).min(ip.len());
            (
                IpAddr::V6(Ipv6Addr::from(source)),
                IpAddr::V6(Ipv6Addr::from(destination)),
                ip.get(40..end)?,
            )
        }
        _ => return None,
    };
    if udp.len() < 8 {
        return None;
    }
    let length = usize::from(u16_at(udp, 4)?).clamp(8, udp.len());
    Some(UdpDatagram {
        timestamp_micros: packet.timestamp_micros,
        source,
        source_port: u16_at(udp, 0)?,
        destination,
        destination_port: u16_at(udp, 2)?,
        payload: udp.get(8..length)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(data: &[u8]) -> Option<UdpDatagram<'_>> {
        udp_datagram(&Packet {
            timestamp_micros: 0,
            link_type: LINK_RAW,
            data,
        })
    }

    #[test]
    fn short_and_odd_packets_are_not_datagrams() {
        // Found by the fuzzer: an IPv6 header announcing UDP with fewer than 8 bytes after it.
        let mut ipv6 = vec![0x60, 0, 0, 0, 0, 6, 17, 64];
        ipv6.extend([0u8; 32]);
        ipv6.extend([1, 2, 3, 4, 5, 6]);
        assert_eq!(raw(&ipv6), None);
        // An IPv4 header cut before its addresses.
        assert_eq!(raw(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]), None);
        for cut in 0..ipv6.len() {
            let _ = raw(&ipv6[..cut]);
        }
    }

    #[test]
    fn an_ipv4_udp_packet_yields_its_payload() {
        let mut packet = vec![
            0x45, 0, 0, 31, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
        ];
        packet.extend([0x9c, 0x40, 0x08, 0x07, 0, 11, 0, 0, b'a', b'b', b'c']);
        let datagram = raw(&packet).unwrap();
        assert_eq!(datagram.payload, b"abc");
        assert_eq!(datagram.destination_port, 2055);
        assert_eq!(datagram.source.to_string(), "192.0.2.1");
    }
}
