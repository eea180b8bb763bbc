use std::future::Future;

use anyhow::{Context, Result, bail};

use crate::message_sender::{MessageSendOptions, MessageSink, send_messages, split_target};

/// The server URL and subject of a `nats://host:port/subject` target.
pub fn parse_nats_target(target: &str) -> Result<(String, String)> {
    const SHAPE: &str = "nats://HOST:PORT/SUBJECT";
    let (server, subject) = split_target(target, "nats://", SHAPE)?;
    if subject.contains(' ') {
        bail!("target {target:?} must look like {SHAPE}");
    }
    Ok((format!("nats://{server}"), subject.to_owned()))
}

/// Publishes one event per message until `count` or `shutdown`; how many the server took
/// (each window of messages is followed by a flush the server answers).
pub async fn send_nats(
    options: MessageSendOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<u64> {
    let (server, subject) = parse_nats_target(&options.target)?;
    let client = async_nats::connect(server.as_str())
        .await
        .with_context(|| format!("cannot connect to {server}"))?;
    let mut sink = NatsSink { client, subject };
    send_messages(&mut sink, &options, shutdown).await
}

struct NatsSink {
    client: async_nats::Client,
    subject: String,
}

impl MessageSink for NatsSink {
    async fn send(&mut self, message: &[u8]) -> Result<()> {
        self.client
            .publish(self.subject.clone(), message.to_vec().into())
            .await
            .with_context(|| format!("cannot publish to {}", self.subject))
    }

    async fn confirm(&mut self) -> Result<()> {
        self.client
            .flush()
            .await
            .context("the NATS server did not take the messages")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_server_and_a_subject() {
        assert_eq!(
            parse_nats_target("nats://127.0.0.1:4222/events.web").unwrap(),
            ("nats://127.0.0.1:4222".to_owned(), "events.web".to_owned())
        );
        for bad in [
            "nats://h:4222",
            "nats:///x",
            "kafka://h:1/x",
            "nats://h:1/a b",
        ] {
            assert!(parse_nats_target(bad).is_err(), "{bad}");
        }
    }
}
