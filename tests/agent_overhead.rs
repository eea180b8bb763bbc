//! `cargo xtask bench agent`: what the eBPF agent costs a loaded host. A loopback load
//! generator opens, uses and closes TCP connections as fast as one client thread can, with and
//! without `bytefreezer agent` running, interleaved and repeated; the table gives connections
//! per second both ways (the host's throughput loss), the agent's own CPU (user space, from
//! /proc) per 10k connections, and the probes' kernel time per event (the kernel's BPF
//! statistics, `kernel.bpf_stats_enabled`). Ignored in `cargo xtask test`: it needs root and
//! quiet cores, and times things.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROUND: Duration = Duration::from_secs(5);
const REPEATS: usize = 3;
/// Bytes each connection moves each way.
const PAYLOAD: usize = 1024;
const PROBES: [&str; 4] = ["tcp_state", "process_exec", "process_exit", "packets"];

/// One round of the load: connections per second completed.
fn load_round(duration: Duration) -> f64 {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = server.local_addr().unwrap();
    let stop_at = Instant::now() + duration;
    let serve = std::thread::spawn(move || {
        let mut buffer = [0u8; PAYLOAD];
        for peer in server.incoming() {
            let Ok(mut peer) = peer else { break };
            if peer.read_exact(&mut buffer).is_err() {
                break;
            }
            let _ = peer.write_all(&buffer);
            if buffer[0] == 0xff {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut connections = 0u64;
    let payload = [1u8; PAYLOAD];
    let mut answer = [0u8; PAYLOAD];
    while Instant::now() < stop_at {
        let mut client = TcpStream::connect(address).unwrap();
        client.write_all(&payload).unwrap();
        client.read_exact(&mut answer).unwrap();
        connections += 1;
    }
    let elapsed = started.elapsed();
    let mut last = TcpStream::connect(address).unwrap();
    last.write_all(&[0xffu8; PAYLOAD]).unwrap();
    let _ = last.read_exact(&mut answer);
    serve.join().unwrap();
    connections as f64 / elapsed.as_secs_f64()
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The probes' (run count, run time in ns) summed, from the kernel's BPF statistics.
fn probe_stats() -> (u64, u64) {
    let output = Command::new("bpftool")
        .args(["prog", "show", "--json"])
        .output()
        .expect("bpftool (Debian package bpftool) reads the probes' statistics");
    let programs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut total = (0, 0);
    for program in programs.as_array().unwrap() {
        if PROBES.contains(&program["name"].as_str().unwrap_or_default()) {
            total.0 += program["run_cnt"].as_u64().unwrap_or(0);
            total.1 += program["run_time_ns"].as_u64().unwrap_or(0);
        }
    }
    total
}

struct Agent {
    child: Child,
}

impl Agent {
    fn start(proxy: std::net::SocketAddr) -> Agent {
        let child = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args(["agent", "--metrics-listen", "none", "--proxy"])
            .arg(format!("udp://{proxy}"))
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Attached once the probes' programs are listed.
        let deadline = Instant::now() + Duration::from_secs(30);
        while probe_stats() == (0, 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(500));
        Agent { child }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn spread(values: &[f64]) -> String {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{low:.0}–{high:.0}")
}

#[test]
#[ignore = "a benchmark: cargo xtask bench agent (root, quiet cores)"]
fn agent_overhead() {
    assert!(
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0")),
        "the agent benchmark loads eBPF probes: run it as root"
    );
    let stats_before =
        std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").unwrap_or_default();
    std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1")
        .expect("kernel.bpf_stats_enabled can be set");
    // The agent's records go to a socket nobody reads: the proxy's cost is not the agent's.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let proxy = sink.local_addr().unwrap();

    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut agent_cpu_per_10k = Vec::new();
    let mut kernel_ns_per_event = Vec::new();
    let mut events_per_connection = Vec::new();
    load_round(Duration::from_secs(1));
    for _ in 0..REPEATS {
        without.push(load_round(ROUND));
        let agent = Agent::start(proxy);
        let pid = agent.child.id();
        let (runs_before, ns_before) = probe_stats();
        let cpu_before = cpu_seconds(pid);
        let rate = load_round(ROUND);
        // The last records are read and sent within the agent's 200 ms send interval.
        std::thread::sleep(Duration::from_millis(300));
        let cpu = cpu_seconds(pid) - cpu_before;
        let (runs_after, ns_after) = probe_stats();
        drop(agent);
        let connections = rate * ROUND.as_secs_f64();
        let runs = (runs_after - runs_before) as f64;
        with.push(rate);
        agent_cpu_per_10k.push(cpu / connections * 10_000.0);
        kernel_ns_per_event.push((ns_after - ns_before) as f64 / runs.max(1.0));
        events_per_connection.push(runs / connections);
    }
    let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", stats_before.trim());
    let (without_median, with_median) = (median(&mut without.clone()), median(&mut with.clone()));
    let loss = (1.0 - with_median / without_median) * 100.0;
    let agent_cpu = median(&mut agent_cpu_per_10k);
    let kernel_ns = median(&mut kernel_ns_per_event);
    let per_connection = median(&mut events_per_connection);
    // Per million kernel events: the probes' own time, and the agent's user-space time spread
    // over the events it saw.
    let user_per_event = agent_cpu / 10_000.0 / per_connection.max(1.0);
    let cpu_per_million = kernel_ns * 1e-9 * 1e6 + user_per_event * 1e6;
    println!(
        "agent overhead: one client thread opening, using ({PAYLOAD} B each way) and closing \
         loopback TCP connections, {REPEATS} interleaved rounds of {}s each way",
        ROUND.as_secs()
    );
    println!("| measure | median | spread |");
    println!("|---|---|---|");
    println!(
        "| connections/s without the agent | {without_median:.0} | {} |",
        spread(&without)
    );
    println!(
        "| connections/s with the agent | {with_median:.0} | {} |",
        spread(&with)
    );
    println!("| throughput loss | {loss:.1}% (goal ≤ 2%) | |");
    println!(
        "| agent user-space CPU-s per 10k connections | {agent_cpu:.4} (goal ≤ 0.05) | {:.4}–{:.4} |",
        agent_cpu_per_10k
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min),
        agent_cpu_per_10k.iter().copied().fold(0.0, f64::max)
    );
    println!("| probe runs per connection | {per_connection:.1} | |");
    println!("| probe kernel time per run | {kernel_ns:.0} ns | |");
    println!("| CPU-s per million kernel events (probes + agent) | {cpu_per_million:.2} | |");
}
