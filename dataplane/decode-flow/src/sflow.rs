//! sFlow version 5 datagrams (sflow.org, "sFlow Version 5"): flow samples and expanded flow
//! samples, each with its sampled packet header or decoded IPv4/IPv6/Ethernet data and the
//! extended switch, router and gateway records; and counter samples, whose generic interface
//! counters become rows of record type `counters` (with the Ethernet counters, and any other
//! counter record, in the row's `extra_fields`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bytes::Cursor;
use crate::error::DecodeError;
use crate::packet;
use crate::record::{FlowBuilders, FlowRecord, InterfaceCounters, RecordContext};

/// Samples one datagram may announce; real agents send a handful.
const MAX_SAMPLES: u32 = 4_096;
const MAX_RECORDS: u32 = 256;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SflowOutcome {
    pub flows: usize,
    pub counter_samples: usize,
    /// Counter samples that carried generic interface counters, appended as rows.
    pub counter_rows: usize,
}

fn address(cursor: &mut Cursor<'_>) -> Option<Option<IpAddr>> {
    match cursor.u32()? {
        1 => {
            let b = cursor.take(4)?;
            Some(Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))))
        }
        2 => {
            let b: [u8; 16] = cursor.take(16)?.try_into().ok()?;
            Some(Some(IpAddr::V6(Ipv6Addr::from(b))))
        }
        _ => Some(None),
    }
}

/// Reads a sample's sequence number and source id; returns the source index (the interface or
/// VLAN the agent sampled). Compact samples pack the type into the top byte of one word.
fn sample_source(cursor: &mut Cursor<'_>, expanded: bool) -> Option<u32> {
    let _sample_sequence = cursor.u32()?;
    if expanded {
        let _type = cursor.u32()?;
        cursor.u32()
    } else {
        cursor.u32().map(|source| source & 0x00ff_ffff)
    }
}

/// XDR opaque data is padded to a multiple of four bytes.
fn padded(length: usize) -> usize {
    length.div_ceil(4) * 4
}

pub(crate) fn decode(
    datagram: &[u8],
    receive_time_micros: i64,
    sender: Option<IpAddr>,
    builders: &mut FlowBuilders,
    record: &mut FlowRecord,
) -> Result<SflowOutcome, DecodeError> {
    let mut cursor = Cursor::new(datagram);
    let truncated = || DecodeError::truncated("sFlow datagram header truncated");
    let _version = cursor.u32().ok_or_else(truncated)?;
    let agent = address(&mut cursor).ok_or_else(truncated)?;
    let _sub_agent = cursor.u32().ok_or_else(truncated)?;
    let sequence = cursor.u32().ok_or_else(truncated)?;
    let _uptime = cursor.u32().ok_or_else(truncated)?;
    let samples = cursor.u32().ok_or_else(truncated)?;
    if samples > MAX_SAMPLES {
        return Err(DecodeError::bad_length(format!(
            "sFlow datagram announces {samples} samples"
        )));
    }
    let context = RecordContext {
        receive_time_micros,
        exporter: agent.or(sender),
        protocol: "sflow_v5",
    };
    let mut outcome = SflowOutcome::default();
    for index in 0..samples {
        let format = cursor.u32();
        let length = cursor.u32().map(|l| l as usize);
        let (Some(format), Some(length)) = (format, length) else {
            return Err(DecodeError::truncated(format!(
                "sFlow sample {index} header truncated"
            )));
        };
        let body = cursor.take(length).ok_or_else(|| {
            DecodeError::bad_length(format!(
                "sFlow sample {index} of {length} bytes runs past the datagram"
            ))
        })?;
        match format {
            1 | 3 => {
                flow_sample(body, format == 3, sequence, &context, builders, record)?;
                outcome.flows += 1;
            }
            2 | 4 => {
                outcome.counter_samples += 1;
                if counter_sample(body, format == 4, sequence, &context, builders, record)? {
                    outcome.counter_rows += 1;
                }
            }
            // Enterprise samples are skipped whole, as the format allows.
            _ => {}
        }
    }
    Ok(outcome)
}

fn flow_sample(
    body: &[u8],
    expanded: bool,
    sequence: u32,
    context: &RecordContext<'_>,
    builders: &mut FlowBuilders,
    record: &mut FlowRecord,
) -> Result<(), DecodeError> {
    let mut c = Cursor::new(body);
    let truncated = || DecodeError::truncated("sFlow flow sample truncated");
    let source_index = sample_source(&mut c, expanded).ok_or_else(truncated)?;
    let sampling_rate = c.u32().ok_or_else(truncated)?;
    let _pool = c.u32().ok_or_else(truncated)?;
    let _drops = c.u32().ok_or_else(truncated)?;
    let (input, output) = if expanded {
        let _input_format = c.u32().ok_or_else(truncated)?;
        let input = c.u32().ok_or_else(truncated)?;
        let _output_format = c.u32().ok_or_else(truncated)?;
        (input, c.u32().ok_or_else(truncated)?)
    } else {
        // The top two bits say how to read the rest; 0 means an ifIndex.
        let input = c.u32().ok_or_else(truncated)?;
        let output = c.u32().ok_or_else(truncated)?;
        (input & 0x3fff_ffff, output & 0x3fff_ffff)
    };
    let records = c.u32().ok_or_else(truncated)?;
    if records > MAX_RECORDS {
        return Err(DecodeError::bad_length(format!(
            "sFlow flow sample announces {records} records"
        )));
    }
    record.clear();
    record.sequence = Some(u64::from(sequence));
    record.observation_domain = Some(source_index);
    record.sampling_rate = (sampling_rate > 0).then_some(sampling_rate);
    record.input_interface = Some(input);
    record.output_interface = Some(output);
    record.packets = Some(1);
    for _ in 0..records {
        let (Some(format), Some(length)) = (c.u32(), c.u32()) else {
            return Err(truncated());
        };
        let data = c.take(length as usize).ok_or_else(truncated)?;
        flow_record(format, data, record);
    }
    builders.append(context, record);
    Ok(())
}

/// Appends a `counters` row when the sample carries generic interface counters (record 1).
/// The row's `extra_fields` keeps the sample's Ethernet counters (record 2) as numbers under
/// their MIB names, and any other record (processor, vendor) as hex, as flow records are.
fn counter_sample(
    body: &[u8],
    expanded: bool,
    sequence: u32,
    context: &RecordContext<'_>,
    builders: &mut FlowBuilders,
    record: &mut FlowRecord,
) -> Result<bool, DecodeError> {
    let mut c = Cursor::new(body);
    let truncated = || DecodeError::truncated("sFlow counter sample truncated");
    let source_index = sample_source(&mut c, expanded).ok_or_else(truncated)?;
    let records = c.u32().ok_or_else(truncated)?;
    if records > MAX_RECORDS {
        return Err(DecodeError::bad_length(format!(
            "sFlow counter sample announces {records} records"
        )));
    }
    record.clear();
    for _ in 0..records {
        let (Some(format), Some(length)) = (c.u32(), c.u32()) else {
            return Err(truncated());
        };
        let data = c.take(length as usize).ok_or_else(truncated)?;
        match format {
            1 => generic_counters(data, record),
            2 => ethernet_counters(data, record),
            _ => add_unknown(format, data, record),
        }
    }
    if record.counters.is_none() {
        return Ok(false);
    }
    record.sequence = Some(u64::from(sequence));
    record.observation_domain = Some(source_index);
    builders.append(context, record);
    Ok(true)
}

/// Generic interface counters (counter record 1) into `record.counters` and the interface.
fn generic_counters(data: &[u8], record: &mut FlowRecord) {
    let mut d = Cursor::new(data);
    let u64_of = |d: &mut Cursor<'_>| -> Option<u64> {
        Some((u64::from(d.u32()?) << 32) | u64::from(d.u32()?))
    };
    let parsed = (|| {
        let if_index = d.u32()?;
        let _if_type = d.u32()?;
        let speed = u64_of(&mut d)?;
        let (_direction, _status) = (d.u32()?, d.u32()?);
        let in_octets = u64_of(&mut d)?;
        let in_packets = u64::from(d.u32()?) + u64::from(d.u32()?) + u64::from(d.u32()?);
        let in_discards = u64::from(d.u32()?);
        let in_errors = u64::from(d.u32()?);
        let _unknown_protocols = d.u32()?;
        let out_octets = u64_of(&mut d)?;
        let out_packets = u64::from(d.u32()?) + u64::from(d.u32()?) + u64::from(d.u32()?);
        let out_discards = u64::from(d.u32()?);
        let out_errors = u64::from(d.u32()?);
        Some((
            if_index,
            InterfaceCounters {
                speed,
                in_octets,
                out_octets,
                in_packets,
                out_packets,
                in_errors,
                out_errors,
                in_discards,
                out_discards,
            },
        ))
    })();
    if let Some((if_index, counters)) = parsed {
        record.input_interface = Some(if_index);
        record.counters = Some(counters);
    }
}

fn flow_record(format: u32, data: &[u8], record: &mut FlowRecord) {
    let mut c = Cursor::new(data);
    match format {
        // Raw packet header.
        1 => {
            let (Some(protocol), Some(frame_length), Some(_stripped), Some(header_length)) =
                (c.u32(), c.u32(), c.u32(), c.u32())
            else {
                return;
            };
            record.bytes = Some(u64::from(frame_length));
            let Some(header) = c.take(padded(header_length as usize).min(c.remaining())) else {
                return;
            };
            let header = &header[..(header_length as usize).min(header.len())];
            match protocol {
                1 => packet::ethernet(header, record),
                11 => packet::ipv4(header, record),
                12 => packet::ipv6(header, record),
                _ => {}
            }
        }
        // Ethernet frame data.
        2 => {
            let _length = c.u32();
            if let (Some(src), Some(_), Some(dst)) = (c.take(6), c.take(2), c.take(6)) {
                record.src_mac = src.try_into().ok();
                record.dst_mac = dst.try_into().ok();
            }
        }
        // IPv4 and IPv6 data.
        3 | 4 => {
            let length = c.u32();
            let protocol = c.u32();
            let (src, dst) = if format == 3 {
                let (Some(s), Some(d)) = (c.take(4), c.take(4)) else {
                    return;
                };
                (
                    IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], s[3])),
                    IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3])),
                )
            } else {
                let (Some(s), Some(d)) = (c.take(16), c.take(16)) else {
                    return;
                };
                let (Ok(s), Ok(d)) = (<[u8; 16]>::try_from(s), <[u8; 16]>::try_from(d)) else {
                    return;
                };
                (IpAddr::V6(Ipv6Addr::from(s)), IpAddr::V6(Ipv6Addr::from(d)))
            };
            record.bytes = record.bytes.or(length.map(u64::from));
            record.ip_protocol = record.ip_protocol.or(protocol.map(|p| p as u8));
            record.src_addr = record.src_addr.or(Some(src));
            record.dst_addr = record.dst_addr.or(Some(dst));
            let (sport, dport, flags, tos) = (c.u32(), c.u32(), c.u32(), c.u32());
            record.src_port = record.src_port.or(sport.map(|p| p as u16));
            record.dst_port = record.dst_port.or(dport.map(|p| p as u16));
            record.tcp_flags = record.tcp_flags.or(flags.map(|f| f as u16));
            record.tos = record.tos.or(tos.map(|t| t as u8));
        }
        // Extended switch data.
        1001 => {
            let (Some(src_vlan), _, Some(dst_vlan)) = (c.u32(), c.u32(), c.u32()) else {
                return;
            };
            record.src_vlan = Some(src_vlan as u16);
            record.dst_vlan = Some(dst_vlan as u16);
        }
        // Extended router data.
        1002 => {
            if let Some(next_hop) = address(&mut c) {
                record.next_hop = next_hop;
            }
            record.src_prefix_len = c.u32().map(|m| m as u8);
            record.dst_prefix_len = c.u32().map(|m| m as u8);
        }
        // Extended gateway data: the destination AS is the last of the AS path.
        1003 => {
            let Some(next_hop) = address(&mut c) else {
                return;
            };
            record.next_hop = record.next_hop.or(next_hop);
            let (Some(_router_as), Some(src_as), Some(_peer_as), Some(segments)) =
                (c.u32(), c.u32(), c.u32(), c.u32())
            else {
                return;
            };
            record.src_as = Some(src_as);
            for _ in 0..segments.min(64) {
                let (Some(_type), Some(count)) = (c.u32(), c.u32()) else {
                    return;
                };
                for _ in 0..count.min(256) {
                    match c.u32() {
                        Some(asn) => record.dst_as = Some(asn),
                        None => return,
                    }
                }
            }
        }
        _ => add_unknown(format, data, record),
    }
}

/// A record the schema has no place for, kept in `extra_fields` (its first 64 bytes) under
/// `"<enterprise>:<format>"`: a record's data format is the enterprise in its top 20 bits and
/// the format in its low 12 (sFlow v5, section 5).
fn add_unknown(data_format: u32, data: &[u8], record: &mut FlowRecord) {
    record.add_extra(
        data_format >> 12,
        (data_format & 0xfff) as u16,
        &data[..data.len().min(64)],
    );
}

/// Ethernet interface counters (counter record 2, the dot3 MIB of RFC 3635), in order, under
/// the MIB's names: each becomes a number in the counters row's `extra_fields`.
const DOT3_COUNTERS: [&str; 13] = [
    "dot3StatsAlignmentErrors",
    "dot3StatsFCSErrors",
    "dot3StatsSingleCollisionFrames",
    "dot3StatsMultipleCollisionFrames",
    "dot3StatsSQETestErrors",
    "dot3StatsDeferredTransmissions",
    "dot3StatsLateCollisions",
    "dot3StatsExcessiveCollisions",
    "dot3StatsInternalMacTransmitErrors",
    "dot3StatsCarrierSenseErrors",
    "dot3StatsFrameTooLongs",
    "dot3StatsInternalMacReceiveErrors",
    "dot3StatsSymbolErrors",
];

/// The Ethernet counters of `data` into `record.extra`; a record too short for all of them
/// adds none.
fn ethernet_counters(data: &[u8], record: &mut FlowRecord) {
    if data.len() < DOT3_COUNTERS.len() * 4 {
        return;
    }
    for (name, value) in DOT3_COUNTERS.iter().zip(data.chunks_exact(4)) {
        let value = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
        record.add_extra_count(name, u64::from(value));
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;

    use crate::{DatagramMeta, FlowDecoder};

    fn words(out: &mut Vec<u8>, words: &[u32]) {
        for word in words {
            out.extend(word.to_be_bytes());
        }
    }

    /// `(data format, data)` as an sFlow record or sample.
    fn item(out: &mut Vec<u8>, format: u32, data: &[u8]) {
        words(out, &[format, data.len() as u32]);
        out.extend(data);
    }

    /// The `extra_fields` of each row of a datagram of `samples` (format, body).
    fn extra_fields(samples: &[(u32, Vec<u8>)]) -> Vec<Option<String>> {
        let mut datagram = Vec::new();
        words(
            &mut datagram,
            &[5, 1, 0xc000_0201, 0, 1, 0, samples.len() as u32],
        );
        for (format, body) in samples {
            item(&mut datagram, *format, body);
        }
        let mut decoder = FlowDecoder::default();
        let meta = DatagramMeta {
            receive_time_micros: 0,
            exporter: None,
        };
        let report = decoder.decode(&datagram, &meta);
        assert_eq!(report.error, None);
        let batch = decoder.flush_table().unwrap().unwrap();
        let column = batch
            .column_by_name("extra_fields")
            .unwrap()
            .as_string::<i32>();
        column.iter().map(|v| v.map(str::to_owned)).collect()
    }

    /// Found with pmacct's sfprobe (VyOS): its record 8800:2 (enterprise 8800, format 2) was
    /// kept as `0:2`, as if it were the standard Ethernet frame record.
    #[test]
    fn unknown_records_keep_their_enterprise() {
        let mut sample = Vec::new();
        words(&mut sample, &[1, 3, 500, 1000, 0, 3, 0, 1]);
        item(&mut sample, (8800 << 12) | 2, &[0, 0, 0, 3, 0, 0, 0, 0]);
        let rows = extra_fields(&[(1, sample)]);
        assert_eq!(rows, [Some(r#"{"8800:2":"0000000300000000"}"#.to_owned())]);
    }

    /// Ethernet counters were dropped; they are numbers under their MIB names now, each in its
    /// place (distinct values catch a shifted field), and other counter records are hex.
    #[test]
    fn ethernet_and_other_counter_records_go_to_extra_fields() {
        let mut generic = Vec::new();
        words(&mut generic, &[7, 6, 0, 1_000_000_000, 1, 3]);
        words(&mut generic, &[0; 16]);
        let mut ethernet = Vec::new();
        words(&mut ethernet, &(1..=13).collect::<Vec<u32>>());
        let mut sample = Vec::new();
        words(&mut sample, &[1, 7, 3]);
        item(&mut sample, 2, &ethernet);
        item(&mut sample, 1, &generic);
        item(&mut sample, 1001, &[0, 0, 0, 42]);
        let rows = extra_fields(&[(2, sample)]);
        let expected = "{\"dot3StatsAlignmentErrors\":1,\"dot3StatsFCSErrors\":2,\
            \"dot3StatsSingleCollisionFrames\":3,\"dot3StatsMultipleCollisionFrames\":4,\
            \"dot3StatsSQETestErrors\":5,\"dot3StatsDeferredTransmissions\":6,\
            \"dot3StatsLateCollisions\":7,\"dot3StatsExcessiveCollisions\":8,\
            \"dot3StatsInternalMacTransmitErrors\":9,\"dot3StatsCarrierSenseErrors\":10,\
            \"dot3StatsFrameTooLongs\":11,\"dot3StatsInternalMacReceiveErrors\":12,\
            \"dot3StatsSymbolErrors\":13,\"0:1001\":\"0000002a\"}";
        assert_eq!(rows, [Some(expected.to_owned())]);

        // Cut short, the Ethernet record adds nothing.
        let mut sample = Vec::new();
        words(&mut sample, &[1, 7, 2]);
        item(&mut sample, 2, &ethernet[..48]);
        item(&mut sample, 1, &generic);
        assert_eq!(extra_fields(&[(2, sample)]), [None]);
    }
}
