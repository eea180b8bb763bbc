//! The ingest results as one Markdown section and one JSON object: per protocol a table of
//! every collector (and the bare ceiling) as medians with their spread, the like-for-like ratios
//! ours/peer and ours/ceiling, each DESIGN.md target as PASS or MISS, and every collector's
//! configuration. A MISS is a measurement, not a failure of the command.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::flood::{Flood, RSS_LIMIT};
use super::ingest::{IngestResults, ProtocolResult};
use super::measure::Outcome;
use super::runs::Runs;
use super::traffic::Protocol;

struct Target {
    name: String,
    value: String,
    pass: bool,
    note: String,
}

pub fn ingest(results: &IngestResults) -> Value {
    let mut markdown = String::new();
    let _ = writeln!(
        markdown,
        "Collectors pinned to core 0, load generator on core 1 ({} run, {:.0} s; {}). Each \
         collector ran {} times in interleaved rounds: figures are medians, with the lowest and \
         highest run in brackets.\n",
        if results.quick { "--quick" } else { "full" },
        results.seconds,
        results.rmem_note,
        results.protocols.first().map_or(1, |p| p.rounds),
    );
    let mut targets = Vec::new();
    let mut protocols = Vec::new();
    for protocol in &results.protocols {
        table(&mut markdown, protocol);
        targets.extend(protocol_targets(protocol));
        protocols.push(json!({
            "protocol": protocol.protocol.name(),
            "events": protocol.protocol.events(),
            "cpu_rates_datagrams_per_second": protocol.cpu_rates,
            "rounds": protocol.rounds,
            "ceiling": {
                "sender_datagrams_per_second": protocol.ceiling.sender_datagrams_per_second,
                "sender_run_lossless": protocol.ceiling.sender_run_lossless,
                "drain_datagrams_per_second": protocol.ceiling.drain_datagrams_per_second,
                "drained": protocol.ceiling.drained,
                "receive_buffer_bytes": protocol.ceiling.receive_buffer,
            },
            "collectors": protocol.outcomes.iter().map(Outcome::json).collect::<Vec<_>>(),
            "configs": protocol.configs.iter().map(|(name, config)| json!({
                "collector": name, "config": config,
            })).collect::<Vec<_>>(),
        }));
    }
    for (protocol, flood) in &results.floods {
        flood_section(&mut markdown, protocol.name(), flood);
        targets.push(Target {
            name: format!(
                "{} flood 10x: alive, RSS <= 256 MiB, every datagram counted, lossless after",
                protocol.name()
            ),
            value: format!("{} MiB peak", flood.peak_rss / (1024 * 1024)),
            pass: flood.pass(),
            note: String::new(),
        });
    }
    markdown.push_str(
        "\n#### Targets (DESIGN.md)\n\n| target | measured | result |\n| --- | --- | --- |\n",
    );
    for target in &targets {
        let _ = writeln!(
            markdown,
            "| {} | {} | {}{} |",
            target.name,
            target.value,
            if target.pass { "PASS" } else { "MISS" },
            if target.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", target.note)
            }
        );
    }
    configs_section(&mut markdown, &results.protocols);
    json!({
        "quick": results.quick,
        "seconds": results.seconds,
        "receive_buffer_note": results.rmem_note,
        "protocols": protocols,
        "floods": results.floods.iter().map(|(protocol, flood)| json!({
            "protocol": protocol.name(), "flood": flood.json(),
        })).collect::<Vec<_>>(),
        "targets": targets.iter().map(|t| json!({
            "target": t.name, "measured": t.value, "pass": t.pass, "note": t.note,
        })).collect::<Vec<_>>(),
        "markdown": markdown,
    })
}

pub fn rate(value: Option<f64>) -> String {
    match value {
        None => "n/a".into(),
        Some(v) if v >= 1e6 => format!("{:.2} M", v / 1e6),
        Some(v) => format!("{:.0} k", v / 1e3),
    }
}

fn ratio(ours: Option<f64>, other: Option<f64>) -> Option<f64> {
    match (ours, other) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn show_ratio(value: Option<f64>) -> String {
    value.map_or("n/a".into(), |v| format!("{v:.2}x"))
}

/// The median of `value` with its spread: `1.2 M [1.1 M-1.4 M]` (no brackets for one run).
fn summary(
    runs: &Runs<'_>,
    value: impl Fn(&Outcome) -> Option<f64> + Copy,
    show: impl Fn(Option<f64>) -> String,
) -> String {
    let median = show(runs.median(value));
    match runs.spread(value) {
        Some((low, high)) if runs.outcomes.len() > 1 => {
            format!("{median} [{}-{}]", show(Some(low)), show(Some(high)))
        }
        _ => median,
    }
}

fn cpu(value: Option<f64>) -> String {
    value.map_or("n/a".into(), |c| format!("{c:.2}"))
}

/// Events decoded and then lost inside the collector, over all its runs.
fn lost_inside(runs: &Runs<'_>) -> i64 {
    runs.outcomes
        .iter()
        .filter_map(|o| o.unaccounted())
        .filter(|lost| *lost > 0)
        .sum()
}

/// Like-for-like pairs (ours, peer) of a protocol: the same output work on both sides; then
/// this build against each baseline build run with the same codec.
fn pairs(protocol: Protocol, groups: &[Runs<'_>]) -> Vec<(String, String)> {
    let fixed: &[(&str, &str)] = match protocol {
        Protocol::Syslog => &[
            ("bytefreezer-none", "rsyslog"),
            ("bytefreezer-none", "syslog-ng"),
            ("bytefreezer", "rsyslog"),
            ("bytefreezer", "rsyslog-default"),
            ("bytefreezer-release", "bytefreezer"),
        ],
        Protocol::NetflowV9 | Protocol::Ipfix => &[
            ("bytefreezer-none", "nfcapd"),
            ("bytefreezer-lz4", "nfcapd-lz4"),
            ("bytefreezer-none", "nfacctd"),
            ("bytefreezer", "nfcapd"),
            ("bytefreezer-release", "bytefreezer"),
        ],
    };
    let baselines = groups.iter().filter_map(|runs| {
        let (ours, _) = runs.name.split_once('@')?;
        Some((ours.to_owned(), runs.name.to_owned()))
    });
    fixed
        .iter()
        .map(|(ours, peer)| ((*ours).to_owned(), (*peer).to_owned()))
        .chain(baselines)
        .collect()
}

fn table(markdown: &mut String, result: &ProtocolResult) {
    let protocol = result.protocol;
    let events = protocol.events();
    let ceiling = &result.ceiling;
    let [low_rate, high_rate] = result.cpu_rates;
    let _ = writeln!(
        markdown,
        "\n#### {} ({} per datagram: {})\n",
        protocol.name(),
        events,
        result.outcomes.first().map_or(1, |o| o.events_per_datagram)
    );
    let _ = writeln!(
        markdown,
        "| collector | zero-loss {events}/s (datagrams/s) | CPU-s per M {events} at {} datagrams/s | at {} datagrams/s | drain {events}/s (datagrams/s) | peak RSS | rcvbuf | sent / kernel drops / written |",
        rate(Some(low_rate)),
        rate(Some(high_rate)),
    );
    markdown.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    let per = result
        .outcomes
        .first()
        .map_or(1.0, |o| o.events_per_datagram as f64);
    let _ = writeln!(
        markdown,
        "| bare recvmmsg ceiling | {}{} ({}) | - | - | {} ({}) | - | {} | one sender thread, unpaced |",
        if ceiling.sender_run_lossless {
            ">= "
        } else {
            ""
        },
        rate(Some(ceiling.sender_datagrams_per_second * per)),
        rate(Some(ceiling.sender_datagrams_per_second)),
        rate(Some(ceiling.drain_datagrams_per_second * per)),
        rate(Some(ceiling.drain_datagrams_per_second)),
        ceiling.receive_buffer / 2,
    );
    let groups = Runs::group(&result.outcomes);
    for runs in &groups {
        let lossy = |index: usize| {
            if runs.all(|o| o.cpu.get(index).is_some_and(|c| c.lossless)) {
                ""
            } else {
                " (lossy)"
            }
        };
        let sum = |value: fn(&Outcome) -> u64| runs.outcomes.iter().map(|o| value(o)).sum::<u64>();
        let written: Option<u64> = runs.outcomes.iter().map(|o| o.written_events).sum();
        let lost = lost_inside(runs);
        let _ = writeln!(
            markdown,
            "| {} ({}) | {}{} ({}) | {}{} | {}{} | {} ({}) | {} MiB | {} | {} / {} / {}{} |",
            runs.name,
            runs.version(),
            if runs.all(|o| o.zero_loss_sender_bound) {
                ">= "
            } else {
                ""
            },
            summary(runs, Outcome::zero_loss_events, rate),
            rate(runs.median(|o| o.zero_loss_datagrams)),
            summary(runs, |o| o.cpu_at(0), cpu),
            lossy(0),
            summary(runs, |o| o.cpu_at(1), cpu),
            lossy(1),
            summary(runs, Outcome::drain_events, rate),
            rate(runs.median(|o| o.drain_datagrams)),
            runs.outcomes.iter().map(|o| o.peak_rss).max().unwrap_or(0) / (1024 * 1024),
            runs.outcomes
                .first()
                .and_then(|o| o.receive_buffer)
                .map_or("?".into(), |b| (b / 2).to_string()),
            sum(|o| o.sent_events),
            sum(|o| o.kernel_drops),
            written.map_or("n/a".into(), |w| w.to_string()),
            if lost > 0 {
                format!(" ({lost} lost inside)")
            } else {
                String::new()
            }
        );
    }
    let find = |name: &str| groups.iter().find(|g| g.name == name);
    markdown.push_str(&format!(
        "\n| ratio of medians | zero-loss | CPU per event at {} | at {} | drain |\n| --- | ---: | ---: | ---: | ---: |\n",
        rate(Some(low_rate)),
        rate(Some(high_rate)),
    ));
    for (ours, peer) in pairs(protocol, &groups) {
        let (Some(ours_runs), Some(peer_runs)) = (find(&ours), find(&peer)) else {
            continue;
        };
        let of = |value: fn(&Outcome) -> Option<f64>| {
            show_ratio(ratio(ours_runs.median(value), peer_runs.median(value)))
        };
        let _ = writeln!(
            markdown,
            "| {ours} / {peer} | {} | {} | {} | {} |",
            of(Outcome::zero_loss_events),
            of(|o| o.cpu_at(0)),
            of(|o| o.cpu_at(1)),
            of(Outcome::drain_events),
        );
    }
    if let Some(ours) = groups.first() {
        let _ = writeln!(
            markdown,
            "| {} / ceiling | {} | - | - | {} |",
            ours.name,
            show_ratio(ratio(
                ours.median(|o| o.zero_loss_datagrams),
                Some(ceiling.sender_datagrams_per_second)
            )),
            show_ratio(ratio(
                ours.median(|o| o.drain_datagrams),
                Some(ceiling.drain_datagrams_per_second)
            )),
        );
    }
}

fn protocol_targets(result: &ProtocolResult) -> Vec<Target> {
    let mut targets = Vec::new();
    let groups = Runs::group(&result.outcomes);
    let find = |name: &str| groups.iter().find(|g| g.name == name);
    let median_ratio = |ours: &str, peer: &str, value: fn(&Outcome) -> Option<f64>| {
        ratio(
            find(ours).and_then(|r| r.median(value)),
            find(peer).and_then(|r| r.median(value)),
        )
    };
    let name = result.protocol.name();
    // Baseline builds (`name@label`) are earlier code measured for comparison, not this build.
    let ours: Vec<&Runs<'_>> = groups
        .iter()
        .filter(|g| g.name.starts_with("bytefreezer") && !g.name.contains('@'))
        .collect();
    let lost: i64 = ours.iter().map(|runs| lost_inside(runs)).sum();
    targets.push(Target {
        name: format!("{name}: 0 rows lost inside the proxy in every run"),
        value: lost.to_string(),
        pass: !ours.is_empty() && lost == 0,
        note: String::new(),
    });
    // The README's fast-building profile against the shipped one, same codec.
    if find("bytefreezer-release").is_some() {
        let drain = median_ratio("bytefreezer-release", "bytefreezer", Outcome::drain_events);
        targets.push(Target {
            name: format!("{name} drain, release profile / dist profile >= 0.9x"),
            value: show_ratio(drain),
            pass: drain.is_some_and(|d| d >= 0.9),
            note: "what `cargo run --release` gives up for a short build".into(),
        });
    }
    match result.protocol {
        Protocol::Syslog => {
            let cpu = median_ratio("bytefreezer-none", "rsyslog", |o| o.cpu_at(1));
            targets.push(Target {
                name: format!(
                    "syslog CPU per message at {} datagrams/s <= 0.5x tuned rsyslog",
                    rate(Some(result.cpu_rates[1]))
                ),
                value: show_ratio(cpu),
                pass: cpu.is_some_and(|c| c <= 0.5),
                note: "ours uncompressed, like rsyslog's plain file".into(),
            });
            let drain = median_ratio("bytefreezer-none", "rsyslog", Outcome::drain_events);
            targets.push(Target {
                name: "syslog drain >= 3x tuned rsyslog".into(),
                value: show_ratio(drain),
                pass: drain.is_some_and(|d| d >= 3.0),
                note: String::new(),
            });
            let ceiling = ratio(
                find("bytefreezer").and_then(|r| r.median(|o| o.drain_datagrams)),
                Some(result.ceiling.drain_datagrams_per_second),
            );
            targets.push(Target {
                name: "syslog drain >= 0.7x bare ceiling".into(),
                value: show_ratio(ceiling),
                pass: ceiling.is_some_and(|c| c >= 0.7),
                note: String::new(),
            });
        }
        Protocol::NetflowV9 | Protocol::Ipfix => {
            let drain = median_ratio("bytefreezer-none", "nfcapd", Outcome::drain_events);
            targets.push(Target {
                name: format!("{name} drain, ours none / nfcapd uncompressed >= 2.0x"),
                value: show_ratio(drain),
                pass: drain.is_some_and(|d| d >= 2.0),
                note: String::new(),
            });
            let zero_loss = median_ratio("bytefreezer-none", "nfcapd", Outcome::zero_loss_events);
            let both_bound = ["bytefreezer-none", "nfcapd"]
                .iter()
                .all(|n| find(n).is_some_and(|r| r.all(|o| o.zero_loss_sender_bound)));
            targets.push(Target {
                name: format!(
                    "{name} zero-loss, ours none / nfcapd >= 2.0x (or both at the sender's limit)"
                ),
                value: show_ratio(zero_loss),
                pass: both_bound || zero_loss.is_some_and(|z| z >= 2.0),
                note: if both_bound {
                    "both at the sender's limit".into()
                } else {
                    String::new()
                },
            });
            let cpu = median_ratio("bytefreezer-none", "nfcapd", |o| o.cpu_at(0));
            targets.push(Target {
                name: format!(
                    "{name} CPU per flow at {} datagrams/s, ours none / nfcapd <= 0.6x",
                    rate(Some(result.cpu_rates[0]))
                ),
                value: show_ratio(cpu),
                pass: cpu.is_some_and(|c| c <= 0.6),
                note: String::new(),
            });
            let lz4 = median_ratio("bytefreezer-lz4", "nfcapd-lz4", Outcome::drain_events);
            targets.push(Target {
                name: format!("{name} drain, ours lz4 / nfcapd LZ4 >= 1.5x"),
                value: show_ratio(lz4),
                pass: lz4.is_some_and(|d| d >= 1.5),
                note: String::new(),
            });
        }
    }
    targets
}

/// Every collector's configuration as it ran, so a reader can check each peer was set up for
/// throughput as its documentation recommends.
fn configs_section(markdown: &mut String, protocols: &[ProtocolResult]) {
    markdown.push_str("\n#### Configurations\n");
    for protocol in protocols {
        for (name, config) in &protocol.configs {
            let _ = write!(
                markdown,
                "\n{} on {}:\n\n```\n{}\n```\n",
                name,
                protocol.protocol.name(),
                config.trim_end()
            );
        }
    }
}

fn flood_section(markdown: &mut String, protocol: &str, flood: &Flood) {
    let _ = writeln!(
        markdown,
        "\n#### Flood (ours, {protocol})\n\n\
         {:.0} datagrams/s for {:.0} s: sent {}, received {}, kernel drops {} (accounted: {}); \
         proxy receive-buffer drop counter {}, rows dropped {}; peak RSS {} MiB (limit {} MiB); \
         alive: {}; afterwards {} of {} received with {} kernel drops (recovered: {}).",
        flood.rate,
        flood.seconds,
        flood.sent,
        flood.received,
        flood.kernel_drops,
        flood.accounted(),
        flood
            .proxy_receive_buffer_drops
            .map_or("absent".into(), |d| d.to_string()),
        flood.rows_dropped.map_or("n/a".into(), |d| d.to_string()),
        flood.peak_rss / (1024 * 1024),
        RSS_LIMIT / (1024 * 1024),
        flood.alive,
        flood.recovery_received,
        flood.recovery_sent,
        flood.recovery_drops,
        flood.recovered(),
    );
}
