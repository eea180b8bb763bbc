use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};

/// One UTC hour: the unit of Parquet partitioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HourPartition {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
}

impl HourPartition {
    pub fn from_unix_micros(micros: i64) -> Option<HourPartition> {
        let time = DateTime::<Utc>::from_timestamp_micros(micros)?;
        Some(HourPartition {
            year: time.year(),
            month: time.month(),
            day: time.day(),
            hour: time.hour(),
        })
    }

    pub fn start(&self) -> Option<DateTime<Utc>> {
        let date = NaiveDate::from_ymd_opt(self.year, self.month, self.day)?;
        Some(Utc.from_utc_datetime(&date.and_hms_opt(self.hour, 0, 0)?))
    }

    /// `year=YYYY/month=MM/day=DD/hour=HH`, the Hive-style segment query engines prune on.
    pub fn path_segment(&self) -> String {
        format!(
            "year={:04}/month={:02}/day={:02}/hour={:02}",
            self.year, self.month, self.day, self.hour
        )
    }

    /// Parses the four segments produced by [`HourPartition::path_segment`].
    pub fn parse_path_segments(segments: &[&str]) -> Option<HourPartition> {
        let [year, month, day, hour] = segments else {
            return None;
        };
        let partition = HourPartition {
            year: year.strip_prefix("year=")?.parse().ok()?,
            month: month.strip_prefix("month=")?.parse().ok()?,
            day: day.strip_prefix("day=")?.parse().ok()?,
            hour: hour.strip_prefix("hour=")?.parse().ok()?,
        };
        partition.start()?;
        Some(partition)
    }
}

impl fmt::Display for HourPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}",
            self.year, self.month, self.day, self.hour
        )
    }
}
