//! `cargo xtask bench`: release-mode criterion benchmarks, summarized as one table with ratios
//! against a baseline measured in the same run, written to `benches/results/latest.{json,md}`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::run;

/// A criterion benchmark target and the ids it reports, by group.
struct Suite {
    name: &'static str,
    package: &'static str,
    bench: &'static str,
    group: &'static str,
    ids: &'static [&'static str],
}

const SUITES: &[Suite] = &[
    Suite {
        name: "syslog",
        package: "bytefreezer-decode-syslog",
        bench: "decode",
        group: "syslog_decode",
        ids: &["rfc5424", "rfc3164"],
    },
    Suite {
        name: "flow",
        package: "bytefreezer-decode-flow",
        bench: "decode",
        group: "flow_decode",
        ids: &["netflow_v9", "netflow_v9_netflow_parser"],
    },
    Suite {
        name: "transform",
        package: "bytefreezer-transform",
        bench: "transform",
        group: "transform",
        ids: &["five_filters_vectorized", "five_filters_row_by_row_json"],
    },
];

/// DESIGN.md: a five-filter pipeline without GeoIP runs at 10 M rows/s on one core.
const TRANSFORM_TARGET_ROWS_PER_SEC: f64 = 10_000_000.0;

struct Measurement {
    suite: &'static str,
    id: &'static str,
    nanos_per_iteration: f64,
    elements_per_iteration: f64,
}

impl Measurement {
    fn per_second(&self) -> f64 {
        self.elements_per_iteration / (self.nanos_per_iteration / 1e9)
    }
}

pub fn bench(root: &Path, selected: &[String]) -> Result<()> {
    let suites: Vec<&Suite> = SUITES
        .iter()
        .filter(|s| {
            selected.is_empty()
                || selected.iter().any(|name| {
                    // `decode` is every protocol decoder's suite.
                    name == s.name || (name == "decode" && matches!(s.name, "syslog" | "flow"))
                })
        })
        .collect();
    if suites.is_empty() {
        let known: Vec<_> = SUITES.iter().map(|s| s.name).chain(["decode"]).collect();
        bail!("no benchmark suite named {selected:?}; known: {known:?}");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut measurements = Vec::new();
    for suite in suites {
        run(Command::new("cargo")
            .args(["bench", "-p", suite.package, "--bench", suite.bench, "--"])
            .args(["--warm-up-time", "1", "--measurement-time", "5"])
            .current_dir(root))?;
        for id in suite.ids {
            measurements.push(read_criterion(&target, suite, id)?);
        }
    }
    let report = summarize(&measurements);
    let results = root.join("benches/results");
    std::fs::create_dir_all(&results)?;
    std::fs::write(
        results.join("latest.json"),
        serde_json::to_string_pretty(&report.json)?,
    )?;
    std::fs::write(results.join("latest.md"), &report.markdown)?;
    println!("\n{}", report.markdown);
    println!("written to {}", results.join("latest.{json,md}").display());
    Ok(())
}

fn read_criterion(target: &Path, suite: &'static Suite, id: &'static str) -> Result<Measurement> {
    let dir = target
        .join("criterion")
        .join(suite.group)
        .join(id)
        .join("new");
    let read = |file: &str| -> Result<Value> {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("criterion left no {}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    };
    let estimates = read("estimates.json")?;
    let benchmark = read("benchmark.json")?;
    let nanos = estimates["mean"]["point_estimate"]
        .as_f64()
        .context("estimates.json has no mean")?;
    let elements = benchmark["throughput"]["Elements"]
        .as_f64()
        .context("benchmark.json has no element throughput")?;
    Ok(Measurement {
        suite: suite.name,
        id,
        nanos_per_iteration: nanos,
        elements_per_iteration: elements,
    })
}

struct Report {
    json: Value,
    markdown: String,
}

fn find<'a>(measurements: &'a [Measurement], id: &str) -> Option<&'a Measurement> {
    measurements.iter().find(|m| m.id == id)
}

fn summarize(measurements: &[Measurement]) -> Report {
    let mut markdown = String::from(
        "| suite | benchmark | per second (one core) | note |\n| --- | --- | ---: | --- |\n",
    );
    let mut rows = Vec::new();
    let flow = find(measurements, "netflow_v9");
    let flow_peer = find(measurements, "netflow_v9_netflow_parser");
    let vectorized = find(measurements, "five_filters_vectorized");
    let row_by_row = find(measurements, "five_filters_row_by_row_json");
    for m in measurements {
        let flow_note = match (m.id, flow, flow_peer) {
            ("netflow_v9", Some(ours), Some(peer)) => Some(format!(
                "{:.2}x netflow_parser on the same datagrams (target 5x)",
                ours.per_second() / peer.per_second()
            )),
            ("netflow_v9_netflow_parser", ..) => {
                Some("peer: netflow_parser 1.0.6, structs only, no Arrow".to_owned())
            }
            _ => None,
        };
        let note = match (m.id, vectorized, row_by_row) {
            _ if flow_note.is_some() => flow_note.unwrap_or_default(),
            ("five_filters_vectorized", Some(v), Some(r)) => format!(
                "{:.1}x the row-by-row JSON baseline; {:.2}x the 10 M rows/s target",
                v.per_second() / r.per_second(),
                v.per_second() / TRANSFORM_TARGET_ROWS_PER_SEC
            ),
            ("five_filters_row_by_row_json", ..) => {
                "baseline: the same five steps per event on JSON objects".to_owned()
            }
            _ => String::new(),
        };
        markdown.push_str(&format!(
            "| {} | {} | {:.2} M | {} |\n",
            m.suite,
            m.id,
            m.per_second() / 1e6,
            note
        ));
        rows.push(json!({
            "suite": m.suite,
            "benchmark": m.id,
            "nanos_per_iteration": m.nanos_per_iteration,
            "elements_per_iteration": m.elements_per_iteration,
            "per_second": m.per_second(),
            "note": note,
        }));
    }
    Report {
        json: json!({
            "host_cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "results": rows,
        }),
        markdown,
    }
}
