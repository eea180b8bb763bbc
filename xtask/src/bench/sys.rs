//! The few system calls the ingest benchmark needs and the standard library lacks: pinning a
//! thread to a core, UDP sockets with a forced receive buffer, `sendmmsg` and `recvmmsg`, and
//! stop/continue signals. All go through safe wrappers (rustix; `recvmmsg` through
//! `bytefreezer_udp::receive_batch`, as rustix has none), so xtask holds no `unsafe`.

use std::io::IoSlice;
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rustix::net::addr::SocketAddrArg;
use rustix::net::sockopt;
use rustix::net::{
    AddressFamily, MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, SocketFlags, SocketType,
};
use rustix::process::{Pid, Signal as ProcessSignal};
use rustix::thread::CpuSet;

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(core: usize) -> Result<()> {
    // CpuSet::set would panic past the set's capacity; sched_setaffinity refuses an empty set.
    if core >= CpuSet::MAX_CPU {
        bail!("cannot pin the benchmark thread to core {core}: beyond the CPU set");
    }
    let mut set = CpuSet::new();
    set.set(core);
    rustix::thread::sched_setaffinity(None, &set)
        .with_context(|| format!("cannot pin the benchmark thread to core {core}"))
}

fn socket() -> Result<OwnedFd> {
    rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .context("cannot create a UDP socket")
}

/// A bound UDP socket for the bare receive loop, set up like the proxy's: a large receive
/// buffer (forced past `net.core.rmem_max` as root) and a short receive timeout.
pub struct Receiver {
    fd: OwnedFd,
}

impl Receiver {
    pub fn bind(address: SocketAddrV4, receive_buffer: usize) -> Result<Receiver> {
        let fd = socket()?;
        let wanted = receive_buffer.min(i32::MAX as usize);
        if sockopt::set_socket_recv_buffer_size_force(&fd, wanted).is_err() {
            sockopt::set_socket_recv_buffer_size(&fd, wanted).context("cannot set SO_RCVBUF")?;
        }
        sockopt::set_socket_timeout(
            &fd,
            sockopt::Timeout::Recv,
            Some(Duration::from_millis(100)),
        )
        .context("cannot set SO_RCVTIMEO")?;
        rustix::net::bind(&fd, &address).with_context(|| {
            format!("cannot bind udp://{address}: is another process using the port?")
        })?;
        Ok(Receiver { fd })
    }

    /// The buffer the kernel granted (it doubles the requested value for bookkeeping).
    pub fn receive_buffer(&self) -> usize {
        sockopt::socket_recv_buffer_size(&self.fd).unwrap_or(0)
    }

    /// Receives up to `buffers.len()` datagrams with one `recvmmsg`; 0 on timeout.
    pub fn receive_batch(&self, buffers: &mut [[u8; 2048]]) -> usize {
        bytefreezer_udp::receive_batch(&self.fd, buffers).unwrap_or(0)
    }
}

/// An unconnected UDP socket that sends batches with `sendmmsg` (unconnected, so an absent
/// listener never turns into ECONNREFUSED on the next call).
pub struct Sender {
    fd: OwnedFd,
    destination: SocketAddrAny,
}

impl Sender {
    pub fn new(destination: SocketAddrV4) -> Result<Sender> {
        let fd = socket()?;
        // A large send buffer so the sender, not its socket, sets the pace.
        let _ = sockopt::set_socket_send_buffer_size_force(&fd, 8 << 20);
        Ok(Sender {
            fd,
            destination: destination.as_any(),
        })
    }

    /// Sends the datagrams with one `sendmmsg`; returns how many the kernel took.
    pub fn send_batch(&self, datagrams: &[&[u8]]) -> usize {
        if datagrams.is_empty() {
            return 0;
        }
        let slices: Vec<[IoSlice<'_>; 1]> = datagrams
            .iter()
            .map(|datagram| [IoSlice::new(datagram)])
            .collect();
        let mut no_control: Vec<SendAncillaryBuffer<'_, '_, '_>> = datagrams
            .iter()
            .map(|_| SendAncillaryBuffer::default())
            .collect();
        let mut headers: Vec<MMsgHdr<'_>> = slices
            .iter()
            .zip(no_control.iter_mut())
            .map(|(slice, control)| MMsgHdr::new_with_addr(&self.destination, slice, control))
            .collect();
        rustix::net::sendmmsg(&self.fd, &mut headers, SendFlags::empty()).unwrap_or(0)
    }
}

/// Sends a signal to a process the benchmark started.
pub fn signal(pid: u32, signal: Signal) -> Result<()> {
    let number = match signal {
        Signal::Stop => ProcessSignal::STOP,
        Signal::Continue => ProcessSignal::CONT,
        Signal::Terminate => ProcessSignal::TERM,
        Signal::Kill => ProcessSignal::KILL,
    };
    let pid = i32::try_from(pid).context("process id out of range")?;
    let Some(process) = Pid::from_raw(pid) else {
        bail!("cannot send {signal:?} to process {pid}: not a process id");
    };
    if let Err(error) = rustix::process::kill_process(process, number) {
        bail!("cannot send {signal:?} to process {pid}: {error}");
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub enum Signal {
    Stop,
    Continue,
    Terminate,
    Kill,
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub fn clock_ticks_per_second() -> f64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100.0,
        ticks => ticks as f64,
    }
}

/// Sleeps in small steps when `remaining` is long and spins when it is short, for pacing.
pub fn pause(remaining: Duration) {
    if remaining > Duration::from_micros(200) {
        std::thread::sleep(remaining - Duration::from_micros(100));
    } else {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, UdpSocket};

    use super::*;

    #[test]
    fn a_batch_sent_with_sendmmsg_arrives_through_recvmmsg() {
        let port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|socket| socket.local_addr())
            .expect("a free port")
            .port();
        let address = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        let receiver = Receiver::bind(address, 1 << 20).expect("bind");
        assert!(receiver.receive_buffer() > 0);
        let sender = Sender::new(address).expect("sender");
        assert_eq!(sender.send_batch(&[b"one", b"two", b"three"]), 3);
        let mut buffers = vec![[0u8; 2048]; 8];
        let mut received = receiver.receive_batch(&mut buffers);
        assert_eq!(&buffers[0][..3], b"one");
        while received < 3 {
            let count = receiver.receive_batch(&mut buffers);
            assert!(count > 0, "timed out after {received} datagrams");
            received += count;
        }
        // Nothing more: the receive timeout (100 ms) ends the wait with 0.
        assert_eq!(receiver.receive_batch(&mut buffers), 0);
    }

    #[test]
    fn the_process_may_signal_itself_and_knows_its_clock() {
        signal(std::process::id(), Signal::Continue).expect("SIGCONT to self");
        assert!(signal(0, Signal::Continue).is_err());
        assert!(clock_ticks_per_second() >= 1.0);
        pin_current_thread(CpuSet::MAX_CPU).expect_err("beyond the set");
    }
}
