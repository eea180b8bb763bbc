//! The ingest results as one Markdown section and one JSON object: per protocol a table of
//! every collector (and the bare ceiling), the ratios ours/peer and ours/ceiling, and each
//! DESIGN.md target as PASS or MISS. A MISS is a measurement, not a failure of the command.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::flood::{Flood, RSS_LIMIT};
use super::ingest::{IngestResults, ProtocolResult};
use super::measure::Outcome;
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
        "Collectors pinned to core 0, load generator on core 1 ({} run, {:.0} s; {}).\n",
        if results.quick { "--quick" } else { "full" },
        results.seconds,
        results.rmem_note
    );
    let mut targets = Vec::new();
    let mut protocols = Vec::new();
    for protocol in &results.protocols {
        table(&mut markdown, protocol);
        targets.extend(protocol_targets(protocol));
        protocols.push(json!({
            "protocol": protocol.protocol.name(),
            "events": protocol.protocol.events(),
            "common_rate_datagrams_per_second": protocol.common_rate,
            "ceiling": {
                "sender_datagrams_per_second": protocol.ceiling.sender_datagrams_per_second,
                "sender_run_lossless": protocol.ceiling.sender_run_lossless,
                "drain_datagrams_per_second": protocol.ceiling.drain_datagrams_per_second,
                "drained": protocol.ceiling.drained,
                "receive_buffer_bytes": protocol.ceiling.receive_buffer,
            },
            "collectors": protocol.outcomes.iter().map(Outcome::json).collect::<Vec<_>>(),
        }));
    }
    if let Some(flood) = &results.flood {
        flood_section(&mut markdown, flood);
        targets.push(Target {
            name: "flood 10x: alive, RSS <= 256 MiB, every datagram counted, lossless after".into(),
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
    json!({
        "quick": results.quick,
        "seconds": results.seconds,
        "receive_buffer_note": results.rmem_note,
        "protocols": protocols,
        "flood": results.flood.as_ref().map(Flood::json),
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

fn table(markdown: &mut String, result: &ProtocolResult) {
    let protocol = result.protocol;
    let events = protocol.events();
    let ceiling = &result.ceiling;
    let _ = writeln!(
        markdown,
        "\n#### {} ({} per datagram: {})\n",
        protocol.name(),
        events,
        result.outcomes.first().map_or(1, |o| o.events_per_datagram)
    );
    let _ = writeln!(
        markdown,
        "| collector | zero-loss {events}/s (datagrams/s) | CPU-s per M {events} at {} datagrams/s | drain {events}/s (datagrams/s) | peak RSS | rcvbuf | sent / kernel drops / written |",
        rate(Some(result.common_rate))
    );
    markdown.push_str("| --- | ---: | ---: | ---: | ---: | ---: | --- |\n");
    let per = result
        .outcomes
        .first()
        .map_or(1.0, |o| o.events_per_datagram as f64);
    let _ = writeln!(
        markdown,
        "| bare recvmmsg ceiling | {}{} ({}) | - | {} ({}) | - | {} | one sender thread, unpaced |",
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
    for outcome in &result.outcomes {
        let _ = writeln!(
            markdown,
            "| {} ({}) | {}{} ({}) | {}{} | {} ({}) | {} MiB | {} | {} / {} / {}{} |",
            outcome.collector,
            outcome.version,
            if outcome.zero_loss_sender_bound {
                ">= "
            } else {
                ""
            },
            rate(outcome.zero_loss_events()),
            rate(outcome.zero_loss_datagrams),
            outcome
                .cpu_seconds_per_million
                .map_or("n/a".into(), |c| format!("{c:.2}")),
            if outcome.cpu_rate_lossless {
                ""
            } else {
                " (lossy)"
            },
            rate(outcome.drain_events()),
            rate(outcome.drain_datagrams),
            outcome.peak_rss / (1024 * 1024),
            outcome
                .receive_buffer
                .map_or("?".into(), |b| (b / 2).to_string()),
            outcome.sent_events,
            outcome.kernel_drops,
            outcome
                .written_events
                .map_or("n/a".into(), |w| w.to_string()),
            match outcome.unaccounted() {
                Some(0) | None => String::new(),
                Some(lost) => format!(" ({lost} lost inside)"),
            }
        );
    }
    let Some(ours) = result.outcomes.first() else {
        return;
    };
    markdown.push_str(
        "\n| ratio | zero-loss | CPU per event | drain |\n| --- | ---: | ---: | ---: |\n",
    );
    for peer in result.outcomes.iter().skip(1) {
        let _ = writeln!(
            markdown,
            "| ours / {} | {} | {} | {} |",
            peer.collector,
            show_ratio(ratio(ours.zero_loss_events(), peer.zero_loss_events())),
            show_ratio(ratio(
                ours.cpu_seconds_per_million,
                peer.cpu_seconds_per_million
            )),
            show_ratio(ratio(ours.drain_events(), peer.drain_events())),
        );
    }
    let _ = writeln!(
        markdown,
        "| ours / ceiling | {} | - | {} |",
        show_ratio(ratio(
            ours.zero_loss_datagrams,
            Some(ceiling.sender_datagrams_per_second)
        )),
        show_ratio(ratio(
            ours.drain_datagrams,
            Some(ceiling.drain_datagrams_per_second)
        )),
    );
}

fn protocol_targets(result: &ProtocolResult) -> Vec<Target> {
    let mut targets = Vec::new();
    let Some(ours) = result.outcomes.first() else {
        return targets;
    };
    let peer = |name: &str| result.outcomes.iter().find(|o| o.collector == name);
    let name = result.protocol.name();
    match result.protocol {
        Protocol::Syslog => {
            let rsyslog = peer("rsyslog");
            let cpu = ratio(
                ours.cpu_seconds_per_million,
                rsyslog.and_then(|r| r.cpu_seconds_per_million),
            );
            targets.push(Target {
                name: "syslog CPU per message <= 1/3 of rsyslog".into(),
                value: show_ratio(cpu),
                pass: cpu.is_some_and(|c| c <= 1.0 / 3.0),
                note: String::new(),
            });
            let drain = ratio(ours.drain_events(), rsyslog.and_then(Outcome::drain_events));
            targets.push(Target {
                name: "syslog drain capacity >= 3x rsyslog".into(),
                value: show_ratio(drain),
                pass: drain.is_some_and(|d| d >= 3.0),
                note: String::new(),
            });
            let ceiling = ratio(
                ours.drain_datagrams,
                Some(result.ceiling.drain_datagrams_per_second),
            );
            targets.push(Target {
                name: "syslog drain capacity >= 0.9x bare ceiling".into(),
                value: show_ratio(ceiling),
                pass: ceiling.is_some_and(|c| c >= 0.9),
                note: String::new(),
            });
        }
        Protocol::NetflowV9 | Protocol::Ipfix => {
            for peer_name in ["nfcapd", "nfacctd"] {
                let value = ratio(
                    ours.zero_loss_events(),
                    peer(peer_name).and_then(Outcome::zero_loss_events),
                );
                let bound = ours.zero_loss_sender_bound;
                targets.push(Target {
                    name: format!("{name} zero-loss flows/s >= 3x {peer_name}"),
                    value: format!("{}{}", if bound { ">= " } else { "" }, show_ratio(value)),
                    pass: value.is_some_and(|v| v >= 3.0),
                    note: if bound && !value.is_some_and(|v| v >= 3.0) {
                        "ours reached the sender's limit; see drain mode".into()
                    } else {
                        String::new()
                    },
                });
            }
        }
    }
    targets
}

fn flood_section(markdown: &mut String, flood: &Flood) {
    let _ = writeln!(
        markdown,
        "\n#### Flood (ours, syslog)\n\n\
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
