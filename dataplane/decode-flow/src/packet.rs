//! The sampled packet header sFlow carries: Ethernet (with 802.1Q / QinQ tags), MPLS, IPv4,
//! IPv6, then TCP, UDP or ICMP, read as far as the captured bytes go.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::record::FlowRecord;

const MAX_VLAN_TAGS: usize = 4;
const MAX_MPLS_LABELS: usize = 16;

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// Fills what an Ethernet frame's first bytes say; stops quietly where the capture ends.
pub(crate) fn ethernet(frame: &[u8], record: &mut FlowRecord) {
    let (Some(dst), Some(src)) = (frame.get(0..6), frame.get(6..12)) else {
        return;
    };
    record.dst_mac = <[u8; 6]>::try_from(dst).ok();
    record.src_mac = <[u8; 6]>::try_from(src).ok();
    let mut at = 12;
    let Some(mut ethertype) = u16_at(frame, at) else {
        return;
    };
    at += 2;
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != 0x8100 && ethertype != 0x88a8 {
            break;
        }
        let Some(tci) = u16_at(frame, at) else { return };
        // The outer tag of a QinQ frame is the service VLAN; the customer's is the inner one.
        record.src_vlan = Some(tci & 0x0fff);
        let Some(next) = u16_at(frame, at + 2) else {
            return;
        };
        ethertype = next;
        at += 4;
    }
    if ethertype == 0x8847 || ethertype == 0x8848 {
        for _ in 0..MAX_MPLS_LABELS {
            let Some(entry) = frame.get(at..at + 4) else {
                return;
            };
            at += 4;
            if entry[2] & 0x01 != 0 {
                break;
            }
        }
        match frame.get(at).map(|b| b >> 4) {
            Some(4) => ethertype = 0x0800,
            Some(6) => ethertype = 0x86dd,
            _ => return,
        }
    }
    match ethertype {
        0x0800 => ipv4(&frame[at..], record),
        0x86dd => ipv6(&frame[at..], record),
        _ => {}
    }
}

pub(crate) fn ipv4(packet: &[u8], record: &mut FlowRecord) {
    let Some(header) = packet.get(0..20) else {
        return;
    };
    let header_len = usize::from(header[0] & 0x0f) * 4;
    record.tos = Some(header[1]);
    record.ip_protocol = Some(header[9]);
    record.src_addr = Some(IpAddr::V4(Ipv4Addr::new(
        header[12], header[13], header[14], header[15],
    )));
    record.dst_addr = Some(IpAddr::V4(Ipv4Addr::new(
        header[16], header[17], header[18], header[19],
    )));
    // Later fragments carry no transport header.
    let fragment_offset = u16::from_be_bytes([header[6], header[7]]) & 0x1fff;
    if header_len >= 20 && fragment_offset == 0 {
        transport(header[9], packet.get(header_len..).unwrap_or(&[]), record);
    }
}

pub(crate) fn ipv6(packet: &[u8], record: &mut FlowRecord) {
    let Some(header) = packet.get(0..40) else {
        return;
    };
    record.tos = Some(((u16::from_be_bytes([header[0], header[1]]) >> 4) & 0xff) as u8);
    record.ip_protocol = Some(header[6]);
    let address = |bytes: &[u8]| {
        <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b)))
    };
    record.src_addr = address(&header[8..24]);
    record.dst_addr = address(&header[24..40]);
    transport(header[6], &packet[40..], record);
}

fn transport(protocol: u8, segment: &[u8], record: &mut FlowRecord) {
    match protocol {
        6 | 17 => {
            record.src_port = u16_at(segment, 0);
            record.dst_port = u16_at(segment, 2);
            if protocol == 6 {
                record.tcp_flags = segment.get(13).map(|flags| u16::from(*flags));
            }
        }
        1 | 58 => {
            record.icmp_type = segment.first().copied();
            record.icmp_code = segment.get(1).copied();
        }
        _ => {}
    }
}
