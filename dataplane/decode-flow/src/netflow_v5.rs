//! NetFlow v5's header; its fixed 48-byte records decode through `Plan::netflow_v5`.

use crate::bytes::Cursor;

pub(crate) const HEADER_LEN: usize = 24;
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
