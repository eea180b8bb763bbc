//! Our collector: `bytefreezer receiver` (local storage) and `bytefreezer proxy` as separate
//! processes from the release build, datasets from a file. The proxy is pinned to core 0 like
//! every peer; the receiver shares core 1 with the load generator, because the peers have no
//! downstream stage and the proxy's core must stay its own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use bytefreezer_api::metrics::{
    PROXY_DATAGRAMS_DROPPED_TOTAL, PROXY_DATAGRAMS_TOTAL, PROXY_ROWS_DROPPED_TOTAL,
    PROXY_ROWS_DURABLE_TOTAL,
};

use super::collector::{COLLECTOR_CORE, Collector, Daemon, version_of};
use super::loadgen::SENDER_CORE;
use super::traffic::Protocol;

const RECEIVER_LISTEN: &str = "127.0.0.1:18081";
const METRICS_LISTEN: &str = "127.0.0.1:19101";
/// The proxy's ingest key; the receiver's datasets file holds its SHA-256.
const API_KEY: &str = "bf_bench_ingest_key";
const API_KEY_SHA256: &str = "4666a41cf7f68d29f94b02ee1d97a1db6517b65b4e1f868bda5f8547a1b9eb69";

pub struct Ours {
    /// `bytefreezer`, or `bytefreezer-{codec}` for a run with a named spool codec.
    name: String,
    config: String,
    binary: PathBuf,
    port: u16,
    proxy: Daemon,
    // Kept for its lifetime: dropping it stops the receiver.
    _receiver: Daemon,
}

/// The binary a cargo profile builds: `dist` is what ships, `release` what the README's
/// `cargo run --release` builds.
pub fn binary(target: &Path, profile: &str) -> PathBuf {
    target.join(profile).join("bytefreezer")
}

impl Ours {
    /// Starts receiver and proxy; `codec` names the spool compression (`none`, `lz4`, ...),
    /// or `None` for the proxy's default.
    pub fn start(
        binary: &Path,
        name: &str,
        dir: &Path,
        protocol: Protocol,
        port: u16,
        receive_buffer: usize,
        codec: Option<&str>,
    ) -> Result<Ours> {
        let plugin = match protocol {
            Protocol::Syslog => "syslog",
            Protocol::NetflowV9 => "netflow",
            Protocol::Ipfix => "ipfix",
        };
        let transport = if protocol == Protocol::Syslog {
            "transport = \"udp\"\n"
        } else {
            ""
        };
        let datasets = dir.join("datasets.toml");
        write(
            &datasets,
            &format!(
                "[[datasets]]\ntenant_id = \"bench\"\ndataset_id = \"{plugin}\"\nname = \"bench {plugin}\"\n\n\
                 [datasets.source]\nplugin = \"{plugin}\"\n[datasets.source.settings]\n\
                 bind = \"127.0.0.1:{port}\"\n{transport}\n\
                 [[ingest_keys]]\nname = \"bench\"\nkey_sha256 = \"{API_KEY_SHA256}\"\ntenant_id = \"bench\"\n"
            ),
        )?;
        let receiver_config = dir.join("receiver.toml");
        write(
            &receiver_config,
            &format!(
                "data_dir = \"{dir}/receiver\"\ndatasets = {{ kind = \"file\", path = \"{datasets}\" }}\n\n\
                 [storage]\nkind = \"local\"\nroot = \"{dir}/buckets\"\n\n\
                 [receiver]\nlisten = \"{RECEIVER_LISTEN}\"\n",
                dir = dir.display(),
                datasets = datasets.display()
            ),
        )?;
        // BYTEFREEZER_BENCH_IO picks the proxy's receive path (auto, uring, recvmmsg).
        let io = std::env::var("BYTEFREEZER_BENCH_IO").unwrap_or_else(|_| "auto".into());
        // BYTEFREEZER_BENCH_SPOOL_COMPRESSION picks the default run's codec (zstd, lz4, ...).
        let compression = codec
            .map(str::to_owned)
            .or_else(|| std::env::var("BYTEFREEZER_BENCH_SPOOL_COMPRESSION").ok())
            .map(|codec| format!("spool_compression = \"{codec}\"\n"))
            .unwrap_or_default();
        let proxy_config = dir.join("proxy.toml");
        let proxy_text = format!(
            "data_dir = \"{dir}/proxy\"\nmetrics_listen = \"{METRICS_LISTEN}\"\n\
                 datasets = {{ kind = \"file\", path = \"{datasets}\" }}\n\n\
                 [proxy]\nreceiver_url = \"http://{RECEIVER_LISTEN}\"\napi_key = \"{API_KEY}\"\n\
                 spool_dir = \"{dir}/spool\"\nudp_recv_buffer_bytes = {receive_buffer}\nio = \"{io}\"\n\
                 {compression}",
            dir = dir.display(),
            datasets = datasets.display()
        );
        write(&proxy_config, &proxy_text)?;
        let environment = [("RUST_LOG", "warn".to_owned())];
        let receiver = Daemon::start(
            "bytefreezer receiver",
            &SENDER_CORE.to_string(),
            binary,
            &["receiver".into(), "--config".into(), path(&receiver_config)],
            &environment,
            dir.join("receiver.log"),
        )?;
        let mut proxy = Daemon::start(
            "bytefreezer proxy",
            COLLECTOR_CORE,
            binary,
            &["proxy".into(), "--config".into(), path(&proxy_config)],
            &environment,
            dir.join("proxy.log"),
        )?;
        proxy.wait_for_port(port, Duration::from_secs(20))?;
        Ok(Ours {
            name: name.to_owned(),
            config: format!("proxy.toml (the receiver runs beside it on core 1):\n{proxy_text}"),
            binary: binary.to_owned(),
            port,
            proxy,
            _receiver: receiver,
        })
    }

    fn metric(&self, name: &str, label: Option<&str>) -> Option<u64> {
        let text = scrape(METRICS_LISTEN)?;
        Some(metric_sum(&text, name, label) as u64)
    }

    /// Datagrams the proxy counted as dropped because its receive buffer overflowed, when the
    /// proxy exports that counter.
    pub fn receive_buffer_drops(&self) -> Option<u64> {
        let text = scrape(METRICS_LISTEN)?;
        text.contains(PROXY_DATAGRAMS_DROPPED_TOTAL.name).then(|| {
            metric_sum(
                &text,
                PROXY_DATAGRAMS_DROPPED_TOTAL.name,
                Some("cause=\"receive_buffer\""),
            ) as u64
        })
    }

    pub fn rows_dropped(&self) -> Option<u64> {
        self.metric(PROXY_ROWS_DROPPED_TOTAL.name, None)
    }

    pub fn is_alive(&mut self) -> bool {
        self.proxy.check_running().is_ok()
    }
}

impl Collector for Ours {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> String {
        self.config.clone()
    }

    fn version(&self) -> String {
        version_of(&self.binary, &["version"], &[])
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn pid(&self) -> u32 {
        self.proxy.pid()
    }

    fn measured_pids(&self) -> Vec<u32> {
        vec![self.proxy.pid()]
    }

    fn datagrams_received(&mut self) -> Option<u64> {
        self.metric(PROXY_DATAGRAMS_TOTAL.name, None)
    }

    fn events_written(&mut self) -> Option<u64> {
        self.metric(PROXY_ROWS_DURABLE_TOTAL.name, None)
    }

    fn finish(&mut self) -> Result<Option<u64>> {
        // Rows are counted when durable in the spool; what is written now stays counted.
        let written = self.events_written();
        self.proxy.stop(Duration::from_secs(10));
        Ok(written)
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn path(path: &Path) -> String {
    path.display().to_string()
}

/// GET /metrics over plain HTTP/1.0.
fn scrape(address: &str) -> Option<String> {
    let address: SocketAddr = address.parse().ok()?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let body = response.split_once("\r\n\r\n")?.1;
    Some(body.to_owned())
}

/// Sums every sample of a metric, optionally only those whose labels contain `label`.
pub fn metric_sum(text: &str, name: &str, label: Option<&str>) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(rest) => rest.split_once('}')?,
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            if label.is_some_and(|wanted| !labels.contains(wanted)) {
                return None;
            }
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_samples_of_one_metric_and_label() {
        let text = "# TYPE a counter\na_total{dataset=\"x\",cause=\"spool\"} 3\n\
                    a_total{dataset=\"y\",cause=\"kernel\"} 4\na_total_other 9\nb 1\n";
        assert_eq!(metric_sum(text, "a_total", None), 7.0);
        assert_eq!(metric_sum(text, "a_total", Some("cause=\"kernel\"")), 4.0);
        assert_eq!(metric_sum("a_total 5\n", "a_total", None), 5.0);
    }
}
