//! `bytefreezer agent`: host telemetry from eBPF probes (TCP connections, UDP and ICMP flows,
//! process exec and exit, DNS seen on the wire), enriched from /proc and sent as NDJSON
//! datagrams to a proxy's `ebpf` input. It owns the probes (probes/agent.bpf.c, compiled by
//! build.rs and embedded), their record layout, and the wire format of docs/ebpf.md.
//!
//! It must not store, batch for durability or retry: like every UDP exporter it sends and
//! forgets, and the proxy owns everything after the datagram. It must stay within its bounds
//! (fixed kernel maps, one ring buffer, bounded process and DNS tables), counting every record
//! it loses, and never attach to anything but stable kernel interfaces (tracepoints and a
//! socket filter).

mod agent;
mod clock;
mod dns;
mod probes;
mod procfs;
mod records;
mod wire;

pub use agent::{Agent, AgentSettings, host_name, run};
pub use probes::probes_built;
