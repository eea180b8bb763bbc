//! Generated firewall-style events for demos, tests and benchmarks: deterministic for a seed,
//! rendered as RFC 5424, RFC 3164 or bare JSON, and sent at a paced rate as UDP datagrams, as
//! framed messages on a TCP or TLS stream (RFC 6587), posted to an `http` input (one event
//! per line), or produced to a Kafka topic or published to a NATS subject (one event per message).
//!
//! It must not depend on any pipeline crate: it is a client, like any exporter users point at
//! the proxy.

mod generator;
mod http_sender;
mod kafka_sender;
mod message_sender;
mod nats_sender;
mod pacer;
mod sender;
mod stream_sender;

pub use generator::{FakeEvent, FakeFormat, FakeGenerator};
pub use http_sender::{HttpSendOptions, send_http};
pub use kafka_sender::{parse_kafka_target, send_kafka};
pub use message_sender::MessageSendOptions;
pub use nats_sender::{parse_nats_target, send_nats};
pub use sender::{SendOptions, parse_udp_target, send_udp};
pub use stream_sender::{StreamFraming, StreamSendOptions, is_stream_target, send_stream};
