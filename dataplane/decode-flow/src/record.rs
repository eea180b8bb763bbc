use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, StringBuilder, TimestampMicrosecondBuilder, UInt8Builder, UInt16Builder,
    UInt32Builder, UInt64Builder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use bytefreezer_schema::flow_schema;

/// One flow as the protocols describe it, before it becomes a row. Reused between records so
/// decoding allocates nothing per record but the text of unnamed fields.
#[derive(Debug, Default, Clone)]
pub(crate) struct FlowRecord {
    pub flow_start_micros: Option<i64>,
    pub flow_end_micros: Option<i64>,
    pub sequence: Option<u64>,
    pub observation_domain: Option<u32>,
    pub sampling_rate: Option<u32>,
    pub src_addr: Option<IpAddr>,
    pub dst_addr: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub ip_protocol: Option<u8>,
    pub tcp_flags: Option<u16>,
    pub tos: Option<u8>,
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
    pub input_interface: Option<u32>,
    pub output_interface: Option<u32>,
    pub src_as: Option<u32>,
    pub dst_as: Option<u32>,
    pub src_prefix_len: Option<u8>,
    pub dst_prefix_len: Option<u8>,
    pub next_hop: Option<IpAddr>,
    pub src_vlan: Option<u16>,
    pub dst_vlan: Option<u16>,
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
    pub direction: Option<u8>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// sFlow interface counters, on rows of record type `counters`.
    pub counters: Option<InterfaceCounters>,
    /// `"<pen>:<ie>":"<hex>"` pairs, already JSON-escaped, without the braces.
    pub extra: String,
}

impl FlowRecord {
    pub(crate) fn clear(&mut self) {
        let mut extra = std::mem::take(&mut self.extra);
        extra.clear();
        *self = FlowRecord {
            extra,
            ..FlowRecord::default()
        };
    }

    pub(crate) fn add_extra(&mut self, enterprise: u32, element: u16, value: &[u8]) {
        if !self.extra.is_empty() {
            self.extra.push(',');
        }
        let _ = write!(self.extra, "\"{enterprise}:{element}\":\"");
        for byte in value {
            let _ = write!(self.extra, "{byte:02x}");
        }
        self.extra.push('"');
    }
}

/// sFlow generic interface counters (counter record 1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InterfaceCounters {
    pub speed: u64,
    pub in_octets: u64,
    pub out_octets: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    pub in_errors: u64,
    pub out_errors: u64,
    pub in_discards: u64,
    pub out_discards: u64,
}

/// Per-datagram facts every record of the datagram shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordContext<'a> {
    pub receive_time_micros: i64,
    pub exporter: Option<IpAddr>,
    pub protocol: &'a str,
}

pub(crate) struct FlowBuilders {
    receive_time: TimestampMicrosecondBuilder,
    event_time: TimestampMicrosecondBuilder,
    flow_start: TimestampMicrosecondBuilder,
    flow_end: TimestampMicrosecondBuilder,
    exporter_address: StringBuilder,
    flow_protocol: StringBuilder,
    sequence: UInt64Builder,
    observation_domain: UInt32Builder,
    sampling_rate: UInt32Builder,
    src_addr: StringBuilder,
    dst_addr: StringBuilder,
    src_port: UInt16Builder,
    dst_port: UInt16Builder,
    ip_protocol: UInt8Builder,
    tcp_flags: UInt16Builder,
    tos: UInt8Builder,
    bytes: UInt64Builder,
    packets: UInt64Builder,
    bytes_scaled: UInt64Builder,
    packets_scaled: UInt64Builder,
    input_interface: UInt32Builder,
    output_interface: UInt32Builder,
    src_as: UInt32Builder,
    dst_as: UInt32Builder,
    src_prefix_len: UInt8Builder,
    dst_prefix_len: UInt8Builder,
    next_hop: StringBuilder,
    src_vlan: UInt16Builder,
    dst_vlan: UInt16Builder,
    src_mac: StringBuilder,
    dst_mac: StringBuilder,
    direction: UInt8Builder,
    icmp_type: UInt8Builder,
    icmp_code: UInt8Builder,
    record_type: StringBuilder,
    if_speed: UInt64Builder,
    if_in_octets: UInt64Builder,
    if_out_octets: UInt64Builder,
    if_in_packets: UInt64Builder,
    if_out_packets: UInt64Builder,
    if_in_errors: UInt64Builder,
    if_out_errors: UInt64Builder,
    if_in_discards: UInt64Builder,
    if_out_discards: UInt64Builder,
    extra_fields: StringBuilder,
    rows: usize,
    // Reused so formatting addresses does not allocate per record.
    text: String,
    exporter_cache: (Option<IpAddr>, String),
}

/// Dotted-quad text without `core::fmt`, which is most of a record's cost otherwise.
fn push_ipv4(text: &mut String, octets: [u8; 4]) {
    for (i, octet) in octets.into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
}

fn append_address(builder: &mut StringBuilder, text: &mut String, address: Option<IpAddr>) {
    match address {
        Some(IpAddr::V4(address)) => {
            text.clear();
            push_ipv4(text, address.octets());
            builder.append_value(text.as_str());
        }
        Some(address) => {
            text.clear();
            let _ = write!(text, "{address}");
            builder.append_value(text.as_str());
        }
        None => builder.append_null(),
    }
}

fn append_mac(builder: &mut StringBuilder, text: &mut String, mac: Option<[u8; 6]>) {
    match mac {
        Some(m) => {
            text.clear();
            let _ = write!(
                text,
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            );
            builder.append_value(text.as_str());
        }
        None => builder.append_null(),
    }
}

impl FlowBuilders {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        let timestamp = || TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
        let text = |bytes: usize| StringBuilder::with_capacity(rows, rows * bytes);
        FlowBuilders {
            receive_time: timestamp(),
            event_time: timestamp(),
            flow_start: timestamp(),
            flow_end: timestamp(),
            exporter_address: text(12),
            flow_protocol: text(8),
            sequence: UInt64Builder::with_capacity(rows),
            observation_domain: UInt32Builder::with_capacity(rows),
            sampling_rate: UInt32Builder::with_capacity(rows),
            src_addr: text(12),
            dst_addr: text(12),
            src_port: UInt16Builder::with_capacity(rows),
            dst_port: UInt16Builder::with_capacity(rows),
            ip_protocol: UInt8Builder::with_capacity(rows),
            tcp_flags: UInt16Builder::with_capacity(rows),
            tos: UInt8Builder::with_capacity(rows),
            bytes: UInt64Builder::with_capacity(rows),
            packets: UInt64Builder::with_capacity(rows),
            bytes_scaled: UInt64Builder::with_capacity(rows),
            packets_scaled: UInt64Builder::with_capacity(rows),
            input_interface: UInt32Builder::with_capacity(rows),
            output_interface: UInt32Builder::with_capacity(rows),
            src_as: UInt32Builder::with_capacity(rows),
            dst_as: UInt32Builder::with_capacity(rows),
            src_prefix_len: UInt8Builder::with_capacity(rows),
            dst_prefix_len: UInt8Builder::with_capacity(rows),
            next_hop: text(8),
            src_vlan: UInt16Builder::with_capacity(rows),
            dst_vlan: UInt16Builder::with_capacity(rows),
            src_mac: text(4),
            dst_mac: text(4),
            direction: UInt8Builder::with_capacity(rows),
            icmp_type: UInt8Builder::with_capacity(rows),
            icmp_code: UInt8Builder::with_capacity(rows),
            record_type: text(4),
            if_speed: UInt64Builder::with_capacity(rows),
            if_in_octets: UInt64Builder::with_capacity(rows),
            if_out_octets: UInt64Builder::with_capacity(rows),
            if_in_packets: UInt64Builder::with_capacity(rows),
            if_out_packets: UInt64Builder::with_capacity(rows),
            if_in_errors: UInt64Builder::with_capacity(rows),
            if_out_errors: UInt64Builder::with_capacity(rows),
            if_in_discards: UInt64Builder::with_capacity(rows),
            if_out_discards: UInt64Builder::with_capacity(rows),
            extra_fields: text(2),
            rows: 0,
            text: String::with_capacity(46),
            exporter_cache: (None, String::new()),
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn append(&mut self, context: &RecordContext<'_>, record: &FlowRecord) {
        let scale = |value: Option<u64>| match (value, record.sampling_rate) {
            (Some(value), Some(rate)) if rate > 1 => Some(value.saturating_mul(u64::from(rate))),
            (value, _) => value,
        };
        self.receive_time.append_value(context.receive_time_micros);
        self.event_time.append_value(
            record
                .flow_end_micros
                .unwrap_or(context.receive_time_micros),
        );
        self.flow_start.append_option(record.flow_start_micros);
        self.flow_end.append_option(record.flow_end_micros);
        // One exporter per datagram: its text is formatted once, not per record.
        if self.exporter_cache.0 != context.exporter {
            self.exporter_cache.1.clear();
            if let Some(exporter) = context.exporter {
                let _ = write!(self.exporter_cache.1, "{exporter}");
            }
            self.exporter_cache.0 = context.exporter;
        }
        match context.exporter {
            Some(_) => self.exporter_address.append_value(&self.exporter_cache.1),
            None => self.exporter_address.append_null(),
        }
        self.flow_protocol.append_value(context.protocol);
        self.sequence.append_option(record.sequence);
        self.observation_domain
            .append_option(record.observation_domain);
        self.sampling_rate.append_option(record.sampling_rate);
        append_address(&mut self.src_addr, &mut self.text, record.src_addr);
        append_address(&mut self.dst_addr, &mut self.text, record.dst_addr);
        self.src_port.append_option(record.src_port);
        self.dst_port.append_option(record.dst_port);
        self.ip_protocol.append_option(record.ip_protocol);
        self.tcp_flags.append_option(record.tcp_flags);
        self.tos.append_option(record.tos);
        self.bytes.append_option(record.bytes);
        self.packets.append_option(record.packets);
        self.bytes_scaled.append_option(scale(record.bytes));
        self.packets_scaled.append_option(scale(record.packets));
        self.input_interface.append_option(record.input_interface);
        self.output_interface.append_option(record.output_interface);
        self.src_as.append_option(record.src_as);
        self.dst_as.append_option(record.dst_as);
        self.src_prefix_len.append_option(record.src_prefix_len);
        self.dst_prefix_len.append_option(record.dst_prefix_len);
        append_address(&mut self.next_hop, &mut self.text, record.next_hop);
        self.src_vlan.append_option(record.src_vlan);
        self.dst_vlan.append_option(record.dst_vlan);
        append_mac(&mut self.src_mac, &mut self.text, record.src_mac);
        append_mac(&mut self.dst_mac, &mut self.text, record.dst_mac);
        self.direction.append_option(record.direction);
        self.icmp_type.append_option(record.icmp_type);
        self.icmp_code.append_option(record.icmp_code);
        self.record_type.append_value(if record.counters.is_some() {
            "counters"
        } else {
            "flow"
        });
        let counters = record.counters;
        self.if_speed.append_option(counters.map(|c| c.speed));
        self.if_in_octets
            .append_option(counters.map(|c| c.in_octets));
        self.if_out_octets
            .append_option(counters.map(|c| c.out_octets));
        self.if_in_packets
            .append_option(counters.map(|c| c.in_packets));
        self.if_out_packets
            .append_option(counters.map(|c| c.out_packets));
        self.if_in_errors
            .append_option(counters.map(|c| c.in_errors));
        self.if_out_errors
            .append_option(counters.map(|c| c.out_errors));
        self.if_in_discards
            .append_option(counters.map(|c| c.in_discards));
        self.if_out_discards
            .append_option(counters.map(|c| c.out_discards));
        if record.extra.is_empty() {
            self.extra_fields.append_null();
        } else {
            self.text.clear();
            self.text.push('{');
            self.text.push_str(&record.extra);
            self.text.push('}');
            self.extra_fields.append_value(self.text.as_str());
        }
        self.rows += 1;
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.receive_time.finish()),
            Arc::new(self.event_time.finish()),
            Arc::new(self.flow_start.finish()),
            Arc::new(self.flow_end.finish()),
            Arc::new(self.exporter_address.finish()),
            Arc::new(self.flow_protocol.finish()),
            Arc::new(self.sequence.finish()),
            Arc::new(self.observation_domain.finish()),
            Arc::new(self.sampling_rate.finish()),
            Arc::new(self.src_addr.finish()),
            Arc::new(self.dst_addr.finish()),
            Arc::new(self.src_port.finish()),
            Arc::new(self.dst_port.finish()),
            Arc::new(self.ip_protocol.finish()),
            Arc::new(self.tcp_flags.finish()),
            Arc::new(self.tos.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.packets.finish()),
            Arc::new(self.bytes_scaled.finish()),
            Arc::new(self.packets_scaled.finish()),
            Arc::new(self.input_interface.finish()),
            Arc::new(self.output_interface.finish()),
            Arc::new(self.src_as.finish()),
            Arc::new(self.dst_as.finish()),
            Arc::new(self.src_prefix_len.finish()),
            Arc::new(self.dst_prefix_len.finish()),
            Arc::new(self.next_hop.finish()),
            Arc::new(self.src_vlan.finish()),
            Arc::new(self.dst_vlan.finish()),
            Arc::new(self.src_mac.finish()),
            Arc::new(self.dst_mac.finish()),
            Arc::new(self.direction.finish()),
            Arc::new(self.icmp_type.finish()),
            Arc::new(self.icmp_code.finish()),
            Arc::new(self.record_type.finish()),
            Arc::new(self.if_speed.finish()),
            Arc::new(self.if_in_octets.finish()),
            Arc::new(self.if_out_octets.finish()),
            Arc::new(self.if_in_packets.finish()),
            Arc::new(self.if_out_packets.finish()),
            Arc::new(self.if_in_errors.finish()),
            Arc::new(self.if_out_errors.finish()),
            Arc::new(self.if_in_discards.finish()),
            Arc::new(self.if_out_discards.finish()),
            Arc::new(self.extra_fields.finish()),
        ];
        RecordBatch::try_new(flow_schema(), columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text_matches_the_standard_formatting() {
        for octets in [
            [0, 0, 0, 0],
            [10, 0, 0, 1],
            [255, 255, 255, 255],
            [192, 168, 100, 9],
            [1, 20, 199, 250],
        ] {
            let mut text = String::new();
            push_ipv4(&mut text, octets);
            assert_eq!(text, std::net::Ipv4Addr::from(octets).to_string());
        }
    }
}
