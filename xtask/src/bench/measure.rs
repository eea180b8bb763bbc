//! The measurements taken on every collector, ours and peers alike: drain-mode capacity, the
//! highest zero-loss rate (bisection over paced rates), CPU seconds per million events at the
//! same paced rates for all (a low one and a high one), peak RSS, and the final count of what it
//! wrote against what was sent.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};

use super::collector::Collector;
use super::loadgen::{LoadGenerator, Pace, Until};
use super::{procfs, sys};

/// A step keeps up when the socket queue fell below this at least once in its second half
/// (a collector that keeps up empties its queue again and again; one that does not grows it).
const KEPT_UP_QUEUE_BYTES: u64 = 256 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub step: Duration,
    pub bisections: usize,
    pub cpu_for: Duration,
    pub drain_datagrams: u64,
    /// The paced rates every collector of a protocol gets for the CPU figures (datagrams/s),
    /// lowest first.
    pub cpu_rates: [f64; 2],
    /// The sender's unpaced rate measured into the bare loop (datagrams/s).
    pub sender_max: f64,
}

/// Everything sent to one collector and what became of it.
#[derive(Debug, Default)]
struct Ledger {
    events: u64,
    datagrams: u64,
    drops_at_start: u64,
}

#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub collector: String,
    pub version: String,
    pub receive_buffer: Option<u64>,
    pub events_per_datagram: u64,
    pub zero_loss_datagrams: Option<f64>,
    /// The zero-loss rate is the sender's limit, not the collector's.
    pub zero_loss_sender_bound: bool,
    /// CPU seconds per million events at each of `Settings::cpu_rates`.
    pub cpu: Vec<CpuAtRate>,
    pub drain_datagrams: Option<f64>,
    pub peak_rss: u64,
    pub sent_events: u64,
    pub kernel_drops: u64,
    pub written_events: Option<u64>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct CpuAtRate {
    /// The rate asked for (datagrams/s).
    pub rate: f64,
    pub seconds_per_million: f64,
    /// No datagram was lost at this rate: a lossy rate's CPU covers only what got in.
    pub lossless: bool,
}

impl Outcome {
    /// CPU seconds per million events at the `index`th paced rate.
    pub fn cpu_at(&self, index: usize) -> Option<f64> {
        self.cpu.get(index).map(|cpu| cpu.seconds_per_million)
    }

    pub fn zero_loss_events(&self) -> Option<f64> {
        self.zero_loss_datagrams
            .map(|d| d * self.events_per_datagram as f64)
    }

    pub fn drain_events(&self) -> Option<f64> {
        self.drain_datagrams
            .map(|d| d * self.events_per_datagram as f64)
    }

    /// Events lost inside the collector: sent, minus kernel drops, minus written.
    pub fn unaccounted(&self) -> Option<i64> {
        let written = self.written_events?;
        let reached = self
            .sent_events
            .saturating_sub(self.kernel_drops * self.events_per_datagram);
        Some(reached as i64 - written as i64)
    }

    pub fn json(&self) -> Value {
        json!({
            "collector": self.collector,
            "version": self.version,
            "receive_buffer_bytes": self.receive_buffer,
            "zero_loss_datagrams_per_second": self.zero_loss_datagrams,
            "zero_loss_events_per_second": self.zero_loss_events(),
            "zero_loss_sender_bound": self.zero_loss_sender_bound,
            "cpu_seconds_per_million_events": self.cpu.iter().map(|cpu| json!({
                "rate_datagrams_per_second": cpu.rate,
                "seconds": cpu.seconds_per_million,
                "lossless": cpu.lossless,
            })).collect::<Vec<_>>(),
            "drain_datagrams_per_second": self.drain_datagrams,
            "drain_events_per_second": self.drain_events(),
            "peak_rss_bytes": self.peak_rss,
            "sent_events": self.sent_events,
            "kernel_drops_datagrams": self.kernel_drops,
            "written_events": self.written_events,
            "unaccounted_events": self.unaccounted(),
        })
    }
}

pub fn measure(
    collector: &mut dyn Collector,
    generator: &mut LoadGenerator,
    settings: &Settings,
) -> Result<Outcome> {
    let port = collector.port();
    let events_per_datagram = generator.traffic().events_per_datagram;
    let mut ledger = Ledger {
        drops_at_start: procfs::udp_port(port).drops,
        ..Ledger::default()
    };
    let setup = generator.send_setup()?;
    ledger.events += setup.events;
    ledger.datagrams += setup.datagrams;
    let mut outcome = Outcome {
        collector: collector.name().to_owned(),
        version: collector.version(),
        receive_buffer: procfs::receive_buffer(port),
        events_per_datagram,
        ..Outcome::default()
    };
    settle(collector, generator, &ledger);
    eprintln!(
        "xtask: {} {}: receive buffer {:?} bytes",
        outcome.collector,
        generator.traffic().protocol.name(),
        outcome.receive_buffer
    );

    let drain = drain(collector, generator, &mut ledger, settings.drain_datagrams)?;
    outcome.drain_datagrams = drain;
    eprintln!(
        "xtask:   drain mode: {:?} datagrams/s",
        drain.map(|d| d.round())
    );

    let ceiling = settings.sender_max * 0.98;
    let mut high = drain.map_or(ceiling, |d| (d * 1.2).min(ceiling));
    let mut low = 0.0;
    let (rate, kept_up) = step(collector, generator, &mut ledger, high, settings.step)?;
    if kept_up {
        outcome.zero_loss_datagrams = Some(rate);
        outcome.zero_loss_sender_bound = high >= ceiling;
    } else {
        for _ in 0..settings.bisections {
            let middle = (low + high) / 2.0;
            let (rate, kept_up) = step(collector, generator, &mut ledger, middle, settings.step)?;
            if kept_up {
                low = rate;
            } else {
                high = middle;
            }
        }
        outcome.zero_loss_datagrams = (low > 0.0).then_some(low);
    }
    eprintln!(
        "xtask:   zero loss: {:?} datagrams/s",
        outcome.zero_loss_datagrams.map(|d| d.round())
    );

    for rate in settings.cpu_rates {
        let cpu = cpu_per_million(collector, generator, &mut ledger, settings, rate)?;
        eprintln!(
            "xtask:   {:.2} CPU-s per million events at {rate:.0} datagrams/s (lossless: {})",
            cpu.seconds_per_million, cpu.lossless
        );
        outcome.cpu.push(cpu);
    }

    outcome.peak_rss = procfs::peak_rss(&collector.measured_pids());
    settle(collector, generator, &ledger);
    outcome.kernel_drops = procfs::udp_port(port)
        .drops
        .saturating_sub(ledger.drops_at_start);
    outcome.sent_events = ledger.events;
    outcome.written_events = collector.finish()?;
    eprintln!(
        "xtask:   sent {} events, {} datagrams dropped by the kernel, {:?} written",
        outcome.sent_events, outcome.kernel_drops, outcome.written_events
    );
    Ok(outcome)
}

fn expected_written(generator: &LoadGenerator, ledger: &Ledger, port: u16) -> u64 {
    let drops = procfs::udp_port(port)
        .drops
        .saturating_sub(ledger.drops_at_start);
    ledger
        .events
        .saturating_sub(drops * generator.traffic().events_per_datagram)
}

/// Waits until the socket queue is empty and, where the collector shows its output, until it
/// wrote everything that reached it (or stopped writing for a while).
fn settle(collector: &mut dyn Collector, generator: &LoadGenerator, ledger: &Ledger) {
    let port = collector.port();
    let deadline = Instant::now() + Duration::from_secs(30);
    while procfs::udp_port(port).rx_queue > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let expected = expected_written(generator, ledger, port);
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut last = (collector.events_written(), Instant::now());
    while let Some(written) = last.0 {
        if written >= expected || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        let now = collector.events_written();
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_millis(2500) {
            break;
        }
    }
}

/// One paced step: did the collector keep up at `rate` datagrams/s? Returns the rate the
/// sender achieved.
fn step(
    collector: &mut dyn Collector,
    generator: &mut LoadGenerator,
    ledger: &mut Ledger,
    rate: f64,
    duration: Duration,
) -> Result<(f64, bool)> {
    let port = collector.port();
    settle(collector, generator, ledger);
    let drops_before = procfs::udp_port(port).drops;
    let written_before = collector.events_written();
    let started = Instant::now();
    let phase = generator.start(Pace::Rate(rate), Until::Elapsed(duration));
    let mut lowest_late_queue = u64::MAX;
    while !phase.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        if started.elapsed() > duration / 2 {
            lowest_late_queue = lowest_late_queue.min(procfs::udp_port(port).rx_queue);
        }
    }
    let sent = generator.wait(phase)?;
    ledger.events += sent.events;
    ledger.datagrams += sent.datagrams;
    settle(collector, generator, ledger);
    let drops = procfs::udp_port(port).drops.saturating_sub(drops_before);
    let written = match (written_before, collector.events_written()) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    let kept_up = drops == 0
        && lowest_late_queue <= KEPT_UP_QUEUE_BYTES
        && written.is_none_or(|w| w >= sent.events);
    eprintln!(
        "xtask:   step {:>9.0} datagrams/s: {} dropped, late queue {} B, written {:?} of {} -> {}",
        sent.datagrams_per_second(),
        drops,
        lowest_late_queue,
        written,
        sent.events,
        if kept_up { "kept up" } else { "lost" }
    );
    Ok((sent.datagrams_per_second(), kept_up))
}

/// Stops the collector, fills its receive buffer, resumes it and times the queue emptying
/// (and, where it counts, its count of datagrams or lines reaching the total).
fn drain(
    collector: &mut dyn Collector,
    generator: &mut LoadGenerator,
    ledger: &mut Ledger,
    datagrams: u64,
) -> Result<Option<f64>> {
    let port = collector.port();
    settle(collector, generator, ledger);
    let events_per_datagram = generator.traffic().events_per_datagram;
    let progress = |collector: &mut dyn Collector| {
        collector
            .datagrams_received()
            .or_else(|| Some(collector.events_written()? / events_per_datagram))
    };
    let progress_before = progress(collector);
    let drops_before = procfs::udp_port(port).drops;
    let pids = collector.measured_pids();
    for pid in &pids {
        sys::signal(*pid, sys::Signal::Stop)?;
    }
    std::thread::sleep(Duration::from_millis(100));
    let sent = generator.send(Pace::Unlimited, Until::Datagrams(datagrams));
    std::thread::sleep(Duration::from_millis(20));
    let queued = procfs::udp_port(port).drops.saturating_sub(drops_before);
    let queued = sent
        .as_ref()
        .map_or(0, |s| s.datagrams.saturating_sub(queued));
    let started = Instant::now();
    for pid in &pids {
        sys::signal(*pid, sys::Signal::Continue)?;
    }
    let sent = sent?;
    ledger.events += sent.events;
    ledger.datagrams += sent.datagrams;
    let deadline = started + Duration::from_secs(60);
    while procfs::udp_port(port).rx_queue > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut finished = started.elapsed();
    if let Some(before) = progress_before {
        while progress(collector).is_some_and(|now| now < before + queued)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        finished = started.elapsed();
    }
    if Instant::now() >= deadline || queued == 0 {
        return Ok(None);
    }
    Ok(Some(queued as f64 / finished.as_secs_f64().max(1e-9)))
}

/// CPU seconds per million events at `rate` datagrams/s, and whether that rate was lossless.
fn cpu_per_million(
    collector: &mut dyn Collector,
    generator: &mut LoadGenerator,
    ledger: &mut Ledger,
    settings: &Settings,
    rate: f64,
) -> Result<CpuAtRate> {
    let port = collector.port();
    settle(collector, generator, ledger);
    let pids = collector.measured_pids();
    let drops_before = procfs::udp_port(port).drops;
    let cpu_before = procfs::cpu_seconds(&pids);
    let sent = generator.send(Pace::Rate(rate), Until::Elapsed(settings.cpu_for))?;
    ledger.events += sent.events;
    ledger.datagrams += sent.datagrams;
    settle(collector, generator, ledger);
    let cpu = procfs::cpu_seconds(&pids) - cpu_before;
    let drops = procfs::udp_port(port).drops.saturating_sub(drops_before);
    let handled = sent
        .events
        .saturating_sub(drops * generator.traffic().events_per_datagram);
    Ok(CpuAtRate {
        rate,
        seconds_per_million: cpu / handled.max(1) as f64 * 1e6,
        lossless: drops == 0,
    })
}
