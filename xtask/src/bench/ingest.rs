//! `cargo xtask bench ingest`: end-to-end UDP ingest of our proxy against its peers on one
//! pinned core each, fed by the same load generator on the other core. For each protocol:
//! the bare receive ceiling, then ours (per spool codec) and every peer (drain capacity,
//! zero-loss rate, CPU per million events at a low and a high paced rate, peak RSS, final
//! accounting), each collector several times in interleaved rounds so a noisy host shows as
//! spread; then an overload flood against ours.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::ceiling::{self, Ceiling};
use super::collector::{Collector, discard_run_data, work_dir};
use super::flood::{self, Flood};
use super::flow_peers::FlowPeer;
use super::loadgen::{LoadGenerator, SENDER_CORE};
use super::measure::{self, Outcome, Settings};
use super::ours::{self, Ours};
use super::packages::{self, Peers};
use super::runs::Runs;
use super::syslog_peers::{LineWriter, RsyslogSetup};
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
/// The high paced rate of the CPU figures, for every protocol (datagrams/s).
const HIGH_RATE: f64 = 200_000.0;

pub struct ProtocolResult {
    pub protocol: Protocol,
    pub ceiling: Ceiling,
    pub cpu_rates: [f64; 2],
    pub rounds: usize,
    /// Every run, in the order run (round after round).
    pub outcomes: Vec<Outcome>,
    /// Each collector's configuration, in the order of the table.
    pub configs: Vec<(String, String)>,
}

pub struct IngestResults {
    pub quick: bool,
    pub rmem_note: String,
    pub protocols: Vec<ProtocolResult>,
    pub floods: Vec<(Protocol, Flood)>,
    pub seconds: f64,
}

pub fn ingest(root: &Path, target: &Path, options: &IngestOptions) -> Result<serde_json::Value> {
    let quick = options.quick;
    let started = Instant::now();
    let peers = packages::ensure()?;
    let binaries = Binaries::build(root, target)?;
    let rmem = RmemMax::raise(RECEIVE_BUFFER as u64);
    // The orchestrator and the load generator share core 1; collectors own core 0.
    sys::pin_current_thread(SENDER_CORE)?;
    let base = PathBuf::from(WORK);
    let mut ports = FIRST_PORT..u16::MAX;
    let mut port = || ports.next().context("ran out of port numbers");
    let mut protocols = Vec::new();
    let mut floods = Vec::new();
    let rounds = if quick { 2 } else { 3 };
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
            cpu_rates: [
                if protocol == Protocol::Syslog {
                    50_000.0
                } else {
                    10_000.0
                },
                HIGH_RATE.min(ceiling.sender_datagrams_per_second * 0.9),
            ],
            sender_max: ceiling.sender_datagrams_per_second,
        };
        let mut outcomes = Vec::new();
        let mut configs = Vec::new();
        // Interleaved rounds: a slow minute of the host hits one run of each, not every run
        // of one collector.
        for round in 0..rounds {
            for name in collectors(protocol, &binaries.baselines) {
                let name = name.as_str();
                if !options.wants_collector(name) {
                    continue;
                }
                let port = port()?;
                let dir = work_dir(&base, &format!("{}-{name}-{round}", protocol.name()))?;
                let Some(mut collector) = start(name, protocol, &peers, &binaries, &dir, port)?
                else {
                    continue;
                };
                if round == 0 {
                    configs.push((name.to_owned(), collector.config()));
                }
                let mut generator = LoadGenerator::new(traffic.clone(), port);
                eprintln!(
                    "xtask: measuring {name} on {} (round {} of {rounds})",
                    protocol.name(),
                    round + 1
                );
                let outcome = measure::measure(collector.as_mut(), &mut generator, &settings)
                    .with_context(|| format!("measuring {name} on {}", protocol.name()))?;
                outcomes.push(outcome);
                drop(collector);
                discard_run_data(&dir);
            }
        }
        if protocol != Protocol::Ipfix && options.wants_collector("flood") {
            let zero_loss = Runs::group(&outcomes)
                .first()
                .and_then(|ours| ours.median(|o| o.zero_loss_datagrams))
                .unwrap_or(settings.cpu_rates[0]);
            let flood_rate = (zero_loss * 10.0 < ceiling.sender_datagrams_per_second * 0.98)
                .then_some(zero_loss * 10.0);
            let port = port()?;
            let dir = work_dir(&base, &format!("flood-{}", protocol.name()))?;
            // The proxy's default buffer, so an overload reaches the kernel's drop counter.
            let mut ours = Ours::start(
                &binaries.shipped,
                "bytefreezer",
                &dir,
                protocol,
                port,
                FLOOD_RECEIVE_BUFFER,
                None,
            )?;
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
            drop(ours);
            discard_run_data(&dir);
            floods.push((protocol, result));
        }
        protocols.push(ProtocolResult {
            protocol,
            ceiling,
            cpu_rates: settings.cpu_rates,
            rounds,
            outcomes,
            configs,
        });
    }
    let results = IngestResults {
        quick,
        rmem_note: rmem.note(),
        protocols,
        floods,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(report::ingest(&results))
}

/// The collectors of a protocol, ours first: our default spool codec, then ours with the codec
/// of a like-for-like peer (`none` against plain files, `lz4` against nfcapd's LZ4); each
/// baseline build runs right after ours with its codec, so the two alternate within a round.
pub fn collectors(protocol: Protocol, baselines: &[Baseline]) -> Vec<String> {
    let mut names: Vec<String> = match protocol {
        Protocol::Syslog => vec![
            "bytefreezer",
            "bytefreezer-release",
            "bytefreezer-none",
            "rsyslog",
            "rsyslog-default",
            "syslog-ng",
        ],
        Protocol::NetflowV9 | Protocol::Ipfix => vec![
            "bytefreezer",
            "bytefreezer-release",
            "bytefreezer-none",
            "bytefreezer-lz4",
            "nfcapd",
            "nfcapd-lz4",
            "nfacctd",
        ],
    }
    .into_iter()
    .map(str::to_owned)
    .collect();
    for baseline in baselines {
        let ours = format!("bytefreezer-{}", baseline.codec);
        let at = match names.iter().position(|name| *name == ours) {
            Some(at) => at + 1,
            None => {
                // Ours with that codec goes where the peers start, so it is measured too.
                let at = names
                    .iter()
                    .position(|name| !name.starts_with("bytefreezer"))
                    .unwrap_or(names.len());
                names.insert(at, ours);
                at + 1
            }
        };
        let mut at = at;
        while names[at..].first().is_some_and(|name| name.contains('@')) {
            at += 1;
        }
        names.insert(at, baseline.collector());
    }
    names
}

/// An earlier build measured beside this one (BYTEFREEZER_BENCH_BASELINES): it runs as
/// `bytefreezer-{codec}@{label}` against `bytefreezer-{codec}` of this build, so a change's
/// cost or gain comes from alternating runs on one host instead of runs on different hosts.
pub struct Baseline {
    pub label: String,
    pub codec: String,
    pub binary: PathBuf,
}

impl Baseline {
    /// `label:codec=PATH`, comma-separated: e.g. `unhardened:lz4=/var/tmp/old/bytefreezer`.
    fn parse_all(spec: &str) -> Result<Vec<Baseline>> {
        spec.split(',')
            .filter(|part| !part.trim().is_empty())
            .map(|part| {
                let (name, binary) = part.trim().split_once('=').with_context(|| {
                    format!("BYTEFREEZER_BENCH_BASELINES: `{part}` is not label:codec=PATH")
                })?;
                let (label, codec) = name.split_once(':').with_context(|| {
                    format!("BYTEFREEZER_BENCH_BASELINES: `{name}` names no codec (label:codec)")
                })?;
                let binary = PathBuf::from(binary);
                anyhow::ensure!(
                    binary.is_file(),
                    "BYTEFREEZER_BENCH_BASELINES: {label} names no file: {}",
                    binary.display()
                );
                Ok(Baseline {
                    label: label.to_owned(),
                    codec: codec.to_owned(),
                    binary,
                })
            })
            .collect()
    }

    fn collector(&self) -> String {
        format!("bytefreezer-{}@{}", self.codec, self.label)
    }
}

/// The binaries measured: `shipped` (the `dist` profile, or BYTEFREEZER_BENCH_BINARY for a
/// binary built elsewhere) for every ratio against a peer, and the README's `release` profile
/// beside it, so the table shows what the fast-building profile costs at run time.
struct Binaries {
    shipped: PathBuf,
    release: Option<PathBuf>,
    baselines: Vec<Baseline>,
}

impl Binaries {
    fn build(root: &Path, target: &Path) -> Result<Binaries> {
        let baselines = match std::env::var("BYTEFREEZER_BENCH_BASELINES") {
            Ok(spec) => Baseline::parse_all(&spec)?,
            Err(_) => Vec::new(),
        };
        if let Some(binary) = std::env::var_os("BYTEFREEZER_BENCH_BINARY") {
            let shipped = PathBuf::from(binary);
            anyhow::ensure!(
                shipped.is_file(),
                "BYTEFREEZER_BENCH_BINARY names no file: {}",
                shipped.display()
            );
            return Ok(Binaries {
                shipped,
                release: None,
                baselines,
            });
        }
        for profile in ["dist", "release"] {
            run(crate::cargo()
                .args(["build", "--profile", profile, "--bin", "bytefreezer"])
                .current_dir(root))
            .with_context(|| {
                format!("cannot build the {profile} binary for the ingest benchmark")
            })?;
        }
        Ok(Binaries {
            shipped: ours::binary(target, "dist"),
            release: Some(ours::binary(target, "release")),
            baselines,
        })
    }
}

/// Starts a collector by name; `None` when this run has no binary for it (the `release`
/// variant beside a BYTEFREEZER_BENCH_BINARY).
fn start(
    name: &str,
    protocol: Protocol,
    peers: &Peers,
    binaries: &Binaries,
    dir: &Path,
    port: u16,
) -> Result<Option<Box<dyn Collector>>> {
    let buffer = RECEIVE_BUFFER;
    let rsyslog = |setup| LineWriter::rsyslog(&peers.rsyslogd, dir, port, buffer, setup);
    let nfcapd = |lz4| FlowPeer::nfcapd(&peers.nfcapd, &peers.nfdump, dir, port, buffer, lz4);
    let ours = |binary: &Path, codec| Ours::start(binary, name, dir, protocol, port, buffer, codec);
    Ok(Some(match name {
        "bytefreezer" => Box::new(ours(&binaries.shipped, None)?),
        "bytefreezer-release" => match &binaries.release {
            Some(release) => Box::new(ours(release, None)?),
            None => return Ok(None),
        },
        "rsyslog" => Box::new(rsyslog(RsyslogSetup::Tuned)?),
        "rsyslog-default" => Box::new(rsyslog(RsyslogSetup::Default)?),
        "syslog-ng" => Box::new(LineWriter::syslog_ng(&peers.syslog_ng, dir, port, buffer)?),
        "nfcapd" => Box::new(nfcapd(false)?),
        "nfcapd-lz4" => Box::new(nfcapd(true)?),
        "nfacctd" => Box::new(FlowPeer::nfacctd(&peers.nfacctd, dir, port, buffer)?),
        other if other.contains('@') => {
            let Some(baseline) = binaries.baselines.iter().find(|b| b.collector() == other) else {
                anyhow::bail!("no baseline build named {other}");
            };
            Box::new(ours(&baseline.binary, Some(&baseline.codec))?)
        }
        other => {
            let codec = other
                .strip_prefix("bytefreezer-")
                .with_context(|| format!("no collector named {other}"))?;
            Box::new(ours(&binaries.shipped, Some(codec))?)
        }
    }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline(label: &str, codec: &str) -> Baseline {
        Baseline {
            label: label.into(),
            codec: codec.into(),
            binary: PathBuf::from("/bin/true"),
        }
    }

    #[test]
    fn a_baseline_runs_right_after_ours_with_its_codec() {
        let names = collectors(
            Protocol::NetflowV9,
            &[baseline("old", "lz4"), baseline("older", "zstd")],
        );
        let at = |name: &str| names.iter().position(|n| n == name).unwrap();
        assert_eq!(at("bytefreezer-lz4@old"), at("bytefreezer-lz4") + 1);
        // A codec this build does not otherwise run is added, before the peers.
        assert_eq!(at("bytefreezer-zstd@older"), at("bytefreezer-zstd") + 1);
        assert!(at("bytefreezer-zstd@older") < at("nfcapd"));
        assert_eq!(names.len(), 7 + 3);
    }

    #[test]
    fn baselines_are_label_codec_and_an_existing_file() {
        let parsed = Baseline::parse_all("before:none=/bin/true, after:lz4=/bin/true").unwrap();
        assert_eq!(parsed[1].collector(), "bytefreezer-lz4@after");
        assert!(Baseline::parse_all("before=/bin/true").is_err());
        assert!(Baseline::parse_all("before:lz4=/no/such/file").is_err());
    }
}
