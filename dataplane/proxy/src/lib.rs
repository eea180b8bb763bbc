//! Proxy: the edge of the pipeline. It listens for each dataset's exporters (syslog, NetFlow,
//! IPFIX and sFlow over UDP) on pinned receive workers (`bytefreezer-udp`), decodes in place
//! into Arrow batches, reads syslog streams (TCP, TLS), takes events posted to `http` inputs,
//! reads NATS subjects, JetStream consumers, SQS queues and Kafka topics, makes every batch durable in an
//! on-disk spool, and ships spooled batches to the receiver over HTTP(S) with the tenant's API
//! key, retrying until acknowledged.
//!
//! It must not block a receive worker on the network or the disk (a batch the spool writers
//! cannot take is dropped and counted), must not answer an `http` sender 200, acknowledge a
//! JetStream message, delete an SQS message or commit a Kafka offset before its events are
//! durable, must not drop what it read from a stream
//! (it stops reading instead), must not delete a spooled batch before the receiver acknowledged
//! it (except the oldest unpromised ones when the spool is full, each counted; a batch whose
//! sender was told it is durable never), and one dataset's failure (port in use, server
//! unreachable) never stops another.

mod config;
mod dataset_tasks;
mod decoders;
mod event_batch;
mod flow_metrics;
mod http_events;
mod http_input;
mod input;
#[cfg(test)]
mod input_test_support;
mod kafka_input;
#[cfg(test)]
mod kafka_test_broker;
mod nats_input;
mod promised_write;
mod proxy;
mod shipper;
mod sink;
mod spool;
mod spool_writer;
mod sqs_client;
mod sqs_input;
mod sqs_objects;
mod syslog_tcp;
mod syslog_tcp_connection;

/// For `bytefreezer doctor`: whether this host runs the io_uring receive path.
pub use bytefreezer_udp::{UringSupport, uring_support};
pub use config::{FlowInputConfig, HttpInputConfig, ProxyConfig};
pub use decoders::{Decoded, DecoderKind, FlushError, InputDecoder};
pub use http_events::{BodyError, BodyKind, split_events};
pub use proxy::Proxy;
pub use spool::{Replayed, Spool, SpooledBatch, replay_rejected};

/// Wall-clock microseconds since the Unix epoch: the receive time of what an input takes.
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)
        })
}
