use bytefreezer_decode_syslog::{
    DatagramMeta, SyslogDecoder, SyslogEdgeBuilder, parse_message, syslog_edge_to_table,
};
use bytefreezer_schema::{IpcCompression, encode_ipc_with};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn messages(kind: &str) -> Vec<Vec<u8>> {
    (0..1000)
        .map(|i| match kind {
            "rfc5424" => format!(
                "<134>1 2026-11-24T22:14:15.003Z fw01.example.net filterlog 4242 ID47 [meta seq=\"{i}\"] action=deny source_ip=10.0.{}.{} dest_ip=192.0.2.10 source_port={} dest_port=443 protocol=tcp bytes_sent=1234 msg=\"blocked\"",
                i % 200, i % 250, 1024 + i
            ),
            _ => format!(
                "<38>Nov 24 22:14:15 web02 sshd[812]: action=allow source_ip=10.0.{}.{} user=alice session={i} accepted publickey for alice from 10.0.0.1 port 52311 ssh2: RSA SHA256:abcdefghijklmnopqrstuvwxyz0123456789",
                i % 200, i % 250
            ),
        }
        .into_bytes())
        .collect()
}

/// The parser alone, without the Arrow builders: what a message's header costs to read.
fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("syslog_parse");
    group.measurement_time(std::time::Duration::from_secs(3));
    for kind in ["rfc5424", "rfc3164"] {
        let input: Vec<String> = messages(kind)
            .into_iter()
            .map(|m| String::from_utf8(m).unwrap())
            .collect();
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_function(kind, |b| {
            b.iter(|| {
                input
                    .iter()
                    .map(|m| {
                        let parsed = parse_message(m, 1_795_000_000_000_000);
                        parsed.message.len() + parsed.event_time_micros.unwrap_or(0) as usize
                    })
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("syslog_decode");
    group.measurement_time(std::time::Duration::from_secs(3));
    for kind in ["rfc5424", "rfc3164"] {
        let input = messages(kind);
        let meta = DatagramMeta {
            receive_time_micros: 1_795_000_000_000_000,
            sender: Some("192.0.2.1".parse().unwrap()),
        };
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_function(kind, |b| {
            let mut decoder = SyslogDecoder::with_capacity(input.len());
            b.iter(|| {
                for message in &input {
                    decoder.decode(message, &meta);
                }
                decoder.flush()
            })
        });
    }
    group.finish();
}

/// What the proxy spends per message on each batch kind, built and encoded with the spool's
/// default codec (LZ4): the parsed table batch it shipped before `syslog/1`, and the edge batch
/// it ships now; and what piper spends turning an edge batch into table rows.
fn edge(c: &mut Criterion) {
    let mut group = c.benchmark_group("syslog_edge");
    group.measurement_time(std::time::Duration::from_secs(3));
    let input = messages("rfc5424");
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        sender: Some("192.0.2.1".parse().unwrap()),
    };
    group.throughput(Throughput::Elements(input.len() as u64));
    group.bench_function("rfc5424_parsed_batch_lz4", |b| {
        let mut decoder = SyslogDecoder::with_capacity(input.len());
        b.iter(|| {
            for message in &input {
                decoder.decode(message, &meta);
            }
            let batch = decoder.flush().expect("rows");
            encode_ipc_with(&[batch], IpcCompression::Lz4).expect("encode")
        })
    });
    group.bench_function("rfc5424_edge_batch_lz4", |b| {
        let mut builder = SyslogEdgeBuilder::with_capacity(input.len());
        b.iter(|| {
            for message in &input {
                builder.append(message, &meta);
            }
            let batch = builder.flush().expect("rows");
            encode_ipc_with(&[batch], IpcCompression::Lz4).expect("encode")
        })
    });
    let mut builder = SyslogEdgeBuilder::with_capacity(input.len());
    for message in &input {
        builder.append(message, &meta);
    }
    let batch = builder.flush().expect("rows");
    group.bench_function("rfc5424_edge_to_table", |b| {
        b.iter(|| syslog_edge_to_table(&batch).expect("table"))
    });
    group.finish();
}

criterion_group!(benches, parse, decode, edge);
criterion_main!(benches);
