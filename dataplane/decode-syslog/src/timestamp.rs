use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// An RFC 3339 timestamp (RFC 5424 TIMESTAMP) as UTC microseconds; fractions beyond
/// microseconds are truncated.
pub fn parse_rfc3339_micros(text: &str) -> Option<i64> {
    if text.len() < 20 || !text.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc).timestamp_micros())
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The RFC 3164 `Mmm dd hh:mm:ss` timestamp at the start of `text` (exactly 15 bytes). It has
/// no year or zone: it is read as UTC in the year that puts it closest to the receive time, so
/// a December message received in January lands in the previous year.
pub fn parse_bsd_micros(text: &str, receive_time_micros: i64) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 15
        || bytes[3] != b' '
        || bytes[6] != b' '
        || bytes[9] != b':'
        || bytes[12] != b':'
    {
        return None;
    }
    let month = MONTHS.iter().position(|m| m.as_bytes() == &bytes[0..3])? as u32 + 1;
    let day = match (bytes[4], bytes[5]) {
        (b' ', d) if d.is_ascii_digit() => u32::from(d - b'0'),
        (t, d) if t.is_ascii_digit() && d.is_ascii_digit() => {
            u32::from(t - b'0') * 10 + u32::from(d - b'0')
        }
        _ => return None,
    };
    let two = |at: usize| -> Option<u32> {
        let (t, d) = (bytes[at], bytes[at + 1]);
        (t.is_ascii_digit() && d.is_ascii_digit())
            .then(|| u32::from(t - b'0') * 10 + u32::from(d - b'0'))
    };
    let (hour, minute, second) = (two(7)?, two(10)?, two(13)?);
    let received_year = DateTime::<Utc>::from_timestamp_micros(receive_time_micros)?.year();
    [received_year, received_year - 1, received_year + 1]
        .into_iter()
        .filter_map(|year| {
            let time =
                NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
            Some(Utc.from_utc_datetime(&time).timestamp_micros())
        })
        .min_by_key(|micros| (micros - receive_time_micros).abs())
        // Reject what cannot be a clock error: more than a year away from the receive time.
        .filter(|micros| (micros - receive_time_micros).abs() < 366 * MICROS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn rfc3339_with_fractions_and_offsets() {
        assert_eq!(
            parse_rfc3339_micros("2003-10-11T22:14:15.003Z"),
            Some(micros("2003-10-11T22:14:15.003Z"))
        );
        assert_eq!(
            parse_rfc3339_micros("2003-08-24T05:14:15.000003-07:00"),
            Some(micros("2003-08-24T12:14:15.000003Z"))
        );
        assert_eq!(
            parse_rfc3339_micros("2003-08-24T05:14:15.123456789Z"),
            Some(micros("2003-08-24T05:14:15.123456Z"))
        );
        assert_eq!(parse_rfc3339_micros("2003-08-24T05:14:15"), None);
        assert_eq!(parse_rfc3339_micros("-"), None);
    }

    #[test]
    fn bsd_year_follows_the_receive_time_across_new_year() {
        let received = micros("2027-01-01T00:00:05Z");
        assert_eq!(
            parse_bsd_micros("Dec 31 23:59:58", received),
            Some(micros("2026-12-31T23:59:58Z"))
        );
        let received = micros("2026-12-31T23:59:59Z");
        assert_eq!(
            parse_bsd_micros("Jan  1 00:00:01", received),
            Some(micros("2027-01-01T00:00:01Z"))
        );
        assert_eq!(
            parse_bsd_micros("Oct 11 22:14:15", micros("2026-10-11T22:14:16Z")),
            Some(micros("2026-10-11T22:14:15Z"))
        );
        assert_eq!(parse_bsd_micros("Feb 30 22:14:15", received), None);
        assert_eq!(parse_bsd_micros("Xyz 11 22:14:15", received), None);
        assert_eq!(parse_bsd_micros("Oct 11 22:14", received), None);
    }
}
