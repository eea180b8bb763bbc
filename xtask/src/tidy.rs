use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

mod crate_graph;
mod download_addresses;
mod metric_names;
mod unsafe_placement;
mod unused_dependencies;
mod workspace_crates;

/// Built at compile time so this file does not flag itself.
const FORBIDDEN_MACROS: [&str; 2] = [concat!("todo", "!("), concat!("unimplemented", "!(")];

/// The repository rules no compiler checks: the layout and docs of every file, where `unsafe`
/// may appear, which crate may depend on which (docs/architecture.md), no unused dependency,
/// metric names written only in `bytefreezer_api::metrics`.
pub fn check(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    let crates = workspace_crates::load(root)?;
    let architecture = fs::read_to_string(root.join(crate_graph::TABLE_FILE))
        .with_context(|| format!("cannot read {}", crate_graph::TABLE_FILE))?;
    let rules = crate_graph::parse_rules(&architecture)?;
    problems.extend(crate_graph::problems(&crates, &rules));
    problems.extend(crate_graph::never_built_problems(root, &crates, &rules)?);
    problems.extend(unused_dependencies::problems(root, &crates)?);
    let mut files = Vec::new();
    collect_rust_files(root, &mut files)?;
    for file in &files {
        let relative = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        if file.file_name().is_some_and(|name| name == "mod.rs") {
            problems.push(format!(
                "{relative}: use `name.rs` beside `name/`, not mod.rs"
            ));
        }
        let text = fs::read_to_string(file).with_context(|| format!("cannot read {relative}"))?;
        if file.file_name().is_some_and(|name| name == "lib.rs") && !text.starts_with("//!") {
            problems.push(format!(
                "{relative}: lib.rs must start with a `//!` paragraph: what the crate owns and what it must not do"
            ));
        }
        let in_tests = relative.contains("/tests/") || relative.contains("/benches/");
        let in_xtask = relative.starts_with("xtask/");
        if metric_names::applies_to(&relative) {
            for line in metric_names::metric_name_lines(&text) {
                problems.push(format!(
                    "{relative}:{line}: a metric name as a string literal: define it once in {} and use the constant from bytefreezer_api::metrics",
                    metric_names::METRICS_HOME
                ));
            }
        }
        if !relative.starts_with(unsafe_placement::UNSAFE_HOME) {
            for line in unsafe_placement::unsafe_lines(&text) {
                problems.push(format!(
                    "{relative}:{line}: `{}` outside {}: call a safe wrapper (std, rustix), or put the call behind a safe function in {}",
                    unsafe_placement::KEYWORD,
                    unsafe_placement::UNSAFE_HOME,
                    unsafe_placement::UNSAFE_HOME
                ));
            }
        }
        for (index, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if !in_tests && FORBIDDEN_MACROS.iter().any(|m| code.contains(m)) {
                problems.push(format!(
                    "{relative}:{}: todo!/unimplemented! outside tests",
                    index + 1
                ));
            }
            if in_xtask && let Some(address) = download_addresses::remote_address(line) {
                problems.push(format!(
                    "{relative}:{}: `{address}`: fetch through cargo, apt-get, pip or npm (they honour the user's mirror settings), not from an address in xtask",
                    index + 1
                ));
            }
        }
    }
    for file in tracked_files(root)? {
        // Unreadable or binary files (captures, images) name no registry host we could fix.
        let Ok(text) = fs::read_to_string(root.join(&file)) else {
            continue;
        };
        if let Some(host) = download_addresses::registry_host(&text) {
            problems.push(format!(
                "{file}: names the registry host {host}: fetch through the package tool instead"
            ));
        }
    }
    if problems.is_empty() {
        eprintln!(
            "xtask tidy: {} Rust files and {} crates follow the repository rules",
            files.len(),
            crates.len()
        );
        Ok(())
    } else {
        for problem in &problems {
            eprintln!("tidy: {problem}");
        }
        bail!("{} repository rule violations", problems.len())
    }
}

/// Every file git tracks or would add (untracked but not ignored), relative to `root`.
fn tracked_files(root: &Path) -> Result<Vec<String>> {
    let stdout = crate::stdout_of(
        std::process::Command::new("git")
            .args(["ls-files", "--cached", "--others", "--exclude-standard"])
            .current_dir(root),
        "git ls-files",
    )?;
    Ok(String::from_utf8_lossy(&stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" || name == "bytefreezer-data" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect_rust_files(&path, out)?;
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}
