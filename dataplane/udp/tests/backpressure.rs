//! A sink that is not ready stops its worker from taking datagrams off the socket: they wait in
//! the kernel's receive buffer (and overflow there, counted) instead of being received and
//! decoded only to be dropped, and every one is delivered once the sink is ready again. Both
//! receive paths.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytefreezer_udp::{DatagramSink, IoMode, PoolConfig, ReceivePool, bind_group};

#[derive(Clone)]
struct Gate {
    open: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    kernel_dropped: Arc<Mutex<u64>>,
}

impl DatagramSink for Gate {
    fn datagram(&mut self, payload: &[u8], _source: SocketAddr, _received_micros: i64) {
        self.seen.lock().unwrap().push(payload.to_vec());
    }
    fn kernel_dropped(&mut self, datagrams: u64) {
        *self.kernel_dropped.lock().unwrap() += datagrams;
    }
    fn truncated(&mut self, _datagrams: u64) {}
    fn tick(&mut self, _now: Instant) {}
    fn close(&mut self) {}
    fn ready(&mut self) -> bool {
        self.open.load(Ordering::SeqCst)
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn a_sink_that_is_not_ready_leaves_datagrams_in_the_kernel(io: IoMode) {
    let pool = ReceivePool::start(&PoolConfig {
        workers: 1,
        io,
        tick: Duration::from_millis(10),
        pin: false,
    })
    .unwrap_or_else(|error| panic!("cannot start a {io} pool: {error}"));
    let group = bind_group("127.0.0.1:0".parse().unwrap(), 1, 4 << 20).unwrap();
    let address = group.local;
    let gate = Gate {
        open: Arc::new(AtomicBool::new(true)),
        seen: Arc::default(),
        kernel_dropped: Arc::default(),
    };
    let id = pool.attach(group, |_| Box::new(gate.clone())).unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let seen = || gate.seen.lock().unwrap().len();

    sender.send_to(b"open", address).unwrap();
    wait_for("the first datagram", || seen() == 1);

    gate.open.store(false, Ordering::SeqCst);
    // io_uring learns the sink is not ready from the datagram it has just delivered; recvmmsg
    // asks before it reads, so this one may stay in the kernel too.
    sender.send_to(b"closing", address).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let burst = 100;
    for index in 0..burst {
        sender
            .send_to(format!("held {index}").as_bytes(), address)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        seen() <= 2,
        "{io}: a sink that is not ready got {} datagrams",
        seen()
    );

    gate.open.store(true, Ordering::SeqCst);
    wait_for("the held datagrams", || seen() == burst + 2);
    pool.detach(id).wait();
    let seen = gate.seen.lock().unwrap();
    assert_eq!(seen.len(), burst + 2, "{io}: nothing lost, nothing twice");
    for index in 0..burst {
        let expected = format!("held {index}").into_bytes();
        assert!(seen.contains(&expected), "{io}: held {index} missing");
    }
    assert_eq!(*gate.kernel_dropped.lock().unwrap(), 0);
}

#[test]
fn io_uring_pauses_a_socket_whose_sink_is_not_ready() {
    a_sink_that_is_not_ready_leaves_datagrams_in_the_kernel(IoMode::Uring);
}

#[test]
fn recvmmsg_pauses_a_socket_whose_sink_is_not_ready() {
    a_sink_that_is_not_ready_leaves_datagrams_in_the_kernel(IoMode::Recvmmsg);
}
