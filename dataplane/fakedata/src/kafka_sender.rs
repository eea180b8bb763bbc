use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::future::Future;

use crate::generator::{FakeFormat, FakeGenerator};
use crate::pacer::Pacer;

/// Events produced between two waits for their deliveries: bounds what is in flight.
const DELIVERY_WINDOW: u64 = 1000;

/// Where and how to produce events to a Kafka topic (a `kafka` input reads it).
#[derive(Debug, Clone)]
pub struct KafkaSendOptions {
    /// `kafka://HOST:PORT[,HOST:PORT]/TOPIC`.
    pub target: String,
    pub format: FakeFormat,
    /// Events per second; as fast as the broker takes them when `None`.
    pub rate_per_second: Option<u64>,
    pub count: Option<u64>,
    pub seed: u64,
}

/// The brokers and topic of a `kafka://brokers/topic` target.
pub fn parse_kafka_target(target: &str) -> Result<(String, String)> {
    let rest = target
        .strip_prefix("kafka://")
        .ok_or_else(|| anyhow!("target {target:?} must look like kafka://HOST:PORT/TOPIC"))?;
    match rest.split_once('/') {
        Some((brokers, topic)) if !brokers.is_empty() && !topic.is_empty() => {
            Ok((brokers.to_owned(), topic.to_owned()))
        }
        _ => bail!("target {target:?} must look like kafka://HOST:PORT/TOPIC"),
    }
}

/// Produces one event per message until `count` or `shutdown`; how many the broker
/// acknowledged. A delivery that fails is an error naming the broker's answer.
pub async fn send_kafka(
    options: KafkaSendOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<u64> {
    let (brokers, topic) = parse_kafka_target(&options.target)?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .context("cannot create the Kafka producer")?;
    let mut generator = FakeGenerator::new(options.seed);
    let mut pacer = Pacer::new(options.rate_per_second, options.count, DELIVERY_WINDOW);
    let mut sent = 0u64;
    let mut event = Vec::with_capacity(512);
    tokio::pin!(shutdown);
    loop {
        let due = pacer.due(sent);
        while sent < due {
            let window = (due - sent).min(DELIVERY_WINDOW);
            let mut deliveries = Vec::with_capacity(window as usize);
            for _ in 0..window {
                event.clear();
                generator.render(options.format, Utc::now(), &mut event);
                let record = FutureRecord::<(), [u8]>::to(&topic).payload(event.as_slice());
                // librdkafka copies the value as it queues it; the window keeps its queue
                // (100,000 messages) from filling.
                let delivery = producer
                    .send_result(record)
                    .map_err(|(error, _)| anyhow!("cannot queue a message for {topic}: {error}"))?;
                deliveries.push(delivery);
            }
            for delivery in deliveries {
                delivery
                    .await
                    .map_err(|_| anyhow!("the Kafka producer stopped before a delivery"))?
                    .map_err(|(error, _)| {
                        anyhow!("{brokers} refused a message for {topic}: {error}")
                    })?;
            }
            sent += window;
        }
        if pacer.finished(sent) || pacer.wait(&mut shutdown).await {
            return Ok(sent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_brokers_and_a_topic() {
        assert_eq!(
            parse_kafka_target("kafka://k1:9092,k2:9092/logs").unwrap(),
            ("k1:9092,k2:9092".to_owned(), "logs".to_owned())
        );
        for bad in [
            "kafka://k1:9092",
            "kafka:///logs",
            "udp://h:1/x",
            "kafka://h:1/",
        ] {
            assert!(parse_kafka_target(bad).is_err(), "{bad}");
        }
    }
}
