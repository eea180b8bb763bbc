//! Event times as senders write them: RFC 3339 (RFC 5424's TIMESTAMP), its common relatives
//! (a space for the `T`, no offset), the RFC 3164 `Mmm dd hh:mm:ss` stamp and the variants
//! routers and firewalls put around it (Cisco's `*`/`.` sync markers, milliseconds, a year,
//! a zone name, a closing colon, NX-OS's year first).

/// How a stamp's zone was read; anything but `Given` is reported as a parse warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// An offset, `Z`, or the names UTC/GMT.
    Given,
    /// No zone at all: read as UTC.
    Missing,
    /// A zone name other than UTC/GMT (EST, CET ...): many are ambiguous, so read as UTC.
    NotApplied,
}

/// A stamp at the start of a text: when it says, in UTC microseconds, and how many bytes it
/// took (including a closing `:` routers add).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub micros: i64,
    pub len: usize,
    pub zone: Zone,
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Zone names seen after router stamps (UTC and GMT are applied, the others only recognised
/// so they are not mistaken for a host name), matched in any case.
fn zone_of_upper(name: &[u8]) -> Option<Zone> {
    match name {
        b"UTC" | b"GMT" => Some(Zone::Given),
        b"EST" | b"EDT" | b"CST" | b"CDT" | b"MST" | b"MDT" | b"PST" | b"PDT" | b"AKST"
        | b"AKDT" | b"HST" | b"AST" | b"ADT" | b"NST" | b"CET" | b"CEST" | b"EET" | b"EEST"
        | b"WET" | b"WEST" | b"BST" | b"IST" | b"MSK" | b"JST" | b"KST" | b"AEST" | b"AEDT"
        | b"NZST" | b"NZDT" | b"SGT" | b"HKT" => Some(Zone::NotApplied),
        _ => None,
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor {
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    #[inline]
    fn spaces(&mut self) -> usize {
        let start = self.at;
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
        self.at - start
    }

    /// Between `min` and `max` ASCII digits as a number.
    #[inline]
    fn number(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.at;
        let mut value = 0u32;
        while self.at - start < max {
            match self.peek() {
                Some(digit @ b'0'..=b'9') => {
                    value = value * 10 + u32::from(digit - b'0');
                    self.at += 1;
                }
                _ => break,
            }
        }
        if self.at - start < min {
            self.at = start;
            return None;
        }
        Some(value)
    }

    /// `.digits` or `,digits` as microseconds; digits past the sixth are dropped.
    #[inline]
    fn fraction(&mut self) -> u32 {
        let start = self.at;
        if !(self.eat(b'.') || self.eat(b',')) {
            return 0;
        }
        let mut micros = 0u32;
        let mut digits = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            if digits < 6 {
                micros = micros * 10 + u32::from(digit - b'0');
            }
            digits += 1;
            self.at += 1;
        }
        if digits == 0 {
            self.at = start;
            return 0;
        }
        for _ in digits..6 {
            micros *= 10;
        }
        micros
    }

    #[inline]
    fn time_of_day(&mut self) -> Option<(u32, u32, u32, u32)> {
        let hour = self.number(2, 2)?;
        self.eat(b':').then_some(())?;
        let minute = self.number(2, 2)?;
        self.eat(b':').then_some(())?;
        let second = self.number(2, 2)?;
        Some((hour, minute, second, self.fraction()))
    }

    #[inline]
    fn month(&mut self) -> Option<u32> {
        let word = self.bytes.get(self.at..self.at + 3)?;
        let lower = [
            word[0].to_ascii_lowercase(),
            word[1].to_ascii_lowercase(),
            word[2].to_ascii_lowercase(),
        ];
        let month = MONTHS.iter().position(|m| **m == lower)? as u32 + 1;
        self.at += 3;
        Some(month)
    }

    /// A numeric offset (`Z`, `+hh:mm`, `+hhmm`, `+hh`) in seconds east of UTC.
    fn offset(&mut self) -> Option<i32> {
        if self.eat(b'Z') {
            return Some(0);
        }
        let sign = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return None,
        };
        let start = self.at;
        self.at += 1;
        let Some(hours) = self.number(2, 2) else {
            self.at = start;
            return None;
        };
        self.eat(b':');
        let minutes = self.number(2, 2).unwrap_or(0);
        if hours > 23 || minutes > 59 {
            self.at = start;
            return None;
        }
        Some(sign * (hours as i32 * 3600 + minutes as i32 * 60))
    }

    /// ` NAME` for a known zone name followed by a space, `:` or the end; UTC and GMT may
    /// carry an offset (`UTC+1`, `UTC+07:30`), answered in seconds east of UTC.
    #[inline]
    fn zone_name(&mut self) -> Option<(Zone, i32)> {
        let start = self.at;
        if self.spaces() != 1 {
            self.at = start;
            return None;
        }
        let rest = &self.bytes[self.at..];
        let name_len = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        // A name is followed by its offset, the stamp's `:`, a space or the end: a host such
        // as `web02` is rejected here without a lookup.
        let ends_name = matches!(rest.get(name_len), None | Some(b' ' | b':' | b'+' | b'-'));
        let zone = if ends_name {
            zone_of_letters(&rest[..name_len])
        } else {
            None
        };
        let Some(zone) = zone else {
            self.at = start;
            return None;
        };
        self.at += name_len;
        let offset = match zone {
            Zone::Given => self.short_offset().unwrap_or(0),
            _ => 0,
        };
        if !matches!(self.peek(), None | Some(b' ' | b':')) {
            self.at = start;
            return None;
        }
        Some((zone, offset))
    }

    /// `+1`, `-5`, `+07:30` after a zone name, in seconds east of UTC.
    fn short_offset(&mut self) -> Option<i32> {
        let start = self.at;
        let sign = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return None,
        };
        self.at += 1;
        let Some(hours) = self.number(1, 2).filter(|hours| *hours <= 14) else {
            self.at = start;
            return None;
        };
        let before_minutes = self.at;
        let minutes = match self.eat(b':') {
            true => match self.number(2, 2).filter(|minutes| *minutes <= 59) {
                Some(minutes) => minutes,
                // The `:` that ends a router's stamp, not minutes.
                None => {
                    self.at = before_minutes;
                    0
                }
            },
            false => 0,
        };
        Some(sign * (hours as i32 * 3600 + minutes as i32 * 60))
    }

    /// ` yyyy` after the time (`Apr 15 21:28:13 2007 host`), when the stamp had no year yet.
    #[inline]
    fn trailing_year(&mut self) -> Option<i32> {
        let start = self.at;
        if self.spaces() != 1 {
            self.at = start;
            return None;
        }
        match self.number(4, 4) {
            Some(year @ 1970..=2099) if self.at_word_end() => Some(year as i32),
            _ => {
                self.at = start;
                None
            }
        }
    }

    #[inline]
    fn at_word_end(&self) -> bool {
        matches!(self.peek(), None | Some(b' ' | b'\t'))
    }
}

/// A zone name in any case: UTC and GMT are applied, the others only recognised.
pub fn zone_named(name: &str) -> Option<Zone> {
    zone_of_letters(name.as_bytes())
}

fn zone_of_letters(bytes: &[u8]) -> Option<Zone> {
    if !(3..=4).contains(&bytes.len()) {
        return None;
    }
    let mut upper = [0u8; 4];
    for (to, from) in upper.iter_mut().zip(bytes) {
        *to = from.to_ascii_uppercase();
    }
    zone_of_upper(&upper[..bytes.len()])
}

/// A calendar date that exists (month lengths, leap years), in years 1 to 9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Date {
    year: i32,
    month: u32,
    day: u32,
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn date(year: i32, month: u32, day: u32) -> Option<Date> {
    let days_in_month = match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        _ => return None,
    };
    ((1..=9999).contains(&year) && (1..=days_in_month).contains(&day)).then_some(Date {
        year,
        month,
        day,
    })
}

/// Days since 1970-01-01 (the proleptic Gregorian calendar's civil-day count, shifted so the
/// era starts in March and leap days fall at the end of each year).
fn days_from_civil(date: Date) -> i64 {
    // Years are 1 to 9999 here, so unsigned arithmetic holds and divisions by constants stay
    // cheap (this runs for every message).
    let year = date.year as u32 - u32::from(date.month <= 2);
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_from_march = (date.month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + date.day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    i64::from(era) * 146_097 + i64::from(day_of_era) - 719_468
}

/// The calendar year of a UTC time given in microseconds since 1970. Messages arrive with
/// receive times on the same day, so each thread keeps the last day's answer.
fn year_of(micros: i64) -> i32 {
    thread_local! {
        static LAST_DAY: std::cell::Cell<(i64, i32)> = const { std::cell::Cell::new((i64::MIN, 0)) };
    }
    let day = micros.div_euclid(MICROS_PER_DAY);
    let (cached_day, cached_year) = LAST_DAY.get();
    if cached_day == day {
        return cached_year;
    }
    let year = year_of_day(day);
    LAST_DAY.set((day, year));
    year
}

fn year_of_day(day: i64) -> i32 {
    let days = day + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let year = year_of_era + era * 400 + i64::from(month_from_march >= 10);
    year.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

fn utc_micros(date: Date, (hour, minute, second, micros): (u32, u32, u32, u32)) -> Option<i64> {
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // RFC 3339 allows a leap second; it is read as the second before.
    let second = second.min(59);
    let seconds = days_from_civil(date) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(seconds * 1_000_000 + i64::from(micros))
}

fn two_digits(bytes: &[u8], at: usize) -> Option<u32> {
    match (bytes.get(at)?, bytes.get(at + 1)?) {
        (tens @ b'0'..=b'9', ones @ b'0'..=b'9') => {
            Some(u32::from(tens - b'0') * 10 + u32::from(ones - b'0'))
        }
        _ => None,
    }
}

/// RFC 3339 and its relatives at the start of `text`: `YYYY-MM-DD`, then `T` or one space,
/// then `hh:mm:ss[.frac]`, then an optional offset. The stamp must end the word.
pub fn leading_iso_stamp(text: &str) -> Option<Stamp> {
    // The fixed part is read by position: it is every RFC 5424 message's first field.
    let bytes = text.as_bytes();
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let year = two_digits(bytes, 0)? * 100 + two_digits(bytes, 2)?;
    let date = date(year as i32, two_digits(bytes, 5)?, two_digits(bytes, 8)?)?;
    let (hour, minute, second) = (
        two_digits(bytes, 11)?,
        two_digits(bytes, 14)?,
        two_digits(bytes, 17)?,
    );
    let mut cursor = Cursor { bytes, at: 19 };
    let time = (hour, minute, second, cursor.fraction());
    let (offset, zone) = match cursor.offset() {
        Some(offset) => (offset, Zone::Given),
        None => match cursor.zone_name() {
            Some((zone, offset)) => (offset, zone),
            None => (0, Zone::Missing),
        },
    };
    if !cursor.at_word_end() && cursor.peek() != Some(b':') {
        return None;
    }
    let micros = utc_micros(date, time)? - i64::from(offset) * 1_000_000;
    Some(Stamp {
        micros,
        len: cursor.at,
        zone,
    })
}

/// The RFC 3164 stamp and router variants at the start of `text`:
/// `[*.]Mmm d[d] [yyyy ]hh:mm:ss[.frac][ ZONE][:]` and NX-OS's `yyyy Mmm d[d] hh:mm:ss...`.
/// Months are read in any case. Without a year the stamp is put in the year closest to the
/// receive time, so a December message received in January lands in the previous year.
pub fn leading_bsd_stamp(text: &str, receive_time_micros: i64) -> Option<Stamp> {
    let mut cursor = Cursor::new(text);
    // Cisco marks a stamp taken before the clock was synchronised with `*` and one taken
    // after it was lost with `.`.
    if !cursor.eat(b'*') {
        cursor.eat(b'.');
    }
    let mut year = None;
    if let Some(leading_year) = cursor.number(4, 4) {
        cursor.spaces().ge(&1).then_some(())?;
        year = Some(leading_year as i32);
    }
    let month = cursor.month()?;
    cursor.spaces().ge(&1).then_some(())?;
    let day = cursor.number(1, 2)?;
    cursor.spaces().ge(&1).then_some(())?;
    if year.is_none() {
        let before_year = cursor.at;
        match cursor.number(4, 4) {
            Some(found) if cursor.spaces() >= 1 => year = Some(found as i32),
            _ => cursor.at = before_year,
        }
    }
    let time = cursor.time_of_day()?;
    if year.is_none() {
        year = cursor.trailing_year();
    }
    let (zone, offset) = cursor.zone_name().unwrap_or((Zone::Missing, 0));
    cursor.eat(b':');
    if !cursor.at_word_end() {
        return None;
    }
    let local = match year {
        Some(year) => utc_micros(date(year, month, day)?, time)?,
        None => nearest_year(month, day, time, receive_time_micros)?,
    };
    let micros = local - i64::from(offset) * 1_000_000;
    Some(Stamp {
        micros,
        len: cursor.at,
        // A stamp without a year is RFC 3164's own form: its zone is not a repair to report.
        zone: if zone == Zone::Missing {
            Zone::Given
        } else {
            zone
        },
    })
}

fn nearest_year(
    month: u32,
    day: u32,
    time: (u32, u32, u32, u32),
    receive_time_micros: i64,
) -> Option<i64> {
    let received_year = year_of(receive_time_micros);
    let same_year = date(received_year, month, day).and_then(|date| utc_micros(date, time));
    // Within half a year of the receive time, the receive year is the closest one: the
    // others are at least half a year further. Nearly every message takes this path.
    if let Some(micros) = same_year
        && (micros - receive_time_micros).abs() < 182 * MICROS_PER_DAY
    {
        return Some(micros);
    }
    [received_year, received_year - 1, received_year + 1]
        .into_iter()
        .filter_map(|year| utc_micros(date(year, month, day)?, time))
        .min_by_key(|micros| (micros - receive_time_micros).abs())
        // Reject what cannot be a clock error: more than a year away from the receive time.
        .filter(|micros| (micros - receive_time_micros).abs() < 366 * MICROS_PER_DAY)
}

/// The spaces, and a ` : ` or `:` routers put, between a time and what follows it.
pub fn skip_separator(text: &str) -> &str {
    let text = text.trim_start_matches(' ');
    let text = text.strip_prefix(':').unwrap_or(text);
    text.trim_start_matches(' ')
}

/// Any stamp form this crate reads, at the start of `text`.
pub fn leading_stamp(text: &str, receive_time_micros: i64) -> Option<Stamp> {
    match text.as_bytes().get(4) {
        Some(b'-') => leading_iso_stamp(text),
        _ => leading_bsd_stamp(text, receive_time_micros),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::micros;

    fn stamp(text: &str, received: &str) -> Option<(i64, usize, Zone)> {
        leading_stamp(text, micros(received)).map(|s| (s.micros, s.len, s.zone))
    }

    const RECEIVED: &str = "2026-06-01T00:00:00Z";

    #[test]
    fn rfc3339_with_fractions_and_offsets() {
        let cases = [
            ("2003-10-11T22:14:15.003Z", "2003-10-11T22:14:15.003Z"),
            (
                "2003-08-24T05:14:15.000003-07:00",
                "2003-08-24T12:14:15.000003Z",
            ),
            (
                "2003-08-24T05:14:15.123456789Z",
                "2003-08-24T05:14:15.123456Z",
            ),
            ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59Z"),
            ("2003-08-24T05:14:15+0200", "2003-08-24T03:14:15Z"),
        ];
        for (text, expected) in cases {
            assert_eq!(
                stamp(text, RECEIVED),
                Some((micros(expected), text.len(), Zone::Given)),
                "{text}"
            );
        }
        assert_eq!(stamp("2003-08-24T05:14:15.003Zjunk", RECEIVED), None);
        assert_eq!(stamp("2003-02-30T05:14:15Z", RECEIVED), None);
        assert_eq!(stamp("-", RECEIVED), None);
    }

    #[test]
    fn iso_without_a_zone_is_utc_and_says_so() {
        assert_eq!(
            stamp("2018-03-21 17:25:25 MDS-72", RECEIVED),
            Some((micros("2018-03-21T17:25:25Z"), 19, Zone::Missing))
        );
        assert_eq!(
            stamp("2018-03-21T17:25:25 host", RECEIVED),
            Some((micros("2018-03-21T17:25:25Z"), 19, Zone::Missing))
        );
    }

    #[test]
    fn router_stamps() {
        let cases = [
            (
                "Oct 11 22:14:15 host",
                "2026-10-11T22:14:15Z",
                15,
                Zone::Given,
            ),
            (
                "AUG 10 22:18:24 host",
                "2026-08-10T22:18:24Z",
                15,
                Zone::Given,
            ),
            ("Mar  1 18:46:11 x", "2026-03-01T18:46:11Z", 15, Zone::Given),
            ("Mar 1 18:46:11 x", "2026-03-01T18:46:11Z", 14, Zone::Given),
            (
                "*Apr 29 13:58:40.411: %SYS",
                "2026-04-29T13:58:40.411Z",
                21,
                Zone::Given,
            ),
            (
                ".Apr 29 13:58:40.411 UTC: %SYS",
                "2026-04-29T13:58:40.411Z",
                25,
                Zone::Given,
            ),
            (
                "Mar 06 2016 12:53:10 DEV",
                "2016-03-06T12:53:10Z",
                20,
                Zone::Given,
            ),
            (
                "2017 Mar 1 10:00:00 UTC: %ETH",
                "2017-03-01T10:00:00Z",
                24,
                Zone::Given,
            ),
            (
                "Mar 1 10:00:00.123 PST: x",
                "2026-03-01T10:00:00.123Z",
                23,
                Zone::NotApplied,
            ),
            (
                "May 21 12:00:01.123 gmt: %IOSXE",
                "2026-05-21T12:00:01.123Z",
                24,
                Zone::Given,
            ),
            (
                "Apr 15 21:28:13 2007 linksys",
                "2007-04-15T21:28:13Z",
                20,
                Zone::Given,
            ),
            (
                "May 6 16:13:09.123 UTC+1: %X",
                "2026-05-06T15:13:09.123Z",
                25,
                Zone::Given,
            ),
            (
                "May 6 16:13:09.123 UTC+07:30: %X",
                "2026-05-06T08:43:09.123Z",
                29,
                Zone::Given,
            ),
        ];
        for (text, expected, len, zone) in cases {
            assert_eq!(
                stamp(text, RECEIVED),
                Some((micros(expected), len, zone)),
                "{text}"
            );
        }
        assert_eq!(stamp("Xyz 11 22:14:15", RECEIVED), None);
        assert_eq!(stamp("Oct 11 22:14", RECEIVED), None);
        assert_eq!(stamp("Feb 30 22:14:15", RECEIVED), None);
        assert_eq!(stamp("Oct 11 22:14:15x", RECEIVED), None);
    }

    #[test]
    fn calendar_arithmetic_agrees_with_chrono() {
        use chrono::{Datelike, NaiveDate};
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let mut day = NaiveDate::from_ymd_opt(1600, 1, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(2500, 12, 31).unwrap();
        while day <= end {
            let ours = date(day.year(), day.month(), day.day()).unwrap();
            let days = (day - epoch).num_days();
            assert_eq!(days_from_civil(ours), days, "{day}");
            assert_eq!(year_of(days * MICROS_PER_DAY + 1), day.year(), "{day}");
            assert_eq!(
                year_of(days * MICROS_PER_DAY - 1),
                (day - chrono::Days::new(1)).year()
            );
            day = day + chrono::Days::new(1);
        }
        assert_eq!(date(2023, 2, 29), None);
        assert_eq!(date(2024, 2, 29).map(|d| d.day), Some(29));
        assert_eq!(date(1900, 2, 29), None);
        assert_eq!(date(2026, 13, 1), None);
        assert_eq!(date(2026, 4, 31), None);
    }

    #[test]
    fn bsd_year_follows_the_receive_time_across_new_year() {
        assert_eq!(
            stamp("Dec 31 23:59:58", "2027-01-01T00:00:05Z").map(|s| s.0),
            Some(micros("2026-12-31T23:59:58Z"))
        );
        assert_eq!(
            stamp("Jan  1 00:00:01", "2026-12-31T23:59:59Z").map(|s| s.0),
            Some(micros("2027-01-01T00:00:01Z"))
        );
    }
}
