//! The checks of `bytefreezer doctor`, each reading one fact of this host and judging it, so the
//! judgment (and its advice) can be tested on any value without breaking the host.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// What one check found, and what to do about it when it is not ok.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::ok(check, detail).with_fix(Status::Warn, fix)
    }

    pub fn fail(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::ok(check, detail).with_fix(Status::Fail, fix)
    }

    fn with_fix(self, status: Status, fix: impl Into<String>) -> Finding {
        Finding {
            status,
            fix: Some(fix.into()),
            ..self
        }
    }
}

/// The receive buffer the proxy asks for on each UDP socket.
pub const WANTED_RMEM_MAX: u64 = 8 << 20;

/// The io_uring receive path: the proxy falls back to `recvmmsg` without it (slower, never
/// broken), so a miss warns.
pub fn io_uring(support: std::io::Result<bytefreezer_proxy::UringSupport>) -> Finding {
    const CHECK: &str = "io_uring";
    match support {
        Ok(support) if support.deferred_task_work => Finding::ok(
            CHECK,
            format!(
                "multishot recvmsg with a provided buffer ring works; deferred task work: yes; \
                 batched wake-ups: {}",
                if support.batched_wake {
                    "yes"
                } else {
                    "no (Linux 6.12+)"
                }
            ),
        ),
        Ok(_) => Finding::warn(
            CHECK,
            "multishot recvmsg works, without deferred task work (Linux 6.1+): a datagram \
             arriving while a worker decodes interrupts it",
            "run a kernel of 6.1 or later",
        ),
        Err(error) => Finding::warn(
            CHECK,
            format!(
                "the io_uring receive path does not work here ({error}); the proxy uses recvmmsg, which costs more CPU per datagram"
            ),
            "a kernel of 6.1 or later with io_uring enabled: `sysctl kernel.io_uring_disabled=0`, and no seccomp profile blocking io_uring_setup (containers); or set io = \"recvmmsg\" to say so",
        ),
    }
}

/// `net.core.rmem_max`: the ceiling of each UDP socket's receive buffer, which absorbs bursts.
pub fn rmem_max(value: Option<u64>) -> Finding {
    const CHECK: &str = "net.core.rmem_max";
    let fix = format!(
        "sysctl -w net.core.rmem_max={WANTED_RMEM_MAX}, and keep it with \
         `echo net.core.rmem_max={WANTED_RMEM_MAX} > /etc/sysctl.d/90-bytefreezer.conf`"
    );
    match value {
        Some(value) if value >= WANTED_RMEM_MAX => {
            Finding::ok(CHECK, format!("{value} bytes: UDP bursts are absorbed"))
        }
        Some(value) => Finding::warn(
            CHECK,
            format!(
                "{value} bytes, below the {WANTED_RMEM_MAX} the proxy asks per socket: bursts \
                 beyond it are dropped by the kernel"
            ),
            fix,
        ),
        None => Finding::warn(CHECK, "cannot read /proc/sys/net/core/rmem_max", fix),
    }
}

/// `RLIMIT_MEMLOCK`: each receive worker pins its buffer ring's entries.
pub fn memlock(limit: Option<u64>, workers: usize) -> Finding {
    const CHECK: &str = "memlock";
    // 256 entries of 16 bytes, one page with headroom, per worker.
    let needed = workers as u64 * 8192;
    match limit {
        None => Finding::ok(CHECK, "unlimited"),
        Some(limit) if limit >= needed => Finding::ok(
            CHECK,
            format!("{limit} bytes; {workers} receive workers pin about {needed}"),
        ),
        Some(limit) => Finding::fail(
            CHECK,
            format!("{limit} bytes; {workers} receive workers pin about {needed}"),
            "raise it: LimitMEMLOCK=1M in the unit, or `ulimit -l 1024` in the shell",
        ),
    }
}

/// Receive workers against the cores they are pinned to.
pub fn cpus(cores: usize, workers: usize) -> Finding {
    const CHECK: &str = "cpus";
    if workers == 0 || workers <= cores {
        let workers = if workers == 0 { cores } else { workers };
        Finding::ok(
            CHECK,
            format!("{cores} cores, {workers} receive workers (one per core at most)"),
        )
    } else {
        Finding::warn(
            CHECK,
            format!("{workers} receive workers on {cores} cores: pinned workers share cores"),
            "set [proxy] workers = 0 (one per core) or at most the number of cores",
        )
    }
}

/// A port the configuration listens on: free now, or who to ask.
pub fn port(what: &str, transport: &str, address: SocketAddr) -> Finding {
    let check = format!("port {transport}/{address} ({what})");
    let bound = match transport {
        "udp" => UdpSocket::bind(address).map(drop),
        _ => TcpListener::bind(address).map(drop),
    };
    match bound {
        Ok(()) => Finding::ok(check, "free"),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => Finding::fail(
            check,
            "in use by another process",
            format!(
                "find it with `ss -lnp{} 'sport = :{}'`, stop it or choose another port",
                if transport == "udp" { "u" } else { "t" },
                address.port()
            ),
        ),
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => Finding::fail(
            check,
            format!("not permitted: {error}"),
            "ports below 1024 need CAP_NET_BIND_SERVICE (AmbientCapabilities in the unit)",
        ),
        Err(error) => Finding::fail(
            check,
            format!("cannot bind: {error}"),
            "use an address of this host (`ip -br addr`)",
        ),
    }
}

/// The nearest folder of `path` that exists: a folder not created yet lives on its parent's
/// file system.
fn existing_ancestor(path: &Path) -> PathBuf {
    let mut current = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    while !current.exists() {
        if !current.pop() {
            return PathBuf::from("/");
        }
    }
    current
}

/// Free space where the spool lives, against the spool's limit.
pub fn disk(folder: &Path, free_bytes: Option<u64>, spool_max_bytes: u64) -> Finding {
    let check = format!("disk {}", folder.display());
    match free_bytes {
        None => Finding::fail(
            check,
            "cannot read the file system's free space",
            "make the folder's parent readable by the service user",
        ),
        Some(free) if free >= spool_max_bytes => Finding::ok(
            check,
            format!(
                "{} free, the spool may use {}",
                bytes(free),
                bytes(spool_max_bytes)
            ),
        ),
        Some(free) => Finding::warn(
            check,
            format!(
                "{} free, less than the spool's limit of {}: once the disk is full new \
                 batches are refused",
                bytes(free),
                bytes(spool_max_bytes)
            ),
            "free space, or lower [proxy] spool_max_bytes to what the disk can hold",
        ),
    }
}

pub fn free_bytes(folder: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(existing_ancestor(folder)).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// The spool fsyncs each batch before it counts as durable: the slowest of a few fsyncs.
pub fn fsync(folder: &Path, slowest: std::io::Result<Duration>) -> Finding {
    let check = format!("fsync {}", folder.display());
    match slowest {
        Ok(slowest) if slowest <= Duration::from_millis(50) => Finding::ok(
            check,
            format!(
                "slowest of 20 fsyncs of 4 KiB: {:.1} ms",
                slowest.as_secs_f64() * 1e3
            ),
        ),
        Ok(slowest) => Finding::warn(
            check,
            format!(
                "slowest of 20 fsyncs of 4 KiB: {:.1} ms; every spool batch waits for one",
                slowest.as_secs_f64() * 1e3
            ),
            "put the spool on a local SSD; network or throttled disks cap what inputs that acknowledge can take",
        ),
        Err(error) => Finding::fail(
            check,
            format!("cannot write and fsync a file there: {error}"),
            "create the folder and give the service user write access (ReadWritePaths in the unit)",
        ),
    }
}

/// Writes and fsyncs a small file in `folder` (created if missing) 20 times; the slowest.
pub fn measure_fsync(folder: &Path) -> std::io::Result<Duration> {
    use std::io::Write;
    std::fs::create_dir_all(folder)?;
    let path = folder.join(format!(".doctor-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&path)?;
        let block = [0u8; 4096];
        let mut slowest = Duration::ZERO;
        for _ in 0..20 {
            let started = Instant::now();
            file.write_all(&block)?;
            file.sync_all()?;
            slowest = slowest.max(started.elapsed());
        }
        Ok(slowest)
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// A TCP peer the role sends to (the receiver, for a proxy).
pub fn reachable(what: &str, address: &str) -> Finding {
    let check = format!("reach {what}");
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(address)
        .ok()
        .and_then(|mut addresses| addresses.next());
    let Some(target) = resolved else {
        return Finding::fail(
            check,
            format!("{address} does not resolve"),
            "check the host name in the configuration and this host's DNS",
        );
    };
    match TcpStream::connect_timeout(&target, Duration::from_secs(3)) {
        Ok(_) => Finding::ok(check, format!("{address} accepts connections")),
        Err(error) => Finding::fail(
            check,
            format!("{address}: {error}"),
            format!("start {what} there, or open the firewall from this host to {address}"),
        ),
    }
}

/// This host's clock against a server's `Date`: expiring leases and signed requests need them
/// within seconds of each other.
pub fn clock_skew(server: &str, skew: Duration) -> Finding {
    let check = format!("clock against {server}");
    if skew <= Duration::from_secs(5) {
        Finding::ok(check, format!("{} s apart", skew.as_secs()))
    } else {
        Finding::warn(
            check,
            format!("{} s apart", skew.as_secs()),
            "synchronize the clock (chrony or systemd-timesyncd): leases expire by it and S3 refuses requests 15 minutes off",
        )
    }
}

fn bytes(count: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let value = count as f64;
    if value >= GIB {
        format!("{:.1} GiB", value / GIB)
    } else {
        format!("{:.1} MiB", value / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_miss_says_how_to_fix_it() {
        let small = rmem_max(Some(212_992));
        assert_eq!(small.status, Status::Warn);
        assert!(
            small
                .fix
                .unwrap()
                .contains("sysctl -w net.core.rmem_max=8388608")
        );
        assert_eq!(rmem_max(Some(WANTED_RMEM_MAX)).status, Status::Ok);

        let locked = memlock(Some(4096), 4);
        assert_eq!(locked.status, Status::Fail);
        assert!(locked.fix.unwrap().contains("LimitMEMLOCK"));
        assert_eq!(memlock(None, 64).status, Status::Ok);

        assert_eq!(cpus(2, 8).status, Status::Warn);
        assert_eq!(cpus(2, 0).status, Status::Ok);

        let full = disk(Path::new("/spool"), Some(1 << 20), 1 << 30);
        assert_eq!(full.status, Status::Warn);
        assert!(full.fix.unwrap().contains("spool_max_bytes"));

        let slow = fsync(Path::new("/spool"), Ok(Duration::from_millis(400)));
        assert_eq!(slow.status, Status::Warn);
        let broken = fsync(
            Path::new("/spool"),
            Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        );
        assert_eq!(broken.status, Status::Fail);

        assert_eq!(
            clock_skew("x", Duration::from_secs(40)).status,
            Status::Warn
        );
        let refused = io_uring(Err(std::io::Error::other("io_uring setup: EPERM")));
        assert_eq!(refused.status, Status::Warn);
        assert!(refused.fix.unwrap().contains("io_uring_disabled"));
    }

    #[test]
    fn a_taken_port_fails_and_names_the_tool_to_find_its_owner() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let finding = port("control plane", "tcp", address);
        assert_eq!(finding.status, Status::Fail, "{finding:?}");
        assert!(finding.fix.unwrap().contains("ss -lnpt"));
        drop(taken);
        assert_eq!(port("control plane", "tcp", address).status, Status::Ok);
    }

    #[test]
    fn a_folder_that_cannot_hold_files_fails_the_fsync_check() {
        let file = tempfile::NamedTempFile::new().unwrap();
        // A path under a regular file: no folder can be created there, whoever runs it.
        let folder = file.path().join("spool");
        let finding = fsync(&folder, measure_fsync(&folder));
        assert_eq!(finding.status, Status::Fail);
        let dir = tempfile::tempdir().unwrap();
        assert!(measure_fsync(dir.path()).is_ok());
    }
}
