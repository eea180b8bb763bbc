use std::path::Path;
use std::time::Instant;

/// Linux reports process CPU times in USER_HZ, which is 100 on every architecture it supports.
const USER_HZ: f64 = 100.0;

/// CPU, memory and disk of this process and host, read from `/proc` and `statvfs`. Values
/// that cannot be read are 0 rather than errors: a report must go out even on odd hosts.
pub struct SystemSampler {
    started: Instant,
    /// When and at which process CPU time the previous sample (or the sampler) was taken.
    previous: (Instant, f64),
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SystemSample {
    /// Share of one core since the previous sample, in percent.
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub disk_free_bytes: u64,
    pub disk_total_bytes: u64,
    pub uptime_secs: u64,
}

impl Default for SystemSampler {
    fn default() -> Self {
        let now = Instant::now();
        SystemSampler {
            started: now,
            previous: (now, process_cpu_seconds().unwrap_or(0.0)),
        }
    }
}

impl SystemSampler {
    /// Samples now; `disk` is the folder whose filesystem is reported (the data folder).
    pub fn sample(&mut self, disk: &Path) -> SystemSample {
        let now = Instant::now();
        let cpu_seconds = process_cpu_seconds().unwrap_or(0.0);
        let (since, before) = self.previous;
        let elapsed = now.duration_since(since).as_secs_f64();
        let cpu_percent = if elapsed > 0.0 {
            ((cpu_seconds - before) / elapsed * 100.0).max(0.0)
        } else {
            0.0
        };
        self.previous = (now, cpu_seconds);
        let (disk_free_bytes, disk_total_bytes) = disk_space(disk).unwrap_or((0, 0));
        SystemSample {
            cpu_percent,
            memory_bytes: resident_bytes().unwrap_or(0),
            disk_free_bytes,
            disk_total_bytes,
            uptime_secs: self.started.elapsed().as_secs(),
        }
    }
}

fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces and parentheses; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn disk_space(path: &Path) -> Option<(u64, u64)> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let stat = rustix::fs::statvfs(existing).ok()?;
    Some((
        stat.f_bavail.saturating_mul(stat.f_frsize),
        stat.f_blocks.saturating_mul(stat.f_frsize),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process_and_its_disk() {
        let mut sampler = SystemSampler::default();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let sample = sampler.sample(Path::new("/tmp/does/not/exist"));
        assert!(sample.memory_bytes > 1 << 20, "{sample:?}");
        assert!(
            sample.cpu_percent <= 100.0 * 64.0,
            "CPU is measured from the sampler's start, not the process's: {sample:?}"
        );
        assert!(sample.disk_total_bytes >= sample.disk_free_bytes && sample.disk_total_bytes > 0);
        assert!(process_cpu_seconds().is_some());
    }
}
