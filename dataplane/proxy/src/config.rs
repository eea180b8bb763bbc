use std::path::PathBuf;

use bytefreezer_decode_flow::FlowLimits;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Base URL of the receiver. Default `http://127.0.0.1:8081`.
    pub receiver_url: String,
    /// The tenant's ingest API key. Required, here or in `api_key_file`.
    pub api_key: String,
    /// A file holding the ingest key (a Docker or Kubernetes secret), read at start.
    pub api_key_file: Option<PathBuf>,
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
    /// How long a batch the receiver refuses as unknown (401, 403, 404: its dataset or key
    /// not learnt yet, as the proxy and the receiver poll their config each on its own) is
    /// retried with backoff before it moves to `spool/rejected`. Default 120.
    pub reject_grace_secs: u64,
    /// Bounds on what flow exporters can make each decoder hold (`[proxy.flow]`).
    pub flow: FlowInputConfig,
    /// Bounds of every `http` input listener (`[proxy.http]`).
    pub http: HttpInputConfig,
}

/// What any peer that reaches an `http` input's port can make the proxy hold. Each listener
/// has its own connection cap and memory budget; bodies over a dataset's `max_body_bytes` get
/// 413 before they are read (when declared) or as soon as they pass it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpInputConfig {
    /// Open connections per listener; more wait in the kernel's backlog. Default 1024.
    pub max_connections: usize,
    /// The TLS handshake and each request's headers must arrive within this; an idle
    /// keep-alive connection closes after it too. Default 10.
    pub header_timeout_secs: u64,
    /// A body must arrive within this once its headers did. Default 30.
    pub body_timeout_secs: u64,
    /// Memory all requests of one listener may hold at once (bodies, inflated bodies and the
    /// events taken from them); a request that finds it full gets 503 with Retry-After.
    /// Default 64 MiB.
    pub max_inflight_bytes: usize,
}

impl Default for HttpInputConfig {
    fn default() -> Self {
        HttpInputConfig {
            max_connections: 1024,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            max_inflight_bytes: 64 << 20,
        }
    }
}

/// Limits of the flow decoders (NetFlow v9, IPFIX, sFlow). Any address can send a template,
/// so each receive worker's decoder of each flow dataset bounds what exporters make it keep;
/// what a limit refuses is counted in `bytefreezer_proxy_flow_templates_refused_total{cause}`
/// and `bytefreezer_proxy_flow_data_sets_total{outcome="dropped"}`. Worst case for the whole
/// proxy: workers × flow datasets × (`max_template_bytes` + `max_held_bytes`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowInputConfig {
    /// A template with more fields is refused. Default 512 (real exporters send tens: the
    /// Cisco captures in the tests at most 40; RFC 7011 allows about 16,000, about 1 MiB
    /// once compiled).
    pub max_template_fields: usize,
    /// Templates one exporter may have. Default 1024.
    pub max_templates_per_exporter: usize,
    /// Templates in all. Default 65536.
    pub max_templates: usize,
    /// Memory one exporter's templates may hold (8 to 56 bytes a field plus about 5.6 KiB a
    /// template). Default 2 MiB: about 300 templates of 20 fields, or 60 of 512.
    pub max_template_bytes_per_exporter: usize,
    /// Memory all templates may hold. Default 32 MiB.
    pub max_template_bytes: usize,
    /// Data sets held for a template that has not come yet: count, age, bytes (in all and per
    /// exporter). Defaults 1024, 60 s, 4 MiB, 1 MiB.
    pub max_held_sets: usize,
    pub max_held_age_secs: u64,
    pub max_held_bytes: usize,
    pub max_held_bytes_per_exporter: usize,
    /// Sampling intervals and boot times announced in options data (under 64 bytes each), in
    /// all and per exporter. Defaults 65536 and 1024.
    pub max_options_entries: usize,
    pub max_options_entries_per_exporter: usize,
    /// Interface, VRF and application names announced in options data (at most 128 bytes
    /// each; a name counts under its domain and as its exporter's), in all and per exporter.
    /// Defaults 65536 and 16384.
    pub max_names: usize,
    pub max_names_per_exporter: usize,
}

impl Default for FlowInputConfig {
    fn default() -> Self {
        let limits = FlowLimits::default();
        FlowInputConfig {
            max_template_fields: limits.max_template_fields,
            max_templates_per_exporter: limits.max_templates_per_exporter,
            max_templates: limits.max_templates,
            max_template_bytes_per_exporter: limits.max_template_bytes_per_exporter,
            max_template_bytes: limits.max_template_bytes,
            max_held_sets: limits.max_held_sets,
            max_held_age_secs: (limits.max_held_age_micros / 1_000_000) as u64,
            max_held_bytes: limits.max_held_bytes,
            max_held_bytes_per_exporter: limits.max_held_bytes_per_exporter,
            max_options_entries: limits.max_options_entries,
            max_options_entries_per_exporter: limits.max_options_entries_per_exporter,
            max_names: limits.max_names,
            max_names_per_exporter: limits.max_names_per_exporter,
        }
    }
}

impl FlowInputConfig {
    pub fn limits(&self) -> FlowLimits {
        FlowLimits {
            max_template_fields: self.max_template_fields,
            max_templates_per_exporter: self.max_templates_per_exporter,
            max_templates: self.max_templates,
            max_template_bytes_per_exporter: self.max_template_bytes_per_exporter,
            max_template_bytes: self.max_template_bytes,
            max_held_sets: self.max_held_sets,
            max_held_age_micros: i64::try_from(self.max_held_age_secs.saturating_mul(1_000_000))
                .unwrap_or(i64::MAX),
            max_held_bytes: self.max_held_bytes,
            max_held_bytes_per_exporter: self.max_held_bytes_per_exporter,
            max_options_entries: self.max_options_entries,
            max_options_entries_per_exporter: self.max_options_entries_per_exporter,
            max_names: self.max_names,
            max_names_per_exporter: self.max_names_per_exporter,
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            receiver_url: "http://127.0.0.1:8081".into(),
            api_key: String::new(),
            api_key_file: None,
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
            reject_grace_secs: 120,
            flow: FlowInputConfig::default(),
            http: HttpInputConfig::default(),
        }
    }
}
