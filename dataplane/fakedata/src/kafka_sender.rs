use std::future::Future;

use anyhow::{Context, Result, anyhow};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::message_sender::{MessageSendOptions, MessageSink, send_messages, split_target};

/// The brokers and topic of a `kafka://brokers/topic` target.
pub fn parse_kafka_target(target: &str) -> Result<(String, String)> {
    let (brokers, topic) = split_target(target, "kafka://", "kafka://HOST:PORT/TOPIC")?;
    Ok((brokers.to_owned(), topic.to_owned()))
}

/// Produces one event per message until `count` or `shutdown`; how many the broker
/// acknowledged. A delivery that fails is an error naming the broker's answer.
pub async fn send_kafka(
    options: MessageSendOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<u64> {
    let (brokers, topic) = parse_kafka_target(&options.target)?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .context("cannot create the Kafka producer")?;
    let mut sink = KafkaSink {
        producer,
        brokers,
        topic,
        deliveries: Vec::new(),
    };
    send_messages(&mut sink, &options, shutdown).await
}

struct KafkaSink {
    producer: FutureProducer,
    brokers: String,
    topic: String,
    deliveries: Vec<DeliveryFuture>,
}

impl MessageSink for KafkaSink {
    async fn send(&mut self, message: &[u8]) -> Result<()> {
        // librdkafka copies the value as it queues it; the confirmation window keeps its queue
        // (100,000 messages) from filling.
        let record = FutureRecord::<(), [u8]>::to(&self.topic).payload(message);
        let delivery = self
            .producer
            .send_result(record)
            .map_err(|(error, _)| anyhow!("cannot queue a message for {}: {error}", self.topic))?;
        self.deliveries.push(delivery);
        Ok(())
    }

    async fn confirm(&mut self) -> Result<()> {
        for delivery in self.deliveries.drain(..) {
            delivery
                .await
                .map_err(|_| anyhow!("the Kafka producer stopped before a delivery"))?
                .map_err(|(error, _)| {
                    anyhow!(
                        "{} refused a message for {}: {error}",
                        self.brokers,
                        self.topic
                    )
                })?;
        }
        Ok(())
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
