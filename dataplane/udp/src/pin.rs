//! Which cores the workers run on: the ones this process may use (so `taskset` and systemd's
//! `CPUAffinity=` are respected), one worker per core, in order.

use std::io;

/// The CPUs this process is allowed to run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; zeroed is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live cpu_set_t and its exact size is passed.
    let result =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if result != 0 {
        return vec![0];
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the set's capacity.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() { vec![0] } else { cpus }
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: as above, a zeroed cpu_set_t is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of the live set; `cpu` comes from `allowed_cpus`, below
    // CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a live cpu_set_t and its exact size is passed; pid 0 is this thread.
    let result =
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Lowers the calling thread's scheduling priority to `nice` (0 to 19). Threads that share a
/// core with the receive workers call it so the workers win the CPU when both have work:
/// draining a socket buffer cannot wait, encoding a queued batch can.
pub fn lower_current_thread_priority(nice: i32) -> io::Result<()> {
    // SAFETY: gettid has no preconditions.
    let thread = unsafe { libc::gettid() };
    // SAFETY: a plain system call on this thread's own id; raising a nice value needs no
    // privilege.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, nice) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
