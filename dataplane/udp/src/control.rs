//! Reading what `recvmsg` returns beside the payload, from plain bytes: the sender's address
//! and the `SO_RXQ_OVFL` drop counter. Both receive paths share these, and parsing bytes
//! (rather than casting pointers) keeps it safe whatever the alignment inside a buffer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

/// Room for the control messages we ask for (one `SO_RXQ_OVFL` u32, padded).
pub const CONTROL_BYTES: usize = 64;

const WORD: usize = std::mem::size_of::<usize>();
const HEADER: usize = std::mem::size_of::<libc::cmsghdr>();

/// The sender of a datagram from its raw `sockaddr` bytes; `None` for a family we do not bind.
pub fn socket_address(raw: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(raw.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(raw.get(2..4)?.try_into().ok()?);
    match i32::from(family) {
        libc::AF_INET => {
            let octets: [u8; 4] = raw.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(octets)), port))
        }
        libc::AF_INET6 => {
            let flowinfo = u32::from_ne_bytes(raw.get(4..8)?.try_into().ok()?);
            let octets: [u8; 16] = raw.get(8..24)?.try_into().ok()?;
            let scope_id = u32::from_ne_bytes(raw.get(24..28)?.try_into().ok()?);
            let address = Ipv6Addr::from(octets);
            // A v4-mapped sender on a dual-stack socket is reported as the IPv4 host it is.
            if let Some(v4) = address.to_ipv4_mapped() {
                return Some(SocketAddr::new(IpAddr::V4(v4), port));
            }
            Some(SocketAddr::V6(SocketAddrV6::new(
                address, port, flowinfo, scope_id,
            )))
        }
        _ => None,
    }
}

/// The kernel's cumulative count of datagrams dropped on the socket, when the control
/// messages carry one (`SO_RXQ_OVFL` adds it once the socket has dropped anything).
pub fn receive_queue_drops(control: &[u8]) -> Option<u32> {
    let mut offset = 0;
    while offset + HEADER <= control.len() {
        let length = usize::from_ne_bytes(control.get(offset..offset + WORD)?.try_into().ok()?);
        let level = i32::from_ne_bytes(
            control
                .get(offset + WORD..offset + WORD + 4)?
                .try_into()
                .ok()?,
        );
        let kind = i32::from_ne_bytes(
            control
                .get(offset + WORD + 4..offset + WORD + 8)?
                .try_into()
                .ok()?,
        );
        if length < HEADER {
            return None;
        }
        if level == libc::SOL_SOCKET && kind == libc::SO_RXQ_OVFL {
            let data = control.get(offset + HEADER..offset + HEADER + 4)?;
            return Some(u32::from_ne_bytes(data.try_into().ok()?));
        }
        offset += length.div_ceil(WORD) * WORD;
    }
    None
}

/// Turns the cumulative counter into "dropped since last seen", across wrap-around.
#[derive(Debug, Default)]
pub struct DropCounter {
    last: u32,
}

impl DropCounter {
    pub fn delta(&mut self, cumulative: u32) -> u64 {
        let delta = cumulative.wrapping_sub(self.last);
        self.last = cumulative;
        u64::from(delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control_message(level: i32, kind: i32, value: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(HEADER + 4).to_ne_bytes());
        bytes.extend_from_slice(&level.to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.resize(HEADER, 0);
        bytes.extend_from_slice(&value.to_ne_bytes());
        bytes.resize((HEADER + 4).div_ceil(WORD) * WORD, 0);
        bytes
    }

    #[test]
    fn finds_the_overflow_counter_after_other_messages() {
        let mut control = control_message(libc::SOL_SOCKET, libc::SO_TIMESTAMP, 9);
        control.extend(control_message(libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 42));
        assert_eq!(receive_queue_drops(&control), Some(42));
        assert_eq!(receive_queue_drops(&control[..HEADER]), None);
        assert_eq!(receive_queue_drops(&[]), None);
    }

    #[test]
    fn a_corrupt_length_ends_the_walk() {
        let mut control = control_message(libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 7);
        control[..WORD].copy_from_slice(&1usize.to_ne_bytes());
        assert_eq!(receive_queue_drops(&control), None);
    }

    #[test]
    fn counts_drops_since_last_seen_across_wrap() {
        let mut counter = DropCounter::default();
        assert_eq!(counter.delta(5), 5);
        assert_eq!(counter.delta(5), 0);
        assert_eq!(counter.delta(8), 3);
        let mut counter = DropCounter { last: u32::MAX - 1 };
        assert_eq!(counter.delta(2), 4);
    }

    #[test]
    fn reads_ipv4_ipv6_and_mapped_senders() {
        let mut v4 = vec![0u8; 16];
        v4[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&2055u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(socket_address(&v4), Some("10.0.0.1:2055".parse().unwrap()));

        let mut v6 = vec![0u8; 28];
        v6[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&514u16.to_be_bytes());
        v6[8..24].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(
            socket_address(&v6),
            Some("[2001:db8::1]:514".parse().unwrap())
        );

        v6[8..24].copy_from_slice(&"::ffff:192.0.2.7".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(socket_address(&v6), Some("192.0.2.7:514".parse().unwrap()));
        assert_eq!(socket_address(&v6[..10]), None);
        assert_eq!(socket_address(&[0, 0, 0, 0]), None);
    }
}
