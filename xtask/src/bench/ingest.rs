//! `cargo xtask bench ingest`: end-to-end UDP ingest of our proxy against its peers on one
//! pinned core each, fed by the same load generator on the other core. For each protocol:
//! the bare receive ceiling, then ours and every peer (drain capacity, zero-loss rate, CPU per
//! million events, peak RSS, final accounting); then an overload flood against ours.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::ceiling::{self, Ceiling};
use super::collector::{Collector, work_dir};
use super::flood::{self, Flood};
use super::flow_peers::FlowPeer;
use super::loadgen::{LoadGenerator, SENDER_CORE};
use super::measure::{self, Outcome, Settings};
use super::ours::{self, Ours};
use super::packages::{self, Peers};
use super::syslog_peers::LineWriter;
use super::traffic::{Protocol, Traffic};
use super::{IngestOptions, report, sys};
use crate::run;

/// Every collector asks for this receive buffer; drain mode fills most of it.
pub const RECEIVE_BUFFER: usize = 256 * 1024 * 1024;
/// The flood runs ours with its default `udp_recv_buffer_bytes`.
const FLOOD_RECEIVE_BUFFER: usize = 8 * 1024 * 1024;
/// Working folders and logs of the collectors, outside the repository.
const WORK: &str = "/var/tmp/bytefreezer-bench";
const FIRST_PORT: u16 = 17_100;

pub struct ProtocolResult {
    pub protocol: Protocol,
    pub ceiling: Ceiling,
    pub common_rate: f64,
    pub outcomes: Vec<Outcome>,
}

pub struct IngestResults {
    pub quick: bool,
    pub rmem_note: String,
    pub protocols: Vec<ProtocolResult>,
    pub flood: Option<Flood>,
    pub seconds: f64,
}

pub fn ingest(root: &Path, target: &Path, options: &IngestOptions) -> Result<serde_json::Value> {
    let quick = options.quick;
    let started = Instant::now();
    let peers = packages::ensure()?;
    // BYTEFREEZER_BENCH_BINARY measures a binary built earlier (another checkout, a release).
    let binary = match std::env::var_os("BYTEFREEZER_BENCH_BINARY") {
        Some(binary) => PathBuf::from(binary),
        None => {
            run(Command::new("cargo")
                .args(["build", "--release", "--bin", "bytefreezer"])
                .current_dir(root))
            .context("cannot build the release binary for the ingest benchmark")?;
            ours::binary(target)
        }
    };
    anyhow::ensure!(
        binary.is_file(),
        "no bytefreezer binary at {}",
        binary.display()
    );
    let rmem = RmemMax::raise(RECEIVE_BUFFER as u64);
    // The orchestrator and the load generator share core 1; collectors own core 0.
    sys::pin_current_thread(SENDER_CORE)?;
    let base = PathBuf::from(WORK);
    let mut ports = FIRST_PORT..u16::MAX;
    let mut port = || ports.next().context("ran out of port numbers");
    let mut protocols = Vec::new();
    let mut flood = None;
    for protocol in [Protocol::Syslog, Protocol::NetflowV9, Protocol::Ipfix] {
        if !options.wants_protocol(protocol.name()) {
            continue;
        }
        let traffic = Arc::new(Traffic::build(protocol, root)?);
        let (send_for, drain_datagrams) = match (protocol, quick) {
            (Protocol::Syslog, true) => (Duration::from_secs(1), 200_000),
            (Protocol::Syslog, false) => (Duration::from_secs(3), 400_000),
            (_, true) => (Duration::from_secs(1), 50_000),
            (_, false) => (Duration::from_secs(3), 100_000),
        };
        let ceiling_port = port()?;
        let mut generator = LoadGenerator::new(traffic.clone(), ceiling_port);
        let ceiling = ceiling::measure(
            &mut generator,
            ceiling_port,
            RECEIVE_BUFFER,
            send_for,
            drain_datagrams,
        )?;
        eprintln!("xtask: {} ceiling: {ceiling:?}", protocol.name());
        let settings = Settings {
            step: if quick {
                Duration::from_millis(1500)
            } else {
                Duration::from_secs(5)
            },
            bisections: if quick { 4 } else { 6 },
            cpu_for: if quick {
                Duration::from_secs(3)
            } else {
                Duration::from_secs(10)
            },
            drain_datagrams,
            common_rate: if protocol == Protocol::Syslog {
                50_000.0
            } else {
                10_000.0
            },
            sender_max: ceiling.sender_datagrams_per_second,
        };
        let mut outcomes = Vec::new();
        for name in collectors(protocol) {
            if !options.wants_collector(name) {
                continue;
            }
            let port = port()?;
            let dir = work_dir(&base, &format!("{}-{name}", protocol.name()))?;
            let mut collector = start(name, protocol, &peers, &binary, &dir, port)?;
            let mut generator = LoadGenerator::new(traffic.clone(), port);
            eprintln!("xtask: measuring {name} on {}", protocol.name());
            let outcome = measure::measure(collector.as_mut(), &mut generator, &settings)
                .with_context(|| format!("measuring {name} on {}", protocol.name()))?;
            outcomes.push(outcome);
        }
        if protocol == Protocol::Syslog && options.wants_collector("flood") {
            let zero_loss = outcomes
                .first()
                .and_then(|o| o.zero_loss_datagrams)
                .unwrap_or(settings.common_rate);
            let flood_rate = (zero_loss * 10.0 < ceiling.sender_datagrams_per_second * 0.98)
                .then_some(zero_loss * 10.0);
            let port = port()?;
            let dir = work_dir(&base, "flood")?;
            // The proxy's default buffer, so an overload reaches the kernel's drop counter.
            let mut ours = Ours::start(&binary, &dir, protocol, port, FLOOD_RECEIVE_BUFFER)?;
            let mut generator = LoadGenerator::new(traffic.clone(), port);
            let (duration, recovery) = if quick {
                (Duration::from_secs(10), Duration::from_secs(3))
            } else {
                (Duration::from_secs(60), Duration::from_secs(10))
            };
            eprintln!("xtask: flooding ours at {flood_rate:?} datagrams/s for {duration:?}");
            let result = flood::flood(
                &mut ours,
                &mut generator,
                flood_rate,
                zero_loss * 0.5,
                duration,
                recovery,
            )?;
            eprintln!("xtask: flood: {result:?}");
            ours.finish()?;
            flood = Some(result);
        }
        protocols.push(ProtocolResult {
            protocol,
            ceiling,
            common_rate: settings.common_rate,
            outcomes,
        });
    }
    let results = IngestResults {
        quick,
        rmem_note: rmem.note(),
        protocols,
        flood,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(report::ingest(&results))
}

fn collectors(protocol: Protocol) -> [&'static str; 3] {
    match protocol {
        Protocol::Syslog => ["bytefreezer", "rsyslog", "syslog-ng"],
        Protocol::NetflowV9 | Protocol::Ipfix => ["bytefreezer", "nfcapd", "nfacctd"],
    }
}

fn start(
    name: &str,
    protocol: Protocol,
    peers: &Peers,
    binary: &Path,
    dir: &Path,
    port: u16,
) -> Result<Box<dyn Collector>> {
    let buffer = RECEIVE_BUFFER;
    Ok(match name {
        "bytefreezer" => Box::new(Ours::start(binary, dir, protocol, port, buffer)?),
        "rsyslog" => Box::new(LineWriter::rsyslog(&peers.rsyslogd, dir, port, buffer)?),
        "syslog-ng" => Box::new(LineWriter::syslog_ng(&peers.syslog_ng, dir, port, buffer)?),
        "nfcapd" => Box::new(FlowPeer::nfcapd(
            &peers.nfcapd,
            &peers.nfdump,
            dir,
            port,
            buffer,
        )?),
        _ => Box::new(FlowPeer::nfacctd(&peers.nfacctd, dir, port, buffer)?),
    })
}

/// Raises `net.core.rmem_max` so every collector gets the same large buffer with a plain
/// SO_RCVBUF, and puts the old value back at the end.
struct RmemMax {
    original: Option<u64>,
    note: String,
}

const RMEM_MAX: &str = "/proc/sys/net/core/rmem_max";

impl RmemMax {
    fn raise(wanted: u64) -> RmemMax {
        let current = std::fs::read_to_string(RMEM_MAX)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok());
        match current {
            Some(value) if value >= wanted => RmemMax {
                original: None,
                note: format!("net.core.rmem_max already {value}"),
            },
            Some(value) if sys::is_root() => match std::fs::write(RMEM_MAX, wanted.to_string()) {
                Ok(()) => RmemMax {
                    original: Some(value),
                    note: format!("net.core.rmem_max raised from {value} to {wanted} for the run"),
                },
                Err(error) => RmemMax {
                    original: None,
                    note: format!(
                        "cannot raise net.core.rmem_max ({error}): peers using SO_RCVBUF get at most {value}"
                    ),
                },
            },
            _ => RmemMax {
                original: None,
                note: format!(
                    "not root: net.core.rmem_max stays {current:?}, so peers using SO_RCVBUF get \
                     smaller buffers; run `sysctl -w net.core.rmem_max={wanted}` first"
                ),
            },
        }
    }

    fn note(&self) -> String {
        self.note.clone()
    }
}

impl Drop for RmemMax {
    fn drop(&mut self) {
        if let Some(original) = self.original {
            let _ = std::fs::write(RMEM_MAX, original.to_string());
        }
    }
}
