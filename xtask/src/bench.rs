//! `cargo xtask bench [SUITE...] [--quick]`: release-mode criterion benchmarks (syslog, flow,
//! transform) and the end-to-end UDP ingest benchmark against peer collectors (ingest),
//! summarized with ratios measured in the same run and written to
//! `benches/results/latest.{json,md}`; the ingest table also goes into `docs/performance.md`.
//! Suites not run keep their previous results in those files.

mod ceiling;
mod collector;
mod criterion;
mod flood;
mod flow_peers;
mod ingest;
mod loadgen;
mod measure;
mod ours;
mod packages;
mod procfs;
mod report;
mod runs;
mod sys;
mod syslog_peers;
mod traffic;

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

const INGEST: &str = "ingest";
/// Not part of a full run: minutes of S3 round trips that measure coordination, not speed.
const SCALE: &str = "scale";
/// Not part of a full run: loads eBPF probes (root) and changes a kernel setting while it runs.
const AGENT: &str = "agent";

/// `bench agent`: `tests/agent_overhead.rs` in the release profile, the eBPF agent's cost to a
/// host opening loopback connections; prints its table.
fn agent(root: &Path) -> Result<()> {
    crate::run_test_binary(
        root,
        "agent_overhead",
        &[
            "--package",
            "bytefreezer",
            "--test",
            "agent_overhead",
            "--cargo-profile",
            "release",
            "--run-ignored",
            "only",
        ],
        &[],
    )
}

/// `bench scale`: `tests/scale.rs` in the release profile, 1, 2 and 4 piper and packer
/// instances on one S3 server; prints its table.
fn scale(root: &Path) -> Result<()> {
    crate::run_test_binary(
        root,
        "scale",
        &[
            "--package",
            "bytefreezer",
            "--test",
            "scale",
            "--cargo-profile",
            "release",
            "--run-ignored",
            "only",
        ],
        &[],
    )
}
const DOC_START: &str =
    "<!-- latest results: written by `cargo xtask bench`, do not edit below -->";
const DOC_END: &str = "<!-- end of latest results -->";

pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let (options, selected) = parse_options(args)?;
    if selected.iter().any(|s| *s == SCALE) {
        return scale(root);
    }
    if selected.iter().any(|s| *s == AGENT) {
        return agent(root);
    }
    let wanted = |name: &str| {
        selected.is_empty()
            || selected.iter().any(|s| {
                // `decode` is every protocol decoder's suite.
                *s == name || (*s == "decode" && matches!(name, "syslog" | "flow"))
            })
    };
    let suites: Vec<&criterion::Suite> = criterion::SUITES
        .iter()
        .filter(|s| wanted(s.name))
        .collect();
    let run_ingest = wanted(INGEST);
    if suites.is_empty() && !run_ingest {
        let known: Vec<_> = criterion::SUITES
            .iter()
            .map(|s| s.name)
            .chain(["decode", INGEST, SCALE])
            .collect();
        bail!("no benchmark suite named {selected:?}; known: {known:?}");
    }
    let target = crate::dist::target_dir(root);
    let results = root.join("benches/results");
    std::fs::create_dir_all(&results)
        .with_context(|| format!("cannot create {}", results.display()))?;
    let mut report = read_previous(&results.join("latest.json"));
    report["host_cores"] = json!(std::thread::available_parallelism().map_or(0, |n| n.get()));
    report["machine"] = machine();
    if !suites.is_empty() {
        let rows = criterion::run_suites(root, &target, &suites)?;
        // Keep the rows of suites not run this time.
        let ran: Vec<&str> = suites.iter().map(|s| s.name).collect();
        let mut merged: Vec<Value> = report["results"]
            .as_array()
            .map(|old| {
                old.iter()
                    .filter(|r| !ran.contains(&r["suite"].as_str().unwrap_or("")))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        merged.extend(rows);
        report["results"] = Value::Array(merged);
    }
    if run_ingest {
        let results = ingest::ingest(root, &target, &options)?;
        if options.is_partial() {
            // A run narrowed to some protocols or collectors would overwrite the full table.
            println!("\n{}", results["markdown"].as_str().unwrap_or(""));
            println!("a narrowed ingest run (--protocol/--collector) is printed, not written");
            return Ok(());
        }
        report[INGEST] = results;
    }
    let markdown = markdown(&report);
    std::fs::write(
        results.join("latest.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(results.join("latest.md"), &markdown)?;
    if run_ingest {
        update_doc(&root.join("docs/performance.md"), &markdown)?;
    }
    println!("\n{markdown}");
    println!("written to {}", results.join("latest.{json,md}").display());
    Ok(())
}

/// What narrows the ingest benchmark: `--quick`, and for working on one measurement
/// `--protocol NAME` and `--collector NAME` (each repeatable).
#[derive(Debug, Default)]
pub struct IngestOptions {
    pub quick: bool,
    pub protocols: Vec<String>,
    pub collectors: Vec<String>,
}

impl IngestOptions {
    pub fn is_partial(&self) -> bool {
        !self.protocols.is_empty() || !self.collectors.is_empty()
    }

    pub fn wants_protocol(&self, name: &str) -> bool {
        self.protocols.is_empty() || self.protocols.iter().any(|p| p == name)
    }

    pub fn wants_collector(&self, name: &str) -> bool {
        self.collectors.is_empty() || self.collectors.iter().any(|c| c == name)
    }
}

fn parse_options(args: &[String]) -> Result<(IngestOptions, Vec<&String>)> {
    let mut options = IngestOptions::default();
    let mut selected = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--protocol" | "--collector" => {
                let value = args
                    .next()
                    .with_context(|| format!("{arg} takes a name"))?
                    .clone();
                if arg == "--protocol" {
                    options.protocols.push(value);
                } else {
                    options.collectors.push(value);
                }
            }
            other if other.starts_with("--") => bail!(
                "unknown option {other}; bench takes suite names, --quick, --protocol NAME and --collector NAME"
            ),
            _ => selected.push(arg),
        }
    }
    Ok((options, selected))
}

fn read_previous(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

fn markdown(report: &Value) -> String {
    let machine = &report["machine"];
    let mut text = format!(
        "Machine: {}, {} cores, Linux {}, {} MiB RAM, Debian {}; load average at start {}.\n\n",
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        machine["kernel"].as_str().unwrap_or("?"),
        machine["memory_mib"],
        machine["debian"].as_str().unwrap_or("?"),
        machine["load_average"].as_str().unwrap_or("?"),
    );
    if let Some(rows) = report["results"].as_array() {
        text.push_str("### Criterion (decode and transform, one core)\n\n");
        text.push_str(&criterion::markdown(rows));
    }
    if let Some(ingest) = report[INGEST]["markdown"].as_str() {
        text.push_str("\n### End-to-end UDP ingest\n\n");
        text.push_str(ingest);
    }
    text
}

fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory_mib = read("/proc/meminfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib / 1024);
    let load: Vec<String> = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .map(str::to_owned)
        .collect();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "memory_mib": memory_mib,
        "debian": read("/etc/debian_version").trim(),
        "load_average": load.join(" "),
    })
}

/// Replaces the results section of `docs/performance.md`, keeping the prose above it.
fn update_doc(path: &Path, markdown: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let prose = text.split(DOC_START).next().unwrap_or("").trim_end();
    let updated = format!("{prose}\n\n{DOC_START}\n\n{markdown}\n{DOC_END}\n");
    std::fs::write(path, updated).with_context(|| format!("cannot write {}", path.display()))
}
