//! The criterion suites (syslog, flow, transform): run in release mode, read back from
//! criterion's JSON, and summarized with ratios against baselines measured in the same run.
//! An id a suite did not produce in this run shows as "n/a" instead of failing the summary.

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::run;

/// A criterion benchmark target and the ids it reports, by group.
pub struct Suite {
    pub name: &'static str,
    package: &'static str,
    bench: &'static str,
    group: &'static str,
    ids: &'static [&'static str],
}

pub const SUITES: &[Suite] = &[
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
        ids: &[
            "netflow_v5",
            "netflow_v5_netflow_parser",
            "netflow_v9",
            "netflow_v9_netflow_parser",
            "ipfix",
            "ipfix_netflow_parser",
            "sflow",
        ],
    },
    Suite {
        name: "http",
        package: "bytefreezer-proxy",
        bench: "http_events",
        group: "http_events",
        ids: &[
            "http_ndjson",
            "queue_json",
            "ebpf_udp",
            "syslog_tcp",
            "syslog_udp",
        ],
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
/// DESIGN.md: NetFlow v5 decodes at 20 M records/s on one core.
const V5_TARGET_RECORDS_PER_SEC: f64 = 20_000_000.0;
/// Issue 21: NDJSON posted to an `http` input at 1 M events/s per core (200-byte events).
const HTTP_TARGET_EVENTS_PER_SEC: f64 = 1_000_000.0;
/// DESIGN.md: v9 and IPFIX decode at 5x netflow_parser on the same datagrams.
const PARSER_TARGET_RATIO: f64 = 5.0;

struct Measurement {
    suite: &'static str,
    id: &'static str,
    /// None when the suite did not report this id in this run.
    per_second: Option<f64>,
    nanos_per_iteration: Option<f64>,
    elements_per_iteration: Option<f64>,
}

/// Runs the suites and returns one JSON row per benchmark id.
pub fn run_suites(root: &Path, target: &Path, suites: &[&Suite]) -> Result<Vec<Value>> {
    let mut measurements = Vec::new();
    for suite in suites {
        let started = SystemTime::now();
        run(crate::cargo()
            .args(["bench", "-p", suite.package, "--bench", suite.bench, "--"])
            .args(["--warm-up-time", "1", "--measurement-time", "5"])
            .current_dir(root))?;
        for id in suite.ids {
            let read = read_criterion(target, suite, id, started);
            if let Err(error) = &read {
                eprintln!("xtask: {}/{id}: {error:#}; shown as n/a", suite.name);
            }
            let (nanos, elements) = read.ok().unzip();
            measurements.push(Measurement {
                suite: suite.name,
                id,
                per_second: nanos.zip(elements).map(|(n, e)| e / (n / 1e9)),
                nanos_per_iteration: nanos,
                elements_per_iteration: elements,
            });
        }
    }
    Ok(summarize(&measurements))
}

fn read_criterion(target: &Path, suite: &Suite, id: &str, since: SystemTime) -> Result<(f64, f64)> {
    let dir = target
        .join("criterion")
        .join(suite.group)
        .join(id)
        .join("new");
    let read = |file: &str| -> Result<Value> {
        let path = dir.join(file);
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .with_context(|| format!("criterion left no {}", path.display()))?;
        anyhow::ensure!(
            modified >= since,
            "{} is from an earlier run",
            path.display()
        );
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
    };
    let estimates = read("estimates.json")?;
    let benchmark = read("benchmark.json")?;
    let nanos = estimates["mean"]["point_estimate"]
        .as_f64()
        .context("estimates.json has no mean")?;
    let elements = benchmark["throughput"]["Elements"]
        .as_f64()
        .context("benchmark.json has no element throughput")?;
    Ok((nanos, elements))
}

fn per_second(measurements: &[Measurement], id: &str) -> Option<f64> {
    measurements
        .iter()
        .find(|m| m.id == id)
        .and_then(|m| m.per_second)
}

fn note(measurements: &[Measurement], m: &Measurement) -> String {
    let ratio = |ours: &str, peer: &str| {
        per_second(measurements, ours)
            .zip(per_second(measurements, peer))
            .map(|(a, b)| a / b)
    };
    let show = |r: Option<f64>| r.map_or("n/a".to_owned(), |r| format!("{r:.2}x"));
    match m.id {
        "netflow_v5" => format!(
            "{} netflow_parser; {} the 20 M records/s target",
            show(ratio("netflow_v5", "netflow_v5_netflow_parser")),
            show(m.per_second.map(|p| p / V5_TARGET_RECORDS_PER_SEC)),
        ),
        "netflow_v9" | "ipfix" => format!(
            "{} netflow_parser on the same datagrams (target {PARSER_TARGET_RATIO}x)",
            show(ratio(m.id, &format!("{}_netflow_parser", m.id))),
        ),
        id if id.ends_with("_netflow_parser") => {
            "peer: netflow_parser, structs only, no Arrow".to_owned()
        }
        "five_filters_vectorized" => format!(
            "{} the row-by-row JSON baseline; {} the 10 M rows/s target",
            show(ratio(
                "five_filters_vectorized",
                "five_filters_row_by_row_json"
            )),
            show(m.per_second.map(|p| p / TRANSFORM_TARGET_ROWS_PER_SEC)),
        ),
        "http_ndjson" => format!(
            "edge work only (split, check, encode; no HTTP): {} the 1 M events/s target; \
             {} the CPU of syslog_udp per event",
            show(m.per_second.map(|p| p / HTTP_TARGET_EVENTS_PER_SEC)),
            show(ratio("syslog_udp", "http_ndjson")),
        ),
        "queue_json" => format!(
            "edge work of the nats, sqs and kafka inputs (one event per message, each body split on \
             its own, encode; no network): {} the CPU of http_ndjson per event",
            show(ratio("http_ndjson", "queue_json")),
        ),
        "ebpf_udp" => format!(
            "edge work of an ebpf input (NDJSON datagrams of 1472 bytes through the datagram \
             decoder: split, check, encode; no socket): {} the CPU of syslog_udp per event",
            show(ratio("syslog_udp", "ebpf_udp")),
        ),
        "syslog_tcp" => format!(
            "edge work only (cut an octet-counted stream in 64 KiB reads, build, encode; no \
             socket): {} the CPU of syslog_udp per message",
            show(ratio("syslog_udp", "syslog_tcp")),
        ),
        "syslog_udp" => "baseline: the syslog/1 edge of a UDP input on same-size events".to_owned(),
        "five_filters_row_by_row_json" => {
            "baseline: the same five steps per event on JSON objects".to_owned()
        }
        _ => String::new(),
    }
}

fn summarize(measurements: &[Measurement]) -> Vec<Value> {
    measurements
        .iter()
        .map(|m| {
            json!({
                "suite": m.suite,
                "benchmark": m.id,
                "nanos_per_iteration": m.nanos_per_iteration,
                "elements_per_iteration": m.elements_per_iteration,
                "per_second": m.per_second,
                "note": note(measurements, m),
            })
        })
        .collect()
}

/// The criterion rows as a Markdown table.
pub fn markdown(rows: &[Value]) -> String {
    let mut text = String::from(
        "| suite | benchmark | per second (one core) | note |\n| --- | --- | ---: | --- |\n",
    );
    for row in rows {
        let per_second = row["per_second"]
            .as_f64()
            .map_or("n/a".to_owned(), |p| format!("{:.2} M", p / 1e6));
        text.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row["suite"].as_str().unwrap_or("?"),
            row["benchmark"].as_str().unwrap_or("?"),
            per_second,
            row["note"].as_str().unwrap_or(""),
        ));
    }
    text
}
