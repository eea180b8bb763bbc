//! `bytefreezer doctor`: checks this host for what a role (from its configuration file) or
//! `bytefreezer up` (without one) needs, and says how to fix each miss. Exit status 1 when a
//! check fails; warnings only say what runs slower or drops under load.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use bytefreezer_storage::{Buckets, StorageConfig};
use toml::Value;

use crate::cli::DoctorArgs;
use crate::doctor_checks::{self as checks, Finding, Status};

/// What the checks look at, from a role's configuration file or `up`'s defaults.
#[derive(Debug)]
struct Plan {
    /// `up's defaults` or the configuration file.
    source: String,
    spool_dir: PathBuf,
    spool_max_bytes: u64,
    workers: usize,
    /// What listens where: (what, `udp` or `tcp`, address).
    listens: Vec<(String, &'static str, SocketAddr)>,
    storage: Option<StorageConfig>,
    control_url: Option<String>,
    /// `host:port` of the receiver a proxy ships to.
    receiver: Option<String>,
}

impl Plan {
    fn up_defaults() -> Plan {
        let at = |text: &str| text.parse().unwrap_or_else(|_| unreachable!("a literal"));
        Plan {
            source: "bytefreezer up's defaults".into(),
            spool_dir: PathBuf::from("bytefreezer-data/spool"),
            spool_max_bytes: 1 << 30,
            workers: 0,
            listens: vec![
                ("dashboard".into(), "tcp", at("127.0.0.1:8000")),
                ("syslog".into(), "udp", at("0.0.0.0:5514")),
                ("syslog over tcp".into(), "tcp", at("0.0.0.0:5514")),
                ("netflow".into(), "udp", at("0.0.0.0:2055")),
                ("ipfix".into(), "udp", at("0.0.0.0:4739")),
                ("sflow".into(), "udp", at("0.0.0.0:6343")),
                ("http events".into(), "tcp", at("0.0.0.0:8080")),
            ],
            storage: Some(StorageConfig::Local {
                root: PathBuf::from("bytefreezer-data/buckets"),
            }),
            control_url: None,
            receiver: None,
        }
    }

    /// The parts of any role's file the checks need; a key this does not know is no error
    /// here (the role itself refuses it).
    fn from_file(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--config {}: cannot read it", path.display()))?;
        let file: Value = toml::from_str(&text)
            .with_context(|| format!("--config {}: not TOML", path.display()))?;
        let data_dir = file
            .get("data_dir")
            .and_then(Value::as_str)
            .map_or_else(|| PathBuf::from("bytefreezer-data"), PathBuf::from);
        let proxy = file.get("proxy");
        let proxy_key = |key: &str| proxy.and_then(|proxy| proxy.get(key));
        let mut listens = Vec::new();
        let mut add_listen = |what: &str, value: Option<&Value>| -> Result<()> {
            if let Some(text) = value.and_then(Value::as_str) {
                let address = text
                    .parse()
                    .with_context(|| format!("--config: {what} {text:?} is not IP:PORT"))?;
                listens.push((what.to_owned(), "tcp", address));
            }
            Ok(())
        };
        add_listen("metrics", file.get("metrics_listen"))?;
        for table in ["receiver", "control", "query"] {
            add_listen(table, file.get(table).and_then(|t| t.get("listen")))?;
        }
        let storage = match file.get("storage") {
            Some(storage) => Some(
                storage
                    .clone()
                    .try_into()
                    .context("--config: [storage] is not a storage configuration")?,
            ),
            None => None,
        };
        let datasets = file.get("datasets");
        let control_url = datasets
            .filter(|datasets| datasets.get("kind").and_then(Value::as_str) == Some("control"))
            .and_then(|datasets| datasets.get("url"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let receiver = proxy_key("receiver_url")
            .and_then(Value::as_str)
            .or(proxy.map(|_| "http://127.0.0.1:8081"))
            .and_then(|url| reqwest::Url::parse(url).ok())
            .and_then(|url| {
                Some(format!(
                    "{}:{}",
                    url.host_str()?,
                    url.port_or_known_default()?
                ))
            });
        let number = |key: &str| proxy_key(key).and_then(Value::as_integer);
        Ok(Plan {
            source: path.display().to_string(),
            spool_dir: proxy_key("spool_dir")
                .and_then(Value::as_str)
                .map_or_else(|| data_dir.join("spool"), PathBuf::from),
            spool_max_bytes: number("spool_max_bytes")
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(1 << 30),
            workers: number("workers")
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0),
            listens,
            storage,
            control_url,
            receiver,
        })
    }
}

pub async fn run(args: DoctorArgs) -> Result<()> {
    let plan = match &args.config {
        Some(path) => Plan::from_file(path)?,
        None => Plan::up_defaults(),
    };
    let findings = check(&plan).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else {
        println!("bytefreezer doctor: {}", plan.source);
        for finding in &findings {
            let status = match finding.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
            };
            println!("{status}  {}: {}", finding.check, finding.detail);
            if let Some(fix) = &finding.fix {
                println!("      fix: {fix}");
            }
        }
    }
    let failed = findings
        .iter()
        .filter(|finding| finding.status == Status::Fail)
        .count();
    if failed > 0 {
        bail!(
            "{failed} of {} checks failed; each says how to fix it",
            findings.len()
        );
    }
    Ok(())
}

async fn check(plan: &Plan) -> Vec<Finding> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let workers = if plan.workers == 0 {
        cores
    } else {
        plan.workers
    };
    let mut findings = vec![
        checks::io_uring(
            tokio::task::spawn_blocking(bytefreezer_proxy::uring_support)
                .await
                .unwrap_or_else(|error| Err(std::io::Error::other(error))),
        ),
        checks::rmem_max(
            std::fs::read_to_string("/proc/sys/net/core/rmem_max")
                .ok()
                .and_then(|text| text.trim().parse().ok()),
        ),
        checks::memlock(memlock_limit(), workers),
        checks::cpus(cores, plan.workers),
    ];
    for (what, transport, address) in &plan.listens {
        findings.push(checks::port(what, transport, *address));
    }
    findings.push(checks::disk(
        &plan.spool_dir,
        checks::free_bytes(&plan.spool_dir),
        plan.spool_max_bytes,
    ));
    let spool_dir = plan.spool_dir.clone();
    let slowest = tokio::task::spawn_blocking(move || checks::measure_fsync(&spool_dir))
        .await
        .unwrap_or_else(|error| Err(std::io::Error::other(error)));
    findings.push(checks::fsync(&plan.spool_dir, slowest));
    if let Some(storage) = &plan.storage {
        findings.extend(storage_findings(storage).await);
    }
    if let Some(receiver) = &plan.receiver {
        findings.push(checks::reachable("the receiver", receiver));
    }
    if let Some(url) = &plan.control_url {
        findings.extend(control_findings(url).await);
    }
    findings
}

fn memlock_limit() -> Option<u64> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Memlock);
    limit.current
}

/// Each bucket takes, returns and deletes a small object.
async fn storage_findings(config: &StorageConfig) -> Vec<Finding> {
    let buckets = match Buckets::open(config) {
        Ok(buckets) => buckets,
        Err(error) => {
            return vec![Finding::fail(
                "storage",
                format!("cannot open the buckets: {error}"),
                "check [storage]: the folder or the S3 endpoint, bucket names and credentials",
            )];
        }
    };
    let key = format!("_bytefreezer/doctor/{}", uuid::Uuid::new_v4());
    let mut findings = Vec::new();
    for bucket in [&buckets.intake, &buckets.piper, &buckets.packer] {
        let check = format!("storage {}", bucket.name());
        let probe = bytes::Bytes::from_static(b"bytefreezer doctor");
        let round_trip = async {
            bucket.put(&key, probe.clone()).await?;
            let read = bucket.get(&key).await?;
            // Piper's and packer's leases are taken by create-if-absent: a second create of a
            // key that exists must be refused, or two instances could hold one lease.
            let conditional = !bucket.put_if_absent(&key, probe.clone()).await?;
            bucket.delete(&key).await?;
            Ok::<_, bytefreezer_storage::StorageError>((read, conditional))
        };
        findings.push(
            match tokio::time::timeout(Duration::from_secs(15), round_trip).await {
                Ok(Ok((Some(read), true))) if read == probe => Finding::ok(
                    check,
                    "an object was written, read back, refused a second create-if-absent, and deleted",
                ),
                Ok(Ok((Some(read), false))) if read == probe => Finding::fail(
                    check,
                    "the store accepted create-if-absent over an existing object",
                    "piper and packer take their leases with conditional writes (S3 If-None-Match, which AWS, MinIO and moto honour): use a store that has them",
                ),
                Ok(Ok(_)) => Finding::fail(
                    check,
                    "an object written could not be read back the same",
                    "the store is not consistent after a write; use another",
                ),
                Ok(Err(error)) => Finding::fail(
                    check,
                    error.to_string(),
                    "create the bucket or folder and give these credentials (or the service user) read, write and delete on it",
                ),
                Err(_) => Finding::fail(
                    check,
                    "no answer within 15 s",
                    "check the endpoint and the network path to it",
                ),
            },
        );
    }
    findings
}

/// The control plane answers, and its clock agrees with ours.
async fn control_findings(url: &str) -> Vec<Finding> {
    let check = "control plane";
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(error) => return vec![Finding::fail(check, error.to_string(), "report this")],
    };
    let answer = client
        .get(format!("{}/api/v1/status", url.trim_end_matches('/')))
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(error) => {
            return vec![Finding::fail(
                check,
                format!("{url}: {error}"),
                format!(
                    "start the control plane there (bytefreezer control), or open the firewall from this host to {url}; roles keep running on their cached configuration meanwhile"
                ),
            )];
        }
    };
    let mut findings = vec![Finding::ok(
        check,
        format!("{url} answers ({})", response.status()),
    )];
    let server_time = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|date| date.to_str().ok())
        .and_then(|date| chrono::DateTime::parse_from_rfc2822(date).ok());
    if let Some(server_time) = server_time {
        let ours = chrono::DateTime::<chrono::Utc>::from(SystemTime::now());
        let skew = (ours - server_time.with_timezone(&chrono::Utc))
            .abs()
            .to_std()
            .unwrap_or_default();
        findings.push(checks::clock_skew(url, skew));
    }
    findings
}
