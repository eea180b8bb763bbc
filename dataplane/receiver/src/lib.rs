//! Receiver: the ingest API. Proxies and any HTTP client `POST` batches (Arrow IPC with zstd, or
//! NDJSON, optionally gzip) to `/api/v1/ingest/{tenant}/{dataset}` with an API key; the receiver
//! checks the key's scope, writes the intake object and answers 201 only once it is durable.
//!
//! It must not transform data (that is piper) or answer 2xx before the write is durable, and no
//! body, however malformed, may panic it or cost more memory than `max_body_bytes`.

mod config;
mod ingest;
mod receiver;

pub use config::ReceiverConfig;
pub use receiver::Receiver;

/// Header carrying the batch id, so a retried request overwrites the same intake object.
pub const BATCH_ID_HEADER: &str = "x-bytefreezer-batch-id";
pub const ARROW_STREAM_CONTENT_TYPE: &str = "application/vnd.apache.arrow.stream";
