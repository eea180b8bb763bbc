//! Compiled record layouts: what each byte range of a fixed-length record becomes, resolved
//! once when a template is learnt (or once for NetFlow v5's fixed record), so a data set is
//! decoded a column at a time (one tight loop per column over all its records, bulk nulls
//! and repeated values for what the layout does not carry) instead of a field at a time.
//!
//! A plan is a faster way to the very same rows as the row path (`elements::apply` into a
//! `FlowRecord`): templates whose meaning depends on more than their layout (variable-length
//! fields, two fields for one column, sampling or boot time inside flow records) get no plan
//! and go the row path, and so does any data set with a value the row path would treat
//! specially (a counter wider than its column, a timestamp past the representable range).

use crate::decoder::ScopeNames;
use crate::elements::{TimeBase, micros, ntp_micros};
use crate::event_columns::event_column;
use crate::record::{FlowBuilders, RecordContext};
use crate::templates::{FieldSpec, VARIABLE_LENGTH};
use crate::text::{EXTRA_KEY_MAX, extra_key, push_hex, push_prefix};

/// An unsigned big-endian integer of `width` (1 to 8) bytes at `offset` in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Uint {
    offset: usize,
    width: usize,
}

impl Uint {
    /// A field of `length` bytes (1 to 16); longer than 8, its last 8 bytes count.
    fn of(offset: usize, length: usize) -> Uint {
        let skip = length.saturating_sub(8);
        Uint {
            offset: offset + skip,
            width: length - skip,
        }
    }

    #[inline]
    fn read(self, record: &[u8]) -> u64 {
        match record[self.offset..self.offset + self.width] {
            [a] => u64::from(a),
            [a, b] => u64::from(u16::from_be_bytes([a, b])),
            [a, b, c, d] => u64::from(u32::from_be_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
            ref other => other.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Address {
    V4(usize),
    V6(usize),
}

/// A flow start or end stated in wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    Seconds(Uint),
    Millis(Uint),
    /// NTP format (IPFIX micro- and nanosecond elements), 8 bytes.
    Ntp(usize),
}

impl Stamp {
    #[inline]
    fn micros(self, record: &[u8]) -> Option<i64> {
        match self {
            Stamp::Seconds(field) => micros(field.read(record), 1_000_000),
            Stamp::Millis(field) => micros(field.read(record), 1_000),
            Stamp::Ntp(offset) => ntp_micros(&record[offset..offset + 8]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Icmp {
    #[default]
    Absent,
    /// `icmpTypeCodeIPv4/IPv6`: type in the high byte, code in the low one.
    TypeCode(Uint),
    Parts {
        icmp_type: Option<Uint>,
        code: Option<Uint>,
    },
    /// NetFlow v5, for flows whose protocol (1 byte at `protocol`) is ICMP: Cisco and most
    /// exporters put type × 256 + code in the destination port (2 bytes at `dst_port`) and 0 in
    /// the source port; fprobe puts the type in the source port (`src_port`) and the code in
    /// the destination port. A non-zero source port tells them apart.
    FromPort {
        protocol: usize,
        src_port: usize,
        dst_port: usize,
    },
}

/// A field the schema does not name, kept in `extra_fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Extra {
    offset: usize,
    length: usize,
    /// `"<enterprise>:<element>":"`, formatted once (its first `key_len` bytes).
    key: [u8; EXTRA_KEY_MAX],
    key_len: usize,
}

/// A value that may not fit its column; when one does not, the data set goes the row path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Fits(Uint, u32),
    Stamp(Stamp),
}

/// Where each column of the flow schema comes from in a record of `record_len` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Plan {
    pub record_len: usize,
    bytes: Option<Uint>,
    packets: Option<Uint>,
    ip_protocol: Option<Uint>,
    tos: Option<Uint>,
    tcp_flags: Option<Uint>,
    src_port: Option<Uint>,
    dst_port: Option<Uint>,
    input_interface: Option<Uint>,
    output_interface: Option<Uint>,
    src_as: Option<Uint>,
    dst_as: Option<Uint>,
    src_prefix_len: Option<Uint>,
    dst_prefix_len: Option<Uint>,
    src_vlan: Option<Uint>,
    dst_vlan: Option<Uint>,
    direction: Option<Uint>,
    src_addr: Option<Address>,
    dst_addr: Option<Address>,
    next_hop: Option<Address>,
    src_mac: Option<usize>,
    dst_mac: Option<usize>,
    start: Option<Stamp>,
    end: Option<Stamp>,
    start_uptime: Option<Uint>,
    end_uptime: Option<Uint>,
    icmp: Icmp,
    /// The sampler or selector the record names (elements 48, 302); also kept as an extra.
    sampler: Option<Uint>,
    firewall_event: Option<Uint>,
    firewall_ext_event: Option<Uint>,
    nat_event: Option<Uint>,
    xlate_src_port: Option<Uint>,
    xlate_dst_port: Option<Uint>,
    xlate_src_addr: Option<Address>,
    xlate_dst_addr: Option<Address>,
    /// Text-valued firewall, NAT and application columns, at most one field each.
    texts: Vec<TextField>,
    /// `ingressVRFID`, `egressVRFID`: kept as extras, and read to look their names up.
    ingress_vrf: Option<Uint>,
    egress_vrf: Option<Uint>,
    extra: Vec<Extra>,
    checks: Vec<Check>,
}

/// The sampling rate of a data set's rows: one for the whole set, or one per record (records
/// naming samplers whose intervals were announced apart).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sampling<'a> {
    Shared(Option<u32>),
    PerRecord(&'a [Option<u32>]),
}

/// What the rows of one data set share.
pub(crate) struct SetFacts<'a> {
    pub context: RecordContext<'a>,
    /// Names the exporter announced in options data, when it announced any.
    pub names: Option<ScopeNames<'a>>,
    pub sequence: Option<u64>,
    pub observation_domain: Option<u32>,
    pub sampling: Sampling<'a>,
    pub times: TimeBase,
}

/// Appends one column of unsigned numbers from `$field` (or nulls), converted with `as`: the
/// plan's checks made sure each value fits. One loop per field width, so each is tight.
macro_rules! numbers {
    ($column:expr, $records:expr, $stride:expr, $field:expr, $type:ty) => {
        match $field {
            None => $column.push_nulls($records.len() / $stride),
            Some(field) => {
                let rows = $records.chunks_exact($stride);
                let o = field.offset;
                match field.width {
                    1 => $column.extend(rows.map(|r| r[o] as $type)),
                    2 => {
                        $column.extend(rows.map(|r| u16::from_be_bytes([r[o], r[o + 1]]) as $type))
                    }
                    4 => $column.extend(rows.map(|r| {
                        u32::from_be_bytes([r[o], r[o + 1], r[o + 2], r[o + 3]]) as $type
                    })),
                    8 => $column.extend(rows.map(|r| {
                        let bytes = [
                            r[o],
                            r[o + 1],
                            r[o + 2],
                            r[o + 3],
                            r[o + 4],
                            r[o + 5],
                            r[o + 6],
                            r[o + 7],
                        ];
                        u64::from_be_bytes(bytes) as $type
                    })),
                    _ => $column.extend(rows.map(|r| field.read(r) as $type)),
                }
            }
        }
    };
}

mod events;

use events::TextField;

/// Sets `slot` unless another field already did (then the template has no plan).
fn claim<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

impl Plan {
    /// The plan of a flow template's fields, or `None` when it must go the row path. Mirrors
    /// `elements::apply` field by field.
    pub(crate) fn compile(fields: &[FieldSpec]) -> Option<Plan> {
        let mut plan = Plan::default();
        let mut offset = 0;
        let (mut icmp_type, mut icmp_code, mut icmp_both) = (None, None, None);
        for field in fields {
            if field.length == VARIABLE_LENGTH {
                return None;
            }
            let length = usize::from(field.length);
            let uint = Uint::of(offset, length);
            let at = offset;
            offset += length;
            if let Some(column) = event_column(field.enterprise, field.element) {
                plan.event(column, field, at)?;
                continue;
            }
            if field.enterprise != 0 || length == 0 || length > 16 {
                plan.extra(field, at);
                continue;
            }
            // A field `apply` keeps in a column of `bits` bits only when its value fits.
            let fits = |bits: u32, checks: &mut Vec<Check>| -> Option<Uint> {
                if length > 8 {
                    None
                } else {
                    if length * 8 > bits as usize {
                        checks.push(Check::Fits(uint, bits));
                    }
                    Some(uint)
                }
            };
            let address = match length {
                4 => Some(Address::V4(at)),
                16 => Some(Address::V6(at)),
                _ => None,
            };
            let claimed = match field.element {
                1 => claim(&mut plan.bytes, uint),
                2 => claim(&mut plan.packets, uint),
                85 if plan.bytes.is_none() => claim(&mut plan.bytes, uint),
                86 if plan.packets.is_none() => claim(&mut plan.packets, uint),
                4 | 5 | 9 | 29 | 13 | 30 | 61 | 176 | 178 | 177 | 179 => {
                    match fits(8, &mut plan.checks) {
                        Some(uint) => match field.element {
                            4 => claim(&mut plan.ip_protocol, uint),
                            5 => claim(&mut plan.tos, uint),
                            9 | 29 => claim(&mut plan.src_prefix_len, uint),
                            13 | 30 => claim(&mut plan.dst_prefix_len, uint),
                            61 => claim(&mut plan.direction, uint),
                            176 | 178 => claim(&mut icmp_type, uint),
                            _ => claim(&mut icmp_code, uint),
                        },
                        None => {
                            plan.extra(field, at);
                            Some(())
                        }
                    }
                }
                6 | 7 | 11 | 58 | 59 | 32 | 139 => match fits(16, &mut plan.checks) {
                    Some(uint) => match field.element {
                        6 => claim(&mut plan.tcp_flags, uint),
                        7 => claim(&mut plan.src_port, uint),
                        11 => claim(&mut plan.dst_port, uint),
                        58 => claim(&mut plan.src_vlan, uint),
                        59 => claim(&mut plan.dst_vlan, uint),
                        _ => claim(&mut icmp_both, uint),
                    },
                    None => {
                        plan.extra(field, at);
                        Some(())
                    }
                },
                10 | 14 | 16 | 17 | 22 | 21 => match fits(32, &mut plan.checks) {
                    Some(uint) => match field.element {
                        10 => claim(&mut plan.input_interface, uint),
                        14 => claim(&mut plan.output_interface, uint),
                        16 => claim(&mut plan.src_as, uint),
                        17 => claim(&mut plan.dst_as, uint),
                        22 => claim(&mut plan.start_uptime, uint),
                        _ => claim(&mut plan.end_uptime, uint),
                    },
                    None => {
                        plan.extra(field, at);
                        Some(())
                    }
                },
                8 | 27 | 12 | 28 | 15 | 62 => match address {
                    Some(address) => match field.element {
                        8 | 27 => claim(&mut plan.src_addr, address),
                        12 | 28 => claim(&mut plan.dst_addr, address),
                        _ => claim(&mut plan.next_hop, address),
                    },
                    None => {
                        plan.extra(field, at);
                        Some(())
                    }
                },
                150..=153 => {
                    let (stamp, safe_bits) = match field.element {
                        150 | 151 => (Stamp::Seconds(uint), 43),
                        _ => (Stamp::Millis(uint), 53),
                    };
                    if uint.width * 8 > safe_bits {
                        plan.checks.push(Check::Stamp(stamp));
                    }
                    match field.element {
                        150 | 152 => claim(&mut plan.start, stamp),
                        _ => claim(&mut plan.end, stamp),
                    }
                }
                154..=157 if length == 8 => match field.element {
                    154 | 156 => claim(&mut plan.start, Stamp::Ntp(at)),
                    _ => claim(&mut plan.end, Stamp::Ntp(at)),
                },
                48 | 302 if length <= 8 => {
                    if plan.sampler.is_none() {
                        plan.sampler = Some(uint);
                    }
                    plan.extra(field, at);
                    Some(())
                }
                56 | 57 | 80 if length == 6 => match field.element {
                    56 => claim(&mut plan.src_mac, at),
                    _ => claim(&mut plan.dst_mac, at),
                },
                234 | 235 if length <= 8 => {
                    plan.extra(field, at);
                    let slot = if field.element == 234 {
                        &mut plan.ingress_vrf
                    } else {
                        &mut plan.egress_vrf
                    };
                    claim(slot, uint)
                }
                // Sampling and boot time inside flow records: rare, left to the row path.
                34 | 305 | 160 => None,
                _ => {
                    plan.extra(field, at);
                    Some(())
                }
            };
            claimed?;
        }
        plan.icmp = match (icmp_both, icmp_type, icmp_code) {
            (None, None, None) => Icmp::Absent,
            (Some(both), None, None) => Icmp::TypeCode(both),
            (None, icmp_type, code) => Icmp::Parts { icmp_type, code },
            _ => return None,
        };
        plan.record_len = offset;
        // Kept as long as the template: no growth slack counted against the template limits.
        plan.extra.shrink_to_fit();
        plan.checks.shrink_to_fit();
        plan.texts.shrink_to_fit();
        (offset > 0).then_some(plan)
    }

    /// Heap memory the plan holds beyond its own struct (what template limits count).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.extra.capacity() * std::mem::size_of::<Extra>()
            + self.checks.capacity() * std::mem::size_of::<Check>()
            + self.texts.capacity() * std::mem::size_of::<TextField>()
    }

    fn extra(&mut self, field: &FieldSpec, offset: usize) {
        let mut text = Vec::new();
        extra_key(&mut text, field.enterprise, field.element);
        let mut key = [0; EXTRA_KEY_MAX];
        key[..text.len()].copy_from_slice(&text);
        self.extra.push(Extra {
            offset,
            length: usize::from(field.length),
            key,
            key_len: text.len(),
        });
    }

    /// NetFlow v5's fixed 48-byte record.
    pub(crate) fn netflow_v5() -> Plan {
        let at = |offset, width| Some(Uint { offset, width });
        Plan {
            record_len: 48,
            src_addr: Some(Address::V4(0)),
            dst_addr: Some(Address::V4(4)),
            next_hop: Some(Address::V4(8)),
            input_interface: at(12, 2),
            output_interface: at(14, 2),
            packets: at(16, 4),
            bytes: at(20, 4),
            start_uptime: at(24, 4),
            end_uptime: at(28, 4),
            src_port: at(32, 2),
            dst_port: at(34, 2),
            tcp_flags: at(37, 1),
            ip_protocol: at(38, 1),
            tos: at(39, 1),
            src_as: at(40, 2),
            dst_as: at(42, 2),
            src_prefix_len: at(44, 1),
            dst_prefix_len: at(45, 1),
            icmp: Icmp::FromPort {
                protocol: 38,
                src_port: 32,
                dst_port: 34,
            },
            ..Plan::default()
        }
    }

    /// Each record's sampling rate into `out`, when the layout names a sampler: `rate_of` its
    /// id, asked once per run of records naming the same sampler. False when it names none.
    pub(crate) fn sampler_rates(
        &self,
        records: &[u8],
        out: &mut Vec<Option<u32>>,
        rate_of: impl Fn(u64) -> Option<u32>,
    ) -> bool {
        let Some(sampler) = self.sampler else {
            return false;
        };
        out.clear();
        let mut last: Option<(u64, Option<u32>)> = None;
        for record in records.chunks_exact(self.record_len) {
            let id = sampler.read(record);
            let rate = match last {
                Some((seen, rate)) if seen == id => rate,
                _ => rate_of(id),
            };
            last = Some((id, rate));
            out.push(rate);
        }
        true
    }

    /// Whether every value of `records` (whole records) fits where the plan puts it.
    pub(crate) fn fits(&self, records: &[u8]) -> bool {
        self.checks.iter().all(|check| {
            let mut rows = records.chunks_exact(self.record_len);
            match *check {
                Check::Fits(field, bits) => rows.all(|r| field.read(r) < 1u64 << bits),
                Check::Stamp(stamp) => rows.all(|r| stamp.micros(r).is_some()),
            }
        })
    }

    /// Appends one row per record of `records` (whole records, all of which fit); `times` is
    /// scratch space kept between calls.
    pub(crate) fn append(
        &self,
        records: &[u8],
        facts: &SetFacts<'_>,
        builders: &mut FlowBuilders,
        times: &mut Vec<Option<i64>>,
    ) -> usize {
        let stride = self.record_len;
        let n = records.len() / stride;
        let rows = || records.chunks_exact(stride);
        builders.push_shared(&facts.context, facts.sequence, facts.observation_domain, n);
        match facts.sampling {
            Sampling::Shared(rate) => builders.sampling_rate.push_repeat(rate, n),
            Sampling::PerRecord(rates) => {
                builders.sampling_rate.extend_options(rates.iter().copied())
            }
        }

        // Each time is computed once into `times` (reused), then appended from there.
        fill_times(
            times,
            records,
            stride,
            self.start,
            self.start_uptime,
            &facts.times,
        );
        if times.is_empty() {
            builders.flow_start.push_nulls(n);
        } else {
            builders.flow_start.extend_options(times.iter().copied());
        }
        fill_times(
            times,
            records,
            stride,
            self.end,
            self.end_uptime,
            &facts.times,
        );
        if times.is_empty() {
            builders.flow_end.push_nulls(n);
        } else {
            builders.flow_end.extend_options(times.iter().copied());
        }

        address(&mut builders.src_addr, records, stride, self.src_addr);
        address(&mut builders.dst_addr, records, stride, self.dst_addr);
        address(&mut builders.next_hop, records, stride, self.next_hop);
        mac(&mut builders.src_mac, records, stride, self.src_mac);
        mac(&mut builders.dst_mac, records, stride, self.dst_mac);

        numbers!(builders.src_port, records, stride, self.src_port, u16);
        numbers!(builders.dst_port, records, stride, self.dst_port, u16);
        numbers!(builders.ip_protocol, records, stride, self.ip_protocol, u8);
        numbers!(builders.tcp_flags, records, stride, self.tcp_flags, u16);
        numbers!(builders.tos, records, stride, self.tos, u8);
        numbers!(builders.bytes, records, stride, self.bytes, u64);
        numbers!(builders.packets, records, stride, self.packets, u64);
        numbers!(
            builders.input_interface,
            records,
            stride,
            self.input_interface,
            u32
        );
        numbers!(
            builders.output_interface,
            records,
            stride,
            self.output_interface,
            u32
        );
        numbers!(builders.src_as, records, stride, self.src_as, u32);
        numbers!(builders.dst_as, records, stride, self.dst_as, u32);
        numbers!(
            builders.src_prefix_len,
            records,
            stride,
            self.src_prefix_len,
            u8
        );
        numbers!(
            builders.dst_prefix_len,
            records,
            stride,
            self.dst_prefix_len,
            u8
        );
        numbers!(builders.src_vlan, records, stride, self.src_vlan, u16);
        numbers!(builders.dst_vlan, records, stride, self.dst_vlan, u16);
        numbers!(builders.direction, records, stride, self.direction, u8);

        match self.icmp {
            Icmp::Absent => {
                builders.icmp_type.push_nulls(n);
                builders.icmp_code.push_nulls(n);
            }
            Icmp::TypeCode(field) => {
                builders
                    .icmp_type
                    .extend(rows().map(|r| (field.read(r) >> 8) as u8));
                builders
                    .icmp_code
                    .extend(rows().map(|r| field.read(r) as u8));
            }
            Icmp::Parts { icmp_type, code } => {
                numbers!(builders.icmp_type, records, stride, icmp_type, u8);
                numbers!(builders.icmp_code, records, stride, code, u8);
            }
            Icmp::FromPort {
                protocol,
                src_port,
                dst_port,
            } => {
                let icmp = move |r: &[u8]| {
                    (r[protocol] == 1).then(|| {
                        if r[src_port] == 0 && r[src_port + 1] == 0 {
                            (r[dst_port], r[dst_port + 1])
                        } else {
                            (r[src_port + 1], r[dst_port + 1])
                        }
                    })
                };
                builders
                    .icmp_type
                    .extend_options(rows().map(|r| icmp(r).map(|(kind, _)| kind)));
                builders
                    .icmp_code
                    .extend_options(rows().map(|r| icmp(r).map(|(_, code)| code)));
            }
        }

        if self.has_events(facts.names.is_some()) {
            self.append_events(records, facts, builders);
        } else {
            builders.skip_events(n);
        }
        self.append_extra(records, builders);
        builders.add_rows(n);
        n
    }

    /// `extra_fields` of each record.
    fn append_extra(&self, records: &[u8], builders: &mut FlowBuilders) {
        let stride = self.record_len;
        let n = records.len() / stride;
        let rows = || records.chunks_exact(stride);
        if self.extra.is_empty() {
            builders.extra_fields.push_nulls(n);
        } else {
            builders.extra_fields.extend_with(rows(), |text, record| {
                text.push(b'{');
                for (i, extra) in self.extra.iter().enumerate() {
                    if i > 0 {
                        text.push(b',');
                    }
                    push_prefix(text, &extra.key, extra.key_len);
                    push_hex(text, &record[extra.offset..extra.offset + extra.length]);
                    text.push(b'"');
                }
                text.push(b'}');
            });
        }
    }
}

/// A start or end time per record into `out` (left empty when the plan has neither): the
/// stated wall time, else the uptime stamp placed by `times`.
fn fill_times(
    out: &mut Vec<Option<i64>>,
    records: &[u8],
    stride: usize,
    stamp: Option<Stamp>,
    uptime: Option<Uint>,
    times: &TimeBase,
) {
    out.clear();
    let rows = records.chunks_exact(stride);
    match (stamp, uptime) {
        (Some(Stamp::Millis(field)), _) if field.width == 8 => {
            let o = field.offset;
            out.extend(rows.map(|r| {
                let bytes = [
                    r[o],
                    r[o + 1],
                    r[o + 2],
                    r[o + 3],
                    r[o + 4],
                    r[o + 5],
                    r[o + 6],
                    r[o + 7],
                ];
                micros(u64::from_be_bytes(bytes), 1_000)
            }))
        }
        (Some(stamp), _) => out.extend(rows.map(|r| stamp.micros(r))),
        // NetFlow v5 and v9 without a boot time: the header's export time and uptime place
        // every stamp, with no choice left to make per record.
        (None, Some(field))
            if field.width == 4
                && times.system_init_ms.is_none()
                && times.uptime_base.is_some() =>
        {
            let o = field.offset;
            let (export_micros, uptime_ms) = times.uptime_base.unwrap_or_default();
            out.extend(rows.map(|r| {
                let stamp = u32::from_be_bytes([r[o], r[o + 1], r[o + 2], r[o + 3]]);
                Some(crate::netflow_v5::uptime_to_micros(
                    export_micros,
                    uptime_ms,
                    stamp,
                ))
            }))
        }
        (None, Some(field)) => out.extend(rows.map(|r| times.uptime_micros(field.read(r) as u32))),
        (None, None) => {}
    }
}

fn address(
    column: &mut crate::columns::TextColumn,
    records: &[u8],
    stride: usize,
    address: Option<Address>,
) {
    let rows = records.chunks_exact(stride);
    match address {
        None => column.push_nulls(rows.len()),
        Some(Address::V4(o)) => {
            column.bytes_mut().reserve(rows.len() * 4);
            column.extend_with(rows, |bytes, r| {
                bytes.extend_from_slice(&[r[o], r[o + 1], r[o + 2], r[o + 3]])
            });
        }
        Some(Address::V6(o)) => {
            column.bytes_mut().reserve(rows.len() * 16);
            column.extend_with(rows, |bytes, r| bytes.extend_from_slice(&r[o..o + 16]))
        }
    }
}

fn mac(column: &mut crate::columns::TextColumn, records: &[u8], stride: usize, at: Option<usize>) {
    let rows = records.chunks_exact(stride);
    match at {
        None => column.push_nulls(rows.len()),
        Some(o) => column.extend_with(rows, |bytes, r| {
            bytes.extend_from_slice(&[r[o], r[o + 1], r[o + 2], r[o + 3], r[o + 4], r[o + 5]])
        }),
    }
}
