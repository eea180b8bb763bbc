//! A posted body split into events for the `events/1` batch: JSON (one object, an array of
//! objects, or objects one after another as NDJSON or pretty-printed) or text lines. The body
//! is checked here, at the edge, so a sender hears at once which line is wrong (400) and piper
//! never meets an event it cannot read; the keys become columns in piper.

use std::net::IpAddr;

use bytefreezer_api::HttpBodyFormat;
use bytefreezer_schema::EventsEdgeBuilder;
use serde::de::IgnoredAny;

/// Why a body was refused. Lines, values and elements count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body holds no events")]
    Empty,
    #[error("line {line} is not valid UTF-8")]
    NotUtf8 { line: usize },
    #[error("invalid JSON at line {line} column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "the JSON value starting at line {line} is not an object (each event is a JSON object)"
    )]
    NotAnObject { line: usize },
    #[error("array element {element} is not a JSON object (each event is a JSON object)")]
    ElementNotObject { element: usize },
}

/// What a body held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Text,
}

/// Appends the body's events to `builder`, all or none: on an error nothing was appended
/// (events are checked before the first is appended).
pub fn split_events(
    body: &[u8],
    format: HttpBodyFormat,
    receive_time_micros: i64,
    sender: Option<IpAddr>,
    builder: &mut EventsEdgeBuilder,
) -> Result<(BodyKind, usize), BodyError> {
    let text = std::str::from_utf8(body).map_err(|error| BodyError::NotUtf8 {
        line: line_of(body, error.valid_up_to()),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.trim_start().as_bytes().first().copied();
    let kind = match format {
        HttpBodyFormat::Json => BodyKind::Json,
        HttpBodyFormat::Text => BodyKind::Text,
        HttpBodyFormat::Auto if matches!(first, Some(b'{' | b'[')) => BodyKind::Json,
        HttpBodyFormat::Auto => BodyKind::Text,
    };
    let events = match kind {
        BodyKind::Json => json_events(text)?,
        BodyKind::Text => text_lines(text),
    };
    if events.is_empty() {
        return Err(BodyError::Empty);
    }
    for event in &events {
        match kind {
            BodyKind::Json => builder.append_json(event, receive_time_micros, sender),
            BodyKind::Text => builder.append_text(event, receive_time_micros, sender),
        }
    }
    Ok((kind, events.len()))
}

/// Every non-blank line, without its line break (`\n` or `\r\n`).
fn text_lines(text: &str) -> Vec<&str> {
    text.split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.trim().is_empty())
        .collect()
}

/// The objects of a JSON body, each as its exact text.
fn json_events(text: &str) -> Result<Vec<&str>, BodyError> {
    let trimmed = text.trim_start();
    let offset = text.len() - trimmed.len();
    if trimmed.starts_with('[') {
        let value_end = check_json(text)?;
        if !text[value_end..].trim().is_empty() {
            return Err(json_error_at(text, value_end, "text after the array"));
        }
        let elements = array_elements(&text[offset..value_end]);
        for (index, element) in elements.iter().enumerate() {
            if !element.starts_with('{') {
                return Err(BodyError::ElementNotObject { element: index + 1 });
            }
        }
        return Ok(elements);
    }
    // One object, or several one after another (NDJSON, or pretty-printed objects).
    let mut events = Vec::new();
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<IgnoredAny>();
    let mut start = 0;
    while let Some(value) = values.next() {
        value.map_err(|error| json_error(&error))?;
        let end = values.byte_offset();
        let event = text[start..end].trim_start();
        if !event.starts_with('{') {
            return Err(BodyError::NotAnObject {
                line: line_of(text.as_bytes(), end - event.len()),
            });
        }
        events.push(event);
        start = end;
    }
    Ok(events)
}

/// Checks `text` starts with one whole JSON value; the offset where it ends.
fn check_json(text: &str) -> Result<usize, BodyError> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => Ok(values.byte_offset()),
        Some(Err(error)) => Err(json_error(&error)),
        None => Err(BodyError::Empty),
    }
}

/// The top-level elements of a JSON array known to be valid, each trimmed.
fn array_elements(array: &str) -> Vec<&str> {
    let bytes = array.as_bytes();
    let mut elements = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut start = 1;
    for (index, &byte) in bytes.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    push_element(&mut elements, &array[start..index]);
                }
            }
            b',' if depth == 1 => {
                push_element(&mut elements, &array[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    elements
}

fn push_element<'a>(elements: &mut Vec<&'a str>, element: &'a str) {
    let element = element.trim();
    if !element.is_empty() {
        elements.push(element);
    }
}

fn json_error(error: &serde_json::Error) -> BodyError {
    BodyError::Json {
        line: error.line(),
        column: error.column(),
        message: error.to_string(),
    }
}

fn json_error_at(text: &str, offset: usize, message: &str) -> BodyError {
    let line = line_of(text.as_bytes(), offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    BodyError::Json {
        line,
        column: offset - line_start + 1,
        message: message.to_owned(),
    }
}

/// The line (from 1) holding byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use bytefreezer_schema::{EVENTS_EDGE_JSON, EVENTS_EDGE_TEXT};
    use proptest::prelude::*;

    use super::*;

    fn split(body: &str, format: HttpBodyFormat) -> Result<Vec<String>, BodyError> {
        let mut builder = EventsEdgeBuilder::default();
        let (kind, count) = split_events(body.as_bytes(), format, 1, None, &mut builder)?;
        let batch = builder.flush().unwrap();
        assert_eq!(batch.num_rows(), count);
        let column = match kind {
            BodyKind::Json => EVENTS_EDGE_JSON,
            BodyKind::Text => EVENTS_EDGE_TEXT,
        };
        let values = batch.column_by_name(column).unwrap().as_string::<i32>();
        assert_eq!(values.null_count(), 0);
        Ok(values.iter().map(|v| v.unwrap().to_owned()).collect())
    }

    #[test]
    fn every_json_shape_gives_one_event_per_object() {
        let auto = HttpBodyFormat::Auto;
        assert_eq!(split(r#"{"a":1}"#, auto).unwrap(), [r#"{"a":1}"#]);
        assert_eq!(
            split(
                " [ {\"a\":[1,{\"b\":\"],}\"}]} ,\n{\"c\":\"\\\"\"} ]\n",
                auto
            )
            .unwrap(),
            [r#"{"a":[1,{"b":"],}"}]}"#, r#"{"c":"\""}"#]
        );
        assert_eq!(
            split("{\"a\":1}\r\n\n{\"b\":2}\n", auto).unwrap(),
            [r#"{"a":1}"#, r#"{"b":2}"#]
        );
        assert_eq!(
            split("{\n  \"pretty\": {\n    \"x\": 1\n  }\n}\n", auto).unwrap(),
            ["{\n  \"pretty\": {\n    \"x\": 1\n  }\n}"]
        );
        assert_eq!(split("[]", auto), Err(BodyError::Empty));
        assert_eq!(split(" \n ", HttpBodyFormat::Json), Err(BodyError::Empty));
    }

    #[test]
    fn bad_json_names_its_line() {
        let auto = HttpBodyFormat::Auto;
        match split("{\"a\":1}\n{\"b\":\n", auto) {
            Err(BodyError::Json { line: 3, .. }) => {}
            other => panic!("{other:?}"),
        }
        match split("{\"a\":1}\n{oops}\n", auto) {
            Err(BodyError::Json { line: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(
            split("{\"a\":1}\n42\n", auto),
            Err(BodyError::NotAnObject { line: 2 })
        );
        assert_eq!(
            split("[{\"a\":1}, 2]", auto),
            Err(BodyError::ElementNotObject { element: 2 })
        );
        assert!(matches!(
            split("[{\"a\":1}] {\"b\":2}", auto),
            Err(BodyError::Json { line: 1, .. })
        ));
        assert_eq!(
            split_events(
                b"ok\n\xff\n",
                auto,
                0,
                None,
                &mut EventsEdgeBuilder::default()
            ),
            Err(BodyError::NotUtf8 { line: 2 })
        );
    }

    #[test]
    fn text_lines_drop_line_breaks_and_blank_lines() {
        assert_eq!(
            split("first\r\n\n  \nsecond line\nthird", HttpBodyFormat::Auto).unwrap(),
            ["first", "second line", "third"]
        );
        // Declared text: a line that looks like JSON stays text.
        assert_eq!(
            split("{\"a\":1}\n", HttpBodyFormat::Text).unwrap(),
            ["{\"a\":1}"]
        );
        assert!(matches!(
            split("not json", HttpBodyFormat::Json),
            Err(BodyError::Json { .. })
        ));
    }

    #[test]
    fn a_refused_body_appends_nothing() {
        let mut builder = EventsEdgeBuilder::default();
        split_events(
            b"{\"a\":1}\n7\n",
            HttpBodyFormat::Auto,
            0,
            None,
            &mut builder,
        )
        .unwrap_err();
        assert_eq!(builder.rows(), 0);
    }

    fn json_object() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[ -~\\n\\t\"\\\\\\[\\]{},:é]{0,12}".prop_map(serde_json::Value::from),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z\\[\\]{},\"]{1,5}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map("[a-z\\[\\]{},\"]{1,5}", value, 0..4)
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
    }

    proptest! {
        /// Whatever arrays and NDJSON of objects hold, each object comes back exactly.
        #[test]
        fn objects_round_trip_as_arrays_and_lines(objects in prop::collection::vec(json_object(), 1..6), pretty in any::<bool>()) {
            let texts: Vec<String> = objects
                .iter()
                .map(|o| if pretty { serde_json::to_string_pretty(o).unwrap() } else { o.to_string() })
                .collect();
            let array = format!("[{}]", texts.join(" , "));
            prop_assert_eq!(split(&array, HttpBodyFormat::Auto).unwrap(), texts.clone());
            let lines = texts.join("\n");
            prop_assert_eq!(split(&lines, HttpBodyFormat::Json).unwrap(), texts);
        }

        /// Arbitrary bytes never panic, and a refused body appends nothing.
        #[test]
        fn arbitrary_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
            for format in [HttpBodyFormat::Auto, HttpBodyFormat::Json, HttpBodyFormat::Text] {
                let mut builder = EventsEdgeBuilder::default();
                match split_events(&body, format, 0, None, &mut builder) {
                    Ok((_, count)) => prop_assert_eq!(builder.rows(), count),
                    Err(_) => prop_assert_eq!(builder.rows(), 0),
                }
            }
        }
    }
}
