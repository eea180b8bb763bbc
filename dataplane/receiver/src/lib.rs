//! Receiver: the ingest API. Proxies and any HTTP client `POST` batches (Arrow IPC with zstd, or
//! NDJSON, optionally gzip) to `/api/v1/ingest/{tenant}/{dataset}` with an API key; the receiver
//! checks the key's scope, writes the intake object and answers 201 only once it is durable.
//!
//! It must not transform data (that is piper) or answer 2xx before the write is durable. The
//! listener is hostile: the key is checked from the headers before any body byte is read, bodies
//! share one memory budget (`max_inflight_bytes`), slow peers time out, connections are capped,
//! and no body, however malformed or whatever lengths it declares, may panic it or make it
//! allocate beyond its limits.

mod config;
mod ingest;
mod receiver;

pub use config::ReceiverConfig;
pub use receiver::Receiver;

/// Header carrying the batch id, so a retried request overwrites the same intake object.
pub const BATCH_ID_HEADER: &str = "x-bytefreezer-batch-id";
pub const ARROW_STREAM_CONTENT_TYPE: &str = "application/vnd.apache.arrow.stream";
