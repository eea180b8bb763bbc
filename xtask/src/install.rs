use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run;

mod captures;

pub(crate) use captures::fetch_crate;

/// Python packages the end-to-end tests use: pyarrow and DuckDB prove the Parquet files are
/// readable by the tools users query them with; Schemathesis fuzzes the control-plane API from
/// its OpenAPI document (pinned: the test's check hooks use its plugin API); moto is the S3
/// server the storage suite runs against; kubernetes-validate and check-jsonschema check
/// deploy/k8s and deploy/compose against the Kubernetes and Compose schemas they bundle
/// (pinned, so a new schema release cannot fail an unchanged manifest).
const PYTHON_PACKAGES: &[(&str, &str)] = &[
    ("pyarrow", "pyarrow"),
    ("duckdb", "duckdb"),
    ("schemathesis", "schemathesis==4.32.5"),
    // A real S3 server for the storage suite and the query service's S3 tests.
    ("moto.server", "moto[server]"),
    ("kubernetes_validate", "kubernetes-validate==1.37.0"),
    ("check_jsonschema", "check-jsonschema==0.39.0"),
];

/// MaxMind's own test databases ship in the source package of their Python reader; the
/// version is pinned so the expected cities in tests do not move.
const MAXMIND_TEST_PACKAGE: &str = "maxminddb==3.2.0";
const GEOIP_TEST_FILES: &[&str] = &["GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb"];

/// Where the GeoIP tests find MaxMind's test databases, relative to the workspace root.
pub const GEOIP_TEST_DIR: &str = ".test-data/geoip";

/// Installs what the test suite needs and is missing. Idempotent and quiet when all is there.
pub fn test_dependencies(root: &Path) -> Result<()> {
    ensure_nextest()?;
    ensure_tansu()?;
    ensure_debian_packages()?;
    ensure_python_packages()?;
    ensure_geoip_test_databases(root)?;
    captures::ensure_public_captures(root)?;
    Ok(())
}

fn ensure_geoip_test_databases(root: &Path) -> Result<()> {
    let dir = root.join(GEOIP_TEST_DIR);
    if GEOIP_TEST_FILES.iter().all(|f| dir.join(f).is_file()) {
        return Ok(());
    }
    let python = find_python()?;
    let download = dir.join("download");
    std::fs::create_dir_all(&download)
        .with_context(|| format!("cannot create {}", download.display()))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-binary",
            ":all:",
            MAXMIND_TEST_PACKAGE,
            "-d",
        ])
        .arg(&download))
    .context("cannot download MaxMind's test databases from PyPI")?;
    let archive = std::fs::read_dir(&download)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.to_string_lossy().ends_with(".tar.gz"))
        .context("pip download left no source archive")?;
    let mut tar = Command::new("tar");
    tar.arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&dir)
        .args(["--strip-components=4", "--wildcards"]);
    for file in GEOIP_TEST_FILES {
        tar.arg(format!("*/tests/data/test-data/{file}"));
    }
    run(&mut tar).context("cannot unpack MaxMind's test databases")?;
    let missing: Vec<_> = GEOIP_TEST_FILES
        .iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        bail!("{MAXMIND_TEST_PACKAGE} no longer carries {missing:?}");
    }
    Ok(())
}

/// Debian packages the tests drive, as (a program the package installs, package): chromium and
/// chromedriver for the dashboard's browser tests; tshark, nfcapd and nfdump as the reference
/// decoders the flow decoder is compared with; curl and logger, which the README's commands
/// use; clang and libbpf's headers, which build the eBPF agent's probes. Installed with apt-get
/// when running as root; otherwise the missing ones are named.
const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/curl", "curl"),
    ("/usr/bin/logger", "bsdutils"),
    ("/usr/bin/chromium", "chromium"),
    ("/usr/bin/chromedriver", "chromium-driver"),
    ("/usr/bin/tshark", "tshark"),
    ("/usr/bin/nfcapd", "nfdump"),
    ("/usr/bin/nfdump", "nfdump"),
    // `systemd-analyze security --offline` scores the units in deploy/systemd.
    ("/usr/bin/systemd-analyze", "systemd"),
    // The eBPF agent's probes (ebpf/agent/build.rs): clang's BPF target and libbpf's headers.
    ("/usr/bin/clang-19", "clang-19"),
    ("/usr/include/bpf/bpf_helpers.h", "libbpf-dev"),
    // `cargo xtask bench agent` reads the probes' run time from the kernel's BPF statistics.
    ("/usr/sbin/bpftool", "bpftool"),
];

/// Installing a package must not start its daemon (the nfdump package ships an nfcapd
/// service): while apt runs, this policy tells invoke-rc.d that no service may start.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

fn ensure_debian_packages() -> Result<()> {
    let mut missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|(program, _)| !Path::new(program).exists())
        .map(|(_, package)| *package)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"));
    if !is_root {
        bail!(
            "the tests need Debian packages {missing:?}: run `sudo apt-get install {}` \
             or run `cargo xtask install-test-deps` as root",
            missing.join(" ")
        );
    }
    // tshark's package asks whether non-root users may capture; answer no without a prompt.
    let mut debconf = Command::new("debconf-set-selections")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .context("cannot run debconf-set-selections")?;
    debconf
        .stdin
        .take()
        .context("no stdin for debconf-set-selections")?
        .write_all(b"wireshark-common wireshark-common/install-setuid boolean false\n")?;
    if !debconf.wait()?.success() {
        bail!("debconf-set-selections refused the wireshark-common answer");
    }
    // Replace any policy there for the duration of the install, then put it back.
    let previous_policy = std::fs::read(POLICY_RC_D).ok();
    std::fs::write(POLICY_RC_D, "#!/bin/sh\nexit 101\n")
        .with_context(|| format!("cannot write {POLICY_RC_D}"))?;
    std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755))?;
    let installed = apt_get_install(&missing);
    match previous_policy {
        Some(bytes) => std::fs::write(POLICY_RC_D, bytes),
        None => std::fs::remove_file(POLICY_RC_D),
    }
    .with_context(|| format!("cannot restore {POLICY_RC_D}"))?;
    installed
}

fn apt_get_install(packages: &[&str]) -> Result<()> {
    run(Command::new("apt-get")
        .args(["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .context("apt-get update failed")?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .with_context(|| format!("cannot install {packages:?} with apt-get"))
}

fn ensure_nextest() -> Result<()> {
    let present = crate::cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !present {
        run(crate::cargo().args(["install", "cargo-nextest", "--locked"]))
            .context("cannot install cargo-nextest")?;
    }
    Ok(())
}

/// The Kafka broker the kafka input's tests run against: tansu, from crates.io (pinned: its
/// command line is part of the tests). About 11 minutes to build on two cores, so it is built
/// once into a folder outside the clone that every later run (and CI on this machine) reuses;
/// the tests look for it there (`dataplane/proxy/src/kafka_test_broker.rs`).
const TANSU_VERSION: &str = "0.6.0";
const TANSU_ROOT: &str = "/var/tmp/bytefreezer-tools/tansu";

fn ensure_tansu() -> Result<()> {
    let binary = Path::new(TANSU_ROOT).join("bin/tansu");
    if std::env::var_os("BYTEFREEZER_TANSU").is_some() || binary.is_file() {
        return Ok(());
    }
    eprintln!("xtask: building the tansu Kafka broker {TANSU_VERSION} for the kafka tests (once)");
    let build_dir = Path::new(TANSU_ROOT).with_file_name("tansu-build");
    run(crate::cargo()
        .args(["install", "tansu", "--locked", "--version", TANSU_VERSION])
        .args(["--features", "dynostore", "--root", TANSU_ROOT])
        .arg("--target-dir")
        .arg(&build_dir))
    .context("cannot build the tansu Kafka broker")?;
    // The binary is all the tests need; its build folder is a gigabyte or more.
    let _ = std::fs::remove_dir_all(&build_dir);
    Ok(())
}

fn ensure_python_packages() -> Result<()> {
    let python = find_python().context(
        "python3 is required by the end-to-end tests (pyarrow, DuckDB and Schemathesis); \
         install it with `apt-get install python3 python3-pip`",
    )?;
    let missing: Vec<&str> = PYTHON_PACKAGES
        .iter()
        .filter(|(module, _)| {
            !Command::new(&python)
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|output| output.status.success())
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]);
    if is_externally_managed(&python) {
        pip.arg("--break-system-packages");
    }
    pip.args(&missing);
    run(&mut pip).with_context(|| format!("cannot install Python packages {missing:?}"))
}

fn find_python() -> Result<String> {
    for candidate in ["python3", "python"] {
        if Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success())
        {
            return Ok(candidate.to_owned());
        }
    }
    bail!("no python3 on PATH")
}

fn is_externally_managed(python: &str) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()['stdlib'], 'EXTERNALLY-MANAGED')) else 1)",
        ])
        .status()
        .is_ok_and(|status| status.success())
}
