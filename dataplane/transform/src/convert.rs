//! Value conversions behind the `convert` and `date_parse` filters.

use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// What `convert` turns a column into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Int,
    Float,
    Bool,
    Text,
    Timestamp,
    Ip,
}

impl Target {
    pub fn parse(name: &str) -> Option<Target> {
        Some(match name {
            "int" => Target::Int,
            "float" => Target::Float,
            "bool" => Target::Bool,
            "string" => Target::Text,
            "timestamp" => Target::Timestamp,
            "ip" => Target::Ip,
            _ => return None,
        })
    }
}

/// Converts a column; values that do not convert become null.
pub fn convert(column: &ArrayRef, target: Target) -> Result<ArrayRef, ArrowError> {
    match target {
        Target::Int => cast(column, &DataType::Int64),
        Target::Float => cast(column, &DataType::Float64),
        Target::Bool => cast(column, &DataType::Boolean),
        Target::Text => cast(column, &DataType::Utf8),
        Target::Timestamp => Ok(Arc::new(parse_times(
            &text(column)?,
            &TimeFormat::Rfc3339,
            &Zone::Utc,
        ))),
        Target::Ip => {
            let text = text(column)?;
            let normalized: StringArray = text
                .iter()
                .map(|value| {
                    value
                        .and_then(|v| v.trim().parse::<IpAddr>().ok())
                        .map(|ip| ip.to_string())
                })
                .collect();
            Ok(Arc::new(normalized))
        }
    }
}

fn text(column: &ArrayRef) -> Result<StringArray, ArrowError> {
    let text = cast(column, &DataType::Utf8)?;
    text.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| ArrowError::CastError("expected text".into()))
}

#[derive(Debug, Clone)]
pub enum TimeFormat {
    Rfc3339,
    /// strftime-style, e.g. `%d/%b/%Y:%H:%M:%S %z`; without a zone in the text, `Zone` applies.
    Pattern(String),
    UnixSeconds,
    UnixMillis,
}

#[derive(Debug, Clone)]
pub enum Zone {
    Utc,
    Named(Tz),
}

impl Zone {
    pub fn parse(name: &str) -> Option<Zone> {
        if name.eq_ignore_ascii_case("utc") {
            return Some(Zone::Utc);
        }
        name.parse::<Tz>().ok().map(Zone::Named)
    }
}

/// Parses text into UTC microsecond timestamps; unparsable text becomes null.
pub fn parse_times(
    values: &StringArray,
    format: &TimeFormat,
    zone: &Zone,
) -> TimestampMicrosecondArray {
    let parsed: TimestampMicrosecondArray = values
        .iter()
        .map(|value| value.and_then(|v| parse_time(v.trim(), format, zone)))
        .collect();
    parsed.with_timezone("UTC")
}

fn parse_time(text: &str, format: &TimeFormat, zone: &Zone) -> Option<i64> {
    match format {
        TimeFormat::Rfc3339 => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc).timestamp_micros()),
        TimeFormat::UnixSeconds => text.parse::<f64>().ok().map(|s| (s * 1e6) as i64),
        TimeFormat::UnixMillis => text.parse::<f64>().ok().map(|ms| (ms * 1e3) as i64),
        TimeFormat::Pattern(pattern) => {
            if let Ok(with_zone) = DateTime::parse_from_str(text, pattern) {
                return Some(with_zone.with_timezone(&Utc).timestamp_micros());
            }
            let local = NaiveDateTime::parse_from_str(text, pattern).ok()?;
            match zone {
                Zone::Utc => Some(Utc.from_utc_datetime(&local).timestamp_micros()),
                Zone::Named(tz) => tz
                    .from_local_datetime(&local)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc).timestamp_micros()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::Int64Type;

    use super::*;

    fn micros(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn conversions_turn_bad_values_into_nulls() {
        let column: ArrayRef = Arc::new(StringArray::from(vec![Some("42"), Some("x"), None]));
        let ints = convert(&column, Target::Int).unwrap();
        let ints = ints.as_primitive::<Int64Type>();
        assert_eq!(
            (ints.value(0), ints.is_null(1), ints.is_null(2)),
            (42, true, true)
        );
        let ips: ArrayRef = Arc::new(StringArray::from(vec![" 10.0.0.1 ", "2001:DB8::1", "nope"]));
        let ips = convert(&ips, Target::Ip).unwrap();
        let ips = ips.as_string::<i32>();
        assert_eq!(
            (ips.value(0), ips.value(1), ips.is_null(2)),
            ("10.0.0.1", "2001:db8::1", true)
        );
        let numbers: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        assert_eq!(
            convert(&numbers, Target::Text)
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "1"
        );
    }

    #[test]
    fn times_parse_with_formats_and_zones() {
        let values = StringArray::from(vec![
            Some("24/Nov/2026:10:00:00 +0200"),
            Some("garbage"),
            None,
        ]);
        let parsed = parse_times(
            &values,
            &TimeFormat::Pattern("%d/%b/%Y:%H:%M:%S %z".into()),
            &Zone::Utc,
        );
        assert_eq!(parsed.value(0), micros("2026-11-24T08:00:00Z"));
        assert!(parsed.is_null(1) && parsed.is_null(2));
        let local = StringArray::from(vec!["2026-07-01 12:00:00"]);
        let zone = Zone::parse("Europe/Paris").unwrap();
        let parsed = parse_times(
            &local,
            &TimeFormat::Pattern("%Y-%m-%d %H:%M:%S".into()),
            &zone,
        );
        assert_eq!(parsed.value(0), micros("2026-07-01T10:00:00Z"));
        let unix = parse_times(
            &StringArray::from(vec!["1795000000.5"]),
            &TimeFormat::UnixSeconds,
            &Zone::Utc,
        );
        assert_eq!(unix.value(0), 1_795_000_000_500_000);
        assert!(Zone::parse("Mars/Olympus").is_none());
    }
}
