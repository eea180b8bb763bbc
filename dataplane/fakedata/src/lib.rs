//! Generated firewall-style events for demos, tests and benchmarks: deterministic for a seed,
//! rendered as RFC 5424, RFC 3164 or bare JSON datagrams, and sent over UDP at a paced rate.
//!
//! It must not depend on any pipeline crate: it is a client, like any exporter users point at
//! the proxy.

mod generator;
mod sender;

pub use generator::{FakeEvent, FakeFormat, FakeGenerator};
pub use sender::{SendOptions, parse_udp_target, send_udp};
