use std::net::SocketAddr;
use std::time::Instant;

/// What one worker does with the datagrams of one dataset's socket. A worker owns one sink per
/// socket it drains and calls it only from its own thread, so a sink needs no locking.
pub trait DatagramSink: Send + 'static {
    /// One datagram, borrowed from the receive buffer for the duration of the call.
    /// `received_micros` is the wall-clock time of the receive batch, in microseconds since
    /// the Unix epoch.
    fn datagram(&mut self, payload: &[u8], source: SocketAddr, received_micros: i64);

    /// Datagrams the kernel dropped on this socket since the last call because its receive
    /// buffer was full.
    fn kernel_dropped(&mut self, datagrams: u64);

    /// Datagrams cut because they did not fit the receive buffer; they are not delivered.
    fn truncated(&mut self, datagrams: u64);

    /// Called at least once per pool tick while the socket is open, to flush by age.
    fn tick(&mut self, now: Instant);

    /// The socket is closed and no datagram follows: hand over everything held.
    fn close(&mut self);

    /// False while what the sink would make of more datagrams has nowhere to go (its
    /// downstream queue is full). The worker then stops taking datagrams from this socket, so
    /// they wait in the kernel's receive buffer and, if it overflows, are dropped and counted
    /// there (`kernel_dropped`) before any CPU is spent decoding them. The worker asks again
    /// on every tick and resumes when it turns true. Datagrams already received are still
    /// delivered.
    fn ready(&mut self) -> bool {
        true
    }
}
