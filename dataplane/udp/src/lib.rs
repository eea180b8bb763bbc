//! UDP receive workers: one thread per core (pinned), each draining every UDP dataset's
//! `SO_REUSEPORT` socket through io_uring (multishot `recvmsg` on a provided buffer ring) or,
//! where io_uring is unavailable, through `recvmmsg`. Each datagram is handed to its dataset's
//! [`DatagramSink`] as a slice of the receive buffer (no copy), with the sender's address and the
//! kernel's count of datagrams it dropped for a full receive buffer (`SO_RXQ_OVFL`).
//!
//! This is the runtime crate that owns sockets and io_uring, and the only crate of the workspace
//! that may use `unsafe` (each block carries a `// SAFETY:` comment; `receive_batch` lends its
//! `recvmmsg` to the benchmark's bare receive loop, so xtask needs none). It must not decode, buffer
//! datagrams beyond one receive batch, touch the disk or block a worker on anything but its
//! sockets: sinks decide what a datagram becomes and must return quickly.

// The workspace denies `unsafe_code`; this is the one crate that holds it (docs/architecture.md).
#![allow(unsafe_code)]

mod backend;
mod buffer_ring;
mod control;
mod mmsg;
mod pin;
mod pool;
mod sink;
mod socket;
mod uring;

pub use backend::{IoBackend, IoMode, UnknownIoMode};
pub use uring::UringSupport;

/// Whether the io_uring receive path (multishot `recvmsg`, a provided buffer ring) works on
/// this host, tried on a loopback socket, and what the ring runs with; the error says why not.
pub fn uring_support() -> std::io::Result<UringSupport> {
    uring::probe()
}
pub use mmsg::receive_batch;
pub use pin::lower_current_thread_priority;
pub use pool::{PoolConfig, ReceivePool, SocketId};
pub use sink::DatagramSink;
pub use socket::{BoundGroup, bind_group};
