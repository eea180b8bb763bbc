use std::net::{IpAddr, Ipv4Addr};

use crate::bytes::Cursor;
use crate::record::FlowRecord;

pub(crate) const RECORD_LEN: usize = 48;
/// Cisco's format allows at most 30 records per datagram.
pub(crate) const MAX_RECORDS: usize = 30;

pub(crate) struct Header {
    pub count: usize,
    pub sys_uptime_ms: u32,
    pub export_micros: i64,
    pub sequence: u32,
    pub engine: u16,
    pub sampling_rate: Option<u32>,
}

pub(crate) fn header(cursor: &mut Cursor<'_>) -> Option<Header> {
    let _version = cursor.u16()?;
    let count = usize::from(cursor.u16()?);
    let sys_uptime_ms = cursor.u32()?;
    let secs = cursor.u32()?;
    let nanos = cursor.u32()?;
    let sequence = cursor.u32()?;
    let engine_type = cursor.u8()?;
    let engine_id = cursor.u8()?;
    let sampling = cursor.u16()?;
    // Top two bits: sampling mode; the rest: the interval (1 in N packets).
    let interval = u32::from(sampling & 0x3fff);
    Some(Header {
        count,
        sys_uptime_ms,
        export_micros: i64::from(secs) * 1_000_000 + i64::from(nanos) / 1_000,
        sequence,
        engine: u16::from(engine_type) << 8 | u16::from(engine_id),
        sampling_rate: (sampling >> 14 != 0 && interval > 0).then_some(interval),
    })
}

/// Wall time of a `sysUptime` stamp, from the export time and uptime in the header.
pub(crate) fn uptime_to_micros(export_micros: i64, sys_uptime_ms: u32, stamp_ms: u32) -> i64 {
    let age_ms = i64::from(sys_uptime_ms.wrapping_sub(stamp_ms) as i32);
    export_micros - age_ms * 1_000
}

/// Fills `record` from one 48-byte record.
pub(crate) fn record(bytes: &[u8], header: &Header, record: &mut FlowRecord) -> Option<()> {
    let mut c = Cursor::new(bytes);
    let address = |c: &mut Cursor<'_>| c.u32().map(|a| IpAddr::V4(Ipv4Addr::from(a)));
    record.src_addr = Some(address(&mut c)?);
    record.dst_addr = Some(address(&mut c)?);
    record.next_hop = Some(address(&mut c)?);
    record.input_interface = Some(u32::from(c.u16()?));
    record.output_interface = Some(u32::from(c.u16()?));
    record.packets = Some(u64::from(c.u32()?));
    record.bytes = Some(u64::from(c.u32()?));
    let first = c.u32()?;
    let last = c.u32()?;
    record.flow_start_micros = Some(uptime_to_micros(
        header.export_micros,
        header.sys_uptime_ms,
        first,
    ));
    record.flow_end_micros = Some(uptime_to_micros(
        header.export_micros,
        header.sys_uptime_ms,
        last,
    ));
    record.src_port = Some(c.u16()?);
    record.dst_port = Some(c.u16()?);
    let _pad = c.u8()?;
    record.tcp_flags = Some(u16::from(c.u8()?));
    let protocol = c.u8()?;
    record.ip_protocol = Some(protocol);
    record.tos = Some(c.u8()?);
    record.src_as = Some(u32::from(c.u16()?));
    record.dst_as = Some(u32::from(c.u16()?));
    record.src_prefix_len = Some(c.u8()?);
    record.dst_prefix_len = Some(c.u8()?);
    if protocol == 1 {
        // ICMP type and code travel in the destination port.
        let port = record.dst_port.unwrap_or(0);
        record.icmp_type = Some((port >> 8) as u8);
        record.icmp_code = Some((port & 0xff) as u8);
    }
    record.sequence = Some(u64::from(header.sequence));
    record.observation_domain = Some(u32::from(header.engine));
    record.sampling_rate = header.sampling_rate;
    Some(())
}
