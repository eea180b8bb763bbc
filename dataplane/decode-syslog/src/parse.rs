use crate::timestamp::{parse_bsd_micros, parse_rfc3339_micros};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rfc5424,
    Rfc3164,
    Unparsed,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
            Format::Unparsed => "unparsed",
        }
    }
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
    pub message: &'a str,
    pub error: Option<&'static str>,
}

impl<'a> ParsedMessage<'a> {
    fn unparsed(text: &'a str, error: &'static str) -> Self {
        ParsedMessage {
            format: Format::Unparsed,
            priority: None,
            event_time_micros: None,
            hostname: None,
            app_name: None,
            procid: None,
            msgid: None,
            structured_data: None,
            message: text,
            error: Some(error),
        }
    }
}

/// Parses one syslog message, detecting RFC 5424 (`<PRI>1 ...`) or RFC 3164 (`<PRI>...`).
/// Never fails: what cannot be parsed is reported in `error` and kept in `message`.
pub fn parse_message(text: &str, receive_time_micros: i64) -> ParsedMessage<'_> {
    let Some((priority, rest)) = split_priority(text) else {
        return ParsedMessage::unparsed(text, "no <PRI> header: not syslog, kept as text");
    };
    if let Some(after_version) = rest.strip_prefix("1 ") {
        parse_rfc5424(priority, after_version, rest)
    } else {
        parse_rfc3164(priority, rest, receive_time_micros)
    }
}

fn split_priority(text: &str) -> Option<(u8, &str)> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'<') {
        return None;
    }
    let digits = bytes[1..]
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || digits > 3 || bytes.get(1 + digits) != Some(&b'>') {
        return None;
    }
    let value: u16 = text[1..1 + digits].parse().ok()?;
    if value > 191 || (digits > 1 && bytes[1] == b'0') {
        return None;
    }
    Some((value as u8, &text[2 + digits..]))
}

/// Splits the next space-terminated token; `None` when there is no space (the header is cut).
fn token<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let (head, tail) = rest.split_once(' ')?;
    *rest = tail;
    Some(head)
}

fn nil(value: &str) -> Option<&str> {
    (value != "-" && !value.is_empty()).then_some(value)
}

fn parse_rfc5424<'a>(priority: u8, after_version: &'a str, whole: &'a str) -> ParsedMessage<'a> {
    let mut parsed = ParsedMessage {
        format: Format::Rfc5424,
        priority: Some(priority),
        event_time_micros: None,
        hostname: None,
        app_name: None,
        procid: None,
        msgid: None,
        structured_data: None,
        message: "",
        error: None,
    };
    let mut rest = after_version;
    let truncated = |parsed: &mut ParsedMessage<'a>, remaining: &'a str| {
        parsed.error = Some("RFC 5424 header is cut short");
        parsed.message = remaining;
    };
    let Some(timestamp) = token(&mut rest) else {
        truncated(&mut parsed, whole);
        return parsed;
    };
    if timestamp != "-" {
        parsed.event_time_micros = parse_rfc3339_micros(timestamp);
        if parsed.event_time_micros.is_none() {
            parsed.error = Some("RFC 5424 TIMESTAMP is not a valid RFC 3339 time");
        }
    }
    let mut header = [None; 4];
    for slot in header.iter_mut() {
        let Some(value) = token(&mut rest) else {
            truncated(&mut parsed, rest);
            return parsed;
        };
        *slot = nil(value);
    }
    [
        parsed.hostname,
        parsed.app_name,
        parsed.procid,
        parsed.msgid,
    ] = header;
    match split_structured_data(rest) {
        Ok((structured_data, message)) => {
            parsed.structured_data = structured_data;
            parsed.message = strip_bom(message);
        }
        Err(error) => {
            parsed.error = Some(error);
            parsed.message = rest;
        }
    }
    parsed
}

fn strip_bom(message: &str) -> &str {
    message.strip_prefix('\u{feff}').unwrap_or(message)
}

/// `-` or one or more `[id param="value" ...]` elements, then an optional ` MSG`. Inside quoted
/// values `\"`, `\\` and `\]` are escapes, so a `]` there does not end the element.
fn split_structured_data(text: &str) -> Result<(Option<&str>, &str), &'static str> {
    if let Some(after_nil) = text.strip_prefix('-') {
        return match after_nil.strip_prefix(' ') {
            Some(message) => Ok((None, message)),
            None if after_nil.is_empty() => Ok((None, "")),
            None => Err("STRUCTURED-DATA must be '-' or '[...]'"),
        };
    }
    if !text.starts_with('[') {
        return Err("STRUCTURED-DATA must be '-' or '[...]'");
    }
    let bytes = text.as_bytes();
    let mut index = 0;
    while bytes.get(index) == Some(&b'[') {
        let mut in_quotes = false;
        index += 1;
        loop {
            match bytes.get(index) {
                None => return Err("STRUCTURED-DATA element is not closed with ']'"),
                Some(b'\\') if in_quotes => index += 2,
                Some(b'"') => {
                    in_quotes = !in_quotes;
                    index += 1;
                }
                Some(b']') if !in_quotes => {
                    index += 1;
                    break;
                }
                Some(_) => index += 1,
            }
        }
    }
    let structured_data = &text[..index];
    match text[index..].strip_prefix(' ') {
        Some(message) => Ok((Some(structured_data), message)),
        None if index == text.len() => Ok((Some(structured_data), "")),
        None => Err("STRUCTURED-DATA must be followed by a space before MSG"),
    }
}

fn parse_rfc3164(priority: u8, rest: &str, receive_time_micros: i64) -> ParsedMessage<'_> {
    let mut parsed = ParsedMessage {
        format: Format::Rfc3164,
        priority: Some(priority),
        event_time_micros: None,
        hostname: None,
        app_name: None,
        procid: None,
        msgid: None,
        structured_data: None,
        message: rest,
        error: None,
    };
    let mut remaining = rest;
    if let Some(micros) = rest
        .get(..15)
        .and_then(|head| parse_bsd_micros(head, receive_time_micros))
    {
        parsed.event_time_micros = Some(micros);
        remaining = rest[15..].strip_prefix(' ').unwrap_or(&rest[15..]);
    } else if let Some((first, tail)) = rest.split_once(' ') {
        // rsyslog and others often send an RFC 3339 time in the BSD format.
        if let Some(micros) = parse_rfc3339_micros(first) {
            parsed.event_time_micros = Some(micros);
            remaining = tail;
        }
    }
    if parsed.event_time_micros.is_some() {
        // After a timestamp comes HOSTNAME, unless the next word is already the TAG.
        if let Some((word, tail)) = remaining.split_once(' ')
            && !word.is_empty()
            && !word.ends_with(':')
            && !word.contains('[')
        {
            parsed.hostname = Some(word);
            remaining = tail;
        }
    }
    let (app_name, procid, message) = split_tag(remaining);
    parsed.app_name = app_name;
    parsed.procid = procid;
    parsed.message = message;
    parsed
}

/// `TAG[PID]: MSG` or `TAG: MSG`; anything else is all message.
fn split_tag(text: &str) -> (Option<&str>, Option<&str>, &str) {
    let end = text
        .bytes()
        .take(64)
        .position(|b| matches!(b, b'[' | b':' | b' '))
        .unwrap_or(text.len());
    let (tag, after_tag) = text.split_at(end);
    if tag.is_empty() {
        return (None, None, text);
    }
    let (procid, after_pid) = match after_tag.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
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
    use chrono::DateTime;

    use super::*;

    fn micros(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_micros()
    }

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
    fn rfc5424_examples_3_and_4_structured_data() {
        let text = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \u{feff}An application event log entry...";
        let parsed = parse_message(text, 0);
        assert_eq!(
            parsed.structured_data,
            Some("[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]")
        );
        assert_eq!(parsed.message, "An application event log entry...");
        let text = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]";
        let parsed = parse_message(text, 0);
        assert_eq!(
            parsed.structured_data,
            Some(
                "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]"
            )
        );
        assert_eq!(parsed.message, "");
        assert_eq!(parsed.error, None);
    }

    #[test]
    fn structured_data_escapes_do_not_end_elements() {
        let text = r#"<14>1 - host app - - [x@1 a="q\"]uote" b="back\\"] tail"#;
        let parsed = parse_message(text, 0);
        assert_eq!(
            parsed.structured_data,
            Some(r#"[x@1 a="q\"]uote" b="back\\"]"#)
        );
        assert_eq!(parsed.message, "tail");
        assert_eq!(parsed.event_time_micros, None);
        let unterminated = parse_message(r#"<14>1 - host app - - [x@1 a="open] tail"#, 0);
        assert!(unterminated.error.is_some());
        assert_eq!(unterminated.format, Format::Rfc5424);
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
    }

    #[test]
    fn malformed_input_is_kept_with_an_error() {
        for text in ["", "<", "<>", "<999>x", "<1000>x", "<01>x", "hello", "<12"] {
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
    fn every_prefix_of_a_valid_message_parses_without_panic() {
        let text = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] \u{feff}An event é";
        for end in (0..=text.len()).filter(|end| text.is_char_boundary(*end)) {
            let _ = parse_message(&text[..end], 0);
        }
        let bsd = "<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed";
        for end in 0..=bsd.len() {
            let _ = parse_message(&bsd[..end], 0);
        }
    }
}
