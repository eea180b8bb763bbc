//! `cargo xtask`: the project's workflows as one command each, so CI and developers run the
//! same thing. `test` installs what the suite needs, then checks formatting, lints, repository
//! rules and runs every test with cargo-nextest; `tidy` checks the repository rules alone;
//! `fuzz` runs the decoders' fuzz targets; `bench` runs the benchmarks and writes a summary;
//! `soak` kills roles at random for as long as asked and counts every event; `dist` builds and
//! packs what an edge host installs.

mod bench;
mod dist;
mod fuzz;
mod iana;
mod install;
mod prune;
mod soak;
mod tidy;

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

/// Each verb with its synopsis and what it does, printed by `--help`.
const VERBS: &[(&str, &str, &str)] = &[
    (
        "test",
        "test [NEXTEST ARGS]",
        "install test dependencies, then fmt, clippy, tidy and cargo nextest",
    ),
    (
        "tidy",
        "tidy",
        "check repository rules (//! docs, no mod.rs, no todo!, no download addresses,\n\
         unsafe only in dataplane/udp, the crate graph of docs/architecture.md,\n\
         no unused dependencies)",
    ),
    (
        "install-test-deps",
        "install-test-deps",
        "only install what the tests need",
    ),
    (
        "fuzz",
        "fuzz [SECONDS]",
        "run every decoder's fuzz target (default 60 s each)",
    ),
    (
        "soak",
        "soak [MINUTES | --minutes N] [--kills N] [--rate N]",
        "the kill harness (tests/kill_harness.rs) for MINUTES (default 10): every role its\n\
         own process on moto's S3, two pipers and two packers, random SIGKILLs and crash\n\
         points; prints kills, events sent, acknowledged, found, missing, duplicated",
    ),
    (
        "dist",
        "dist",
        "the shipped build (profile `dist`: LTO) packed with deploy/ into a tarball",
    ),
    (
        "iana-elements",
        "iana-elements",
        "regenerate the flow decoder's IANA IPFIX element table from IANA's ipfix.xml\n\
         (fetched through cargo in a pinned crate)",
    ),
    (
        "bench",
        "bench [SUITE...] [--quick] [--protocol P] [--collector C]",
        "release benchmarks with ratios into benches/results/: syslog, flow, transform\n\
         (decode = syslog + flow), ingest (UDP end to end against rsyslog, syslog-ng,\n\
         nfcapd, nfacctd); scale (alone: 1, 2, 4 piper and packer instances on S3,\n\
         printed); agent (alone, as root: the eBPF agent's cost to a host, printed);\n\
         --quick keeps ingest under 5 minutes; --protocol\n\
         (syslog, netflow_v9, ipfix) and --collector (bytefreezer, a peer, flood)\n\
         narrow ingest to one measurement, printed only",
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verb = args.first().map(String::as_str);
    if args.iter().any(|arg| arg == "--help" || arg == "-h") || verb == Some("help") {
        print_usage(verb.filter(|verb| *verb != "help" && !verb.starts_with('-')));
        return ExitCode::SUCCESS;
    }
    // Errors are for people: the cause chain on one line each, no backtrace even when
    // RUST_BACKTRACE is set for the programs xtask runs.
    match dispatch(verb, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(verb: Option<&str>, args: &[String]) -> Result<()> {
    match verb {
        Some("test") => test(&args[1..]),
        Some("tidy") => tidy::check(&workspace_root()?),
        Some("bench") => bench::bench(&workspace_root()?, &args[1..]),
        Some("dist") => dist::dist(&workspace_root()?),
        Some("soak") => soak::soak(&workspace_root()?, &args[1..]),
        Some("install-test-deps") => install::test_dependencies(&workspace_root()?),
        Some("iana-elements") => iana::regenerate(&workspace_root()?),
        Some("fuzz") => {
            let seconds = args
                .get(1)
                .map_or(Ok(60), |s| s.parse())
                .context("fuzz takes a number of seconds per target")?;
            fuzz::fuzz(&workspace_root()?, seconds)
        }
        Some(other) => {
            print_usage(None);
            bail!("no command named `{other}`")
        }
        None => {
            print_usage(None);
            bail!("name a command")
        }
    }
}

fn print_usage(verb: Option<&str>) {
    eprint!("{}", usage(verb));
}

/// Usage of one verb, or of all when `verb` is none or unknown.
fn usage(verb: Option<&str>) -> String {
    let chosen: Vec<_> = VERBS
        .iter()
        .filter(|(name, _, _)| verb.is_none_or(|verb| verb == *name))
        .collect();
    let shown = if chosen.is_empty() {
        VERBS.iter().collect()
    } else {
        chosen
    };
    let mut text = String::from("usage: cargo xtask <command>\n\ncommands:\n");
    for (_, synopsis, help) in shown {
        text.push_str(&format!("  {synopsis}\n"));
        for line in help.lines() {
            text.push_str(&format!("      {line}\n"));
        }
    }
    text
}

fn test(nextest_args: &[String]) -> Result<()> {
    let root = workspace_root()?;
    install::test_dependencies(&root)?;
    prune::build_cache(&dist::target_dir(&root));
    run(crate::cargo()
        .args(["fmt", "--all", "--check"])
        .current_dir(&root))
    .context("formatting differs: run `cargo fmt --all`")?;
    tidy::check(&root)?;
    run(crate::cargo()
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
        .current_dir(&root))?;
    // The end-to-end tests start the debug `bytefreezer` binary: nextest builds it with the
    // test binaries, before any test runs, with the workspace's features (a separate
    // `cargo build --bin` unifies features differently and rebuilt the dependencies a second
    // time, 16 minutes of a cold CI run).
    run(crate::cargo()
        .args(["nextest", "run", "--workspace", "--no-fail-fast"])
        .args(nextest_args)
        .current_dir(&root))
}

/// One integration test binary (`tests/NAME.rs`) under nextest with its output shown, after
/// installing what the tests need: `soak` and `bench scale` are long runs of such tests.
pub(crate) fn run_test_binary(
    root: &std::path::Path,
    binary: &str,
    cargo_args: &[&str],
    env: &[(&str, String)],
) -> Result<()> {
    install::test_dependencies(root)?;
    let filter = format!("binary({binary})");
    let mut command = cargo();
    command
        .args(["nextest", "run", "--no-capture", "-E", &filter])
        .args(cargo_args)
        .current_dir(root);
    for (name, value) in env {
        command.env(name, value);
    }
    run(&mut command)
}

/// `cargo`, without the variables cargo set for this xtask process (`CARGO_PKG_NAME=xtask`,
/// `CARGO_MANIFEST_DIR`, ...): build scripts such as ring's ask to rerun when those change, so
/// inheriting them made every build started here rebuild ring and all that depends on it
/// (TLS, the HTTP client, object_store, Parquet, DataFusion) after any plain `cargo` build.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new("cargo");
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_for_xtask = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                name,
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            );
        if set_for_xtask {
            command.env_remove(name);
        }
    }
    command
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

/// Runs `command` (`what`, in messages) and returns what it printed; fails with its stderr.
pub(crate) fn stdout_of(command: &mut Command, what: &str) -> Result<Vec<u8>> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(output.stdout)
}

/// What `command`, a `cargo metadata --format-version 1` call, printed.
pub(crate) fn cargo_metadata(command: &mut Command) -> Result<serde_json::Value> {
    let stdout = stdout_of(command, "cargo metadata")?;
    serde_json::from_slice(&stdout).context("cargo metadata printed no JSON")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_has_its_own_usage_and_unknown_ones_get_all() {
        for (name, synopsis, _) in VERBS {
            let text = usage(Some(name));
            assert!(text.contains(synopsis), "{name}: {text}");
            let others = VERBS.iter().filter(|(other, _, _)| other != name);
            for (_, other_synopsis, _) in others {
                assert!(
                    !text.contains(&format!("  {other_synopsis}\n")),
                    "{name}: {text}"
                );
            }
        }
        let all = usage(Some("nope"));
        assert!(VERBS.iter().all(|(_, synopsis, _)| all.contains(synopsis)));
    }
}
