//! The proxy's spool through a receiver outage, with an edge host's two kinds of input loaded at
//! steady rates (an acknowledged `http` dataset and `syslog` over UDP, every event numbered),
//! every role its own process on moto's S3:
//! - the spool at its limit: `http` is refused with 429 above the high-water mark and never
//!   dropped; the oldest UDP batches make room and are counted (`cause="spool_full"`); once the
//!   receiver returns the spool drains while the load goes on (the drain rate against the
//!   incoming rate is printed);
//! - the spool's disk full (a 2 MiB tmpfs): `http` answers 503, UDP batches are counted as lost
//!   (`cause="spool_write"`), no partial file is left and nothing crashes.
//!
//! In both, every acknowledged event is in the Parquet exactly once, and every datagram is in
//! the Parquet once or counted as dropped. The tmpfs is mounted in a user and mount namespace
//! of the test's own (`unshare`), so the test needs no root and leaves no mount behind.

#[path = "support/chain.rs"]
mod chain;
#[path = "support/exactly_once.rs"]
mod exactly_once;
#[path = "../dataplane/storage/tests/support/moto.rs"]
mod moto;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chain::{Chain, ChainSpec, SYSLOG_DATASET};
use exactly_once::{Ledger, Load, ParquetCount, drain_and_judge, s3_storage_toml, wait_for_input};

/// Set in the copy of the test that runs inside its own namespaces.
const NAMESPACED: &str = "BYTEFREEZER_TEST_IN_OWN_MOUNT_NAMESPACE";
/// Datagrams a second: a busy firewall's syslog, well within what a debug build receives.
const SYSLOG_RATE: u64 = 2000;

/// Runs `test` again in a user and mount namespace of its own, where it may mount a tmpfs;
/// true in the calling copy, which then has nothing left to do.
fn rerun_in_own_mount_namespace(test: &str) -> bool {
    if std::env::var_os(NAMESPACED).is_some() {
        return false;
    }
    let status = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "--propagation",
            "private",
        ])
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(NAMESPACED, "1")
        .status()
        .expect("unshare (util-linux) to give the test a mount namespace of its own");
    assert!(
        status.success(),
        "{test} failed in its namespace (its output is above)"
    );
    true
}

fn mount_tmpfs(folder: &Path, size: &str) {
    std::fs::create_dir_all(folder).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(folder)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cannot mount a tmpfs at {}: unprivileged user namespaces must be allowed \
         (sysctl kernel.unprivileged_userns_clone=1) or the test run as root",
        folder.display()
    );
}

/// Numbered syslog datagrams at [`SYSLOG_RATE`] until stopped; how many were sent.
struct SyslogLoad {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl SyslogLoad {
    fn start(target: SocketAddr) -> SyslogLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let started = Instant::now();
            let mut sent = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let due = started.elapsed().as_millis() as u64 * SYSLOG_RATE / 1000;
                while sent < due {
                    let message = format!(
                        "<134>1 2026-12-07T10:00:00.000Z fw01 filterlog - - - seq={sent} \
                         action=allow src=10.0.{}.{} dst=192.0.2.7",
                        sent % 250,
                        sent % 199
                    );
                    socket.send_to(message.as_bytes(), target).unwrap();
                    sent += 1;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            sent
        });
        SyslogLoad { stop, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// The sum of a metric's samples whose labels include every one of `labels`.
fn metric(chain: &Chain, name: &str, labels: &[&str]) -> f64 {
    let text = reqwest::blocking::get(format!("http://{}/metrics", chain.proxy_metrics))
        .and_then(|response| response.text())
        .unwrap_or_default();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let bare = series.split('{').next()?;
            (bare == name && labels.iter().all(|label| series.contains(label)))
                .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// Rows the proxy counted as lost for `dataset`, for one cause or all; with no cause, the
/// datagrams the socket dropped too (one row each for syslog).
fn dropped_rows(chain: &Chain, dataset: &str, cause: Option<&str>) -> u64 {
    let mut labels = vec![format!("dataset=\"{dataset}\"")];
    labels.extend(cause.map(|cause| format!("cause=\"{cause}\"")));
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let mut dropped = metric(chain, "bytefreezer_proxy_rows_dropped_total", &labels);
    if cause.is_none() {
        dropped += metric(chain, "bytefreezer_proxy_datagrams_dropped_total", &labels);
    }
    dropped as u64
}

/// Every datagram is in the Parquet once or counted as dropped by the proxy.
fn assert_datagrams_accounted(
    chain: &Chain,
    settings: &bytefreezer_storage::S3Settings,
    sent: u64,
) {
    let mut parquet = ParquetCount::of(settings, SYSLOG_DATASET);
    parquet.refresh();
    let found = (0..sent).filter(|&seq| parquet.found(seq) > 0).count() as u64;
    let duplicated = (0..sent).filter(|&seq| parquet.found(seq) > 1).count();
    let dropped = dropped_rows(chain, SYSLOG_DATASET, None);
    println!(
        "datagrams: sent {sent}, in Parquet {found}, counted as dropped {dropped}, duplicated {duplicated}"
    );
    assert_eq!(duplicated, 0, "no datagram stored twice");
    // Counts may be high, never low: a batch the receiver stored as it was killed, before its
    // answer went out, is sent again later, and when the spool drops it first to make room it
    // is counted as dropped although its rows arrived.
    assert!(
        found + dropped >= sent,
        "datagrams unaccounted for: sent {sent}, in Parquet {found}, dropped {dropped}"
    );
}

fn partial_files(spool: &Path) -> Vec<String> {
    std::fs::read_dir(spool)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".tmp"))
        .collect()
}

fn receiver(chain: &Chain) -> usize {
    chain
        .members
        .iter()
        .position(|m| m.name == "receiver")
        .unwrap()
}

/// Runs both loads, with the receiver down for `outage`, then through `while_back`.
fn outage_under_load(
    chain: &mut Chain,
    outage: Duration,
    mut while_back: impl FnMut(&mut Chain),
) -> (Ledger, u64) {
    wait_for_input(chain);
    let receiver = receiver(chain);
    let syslog = SyslogLoad::start(chain.syslog.unwrap());
    let load = Load::start(&chain.events_url);
    std::thread::sleep(Duration::from_secs(3));
    chain.kill(receiver);
    std::thread::sleep(outage);
    chain.restart(receiver);
    while_back(chain);
    (load.finish(), syslog.finish())
}

#[test]
fn a_receiver_outage_fills_the_spool_to_its_limit_and_it_drains_under_load() {
    let test = "a_receiver_outage_fills_the_spool_to_its_limit_and_it_drains_under_load";
    if rerun_in_own_mount_namespace(test) {
        return;
    }
    let moto = moto::Moto::start();
    let settings = moto.settings("spool-limit");
    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec {
        syslog: true,
        proxy_settings: "spool_max_bytes = 2097152\nspool_compression = \"none\"".into(),
        ..ChainSpec::on(s3_storage_toml(&moto.endpoint, &settings))
    };
    let mut chain = Chain::start(dir.path(), &spec);
    let spool_bytes = |chain: &Chain| metric(chain, "bytefreezer_proxy_spool_bytes", &[]);
    let mut drain = None;
    let (ledger, datagrams) = outage_under_load(&mut chain, Duration::from_secs(20), |chain| {
        // Drained: the spool back under a tenth of its limit, the load still arriving.
        let start = Instant::now();
        let acked = metric(chain, "bytefreezer_proxy_rows_acked_total", &[]);
        let durable = metric(chain, "bytefreezer_proxy_rows_durable_total", &[]);
        while spool_bytes(chain) > 209_715.0 && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let seconds = start.elapsed().as_secs_f64();
        let sent = metric(chain, "bytefreezer_proxy_rows_acked_total", &[]) - acked;
        let arrived = metric(chain, "bytefreezer_proxy_rows_durable_total", &[]) - durable;
        drain = Some((seconds, sent / seconds, arrived / seconds));
        std::thread::sleep(Duration::from_secs(3));
    });
    let (seconds, drained_per_second, arriving_per_second) = drain.unwrap();
    println!(
        "spool drained in {seconds:.1} s: {drained_per_second:.0} rows/s acknowledged while \
         {arriving_per_second:.0} rows/s arrived ({:.1}x)",
        drained_per_second / arriving_per_second
    );
    let spool_full = dropped_rows(&chain, SYSLOG_DATASET, Some("spool_full"));
    assert!(
        spool_full > 0,
        "the outage should have filled the 2 MiB spool"
    );
    assert!(
        ledger.refused_requests > 0,
        "http should have been refused (429) near the limit"
    );
    assert_eq!(
        dropped_rows(&chain, chain::DATASET, None),
        0,
        "acknowledged http events are never dropped to make room"
    );
    assert!(
        drained_per_second > arriving_per_second,
        "the spool must drain while the load goes on"
    );

    drain_and_judge(
        &mut chain,
        &settings,
        &ledger,
        Duration::from_secs(120),
        "spool at its limit",
    );
    assert_datagrams_accounted(&chain, &settings, datagrams);
}

#[test]
fn a_full_spool_disk_refuses_or_counts_and_leaves_no_partial_file() {
    let test = "a_full_spool_disk_refuses_or_counts_and_leaves_no_partial_file";
    if rerun_in_own_mount_namespace(test) {
        return;
    }
    let moto = moto::Moto::start();
    let settings = moto.settings("spool-disk");
    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec {
        syslog: true,
        proxy_settings: "spool_compression = \"none\"".into(),
        ..ChainSpec::on(s3_storage_toml(&moto.endpoint, &settings))
    };
    // The spool's disk holds 2 MiB; the spool's own limit (1 GiB) is never the one reached.
    mount_tmpfs(&dir.path().join("proxy/spool"), "2m");
    let mut chain = Chain::start(dir.path(), &spec);
    let (ledger, datagrams) = outage_under_load(&mut chain, Duration::from_secs(20), |_| {
        std::thread::sleep(Duration::from_secs(5));
    });
    // Writes in progress have finished once the load stopped and a batch age went by.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        partial_files(&chain.proxy_spool),
        Vec::<String>::new(),
        "a failed write leaves no partial file"
    );
    let lost = dropped_rows(&chain, SYSLOG_DATASET, Some("spool_write"));
    assert!(
        lost > 0,
        "the full disk should have lost datagram batches, counted"
    );
    assert!(
        ledger.refused_requests > 0,
        "http should have been refused (503) while the disk was full"
    );

    drain_and_judge(
        &mut chain,
        &settings,
        &ledger,
        Duration::from_secs(120),
        "spool disk full",
    );
    assert_datagrams_accounted(&chain, &settings, datagrams);
}
