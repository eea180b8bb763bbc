//! The pool on both receive paths, over real loopback sockets: every datagram arrives intact
//! with its sender, sockets come and go while others keep receiving, a port in use is an
//! error, and a receive buffer too small for a burst reports exactly what the kernel dropped.

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytefreezer_udp::{DatagramSink, IoMode, PoolConfig, ReceivePool, bind_group};

#[derive(Default)]
struct Seen {
    datagrams: Vec<(Vec<u8>, SocketAddr)>,
    kernel_dropped: u64,
    truncated: u64,
    closed: usize,
    ticks: u64,
}

#[derive(Clone, Default)]
struct Collect {
    seen: Arc<Mutex<Seen>>,
    /// Slows the first datagram down, to let the kernel buffer overflow behind it.
    stall_first: Option<Duration>,
}

impl DatagramSink for Collect {
    fn datagram(&mut self, payload: &[u8], source: SocketAddr, received_micros: i64) {
        assert!(
            received_micros > 1_700_000_000_000_000,
            "receive time {received_micros}"
        );
        if let Some(stall) = self.stall_first.take() {
            std::thread::sleep(stall);
        }
        self.seen
            .lock()
            .unwrap()
            .datagrams
            .push((payload.to_vec(), source));
    }
    fn kernel_dropped(&mut self, datagrams: u64) {
        self.seen.lock().unwrap().kernel_dropped += datagrams;
    }
    fn truncated(&mut self, datagrams: u64) {
        self.seen.lock().unwrap().truncated += datagrams;
    }
    fn tick(&mut self, _now: Instant) {
        self.seen.lock().unwrap().ticks += 1;
    }
    fn close(&mut self) {
        self.seen.lock().unwrap().closed += 1;
    }
}

fn pool(io: IoMode, workers: usize) -> ReceivePool {
    pool_with_tick(io, workers, Duration::from_millis(10))
}

fn pool_with_tick(io: IoMode, workers: usize, tick: Duration) -> ReceivePool {
    ReceivePool::start(&PoolConfig {
        workers,
        io,
        tick,
        pin: true,
    })
    .unwrap_or_else(|error| panic!("cannot start a {io} pool: {error}"))
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn delivers_every_datagram(io: IoMode) {
    let pool = pool(io, 2);
    let group = bind_group(localhost(), pool.workers(), 1 << 20).unwrap();
    let address = group.local;
    let sink = Collect::default();
    let id = pool.attach(group, |_| Box::new(sink.clone())).unwrap();

    // Several senders, so the kernel spreads them over both workers' sockets.
    let senders: Vec<UdpSocket> = (0..4)
        .map(|_| UdpSocket::bind(localhost()).unwrap())
        .collect();
    let mut expected = BTreeSet::new();
    for round in 0..250 {
        for (index, sender) in senders.iter().enumerate() {
            let payload = format!("<14>1 message {round} from sender {index}").into_bytes();
            sender.send_to(&payload, address).unwrap();
            expected.insert((payload, sender.local_addr().unwrap()));
            // Small enough bursts that a 1 MiB buffer never overflows.
        }
    }
    // The largest UDP payload arrives whole too.
    let largest = vec![b'x'; 65_507];
    senders[0].send_to(&largest, address).unwrap();
    expected.insert((largest, senders[0].local_addr().unwrap()));

    wait_for("every datagram", || {
        sink.seen.lock().unwrap().datagrams.len() >= expected.len()
    });
    // Ticks come every 10 ms while the socket is attached, even when no datagram arrives.
    wait_for("a tick", || sink.seen.lock().unwrap().ticks > 0);
    pool.detach(id).wait();
    let seen = sink.seen.lock().unwrap();
    let received: BTreeSet<_> = seen.datagrams.iter().cloned().collect();
    assert_eq!(seen.datagrams.len(), expected.len(), "no duplicates");
    assert!(
        received == expected,
        "payloads and senders differ from what was sent"
    );
    assert_eq!(seen.kernel_dropped, 0);
    assert_eq!(seen.truncated, 0);
    assert_eq!(seen.closed, 2, "each worker's sink is closed on detach");
}

#[test]
fn io_uring_delivers_every_datagram_with_its_sender() {
    delivers_every_datagram(IoMode::Uring);
}

#[test]
fn recvmmsg_delivers_every_datagram_with_its_sender() {
    delivers_every_datagram(IoMode::Recvmmsg);
}

/// A lone datagram is handed over promptly, not at the worker's next tick (2 s away here; a
/// generous bound of half that).
fn hands_over_a_lone_datagram_before_the_tick(io: IoMode) {
    let tick = Duration::from_secs(2);
    let pool = pool_with_tick(io, 1, tick);
    let group = bind_group(localhost(), pool.workers(), 1 << 20).unwrap();
    let address = group.local;
    let sink = Collect::default();
    let id = pool.attach(group, |_| Box::new(sink.clone())).unwrap();
    // Right after a tick, the next one is a whole tick away.
    wait_for("a tick", || sink.seen.lock().unwrap().ticks > 0);
    let sent = Instant::now();
    UdpSocket::bind(localhost())
        .unwrap()
        .send_to(b"<14>1 alone", address)
        .unwrap();
    wait_for("the lone datagram", || {
        sink.seen.lock().unwrap().datagrams.len() == 1
    });
    let waited = sent.elapsed();
    assert!(
        waited < tick / 2,
        "the datagram waited {waited:?}, as if for the tick"
    );
    pool.detach(id).wait();
}

#[test]
fn io_uring_hands_over_a_lone_datagram_before_the_tick() {
    hands_over_a_lone_datagram_before_the_tick(IoMode::Uring);
}

#[test]
fn recvmmsg_hands_over_a_lone_datagram_before_the_tick() {
    hands_over_a_lone_datagram_before_the_tick(IoMode::Recvmmsg);
}

fn sockets_come_and_go(io: IoMode) {
    let pool = pool(io, 2);
    let first = bind_group(localhost(), pool.workers(), 1 << 20).unwrap();
    let second = bind_group(localhost(), pool.workers(), 1 << 20).unwrap();
    let (first_address, second_address) = (first.local, second.local);
    let (first_sink, second_sink) = (Collect::default(), Collect::default());
    let first_id = pool
        .attach(first, |_| Box::new(first_sink.clone()))
        .unwrap();
    let _second_id = pool
        .attach(second, |_| Box::new(second_sink.clone()))
        .unwrap();

    let sender = UdpSocket::bind(localhost()).unwrap();
    sender.send_to(b"one", first_address).unwrap();
    sender.send_to(b"two", second_address).unwrap();
    wait_for("both sockets", || {
        first_sink.seen.lock().unwrap().datagrams.len() == 1
            && second_sink.seen.lock().unwrap().datagrams.len() == 1
    });

    pool.detach(first_id).wait();
    assert_eq!(first_sink.seen.lock().unwrap().closed, 2);
    // The port is free again: another process could take it now.
    UdpSocket::bind(first_address).expect("a detached port is released");

    for index in 0..100 {
        sender
            .send_to(format!("after {index}").as_bytes(), second_address)
            .unwrap();
    }
    wait_for("the other socket to go on receiving", || {
        second_sink.seen.lock().unwrap().datagrams.len() == 101
    });

    // A new socket on a running pool.
    let third = bind_group(localhost(), pool.workers(), 1 << 20).unwrap();
    let third_address = third.local;
    let third_sink = Collect::default();
    pool.attach(third, |_| Box::new(third_sink.clone()))
        .unwrap();
    sender.send_to(b"three", third_address).unwrap();
    wait_for("the new socket", || {
        third_sink.seen.lock().unwrap().datagrams.len() == 1
    });

    drop(pool);
    assert_eq!(
        second_sink.seen.lock().unwrap().closed,
        2,
        "stopping the pool closes every sink"
    );
    assert_eq!(third_sink.seen.lock().unwrap().closed, 2);
}

#[test]
fn io_uring_sockets_come_and_go_without_disturbing_others() {
    sockets_come_and_go(IoMode::Uring);
}

#[test]
fn recvmmsg_sockets_come_and_go_without_disturbing_others() {
    sockets_come_and_go(IoMode::Recvmmsg);
}

#[test]
fn a_port_in_use_is_an_error_not_a_crash() {
    let taken = UdpSocket::bind(localhost()).unwrap();
    let error = bind_group(taken.local_addr().unwrap(), 2, 1 << 20).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse, "{error}");
}

fn counts_kernel_drops(io: IoMode) {
    let pool = pool(io, 1);
    // The smallest receive buffer the kernel grants: a few datagrams fill it.
    let group = bind_group(localhost(), 1, 1).unwrap();
    let address = group.local;
    let sink = Collect {
        stall_first: Some(Duration::from_millis(300)),
        ..Collect::default()
    };
    pool.attach(group, |_| Box::new(sink.clone())).unwrap();

    let sender = UdpSocket::bind(localhost()).unwrap();
    sender.send_to(b"first", address).unwrap();
    wait_for("the worker to stall on the first datagram", || {
        // The first datagram has been taken from the socket once the queue is empty again.
        std::thread::sleep(Duration::from_millis(50));
        true
    });
    let sent = 2_000u64;
    for index in 0..sent {
        sender
            .send_to(format!("burst {index:>200}").as_bytes(), address)
            .unwrap();
    }
    // Once the worker wakes, a last datagram carries the kernel's final drop count.
    wait_for("the stall to end", || {
        sink.seen.lock().unwrap().datagrams.len() > 1
    });
    std::thread::sleep(Duration::from_millis(100));
    sender.send_to(b"last", address).unwrap();
    wait_for("the last datagram", || {
        sink.seen
            .lock()
            .unwrap()
            .datagrams
            .iter()
            .any(|(payload, _)| payload == b"last")
    });
    let seen = sink.seen.lock().unwrap();
    let received_burst = seen.datagrams.len() as u64 - 2;
    assert!(seen.kernel_dropped > 0, "a tiny buffer under a burst drops");
    assert_eq!(
        received_burst + seen.kernel_dropped,
        sent,
        "every datagram is received or counted as dropped ({received_burst} received, {} dropped)",
        seen.kernel_dropped
    );
}

#[test]
fn io_uring_counts_what_the_kernel_dropped() {
    counts_kernel_drops(IoMode::Uring);
}

#[test]
fn recvmmsg_counts_what_the_kernel_dropped() {
    counts_kernel_drops(IoMode::Recvmmsg);
}
