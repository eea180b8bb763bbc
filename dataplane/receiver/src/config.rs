use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Every limit below refuses what passes it with a status and a
/// `bytefreezer_receiver_rejected_total{reason}` (or, below HTTP,
/// `bytefreezer_receiver_connection_errors_total{reason}`) increment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverConfig {
    /// Address of the ingest API and `/healthz`. Default 0.0.0.0:8081. `/metrics`, `/readyz`
    /// and `/activity` are served on the role's `metrics_listen`, not here.
    pub listen: SocketAddr,
    /// PEM certificate chain; with `tls_key_file` the receiver serves HTTPS only.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Largest accepted body, as sent and after gzip decompression. Default 64 MiB; larger
    /// requests get 413 (reason `too_large`).
    pub max_body_bytes: usize,
    /// Memory all requests together may hold for bodies: the bytes read, their gzip
    /// decompression, the declared decoded size of an Arrow stream and 8x an NDJSON body (its
    /// parsed rows). Default 256 MiB; a request that does not fit gets 503 with Retry-After
    /// (reason `busy`), one that could never fit gets 413 (reason `too_large`).
    pub max_inflight_bytes: usize,
    /// Total decompressed size an Arrow IPC body may declare. Default 128 MiB; more gets 413
    /// (reason `ipc_too_large`).
    pub max_decoded_bytes: u64,
    /// Decompressed size of one buffer of an Arrow IPC body (one column's values, offsets or
    /// validity in one batch). Default 64 MiB; more gets 413 (reason `ipc_too_large`).
    pub max_decoded_buffer_bytes: u64,
    /// A request's body must arrive within this many seconds of its headers. Default 60 (64 MiB
    /// needs about 9 Mbit/s); slower senders get 408 (reason `body_timeout`).
    pub body_timeout_secs: u64,
    /// A connection must send a request's headers (and finish its TLS handshake) within this
    /// many seconds. Default 10; slower connections are closed
    /// (`connection_errors_total{reason="header_timeout"}`).
    pub header_timeout_secs: u64,
    /// Open connections at most; further connections wait in the kernel's accept queue until
    /// one closes. Default 512.
    pub max_connections: usize,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8081)),
            tls_cert_file: None,
            tls_key_file: None,
            max_body_bytes: 64 * 1024 * 1024,
            max_inflight_bytes: 256 * 1024 * 1024,
            max_decoded_bytes: 128 * 1024 * 1024,
            max_decoded_buffer_bytes: 64 * 1024 * 1024,
            body_timeout_secs: 60,
            header_timeout_secs: 10,
            max_connections: 512,
        }
    }
}
