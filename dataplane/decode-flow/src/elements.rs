//! Information elements (NetFlow v9 field types and IPFIX IEs share their numbers for everything
//! the flow schema names) mapped onto a `FlowRecord`; the rest are kept in `extra_fields`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytefreezer_schema::FlowColumn;

use crate::bytes::unsigned;
use crate::event_columns::{EventValue, application_key, event_column, event_value, text_fits};
use crate::record::{EventValues, FlowRecord};

/// Seconds between the NTP epoch (1900) and the Unix epoch.
const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// Times a record states in different ways, resolved once the whole record is read.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TimeParts {
    pub start_uptime_ms: Option<u32>,
    pub end_uptime_ms: Option<u32>,
    pub system_init_ms: Option<i64>,
    pub start_micros: Option<i64>,
    pub end_micros: Option<i64>,
}

/// A time in `factor` µs units as µs; `None` past the range of timestamps (a corrupt value).
pub(crate) fn micros(value: u64, factor: i64) -> Option<i64> {
    i64::try_from(value).ok()?.checked_mul(factor)
}

fn set<T>(slot: &mut Option<T>, value: T) -> bool {
    *slot = Some(value);
    true
}

/// A source or destination address; a record may state one twice. The later value wins (an
/// SRv6 tunnel's inner header follows the outer one), except that an unspecified address never
/// replaces a specified one: Cisco's MPLS templates carry both IPv4 and IPv6 addresses and zero
/// the family the packet does not have. The zero says only that, so it is not kept.
fn set_address(slot: &mut Option<IpAddr>, address: IpAddr) -> bool {
    if !address.is_unspecified() || !slot.is_some_and(|kept| !kept.is_unspecified()) {
        *slot = Some(address);
    }
    true
}

fn ipv4(value: &[u8]) -> Option<IpAddr> {
    <[u8; 4]>::try_from(value)
        .ok()
        .map(|b| IpAddr::V4(Ipv4Addr::from(b)))
}

fn ipv6(value: &[u8]) -> Option<IpAddr> {
    <[u8; 16]>::try_from(value)
        .ok()
        .map(|b| IpAddr::V6(Ipv6Addr::from(b)))
}

fn mac(value: &[u8]) -> Option<[u8; 6]> {
    <[u8; 6]>::try_from(value).ok()
}

pub(crate) fn ntp_micros(value: &[u8]) -> Option<i64> {
    if value.len() != 8 {
        return None;
    }
    let seconds = i64::from(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
    let fraction = u64::from(u32::from_be_bytes([value[4], value[5], value[6], value[7]]));
    Some((seconds - NTP_UNIX_OFFSET) * 1_000_000 + ((fraction * 1_000_000) >> 32) as i64)
}

/// Where one element's value goes. Values of an unexpected length go to `extra_fields`, so an
/// odd exporter loses nothing.
pub(crate) fn apply(
    record: &mut FlowRecord,
    times: &mut TimeParts,
    enterprise: u32,
    element: u16,
    value: &[u8],
) {
    if let Some(column) = event_column(enterprise, element) {
        if !apply_event(&mut record.events, column, value) {
            record.add_extra(enterprise, element, value);
        }
        return;
    }
    if enterprise != 0 || value.is_empty() || value.len() > 16 {
        record.add_extra(enterprise, element, value);
        return;
    }
    let number = unsigned(value);
    let fits = |bits: u32| value.len() <= 8 && (bits >= 64 || number < 1u64 << bits);
    let handled = match element {
        1 => set(&mut record.bytes, number),
        2 => set(&mut record.packets, number),
        85 if record.bytes.is_none() => set(&mut record.bytes, number),
        86 if record.packets.is_none() => set(&mut record.packets, number),
        4 if fits(8) => set(&mut record.ip_protocol, number as u8),
        5 if fits(8) => set(&mut record.tos, number as u8),
        6 if fits(16) => set(&mut record.tcp_flags, number as u16),
        7 if fits(16) => set(&mut record.src_port, number as u16),
        11 if fits(16) => set(&mut record.dst_port, number as u16),
        8 | 27 => match ipv4(value).or_else(|| ipv6(value)) {
            Some(address) => set_address(&mut record.src_addr, address),
            None => false,
        },
        12 | 28 => match ipv4(value).or_else(|| ipv6(value)) {
            Some(address) => set_address(&mut record.dst_addr, address),
            None => false,
        },
        15 | 62 => match (ipv4(value), ipv6(value)) {
            (Some(address), _) | (_, Some(address)) => {
                record.next_hop = Some(address);
                true
            }
            _ => false,
        },
        9 | 29 if fits(8) => set(&mut record.src_prefix_len, number as u8),
        13 | 30 if fits(8) => set(&mut record.dst_prefix_len, number as u8),
        10 if fits(32) => set(&mut record.input_interface, number as u32),
        14 if fits(32) => set(&mut record.output_interface, number as u32),
        16 if fits(32) => set(&mut record.src_as, number as u32),
        17 if fits(32) => set(&mut record.dst_as, number as u32),
        22 if fits(32) => set(&mut times.start_uptime_ms, number as u32),
        21 if fits(32) => set(&mut times.end_uptime_ms, number as u32),
        160 => match i64::try_from(number) {
            Ok(init) => set(&mut times.system_init_ms, init),
            Err(_) => false,
        },
        150 | 152 => match micros(number, if element == 150 { 1_000_000 } else { 1_000 }) {
            Some(micros) => set(&mut times.start_micros, micros),
            None => false,
        },
        151 | 153 => match micros(number, if element == 151 { 1_000_000 } else { 1_000 }) {
            Some(micros) => set(&mut times.end_micros, micros),
            None => false,
        },
        154 | 156 => match ntp_micros(value) {
            Some(micros) => set(&mut times.start_micros, micros),
            None => false,
        },
        155 | 157 => match ntp_micros(value) {
            Some(micros) => set(&mut times.end_micros, micros),
            None => false,
        },
        32 | 139 if fits(16) => {
            record.icmp_type = Some((number >> 8) as u8);
            record.icmp_code = Some((number & 0xff) as u8);
            true
        }
        176 | 178 if fits(8) => set(&mut record.icmp_type, number as u8),
        177 | 179 if fits(8) => set(&mut record.icmp_code, number as u8),
        34 | 305 if fits(32) && number > 0 => set(&mut record.sampling_rate, number as u32),
        56 => match mac(value) {
            Some(m) => set(&mut record.src_mac, m),
            None => false,
        },
        57 | 80 => match mac(value) {
            Some(m) => set(&mut record.dst_mac, m),
            None => false,
        },
        58 if fits(16) => set(&mut record.src_vlan, number as u16),
        59 if fits(16) => set(&mut record.dst_vlan, number as u16),
        61 if fits(8) => set(&mut record.direction, number as u8),
        // Kept in `extra_fields` too: only their names have columns.
        234 if value.len() <= 8 => {
            record.events.ingress_vrf = Some(number);
            false
        }
        235 if value.len() <= 8 => {
            record.events.egress_vrf = Some(number);
            false
        }
        _ => false,
    };
    if !handled {
        record.add_extra(enterprise, element, value);
    }
}

/// Whether a field of `length` bytes (announced in a template) can feed the column its element
/// names; `true` as well for elements without a column (they go to `extra_fields` whatever their
/// length) and variable-length fields. A field that cannot is read by its announced length into
/// `extra_fields`, and counted (`ExporterMetrics::odd_length_fields`).
pub(crate) fn length_fits(enterprise: u32, element: u16, length: u16) -> bool {
    if length == crate::templates::VARIABLE_LENGTH {
        return true;
    }
    let length = usize::from(length);
    if let Some(column) = event_column(enterprise, element) {
        return match event_value(column) {
            Some(EventValue::Unsigned(_)) => (1..=8).contains(&length),
            Some(EventValue::Address) => matches!(length, 4 | 16),
            Some(EventValue::Text(form)) => text_fits(form, length),
            None => true,
        };
    }
    if enterprise != 0 {
        return true;
    }
    match element {
        // Numbers: reduced-size encoding sends fewer bytes than their type, never more than 8.
        1..=2
        | 4..=7
        | 9..=11
        | 13..=14
        | 16..=17
        | 21..=22
        | 29..=30
        | 32
        | 34
        | 58..=59
        | 61
        | 85..=86
        | 139
        | 150..=153
        | 160
        | 176..=179
        | 305 => (1..=8).contains(&length),
        8 | 12 | 15 | 27 | 28 | 62 => matches!(length, 4 | 16),
        154..=157 => length == 8,
        56 | 57 | 80 => length == 6,
        _ => true,
    }
}

/// Sets a firewall, NAT or application column from `value`; `false` when the value's length
/// does not fit the column (it then goes to `extra_fields`).
fn apply_event(events: &mut EventValues, column: FlowColumn, value: &[u8]) -> bool {
    let Some(value_kind) = event_value(column) else {
        return false;
    };
    match value_kind {
        EventValue::Unsigned(bits) => {
            if value.is_empty() || value.len() > 8 {
                return false;
            }
            let number = unsigned(value);
            if bits < 64 && number >= 1u64 << bits {
                return false;
            }
            match column {
                FlowColumn::FirewallEvent => events.firewall_event = Some(number as u8),
                FlowColumn::NatEvent => events.nat_event = Some(number as u8),
                FlowColumn::FirewallExtEvent => events.firewall_ext_event = Some(number as u16),
                FlowColumn::XlateSrcPort => events.xlate_src_port = Some(number as u16),
                FlowColumn::XlateDstPort => events.xlate_dst_port = Some(number as u16),
                _ => return false,
            }
            true
        }
        EventValue::Address => {
            let Some(address) = ipv4(value).or_else(|| ipv6(value)) else {
                return false;
            };
            match column {
                FlowColumn::XlateSrcAddr => set_address(&mut events.xlate_src_addr, address),
                FlowColumn::XlateDstAddr => set_address(&mut events.xlate_dst_addr, address),
                _ => false,
            }
        }
        EventValue::Text(form) => {
            if !text_fits(form, value.len()) {
                return false;
            }
            if column == FlowColumn::AppId {
                events.application = application_key(value);
            }
            events.set_text(column, form, value);
            true
        }
    }
}

/// What places a record's `sysUpTime` stamps in wall time: the exporter's boot time
/// (`systemInitTimeMilliseconds`), else NetFlow v9's header (export time µs, uptime ms).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeBase {
    pub system_init_ms: Option<i64>,
    pub uptime_base: Option<(i64, u32)>,
    pub export_micros: i64,
}

impl TimeBase {
    /// Wall time in µs of an uptime stamp in ms; `None` when nothing places it or it overflows.
    pub(crate) fn uptime_micros(&self, stamp: u32) -> Option<i64> {
        match (self.system_init_ms, self.uptime_base) {
            (Some(init), _) => {
                let at = |offset: i64| init.checked_add(offset)?.checked_mul(1_000);
                let micros = at(i64::from(stamp))?;
                // An exporter replaying old packets (softflowd -r) sends flows that began
                // before it did as a wrapped negative uptime; a flow cannot end a day after
                // its own export.
                if micros > self.export_micros.saturating_add(86_400_000_000) {
                    at(i64::from(stamp as i32))
                } else {
                    Some(micros)
                }
            }
            (None, Some((export_micros, uptime_ms))) => Some(crate::netflow_v5::uptime_to_micros(
                export_micros,
                uptime_ms,
                stamp,
            )),
            (None, None) => None,
        }
    }
}

/// Sets the record's start and end from what the record stated, after all its fields are read.
/// `uptime_base` is (export time in µs, exporter uptime in ms) for NetFlow v9's `sysUptime`.
pub(crate) fn resolve_times(
    record: &mut FlowRecord,
    times: &TimeParts,
    uptime_base: Option<(i64, u32)>,
    export_micros: i64,
) {
    let base = TimeBase {
        system_init_ms: times.system_init_ms,
        uptime_base,
        export_micros,
    };
    let from_uptime = |stamp: Option<u32>| base.uptime_micros(stamp?);
    record.flow_start_micros = times
        .start_micros
        .or_else(|| from_uptime(times.start_uptime_ms));
    record.flow_end_micros = times
        .end_micros
        .or_else(|| from_uptime(times.end_uptime_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(fields: &[(u16, &[u8])]) -> (Option<IpAddr>, Option<IpAddr>, Vec<u8>) {
        let mut record = FlowRecord::default();
        let mut times = TimeParts::default();
        for (element, value) in fields {
            apply(&mut record, &mut times, 0, *element, value);
        }
        (record.src_addr, record.dst_addr, record.extra)
    }

    /// Found in a Cisco IOS-XR capture: an MPLS template sends IPv6 addresses then IPv4 ones,
    /// zeroing the family the packet lacks, and the zero IPv4 addresses replaced the IPv6 ones.
    #[test]
    fn an_unspecified_address_does_not_replace_a_specified_one() {
        let v6_src = [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16];
        let v6_dst = [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12];
        let (src, dst, extra) =
            addresses(&[(27, &v6_src), (28, &v6_dst), (8, &[0; 4]), (12, &[0; 4])]);
        assert_eq!(src, Some("2001:db8::16".parse().unwrap()));
        assert_eq!(dst, Some("2001:db8::12".parse().unwrap()));
        assert!(extra.is_empty());
        // The other way round: a specified IPv4 address after zero IPv6 ones.
        let (src, dst, _) = addresses(&[
            (27, &[0; 16]),
            (28, &[0; 16]),
            (8, &[192, 0, 2, 16]),
            (12, &[192, 0, 2, 12]),
        ]);
        assert_eq!(src, Some("192.0.2.16".parse().unwrap()));
        assert_eq!(dst, Some("192.0.2.12".parse().unwrap()));
        // Both zero: the record still says so.
        let (src, _, _) = addresses(&[(27, &[0; 16]), (8, &[0; 4])]);
        assert_eq!(src, Some("0.0.0.0".parse().unwrap()));
        // Two specified values (SRv6 outer, then inner header): the later one.
        let (src, _, _) = addresses(&[(27, &v6_src), (8, &[192, 0, 2, 13])]);
        assert_eq!(src, Some("192.0.2.13".parse().unwrap()));
    }
}
