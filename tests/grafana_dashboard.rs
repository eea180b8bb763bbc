//! deploy/grafana/bytefreezer.json against the metrics the roles declare and export: every
//! series a panel asks for exists, counters are read through rate() and gauges are not, and the
//! dashboard covers ingest, drops, spool, lag per stage and Parquet written.

use std::collections::BTreeSet;

use bytefreezer_api::metrics::ALL;
use serde_json::Value;

const DASHBOARD: &str = include_str!("../deploy/grafana/bytefreezer.json");

/// Each `bytefreezer_*` name in a PromQL expression, and whether a rate() encloses it.
fn series(expr: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("bytefreezer_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let in_rate = rest[..at].trim_end().ends_with("rate(");
        rest = &rest[at + name.len()..];
        found.push((name, in_rate));
    }
    found
}

#[test]
fn every_panel_reads_declared_metrics_the_way_their_type_wants() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let declared: BTreeSet<&str> = ALL.iter().map(|metric| metric.name).collect();
    let mut used = BTreeSet::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title: {panel}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            let names = series(expr);
            assert!(
                !names.is_empty(),
                "{title}: {expr} reads no bytefreezer metric"
            );
            for (name, in_rate) in names {
                assert!(
                    declared.contains(name.as_str()),
                    "{title}: {name} is not exported"
                );
                assert_eq!(
                    in_rate,
                    name.ends_with("_total"),
                    "{title}: {name} {}",
                    if in_rate {
                        "is a gauge read through rate()"
                    } else {
                        "is a counter read without rate()"
                    }
                );
                used.insert(name);
            }
        }
    }
    for needed in [
        "bytefreezer_proxy_rows_durable_total",
        "bytefreezer_proxy_rows_dropped_total",
        "bytefreezer_proxy_datagrams_dropped_total",
        "bytefreezer_proxy_spool_bytes",
        "bytefreezer_proxy_oldest_pending_unix_ms",
        "bytefreezer_piper_oldest_pending_unix_ms",
        "bytefreezer_packer_files_total",
    ] {
        assert!(used.contains(needed), "the dashboard shows {needed}");
    }
}
