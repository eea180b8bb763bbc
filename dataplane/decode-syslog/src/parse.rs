use crate::legacy::parse_legacy;
use crate::rfc5424::parse_rfc5424;
use crate::timestamp::leading_iso_stamp;

/// How a message was parsed: the standard grammar it followed, the vendor variant of RFC 3164
/// it was recognised as, or `Unparsed` when it was not syslog at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rfc5424,
    Rfc3164,
    Cisco,
    CiscoAsa,
    Junos,
    F5,
    FortiGate,
    CheckPoint,
    PaloAlto,
    Unparsed,
}

impl Format {
    pub const ALL: [Format; 10] = [
        Format::Rfc5424,
        Format::Rfc3164,
        Format::Cisco,
        Format::CiscoAsa,
        Format::Junos,
        Format::F5,
        Format::FortiGate,
        Format::CheckPoint,
        Format::PaloAlto,
        Format::Unparsed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
            Format::Cisco => "cisco",
            Format::CiscoAsa => "cisco_asa",
            Format::Junos => "junos",
            Format::F5 => "f5",
            Format::FortiGate => "fortigate",
            Format::CheckPoint => "checkpoint",
            Format::PaloAlto => "paloalto",
            Format::Unparsed => "unparsed",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What was repaired or left out while parsing a message that was still read: each one is a
/// sentence in the row's `parse_warning`, so bad senders can be found with one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Warnings(u8);

impl Warnings {
    pub const NO_PRIORITY: Warnings = Warnings(1);
    pub const TIME_WITHOUT_ZONE: Warnings = Warnings(1 << 1);
    pub const ZONE_NOT_APPLIED: Warnings = Warnings(1 << 2);
    pub const NO_TIME: Warnings = Warnings(1 << 3);
    pub const NOT_VERSION_1: Warnings = Warnings(1 << 4);
    pub const HEADER_FIELD_OUT_OF_RANGE: Warnings = Warnings(1 << 5);

    const SENTENCES: [(Warnings, &'static str); 6] = [
        (
            Warnings::NO_PRIORITY,
            "no <PRI>: priority 13 (user.notice) assumed as RFC 3164 4.3.3 says",
        ),
        (
            Warnings::TIME_WITHOUT_ZONE,
            "timestamp has no UTC offset: read as UTC",
        ),
        (
            Warnings::ZONE_NOT_APPLIED,
            "timestamp names a zone other than UTC/GMT: read as UTC",
        ),
        (
            Warnings::NO_TIME,
            "no timestamp recognised: event_time left empty",
        ),
        (
            Warnings::NOT_VERSION_1,
            "VERSION is not 1, so not RFC 5424: header fields read by its grammar",
        ),
        (
            Warnings::HEADER_FIELD_OUT_OF_RANGE,
            "an RFC 5424 header field is longer than its limit or not printable ASCII",
        ),
    ];

    pub fn add(&mut self, warning: Warnings) {
        self.0 |= warning.0;
    }

    pub fn remove(&mut self, warning: Warnings) {
        self.0 &= !warning.0;
    }

    pub fn contains(self, warning: Warnings) -> bool {
        self.0 & warning.0 == warning.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The sentences of every warning present, joined by `; `.
    pub fn describe(self, out: &mut String) {
        for (warning, sentence) in Self::SENTENCES {
            if self.contains(warning) {
                if !out.is_empty() {
                    out.push_str("; ");
                }
                out.push_str(sentence);
            }
        }
    }
}

/// A vendor's own message id: Cisco's `%FACILITY-SEVERITY-MNEMONIC`, an ASA/FTD message
/// number, a Junos tag, an F5 message id, a FortiGate log id, a Palo Alto log type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VendorId<'a> {
    pub facility: Option<&'a str>,
    pub severity: Option<u8>,
    pub mnemonic: Option<&'a str>,
}

/// One message split into its parts, borrowing from the input text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMessage<'a> {
    pub format: Format,
    pub priority: Option<u8>,
    pub event_time_micros: Option<i64>,
    pub hostname: Option<&'a str>,
    pub app_name: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    pub structured_data: Option<&'a str>,
    pub vendor: VendorId<'a>,
    pub message: &'a str,
    /// Why the message, or part of it, could not be parsed; its text stays in `message`.
    pub error: Option<&'static str>,
    pub warnings: Warnings,
}

impl<'a> ParsedMessage<'a> {
    pub(crate) fn new(format: Format, priority: Option<u8>, message: &'a str) -> Self {
        ParsedMessage {
            format,
            priority,
            event_time_micros: None,
            hostname: None,
            app_name: None,
            procid: None,
            msgid: None,
            structured_data: None,
            vendor: VendorId::default(),
            message,
            error: None,
            warnings: Warnings::default(),
        }
    }

    pub(crate) fn unparsed(text: &'a str, error: &'static str) -> Self {
        ParsedMessage {
            error: Some(error),
            ..ParsedMessage::new(Format::Unparsed, None, text)
        }
    }
}

/// Parses one syslog message: RFC 5424 (`<PRI>1 ...`), or RFC 3164 and the variants real
/// senders use. Never fails: what cannot be parsed is reported in `error` and kept in
/// `message`; what was repaired is reported in `warnings`.
pub fn parse_message(text: &str, receive_time_micros: i64) -> ParsedMessage<'_> {
    match split_priority(text) {
        Priority::Valid(priority, rest) => {
            if let Some(after_version) = rest.strip_prefix("1 ") {
                return parse_rfc5424(priority, after_version, rest);
            }
            if let Some(after_version) = other_version(rest) {
                // The header is read by RFC 5424's grammar (VERSION is 1 to 999 there), but
                // only version 1 is defined, so the row does not claim to be RFC 5424.
                let mut parsed = parse_rfc5424(priority, after_version, rest);
                if parsed.format == Format::Rfc5424 {
                    parsed.format = Format::Rfc3164;
                }
                parsed.warnings.add(Warnings::NOT_VERSION_1);
                return parsed;
            }
            parse_legacy(Some(priority), rest, receive_time_micros)
        }
        Priority::Missing => parse_legacy(None, text, receive_time_micros),
        Priority::Malformed => {
            ParsedMessage::unparsed(text, "<PRI> is not a number from 0 to 191: kept as text")
        }
    }
}

enum Priority<'a> {
    Valid(u8, &'a str),
    Missing,
    Malformed,
}

fn split_priority(text: &str) -> Priority<'_> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'<') {
        return Priority::Missing;
    }
    let digits = bytes[1..]
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || digits > 3 || bytes.get(1 + digits) != Some(&b'>') {
        return Priority::Malformed;
    }
    let Ok(value) = text[1..1 + digits].parse::<u16>() else {
        return Priority::Malformed;
    };
    if value > 191 || (digits > 1 && bytes[1] == b'0') {
        return Priority::Malformed;
    }
    Priority::Valid(value as u8, &text[2 + digits..])
}

/// `N ` with N from 2 to 999, then an RFC 3339 time or `-`: a VERSION RFC 5424 does not define.
fn other_version(rest: &str) -> Option<&str> {
    let (version, after) = rest.split_once(' ')?;
    let is_version = (1..=3).contains(&version.len())
        && version.bytes().all(|b| b.is_ascii_digit())
        && !version.starts_with('0')
        && version != "1";
    (is_version && (after.starts_with("- ") || leading_iso_stamp(after).is_some())).then_some(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::micros;

    const RECEIVED_2003: &str = "2003-10-11T22:14:20Z";

    #[test]
    fn rfc5424_example_1_no_structured_data() {
        let text = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8";
        let parsed = parse_message(text, 0);
        assert_eq!(parsed.format, Format::Rfc5424);
        assert_eq!(parsed.priority, Some(34));
        assert_eq!(
            parsed.event_time_micros,
            Some(micros("2003-10-11T22:14:15.003Z"))
        );
        assert_eq!(parsed.hostname, Some("mymachine.example.com"));
        assert_eq!(parsed.app_name, Some("su"));
        assert_eq!(parsed.procid, None);
        assert_eq!(parsed.msgid, Some("ID47"));
        assert_eq!(parsed.structured_data, None);
        assert_eq!(parsed.message, "'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(parsed.error, None);
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn rfc5424_example_2_offset_and_nil_msgid() {
        let text = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.";
        let parsed = parse_message(text, 0);
        assert_eq!(
            parsed.event_time_micros,
            Some(micros("2003-08-24T12:14:15.000003Z"))
        );
        assert_eq!(parsed.hostname, Some("192.0.2.1"));
        assert_eq!(parsed.procid, Some("8710"));
        assert_eq!(parsed.msgid, None);
        assert_eq!(parsed.message, "%% It's time to make the do-nuts.");
    }

    #[test]
    fn rfc3164_examples() {
        let received = micros(RECEIVED_2003);
        let parsed = parse_message(
            "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
            received,
        );
        assert_eq!(parsed.format, Format::Rfc3164);
        assert_eq!(parsed.priority, Some(34));
        assert_eq!(
            parsed.event_time_micros,
            Some(micros("2003-10-11T22:14:15Z"))
        );
        assert_eq!(parsed.hostname, Some("mymachine"));
        assert_eq!(parsed.app_name, Some("su"));
        assert_eq!(parsed.message, "'su root' failed for lonvick on /dev/pts/8");
        assert!(parsed.warnings.is_empty());

        let parsed = parse_message(
            "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
            micros("2003-02-05T18:00:00Z"),
        );
        assert_eq!(parsed.hostname, Some("10.0.0.99"));
        assert_eq!(parsed.app_name, None);
        assert_eq!(parsed.message, "Use the BFG!");

        let parsed = parse_message(
            "<0>Oct 22 10:52:12 scapegoat 1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
            received,
        );
        assert_eq!(parsed.hostname, Some("scapegoat"));
        assert_eq!(parsed.priority, Some(0));
        assert_eq!(parsed.app_name, None);

        let parsed = parse_message(
            "<38>Oct  9 22:33:20 web02 sshd[812]: Accepted publickey",
            received,
        );
        assert_eq!(parsed.hostname, Some("web02"));
        assert_eq!(
            (parsed.app_name, parsed.procid),
            (Some("sshd"), Some("812"))
        );
        assert_eq!(parsed.message, "Accepted publickey");

        let parsed = parse_message(
            "<30>2024-05-01T10:00:00.5+02:00 host1 kernel: oops",
            received,
        );
        assert_eq!(
            parsed.event_time_micros,
            Some(micros("2024-05-01T08:00:00.5Z"))
        );
        assert_eq!(
            (parsed.hostname, parsed.app_name),
            (Some("host1"), Some("kernel"))
        );

        let parsed = parse_message("<30>no timestamp here", received);
        assert_eq!(parsed.format, Format::Rfc3164);
        assert_eq!(parsed.event_time_micros, None);
        assert_eq!(parsed.message, "no timestamp here");
        assert!(parsed.warnings.contains(Warnings::NO_TIME));
    }

    #[test]
    fn malformed_input_is_kept_with_an_error() {
        for text in [
            "",
            "<",
            "<>",
            "<999>x",
            "<1000>x",
            "<01>x",
            "hello",
            "<12",
            "{\"a\":1}",
        ] {
            let parsed = parse_message(text, 0);
            assert_eq!(parsed.format, Format::Unparsed, "{text:?}");
            assert_eq!(parsed.message, text);
            assert!(parsed.error.is_some());
        }
        let parsed = parse_message("<13>1 garbage", 0);
        assert_eq!(parsed.format, Format::Rfc5424);
        assert!(parsed.error.is_some());
        let parsed = parse_message("<13>1 2003-10-11T22:14:15Z host", 0);
        assert!(parsed.error.is_some());
    }

    #[test]
    fn a_line_without_priority_but_with_a_time_is_rfc3164_at_priority_13() {
        let received = micros("2026-10-11T22:14:20Z");
        let parsed = parse_message("Oct 11 22:14:15 web02 sshd[812]: Accepted", received);
        assert_eq!(parsed.format, Format::Rfc3164);
        assert_eq!(parsed.priority, Some(13));
        assert_eq!(parsed.hostname, Some("web02"));
        assert_eq!(parsed.app_name, Some("sshd"));
        assert!(parsed.warnings.contains(Warnings::NO_PRIORITY));
        let mut described = String::new();
        parsed.warnings.describe(&mut described);
        assert!(described.contains("priority 13"), "{described}");
    }

    #[test]
    fn a_version_other_than_1_is_not_rfc5424() {
        let parsed = parse_message(
            "<34>2 2003-10-11T22:14:15.003Z mymachine su - - - hello",
            micros(RECEIVED_2003),
        );
        assert_eq!(parsed.format, Format::Rfc3164);
        assert!(parsed.warnings.contains(Warnings::NOT_VERSION_1));
        assert_eq!(parsed.hostname, Some("mymachine"));
        assert_eq!(parsed.app_name, Some("su"));
        assert_eq!(parsed.message, "hello");
    }

    #[test]
    fn the_benchmarks_lines_parse_cleanly() {
        let received = 1_795_000_000_000_000;
        let lines = [
            "<134>1 2026-11-24T22:14:15.003Z fw01.example.net filterlog 4242 ID47 [meta seq=\"1\"] action=deny",
            "<38>Nov 24 22:14:15 web02 sshd[812]: action=allow source_ip=10.0.1.1 user=alice",
        ];
        for line in lines {
            let parsed = parse_message(line, received);
            assert!(parsed.warnings.is_empty(), "{line}: {:?}", parsed.warnings);
            assert_eq!(parsed.error, None, "{line}");
        }
    }

    #[test]
    fn every_prefix_of_a_valid_message_parses_without_panic() {
        let texts = [
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] \u{feff}An event é",
            "<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed",
            "<189>29: foo: *Apr 29 13:58:40.411 UTC: %SYS-5-CONFIG_I: Configured",
            "<166>Mar 06 2016 12:53:10 DEVICENAME : %ASA-6-302013: Built",
            "<189>123: RP/0/RSP0/CPU0:Mar  1 10:00:00.123 UTC: ifmgr[123]: %PKT_INFRA-LINK-3-UPDOWN : x",
            "<189>date=2019-05-10 time=11:37:47 devname=\"FG\" logid=\"0000000013\" type=\"traffic\"",
            "<133>Feb 13 10:11:12 bigip1 notice mcpd[5678]: 01070638:5: Pool",
        ];
        for text in texts {
            for end in (0..=text.len()).filter(|end| text.is_char_boundary(*end)) {
                let _ = parse_message(&text[..end], 0);
            }
        }
    }
}
