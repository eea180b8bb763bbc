//! Vendors' own message ids and bodies, recognised by their documented shapes: Cisco's
//! `%FACILITY-[SUBFACILITY-]SEVERITY-MNEMONIC:` (IOS, IOS-XE, NX-OS, IOS-XR, and ASA/FTD's
//! `%ASA-6-302013:`), Junos tags (`UI_COMMIT:`), F5's `01070638:5:` ids, FortiGate's
//! `date=... devname=...` bodies, Palo Alto's CSV bodies and Check Point's `[key:"value"; ...]`.

use chrono::NaiveDate;

use crate::parse::VendorId;

/// Cisco ASA, FTD and their predecessors number their messages instead of naming them.
const CISCO_FIREWALLS: [&str; 4] = ["ASA", "FTD", "PIX", "FWSM"];

/// A Cisco message id at the start of `text` and the text after it (after `: ` or XR's ` : `).
pub fn cisco_id(text: &str) -> Option<(VendorId<'_>, &str)> {
    let body = text.strip_prefix('%')?;
    let id_len = body
        .bytes()
        .take(96)
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        .count();
    let id = &body[..id_len];
    let after = &body[id_len..];
    // `: ` is the rule; IOS-XR writes ` : ` and some ASA builds only a space.
    let after = after
        .strip_prefix(": ")
        .or_else(|| after.strip_prefix(" : "))
        .or_else(|| after.strip_prefix(':'))
        .or_else(|| after.strip_prefix(' '))
        .or_else(|| after.is_empty().then_some(after))?;
    let (facility_and_severity, mnemonic) = id.rsplit_once('-')?;
    let (facility, severity) = facility_and_severity.rsplit_once('-')?;
    let severity = match severity.as_bytes() {
        [digit @ b'0'..=b'7'] => digit - b'0',
        _ => return None,
    };
    if facility.is_empty() || mnemonic.is_empty() {
        return None;
    }
    Some((
        VendorId {
            facility: Some(facility),
            severity: Some(severity),
            mnemonic: Some(mnemonic),
        },
        after,
    ))
}

/// ASA and FTD ids (`%ASA-6-302013`, `%ASA-session-5-106100`, `%FTD-6-430003`).
pub fn is_cisco_firewall(id: &VendorId<'_>) -> bool {
    id.facility.is_some_and(|facility| {
        let product = facility.split('-').next().unwrap_or(facility);
        CISCO_FIREWALLS.contains(&product)
    })
}

/// A Junos tag (`UI_CMDLINE_READ_LINE: `, `RT_FLOW_SESSION_CREATE: `): upper-case words
/// joined by `_`, then a colon.
pub fn junos_tag(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    if !bytes.first()?.is_ascii_uppercase() {
        return None;
    }
    let len = bytes
        .iter()
        .take(64)
        .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_')
        .count();
    let tag = &text[..len];
    let after = text[len..].strip_prefix(':')?;
    if !tag.contains('_') || tag.ends_with('_') {
        return None;
    }
    Some((tag, after.strip_prefix(' ').unwrap_or(after)))
}

/// F5's message id after the tag: eight hex digits, `:`, the severity digit, `:`.
pub fn f5_id(text: &str) -> Option<(VendorId<'_>, &str)> {
    let bytes = text.as_bytes();
    if bytes.len() < 11
        || !bytes[..8].iter().all(u8::is_ascii_hexdigit)
        || bytes[8] != b':'
        || !(b'0'..=b'7').contains(&bytes[9])
        || bytes[10] != b':'
    {
        return None;
    }
    let after = &text[11..];
    Some((
        VendorId {
            facility: None,
            severity: Some(bytes[9] - b'0'),
            mnemonic: Some(&text[..8]),
        },
        after.strip_prefix(' ').unwrap_or(after),
    ))
}

/// The severity words F5 BIG-IP writes between the host and the process.
pub const F5_LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// What a FortiGate `key=value` body says about its own header.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FortiGateHeader<'a> {
    pub devname: Option<&'a str>,
    pub event_time_micros: Option<i64>,
    pub log_id: Option<&'a str>,
    pub log_type: Option<&'a str>,
}

/// A FortiOS body (`date=2019-05-10 time=11:37:47 devname="FG" ...` or `logver=...`).
pub fn fortigate(text: &str) -> Option<FortiGateHeader<'_>> {
    if !(text.starts_with("date=") || text.starts_with("logver=")) {
        return None;
    }
    let devname = value_of(text, "devname");
    let log_id = value_of(text, "logid");
    devname.or(value_of(text, "devid")).or(log_id)?;
    let event_time_micros =
        value_of(text, "date")
            .zip(value_of(text, "time"))
            .and_then(|(date, time)| {
                let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
                let time = chrono::NaiveTime::parse_from_str(time, "%H:%M:%S").ok()?;
                let local = date.and_time(time).and_utc().timestamp_micros();
                let offset = value_of(text, "tz").and_then(offset_seconds).unwrap_or(0);
                Some(local - i64::from(offset) * 1_000_000)
            });
    Some(FortiGateHeader {
        devname,
        event_time_micros,
        log_id,
        log_type: value_of(text, "type"),
    })
}

/// `+0200` / `-07:00` in seconds east of UTC.
fn offset_seconds(text: &str) -> Option<i32> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    Some(sign * (hours * 3600 + minutes * 60))
}

/// The value of `key=` at the start of `text` or after a space, without its quotes.
fn value_of<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut search = 0;
    while let Some(found) = text[search..].find(key) {
        let at = search + found;
        search = at + key.len();
        let starts_word = at == 0 || text.as_bytes()[at - 1] == b' ';
        let Some(value) = text[search..].strip_prefix('=') else {
            continue;
        };
        if !starts_word {
            continue;
        }
        return Some(match value.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').map_or(quoted, |(value, _)| value),
            None => value.split_once(' ').map_or(value, |(value, _)| value),
        });
    }
    None
}

/// A PAN-OS CSV body (`1,2012/04/10 04:39:55,001606001116,TRAFFIC,start,...`): its log type.
pub fn palo_alto_type(text: &str) -> Option<&str> {
    // Checked field by field from the start, so other bodies are rejected in a few bytes.
    let future_use = text.bytes().take_while(u8::is_ascii_digit).count();
    let after = text.get(future_use..)?.strip_prefix(',')?;
    let time = after.as_bytes().get(..20)?;
    let looks_like_time =
        time[4] == b'/' && time[7] == b'/' && time[10] == b' ' && time[19] == b',';
    if future_use == 0 || !looks_like_time {
        return None;
    }
    let (_serial, after_serial) = after[20..].split_once(',')?;
    let (log_type, _) = after_serial.split_once(',')?;
    let known_type = !log_type.is_empty()
        && log_type
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_');
    known_type.then_some(log_type)
}

/// Check Point's `[key:"value"; key:"value"]` body.
pub fn is_check_point_body(text: &str) -> bool {
    let Some(body) = text.strip_prefix('[') else {
        return false;
    };
    let key_len = body
        .bytes()
        .take(64)
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .count();
    key_len > 0 && body[key_len..].starts_with(":\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cisco_ids() {
        let (id, rest) = cisco_id("%SYS-5-CONFIG_I: Configured from console").unwrap();
        assert_eq!(
            (id.facility, id.severity, id.mnemonic, rest),
            (
                Some("SYS"),
                Some(5),
                Some("CONFIG_I"),
                "Configured from console"
            )
        );
        let (id, rest) = cisco_id("%PKT_INFRA-LINK-3-UPDOWN : Interface x").unwrap();
        assert_eq!(
            (id.facility, id.severity, id.mnemonic, rest),
            (
                Some("PKT_INFRA-LINK"),
                Some(3),
                Some("UPDOWN"),
                "Interface x"
            )
        );
        let (id, _) = cisco_id("%ASA-6-302013: Built inbound").unwrap();
        assert!(is_cisco_firewall(&id));
        assert_eq!(id.mnemonic, Some("302013"));
        let (id, _) = cisco_id("%ASA-session-5-106100: access-list").unwrap();
        assert!(is_cisco_firewall(&id));
        let (id, _) = cisco_id("%LINK-3-UPDOWN: Interface").unwrap();
        assert!(!is_cisco_firewall(&id));

        assert_eq!(cisco_id("%% It's time"), None);
        assert_eq!(cisco_id("%SYS-9-X: severity out of range"), None);
        assert_eq!(cisco_id("%SYS-5-: no mnemonic"), None);
    }

    #[test]
    fn junos_and_f5_ids() {
        assert_eq!(
            junos_tag("UI_COMMIT: User 'root' requested 'commit'"),
            Some(("UI_COMMIT", "User 'root' requested 'commit'"))
        );
        assert_eq!(junos_tag("ERROR: x"), None);
        assert_eq!(junos_tag("Ui_X: x"), None);
        let (id, rest) = f5_id("01070638:5: Pool /Common/p member down").unwrap();
        assert_eq!(
            (id.mnemonic, id.severity, rest),
            (Some("01070638"), Some(5), "Pool /Common/p member down")
        );
        assert_eq!(f5_id("0107063:5: x"), None);
    }

    #[test]
    fn fortigate_bodies() {
        let header = fortigate(r#"date=2019-05-10 time=11:37:47 logid="0000000013" type="traffic" subtype="forward" devname="FG100D" tz="-0700" srcip=10.1.1.1"#).unwrap();
        assert_eq!(header.devname, Some("FG100D"));
        assert_eq!(header.log_id, Some("0000000013"));
        assert_eq!(header.log_type, Some("traffic"));
        assert_eq!(
            header.event_time_micros,
            Some(
                chrono::DateTime::parse_from_rfc3339("2019-05-10T18:37:47Z")
                    .unwrap()
                    .timestamp_micros()
            )
        );
        assert_eq!(fortigate("date=2019-05-10 no device or log id"), None);
        assert_eq!(value_of("xdate=1 date=2", "date"), Some("2"));
    }

    #[test]
    fn palo_alto_and_check_point_bodies() {
        assert_eq!(
            palo_alto_type("1,2012/04/10 04:39:55,001606001116,TRAFFIC,start,1,2012/04/10"),
            Some("TRAFFIC")
        );
        assert_eq!(palo_alto_type("1,2,3,4,5"), None);
        assert!(is_check_point_body(r#"[action:"Accept"; flags:"1"]"#));
        assert!(!is_check_point_body(r#"[x@1 a="b"]"#));
    }
}
