//! Installs the peer collectors from Debian when they are missing: nfdump (nfcapd), pmacct
//! (nfacctd) and rsyslog system-wide; syslog-ng, whose package conflicts with rsyslog's, is
//! unpacked from `syslog-ng-core` into a cache folder outside the repository and run from there.
//! No daemon may start system-wide while installing: `policy-rc.d` answers 101, and any that
//! started anyway is stopped and disabled.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::sys;
use crate::run;

/// Where unpacked packages live between runs.
const CACHE: &str = "/var/cache/bytefreezer-bench";
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";
/// Libraries syslog-ng-core needs that do not conflict with rsyslog.
const SYSLOG_NG_LIBRARIES: &[&str] = &[
    "libivykis0",
    "libjson-c5",
    "libnet1",
    "libpcre3",
    "libwrap0",
    "libglib2.0-0",
    "libcap2",
    "libssl3",
];

pub struct Peers {
    pub nfcapd: PathBuf,
    pub nfdump: PathBuf,
    pub nfacctd: PathBuf,
    pub rsyslogd: PathBuf,
    pub syslog_ng: SyslogNg,
}

/// syslog-ng, either installed or unpacked into the cache.
pub struct SyslogNg {
    pub binary: PathBuf,
    pub module_path: PathBuf,
    pub environment: Vec<(&'static str, String)>,
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn installed() -> (
    Option<PathBuf>,
    Option<PathBuf>,
    Option<PathBuf>,
    Option<PathBuf>,
) {
    (
        find(&["/usr/bin/nfcapd", "/usr/sbin/nfcapd"]),
        find(&["/usr/bin/nfdump"]),
        find(&["/usr/sbin/nfacctd", "/usr/bin/nfacctd"]),
        find(&["/usr/sbin/rsyslogd"]),
    )
}

pub fn ensure() -> Result<Peers> {
    let (nfcapd, nfdump, nfacctd, rsyslogd) = installed();
    let mut missing = Vec::new();
    if nfcapd.is_none() || nfdump.is_none() {
        missing.push("nfdump");
    }
    if nfacctd.is_none() {
        missing.push("pmacct");
    }
    if rsyslogd.is_none() {
        missing.push("rsyslog");
    }
    let syslog_ng_cached = Path::new(CACHE).join("syslog-ng/usr/sbin/syslog-ng");
    let system_syslog_ng = find(&["/usr/sbin/syslog-ng"]);
    let need_syslog_ng = system_syslog_ng.is_none() && !syslog_ng_cached.is_file();
    if !missing.is_empty() || need_syslog_ng {
        if !sys::is_root() {
            bail!(
                "the ingest benchmark compares against peers that are not installed; as root run \
                 `apt-get install nfdump pmacct rsyslog {}` and unpack syslog-ng-core with \
                 `apt-get download syslog-ng-core && dpkg -x syslog-ng-core_*.deb {CACHE}/syslog-ng` \
                 (missing: {missing:?}{})",
                SYSLOG_NG_LIBRARIES.join(" "),
                if need_syslog_ng { ", syslog-ng" } else { "" }
            );
        }
        let mut packages = missing.clone();
        if need_syslog_ng {
            packages.extend_from_slice(SYSLOG_NG_LIBRARIES);
        }
        install(&packages)?;
        if need_syslog_ng {
            unpack_syslog_ng()?;
        }
    }
    let (nfcapd, nfdump, nfacctd, rsyslogd) = installed();
    let peer = |path: Option<PathBuf>, name: &str, package: &str| {
        path.with_context(|| {
            format!("{name} is still missing after installing {package}; install it by hand")
        })
    };
    let syslog_ng = match system_syslog_ng {
        Some(binary) => SyslogNg {
            binary,
            module_path: PathBuf::from("/usr/lib/syslog-ng/3.38"),
            environment: Vec::new(),
        },
        None => {
            let root = Path::new(CACHE).join("syslog-ng");
            SyslogNg {
                binary: syslog_ng_cached,
                module_path: root.join("usr/lib/syslog-ng/3.38"),
                environment: vec![(
                    "LD_LIBRARY_PATH",
                    root.join("usr/lib/syslog-ng").display().to_string(),
                )],
            }
        }
    };
    Ok(Peers {
        nfcapd: peer(nfcapd, "nfcapd", "nfdump")?,
        nfdump: peer(nfdump, "nfdump", "nfdump")?,
        nfacctd: peer(nfacctd, "nfacctd", "pmacct")?,
        rsyslogd: peer(rsyslogd, "rsyslogd", "rsyslog")?,
        syslog_ng,
    })
}

const DAEMONS: &[(&str, &str)] = &[
    ("rsyslogd", "rsyslog"),
    ("nfacctd", "pmacct"),
    ("nfcapd", "nfdump"),
];

fn running(process: &str) -> bool {
    Command::new("pgrep")
        .args(["-x", process])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn install(packages: &[&str]) -> Result<()> {
    eprintln!("xtask: installing peer collectors {packages:?} with apt-get");
    let was_running: Vec<bool> = DAEMONS.iter().map(|(p, _)| running(p)).collect();
    // Keep services from starting system-wide while installing.
    let wrote_policy = !Path::new(POLICY_RC_D).exists();
    if wrote_policy {
        std::fs::write(POLICY_RC_D, "#!/bin/sh\nexit 101\n")
            .with_context(|| format!("cannot write {POLICY_RC_D}"))?;
        set_executable(Path::new(POLICY_RC_D))?;
    }
    let result =
        run(Command::new("apt-get").args(["-o", "DPkg::Lock::Timeout=600", "update", "-q"]))
            .and_then(|()| {
                run(Command::new("apt-get")
                    .args(["-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q"])
                    .args(["--no-install-recommends"])
                    .args(packages)
                    .env("DEBIAN_FRONTEND", "noninteractive"))
            });
    if wrote_policy {
        let _ = std::fs::remove_file(POLICY_RC_D);
    }
    result.with_context(|| format!("cannot install the peer collectors {packages:?}"))?;
    for ((process, service), before) in DAEMONS.iter().zip(was_running) {
        if !before && running(process) {
            eprintln!(
                "xtask: {service} started system-wide while installing; stopping and disabling it"
            );
            let script = format!("/etc/init.d/{service}");
            let _ = Command::new(&script).arg("stop").status();
            let _ = Command::new("update-rc.d")
                .args([service, "disable"])
                .status();
            let _ = Command::new("systemctl")
                .args(["disable", "--now", service])
                .status();
        }
    }
    Ok(())
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

fn unpack_syslog_ng() -> Result<()> {
    let downloads = Path::new(CACHE).join("debs");
    std::fs::create_dir_all(&downloads)
        .with_context(|| format!("cannot create {}", downloads.display()))?;
    run(Command::new("apt-get")
        .args(["download", "-q", "syslog-ng-core"])
        .current_dir(&downloads))
    .context("cannot download syslog-ng-core")?;
    let package = std::fs::read_dir(&downloads)?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("syslog-ng-core_") && n.ends_with(".deb"))
        })
        .context("apt-get download left no syslog-ng-core package")?;
    run(Command::new("dpkg")
        .arg("-x")
        .arg(&package)
        .arg(Path::new(CACHE).join("syslog-ng")))
    .context("cannot unpack syslog-ng-core")
}
