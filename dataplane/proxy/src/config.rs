use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Base URL of the receiver. Default `http://127.0.0.1:8081`.
    pub receiver_url: String,
    /// The tenant's ingest API key. Required.
    pub api_key: String,
    /// Extra CA certificate (PEM) to trust for an HTTPS receiver with a private CA.
    pub receiver_ca_file: Option<PathBuf>,
    /// Where batches wait until acknowledged. Default `bytefreezer-data/spool`.
    pub spool_dir: PathBuf,
    /// Spool size limit; beyond it the oldest batches are dropped and counted. Default 1 GiB.
    pub spool_max_bytes: u64,
    /// How spooled batches (and so the bodies sent to the receiver) are compressed: "lz4"
    /// (on flow edge batches the fastest compressing codec: about 40% less time than zstd level
    /// 1, output about 40% larger), "zstd-fast" (zstd's fast level 7, close to LZ4), "zstd"
    /// (level 1, the smallest, for a metered or slow link) or "none" (for a proxy beside its
    /// receiver, where only the core counts). Figures in docs/performance.md.
    /// Default "lz4".
    pub spool_compression: String,
    /// Rows per batch at most. Default 65536.
    pub batch_max_rows: usize,
    /// Raw message bytes per batch at most. Default 8 MiB.
    pub batch_max_bytes: usize,
    /// A batch older than this is shipped even if small. Default 1000; testing-mode datasets
    /// use at most 200.
    pub batch_max_age_ms: u64,
    /// SO_RCVBUF requested for UDP sockets. Default 8 MiB.
    pub udp_recv_buffer_bytes: usize,
    /// UDP receive path: "auto" (io_uring where it works, recvmmsg otherwise), "uring" (fail
    /// if io_uring is unavailable) or "recvmmsg". Default "auto".
    pub io: String,
    /// UDP receive worker threads, each pinned to a core. Default 0: one per core this process
    /// may use (so `taskset` and systemd's CPUAffinity= choose the cores).
    pub workers: usize,
    /// First retry delay. Default 200.
    pub retry_initial_ms: u64,
    /// Longest retry delay. Default 30000.
    pub retry_max_ms: u64,
    /// Timeout of one request to the receiver. Default 30.
    pub request_timeout_secs: u64,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            receiver_url: "http://127.0.0.1:8081".into(),
            api_key: String::new(),
            receiver_ca_file: None,
            spool_dir: PathBuf::from("bytefreezer-data/spool"),
            spool_max_bytes: 1024 * 1024 * 1024,
            spool_compression: "lz4".into(),
            batch_max_rows: 65536,
            batch_max_bytes: 8 * 1024 * 1024,
            batch_max_age_ms: 1000,
            udp_recv_buffer_bytes: 8 * 1024 * 1024,
            io: "auto".into(),
            workers: 0,
            retry_initial_ms: 200,
            retry_max_ms: 30_000,
            request_timeout_secs: 30,
        }
    }
}
