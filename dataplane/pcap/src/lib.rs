//! Reading captures for offline replay: pcap (microsecond and nanosecond, either byte order)
//! and pcapng files, yielding the UDP datagrams inside (Ethernet, 802.1Q, Linux cooked and raw
//! IP link types; IPv4 and IPv6) with their capture time and addresses.
//!
//! Pure: bytes in, datagrams out. It must not open files or sockets; a truncated or unknown
//! record ends the iteration with an error naming where, never a panic.
#![forbid(unsafe_code)]

mod frames;
mod reader;

pub use frames::{UdpDatagram, udp_datagram};
pub use reader::{CaptureError, Packet, packets};
