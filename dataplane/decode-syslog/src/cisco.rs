//! The header Cisco devices (IOS, IOS-XE, NX-OS, IOS-XR, ASA) write before a
//! `%FACILITY-SEVERITY-MNEMONIC:` id, as segments in any of the orders their `logging` and
//! `service timestamps` settings produce, sometimes behind a relay's own RFC 3164 header:
//! sequence numbers (`29: `), NX-OS's bare `: `, hosts (`sw01: `, `DEVICENAME : `, an IPv6
//! address ending in `::`), zone names apart from the time (`AEST: `), node labels (`RP/0/RSP0/CPU0:`, `CLC 6/0: `), times in any form
//! `timestamp.rs` reads, uptimes instead of times (`2y10w: `), and a process (`ifmgr[123]: `).
//! The device's own host and time are the last ones written, so they win over a relay's.

use crate::parse::VendorId;
use crate::timestamp::{Stamp, Zone, leading_stamp, skip_separator, zone_named};
use crate::vendor::cisco_id;

pub struct CiscoHeader<'a> {
    pub host: Option<&'a str>,
    pub stamp: Option<Stamp>,
    pub app_name: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub id: VendorId<'a>,
    pub message: &'a str,
    /// A zone name other than UTC/GMT written apart from the time (`host AEST: %...`).
    pub zone_not_applied: bool,
}

/// How far into a message its `%` id may start: past this, it is not a header.
const ID_SEARCH_LIMIT: usize = 192;
const MAX_SEGMENTS: usize = 10;

/// The Cisco header at the start of `text`, if the text has the shape of one all the way to
/// a valid message id.
pub fn cisco_header(text: &str, receive_time_micros: i64) -> Option<CiscoHeader<'_>> {
    if text.find('%').is_none_or(|at| at > ID_SEARCH_LIMIT) {
        return None;
    }
    let mut header = CiscoHeader {
        host: None,
        stamp: None,
        app_name: None,
        procid: None,
        id: VendorId::default(),
        message: "",
        zone_not_applied: false,
    };
    let mut rest = text;
    let mut hosts = 0;
    for _ in 0..MAX_SEGMENTS {
        if rest.starts_with('%') {
            let (id, message) = cisco_id(rest)?;
            header.id = id;
            header.message = message;
            return Some(header);
        }
        if header.app_name.is_some() {
            // Only the id may follow the process.
            return None;
        }
        if let Some(after) = skip_sequence(rest) {
            rest = after;
        } else if let Some(stamp) = leading_stamp(rest, receive_time_micros) {
            header.stamp = Some(stamp);
            rest = skip_separator(&rest[stamp.len..]);
        } else if let Some(after) = uptime(rest) {
            rest = after;
        } else if let Some(after) = node_label(rest) {
            rest = after;
        } else if let Some((app_name, procid, after)) = process(rest) {
            header.app_name = Some(app_name);
            header.procid = Some(procid);
            rest = after;
        } else if let Some((zone, after)) = rest.split_once(": ")
            && let Some(zone) = zone_named(zone)
        {
            header.zone_not_applied |= zone == Zone::NotApplied;
            rest = after;
        } else if let Some((host, after)) = host(rest) {
            hosts += 1;
            if hosts > 2 {
                return None;
            }
            header.host = Some(host);
            rest = after;
        } else {
            return None;
        }
    }
    None
}

/// Cisco's message sequence number (`29: `) or NX-OS's bare `: ` before the time.
pub fn skip_sequence(text: &str) -> Option<&str> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text[digits..].strip_prefix(": ")
}

/// `2y10w: `, `1d02h: `: time since boot, written when the clock is not set.
fn uptime(text: &str) -> Option<&str> {
    let (token, after) = text.split_once(": ")?;
    let units = token
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'y' | b'w' | b'd' | b'h' | b'm' | b's'));
    let shaped = token.len() <= 12
        && token.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && token.bytes().any(|b| b.is_ascii_alphabetic());
    (units && shaped).then_some(after)
}

/// `RP/0/RSP0/CPU0:` glued to what follows, or `CLC 6/0: `.
fn node_label(text: &str) -> Option<&str> {
    let (label, after) = text.split_once(':')?;
    if !label.contains('/') || label.len() > 32 || label.contains('%') {
        return None;
    }
    match label.split_once(' ') {
        None => Some(after.strip_prefix(' ').unwrap_or(after)),
        Some((first, second)) if !second.contains(' ') && !first.contains('/') => {
            after.strip_prefix(' ')
        }
        Some(_) => None,
    }
}

/// `ifmgr[123]: `: the process that logged, as IOS-XR writes it.
fn process(text: &str) -> Option<(&str, &str, &str)> {
    let (word, after) = text.split_once(": ")?;
    let (name, bracketed) = word.split_once('[')?;
    let procid = bracketed.strip_suffix(']')?;
    let plain = |part: &str| !part.is_empty() && !part.contains([' ', '%', '[', ']', ':']);
    (plain(name) && plain(procid)).then_some((name, procid, after))
}

/// `sw01: `, `sw01 `, `DEVICENAME : `, `2a02:cf40::: `.
fn host(text: &str) -> Option<(&str, &str)> {
    let (word, after) = text.split_once(' ')?;
    let (host, after) = match word.strip_suffix(':') {
        Some(host) => (host, after),
        None => (word, after.strip_prefix(": ").unwrap_or(after)),
    };
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    plain.then_some((host, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::micros;

    /// Host, time, mnemonic and message: what a test checks of a header.
    type Seen<'a> = (Option<&'a str>, Option<i64>, Option<&'a str>, &'a str);

    fn header(text: &str) -> Option<Seen<'_>> {
        cisco_header(text, micros("2026-06-01T00:00:00Z"))
            .map(|h| (h.host, h.stamp.map(|s| s.micros), h.id.mnemonic, h.message))
    }

    #[test]
    fn the_orders_devices_write() {
        let relayed = "Jul 13 08:23:43 192.168.100.2 sw01: 3132779: Jul 14 2023 08:23:43.398 UTC: %FOO-6-BAR: Test";
        assert_eq!(
            header(relayed),
            Some((
                Some("sw01"),
                Some(micros("2023-07-14T08:23:43.398Z")),
                Some("BAR"),
                "Test"
            ))
        );
        assert_eq!(
            header("3132517: sw01: 3132513: 2y10w: %FOO-6-BAR: Test").map(|h| (h.0, h.1)),
            Some((Some("sw01"), None))
        );
        assert_eq!(
            header("3132783: 2a02:cf40::: 3132779: Jul 14 2023 08:23:43.398 UTC: %FOO-6-BAR: x")
                .and_then(|h| h.0),
            Some("2a02:cf40::")
        );
        assert_eq!(
            header("3408: CLC 6/0: Dec 11 13:31:14.214 EST: %PKI-3-CERT: x").map(|h| h.0),
            Some(None)
        );
        assert_eq!(
            header(
                "HOST RP/0/RSP0/CPU0:Mar 26 14:47:02.754 : SSHD_[65935]: %SECURITY-SSHD-6-INFO : x"
            )
            .map(|h| (h.0, h.3)),
            Some((Some("HOST"), "x"))
        );
        assert!(header("web02 sshd[1]: 100% done").is_none());
        assert!(header("a b c d e f g h i j k %SYS-5-X: deep").is_none());
    }
}
