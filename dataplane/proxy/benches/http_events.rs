//! The edge's work per event of an `http` input (split an NDJSON body into checked events and
//! encode the `events/1` batch as the spool stores it) and of a syslog TCP input (cut an
//! octet-counted stream into messages, read by read, and build and encode the `syslog/1`
//! batch), next to the same work for syslog over UDP (append each message to the `syslog/1`
//! batch and encode it), measured in the same run on events of the same size (about 200 bytes).
//! `queue_json` is the edge of the queue inputs (nats, sqs): the same events, one per message,
//! each message's body split on its own, so its ratio to `http_ndjson` is the per-message cost.
//! `ebpf_udp` is the edge of an `ebpf` input: the same events as NDJSON datagrams of at most
//! 1472 bytes, as `bytefreezer agent` packs them, through the proxy's datagram decoder.

use std::net::IpAddr;

use bytefreezer_api::HttpBodyFormat;
use bytefreezer_decode_syslog::FlushPolicy;
use bytefreezer_decode_syslog::framing::{FrameSplitter, Framing};
use bytefreezer_decode_syslog::{DatagramMeta, SyslogEdgeBuilder};
use bytefreezer_proxy::{DecoderKind, InputDecoder, split_events};
use bytefreezer_schema::{EventsEdgeBuilder, IpcCompression, encode_ipc_with};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EVENTS: usize = 1000;

fn ndjson_body() -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..EVENTS {
        body.extend_from_slice(
            format!(
                r#"{{"timestamp":"2026-12-07T03:04:05.{:03}Z","action":"allow","source_ip":"10.1.{}.{}","dest_ip":"192.0.2.{}","dest_port":443,"user":{{"name":"user{}"}},"bytes":{}}}"#,
                i % 1000,
                i % 250,
                i % 200,
                i % 100,
                i % 50,
                i * 37
            )
            .as_bytes(),
        );
        body.push(b'\n');
    }
    body
}

fn syslog_messages() -> Vec<Vec<u8>> {
    (0..EVENTS)
        .map(|i| {
            format!(
                "<134>1 2026-12-07T03:04:05.{:03}Z fw01 filterlog 1234 - - action=allow src=10.1.{}.{} dst=192.0.2.{} dport=443 user=user{} bytes={} proto=tcp",
                i % 1000,
                i % 250,
                i % 200,
                i % 100,
                i % 50,
                i * 37
            )
            .into_bytes()
        })
        .collect()
}

fn edge_per_event(c: &mut Criterion) {
    let sender: Option<IpAddr> = Some("192.0.2.7".parse().expect("address"));
    let body = ndjson_body();
    let messages = syslog_messages();
    let mut group = c.benchmark_group("http_events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("http_ndjson", |b| {
        b.iter(|| {
            let mut builder = EventsEdgeBuilder::with_capacity(EVENTS, body.len());
            split_events(&body, HttpBodyFormat::Auto, 1, sender, &mut builder).expect("valid");
            let batch = builder.flush().expect("events");
            encode_ipc_with(&[batch], IpcCompression::Lz4).expect("encoded")
        })
    });
    let queue_messages: Vec<&[u8]> = body
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    group.bench_function("queue_json", |b| {
        b.iter(|| {
            let mut builder = EventsEdgeBuilder::with_capacity(EVENTS, body.len());
            for message in &queue_messages {
                split_events(message, HttpBodyFormat::Auto, 1, None, &mut builder).expect("valid");
            }
            let batch = builder.flush().expect("events");
            encode_ipc_with(&[batch], IpcCompression::Lz4).expect("encoded")
        })
    });
    let mut datagrams: Vec<Vec<u8>> = vec![Vec::new()];
    for line in &queue_messages {
        if datagrams
            .last()
            .is_some_and(|d| d.len() + line.len() + 1 > 1472)
        {
            datagrams.push(Vec::new());
        }
        let datagram = datagrams.last_mut().expect("one datagram at least");
        datagram.extend_from_slice(line);
        datagram.push(b'\n');
    }
    group.bench_function("ebpf_udp", |b| {
        let agent = "192.0.2.7:40000".parse().expect("address");
        let policy = FlushPolicy {
            max_rows: EVENTS * 2,
            max_bytes: 64 << 20,
        };
        b.iter(|| {
            let mut decoder = InputDecoder::new(DecoderKind::Events, EVENTS);
            for datagram in &datagrams {
                decoder.decode(datagram, 1, agent);
            }
            assert!(!decoder.should_flush(&policy));
            let batch = decoder.flush().expect("events");
            encode_ipc_with(&[batch], IpcCompression::Lz4).expect("encoded")
        })
    });
    let stream: Vec<u8> = messages
        .iter()
        .flat_map(|message| {
            let mut frame = format!("{} ", message.len()).into_bytes();
            frame.extend_from_slice(message);
            frame
        })
        .collect();
    group.bench_function("syslog_tcp", |b| {
        let meta = DatagramMeta {
            receive_time_micros: 1,
            sender,
        };
        b.iter(|| {
            let mut splitter = FrameSplitter::new(Framing::Auto, 64 << 10);
            let mut builder = SyslogEdgeBuilder::with_capacity(EVENTS);
            // As a connection reads: 64 KiB at a time, frames cut across reads.
            for read in stream.chunks(64 << 10) {
                splitter
                    .push(read, |frame| builder.append(frame.message, &meta))
                    .expect("octet counted");
            }
            let batch = builder.flush().expect("messages");
            encode_ipc_with(&[batch], IpcCompression::Lz4).expect("encoded")
        })
    });
    group.bench_function("syslog_udp", |b| {
        let meta = DatagramMeta {
            receive_time_micros: 1,
            sender,
        };
        b.iter(|| {
            let mut builder = SyslogEdgeBuilder::with_capacity(EVENTS);
            for message in &messages {
                builder.append(message, &meta);
            }
            let batch = builder.flush().expect("messages");
            encode_ipc_with(&[batch], IpcCompression::Lz4).expect("encoded")
        })
    });
    group.finish();
}

criterion_group!(benches, edge_per_event);
criterion_main!(benches);
