//! RFC 5424, strict where the standard is: the header's fields and their limits (section 6),
//! STRUCTURED-DATA by its ABNF, and only the repairs a row can say it needed (a time without
//! an offset is read as UTC and flagged; a space for the `T`, as Check Point writes, is read).

use crate::parse::{Format, ParsedMessage, Warnings};
use crate::timestamp::{Zone, leading_iso_stamp};
use crate::vendor;

/// The SD-ID prefix of every Junos structured message (2636: Juniper's enterprise number).
const JUNOS_SD: &str = "[junos@2636";

pub fn parse_rfc5424<'a>(
    priority: u8,
    after_version: &'a str,
    whole: &'a str,
) -> ParsedMessage<'a> {
    let mut parsed = ParsedMessage::new(Format::Rfc5424, Some(priority), "");
    let mut rest = after_version;
    if let Some(after_nil) = rest.strip_prefix("- ") {
        rest = after_nil;
    } else {
        match leading_iso_stamp(rest) {
            Some(stamp) if rest.as_bytes().get(stamp.len) == Some(&b' ') => {
                parsed.event_time_micros = Some(stamp.micros);
                match stamp.zone {
                    Zone::Given => {}
                    Zone::Missing => parsed.warnings.add(Warnings::TIME_WITHOUT_ZONE),
                    Zone::NotApplied => parsed.warnings.add(Warnings::ZONE_NOT_APPLIED),
                }
                rest = &rest[stamp.len + 1..];
            }
            _ => {
                if token(&mut rest).is_none() {
                    return cut_short(parsed, whole);
                }
                parsed.error = Some("RFC 5424 TIMESTAMP is not a valid RFC 3339 time");
            }
        }
    }
    let mut header = [None; 4];
    for (slot, limit) in header.iter_mut().zip(FIELD_LIMITS) {
        let Some((value, printable)) = header_field(&mut rest) else {
            return cut_short(parsed, rest);
        };
        if value.len() > limit || !printable {
            parsed.warnings.add(Warnings::HEADER_FIELD_OUT_OF_RANGE);
        }
        *slot = nil(value);
    }
    [
        parsed.hostname,
        parsed.app_name,
        parsed.procid,
        parsed.msgid,
    ] = header;
    if vendor::is_check_point_body(rest) {
        // Check Point writes its fields as `[key:"value"; ...]` where STRUCTURED-DATA goes.
        parsed.format = Format::CheckPoint;
        parsed.message = rest;
        return parsed;
    }
    match split_structured_data(rest) {
        Ok((structured_data, message, long_names)) => {
            if long_names {
                parsed.warnings.add(Warnings::HEADER_FIELD_OUT_OF_RANGE);
            }
            parsed.structured_data = structured_data;
            parsed.message = strip_bom(message);
            if structured_data.is_some_and(|data| data.starts_with(JUNOS_SD)) {
                parsed.vendor.mnemonic = parsed.msgid;
            } else if let Some((id, text)) = vendor::cisco_id(parsed.message) {
                parsed.vendor = id;
                parsed.message = text;
            }
        }
        Err(error) => {
            parsed.error = Some(error);
            parsed.message = rest;
        }
    }
    parsed
}

/// HOSTNAME, APP-NAME, PROCID and MSGID limits (RFC 5424 section 6).
const FIELD_LIMITS: [usize; 4] = [255, 48, 128, 32];
const SD_NAME_LIMIT: usize = 32;

fn cut_short<'a>(mut parsed: ParsedMessage<'a>, remaining: &'a str) -> ParsedMessage<'a> {
    parsed.error = Some("RFC 5424 header is cut short");
    parsed.message = remaining;
    parsed
}

/// Splits the next space-terminated token; `None` when there is no space (the header is cut).
fn token<'a>(rest: &mut &'a str) -> Option<&'a str> {
    // Header fields are short: a plain scan beats a general search's setup.
    let end = rest.bytes().position(|b| b == b' ')?;
    let head = &rest[..end];
    *rest = &rest[end + 1..];
    Some(head)
}

/// The next header field and whether it is all PRINTUSASCII, in one pass over its bytes.
fn header_field<'a>(rest: &mut &'a str) -> Option<(&'a str, bool)> {
    let mut printable = true;
    let end = rest.bytes().position(|b| {
        printable &= b.is_ascii_graphic() || b == b' ';
        b == b' '
    })?;
    let field = &rest[..end];
    *rest = &rest[end + 1..];
    Some((field, printable))
}

fn nil(value: &str) -> Option<&str> {
    (value != "-" && !value.is_empty()).then_some(value)
}

fn strip_bom(message: &str) -> &str {
    message.strip_prefix('\u{feff}').unwrap_or(message)
}

/// SD-NAME: printable ASCII except `=`, space, `]` and `"`. Answers its length (0: none).
fn sd_name_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|b| b.is_ascii_graphic() && !matches!(b, b'=' | b']' | b'"'))
        .count()
}

const BAD_ELEMENT: &str = "STRUCTURED-DATA element breaks the RFC 5424 grammar";

/// `-` or one or more `[SD-ID *(SP PARAM-NAME="PARAM-VALUE")]` elements, then an optional
/// ` MSG`. Inside values `\"`, `\\` and `\]` are escapes, so a `]` there does not end the
/// element. Answers the data, the message, and whether a name was longer than 32 characters.
fn split_structured_data(text: &str) -> Result<(Option<&str>, &str, bool), &'static str> {
    if let Some(after_nil) = text.strip_prefix('-') {
        return match after_nil.strip_prefix(' ') {
            Some(message) => Ok((None, message, false)),
            None if after_nil.is_empty() => Ok((None, "", false)),
            None => Err("STRUCTURED-DATA must be '-' or '[...]'"),
        };
    }
    if !text.starts_with('[') {
        return Err("STRUCTURED-DATA must be '-' or '[...]'");
    }
    let bytes = text.as_bytes();
    let mut index = 0;
    let mut long_names = false;
    while bytes.get(index) == Some(&b'[') {
        index += 1;
        let id_len = sd_name_len(&bytes[index..]);
        if id_len == 0 {
            return Err(BAD_ELEMENT);
        }
        long_names |= id_len > SD_NAME_LIMIT;
        index += id_len;
        loop {
            match bytes.get(index) {
                None => return Err("STRUCTURED-DATA element is not closed with ']'"),
                Some(b']') => {
                    index += 1;
                    break;
                }
                Some(b' ') => {
                    index += 1;
                    let name_len = sd_name_len(&bytes[index..]);
                    long_names |= name_len > SD_NAME_LIMIT;
                    index += name_len;
                    if name_len == 0 || bytes.get(index..index + 2) != Some(b"=\"") {
                        return Err(BAD_ELEMENT);
                    }
                    index = closing_quote(bytes, index + 2)? + 1;
                }
                Some(_) => return Err(BAD_ELEMENT),
            }
        }
    }
    let structured_data = &text[..index];
    match text[index..].strip_prefix(' ') {
        Some(message) => Ok((Some(structured_data), message, long_names)),
        None if index == text.len() => Ok((Some(structured_data), "", long_names)),
        None => Err("STRUCTURED-DATA must be followed by a space before MSG"),
    }
}

/// The index of the `"` that closes a PARAM-VALUE starting at `start`, skipping escapes.
/// RFC 5424 6.3.3: `"`, `\\` and `]` must be escaped in a value, so a bare `]` is an error.
fn closing_quote(bytes: &[u8], start: usize) -> Result<usize, &'static str> {
    let mut index = start;
    loop {
        match bytes.get(index) {
            None => return Err("STRUCTURED-DATA element is not closed with ']'"),
            Some(b'\\') => index += 2,
            Some(b'"') => return Ok(index),
            Some(b']') => return Err("STRUCTURED-DATA value has an unescaped ']'"),
            Some(_) => index += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::parse_message;
    use crate::test_time::micros;

    use super::*;

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
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn structured_data_escapes_do_not_end_elements() {
        let text = r#"<14>1 - host app - - [x@1 a="q\"\]uote" b="back\\"] tail"#;
        let parsed = parse_message(text, 0);
        assert_eq!(
            parsed.structured_data,
            Some(r#"[x@1 a="q\"\]uote" b="back\\"]"#)
        );
        assert_eq!(parsed.message, "tail");
        assert_eq!(parsed.event_time_micros, None);
        let unterminated = parse_message(r#"<14>1 - host app - - [x@1 a="open] tail"#, 0);
        assert!(unterminated.error.is_some());
        assert_eq!(unterminated.format, Format::Rfc5424);
    }

    #[test]
    fn structured_data_that_breaks_the_grammar_is_an_error_not_a_normal_row() {
        for text in [
            r#"<14>1 - host app - - [x@1 a=unquoted] msg"#,
            r#"<14>1 - host app - - [ x@1] msg"#,
            r#"<14>1 - host app - - [x@1 ="v"] msg"#,
            r#"<14>1 - host app - - [x@1 a="v"]msg"#,
            r#"<14>1 - host app - - [x@1 a="v"  b="w"] msg"#,
            r#"<14>1 - host app - - [] msg"#,
            r#"<14>1 - host app - - [x@1 a="un]escaped"] msg"#,
        ] {
            let parsed = parse_message(text, 0);
            assert_eq!(parsed.format, Format::Rfc5424, "{text}");
            assert!(parsed.error.is_some(), "{text}");
            assert_eq!(parsed.structured_data, None, "{text}");
        }
    }

    #[test]
    fn header_fields_past_their_limits_are_flagged() {
        let long_app = "a".repeat(49);
        let text = format!("<14>1 - host {long_app} - - - msg");
        let parsed = parse_message(&text, 0);
        assert_eq!(parsed.app_name, Some(long_app.as_str()));
        assert!(
            parsed
                .warnings
                .contains(Warnings::HEADER_FIELD_OUT_OF_RANGE)
        );
        let parsed = parse_message("<14>1 - host app - ID47 - msg", 0);
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn a_time_without_offset_is_utc_and_flagged() {
        let parsed = parse_message("<14>1 2026-03-21T17:25:25 host app - - - msg", 0);
        assert_eq!(
            parsed.event_time_micros,
            Some(micros("2026-03-21T17:25:25Z"))
        );
        assert!(parsed.warnings.contains(Warnings::TIME_WITHOUT_ZONE));
        assert_eq!(parsed.hostname, Some("host"));
        assert_eq!(parsed.error, None);
    }

    #[test]
    fn check_point_fields_in_place_of_structured_data() {
        let text = r#"<134>1 2018-03-21 17:25:25 MDS-72 CheckPoint 13752 - [action:"Update"; flags:"150784"; ifdir:"inbound"; origin:"192.168.32.91"]"#;
        let parsed = parse_message(text, 0);
        assert_eq!(parsed.format, Format::CheckPoint);
        assert_eq!(
            parsed.event_time_micros,
            Some(micros("2018-03-21T17:25:25Z"))
        );
        assert_eq!(parsed.hostname, Some("MDS-72"));
        assert_eq!(parsed.app_name, Some("CheckPoint"));
        assert_eq!(parsed.procid, Some("13752"));
        assert!(parsed.message.starts_with("[action:\"Update\";"));
        assert!(parsed.warnings.contains(Warnings::TIME_WITHOUT_ZONE));
        assert_eq!(parsed.error, None);
    }

    #[test]
    fn junos_tags_come_from_msgid() {
        let text = r#"<14>1 2010-09-24T17:03:21.123Z srx RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.40 source-address="10.0.0.1"] session created"#;
        let parsed = parse_message(text, 0);
        assert_eq!(parsed.format, Format::Rfc5424);
        assert_eq!(parsed.vendor.mnemonic, Some("RT_FLOW_SESSION_CREATE"));
        assert_eq!(parsed.message, "session created");
    }
}
