//! RFC 3164 as real senders write it. The rules, in the order they apply (docs/syslog.md
//! lists each with the senders that need it):
//! 1. no `<PRI>`: priority 13 is assumed (RFC 3164 4.3.3) if a time follows, else not syslog;
//! 2. spaces after `<PRI>` are skipped; a Cisco sequence number (`29: `) or NX-OS's bare `: `
//!    before the time is skipped;
//! 3. before the time there may be a host (`foo: *Apr 29 ...`) and IOS-XR's node id glued to
//!    the time (`RP/0/RSP0/CPU0:Mar 1 ...`);
//! 4. the time in any form `timestamp.rs` reads;
//! 5. after the time, the host, unless the next word is already a tag or a Cisco id; ASA's
//!    ` : ` after the host and a trailing colon on the host are dropped;
//! 6. F5's severity word before the process;
//! 7. `TAG[PID]:` or `TAG:`; then the vendor's message id or body shape.

use crate::cisco::{CiscoHeader, cisco_header, skip_sequence};
use crate::parse::{Format, ParsedMessage, Warnings};
use crate::timestamp::{Stamp, Zone, leading_stamp, skip_separator, zone_named};
use crate::vendor::{
    F5_LEVELS, cisco_id, f5_id, fortigate, is_check_point_body, is_cisco_firewall, junos_tag,
    palo_alto_type,
};

/// A syslog user-level notice, RFC 3164's default for a message without `<PRI>`.
const DEFAULT_PRIORITY: u8 = 13;

pub fn parse_legacy(
    priority: Option<u8>,
    text: &str,
    receive_time_micros: i64,
) -> ParsedMessage<'_> {
    let rest = if priority.is_some() {
        text.trim_start_matches(' ')
    } else {
        text
    };
    let located = locate_stamp(rest, receive_time_micros);
    let mut parsed = ParsedMessage::new(
        Format::Rfc3164,
        Some(priority.unwrap_or(DEFAULT_PRIORITY)),
        rest,
    );
    if located.is_none()
        && let Some(header) = cisco_header(rest, receive_time_micros)
        && (priority.is_some() || header.stamp.is_some())
    {
        if priority.is_none() {
            parsed.warnings.add(Warnings::NO_PRIORITY);
        }
        parsed.warnings.add(Warnings::NO_TIME);
        apply_cisco_header(&mut parsed, header);
        return parsed;
    }
    if priority.is_none() {
        if located.is_none() && fortigate(rest).is_none() {
            return ParsedMessage::unparsed(
                text,
                "no <PRI> and no timestamp: not syslog, kept as text",
            );
        }
        parsed.warnings.add(Warnings::NO_PRIORITY);
    }
    let mut rest = match located {
        Some(located) => {
            parsed.hostname = located.host;
            set_time(&mut parsed, located.stamp);
            let after = skip_separator(located.after);
            if parsed.hostname.is_none() && !located.after_sequence {
                let (host, tail) = split_host(after);
                parsed.hostname = host;
                tail
            } else {
                after
            }
        }
        None => {
            parsed.warnings.add(Warnings::NO_TIME);
            rest
        }
    };
    // A relay's header in front of the device's own: the device's time is the event's.
    if let Some((stamp, after)) = inner_stamp(rest, receive_time_micros) {
        set_time(&mut parsed, stamp);
        rest = after;
    }
    if let Some((zone, after)) = zone_label(rest) {
        // `host AEST: %...`: the zone of the time before the host.
        if zone == Zone::NotApplied {
            parsed.warnings.add(Warnings::ZONE_NOT_APPLIED);
        }
        rest = after;
    }
    if let Some(tail) = after_f5_level(rest) {
        parsed.format = Format::F5;
        rest = tail;
    }
    let before_tag = rest;
    if cisco_id(rest).is_none() {
        let (app_name, procid, message) = split_tag(rest);
        parsed.app_name = app_name;
        parsed.procid = procid;
        rest = message;
    }
    // Behind a relay's header, a Cisco device's own (`sw01: 3132779: Jul 14 ...: %FOO-6-BAR`)
    // reads as no tag, or as a tag followed by a number or time.
    let device_header_may_follow = parsed.app_name.is_none()
        || rest
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b':' | b'*' | b'.'));
    if device_header_may_follow && let Some(header) = cisco_header(before_tag, receive_time_micros)
    {
        apply_cisco_header(&mut parsed, header);
        return parsed;
    }
    parsed.message = rest;
    apply_vendor_shapes(&mut parsed);
    parsed
}

/// F5's `notice mcpd[5678]: ...`: the severity word before the process.
fn after_f5_level(text: &str) -> Option<&str> {
    let level_len = text
        .bytes()
        .take(8)
        .take_while(u8::is_ascii_lowercase)
        .count();
    let tail = text.get(level_len..)?.strip_prefix(' ')?;
    (F5_LEVELS.contains(&&text[..level_len]) && split_tag(tail).1.is_some()).then_some(tail)
}

fn apply_cisco_header<'a>(parsed: &mut ParsedMessage<'a>, header: CiscoHeader<'a>) {
    parsed.format = if is_cisco_firewall(&header.id) {
        Format::CiscoAsa
    } else {
        Format::Cisco
    };
    if let Some(stamp) = header.stamp {
        set_time(parsed, stamp);
        parsed.warnings.remove(Warnings::NO_TIME);
    }
    if header.zone_not_applied {
        parsed.warnings.add(Warnings::ZONE_NOT_APPLIED);
    }
    // The device's own host, written after a relay's, is the one that logged.
    parsed.hostname = header.host.or(parsed.hostname);
    parsed.app_name = header.app_name;
    parsed.procid = header.procid;
    parsed.vendor = header.id;
    parsed.message = header.message;
}

fn set_time(parsed: &mut ParsedMessage<'_>, stamp: Stamp) {
    parsed.event_time_micros = Some(stamp.micros);
    parsed.warnings.remove(Warnings::TIME_WITHOUT_ZONE);
    parsed.warnings.remove(Warnings::ZONE_NOT_APPLIED);
    match stamp.zone {
        Zone::Given => {}
        Zone::Missing => parsed.warnings.add(Warnings::TIME_WITHOUT_ZONE),
        Zone::NotApplied => parsed.warnings.add(Warnings::ZONE_NOT_APPLIED),
    }
}

/// `AEST: `: a zone name written apart from the time it belongs to.
fn zone_label(text: &str) -> Option<(Zone, &str)> {
    let len = text
        .bytes()
        .take(5)
        .take_while(u8::is_ascii_alphabetic)
        .count();
    let after = text.get(len..)?.strip_prefix(": ")?;
    Some((zone_named(&text[..len])?, after))
}

/// The device's own time after a relay's header: `585917: Feb  8 04:00:47.272: %SEC...`,
/// NX-OS's `: 2023 May  2 15:21:27.206 UTC: ...`, IOS-XR's `RP/0/RP0/CPU0:Oct 7 ...`.
fn inner_stamp(text: &str, receive_time_micros: i64) -> Option<(Stamp, &str)> {
    // Every form starts with a digit, `:`, a sync marker or a capital (month or node name);
    // most tags do not, and skip the searches below.
    let first = *text.as_bytes().first()?;
    if !(first.is_ascii_digit()
        || first.is_ascii_uppercase()
        || matches!(first, b':' | b'*' | b'.'))
    {
        return None;
    }
    let text = text.strip_prefix(": ").unwrap_or(text);
    let text = skip_sequence(text).unwrap_or(text);
    let text = after_node_id(text).unwrap_or(text);
    let stamp = leading_stamp(text, receive_time_micros)?;
    Some((stamp, skip_separator(&text[stamp.len..])))
}

fn apply_vendor_shapes(parsed: &mut ParsedMessage<'_>) {
    let message = parsed.message;
    if let Some((id, text)) = cisco_id(message) {
        parsed.format = if is_cisco_firewall(&id) {
            Format::CiscoAsa
        } else {
            Format::Cisco
        };
        parsed.vendor = id;
        parsed.message = text;
    } else if parsed.app_name.is_some()
        && let Some((tag, text)) = junos_tag(message)
    {
        parsed.format = Format::Junos;
        parsed.vendor.mnemonic = Some(tag);
        parsed.message = text;
    } else if parsed.app_name.is_some()
        && let Some((id, text)) = f5_id(message)
    {
        parsed.format = Format::F5;
        parsed.vendor = id;
        parsed.message = text;
    } else if let Some(header) = fortigate(message) {
        parsed.format = Format::FortiGate;
        parsed.hostname = parsed.hostname.or(header.devname);
        if parsed.event_time_micros.is_none() {
            parsed.event_time_micros = header.event_time_micros;
            if header.event_time_micros.is_some() {
                parsed.warnings.remove(Warnings::NO_TIME);
            }
        }
        parsed.vendor.facility = header.log_type;
        parsed.vendor.mnemonic = header.log_id;
    } else if let Some(log_type) = palo_alto_type(message) {
        parsed.format = Format::PaloAlto;
        parsed.vendor.mnemonic = Some(log_type);
    } else if is_check_point_body(message) {
        parsed.format = Format::CheckPoint;
    }
}

struct Located<'a> {
    host: Option<&'a str>,
    stamp: Stamp,
    after: &'a str,
    /// A Cisco sequence number came first: the host, if any, came before the time.
    after_sequence: bool,
}

/// The time near the start of `text`, and a host written before it.
fn locate_stamp(text: &str, receive_time_micros: i64) -> Option<Located<'_>> {
    fn found<'a>(host: Option<&'a str>, rest: &'a str, receive: i64) -> Option<Located<'a>> {
        leading_stamp(rest, receive).map(|stamp| Located {
            host,
            stamp,
            after: &rest[stamp.len..],
            after_sequence: false,
        })
    }
    let found_after_node =
        |host, rest| after_node_id(rest).and_then(|after| found(host, after, receive_time_micros));
    if let Some(located) = found(None, text, receive_time_micros) {
        return Some(located);
    }
    let mut sequence = None;
    let mut rest = text;
    // IOS repeats the number when a relay adds its own (`3352436: 3352457: Aug 12 ...`).
    for _ in 0..2 {
        if let Some(after) = skip_sequence(rest) {
            sequence = Some(after);
            rest = after;
        }
    }
    fn marked(located: Located<'_>, after_sequence: bool) -> Option<Located<'_>> {
        Some(Located {
            after_sequence,
            ..located
        })
    }
    let after_sequence = sequence.is_some();
    let mark = |located| marked(located, after_sequence);
    if let Some(located) = found(None, rest, receive_time_micros) {
        return mark(located);
    }
    if let Some(located) = found_after_node(None, rest) {
        return mark(located);
    }
    // A host before the time: `foo: *Apr 29 ...`, `HOST RP/0/RSP0/CPU0:Mar 26 ...`.
    if let Some((word, tail)) = rest.split_once(' ') {
        let host = word.strip_suffix(':').unwrap_or(word);
        if is_host_word(host)
            && let Some(located) = found(Some(host), tail, receive_time_micros)
                .or_else(|| found_after_node(Some(host), tail))
        {
            return mark(located);
        }
    }
    // A node label with a space before the time: `CLC 6/0: Dec 11 ...`.
    let (label, tail) = rest.split_once(": ")?;
    if !label.contains('/') || label.len() > 32 {
        return None;
    }
    rest = tail;
    found(None, rest, receive_time_micros).and_then(mark)
}

fn is_host_word(word: &str) -> bool {
    // A bare number is a Cisco sequence number, not a host.
    !word.bytes().all(|b| b.is_ascii_digit())
        && word.len() <= 255
        && !word.contains(['[', '=', '\t'])
        && !word.starts_with('%')
}

/// IOS-XR's node id (`RP/0/RSP0/CPU0:`), glued to the time that follows.
fn after_node_id(text: &str) -> Option<&str> {
    let (node, after) = text.split_once(':')?;
    (node.contains('/') && !node.contains([' ', '\t'])).then_some(after)
}

/// The host after the time, unless the next word is already the tag or a Cisco id.
fn split_host(text: &str) -> (Option<&str>, &str) {
    if text.starts_with('%') {
        return (None, text);
    }
    // AIX relays write `Message forwarded from host: tag[pid]: ...`.
    if text.as_bytes().first() == Some(&b'M')
        && let Some(forwarded) = text.strip_prefix("Message forwarded from ")
        && let Some((host, tail)) = forwarded.split_once(": ")
        && is_host_word(host)
    {
        return (Some(host), tail);
    }
    let Some((word, tail)) = split_at_byte(text, b' ') else {
        // A lone word after the time is the host of an empty message.
        return match is_host_word(text) && !text.ends_with(':') {
            true => (Some(text), ""),
            false => (None, text),
        };
    };
    if !is_host_word(word) {
        return (None, text);
    }
    if let Some(host) = word.strip_suffix(':') {
        // `host: tag[pid]: msg` has a host with a trailing colon; `tag: msg` has none, and
        // neither has Junos's `RT_FLOW: RT_FLOW_SESSION_CREATE: ...`.
        let tagged = tail.starts_with('%') || split_tag(tail).1.is_some();
        if host.is_empty() || !tagged {
            return (None, text);
        }
        return (Some(host), tail);
    }
    // Cisco ASA writes `DEVICENAME : %ASA-...`.
    let tail = tail.strip_prefix(": ").unwrap_or(tail);
    (Some(word), tail)
}

/// `text` split around the first `byte` (ASCII). Header words are short, so a plain scan
/// beats a general search's setup.
fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|b| b == byte)?;
    Some((&text[..at], &text[at + 1..]))
}

/// `TAG[PID]: MSG`, `TAG[PID] MSG` or `TAG: MSG`; anything else is all message.
fn split_tag(text: &str) -> (Option<&str>, Option<&str>, &str) {
    let end = text
        .bytes()
        .take(64)
        .position(|b| matches!(b, b'[' | b':' | b' ' | b'\t'))
        .unwrap_or(text.len());
    let (tag, after_tag) = text.split_at(end);
    // A tag names a program (some are numbers); `05/21/2017:00:00:00` is not one.
    let named = tag.bytes().any(|b| b.is_ascii_alphabetic());
    if tag.is_empty() || (!named && !tag.bytes().all(|b| b.is_ascii_digit())) {
        return (None, None, text);
    }
    let (procid, after_pid) = match after_tag.strip_prefix('[') {
        Some(bracketed) => match split_at_byte(bracketed, b']') {
            Some((pid, tail)) if !pid.is_empty() && !pid.contains(' ') => (Some(pid), tail),
            _ => return (None, None, text),
        },
        None => (None, after_tag),
    };
    match after_pid.strip_prefix(':') {
        Some(message) => (
            Some(tag),
            procid,
            message.strip_prefix(' ').unwrap_or(message),
        ),
        None if procid.is_some() => (
            Some(tag),
            procid,
            after_pid.strip_prefix(' ').unwrap_or(after_pid),
        ),
        None => (None, None, text),
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::parse_message;
    use crate::test_time::micros;

    use super::*;

    const RECEIVED: &str = "2026-06-01T00:00:00Z";

    fn parse(text: &str) -> ParsedMessage<'_> {
        parse_message(text, micros(RECEIVED))
    }

    #[test]
    fn the_issues_examples() {
        let parsed = parse("<15> openvpn[2499]: PTHREAD support initialized");
        assert_eq!(
            (parsed.app_name, parsed.procid, parsed.message),
            (Some("openvpn"), Some("2499"), "PTHREAD support initialized")
        );

        let parsed =
            parse("<189>29: foo: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured from console");
        assert_eq!(parsed.format, Format::Cisco);
        assert_eq!(parsed.hostname, Some("foo"));
        assert_eq!(
            parsed.event_time_micros,
            Some(micros("2026-04-29T13:58:40.411Z"))
        );
        assert_eq!(
            (
                parsed.vendor.facility,
                parsed.vendor.severity,
                parsed.vendor.mnemonic
            ),
            (Some("SYS"), Some(5), Some("CONFIG_I"))
        );
        assert_eq!(parsed.message, "Configured from console");
        assert_eq!(parsed.app_name, None);

        let parsed = parse(
            "<166>Mar 06 2016 12:53:10 DEVICENAME : %ASA-6-302013: Built inbound TCP connection 1 for outside",
        );
        assert_eq!(parsed.format, Format::CiscoAsa);
        assert_eq!(parsed.hostname, Some("DEVICENAME"));
        assert_eq!(
            parsed.event_time_micros,
            Some(micros("2016-03-06T12:53:10Z"))
        );
        assert_eq!(parsed.vendor.mnemonic, Some("302013"));
        assert_eq!(parsed.message, "Built inbound TCP connection 1 for outside");

        let parsed = parse("<13>AUG 10 22:18:24 host app: upper-case month");
        assert_eq!(
            parsed.event_time_micros,
            Some(micros("2026-08-10T22:18:24Z"))
        );
        assert_eq!(parsed.hostname, Some("host"));

        let parsed = parse("<13>Aug 10 22:18:24 host: sshd[1]: trailing colon on the host");
        assert_eq!(
            (parsed.hostname, parsed.app_name, parsed.procid),
            (Some("host"), Some("sshd"), Some("1"))
        );
    }

    #[test]
    fn cisco_shapes_without_host_or_time() {
        let parsed = parse("<166>%ASA-6-302013: Built inbound");
        assert_eq!(parsed.format, Format::CiscoAsa);
        assert_eq!(parsed.hostname, None);
        assert!(parsed.warnings.contains(Warnings::NO_TIME));
        assert_eq!(parsed.message, "Built inbound");

        let parsed = parse("<189>30: *Apr 29 13:58:40.411: %LINK-3-UPDOWN: Interface up");
        assert_eq!(parsed.hostname, None);
        assert_eq!(parsed.vendor.mnemonic, Some("UPDOWN"));

        let parsed =
            parse("<189>: 2017 Mar 1 10:00:00 UTC: %ETHPORT-5-IF_UP: Interface Ethernet1/1 is up");
        assert_eq!(
            parsed.event_time_micros,
            Some(micros("2017-03-01T10:00:00Z"))
        );
        assert_eq!(parsed.vendor.facility, Some("ETHPORT"));
        assert_eq!(parsed.message, "Interface Ethernet1/1 is up");

        let parsed = parse(
            "<189>123: RP/0/RSP0/CPU0:Mar  1 10:00:00.123 UTC: ifmgr[123]: %PKT_INFRA-LINK-3-UPDOWN : Interface x, changed state to Down",
        );
        assert_eq!(parsed.format, Format::Cisco);
        assert_eq!(
            (parsed.app_name, parsed.procid),
            (Some("ifmgr"), Some("123"))
        );
        assert_eq!(parsed.vendor.facility, Some("PKT_INFRA-LINK"));
        assert_eq!(parsed.message, "Interface x, changed state to Down");
        assert_eq!(parsed.hostname, None);
    }

    #[test]
    fn junos_f5_fortigate_and_palo_alto() {
        let parsed = parse(
            "<28>Mar 23 12:00:00 router mgd[3046]: UI_COMMIT: User 'root' requested 'commit'",
        );
        assert_eq!(parsed.format, Format::Junos);
        assert_eq!(parsed.vendor.mnemonic, Some("UI_COMMIT"));
        assert_eq!(parsed.message, "User 'root' requested 'commit'");

        let parsed =
            parse("<133>Feb 13 10:11:12 bigip1 notice mcpd[5678]: 01070638:5: Pool member down");
        assert_eq!(parsed.format, Format::F5);
        assert_eq!(
            (parsed.hostname, parsed.app_name, parsed.procid),
            (Some("bigip1"), Some("mcpd"), Some("5678"))
        );
        assert_eq!(parsed.vendor.mnemonic, Some("01070638"));
        assert_eq!(parsed.message, "Pool member down");

        let parsed = parse(
            r#"<189>date=2019-05-10 time=11:37:47 devname="FG100D" devid="FG100D3G" logid="0000000013" type="traffic" srcip=10.1.1.1"#,
        );
        assert_eq!(parsed.format, Format::FortiGate);
        assert_eq!(parsed.hostname, Some("FG100D"));
        assert_eq!(
            parsed.event_time_micros,
            Some(micros("2019-05-10T11:37:47Z"))
        );
        assert!(parsed.warnings.is_empty());
        assert!(parsed.message.starts_with("date=2019-05-10"));

        let parsed = parse(
            "<14>Apr 10 04:39:56 PA-VM 1,2012/04/10 04:39:55,001606001116,TRAFFIC,start,1,2012/04/10 04:39:55",
        );
        assert_eq!(parsed.format, Format::PaloAlto);
        assert_eq!(parsed.hostname, Some("PA-VM"));
        assert_eq!(parsed.vendor.mnemonic, Some("TRAFFIC"));
    }
}
