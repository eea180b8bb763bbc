use std::io;
use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// One dataset's sockets, one per worker, sharing a port through `SO_REUSEPORT` so the kernel
/// spreads senders over the workers (each sender stays on one worker, which keeps an
/// exporter's templates and its data together).
#[derive(Debug)]
pub struct BoundGroup {
    pub sockets: Vec<UdpSocket>,
    pub local: SocketAddr,
    /// The receive buffer the kernel granted each socket, in bytes of payload.
    pub granted_receive_buffer: usize,
}

/// Binds `count` sockets to `address` (port 0 picks one free port for all of them), each
/// non-blocking, asking for a `receive_buffer`-byte receive buffer and for the kernel's drop
/// counter on every datagram. A port held by another process fails with `AddrInUse`.
pub fn bind_group(
    address: SocketAddr,
    count: usize,
    receive_buffer: usize,
) -> io::Result<BoundGroup> {
    let first = bind_one(address, receive_buffer)?;
    let local = first.local_addr()?;
    let granted_receive_buffer = granted(&first);
    let mut sockets = vec![first];
    for _ in 1..count.max(1) {
        sockets.push(bind_one(local, receive_buffer)?);
    }
    Ok(BoundGroup {
        sockets,
        local,
        granted_receive_buffer,
    })
}

fn bind_one(address: SocketAddr, receive_buffer: usize) -> io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    socket.set_reuse_port(true)?;
    if address.is_ipv6() {
        // `[::]` receives IPv4 senders too, as users expect from "all addresses".
        let _ = socket.set_only_v6(false);
    }
    // Best effort: the kernel caps it at net.core.rmem_max, which `granted` reports.
    let _ = socket.set_recv_buffer_size(receive_buffer);
    set_receive_queue_overflow(&socket)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket.into())
}

fn granted(socket: &UdpSocket) -> usize {
    // Linux reports twice the granted size (it counts its bookkeeping overhead).
    socket2::SockRef::from(socket)
        .recv_buffer_size()
        .map_or(0, |doubled| doubled / 2)
}

fn set_receive_queue_overflow(socket: &Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let enable: libc::c_int = 1;
    // SAFETY: the fd is open for the life of `socket`; the option value is a live c_int and
    // its size is passed with it.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            (&enable as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
