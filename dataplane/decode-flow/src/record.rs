//! One flow record as the protocols describe it, and the flow schema's columns it becomes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BinaryArray, DictionaryArray, StringArray};
use arrow::datatypes::{
    ArrowPrimitiveType, Int8Type, TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use bytefreezer_schema::{FLOW_PROTOCOLS, FlowColumn, RECORD_TYPES, flow_edge_schema};

use crate::columns::{Column, TextColumn};
use crate::event_columns::{TextForm, write_text};
use crate::text::{extra_key, push_hex};

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
    pub events: EventValues,
    /// `"<pen>:<ie>":"<hex>"` pairs, already JSON-escaped, without the braces.
    pub extra: Vec<u8>,
}

/// A record's firewall, NAT and application values (`crate::event_columns`).
#[derive(Debug, Default, Clone)]
pub(crate) struct EventValues {
    pub firewall_event: Option<u8>,
    pub firewall_ext_event: Option<u16>,
    pub nat_event: Option<u8>,
    pub xlate_src_addr: Option<IpAddr>,
    pub xlate_dst_addr: Option<IpAddr>,
    pub xlate_src_port: Option<u16>,
    pub xlate_dst_port: Option<u16>,
    /// Ids whose names options data may announce (`ingressVRFID`, `egressVRFID`; the
    /// application id as engine and selector), kept to look the names up.
    pub ingress_vrf: Option<u64>,
    pub egress_vrf: Option<u64>,
    pub application: Option<(u8, u64)>,
    /// The text columns' values back to back (reused between records), and the range of
    /// each one's in it, indexed by [`EventValues::TEXT_COLUMNS`].
    text: Vec<u8>,
    texts: [Option<(usize, usize)>; TEXT_COLUMN_COUNT],
}

/// How many text-valued firewall, NAT, application and name columns there are.
const TEXT_COLUMN_COUNT: usize = 11;

impl EventValues {
    /// The text columns, in the order of `texts`.
    pub(crate) const TEXT_COLUMNS: [FlowColumn; TEXT_COLUMN_COUNT] = [
        FlowColumn::IngressAclId,
        FlowColumn::EgressAclId,
        FlowColumn::AppId,
        FlowColumn::AppName,
        FlowColumn::UserName,
        FlowColumn::InputInterfaceName,
        FlowColumn::OutputInterfaceName,
        FlowColumn::IngressVrfName,
        FlowColumn::EgressVrfName,
        FlowColumn::InputInterfaceDescription,
        FlowColumn::OutputInterfaceDescription,
    ];

    /// Where `column`'s value is in `texts`.
    fn slot(column: FlowColumn) -> Option<usize> {
        Self::TEXT_COLUMNS.iter().position(|c| *c == column)
    }

    /// Sets text column `column` to what `write` appends (a later value replaces an earlier).
    fn put(&mut self, column: FlowColumn, write: impl FnOnce(&mut Vec<u8>)) {
        let Some(slot) = Self::slot(column) else {
            return;
        };
        let start = self.text.len();
        write(&mut self.text);
        self.texts[slot] = Some((start, self.text.len()));
    }

    /// Sets text column `column` to `value` as `form`.
    pub(crate) fn set_text(&mut self, column: FlowColumn, form: TextForm, value: &[u8]) {
        self.put(column, |text| write_text(text, form, value));
    }

    /// Sets text column `column` to a name announced in options data.
    pub(crate) fn set_name(&mut self, column: FlowColumn, name: &str) {
        self.put(column, |text| text.extend_from_slice(name.as_bytes()));
    }

    /// Whether the record has no value for any firewall, NAT, application or name column.
    fn is_empty(&self) -> bool {
        self.texts.iter().all(Option::is_none)
            && self.firewall_event.is_none()
            && self.firewall_ext_event.is_none()
            && self.nat_event.is_none()
            && self.xlate_src_addr.is_none()
            && self.xlate_dst_addr.is_none()
            && self.xlate_src_port.is_none()
            && self.xlate_dst_port.is_none()
    }

    pub(crate) fn text(&self, column: FlowColumn) -> Option<&[u8]> {
        self.texts[Self::slot(column)?].map(|(start, end)| &self.text[start..end])
    }

    fn clear(&mut self) {
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        *self = EventValues {
            text,
            ..EventValues::default()
        };
    }
}

impl FlowRecord {
    pub(crate) fn clear(&mut self) {
        let mut extra = std::mem::take(&mut self.extra);
        extra.clear();
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        *self = FlowRecord {
            extra,
            events,
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
    pub flow_start: Column<TimestampMicrosecondType>,
    pub flow_end: Column<TimestampMicrosecondType>,
    /// Keys into `exporters`.
    pub exporter_address: Column<UInt32Type>,
    /// Keys into `FLOW_PROTOCOLS`.
    pub flow_protocol: Column<Int8Type>,
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
    /// Keys into `RECORD_TYPES`.
    pub record_type: Column<Int8Type>,
    pub if_speed: Column<UInt64Type>,
    pub if_in_octets: Column<UInt64Type>,
    pub if_out_octets: Column<UInt64Type>,
    pub if_in_packets: Column<UInt64Type>,
    pub if_out_packets: Column<UInt64Type>,
    pub if_in_errors: Column<UInt64Type>,
    pub if_out_errors: Column<UInt64Type>,
    pub if_in_discards: Column<UInt64Type>,
    pub if_out_discards: Column<UInt64Type>,
    pub firewall_event: Column<UInt8Type>,
    pub firewall_ext_event: Column<UInt16Type>,
    pub ingress_acl_id: TextColumn,
    pub egress_acl_id: TextColumn,
    pub nat_event: Column<UInt8Type>,
    pub xlate_src_addr: TextColumn,
    pub xlate_dst_addr: TextColumn,
    pub xlate_src_port: Column<UInt16Type>,
    pub xlate_dst_port: Column<UInt16Type>,
    pub app_id: TextColumn,
    pub app_name: TextColumn,
    pub user_name: TextColumn,
    pub input_interface_name: TextColumn,
    pub output_interface_name: TextColumn,
    pub ingress_vrf_name: TextColumn,
    pub egress_vrf_name: TextColumn,
    pub input_interface_description: TextColumn,
    pub output_interface_description: TextColumn,
    pub extra_fields: TextColumn,
    /// Rows with no firewall, NAT, application or name value not yet written to those columns:
    /// most flows have none, so they cost one count here instead of a null in each column.
    event_nulls: usize,
    rows: usize,
    /// The exporters of this batch, in key order (the dictionary of `exporter_address`):
    /// at most one per row, so bounded by the batch's rows.
    exporters: Vec<IpAddr>,
    exporter_keys: HashMap<IpAddr, u32>,
    /// The last exporter seen and its key: one exporter per datagram, so it is looked up once
    /// per datagram, not per record.
    exporter: Option<(IpAddr, u32)>,
}

/// The key of a protocol name in `FLOW_PROTOCOLS`.
pub(crate) fn protocol_key(protocol: &str) -> i8 {
    FLOW_PROTOCOLS
        .iter()
        .position(|known| *known == protocol)
        .unwrap_or_default() as i8
}

const FLOW_RECORD: i8 = 0;
const COUNTER_RECORD: i8 = 1;

/// An address as its 4 or 16 bytes (the edge batch's binary form).
fn push_address(column: &mut TextColumn, address: Option<IpAddr>) {
    match address {
        Some(IpAddr::V4(address)) => {
            column.bytes_mut().extend_from_slice(&address.octets());
            column.end_value();
        }
        Some(IpAddr::V6(address)) => {
            column.bytes_mut().extend_from_slice(&address.octets());
            column.end_value();
        }
        None => column.push_nulls(1),
    }
}

fn push_mac_option(column: &mut TextColumn, mac: Option<[u8; 6]>) {
    match mac {
        Some(mac) => {
            column.bytes_mut().extend_from_slice(&mac);
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
            flow_start: Column::with_capacity(rows),
            flow_end: Column::with_capacity(rows),
            exporter_address: Column::with_capacity(rows),
            flow_protocol: Column::with_capacity(rows),
            sequence: Column::with_capacity(rows),
            observation_domain: Column::with_capacity(rows),
            sampling_rate: Column::with_capacity(rows),
            src_addr: text(4),
            dst_addr: text(4),
            src_port: Column::with_capacity(rows),
            dst_port: Column::with_capacity(rows),
            ip_protocol: Column::with_capacity(rows),
            tcp_flags: Column::with_capacity(rows),
            tos: Column::with_capacity(rows),
            bytes: Column::with_capacity(rows),
            packets: Column::with_capacity(rows),
            input_interface: Column::with_capacity(rows),
            output_interface: Column::with_capacity(rows),
            src_as: Column::with_capacity(rows),
            dst_as: Column::with_capacity(rows),
            src_prefix_len: Column::with_capacity(rows),
            dst_prefix_len: Column::with_capacity(rows),
            next_hop: text(4),
            src_vlan: Column::with_capacity(rows),
            dst_vlan: Column::with_capacity(rows),
            src_mac: text(0),
            dst_mac: text(0),
            direction: Column::with_capacity(rows),
            icmp_type: Column::with_capacity(rows),
            icmp_code: Column::with_capacity(rows),
            record_type: Column::with_capacity(rows),
            if_speed: Column::with_capacity(rows),
            if_in_octets: Column::with_capacity(rows),
            if_out_octets: Column::with_capacity(rows),
            if_in_packets: Column::with_capacity(rows),
            if_out_packets: Column::with_capacity(rows),
            if_in_errors: Column::with_capacity(rows),
            if_out_errors: Column::with_capacity(rows),
            if_in_discards: Column::with_capacity(rows),
            if_out_discards: Column::with_capacity(rows),
            firewall_event: Column::with_capacity(rows),
            firewall_ext_event: Column::with_capacity(rows),
            ingress_acl_id: text(0),
            egress_acl_id: text(0),
            nat_event: Column::with_capacity(rows),
            xlate_src_addr: text(0),
            xlate_dst_addr: text(0),
            xlate_src_port: Column::with_capacity(rows),
            xlate_dst_port: Column::with_capacity(rows),
            app_id: text(0),
            app_name: text(0),
            user_name: text(0),
            input_interface_name: text(0),
            output_interface_name: text(0),
            ingress_vrf_name: text(0),
            egress_vrf_name: text(0),
            input_interface_description: text(0),
            output_interface_description: text(0),
            extra_fields: text(0),
            event_nulls: 0,
            rows: 0,
            exporters: Vec::new(),
            exporter_keys: HashMap::new(),
            exporter: None,
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
        debug_assert_eq!(self.xlate_dst_port.len() + self.event_nulls, self.rows);
        debug_assert_eq!(self.user_name.len() + self.event_nulls, self.rows);
        debug_assert_eq!(self.egress_vrf_name.len() + self.event_nulls, self.rows);
    }

    /// Counts `n` rows without firewall, NAT, application or name values.
    pub(crate) fn skip_events(&mut self, n: usize) {
        self.event_nulls += n;
    }

    /// Writes the rows [`FlowBuilders::skip_events`] counted as nulls, before rows with values.
    pub(crate) fn write_event_nulls(&mut self) {
        let n = std::mem::take(&mut self.event_nulls);
        if n == 0 {
            return;
        }
        self.firewall_event.push_nulls(n);
        self.firewall_ext_event.push_nulls(n);
        self.nat_event.push_nulls(n);
        self.xlate_src_port.push_nulls(n);
        self.xlate_dst_port.push_nulls(n);
        self.xlate_src_addr.push_nulls(n);
        self.xlate_dst_addr.push_nulls(n);
        for column in EventValues::TEXT_COLUMNS {
            if let Some(text) = self.event_text(column) {
                text.push_nulls(n);
            }
        }
    }

    fn push_events(&mut self, events: &EventValues) {
        self.firewall_event.push_option(events.firewall_event);
        self.firewall_ext_event
            .push_option(events.firewall_ext_event);
        self.nat_event.push_option(events.nat_event);
        self.xlate_src_port.push_option(events.xlate_src_port);
        self.xlate_dst_port.push_option(events.xlate_dst_port);
        push_address(&mut self.xlate_src_addr, events.xlate_src_addr);
        push_address(&mut self.xlate_dst_addr, events.xlate_dst_addr);
        for text in EventValues::TEXT_COLUMNS {
            let value = events.text(text);
            let Some(column) = self.event_text(text) else {
                continue;
            };
            match value {
                Some(value) => {
                    column.bytes_mut().extend_from_slice(value);
                    column.end_value();
                }
                None => column.push_nulls(1),
            }
        }
    }

    /// The column of a text-valued firewall, NAT or application column.
    pub(crate) fn event_text(&mut self, column: FlowColumn) -> Option<&mut TextColumn> {
        match column {
            FlowColumn::IngressAclId => Some(&mut self.ingress_acl_id),
            FlowColumn::EgressAclId => Some(&mut self.egress_acl_id),
            FlowColumn::AppId => Some(&mut self.app_id),
            FlowColumn::AppName => Some(&mut self.app_name),
            FlowColumn::UserName => Some(&mut self.user_name),
            FlowColumn::InputInterfaceName => Some(&mut self.input_interface_name),
            FlowColumn::OutputInterfaceName => Some(&mut self.output_interface_name),
            FlowColumn::IngressVrfName => Some(&mut self.ingress_vrf_name),
            FlowColumn::EgressVrfName => Some(&mut self.egress_vrf_name),
            FlowColumn::InputInterfaceDescription => Some(&mut self.input_interface_description),
            FlowColumn::OutputInterfaceDescription => Some(&mut self.output_interface_description),
            _ => None,
        }
    }

    /// The dictionary key of the exporter's address, looked up once per change of exporter.
    fn exporter_key(&mut self, exporter: Option<IpAddr>) -> Option<u32> {
        let exporter = exporter?;
        match self.exporter {
            Some((last, key)) if last == exporter => Some(key),
            _ => {
                let next = self.exporters.len() as u32;
                let key = *self.exporter_keys.entry(exporter).or_insert(next);
                if key == next {
                    self.exporters.push(exporter);
                }
                self.exporter = Some((exporter, key));
                Some(key)
            }
        }
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
        let exporter = self.exporter_key(context.exporter);
        self.exporter_address.push_repeat(exporter, n);
        self.flow_protocol
            .push_repeat(Some(protocol_key(context.protocol)), n);
        self.sequence.push_repeat(sequence, n);
        self.observation_domain.push_repeat(observation_domain, n);
        self.record_type.push_repeat(Some(FLOW_RECORD), n);
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
        self.receive_time.push(context.receive_time_micros);
        self.flow_start.push_option(record.flow_start_micros);
        self.flow_end.push_option(record.flow_end_micros);
        let exporter = self.exporter_key(context.exporter);
        self.exporter_address.push_option(exporter);
        self.flow_protocol.push(protocol_key(context.protocol));
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
        self.record_type.push(if record.counters.is_some() {
            COUNTER_RECORD
        } else {
            FLOW_RECORD
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
        if record.events.is_empty() {
            self.event_nulls += 1;
        } else {
            self.write_event_nulls();
            self.push_events(&record.events);
        }
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

    /// The rows as a flow edge batch (`docs/specs/edge-batch.md`; `flow/1` unless a firewall,
    /// NAT or application column has a value, then `flow/2`): columns no row has a
    /// value in are left out, addresses and MACs are bytes, the exporter, protocol and
    /// record type are dictionaries. The builders start again empty.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        self.write_event_nulls();
        self.rows = 0;
        let mut out = Finished::default();
        out.time(FlowColumn::ReceiveTime, &mut self.receive_time);
        out.time(FlowColumn::FlowStart, &mut self.flow_start);
        out.time(FlowColumn::FlowEnd, &mut self.flow_end);
        let exporters = std::mem::take(&mut self.exporters);
        self.exporter_keys.clear();
        self.exporter = None;
        if self.exporter_address.is_all_null() {
            self.exporter_address.discard_nulls();
        } else {
            let values =
                BinaryArray::from_iter_values(exporters.iter().map(|exporter| match exporter {
                    IpAddr::V4(address) => address.octets().to_vec(),
                    IpAddr::V6(address) => address.octets().to_vec(),
                }));
            let keys = self.exporter_address.finish();
            out.push(
                FlowColumn::ExporterAddress,
                Arc::new(DictionaryArray::try_new(keys, Arc::new(values))?),
            );
        }
        out.names(
            FlowColumn::FlowProtocol,
            &mut self.flow_protocol,
            &FLOW_PROTOCOLS,
        )?;
        out.number(FlowColumn::Sequence, &mut self.sequence);
        out.number(FlowColumn::ObservationDomain, &mut self.observation_domain);
        out.number(FlowColumn::SamplingRate, &mut self.sampling_rate);
        out.binary(FlowColumn::SrcAddr, &mut self.src_addr)?;
        out.binary(FlowColumn::DstAddr, &mut self.dst_addr)?;
        out.number(FlowColumn::SrcPort, &mut self.src_port);
        out.number(FlowColumn::DstPort, &mut self.dst_port);
        out.number(FlowColumn::IpProtocol, &mut self.ip_protocol);
        out.number(FlowColumn::TcpFlags, &mut self.tcp_flags);
        out.number(FlowColumn::Tos, &mut self.tos);
        out.number(FlowColumn::Bytes, &mut self.bytes);
        out.number(FlowColumn::Packets, &mut self.packets);
        out.number(FlowColumn::InputInterface, &mut self.input_interface);
        out.number(FlowColumn::OutputInterface, &mut self.output_interface);
        out.number(FlowColumn::SrcAs, &mut self.src_as);
        out.number(FlowColumn::DstAs, &mut self.dst_as);
        out.number(FlowColumn::SrcPrefixLen, &mut self.src_prefix_len);
        out.number(FlowColumn::DstPrefixLen, &mut self.dst_prefix_len);
        out.binary(FlowColumn::NextHop, &mut self.next_hop)?;
        out.number(FlowColumn::SrcVlan, &mut self.src_vlan);
        out.number(FlowColumn::DstVlan, &mut self.dst_vlan);
        out.binary(FlowColumn::SrcMac, &mut self.src_mac)?;
        out.binary(FlowColumn::DstMac, &mut self.dst_mac)?;
        out.number(FlowColumn::Direction, &mut self.direction);
        out.number(FlowColumn::IcmpType, &mut self.icmp_type);
        out.number(FlowColumn::IcmpCode, &mut self.icmp_code);
        out.names(FlowColumn::RecordType, &mut self.record_type, &RECORD_TYPES)?;
        out.number(FlowColumn::IfSpeed, &mut self.if_speed);
        out.number(FlowColumn::IfInOctets, &mut self.if_in_octets);
        out.number(FlowColumn::IfOutOctets, &mut self.if_out_octets);
        out.number(FlowColumn::IfInPackets, &mut self.if_in_packets);
        out.number(FlowColumn::IfOutPackets, &mut self.if_out_packets);
        out.number(FlowColumn::IfInErrors, &mut self.if_in_errors);
        out.number(FlowColumn::IfOutErrors, &mut self.if_out_errors);
        out.number(FlowColumn::IfInDiscards, &mut self.if_in_discards);
        out.number(FlowColumn::IfOutDiscards, &mut self.if_out_discards);
        out.number(FlowColumn::FirewallEvent, &mut self.firewall_event);
        out.number(FlowColumn::FirewallExtEvent, &mut self.firewall_ext_event);
        out.text(FlowColumn::IngressAclId, &mut self.ingress_acl_id)?;
        out.text(FlowColumn::EgressAclId, &mut self.egress_acl_id)?;
        out.number(FlowColumn::NatEvent, &mut self.nat_event);
        out.binary(FlowColumn::XlateSrcAddr, &mut self.xlate_src_addr)?;
        out.binary(FlowColumn::XlateDstAddr, &mut self.xlate_dst_addr)?;
        out.number(FlowColumn::XlateSrcPort, &mut self.xlate_src_port);
        out.number(FlowColumn::XlateDstPort, &mut self.xlate_dst_port);
        out.text(FlowColumn::AppId, &mut self.app_id)?;
        out.text(FlowColumn::AppName, &mut self.app_name)?;
        out.text(FlowColumn::UserName, &mut self.user_name)?;
        out.text(
            FlowColumn::InputInterfaceName,
            &mut self.input_interface_name,
        )?;
        out.text(
            FlowColumn::OutputInterfaceName,
            &mut self.output_interface_name,
        )?;
        out.text(FlowColumn::IngressVrfName, &mut self.ingress_vrf_name)?;
        out.text(FlowColumn::EgressVrfName, &mut self.egress_vrf_name)?;
        out.text(
            FlowColumn::InputInterfaceDescription,
            &mut self.input_interface_description,
        )?;
        out.text(
            FlowColumn::OutputInterfaceDescription,
            &mut self.output_interface_description,
        )?;
        out.text(FlowColumn::ExtraFields, &mut self.extra_fields)?;
        RecordBatch::try_new(flow_edge_schema(out.present.iter().copied()), out.arrays)
    }

    /// Takes back the value buffers of a batch [`FlowBuilders::finish`] built, for the next
    /// batch to write into (see [`Column::recycle`]). Any other batch is simply dropped.
    pub(crate) fn recycle(&mut self, batch: RecordBatch) {
        let (schema, arrays, _) = batch.into_parts();
        for (field, array) in schema.fields().iter().zip(arrays) {
            let Some(column) = FlowColumn::ALL
                .into_iter()
                .find(|column| column.name() == field.name())
            else {
                continue;
            };
            match column {
                FlowColumn::ReceiveTime => recycle(&mut self.receive_time, array),
                FlowColumn::FlowStart => recycle(&mut self.flow_start, array),
                FlowColumn::FlowEnd => recycle(&mut self.flow_end, array),
                FlowColumn::Sequence => recycle(&mut self.sequence, array),
                FlowColumn::ObservationDomain => recycle(&mut self.observation_domain, array),
                FlowColumn::SamplingRate => recycle(&mut self.sampling_rate, array),
                FlowColumn::SrcPort => recycle(&mut self.src_port, array),
                FlowColumn::DstPort => recycle(&mut self.dst_port, array),
                FlowColumn::IpProtocol => recycle(&mut self.ip_protocol, array),
                FlowColumn::TcpFlags => recycle(&mut self.tcp_flags, array),
                FlowColumn::Tos => recycle(&mut self.tos, array),
                FlowColumn::Bytes => recycle(&mut self.bytes, array),
                FlowColumn::Packets => recycle(&mut self.packets, array),
                FlowColumn::InputInterface => recycle(&mut self.input_interface, array),
                FlowColumn::OutputInterface => recycle(&mut self.output_interface, array),
                FlowColumn::SrcAs => recycle(&mut self.src_as, array),
                FlowColumn::DstAs => recycle(&mut self.dst_as, array),
                _ => {}
            }
        }
    }
}

/// Gives a primitive array's buffer back to the column that built it.
fn recycle<T: ArrowPrimitiveType>(column: &mut Column<T>, array: ArrayRef) {
    let Some(primitive) = array.as_primitive_opt::<T>().cloned() else {
        return;
    };
    // The batch's reference goes first, so the clone may be the buffer's only owner.
    drop(array);
    column.recycle(primitive);
}

/// The columns of an edge batch being finished, and which they are.
#[derive(Default)]
struct Finished {
    present: Vec<FlowColumn>,
    arrays: Vec<ArrayRef>,
}

impl Finished {
    fn push(&mut self, column: FlowColumn, array: ArrayRef) {
        self.present.push(column);
        self.arrays.push(array);
    }

    fn number<T: ArrowPrimitiveType>(&mut self, name: FlowColumn, column: &mut Column<T>) {
        if column.is_all_null() {
            column.discard_nulls();
        } else {
            self.push(name, Arc::new(column.finish()));
        }
    }

    fn time(&mut self, name: FlowColumn, column: &mut Column<TimestampMicrosecondType>) {
        if column.is_all_null() {
            column.discard_nulls();
        } else {
            self.push(name, Arc::new(column.finish().with_timezone("UTC")));
        }
    }

    fn binary(&mut self, name: FlowColumn, column: &mut TextColumn) -> Result<(), ArrowError> {
        if column.is_all_null() {
            column.finish_binary()?;
        } else {
            self.push(name, Arc::new(column.finish_binary()?));
        }
        Ok(())
    }

    fn text(&mut self, name: FlowColumn, column: &mut TextColumn) -> Result<(), ArrowError> {
        if column.is_all_null() {
            column.finish()?;
        } else {
            self.push(name, Arc::new(column.finish()?));
        }
        Ok(())
    }

    /// A dictionary of fixed names (`names` in key order).
    fn names(
        &mut self,
        name: FlowColumn,
        keys: &mut Column<Int8Type>,
        names: &[&str],
    ) -> Result<(), ArrowError> {
        // Never all null: every row has a protocol and a record type.
        let keys = keys.finish();
        let values = StringArray::from_iter_values(names.iter().copied());
        self.push(
            name,
            Arc::new(DictionaryArray::try_new(keys, Arc::new(values))?),
        );
        Ok(())
    }
}
