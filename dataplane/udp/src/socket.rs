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
/// counter on every datagram.
///
/// The port is claimed exclusively: the first socket binds *without* `SO_REUSEPORT`, which the
/// kernel refuses (`AddrInUse`) while any socket holds an overlapping address (the same one, or
/// a wildcard covering it, or a specific one under our wildcard), whether another dataset's
/// group in this process, another `bytefreezer` process, or anything else. Only once bound does
/// it turn `SO_REUSEPORT` on so the group's other sockets can join it. So two groups never share
/// a port and silently split each other's datagrams, and the claim is atomic: two binders
/// racing for a port cannot both win, as they could with a probe bind before the group.
pub fn bind_group(
    address: SocketAddr,
    count: usize,
    receive_buffer: usize,
) -> io::Result<BoundGroup> {
    let first = bind_one(address, receive_buffer, Claim::Exclusive).map_err(|error| {
        if error.kind() == io::ErrorKind::AddrInUse {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "udp://{address} is already bound by another socket (another dataset on an overlapping address, \
                     or another process such as a second `bytefreezer`); choose another port or stop the other listener"
                ),
            )
        } else {
            error
        }
    })?;
    let local = first.local_addr()?;
    let granted_receive_buffer = granted(&first);
    let mut sockets = vec![first];
    for _ in 1..count.max(1) {
        sockets.push(bind_one(local, receive_buffer, Claim::JoinGroup)?);
    }
    Ok(BoundGroup {
        sockets,
        local,
        granted_receive_buffer,
    })
}

/// How a socket binds: the group's first claims the port alone, the others join its group.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Claim {
    Exclusive,
    JoinGroup,
}

fn bind_one(address: SocketAddr, receive_buffer: usize, claim: Claim) -> io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if claim == Claim::JoinGroup {
        socket.set_reuse_port(true)?;
    }
    if address.is_ipv6() {
        // `[::]` receives IPv4 senders too, as users expect from "all addresses".
        let _ = socket.set_only_v6(false);
    }
    // Best effort: the kernel caps it at net.core.rmem_max, which `granted` reports.
    let _ = socket.set_recv_buffer_size(receive_buffer);
    set_receive_queue_overflow(&socket)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    if claim == Claim::Exclusive {
        // The kernel checks SO_REUSEPORT on both sockets when the *next* one binds, so setting
        // it now lets the group's own sockets join while no one could share the bind above.
        socket.set_reuse_port(true)?;
    }
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

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;
    use std::time::{Duration, Instant};

    use super::*;

    /// Set in the child process of [`another_process_cannot_join_a_bound_port`].
    const CHILD_BIND: &str = "BYTEFREEZER_UDP_TEST_CHILD_BIND";

    fn drain(group: &BoundGroup, expected: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut received = 0;
        let mut buffer = [0u8; 64];
        while received < expected && Instant::now() < deadline {
            for socket in &group.sockets {
                while socket.recv(&mut buffer).is_ok() {
                    received += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        received
    }

    fn send_from_many_ports(to: SocketAddr, count: usize) {
        for _ in 0..count {
            UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .send_to(b"x", to)
                .unwrap();
        }
    }

    #[test]
    fn a_second_group_on_an_overlapping_address_is_refused() {
        let first = bind_group(SocketAddr::from(([127, 0, 0, 1], 0)), 2, 1 << 16).unwrap();
        let port = first.local.port();
        for address in [
            first.local,
            SocketAddr::from(([0, 0, 0, 0], port)),
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
        ] {
            let error = bind_group(address, 2, 1 << 16).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{address}: {error}");
            assert!(
                error
                    .to_string()
                    .contains(&format!("udp://{address} is already bound")),
                "{error}"
            );
        }
        let wildcard = bind_group(SocketAddr::from(([0, 0, 0, 0], 0)), 2, 1 << 16).unwrap();
        let under = SocketAddr::from(([127, 0, 0, 1], wildcard.local.port()));
        assert!(
            bind_group(under, 2, 1 << 16).is_err(),
            "{under} under the wildcard"
        );
        // Every datagram still reaches the first group's sockets, spread over them.
        send_from_many_ports(first.local, 64);
        assert_eq!(drain(&first, 64), 64);
    }

    #[test]
    fn another_process_cannot_join_a_bound_port() {
        if let Ok(address) = std::env::var(CHILD_BIND) {
            match bind_group(address.parse().unwrap(), 2, 1 << 16) {
                Ok(group) => println!("CHILD BOUND {}", group.local),
                Err(error) => println!("CHILD REFUSED {error}"),
            }
            return;
        }
        let first = bind_group(SocketAddr::from(([127, 0, 0, 1], 0)), 2, 1 << 16).unwrap();
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "socket::tests::another_process_cannot_join_a_bound_port",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_BIND, first.local.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!(
                "CHILD REFUSED udp://{} is already bound by another socket",
                first.local
            )),
            "{stdout}"
        );
        send_from_many_ports(first.local, 32);
        assert_eq!(drain(&first, 32), 32, "nothing went to the other process");
    }
}
