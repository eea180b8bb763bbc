use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run;

/// Python packages the end-to-end tests use: pyarrow and DuckDB prove the Parquet files are
/// readable by the tools users query them with; Schemathesis fuzzes the control-plane API from
/// its OpenAPI document (pinned: the test's check hooks use its plugin API); moto is the S3
/// server the storage suite runs against.
const PYTHON_PACKAGES: &[(&str, &str)] = &[
    ("pyarrow", "pyarrow"),
    ("duckdb", "duckdb"),
    ("schemathesis", "schemathesis==4.32.5"),
    // A real S3 server for the storage suite and the query service's S3 tests.
    ("moto.server", "moto[server]"),
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
    ensure_debian_packages()?;
    ensure_python_packages()?;
    ensure_geoip_test_databases(root)?;
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

/// Debian packages the tests drive: chromium and chromedriver for the dashboard's browser
/// tests. Installed with apt-get when running as root; otherwise the missing ones are named.
const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/chromium", "chromium"),
    ("/usr/bin/chromedriver", "chromium-driver"),
];

fn ensure_debian_packages() -> Result<()> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|(program, _)| !Path::new(program).exists())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"));
    if !is_root {
        bail!(
            "the browser tests need Debian packages {missing:?}: run `sudo apt-get install {}` \
             or run `cargo xtask test` as root",
            missing.join(" ")
        );
    }
    run(Command::new("apt-get")
        .args(["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .context("apt-get update failed")?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .with_context(|| format!("cannot install {missing:?} with apt-get"))?;
    Ok(())
}

fn ensure_nextest() -> Result<()> {
    let present = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !present {
        run(Command::new("cargo").args(["install", "cargo-nextest", "--locked"]))
            .context("cannot install cargo-nextest")?;
    }
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
