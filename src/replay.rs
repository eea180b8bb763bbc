//! `bytefreezer replay`: decodes the UDP payloads of a capture through the same decoders the
//! proxy runs and writes Parquet partitioned by hour, so old captures can be imported and any
//! decode checked by hand.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use bytefreezer_proxy::{Decoded, DecoderKind, InputDecoder};
use bytefreezer_schema::{EventHour, conform_batch, merge_schemas, split_by_event_hour};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::cli::ReplayArgs;

const BATCH_ROWS: usize = 65_536;

pub fn run(args: ReplayArgs) -> Result<()> {
    let capture = std::fs::read(&args.pcap)
        .with_context(|| format!("cannot read {}", args.pcap.display()))?;
    let packets = bytefreezer_pcap::packets(&capture)
        .with_context(|| format!("{} is not a readable capture", args.pcap.display()))?;
    let kind = if args.plugin == "syslog" {
        DecoderKind::Syslog
    } else {
        DecoderKind::Flow
    };
    let mut decoder = InputDecoder::new(kind, BATCH_ROWS);
    let mut batches: Vec<RecordBatch> = Vec::new();
    let (mut datagrams, mut malformed, mut skipped) = (0u64, 0u64, 0u64);
    for packet in &packets {
        let Some(udp) = bytefreezer_pcap::udp_datagram(packet) else {
            skipped += 1;
            continue;
        };
        if args.port.is_some_and(|port| port != udp.destination_port) {
            skipped += 1;
            continue;
        }
        datagrams += 1;
        let sender = SocketAddr::new(udp.source, udp.source_port);
        if let Decoded::Malformed(error) = decoder.decode(udp.payload, udp.timestamp_micros, sender)
        {
            malformed += 1;
            tracing::warn!(
                "datagram from {sender} at {} µs: {error}",
                udp.timestamp_micros
            );
        }
        if decoder.should_flush(&bytefreezer_decode_syslog::FlushPolicy {
            max_rows: BATCH_ROWS,
            max_bytes: 64 << 20,
        }) {
            batches.extend(decoder.flush());
        }
    }
    batches.extend(decoder.flush());
    let mut by_hour: BTreeMap<EventHour, Vec<RecordBatch>> = BTreeMap::new();
    let mut rows = 0usize;
    for batch in batches {
        // The decoder gives the edge batch a proxy ships; piper builds the table from it.
        let batch = bytefreezer_piper::table_rows(batch)?.batch;
        let batch = if kind == DecoderKind::Syslog {
            // As piper's first step does for syslog datasets.
            bytefreezer_transform::lift_message_fields(&batch, "message")?.batch
        } else {
            batch
        };
        for (hour, part) in split_by_event_hour(&batch, 0)? {
            rows += part.num_rows();
            by_hour.entry(hour).or_default().push(part);
        }
    }
    let stem = args
        .pcap
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
        })
        .unwrap_or_else(|| "replay".into());
    let mut files = Vec::new();
    for (hour, parts) in &by_hour {
        let merged = merge_schemas(parts.iter().map(|p| p.schema_ref().as_ref()));
        let folder = args.out.join(hour.path_segment());
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let path = folder.join(format!("replay-{}-{stem}.parquet", args.plugin));
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_created_by(format!("bytefreezer {} replay", env!("CARGO_PKG_VERSION")))
            .build();
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = ArrowWriter::try_new(file, merged.schema.clone(), Some(properties))?;
        for part in parts {
            writer.write(&conform_batch(part, &merged.schema)?)?;
        }
        writer.close()?;
        files.push(path);
    }
    println!(
        "{} packets, {datagrams} UDP datagrams decoded ({malformed} malformed, {skipped} packets skipped): {rows} rows in {} Parquet files under {}",
        packets.len(),
        files.len(),
        args.out.display()
    );
    Ok(())
}
