use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run;

/// Python packages the end-to-end tests use to prove the Parquet files are readable by the
/// tools users query them with.
const PYTHON_PACKAGES: &[(&str, &str)] = &[("pyarrow", "pyarrow"), ("duckdb", "duckdb")];

/// Installs what the test suite needs and is missing. Idempotent and quiet when all is there.
pub fn test_dependencies() -> Result<()> {
    ensure_nextest()?;
    ensure_python_packages()?;
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
        "python3 is required by the end-to-end tests (they read Parquet with pyarrow and DuckDB); \
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
