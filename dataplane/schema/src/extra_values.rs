//! `extra_fields` values rendered by their element's IANA data type (RFC 7011 section 6.1):
//! counters as JSON numbers, addresses and MACs as their usual text, strings as text, times as
//! RFC 3339 UTC, so users write `json_get_int(extra_fields, 'initiatorOctets') > 1000000`
//! instead of decoding hex in SQL.
//! The decoder stores every value as hex; a value whose length or content does not fit its type
//! (a 2-byte "IPv4 address", a string that is not UTF-8, a list, a 256-bit number) stays hex.

use std::io::Write as _;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::iana_elements::IanaType;

/// Seconds from the NTP era (1900) to the Unix epoch: RFC 7011's microsecond and nanosecond
/// times count from 1900.
const NTP_TO_UNIX_SECONDS: u64 = 2_208_988_800;

/// Appends `token` (one JSON value of an `extra_fields` object, a quoted hex string as the
/// decoder writes it) rendered as `kind`; `false`, with nothing appended, when it does not fit.
pub(crate) fn write_typed(kind: IanaType, token: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(hex) = token
        .strip_prefix(b"\"")
        .and_then(|rest| rest.strip_suffix(b"\""))
    else {
        return false;
    };
    if hex.is_empty() || !hex.len().is_multiple_of(2) {
        return false;
    }
    if kind == IanaType::String {
        return write_string(hex, out);
    }
    let mut bytes = [0u8; 16];
    let Some(value) = bytes.get_mut(..hex.len() / 2) else {
        return false;
    };
    if !unhex(hex, value) {
        return false;
    }
    let typed = match kind {
        IanaType::Unsigned8 => unsigned(value, 1).map(Typed::Unsigned),
        IanaType::Unsigned16 => unsigned(value, 2).map(Typed::Unsigned),
        IanaType::Unsigned32 => unsigned(value, 4).map(Typed::Unsigned),
        IanaType::Unsigned64 => unsigned(value, 8).map(Typed::Unsigned),
        IanaType::Signed32 => signed(value).map(Typed::Signed),
        IanaType::Float64 => float(value).map(Typed::Float),
        IanaType::Boolean => match value {
            [1] => Some(Typed::Boolean(true)),
            [2] => Some(Typed::Boolean(false)),
            _ => None,
        },
        IanaType::Ipv4Address => <[u8; 4]>::try_from(&*value)
            .ok()
            .map(|octets| Typed::Address(IpAddr::from(octets))),
        IanaType::Ipv6Address => <[u8; 16]>::try_from(&*value)
            .ok()
            .map(|octets| Typed::Address(IpAddr::from(octets))),
        IanaType::MacAddress => <[u8; 6]>::try_from(&*value).ok().map(Typed::Mac),
        IanaType::DateTimeSeconds => number(value)
            .and_then(|seconds| time(seconds, 0))
            .map(|time| Typed::Time(time, SecondsFormat::Secs)),
        IanaType::DateTimeMilliseconds => number(value)
            .and_then(|millis| {
                let nanos = u32::try_from(millis % 1000).ok()? * 1_000_000;
                time(millis / 1000, nanos)
            })
            .map(|time| Typed::Time(time, SecondsFormat::Millis)),
        IanaType::DateTimeMicroseconds => {
            ntp_time(value).map(|time| Typed::Time(time, SecondsFormat::Micros))
        }
        IanaType::DateTimeNanoseconds => {
            ntp_time(value).map(|time| Typed::Time(time, SecondsFormat::Nanos))
        }
        IanaType::String
        | IanaType::OctetArray
        | IanaType::Unsigned256
        | IanaType::BasicList
        | IanaType::SubTemplateList
        | IanaType::SubTemplateMultiList => None,
    };
    let Some(typed) = typed else {
        return false;
    };
    // Writing to a Vec cannot fail.
    let _ = match typed {
        Typed::Unsigned(number) => {
            out.extend_from_slice(itoa::Buffer::new().format(number).as_bytes());
            Ok(())
        }
        Typed::Signed(number) => write!(out, "{number}"),
        Typed::Float(number) => write!(out, "{number}"),
        Typed::Boolean(value) => write!(out, "{value}"),
        Typed::Address(address) => write!(out, "\"{address}\""),
        Typed::Mac([a, b, c, d, e, f]) => {
            write!(out, "\"{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}\"")
        }
        Typed::Time(time, format) => write!(out, "\"{}\"", time.to_rfc3339_opts(format, true)),
    };
    true
}

/// A value read as its type, before it is written.
enum Typed {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Boolean(bool),
    Address(IpAddr),
    Mac([u8; 6]),
    Time(DateTime<Utc>, SecondsFormat),
}

/// A string element as JSON text: the exporter's trailing NUL padding dropped (fixed-width v9
/// fields are padded so), kept as hex when it is not UTF-8.
fn write_string(hex: &[u8], out: &mut Vec<u8>) -> bool {
    let mut bytes = vec![0u8; hex.len() / 2];
    if !unhex(hex, &mut bytes) {
        return false;
    }
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |at| at + 1);
    let Ok(text) = std::str::from_utf8(&bytes[..end]) else {
        return false;
    };
    if text.contains('\0') {
        return false;
    }
    serde_json::to_writer(&mut *out, text).is_ok()
}

fn unhex(hex: &[u8], into: &mut [u8]) -> bool {
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    for (byte, pair) in into.iter_mut().zip(hex.chunks_exact(2)) {
        match (digit(pair[0]), digit(pair[1])) {
            (Some(high), Some(low)) => *byte = high << 4 | low,
            _ => return false,
        }
    }
    true
}

/// An unsigned number in at most its type's `width` bytes: RFC 7011's reduced-size
/// encoding may shorten a value, never lengthen it, so a longer one stays hex.
fn unsigned(value: &[u8], width: usize) -> Option<u64> {
    (value.len() <= width).then(|| number(value)).flatten()
}

/// An unsigned number of 1 to 8 bytes (RFC 7011's reduced-size encoding keeps the low bytes).
fn number(value: &[u8]) -> Option<u64> {
    (1..=8)
        .contains(&value.len())
        .then(|| value.iter().fold(0u64, |n, b| n << 8 | u64::from(*b)))
}

/// A signed number of 1 to 4 bytes, two's complement.
fn signed(value: &[u8]) -> Option<i64> {
    if !(1..=4).contains(&value.len()) {
        return None;
    }
    let unsigned = number(value)?;
    let shift = 64 - 8 * value.len() as u32;
    Some(((unsigned << shift) as i64) >> shift)
}

/// A float64, or its reduced-size float32 encoding; JSON has no NaN or infinity, so those stay
/// hex.
fn float(value: &[u8]) -> Option<f64> {
    let number = match value.len() {
        8 => f64::from_bits(number(value)?),
        4 => f64::from(f32::from_bits(u32::try_from(number(value)?).ok()?)),
        _ => return None,
    };
    number.is_finite().then_some(number)
}

fn time(seconds: u64, nanos: u32) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(i64::try_from(seconds).ok()?, nanos)
}

/// RFC 7011's microsecond and nanosecond times: NTP seconds since 1900 and a binary fraction.
fn ntp_time(value: &[u8]) -> Option<DateTime<Utc>> {
    let ntp = <[u8; 8]>::try_from(value).ok()?;
    let ntp = u64::from_be_bytes(ntp);
    let seconds = (ntp >> 32).checked_sub(NTP_TO_UNIX_SECONDS)?;
    let nanos = u32::try_from(((ntp & 0xffff_ffff) * 1_000_000_000) >> 32).ok()?;
    time(seconds, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(kind: IanaType, token: &str) -> Option<String> {
        let mut out = b"x".to_vec();
        let fits = write_typed(kind, token.as_bytes(), &mut out);
        assert_eq!(fits, out.len() > 1, "{token}");
        fits.then(|| String::from_utf8(out[1..].to_vec()).unwrap())
    }

    #[test]
    fn values_take_their_types_text() {
        let cases = [
            (IanaType::Unsigned64, r#""000000000002fac7""#, "195271"),
            (IanaType::Unsigned32, r#""01""#, "1"),
            (
                IanaType::Unsigned64,
                r#""ffffffffffffffff""#,
                "18446744073709551615",
            ),
            (IanaType::Unsigned16, r#""ffff""#, "65535"),
            (IanaType::Signed32, r#""ffffffff""#, "-1"),
            (IanaType::Signed32, r#""80""#, "-128"),
            (IanaType::Float64, r#""3ff8000000000000""#, "1.5"),
            (IanaType::Float64, r#""40200000""#, "2.5"),
            (IanaType::Boolean, r#""01""#, "true"),
            (IanaType::Boolean, r#""02""#, "false"),
            (IanaType::Ipv4Address, r#""c0000201""#, r#""192.0.2.1""#),
            (
                IanaType::Ipv6Address,
                r#""20010db8000000000000000000000001""#,
                r#""2001:db8::1""#,
            ),
            (
                IanaType::MacAddress,
                r#""0050568A1B2C""#,
                r#""00:50:56:8a:1b:2c""#,
            ),
            (IanaType::String, r#""4769302f302f3100""#, r#""Gi0/0/1""#),
            (IanaType::String, r#""6122""#, r#""a\"""#),
            (
                IanaType::DateTimeSeconds,
                r#""6555c3f0""#,
                r#""2023-11-16T07:25:36Z""#,
            ),
            (
                IanaType::DateTimeMilliseconds,
                r#""0000018bd7056259""#,
                r#""2023-11-16T07:25:36.217Z""#,
            ),
            (
                IanaType::DateTimeMicroseconds,
                r#""e900427080000000""#,
                r#""2023-11-16T07:25:36.500000Z""#,
            ),
            (
                IanaType::DateTimeNanoseconds,
                r#""e900427040000000""#,
                r#""2023-11-16T07:25:36.250000000Z""#,
            ),
        ];
        for (kind, token, text) in cases {
            assert_eq!(
                render(kind, token).as_deref(),
                Some(text),
                "{kind:?} {token}"
            );
        }
    }

    #[test]
    fn values_that_do_not_fit_their_type_stay_hex() {
        let cases = [
            (IanaType::Ipv4Address, r#""c000""#),
            (IanaType::MacAddress, r#""0050568a1b""#),
            (IanaType::Unsigned64, r#""000000000000000001""#),
            (IanaType::Unsigned8, r#""0001""#),
            (IanaType::Unsigned32, r#""0000000001""#),
            (IanaType::Unsigned32, r#""0g""#),
            (IanaType::Unsigned32, r#""0""#),
            (IanaType::Unsigned32, r#""""#),
            (IanaType::Unsigned32, "12"),
            (IanaType::Signed32, r#""0000000001""#),
            (IanaType::Boolean, r#""03""#),
            (IanaType::Float64, r#""7ff8000000000000""#),
            (IanaType::Float64, r#""7f800000""#),
            (IanaType::String, r#""ff""#),
            (IanaType::String, r#""610062""#),
            (IanaType::OctetArray, r#""00""#),
            (IanaType::Unsigned256, r#""00""#),
            (IanaType::BasicList, r#""00""#),
            (IanaType::DateTimeMicroseconds, r#""0000000080000000""#),
        ];
        for (kind, token) in cases {
            assert_eq!(render(kind, token), None, "{kind:?} {token}");
        }
    }

    /// Any bytes, as any type: either nothing is written, or one valid JSON value.
    #[test]
    fn any_value_renders_as_one_json_value_or_stays_hex() {
        let kinds = [
            IanaType::BasicList,
            IanaType::Boolean,
            IanaType::DateTimeMicroseconds,
            IanaType::DateTimeMilliseconds,
            IanaType::DateTimeNanoseconds,
            IanaType::DateTimeSeconds,
            IanaType::Float64,
            IanaType::Ipv4Address,
            IanaType::Ipv6Address,
            IanaType::MacAddress,
            IanaType::OctetArray,
            IanaType::Signed32,
            IanaType::String,
            IanaType::SubTemplateList,
            IanaType::SubTemplateMultiList,
            IanaType::Unsigned16,
            IanaType::Unsigned256,
            IanaType::Unsigned32,
            IanaType::Unsigned64,
            IanaType::Unsigned8,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let length = (next() % 24) as usize;
            let bytes: Vec<u8> = (0..length).map(|_| next() as u8).collect();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let token = format!("\"{hex}\"");
            for kind in kinds {
                let mut out = Vec::new();
                if write_typed(kind, token.as_bytes(), &mut out) {
                    let value: serde_json::Value = serde_json::from_slice(&out)
                        .unwrap_or_else(|e| panic!("{kind:?} {hex}: {e}"));
                    assert!(!value.is_null(), "{kind:?} {hex}");
                } else {
                    assert!(out.is_empty(), "{kind:?} {hex}");
                }
            }
        }
    }
}
