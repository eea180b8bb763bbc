//! What the senders to brokers share (Kafka topics, NATS subjects): one generated event per
//! message, paced, with the broker's confirmation awaited every [`CONFIRM_WINDOW`] messages so
//! the count returned is what the broker took.

use std::future::Future;

use anyhow::{Result, anyhow};
use chrono::Utc;

use crate::generator::{FakeFormat, FakeGenerator};
use crate::pacer::Pacer;

/// Messages sent between two waits for the broker's confirmation: bounds what is in flight.
const CONFIRM_WINDOW: u64 = 1000;

/// Where to send one event per message (`kafka://HOST:PORT/TOPIC`, `nats://HOST:PORT/SUBJECT`),
/// how many, how fast, and which.
#[derive(Debug, Clone)]
pub struct MessageSendOptions {
    pub target: String,
    pub format: FakeFormat,
    /// Events per second; as fast as the broker takes them when `None`.
    pub rate_per_second: Option<u64>,
    pub count: Option<u64>,
    pub seed: u64,
}

/// The server part and the name (topic, subject) of `SCHEME://SERVER/NAME`; an error saying
/// the shape (`kafka://HOST:PORT/TOPIC`) otherwise.
pub(crate) fn split_target<'a>(
    target: &'a str,
    scheme: &str,
    shape: &str,
) -> Result<(&'a str, &'a str)> {
    target
        .strip_prefix(scheme)
        .and_then(|rest| rest.split_once('/'))
        .filter(|(server, name)| !server.is_empty() && !name.is_empty())
        .ok_or_else(|| anyhow!("target {target:?} must look like {shape}"))
}

/// A broker client sending one message per event.
pub(crate) trait MessageSink {
    /// Sends (or queues) one message.
    async fn send(&mut self, message: &[u8]) -> Result<()>;
    /// Waits until the broker took every message sent so far.
    async fn confirm(&mut self) -> Result<()>;
}

/// Sends one message per event until the plan's count or `shutdown`; how many the broker
/// confirmed.
pub(crate) async fn send_messages(
    sink: &mut impl MessageSink,
    plan: &MessageSendOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<u64> {
    let mut generator = FakeGenerator::new(plan.seed);
    let mut pacer = Pacer::new(plan.rate_per_second, plan.count, CONFIRM_WINDOW);
    let mut sent = 0u64;
    let mut event = Vec::with_capacity(512);
    tokio::pin!(shutdown);
    loop {
        let due = pacer.due(sent);
        while sent < due {
            let window = (due - sent).min(CONFIRM_WINDOW);
            for _ in 0..window {
                event.clear();
                generator.render(plan.format, Utc::now(), &mut event);
                sink.send(&event).await?;
            }
            sink.confirm().await?;
            sent += window;
        }
        if pacer.finished(sent) || pacer.wait(&mut shutdown).await {
            return Ok(sent);
        }
    }
}
