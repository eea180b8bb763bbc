//! Times written as RFC 3339 text, for the tests of every parser module.

/// `text` (RFC 3339) as UTC microseconds since 1970.
pub fn micros(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("a test's time is RFC 3339")
        .timestamp_micros()
}
