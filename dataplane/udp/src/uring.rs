//! The io_uring path: one ring per worker, one multishot `recvmsg` per socket drawing from a
//! ring of provided buffers, so a datagram costs no system call and no copy beyond the
//! kernel's one into the buffer the sink reads in place.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use io_uring::types::{Fd, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};

use crate::buffer_ring::BufferRing;
use crate::control::{CONTROL_BYTES, DropCounter, receive_queue_drops, socket_address};
use crate::mmsg::PAYLOAD_BYTES;
use crate::pool::{Receive, SocketId, now_micros};
use crate::sink::DatagramSink;

/// Buffers per worker: 256 × 64 KiB, about 17 MiB, so a burst of the largest datagrams fits.
const BUFFERS: u16 = 256;
const NAME_BYTES: usize = std::mem::size_of::<libc::sockaddr_storage>();
/// `io_uring_recvmsg_out` header + name + control + the largest payload.
const BUFFER_BYTES: usize = 16 + NAME_BYTES + CONTROL_BYTES + PAYLOAD_BYTES;
const BUFFER_GROUP: u16 = 7;
/// user_data of cancel requests, whose own completions carry nothing to do.
const CANCEL: u64 = u64::MAX;
/// Datagrams a worker lets arrive before the kernel wakes it, when the ring defers its task
/// work: each wake-up then pays for many datagrams instead of one.
const WAKE_BATCH: usize = 32;
/// How long a worker waits for a whole `WAKE_BATCH` before it takes what has come: the most a
/// lone datagram is held back.
const WAKE_WAIT_MICROS: u32 = 200;

struct Slot {
    id: SocketId,
    generation: u32,
    socket: UdpSocket,
    sink: Box<dyn DatagramSink>,
    drops: DropCounter,
    armed: bool,
    /// The sink is not ready: the receive was cancelled and is armed again on the first tick
    /// the sink is ready.
    paused: bool,
    closing: Vec<Sender<()>>,
}

pub(crate) struct UringReceiver {
    ring: IoUring,
    buffers: BufferRing,
    /// Tells the kernel how much room name and control take in each buffer; read by
    /// `RecvMsgOut::parse` with the same sizes.
    message: Box<libc::msghdr>,
    slots: Vec<Option<Slot>>,
    next_generation: u32,
    finished: Vec<usize>,
    rearm: Vec<usize>,
    pause: Vec<u64>,
    last_error_log: Option<Instant>,
    /// The ring defers task work to our waits and honours a minimum wait (Linux 6.12+), so
    /// waiting for `WAKE_BATCH` completions batches wake-ups without holding data back.
    batched_wake: bool,
    /// The ring runs with `SINGLE_ISSUER | DEFER_TASKRUN` (Linux 6.1+).
    deferred: bool,
}

// SAFETY: the msghdr holds no pointers (only sizes), the buffer ring memory is owned by this
// receiver, and the ring is used by the one worker thread the receiver moves to.
unsafe impl Send for UringReceiver {}

impl UringReceiver {
    /// A receiver whose ring is used by the calling thread only (the worker that owns it).
    pub(crate) fn new() -> io::Result<UringReceiver> {
        let (ring, deferred) = build_ring()?;
        let batched_wake = deferred && ring.params().is_feature_min_timeout();
        tracing::debug!(
            "io_uring ring: deferred task work {deferred}, batched wake-ups {batched_wake}"
        );
        let buffers = BufferRing::register(&ring, BUFFER_GROUP, BUFFERS, BUFFER_BYTES)?;
        // SAFETY: msghdr is plain data; zero is "no name, no iovec, no control" until sized.
        let mut message: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        message.msg_namelen = NAME_BYTES as libc::socklen_t;
        message.msg_controllen = CONTROL_BYTES as _;
        Ok(UringReceiver {
            ring,
            buffers,
            message,
            slots: Vec::new(),
            next_generation: 1,
            finished: Vec::new(),
            rearm: Vec::new(),
            pause: Vec::new(),
            last_error_log: None,
            batched_wake,
            deferred,
        })
    }

    fn token(index: usize, generation: u32) -> u64 {
        ((index as u64) << 32) | u64::from(generation)
    }

    fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every entry we push refers to a socket fd and the msghdr owned by
            // `self`, both alive until the operation's final completion is seen.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            if let Err(error) = self.ring.submit() {
                self.log_error("submit", &error);
            }
        }
    }

    fn arm(&mut self, index: usize) {
        let Some(slot) = self.slots[index].as_mut() else {
            return;
        };
        slot.armed = true;
        let entry =
            opcode::RecvMsgMulti::new(Fd(slot.socket.as_raw_fd()), &*self.message, BUFFER_GROUP)
                .build()
                .user_data(Self::token(index, slot.generation));
        self.push(entry);
    }

    fn finish(&mut self, index: usize) {
        if let Some(slot) = self.slots[index].take() {
            let Slot {
                socket,
                mut sink,
                closing,
                ..
            } = slot;
            sink.close();
            // The port is free before anyone waiting on the detach hears it is done.
            drop(socket);
            for done in closing {
                let _ = done.send(());
            }
        }
    }

    fn log_error(&mut self, what: &str, error: &io::Error) {
        if self
            .last_error_log
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        {
            self.last_error_log = Some(Instant::now());
            tracing::warn!("udp receive (io_uring {what}): {error}");
        }
    }
}

impl Receive for UringReceiver {
    fn attach(&mut self, id: SocketId, socket: UdpSocket, sink: Box<dyn DatagramSink>) {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        let slot = Slot {
            id,
            generation,
            socket,
            sink,
            drops: DropCounter::default(),
            armed: false,
            paused: false,
            closing: Vec::new(),
        };
        let index = match self.slots.iter().position(Option::is_none) {
            Some(free) => {
                self.slots[free] = Some(slot);
                free
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.arm(index);
    }

    fn detach(&mut self, id: SocketId, done: Sender<()>) {
        let Some(index) = self
            .slots
            .iter()
            .position(|slot| slot.as_ref().is_some_and(|slot| slot.id == id))
        else {
            let _ = done.send(());
            return;
        };
        let Some(slot) = self.slots[index].as_mut() else {
            return;
        };
        let first_request = slot.closing.is_empty();
        slot.closing.push(done);
        if !slot.armed {
            self.finish(index);
        } else if first_request {
            let token = Self::token(index, slot.generation);
            self.push(opcode::AsyncCancel::new(token).build().user_data(CANCEL));
        }
    }

    fn receive(&mut self, timeout: Duration) {
        let timespec = Timespec::from(timeout);
        let mut arguments = SubmitArgs::new().timespec(&timespec);
        let mut wanted = 1;
        if self.batched_wake {
            arguments = arguments.min_wait_usec(WAKE_WAIT_MICROS);
            wanted = WAKE_BATCH;
        }
        if let Err(error) = self.ring.submitter().submit_with_args(wanted, &arguments) {
            match error.raw_os_error() {
                Some(libc::ETIME | libc::EINTR | libc::EBUSY) => {}
                _ => self.log_error("wait", &error),
            }
        }
        let received_micros = now_micros();
        let UringReceiver {
            ring,
            buffers,
            message,
            slots,
            finished,
            rearm,
            pause,
            ..
        } = self;
        let mut receive_errors = Vec::new();
        for completion in ring.completion() {
            let token = completion.user_data();
            if token == CANCEL {
                continue;
            }
            let flags = completion.flags();
            let result = completion.result();
            let index = (token >> 32) as usize;
            let generation = token as u32;
            if let Some(buffer_id) = cqueue::buffer_select(flags) {
                if result >= 0
                    && let Some(slot) = slots
                        .get_mut(index)
                        .and_then(Option::as_mut)
                        .filter(|slot| slot.generation == generation)
                {
                    let filled = buffers.filled(buffer_id, result as usize);
                    match RecvMsgOut::parse(filled, message) {
                        Ok(out) if !out.is_payload_truncated() => {
                            if let Some(cumulative) = receive_queue_drops(out.control_data()) {
                                let dropped = slot.drops.delta(cumulative);
                                if dropped > 0 {
                                    slot.sink.kernel_dropped(dropped);
                                }
                            }
                            let source = socket_address(out.name_data())
                                .unwrap_or(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0));
                            slot.sink
                                .datagram(out.payload_data(), source, received_micros);
                        }
                        _ => slot.sink.truncated(1),
                    }
                    if !slot.paused && !slot.sink.ready() {
                        slot.paused = true;
                        pause.push(token);
                    }
                }
                buffers.recycle(buffer_id);
            }
            let Some(slot) = slots
                .get_mut(index)
                .and_then(Option::as_mut)
                .filter(|slot| slot.generation == generation)
            else {
                continue;
            };
            if result < 0 {
                let error = -result;
                // ENOBUFS: every buffer was in use; the datagrams wait in the socket until
                // the receive is armed again below.
                if error != libc::ENOBUFS && error != libc::ECANCELED {
                    receive_errors.push(io::Error::from_raw_os_error(error));
                }
            }
            if !cqueue::more(flags) {
                slot.armed = false;
                if !slot.closing.is_empty() {
                    finished.push(index);
                } else if !slot.paused {
                    rearm.push(index);
                }
            }
        }
        buffers.publish();
        let pause = std::mem::take(&mut self.pause);
        for &token in &pause {
            self.push(opcode::AsyncCancel::new(token).build().user_data(CANCEL));
        }
        self.pause = pause;
        self.pause.clear();
        for error in receive_errors {
            self.log_error("recvmsg", &error);
        }
        let finished = std::mem::take(&mut self.finished);
        for &index in &finished {
            self.finish(index);
        }
        self.finished = finished;
        self.finished.clear();
        let rearm = std::mem::take(&mut self.rearm);
        for &index in &rearm {
            self.arm(index);
        }
        self.rearm = rearm;
        self.rearm.clear();
    }

    fn tick(&mut self, now: Instant) {
        let mut resume = std::mem::take(&mut self.rearm);
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(slot) = slot else { continue };
            slot.sink.tick(now);
            if slot.paused && slot.sink.ready() {
                slot.paused = false;
                if !slot.armed && slot.closing.is_empty() {
                    resume.push(index);
                }
            }
        }
        for &index in &resume {
            self.arm(index);
        }
        self.rearm = resume;
        self.rearm.clear();
    }

    fn attached(&self) -> Vec<SocketId> {
        self.slots.iter().flatten().map(|slot| slot.id).collect()
    }

    fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }
}

impl Drop for UringReceiver {
    fn drop(&mut self) {
        if self.slots.iter().flatten().any(|slot| slot.armed) {
            // A receive may still be in flight: the kernel could write into the buffers
            // after they were freed, so they are left allocated (only on an abnormal stop).
            self.buffers.leak();
        }
        let _ = self.ring.submitter().unregister_buf_ring(BUFFER_GROUP);
    }
}

/// A ring whose completions are posted only when its one thread waits for them
/// (`SINGLE_ISSUER | DEFER_TASKRUN`, Linux 6.1+): a datagram arriving while the worker decodes
/// no longer interrupts it. Older kernels refuse the flags and get a plain ring; the bool says
/// which one this is.
fn build_ring() -> io::Result<(IoUring, bool)> {
    let completions = u32::from(BUFFERS) * 4;
    let deferred = IoUring::builder()
        .setup_cqsize(completions)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(64);
    match deferred {
        Ok(ring) => Ok((ring, true)),
        Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
            let ring = IoUring::builder().setup_cqsize(completions).build(64)?;
            Ok((ring, false))
        }
        Err(error) => Err(error),
    }
}

/// What io_uring offers the receive workers on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UringSupport {
    /// `SINGLE_ISSUER | DEFER_TASKRUN` (Linux 6.1+): a datagram arriving while a worker decodes
    /// does not interrupt it.
    pub deferred_task_work: bool,
    /// Waits with a minimum timeout (Linux 6.12+), so wake-ups come in batches.
    pub batched_wake: bool,
}

/// Checks that multishot `recvmsg` with a provided buffer ring really works here (io_uring can
/// be compiled out, disabled by `kernel.io_uring_disabled`, blocked by seccomp, or too old),
/// by receiving one datagram on a loopback socket; what the ring runs with.
pub(crate) fn probe() -> io::Result<UringSupport> {
    let unusable = |what: &str, error: io::Error| {
        io::Error::new(error.kind(), format!("io_uring {what}: {error}"))
    };
    let mut receiver = UringReceiver::new().map_err(|error| unusable("setup", error))?;
    let support = UringSupport {
        deferred_task_work: receiver.deferred,
        batched_wake: receiver.batched_wake,
    };
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    socket.set_nonblocking(true)?;
    let address = socket.local_addr()?;
    let (probe_sink, seen) = ProbeSink::new();
    receiver.attach(0, socket, Box::new(probe_sink));
    let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    sender.send_to(b"probe", address)?;
    let deadline = Instant::now() + Duration::from_secs(2);
    while seen.try_recv().is_err() {
        if Instant::now() >= deadline {
            let (done, _) = crossbeam_channel::bounded(1);
            receiver.detach(0, done);
            drain_until_empty(&mut receiver);
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring multishot recvmsg delivered nothing within 2 s",
            ));
        }
        receiver.receive(Duration::from_millis(20));
    }
    let (done, _) = crossbeam_channel::bounded(1);
    receiver.detach(0, done);
    drain_until_empty(&mut receiver);
    Ok(support)
}

fn drain_until_empty(receiver: &mut UringReceiver) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !receiver.is_empty() && Instant::now() < deadline {
        receiver.receive(Duration::from_millis(20));
    }
}

struct ProbeSink {
    seen: Sender<()>,
}

impl ProbeSink {
    fn new() -> (ProbeSink, crossbeam_channel::Receiver<()>) {
        let (seen, receiver) = crossbeam_channel::unbounded();
        (ProbeSink { seen }, receiver)
    }
}

impl DatagramSink for ProbeSink {
    fn datagram(&mut self, _payload: &[u8], _source: SocketAddr, _received_micros: i64) {
        let _ = self.seen.send(());
    }
    fn kernel_dropped(&mut self, _datagrams: u64) {}
    fn truncated(&mut self, _datagrams: u64) {}
    fn tick(&mut self, _now: Instant) {}
    fn close(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::UringReceiver;

    fn kernel_version() -> (u32, u32) {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release.trim().split(['.', '-']);
        let mut number = || parts.next().and_then(|part| part.parse().ok()).unwrap();
        (number(), number())
    }

    /// A silent fallback to one wake-up per datagram would only show in the benchmark.
    #[test]
    fn wake_ups_are_batched_where_the_kernel_allows_it() {
        let receiver = UringReceiver::new().expect("an io_uring ring");
        assert_eq!(receiver.batched_wake, kernel_version() >= (6, 12));
    }
}
