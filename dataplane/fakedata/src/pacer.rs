use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

const TICK: Duration = Duration::from_millis(10);

/// How many events a sender owes at each moment. A paced sender sends a burst every 10 ms
/// sized to keep the average at the rate, which is what a busy exporter looks like; an unpaced
/// one sends `burst` at a time and yields between bursts.
pub(crate) struct Pacer {
    rate_per_second: Option<u64>,
    count: Option<u64>,
    burst: u64,
    started: Instant,
    ticker: Interval,
}

impl Pacer {
    pub fn new(rate_per_second: Option<u64>, count: Option<u64>, burst: u64) -> Pacer {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Pacer {
            rate_per_second,
            count,
            burst: burst.max(1),
            started: Instant::now(),
            ticker,
        }
    }

    /// Events that should have been sent by now, in all, given `sent` so far.
    pub fn due(&self, sent: u64) -> u64 {
        let due = match self.rate_per_second {
            Some(rate) => (self.started.elapsed().as_secs_f64() * rate as f64).ceil() as u64,
            None => sent + self.burst,
        };
        self.count.map_or(due, |count| due.min(count))
    }

    pub fn finished(&self, sent: u64) -> bool {
        self.count.is_some_and(|count| sent >= count)
    }

    /// Waits for the next burst; true when `shutdown` came first.
    pub async fn wait(&mut self, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> bool {
        match self.rate_per_second {
            Some(_) => tokio::select! {
                _ = shutdown => true,
                _ = self.ticker.tick() => false,
            },
            None => tokio::select! {
                _ = shutdown => true,
                _ = tokio::task::yield_now() => false,
            },
        }
    }
}
