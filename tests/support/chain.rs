//! Every role of the pipeline as its own process on one set of buckets, as on separate hosts:
//! a proxy with an acknowledged `http` dataset, a receiver, and as many pipers and packers as
//! asked, all on the same buckets. Any member can be SIGKILLed and restarted; one that aborted
//! itself (a crash point) is noticed and restarted. Included with `#[path]`.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const TENANT: &str = "soak";
pub const DATASET: &str = "events";
pub const SYSLOG_DATASET: &str = "logs";
const API_KEY: &str = "bf_soak_harness_key";

/// How the chain is laid out and how hard it is shaken.
pub struct ChainSpec {
    /// The `[storage]` table every stage shares.
    pub storage_toml: String,
    pub pipers: usize,
    pub packers: usize,
    /// `BYTEFREEZER_CRASH_POINTS` for every member ("" for none).
    pub crash_points: String,
    pub datasets: DatasetsFrom,
    /// Lines added to the proxy's `[proxy]` table (spool limits, compression).
    pub proxy_settings: String,
    /// Also a `syslog` dataset (`logs`, UDP) beside the `http` one; datasets from a file only.
    pub syslog: bool,
}

impl ChainSpec {
    /// One piper and one packer on `storage_toml`, datasets from a file, nothing shaken.
    pub fn on(storage_toml: String) -> ChainSpec {
        ChainSpec {
            storage_toml,
            pipers: 1,
            packers: 1,
            crash_points: String::new(),
            datasets: DatasetsFrom::File,
            proxy_settings: String::new(),
            syslog: false,
        }
    }
}

/// Where every member reads the datasets and ingest keys.
pub enum DatasetsFrom {
    /// A datasets.toml the chain writes: the `http` dataset and the proxy's ingest key.
    File,
    /// A control plane that already holds the `http` dataset, listening on `events`; `api_key`
    /// reads the configuration and is the key the proxy sends with.
    Control {
        url: String,
        api_key: String,
        events: SocketAddr,
    },
}

pub struct Member {
    pub name: String,
    role: &'static str,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    pub signal_kills: u32,
    pub crashes: u32,
}

pub struct Chain {
    pub members: Vec<Member>,
    /// Where the load is POSTed (NDJSON).
    pub events_url: String,
    /// Where the `syslog` dataset listens, when asked for.
    pub syslog: Option<SocketAddr>,
    /// The proxy's metrics endpoint (`/metrics`).
    pub proxy_metrics: SocketAddr,
    pub proxy_spool: PathBuf,
    crash_points: String,
}

pub fn free_udp() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

pub fn free_tcp() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn sha256_hex(text: &str) -> String {
    let output = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8(output.stdout).unwrap()[..64].to_owned()
}

/// The chain's `http` dataset and the ingest key of its proxy, as a datasets file.
fn http_dataset_toml(events: SocketAddr) -> String {
    format!(
        "[[datasets]]\ntenant_id = \"{TENANT}\"\ndataset_id = \"{DATASET}\"\n\
         [datasets.source]\nplugin = \"http\"\n[datasets.source.settings]\n\
         bind = \"{events}\"\npath = \"/events\"\nformat = \"json\"\n\n\
         [[ingest_keys]]\nname = \"edge\"\nkey_sha256 = \"{}\"\ntenant_id = \"{TENANT}\"\n",
        sha256_hex(API_KEY)
    )
}

/// A `syslog` dataset (`logs`) on `bind`, beside the `http` one.
fn syslog_dataset_toml(bind: SocketAddr) -> String {
    format!(
        "\n[[datasets]]\ntenant_id = \"{TENANT}\"\ndataset_id = \"{SYSLOG_DATASET}\"\n\
         [datasets.source]\nplugin = \"syslog\"\n[datasets.source.settings]\nbind = \"{bind}\"\n"
    )
}

/// The `--settings` of the chain's `http` dataset, for `ctl datasets create`.
pub fn http_dataset_settings(events: SocketAddr) -> String {
    format!(r#"{{"bind":"{events}","path":"/events","format":"json"}}"#)
}

impl Chain {
    pub fn start(root: &Path, spec: &ChainSpec) -> Chain {
        let receiver = free_tcp();
        let syslog = spec.syslog.then(free_udp);
        assert!(
            syslog.is_none() || matches!(spec.datasets, DatasetsFrom::File),
            "the syslog dataset is written to the datasets file"
        );
        let (events, datasets, api_key) = match &spec.datasets {
            DatasetsFrom::File => {
                let events = free_tcp();
                let datasets_file = root.join("datasets.toml");
                let mut text = http_dataset_toml(events);
                if let Some(syslog) = syslog {
                    text.push_str(&syslog_dataset_toml(syslog));
                }
                std::fs::write(&datasets_file, text).unwrap();
                let datasets = format!(
                    "datasets = {{ kind = \"file\", path = \"{}\" }}",
                    datasets_file.display()
                );
                (events, datasets, API_KEY.to_owned())
            }
            DatasetsFrom::Control {
                url,
                api_key,
                events,
            } => {
                // Plain polls every second once long-poll fails, so a returning control
                // plane is seen at once.
                let datasets = format!(
                    "datasets = {{ kind = \"control\", url = \"{url}\", api_key = \"{api_key}\", \
                     poll_interval_secs = 1 }}"
                );
                (*events, datasets, api_key.clone())
            }
        };
        let proxy_metrics = free_tcp();
        let common = |name: &str| {
            let metrics = if name == "proxy" {
                proxy_metrics
            } else {
                free_tcp()
            };
            format!(
                "data_dir = \"{}\"\nmetrics_listen = \"{metrics}\"\n{datasets}\n",
                root.join(name).display(),
            )
        };
        let storage = &spec.storage_toml;
        let proxy_spool = root.join("proxy/spool");
        let mut configs = vec![
            (
                "receiver".to_owned(),
                "receiver",
                format!(
                    "{}{storage}\n[receiver]\nlisten = \"{receiver}\"\n",
                    common("receiver")
                ),
            ),
            (
                "proxy".to_owned(),
                "proxy",
                format!(
                    "{}[proxy]\nreceiver_url = \"http://{receiver}\"\napi_key = \"{api_key}\"\n\
                     spool_dir = \"{}\"\nretry_initial_ms = 100\nretry_max_ms = 1000\n\
                     batch_max_age_ms = 100\n{}\n",
                    common("proxy"),
                    proxy_spool.display(),
                    spec.proxy_settings
                ),
            ),
        ];
        for n in 1..=spec.pipers {
            let name = format!("piper-{n}");
            let text = format!(
                "{}{storage}\n[piper]\npoll_interval_ms = 200\nlease_ttl_secs = 5\n",
                common(&name)
            );
            configs.push((name, "piper", text));
        }
        for n in 1..=spec.packers {
            let name = format!("packer-{n}");
            // Several inputs per file and a flush every second, so plans, leases and
            // multi-input files are all exercised within a short run.
            let text = format!(
                "{}{storage}\n[packer]\npoll_interval_ms = 200\nlease_ttl_secs = 5\n\
                 max_age_secs = 1\nmax_file_bytes = 1048576\n",
                common(&name)
            );
            configs.push((name, "packer", text));
        }
        let members = configs
            .into_iter()
            .map(|(name, role, text)| {
                let config = root.join(format!("{name}.toml"));
                std::fs::write(&config, text).unwrap();
                Member {
                    log: root.join(format!("{name}.log")),
                    name,
                    role,
                    config,
                    child: None,
                    signal_kills: 0,
                    crashes: 0,
                }
            })
            .collect();
        let mut chain = Chain {
            members,
            events_url: format!("http://{events}/events"),
            syslog,
            proxy_metrics,
            proxy_spool,
            crash_points: spec.crash_points.clone(),
        };
        for index in 0..chain.members.len() {
            chain.launch(index);
        }
        chain
    }

    fn launch(&mut self, index: usize) {
        let member = &mut self.members[index];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&member.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args([member.role, "--config"])
            .arg(&member.config)
            .env("RUST_LOG", "warn")
            .env("BYTEFREEZER_CRASH_POINTS", &self.crash_points)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", member.name));
        member.child = Some(child);
    }

    /// SIGKILL, as a power cut or the OOM killer would stop it.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.members[index].signal_kills += 1;
        }
    }

    /// Members started from now on run without crash points: what runs drains.
    pub fn disarm_crash_points(&mut self) {
        self.crash_points.clear();
    }

    pub fn restart(&mut self, index: usize) {
        if self.members[index].child.is_none() {
            self.launch(index);
        }
    }

    /// Restarts every member that stopped on its own (an armed crash point, or a failure
    /// worth reading in its log); how many there were.
    pub fn revive(&mut self) -> usize {
        let mut revived = 0;
        for index in 0..self.members.len() {
            let exited = match self.members[index].child.as_mut() {
                Some(child) => child.try_wait().unwrap().is_some(),
                None => false,
            };
            if exited {
                self.members[index].child = None;
                self.members[index].crashes += 1;
                self.launch(index);
                revived += 1;
            }
        }
        revived
    }

    pub fn signal_kills(&self) -> u32 {
        self.members.iter().map(|m| m.signal_kills).sum()
    }

    pub fn crashes(&self) -> u32 {
        self.members.iter().map(|m| m.crashes).sum()
    }

    /// Kills and crashes per member, e.g. `proxy 9+2, receiver 8+0`.
    pub fn kill_summary(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{} {}+{}", m.name, m.signal_kills, m.crashes))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The last lines each member logged, for a failure message.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut text = String::new();
        for member in &self.members {
            let log = std::fs::read_to_string(&member.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(lines).collect();
            text.push_str(&format!("--- {} ---\n", member.name));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        for member in &mut self.members {
            if let Some(mut child) = member.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
