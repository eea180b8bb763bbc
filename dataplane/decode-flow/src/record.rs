//! One flow record as the protocols describe it, and the flow schema's columns it becomes.

use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use bytefreezer_schema::flow_schema;

use crate::columns::{Column, TextColumn, Zeros};
use crate::text::{extra_key, push_hex, push_ipv4, push_ipv6, push_mac};

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
    pub extra: Vec<u8>,
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

    /// A named counter as a JSON number, `"<name>":<value>` (sFlow counter records the
    /// schema has no column for; `name` is a fixed identifier, needing no escaping).
    pub(crate) fn add_extra_count(&mut self, name: &str, value: u64) {
        use std::io::Write as _;
        if !self.extra.is_empty() {
            self.extra.push(b',');
        }
        let _ = write!(self.extra, "\"{name}\":{value}");
    }

    pub(crate) fn add_extra(&mut self, enterprise: u32, element: u16, value: &[u8]) {
        if !self.extra.is_empty() {
            self.extra.push(b',');
        }
        extra_key(&mut self.extra, enterprise, element);
        push_hex(&mut self.extra, value);
        self.extra.push(b'"');
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

/// The flow schema's columns, in schema order, appended row by row ([`FlowBuilders::append`])
/// or a data set at a time (`crate::plan`).
pub(crate) struct FlowBuilders {
    pub receive_time: Column<TimestampMicrosecondType>,
    pub event_time: Column<TimestampMicrosecondType>,
    pub flow_start: Column<TimestampMicrosecondType>,
    pub flow_end: Column<TimestampMicrosecondType>,
    pub exporter_address: TextColumn,
    pub flow_protocol: TextColumn,
    pub sequence: Column<UInt64Type>,
    pub observation_domain: Column<UInt32Type>,
    pub sampling_rate: Column<UInt32Type>,
    pub src_addr: TextColumn,
    pub dst_addr: TextColumn,
    pub src_port: Column<UInt16Type>,
    pub dst_port: Column<UInt16Type>,
    pub ip_protocol: Column<UInt8Type>,
    pub tcp_flags: Column<UInt16Type>,
    pub tos: Column<UInt8Type>,
    pub bytes: Column<UInt64Type>,
    pub packets: Column<UInt64Type>,
    pub bytes_scaled: Column<UInt64Type>,
    pub packets_scaled: Column<UInt64Type>,
    pub input_interface: Column<UInt32Type>,
    pub output_interface: Column<UInt32Type>,
    pub src_as: Column<UInt32Type>,
    pub dst_as: Column<UInt32Type>,
    pub src_prefix_len: Column<UInt8Type>,
    pub dst_prefix_len: Column<UInt8Type>,
    pub next_hop: TextColumn,
    pub src_vlan: Column<UInt16Type>,
    pub dst_vlan: Column<UInt16Type>,
    pub src_mac: TextColumn,
    pub dst_mac: TextColumn,
    pub direction: Column<UInt8Type>,
    pub icmp_type: Column<UInt8Type>,
    pub icmp_code: Column<UInt8Type>,
    pub record_type: TextColumn,
    pub if_speed: Column<UInt64Type>,
    pub if_in_octets: Column<UInt64Type>,
    pub if_out_octets: Column<UInt64Type>,
    pub if_in_packets: Column<UInt64Type>,
    pub if_out_packets: Column<UInt64Type>,
    pub if_in_errors: Column<UInt64Type>,
    pub if_out_errors: Column<UInt64Type>,
    pub if_in_discards: Column<UInt64Type>,
    pub if_out_discards: Column<UInt64Type>,
    pub extra_fields: TextColumn,
    rows: usize,
    /// The exporter whose text `exporter_text` holds: one exporter per datagram, so its text
    /// is formatted once, not per record.
    exporter: Option<IpAddr>,
    exporter_text: String,
}

/// The value `bytes_scaled`/`packets_scaled` hold: multiplied by a sampling rate above 1.
pub(crate) fn scaled(value: u64, rate: Option<u32>) -> u64 {
    match rate {
        Some(rate) if rate > 1 => value.saturating_mul(u64::from(rate)),
        _ => value,
    }
}

fn push_address(column: &mut TextColumn, address: Option<IpAddr>) {
    match address {
        Some(IpAddr::V4(address)) => {
            push_ipv4(column.bytes_mut(), address.octets());
            column.end_value();
        }
        Some(IpAddr::V6(address)) => {
            push_ipv6(column.bytes_mut(), address.octets());
            column.end_value();
        }
        None => column.push_nulls(1),
    }
}

fn push_mac_option(column: &mut TextColumn, mac: Option<[u8; 6]>) {
    match mac {
        Some(mac) => {
            push_mac(column.bytes_mut(), mac);
            column.end_value();
        }
        None => column.push_nulls(1),
    }
}

impl FlowBuilders {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        let text = |bytes: usize| TextColumn::with_capacity(rows, bytes);
        FlowBuilders {
            receive_time: Column::with_capacity(rows),
            event_time: Column::with_capacity(rows),
            flow_start: Column::with_capacity(rows),
            flow_end: Column::with_capacity(rows),
            exporter_address: text(12),
            flow_protocol: text(10),
            sequence: Column::with_capacity(rows),
            observation_domain: Column::with_capacity(rows),
            sampling_rate: Column::with_capacity(rows),
            src_addr: text(13),
            dst_addr: text(13),
            src_port: Column::with_capacity(rows),
            dst_port: Column::with_capacity(rows),
            ip_protocol: Column::with_capacity(rows),
            tcp_flags: Column::with_capacity(rows),
            tos: Column::with_capacity(rows),
            bytes: Column::with_capacity(rows),
            packets: Column::with_capacity(rows),
            bytes_scaled: Column::with_capacity(rows),
            packets_scaled: Column::with_capacity(rows),
            input_interface: Column::with_capacity(rows),
            output_interface: Column::with_capacity(rows),
            src_as: Column::with_capacity(rows),
            dst_as: Column::with_capacity(rows),
            src_prefix_len: Column::with_capacity(rows),
            dst_prefix_len: Column::with_capacity(rows),
            next_hop: text(11),
            src_vlan: Column::with_capacity(rows),
            dst_vlan: Column::with_capacity(rows),
            src_mac: text(0),
            dst_mac: text(0),
            direction: Column::with_capacity(rows),
            icmp_type: Column::with_capacity(rows),
            icmp_code: Column::with_capacity(rows),
            record_type: text(4),
            if_speed: Column::with_capacity(rows),
            if_in_octets: Column::with_capacity(rows),
            if_out_octets: Column::with_capacity(rows),
            if_in_packets: Column::with_capacity(rows),
            if_out_packets: Column::with_capacity(rows),
            if_in_errors: Column::with_capacity(rows),
            if_out_errors: Column::with_capacity(rows),
            if_in_discards: Column::with_capacity(rows),
            if_out_discards: Column::with_capacity(rows),
            extra_fields: text(0),
            rows: 0,
            exporter: None,
            exporter_text: String::new(),
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Counts `n` rows appended a column at a time; every column must have grown by `n`.
    pub(crate) fn add_rows(&mut self, n: usize) {
        self.rows += n;
        debug_assert_eq!(self.sequence.len(), self.rows);
        debug_assert_eq!(self.src_addr.len(), self.rows);
        debug_assert_eq!(self.flow_end.len(), self.rows);
        debug_assert_eq!(self.icmp_code.len(), self.rows);
        debug_assert_eq!(self.extra_fields.len(), self.rows);
        debug_assert_eq!(self.if_out_discards.len(), self.rows);
    }

    /// Formats the exporter's address once per change of exporter; false for none.
    fn set_exporter(&mut self, exporter: Option<IpAddr>) -> bool {
        if self.exporter != exporter {
            self.exporter_text.clear();
            if let Some(exporter) = exporter {
                let _ = write!(self.exporter_text, "{exporter}");
            }
            self.exporter = exporter;
        }
        exporter.is_some()
    }

    /// Appends, for `n` rows, the columns every row of a data set shares: `receive_time`,
    /// `exporter_address`, `flow_protocol`, `sequence`, `observation_domain`, `record_type`
    /// (`flow`) and the sFlow interface counters (null).
    pub(crate) fn push_shared(
        &mut self,
        context: &RecordContext<'_>,
        sequence: Option<u64>,
        observation_domain: Option<u32>,
        n: usize,
    ) {
        self.receive_time
            .push_repeat(Some(context.receive_time_micros), n);
        if self.set_exporter(context.exporter) {
            self.exporter_address
                .push_repeat(Some(self.exporter_text.as_str()), n);
        } else {
            self.exporter_address.push_nulls(n);
        }
        self.flow_protocol.push_repeat(Some(context.protocol), n);
        self.sequence.push_repeat(sequence, n);
        self.observation_domain.push_repeat(observation_domain, n);
        self.record_type.push_repeat(Some("flow"), n);
        for column in [
            &mut self.if_speed,
            &mut self.if_in_octets,
            &mut self.if_out_octets,
            &mut self.if_in_packets,
            &mut self.if_out_packets,
            &mut self.if_in_errors,
            &mut self.if_out_errors,
            &mut self.if_in_discards,
            &mut self.if_out_discards,
        ] {
            column.push_nulls(n);
        }
    }

    /// Appends one row.
    pub(crate) fn append(&mut self, context: &RecordContext<'_>, record: &FlowRecord) {
        let scale = |value: Option<u64>| value.map(|value| scaled(value, record.sampling_rate));
        self.receive_time.push(context.receive_time_micros);
        self.event_time.push(
            record
                .flow_end_micros
                .unwrap_or(context.receive_time_micros),
        );
        self.flow_start.push_option(record.flow_start_micros);
        self.flow_end.push_option(record.flow_end_micros);
        if self.set_exporter(context.exporter) {
            self.exporter_address.push_str(&self.exporter_text);
        } else {
            self.exporter_address.push_nulls(1);
        }
        self.flow_protocol.push_str(context.protocol);
        self.sequence.push_option(record.sequence);
        self.observation_domain
            .push_option(record.observation_domain);
        self.sampling_rate.push_option(record.sampling_rate);
        push_address(&mut self.src_addr, record.src_addr);
        push_address(&mut self.dst_addr, record.dst_addr);
        self.src_port.push_option(record.src_port);
        self.dst_port.push_option(record.dst_port);
        self.ip_protocol.push_option(record.ip_protocol);
        self.tcp_flags.push_option(record.tcp_flags);
        self.tos.push_option(record.tos);
        self.bytes.push_option(record.bytes);
        self.packets.push_option(record.packets);
        self.bytes_scaled.push_option(scale(record.bytes));
        self.packets_scaled.push_option(scale(record.packets));
        self.input_interface.push_option(record.input_interface);
        self.output_interface.push_option(record.output_interface);
        self.src_as.push_option(record.src_as);
        self.dst_as.push_option(record.dst_as);
        self.src_prefix_len.push_option(record.src_prefix_len);
        self.dst_prefix_len.push_option(record.dst_prefix_len);
        push_address(&mut self.next_hop, record.next_hop);
        self.src_vlan.push_option(record.src_vlan);
        self.dst_vlan.push_option(record.dst_vlan);
        push_mac_option(&mut self.src_mac, record.src_mac);
        push_mac_option(&mut self.dst_mac, record.dst_mac);
        self.direction.push_option(record.direction);
        self.icmp_type.push_option(record.icmp_type);
        self.icmp_code.push_option(record.icmp_code);
        self.record_type.push_str(if record.counters.is_some() {
            "counters"
        } else {
            "flow"
        });
        let counters = record.counters;
        self.if_speed.push_option(counters.map(|c| c.speed));
        self.if_in_octets.push_option(counters.map(|c| c.in_octets));
        self.if_out_octets
            .push_option(counters.map(|c| c.out_octets));
        self.if_in_packets
            .push_option(counters.map(|c| c.in_packets));
        self.if_out_packets
            .push_option(counters.map(|c| c.out_packets));
        self.if_in_errors.push_option(counters.map(|c| c.in_errors));
        self.if_out_errors
            .push_option(counters.map(|c| c.out_errors));
        self.if_in_discards
            .push_option(counters.map(|c| c.in_discards));
        self.if_out_discards
            .push_option(counters.map(|c| c.out_discards));
        if record.extra.is_empty() {
            self.extra_fields.push_nulls(1);
        } else {
            let bytes = self.extra_fields.bytes_mut();
            bytes.push(b'{');
            bytes.extend_from_slice(&record.extra);
            bytes.push(b'}');
            self.extra_fields.end_value();
        }
        self.rows += 1;
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        self.rows = 0;
        let mut zeros = Zeros::default();
        let zeros = &mut zeros;
        let time = |column: &mut Column<TimestampMicrosecondType>, zeros: &mut Zeros| -> ArrayRef {
            Arc::new(column.finish(zeros).with_timezone("UTC"))
        };
        let columns: Vec<ArrayRef> = vec![
            time(&mut self.receive_time, zeros),
            time(&mut self.event_time, zeros),
            time(&mut self.flow_start, zeros),
            time(&mut self.flow_end, zeros),
            Arc::new(self.exporter_address.finish()?),
            Arc::new(self.flow_protocol.finish()?),
            Arc::new(self.sequence.finish(zeros)),
            Arc::new(self.observation_domain.finish(zeros)),
            Arc::new(self.sampling_rate.finish(zeros)),
            Arc::new(self.src_addr.finish()?),
            Arc::new(self.dst_addr.finish()?),
            Arc::new(self.src_port.finish(zeros)),
            Arc::new(self.dst_port.finish(zeros)),
            Arc::new(self.ip_protocol.finish(zeros)),
            Arc::new(self.tcp_flags.finish(zeros)),
            Arc::new(self.tos.finish(zeros)),
            Arc::new(self.bytes.finish(zeros)),
            Arc::new(self.packets.finish(zeros)),
            Arc::new(self.bytes_scaled.finish(zeros)),
            Arc::new(self.packets_scaled.finish(zeros)),
            Arc::new(self.input_interface.finish(zeros)),
            Arc::new(self.output_interface.finish(zeros)),
            Arc::new(self.src_as.finish(zeros)),
            Arc::new(self.dst_as.finish(zeros)),
            Arc::new(self.src_prefix_len.finish(zeros)),
            Arc::new(self.dst_prefix_len.finish(zeros)),
            Arc::new(self.next_hop.finish()?),
            Arc::new(self.src_vlan.finish(zeros)),
            Arc::new(self.dst_vlan.finish(zeros)),
            Arc::new(self.src_mac.finish()?),
            Arc::new(self.dst_mac.finish()?),
            Arc::new(self.direction.finish(zeros)),
            Arc::new(self.icmp_type.finish(zeros)),
            Arc::new(self.icmp_code.finish(zeros)),
            Arc::new(self.record_type.finish()?),
            Arc::new(self.if_speed.finish(zeros)),
            Arc::new(self.if_in_octets.finish(zeros)),
            Arc::new(self.if_out_octets.finish(zeros)),
            Arc::new(self.if_in_packets.finish(zeros)),
            Arc::new(self.if_out_packets.finish(zeros)),
            Arc::new(self.if_in_errors.finish(zeros)),
            Arc::new(self.if_out_errors.finish(zeros)),
            Arc::new(self.if_in_discards.finish(zeros)),
            Arc::new(self.if_out_discards.finish(zeros)),
            Arc::new(self.extra_fields.finish()?),
        ];
        RecordBatch::try_new(flow_schema(), columns)
    }
}
