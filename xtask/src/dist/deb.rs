//! The Debian package of `cargo xtask dist`, built with `dpkg-deb` from a staged tree: the
//! binary in /usr/bin, the role configurations in /etc/bytefreezer (conffiles, so an edited one
//! survives upgrades), the units in /lib/systemd/system (installed, not enabled), completions,
//! man pages, docs and the Grafana dashboard; its postinst creates the `bytefreezer` system user
//! and /var/lib/bytefreezer, and honours `DPKG_ROOT` so it can be checked in a scratch root.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run;

/// The package's name, and the first part of its file name (`NAME_VERSION_ARCH.deb`).
const PACKAGE: &str = "bytefreezer";

/// What goes into the package besides the repository's `deploy/` and docs.
pub struct DebInputs<'a> {
    pub root: &'a Path,
    pub binary: &'a Path,
    pub version: &'a str,
    /// Folders the binary generated: `bytefreezer.bash`, `_bytefreezer`, `bytefreezer.fish`.
    pub completions: Option<&'a Path>,
    pub man_pages: Option<&'a Path>,
}

const POSTINST: &str = r#"#!/bin/sh
# Creates the service user and its state folder. DPKG_ROOT is set when dpkg installs into
# another root (dpkg --root with --force-script-chrootless), so every path is under it.
set -e
root="${DPKG_ROOT:-}"
if [ "$1" = configure ]; then
    if ! grep -q '^bytefreezer:' "$root/etc/passwd" 2>/dev/null; then
        if [ -n "$root" ]; then prefix="--prefix $root"; else prefix=""; fi
        # shellcheck disable=SC2086
        useradd $prefix --system --user-group --no-create-home \
            --home-dir /var/lib/bytefreezer --shell /usr/sbin/nologin \
            --comment "bytefreezer" bytefreezer
    fi
    uid=$(awk -F: '$1 == "bytefreezer" { print $3 }' "$root/etc/passwd")
    gid=$(awk -F: '$1 == "bytefreezer" { print $3 }' "$root/etc/group")
    mkdir -p "$root/var/lib/bytefreezer"
    chown "$uid:$gid" "$root/var/lib/bytefreezer"
    chmod 0750 "$root/var/lib/bytefreezer"
    # The configurations hold API keys: readable by the service, not by everyone.
    chgrp "$gid" "$root/etc/bytefreezer" "$root"/etc/bytefreezer/*.toml
    chmod 0750 "$root/etc/bytefreezer"
    chmod 0640 "$root"/etc/bytefreezer/*.toml
    if [ -z "$root" ] && [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
    fi
fi
exit 0
"#;

const POSTRM: &str = r#"#!/bin/sh
# Keeps /var/lib/bytefreezer (spools and caches may hold data not yet shipped) and the user;
# `apt purge` removes the user, the data stays for the operator to delete.
set -e
root="${DPKG_ROOT:-}"
if [ "$1" = purge ] && grep -q '^bytefreezer:' "$root/etc/passwd" 2>/dev/null; then
    if [ -n "$root" ]; then prefix="--prefix $root"; else prefix=""; fi
    # shellcheck disable=SC2086
    userdel $prefix bytefreezer || true
fi
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
exit 0
"#;

/// Builds `NAME_VERSION_ARCH.deb` in `out`; its path.
pub fn build_deb(inputs: &DebInputs, out: &Path) -> Result<PathBuf> {
    let arch = dpkg_architecture()?;
    let tree = out.join(format!("{PACKAGE}_{}_{arch}", inputs.version));
    if tree.exists() {
        std::fs::remove_dir_all(&tree)?;
    }
    let place = |relative: &str, bytes: &[u8], mode: u32| -> Result<()> {
        let path = tree.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        Ok(())
    };
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    place("usr/bin/bytefreezer", &read(inputs.binary)?, 0o755)?;
    let mut conffiles = String::new();
    for entry in sorted_files(&inputs.root.join("deploy/config"))? {
        let name = file_name(&entry)?;
        place(&format!("etc/bytefreezer/{name}"), &read(&entry)?, 0o640)?;
        conffiles.push_str(&format!("/etc/bytefreezer/{name}\n"));
    }
    for entry in sorted_files(&inputs.root.join("deploy/systemd"))? {
        // The units name /usr/local/bin for a hand install; the package puts it in /usr/bin.
        let unit = String::from_utf8(read(&entry)?)?
            .replace("/usr/local/bin/bytefreezer", "/usr/bin/bytefreezer");
        place(
            &format!("lib/systemd/system/{}", file_name(&entry)?),
            unit.as_bytes(),
            0o644,
        )?;
    }
    place(
        "usr/share/bytefreezer/grafana/bytefreezer.json",
        &read(&inputs.root.join("deploy/grafana/bytefreezer.json"))?,
        0o644,
    )?;
    place(
        "usr/share/doc/bytefreezer/README.md",
        &read(&inputs.root.join("README.md"))?,
        0o644,
    )?;
    for doc in sorted_files(&inputs.root.join("docs"))? {
        place(
            &format!("usr/share/doc/bytefreezer/{}", file_name(&doc)?),
            &read(&doc)?,
            0o644,
        )?;
    }
    if let Some(folder) = inputs.completions {
        for (file, target) in [
            (
                "bytefreezer.bash",
                "usr/share/bash-completion/completions/bytefreezer",
            ),
            (
                "_bytefreezer",
                "usr/share/zsh/vendor-completions/_bytefreezer",
            ),
            (
                "bytefreezer.fish",
                "usr/share/fish/vendor_completions.d/bytefreezer.fish",
            ),
        ] {
            place(target, &read(&folder.join(file))?, 0o644)?;
        }
    }
    if let Some(folder) = inputs.man_pages {
        for page in sorted_files(folder)? {
            place(
                &format!("usr/share/man/man1/{}", file_name(&page)?),
                &read(&page)?,
                0o644,
            )?;
        }
    }
    let installed_kib = tree_bytes(&tree)? / 1024;
    place(
        "DEBIAN/control",
        format!(
            "Package: bytefreezer\nVersion: {version}\nArchitecture: {arch}\n\
             Maintainer: bytefreezer <noreply@bytefreezer.invalid>\nSection: net\n\
             Priority: optional\nInstalled-Size: {installed_kib}\n\
             Depends: passwd\n\
             Description: edge collector of syslog, NetFlow, IPFIX, sFlow and events into Parquet\n \
             One binary for every stage (proxy, receiver, piper, packer, query, control plane);\n \
             systemd units are installed, not enabled: see /usr/share/doc/bytefreezer/deploy.md.\n",
            version = inputs.version
        )
        .as_bytes(),
        0o644,
    )?;
    place("DEBIAN/conffiles", conffiles.as_bytes(), 0o644)?;
    place("DEBIAN/postinst", POSTINST.as_bytes(), 0o755)?;
    place("DEBIAN/postrm", POSTRM.as_bytes(), 0o755)?;
    let package = out.join(format!("{PACKAGE}_{}_{arch}.deb", inputs.version));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&tree)
        .arg(&package))
    .context("cannot build the Debian package (is dpkg-deb installed?)")?;
    Ok(package)
}

fn dpkg_architecture() -> Result<String> {
    let output = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .context("cannot run dpkg --print-architecture (a Debian host builds the package)")?;
    let arch = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || arch.is_empty() {
        bail!("dpkg --print-architecture printed nothing");
    }
    Ok(arch)
}

fn sorted_files(folder: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot read {}", folder.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no UTF-8 file name", path.display()))
}

fn tree_bytes(folder: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        total += if metadata.is_dir() {
            tree_bytes(&entry.path())?
        } else {
            metadata.len()
        };
    }
    Ok(total)
}

#[cfg(test)]
#[path = "deb_tests.rs"]
mod tests;
