//! Writes export datagrams into a classic pcap file (Ethernet, IPv4, UDP), for tshark to read.

use std::net::Ipv4Addr;
use std::path::Path;

/// Where the framed datagrams appear to come from and go to.
pub const EXPORTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const COLLECTOR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// One frame per datagram, sent from `EXPORTER`:40000 to `COLLECTOR`:`port`, stamped one second
/// apart from `first_second`. UDP and IPv4 checksums are left zero (tshark does not check them).
pub fn write(path: &Path, datagrams: &[Vec<u8>], port: u16, first_second: u32) {
    let mut out = Vec::new();
    // Magic, version 2.4, GMT offset, accuracy, snap length, link type 1 (Ethernet).
    out.extend(0xa1b2_c3d4_u32.to_le_bytes());
    out.extend([2, 0, 4, 0]);
    for word in [0u32, 0, 262_144, 1] {
        out.extend(word.to_le_bytes());
    }
    for (index, datagram) in datagrams.iter().enumerate() {
        let udp_len = u16::try_from(8 + datagram.len()).expect("datagram fits in UDP");
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend([0x45, 0]);
        frame.extend((20 + udp_len).to_be_bytes());
        frame.extend([0, 0, 0, 0, 64, 17, 0, 0]);
        frame.extend(EXPORTER.octets());
        frame.extend(COLLECTOR.octets());
        frame.extend(40_000u16.to_be_bytes());
        frame.extend(port.to_be_bytes());
        frame.extend(udp_len.to_be_bytes());
        frame.extend([0, 0]);
        frame.extend(datagram);
        let second = first_second + u32::try_from(index).expect("few datagrams");
        let length = u32::try_from(frame.len()).expect("small frame");
        for word in [second, 0, length, length] {
            out.extend(word.to_le_bytes());
        }
        out.extend(frame);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
