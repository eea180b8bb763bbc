//! `cargo xtask`: the project's workflows as one command each, so CI and developers run the
//! same thing. `test` installs what the suite needs, then checks formatting, lints, repository
//! rules and runs every test with cargo-nextest; `tidy` checks the repository rules alone;
//! `fuzz` runs the decoders' fuzz targets; `bench` runs the benchmarks and writes a summary.

mod bench;
mod fuzz;
mod install;
mod tidy;

use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("tidy") => tidy::check(&workspace_root()?),
        Some("bench") => bench::bench(&workspace_root()?, &args[1..]),
        Some("install-test-deps") => install::test_dependencies(&workspace_root()?),
        Some("fuzz") => {
            let seconds = args
                .get(1)
                .map_or(Ok(60), |s| s.parse())
                .context("fuzz takes a number of seconds per target")?;
            fuzz::fuzz(&workspace_root()?, seconds)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 test [NEXTEST ARGS]   install test dependencies, then fmt, clippy, tidy and cargo nextest\n  \
                 tidy                  check repository rules (//! docs, no mod.rs, no todo!)\n  \
                 install-test-deps     only install what the tests need\n  \
                 fuzz [SECONDS]        run every decoder's fuzz target (default 60 s each)\n  \
                 bench [SUITE...] [--quick] [--protocol P] [--collector C]\n                        \
                 release benchmarks with ratios into benches/results/: syslog, flow, transform\n                        \
                 (decode = syslog + flow), ingest (UDP end to end against rsyslog, syslog-ng,\n                        \
                 nfcapd, nfacctd); --quick keeps ingest under 5 minutes; --protocol\n                        \
                 (syslog, netflow_v9, ipfix) and --collector (bytefreezer, a peer, flood)\n                        \
                 narrow ingest to one measurement, printed only"
            );
            bail!("unknown or missing command")
        }
    }
}

fn test(nextest_args: &[String]) -> Result<()> {
    let root = workspace_root()?;
    install::test_dependencies(&root)?;
    run(Command::new("cargo")
        .args(["fmt", "--all", "--check"])
        .current_dir(&root))
    .context("formatting differs: run `cargo fmt --all`")?;
    tidy::check(&root)?;
    run(Command::new("cargo")
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
        .current_dir(&root))?;
    // The end-to-end tests start the release-independent debug binary, built here once so
    // parallel tests do not race to build it.
    run(Command::new("cargo")
        .args(["build", "--bin", "bytefreezer"])
        .current_dir(&root))?;
    run(Command::new("cargo")
        .args(["nextest", "run", "--workspace", "--no-fail-fast"])
        .args(nextest_args)
        .current_dir(&root))
}

pub(crate) fn run(command: &mut Command) -> Result<()> {
    eprintln!("xtask: running {command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

fn workspace_root() -> Result<std::path::PathBuf> {
    // `cargo run` sets it at run time; the compiled-in path can belong to another clone that
    // shares the build cache (CARGO_TARGET_DIR outside the clone, as `.ci/run` sets it).
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    );
    manifest_dir
        .parent()
        .map(std::path::Path::to_path_buf)
        .context("xtask must live one level below the workspace root")
}
