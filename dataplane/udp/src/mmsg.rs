//! The `recvmmsg` path: `poll` over the worker's sockets, then up to 64 datagrams per system
//! call from each readable one. Used where io_uring is unavailable, and the reference the
//! io_uring path is measured against.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::control::{CONTROL_BYTES, DropCounter, receive_queue_drops, socket_address};
use crate::pool::{Receive, SocketId, now_micros};
use crate::sink::DatagramSink;

const BATCH: usize = 64;
/// The largest UDP payload, so no datagram is ever cut.
pub(crate) const PAYLOAD_BYTES: usize = 65_536;
const NAME_BYTES: usize = std::mem::size_of::<libc::sockaddr_storage>();
/// Batches taken from one socket before the others get their turn.
const ROUNDS_PER_SOCKET: usize = 16;

struct Slot {
    id: SocketId,
    socket: UdpSocket,
    sink: Box<dyn DatagramSink>,
    drops: DropCounter,
}

pub(crate) struct MmsgReceiver {
    slots: Vec<Slot>,
    payloads: Vec<u8>,
    names: Vec<u8>,
    controls: Vec<u8>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    poll_fds: Vec<libc::pollfd>,
    last_error_log: Option<Instant>,
}

// SAFETY: the raw pointers in `iovecs` and `headers` point into this struct's own heap
// buffers, which move with it; nothing is shared with another thread.
unsafe impl Send for MmsgReceiver {}

impl MmsgReceiver {
    pub(crate) fn new() -> MmsgReceiver {
        let mut receiver = MmsgReceiver {
            slots: Vec::new(),
            payloads: vec![0; BATCH * PAYLOAD_BYTES],
            names: vec![0; BATCH * NAME_BYTES],
            controls: vec![0; BATCH * CONTROL_BYTES],
            iovecs: Vec::with_capacity(BATCH),
            headers: Vec::with_capacity(BATCH),
            poll_fds: Vec::new(),
            last_error_log: None,
        };
        for index in 0..BATCH {
            receiver.iovecs.push(libc::iovec {
                iov_base: receiver.payloads[index * PAYLOAD_BYTES..]
                    .as_mut_ptr()
                    .cast(),
                iov_len: PAYLOAD_BYTES,
            });
        }
        for index in 0..BATCH {
            // SAFETY: mmsghdr is plain data; every pointer field is set right below.
            let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
            header.msg_hdr.msg_iov = &mut receiver.iovecs[index];
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_name = receiver.names[index * NAME_BYTES..].as_mut_ptr().cast();
            header.msg_hdr.msg_control = receiver.controls[index * CONTROL_BYTES..]
                .as_mut_ptr()
                .cast();
            receiver.headers.push(header);
        }
        receiver
    }

    /// Takes what the socket holds, a bounded number of batches at a time.
    fn drain(&mut self, slot_index: usize, received_micros: i64) {
        let fd = self.slots[slot_index].socket.as_raw_fd();
        for _ in 0..ROUNDS_PER_SOCKET {
            if !self.slots[slot_index].sink.ready() {
                return;
            }
            for header in &mut self.headers {
                header.msg_hdr.msg_namelen = NAME_BYTES as libc::socklen_t;
                header.msg_hdr.msg_controllen = CONTROL_BYTES as _;
                header.msg_hdr.msg_flags = 0;
                header.msg_len = 0;
            }
            // SAFETY: `headers` holds BATCH initialised mmsghdr whose iovec, name and control
            // pointers point into buffers of the sizes given, all owned by `self` and alive
            // for the call; the fd belongs to a socket `self` owns.
            let received = unsafe {
                libc::recvmmsg(
                    fd,
                    self.headers.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if received < 0 {
                let error = io::Error::last_os_error();
                match error.kind() {
                    io::ErrorKind::WouldBlock => return,
                    io::ErrorKind::Interrupted => continue,
                    _ => {
                        self.log_error(&error);
                        return;
                    }
                }
            }
            let received = received as usize;
            let slot = &mut self.slots[slot_index];
            for (index, header) in self.headers[..received].iter().enumerate() {
                if header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                    slot.sink.truncated(1);
                    continue;
                }
                let name_length = (header.msg_hdr.msg_namelen as usize).min(NAME_BYTES);
                let name = &self.names[index * NAME_BYTES..][..name_length];
                // msg_controllen is usize with glibc but socklen_t with musl.
                #[allow(clippy::unnecessary_cast)]
                let control_length = (header.msg_hdr.msg_controllen as usize).min(CONTROL_BYTES);
                let control = &self.controls[index * CONTROL_BYTES..][..control_length];
                if let Some(cumulative) = receive_queue_drops(control) {
                    let dropped = slot.drops.delta(cumulative);
                    if dropped > 0 {
                        slot.sink.kernel_dropped(dropped);
                    }
                }
                let source = socket_address(name)
                    .unwrap_or(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0));
                let length = (header.msg_len as usize).min(PAYLOAD_BYTES);
                let payload = &self.payloads[index * PAYLOAD_BYTES..][..length];
                slot.sink.datagram(payload, source, received_micros);
            }
            if received < BATCH {
                return;
            }
        }
    }

    fn log_error(&mut self, error: &io::Error) {
        if self
            .last_error_log
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        {
            self.last_error_log = Some(Instant::now());
            tracing::warn!("udp receive (recvmmsg): {error}");
        }
    }
}

impl Receive for MmsgReceiver {
    fn attach(&mut self, id: SocketId, socket: UdpSocket, sink: Box<dyn DatagramSink>) {
        self.slots.push(Slot {
            id,
            socket,
            sink,
            drops: DropCounter::default(),
        });
    }

    fn detach(&mut self, id: SocketId, done: Sender<()>) {
        if let Some(position) = self.slots.iter().position(|slot| slot.id == id) {
            let mut slot = self.slots.swap_remove(position);
            slot.sink.close();
        }
        let _ = done.send(());
    }

    fn receive(&mut self, timeout: Duration) {
        if self.slots.is_empty() {
            std::thread::sleep(timeout);
            return;
        }
        self.poll_fds.clear();
        self.poll_fds
            .extend(self.slots.iter_mut().map(|slot| libc::pollfd {
                // A negative fd is skipped by poll: a sink that is not ready leaves its
                // datagrams in the kernel until a tick finds it ready.
                fd: if slot.sink.ready() {
                    slot.socket.as_raw_fd()
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            }));
        let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `poll_fds` is a live array of `len` pollfd entries.
        let ready = unsafe {
            libc::poll(
                self.poll_fds.as_mut_ptr(),
                self.poll_fds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        if ready <= 0 {
            return;
        }
        let received_micros = now_micros();
        for index in 0..self.slots.len() {
            if self.poll_fds[index].revents & (libc::POLLIN | libc::POLLERR) != 0 {
                self.drain(index, received_micros);
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        for slot in &mut self.slots {
            slot.sink.tick(now);
        }
    }

    fn attached(&self) -> Vec<SocketId> {
        self.slots.iter().map(|slot| slot.id).collect()
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Receives up to `buffers.len()` datagrams from `socket` with one `recvmmsg`: the first is
/// waited for (`MSG_WAITFORONE`) as long as the socket's receive timeout allows, the rest are
/// taken only if already queued. Senders, lengths and truncation are not reported: this is the
/// bare loop `cargo xtask bench` measures the kernel's ceiling with, kept here so that its
/// `unsafe` stays in this crate.
pub fn receive_batch<B: AsMut<[u8]>>(socket: impl AsFd, buffers: &mut [B]) -> io::Result<usize> {
    let mut iovecs: Vec<libc::iovec> = buffers
        .iter_mut()
        .map(|buffer| {
            let buffer = buffer.as_mut();
            libc::iovec {
                iov_base: buffer.as_mut_ptr().cast(),
                iov_len: buffer.len(),
            }
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = iovecs
        .iter_mut()
        .map(|iovec| {
            // SAFETY: mmsghdr is plain data; zeroed means no name and no control data.
            let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
            header.msg_hdr.msg_iov = iovec;
            header.msg_hdr.msg_iovlen = 1;
            header
        })
        .collect();
    let count = libc::c_uint::try_from(headers.len()).unwrap_or(libc::c_uint::MAX);
    // SAFETY: every header points at one live iovec, which points at a live, exclusively
    // borrowed buffer of the stated length; `headers` holds at least `count` entries; the fd
    // is borrowed for the call.
    let received = unsafe {
        libc::recvmmsg(
            socket.as_fd().as_raw_fd(),
            headers.as_mut_ptr(),
            count,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        )
    };
    usize::try_from(received).map_err(|_| io::Error::last_os_error())
}
