//! The overload flood against our proxy: ten times its zero-loss rate (or the sender's maximum)
//! for a while, then checks that it is alive, stayed under 256 MiB resident, accounts for every
//! datagram (sent = received + kernel drops) and receives a normal-rate stream without loss
//! right after.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};

use super::collector::Collector;
use super::loadgen::{LoadGenerator, Pace, Until};
use super::ours::Ours;
use super::procfs;

pub const RSS_LIMIT: u64 = 256 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct Flood {
    pub rate: f64,
    pub sent: u64,
    pub received: u64,
    pub kernel_drops: u64,
    pub proxy_receive_buffer_drops: Option<u64>,
    pub rows_dropped: Option<u64>,
    pub peak_rss: u64,
    pub alive: bool,
    pub recovery_sent: u64,
    pub recovery_received: u64,
    pub recovery_drops: u64,
    pub seconds: f64,
}

impl Flood {
    pub fn accounted(&self) -> bool {
        self.sent == self.received + self.kernel_drops
    }

    pub fn recovered(&self) -> bool {
        self.recovery_drops == 0 && self.recovery_received == self.recovery_sent
    }

    pub fn pass(&self) -> bool {
        self.alive && self.peak_rss <= RSS_LIMIT && self.accounted() && self.recovered()
    }

    pub fn json(&self) -> Value {
        json!({
            "seconds": self.seconds,
            "rate_datagrams_per_second": self.rate,
            "sent_datagrams": self.sent,
            "received_datagrams": self.received,
            "kernel_drops": self.kernel_drops,
            "proxy_receive_buffer_drops": self.proxy_receive_buffer_drops,
            "rows_dropped": self.rows_dropped,
            "peak_rss_bytes": self.peak_rss,
            "alive": self.alive,
            "accounted": self.accounted(),
            "recovery_sent": self.recovery_sent,
            "recovery_received": self.recovery_received,
            "recovery_kernel_drops": self.recovery_drops,
            "pass": self.pass(),
        })
    }
}

pub fn flood(
    ours: &mut Ours,
    generator: &mut LoadGenerator,
    flood_rate: Option<f64>,
    normal_rate: f64,
    duration: Duration,
    recovery: Duration,
) -> Result<Flood> {
    let port = ours.port();
    let drops_at_start = procfs::udp_port(port).drops;
    let received_at_start = ours.datagrams_received().unwrap_or(0);
    let setup = generator.send_setup()?;
    let mut result = Flood {
        rate: flood_rate.unwrap_or(0.0),
        seconds: duration.as_secs_f64(),
        ..Flood::default()
    };
    let pace = flood_rate.map_or(Pace::Unlimited, Pace::Rate);
    let phase = generator.start(pace, Until::Elapsed(duration));
    let mut alive = true;
    while !phase.is_finished() {
        std::thread::sleep(Duration::from_millis(200));
        alive &= ours.is_alive();
    }
    let sent = generator.wait(phase)?;
    if flood_rate.is_none() {
        result.rate = sent.datagrams_per_second();
    }
    result.sent = setup.datagrams + sent.datagrams;
    // Let the proxy work through its queue, then count.
    let deadline = Instant::now() + Duration::from_secs(120);
    while procfs::udp_port(port).rx_queue > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut received = ours.datagrams_received();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = ours.datagrams_received();
        if now == received || Instant::now() > deadline {
            break;
        }
        received = now;
    }
    alive &= ours.is_alive();
    result.received = received.unwrap_or(0).saturating_sub(received_at_start);
    result.kernel_drops = procfs::udp_port(port).drops.saturating_sub(drops_at_start);
    result.proxy_receive_buffer_drops = ours.receive_buffer_drops();
    result.rows_dropped = ours.rows_dropped();

    // A normal stream right after the flood must arrive whole.
    std::thread::sleep(Duration::from_secs(1));
    let drops_before = procfs::udp_port(port).drops;
    let received_before = ours.datagrams_received().unwrap_or(0);
    let sent = generator.send(Pace::Rate(normal_rate), Until::Elapsed(recovery))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        if procfs::udp_port(port).rx_queue == 0
            && ours
                .datagrams_received()
                .unwrap_or(0)
                .saturating_sub(received_before)
                >= sent.datagrams
        {
            break;
        }
    }
    result.recovery_sent = sent.datagrams;
    result.recovery_received = ours
        .datagrams_received()
        .unwrap_or(0)
        .saturating_sub(received_before);
    result.recovery_drops = procfs::udp_port(port).drops.saturating_sub(drops_before);
    result.peak_rss = procfs::peak_rss(&ours.measured_pids());
    result.alive = alive && ours.is_alive();
    Ok(result)
}
