//! The probes stamp records with the boot clock (CLOCK_BOOTTIME, which keeps counting through
//! suspend); records carry wall-clock times. The offset between the two is read once and again
//! whenever the wall clock is stepped (NTP), so it is measured, not assumed.

use chrono::{DateTime, Utc};
use rustix::time::{ClockId, clock_gettime};

#[derive(Debug, Clone, Copy)]
pub struct BootClock {
    /// Wall-clock nanoseconds since the epoch at boot-clock zero.
    offset_ns: i128,
}

impl BootClock {
    pub fn now() -> BootClock {
        let boot = boot_ns();
        let wall = Utc::now().timestamp_nanos_opt().map_or(0, i128::from);
        BootClock {
            offset_ns: wall - i128::from(boot),
        }
    }

    /// The wall-clock time of a boot-clock stamp.
    pub fn wall(&self, boot_ns: u64) -> DateTime<Utc> {
        let nanos = self.offset_ns + i128::from(boot_ns);
        let nanos = i64::try_from(nanos).unwrap_or(i64::MAX);
        DateTime::from_timestamp_nanos(nanos)
    }
}

/// The boot clock now, as the probes read it.
pub fn boot_ns() -> u64 {
    let now = clock_gettime(ClockId::Boottime);
    u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(now.tv_nsec).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_taken_now_is_now_on_the_wall_clock() {
        let clock = BootClock::now();
        let wall = clock.wall(boot_ns());
        let drift = (Utc::now() - wall).num_milliseconds().abs();
        assert!(drift < 1_000, "{drift} ms");
    }
}
