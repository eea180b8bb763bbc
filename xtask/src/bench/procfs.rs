//! What the kernel knows about a collector, read the same way for ours and every peer: a UDP
//! port's receive queue and drop counter (`/proc/net/udp`, `/proc/net/udp6`), CPU time and
//! peak resident memory of a process tree (`/proc/PID/stat`, `/proc/PID/status`).

use std::collections::BTreeSet;
use std::process::Command;

use super::sys;

/// Every socket bound to one local UDP port, summed (SO_REUSEPORT workers open several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub sockets: u32,
    /// Bytes waiting in the receive queues (skb truesize, not payload).
    pub rx_queue: u64,
    /// Datagrams the kernel dropped because a receive queue was full.
    pub drops: u64,
}

pub fn udp_port(port: u16) -> PortStats {
    let mut stats = PortStats::default();
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            if let Some((queue, drops)) = parse_udp_line(line, port) {
                stats.sockets += 1;
                stats.rx_queue += queue;
                stats.drops += drops;
            }
        }
    }
    stats
}

/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
/// ref pointer drops`, addresses as HEX_IP:HEX_PORT.
fn parse_udp_line(line: &str, port: u16) -> Option<(u64, u64)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local_port = fields.get(1)?.rsplit(':').next()?;
    if u16::from_str_radix(local_port, 16).ok()? != port {
        return None;
    }
    let rx_queue = fields.get(4)?.split(':').nth(1)?;
    let rx_queue = u64::from_str_radix(rx_queue, 16).ok()?;
    let drops = fields.get(12)?.parse().ok()?;
    Some((rx_queue, drops))
}

/// The receive buffer (`skmem rb`) the kernel gave the sockets on a port, from `ss`.
pub fn receive_buffer(port: u16) -> Option<u64> {
    let output = Command::new("ss")
        .args(["-uamnH", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let start = text.find("skmem:(")? + "skmem:(".len();
    text[start..]
        .split([',', ')'])
        .find_map(|field| field.strip_prefix("rb")?.parse().ok())
}

/// A process and every descendant alive now (pmacct forks its plugins).
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(parent) = stat_fields(pid).and_then(|f| f.get(1)?.parse::<u32>().ok()) {
                parents.push((pid, parent));
            }
        }
    }
    let mut tree = BTreeSet::from([root]);
    loop {
        let before = tree.len();
        for (pid, parent) in &parents {
            if tree.contains(parent) {
                tree.insert(*pid);
            }
        }
        if tree.len() == before {
            return tree.into_iter().collect();
        }
    }
}

/// The fields of `/proc/PID/stat` after the command name (state is index 0, ppid 1).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &text[text.rfind(')')? + 1..];
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

/// User plus system CPU seconds of the processes (all their threads, live and exited).
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| {
            let fields = stat_fields(*pid)?;
            // utime and stime are fields 14 and 15 of stat, 11 and 12 after the name.
            let user: u64 = fields.get(11)?.parse().ok()?;
            let system: u64 = fields.get(12)?.parse().ok()?;
            Some(user + system)
        })
        .sum();
    ticks as f64 / sys::clock_ticks_per_second()
}

/// Peak resident set (VmHWM) summed over the processes, in bytes.
pub fn peak_rss(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .sum()
}

pub fn is_alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|fields| fields.first().is_some_and(|state| state != "Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_queue_and_drops_of_the_port() {
        let line = "  123: 0100007F:3C8B 00000000:0000 07 00000000:00001F40 00:00000000 00000000     0        0 40312 2 0000000000000000 17";
        assert_eq!(parse_udp_line(line, 0x3C8B), Some((0x1F40, 17)));
        assert_eq!(parse_udp_line(line, 514), None);
    }
}
