//! `cargo xtask dist`: the shipped build. Compiles the `dist` profile (cross-crate LTO, fewer
//! codegen units, line tables for backtraces) and packs the binary with the systemd units,
//! example configurations and Grafana dashboard from `deploy/`, shell completions and man
//! pages into a tarball for an edge host, and into a Debian package (`dist/deb.rs`).

mod deb;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::run;
use deb::{DebInputs, build_deb};

pub fn dist(root: &Path) -> Result<()> {
    run(crate::cargo()
        .args(["build", "--profile", "dist", "--bin", "bytefreezer"])
        .current_dir(root))
    .context("cannot build the dist profile")?;
    let target = target_dir(root);
    let binary = target.join("dist/bytefreezer");
    let version = version_of(&binary)?;
    let name = format!("bytefreezer-{version}-{}-linux", std::env::consts::ARCH);
    let staging = target.join("dist").join(&name);
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot clear {}", staging.display()))?;
    }
    std::fs::create_dir_all(staging.join("bin"))?;
    std::fs::copy(&binary, staging.join("bin/bytefreezer"))
        .with_context(|| format!("cannot copy {}", binary.display()))?;
    for folder in ["systemd", "config", "grafana"] {
        copy_folder(&root.join("deploy").join(folder), &staging.join(folder))?;
    }
    std::fs::copy(root.join("README.md"), staging.join("README.md"))?;
    std::fs::copy(root.join("deploy/install.sh"), staging.join("install.sh"))?;
    copy_folder(&root.join("docs"), &staging.join("docs"))?;
    let completions = staging.join("completions");
    std::fs::create_dir_all(&completions)?;
    for (shell, file) in [
        ("bash", "bytefreezer.bash"),
        ("zsh", "_bytefreezer"),
        ("fish", "bytefreezer.fish"),
    ] {
        let output = Command::new(&binary)
            .args(["completions", shell])
            .output()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        std::fs::write(completions.join(file), output.stdout)?;
    }
    let man = staging.join("man");
    run(Command::new(&binary).args(["manpages", "--out"]).arg(&man))
        .context("cannot generate the man pages")?;
    let tarball = target.join("dist").join(format!("{name}.tar.gz"));
    run(Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(target.join("dist"))
        .arg(&name))
    .context("cannot pack the tarball (is `tar` installed?)")?;
    let size = std::fs::metadata(&tarball)?.len();
    println!(
        "{} ({:.1} MiB): bin/bytefreezer, install.sh, systemd/, config/, grafana/, completions/, man/, docs/, README.md",
        tarball.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    let package = build_deb(
        &DebInputs {
            root,
            binary: &binary,
            version: &version,
            completions: Some(&completions),
            man_pages: Some(&man),
        },
        &target.join("dist"),
    )?;
    println!(
        "{}: installs the units disabled; `apt install ./{}` then docs/deploy.md",
        package.display(),
        package
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("the package")
    );
    Ok(())
}

/// Where cargo puts build output: CARGO_TARGET_DIR (as `.ci/run` sets it) or `target/`.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn version_of(binary: &Path) -> Result<String> {
    let output = Command::new(binary)
        .arg("version")
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    // `bytefreezer version` prints `bytefreezer X.Y.Z ...`.
    text.split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .with_context(|| format!("`bytefreezer version` printed {text:?}"))
}

fn copy_folder(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
