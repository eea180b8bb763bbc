//! The few system calls the ingest benchmark needs and the standard library lacks: pinning a
//! thread to a core, UDP sockets with a forced receive buffer, `sendmmsg` and `recvmmsg`, and
//! stop/continue signals. Every `unsafe` block of the benchmark lives here.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(core: usize) -> Result<()> {
    // SAFETY: `cpu_set_t` is plain data; zeroed is the empty set, and CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `core` is checked against the set's capacity by CPU_SET's own bounds logic
    // (it ignores out-of-range bits); `set` is a valid, exclusively borrowed set.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is valid for the size passed.
    let status = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if status != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("cannot pin the benchmark thread to core {core}"));
    }
    Ok(())
}

fn socket() -> Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before it is wrapped.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).context("cannot create a UDP socket");
    }
    // SAFETY: `fd` is a freshly created descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int_option(fd: &OwnedFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed.
    let status = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn get_int_option(fd: &OwnedFd, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut length = size_of::<i32>() as libc::socklen_t;
    // SAFETY: `value` and `length` are valid for writes of the sizes given.
    let status = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut i32).cast(),
            &mut length,
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

fn sockaddr(address: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: address.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*address.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A bound UDP socket for the bare receive loop, set up like the proxy's: a large receive
/// buffer (forced past `net.core.rmem_max` as root) and a short receive timeout.
pub struct Receiver {
    fd: OwnedFd,
}

impl Receiver {
    pub fn bind(address: SocketAddrV4, receive_buffer: usize) -> Result<Receiver> {
        let fd = socket()?;
        let wanted = i32::try_from(receive_buffer).unwrap_or(i32::MAX);
        if set_int_option(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, wanted).is_err() {
            set_int_option(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, wanted)
                .context("cannot set SO_RCVBUF")?;
        }
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: `timeout` outlives the call and its size is passed.
        let status = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if status != 0 {
            return Err(io::Error::last_os_error()).context("cannot set SO_RCVTIMEO");
        }
        let address_in = sockaddr(address);
        // SAFETY: `address_in` is a valid sockaddr_in for the length passed.
        let status = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&address_in as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if status != 0 {
            return Err(io::Error::last_os_error()).with_context(|| {
                format!("cannot bind udp://{address}: is another process using the port?")
            });
        }
        Ok(Receiver { fd })
    }

    /// The buffer the kernel granted (it doubles the requested value for bookkeeping).
    pub fn receive_buffer(&self) -> usize {
        get_int_option(&self.fd, libc::SOL_SOCKET, libc::SO_RCVBUF).map_or(0, |v| v as usize)
    }

    /// Receives up to `buffers.len()` datagrams with one `recvmmsg`; 0 on timeout.
    pub fn receive_batch(&self, buffers: &mut [[u8; 2048]]) -> usize {
        let mut iovecs: Vec<libc::iovec> = buffers
            .iter_mut()
            .map(|buffer| libc::iovec {
                iov_base: buffer.as_mut_ptr().cast(),
                iov_len: buffer.len(),
            })
            .collect();
        // SAFETY: mmsghdr is plain data; zeroed means no name, no control data.
        let mut headers: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .map(|iovec| {
                let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
                header.msg_hdr.msg_iov = iovec;
                header.msg_hdr.msg_iovlen = 1;
                header
            })
            .collect();
        // SAFETY: every header points at one live iovec which points at a live buffer of the
        // stated length; `headers` is valid for `headers.len()` entries.
        let count = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                headers.as_mut_ptr(),
                headers.len() as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        usize::try_from(count).unwrap_or(0)
    }
}

/// An unconnected UDP socket that sends batches with `sendmmsg` (unconnected, so an absent
/// listener never turns into ECONNREFUSED on the next call).
pub struct Sender {
    fd: OwnedFd,
    destination: libc::sockaddr_in,
}

impl Sender {
    pub fn new(destination: SocketAddrV4) -> Result<Sender> {
        let fd = socket()?;
        // A large send buffer so the sender, not its socket, sets the pace.
        let _ = set_int_option(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 8 << 20);
        Ok(Sender {
            fd,
            destination: sockaddr(destination),
        })
    }

    /// Sends the datagrams with one `sendmmsg`; returns how many the kernel took.
    pub fn send_batch(&self, datagrams: &[&[u8]]) -> usize {
        if datagrams.is_empty() {
            return 0;
        }
        let mut iovecs: Vec<libc::iovec> = datagrams
            .iter()
            .map(|datagram| libc::iovec {
                iov_base: datagram.as_ptr() as *mut libc::c_void,
                iov_len: datagram.len(),
            })
            .collect();
        let destination = &self.destination as *const libc::sockaddr_in;
        let mut headers: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .map(|iovec| {
                // SAFETY: mmsghdr is plain data; the fields that matter are set below.
                let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
                header.msg_hdr.msg_name = destination as *mut libc::c_void;
                header.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                header.msg_hdr.msg_iov = iovec;
                header.msg_hdr.msg_iovlen = 1;
                header
            })
            .collect();
        // SAFETY: the headers point at the destination address and at iovecs over the caller's
        // datagrams, all alive for the call; the kernel only reads them.
        let count = unsafe {
            libc::sendmmsg(
                self.fd.as_raw_fd(),
                headers.as_mut_ptr(),
                headers.len() as libc::c_uint,
                0,
            )
        };
        usize::try_from(count).unwrap_or(0)
    }
}

/// Sends a signal to a process the benchmark started.
pub fn signal(pid: u32, signal: Signal) -> Result<()> {
    let number = match signal {
        Signal::Stop => libc::SIGSTOP,
        Signal::Continue => libc::SIGCONT,
        Signal::Terminate => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    let pid = i32::try_from(pid).context("process id out of range")?;
    // SAFETY: kill(2) with a pid of a child we started and a valid signal number.
    if unsafe { libc::kill(pid, number) } != 0 {
        bail!(
            "cannot send {signal:?} to process {pid}: {}",
            io::Error::last_os_error()
        );
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
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// Sleeps in small steps when `remaining` is long and spins when it is short, for pacing.
pub fn pause(remaining: Duration) {
    if remaining > Duration::from_micros(200) {
        std::thread::sleep(remaining - Duration::from_micros(100));
    } else {
        std::hint::spin_loop();
    }
}
