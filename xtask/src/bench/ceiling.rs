//! The bare receive ceiling: a `recvmmsg` loop on one pinned core, on a socket set up like
//! the proxy's, doing nothing with the bytes. It gives the two reference figures of the run:
//! how fast one sender thread can send, and how fast the kernel can hand a full receive
//! buffer to one core (drain mode).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::collector::COLLECTOR_CORE;
use super::loadgen::{LoadGenerator, Pace, Until};
use super::procfs;
use super::sys;

#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    /// One sender thread, unpaced, into the bare loop.
    pub sender_datagrams_per_second: f64,
    /// Whether the bare loop kept every datagram of that run.
    pub sender_run_lossless: bool,
    pub drain_datagrams_per_second: f64,
    pub drained: u64,
    pub receive_buffer: usize,
}

struct Shared {
    go: AtomicBool,
    stop: AtomicBool,
    received: AtomicU64,
    /// Nanoseconds from `go` to the last datagram.
    last_nanos: AtomicU64,
}

pub fn measure(
    generator: &mut LoadGenerator,
    port: u16,
    receive_buffer: usize,
    send_for: Duration,
    drain_count: u64,
) -> Result<Ceiling> {
    let socket = sys::Receiver::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port), receive_buffer)?;
    let granted = socket.receive_buffer();
    let shared = Arc::new(Shared {
        go: AtomicBool::new(true),
        stop: AtomicBool::new(false),
        received: AtomicU64::new(0),
        last_nanos: AtomicU64::new(0),
    });
    let worker = {
        let shared = shared.clone();
        std::thread::spawn(move || -> Result<()> {
            let core = COLLECTOR_CORE.parse().unwrap_or(0);
            sys::pin_current_thread(core)?;
            receive_loop(&socket, &shared);
            Ok(())
        })
    };

    // Unpaced sending: the sender's top rate, and whether a bare loop keeps up with it.
    let drops_before = procfs::udp_port(port).drops;
    let sent = generator.send(Pace::Unlimited, Until::Elapsed(send_for))?;
    wait_for(&shared, sent.datagrams, Duration::from_secs(2));
    let dropped = procfs::udp_port(port).drops.saturating_sub(drops_before);
    let sender_run_lossless =
        dropped == 0 && shared.received.load(Ordering::Relaxed) == sent.datagrams;

    // Drain mode: fill the buffer while the loop waits, then time the loop emptying it.
    shared.go.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    let drops_before = procfs::udp_port(port).drops;
    shared.received.store(0, Ordering::SeqCst);
    shared.last_nanos.store(0, Ordering::SeqCst);
    let filled = generator.send(Pace::Unlimited, Until::Datagrams(drain_count))?;
    std::thread::sleep(Duration::from_millis(20));
    let queued = filled.datagrams - (procfs::udp_port(port).drops.saturating_sub(drops_before));
    shared.go.store(true, Ordering::SeqCst);
    wait_for(&shared, queued, Duration::from_secs(10));
    let drained = shared.received.load(Ordering::SeqCst);
    let seconds = shared.last_nanos.load(Ordering::SeqCst) as f64 / 1e9;
    shared.stop.store(true, Ordering::SeqCst);
    worker
        .join()
        .map_err(|_| anyhow::anyhow!("the receive loop panicked"))?
        .context("bare receive loop")?;
    Ok(Ceiling {
        sender_datagrams_per_second: sent.datagrams_per_second(),
        sender_run_lossless,
        drain_datagrams_per_second: drained as f64 / seconds.max(1e-9),
        drained,
        receive_buffer: granted,
    })
}

fn wait_for(shared: &Shared, count: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while shared.received.load(Ordering::SeqCst) < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn receive_loop(socket: &sys::Receiver, shared: &Shared) {
    let mut buffers = vec![[0u8; 2048]; 64];
    while !shared.stop.load(Ordering::Relaxed) {
        if !shared.go.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        let started = Instant::now();
        // Runs until a receive times out (100 ms) or the benchmark pauses the loop.
        while shared.go.load(Ordering::Relaxed) {
            let count = socket.receive_batch(&mut buffers);
            if count == 0 {
                break;
            }
            shared.received.fetch_add(count as u64, Ordering::Relaxed);
            shared
                .last_nanos
                .store(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
    }
}
