use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverConfig {
    /// Address of the ingest API, `/healthz`, `/readyz` and `/metrics`. Default 0.0.0.0:8081.
    pub listen: SocketAddr,
    /// PEM certificate chain; with `tls_key_file` the receiver serves HTTPS only.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Largest accepted body, after gzip decompression. Default 64 MiB.
    pub max_body_bytes: usize,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8081)),
            tls_cert_file: None,
            tls_key_file: None,
            max_body_bytes: 64 * 1024 * 1024,
        }
    }
}
