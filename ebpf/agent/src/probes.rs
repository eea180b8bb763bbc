//! Loading the probes compiled into this binary and attaching them: three tracepoints and the
//! packet socket's filter. Every failure says what the host lacks (root or CAP_BPF and
//! CAP_PERFMON, tracefs, a kernel with BTF).

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use aya::maps::{MapData, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::programs::{SocketFilter, TracePoint};
use aya::{Ebpf, EbpfLoader};
use rustix::mount::{MountFlags, mount};
use socket2::{Domain, Protocol, Socket, Type};

use crate::records::{FLOW_COUNTERS_LEN, FLOW_KEY_LEN};

/// The probes, compiled by build.rs; empty when the build host lacked clang or libbpf's headers.
static PROBES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/agent.bpf.o"));
/// Why the probes are missing, as build.rs found; empty when they are here.
const PROBES_MISSING: &str = env!("BYTEFREEZER_PROBES_MISSING");

/// `ETH_P_ALL`: every protocol, as a packet socket's protocol in network order.
const ETH_P_ALL: u16 = 0x0003;
const PACKET_SOCKET_BUFFER: usize = 4 << 20;

pub type FlowMap = PerCpuHashMap<MapData, [u8; FLOW_KEY_LEN], [u8; FLOW_COUNTERS_LEN]>;

/// The loaded probes and what user space reads them through. Dropping it detaches them.
pub struct Probes {
    pub records: RingBuf<MapData>,
    pub flows: FlowMap,
    pub drops: PerCpuArray<MapData, u64>,
    /// Receives the DNS packets the filter lets through, from their IP header on.
    pub packets: Socket,
    /// Holds the programs (and so their attachments) for as long as the probes run.
    pub ebpf: Ebpf,
}

/// Whether this binary carries its probes, and why not.
pub fn probes_built() -> Result<(), &'static str> {
    if PROBES.is_empty() {
        Err(PROBES_MISSING)
    } else {
        Ok(())
    }
}

pub fn load(flows_max: u32, ring_bytes: u32) -> Result<Probes> {
    if let Err(missing) = probes_built() {
        bail!(
            "this bytefreezer was built without its eBPF probes ({missing}); install clang-19 and \
             libbpf-dev, then build again (docs/ebpf.md)"
        );
    }
    ensure_tracefs()?;
    let mut ebpf = EbpfLoader::new()
        .map_max_entries("flows", flows_max)
        .map_max_entries("records", ring_bytes)
        .load(PROBES)
        .context(
            "cannot load the eBPF probes: run as root (or with CAP_BPF, CAP_PERFMON and \
             CAP_NET_RAW) on a kernel with BTF (/sys/kernel/btf/vmlinux)",
        )?;
    for (program, category, name) in [
        ("tcp_state", "sock", "inet_sock_set_state"),
        ("process_exec", "sched", "sched_process_exec"),
        ("process_exit", "sched", "sched_process_exit"),
    ] {
        let tracepoint: &mut TracePoint = ebpf
            .program_mut(program)
            .with_context(|| format!("the probes lack the program {program}"))?
            .try_into()?;
        tracepoint
            .load()
            .with_context(|| format!("the kernel refused the probe {program}"))?;
        tracepoint.attach(category, name).with_context(|| {
            format!(
                "cannot attach to the tracepoint {category}/{name} (is tracefs mounted? \
                 mount -t tracefs tracefs /sys/kernel/tracing)"
            )
        })?;
    }
    let filter: &mut SocketFilter = ebpf
        .program_mut("packets")
        .context("the probes lack the program packets")?
        .try_into()?;
    filter
        .load()
        .context("the kernel refused the packet filter")?;
    let packets = Socket::new(
        Domain::PACKET,
        Type::DGRAM,
        Some(Protocol::from(i32::from(ETH_P_ALL.to_be()))),
    )
    .context("cannot open a packet socket (needs CAP_NET_RAW)")?;
    filter
        .attach(&packets)
        .context("cannot attach the packet filter")?;
    packets.set_nonblocking(true)?;
    packets.set_recv_buffer_size(PACKET_SOCKET_BUFFER)?;
    discard_unfiltered(&packets);
    let records = RingBuf::try_from(ebpf.take_map("records").context("no records map")?)?;
    let flows = FlowMap::try_from(ebpf.take_map("flows").context("no flows map")?)?;
    let drops = PerCpuArray::try_from(ebpf.take_map("drops").context("no drops map")?)?;
    Ok(Probes {
        records,
        flows,
        drops,
        packets,
        ebpf,
    })
}

/// Where tracepoints are found; systemd mounts it at boot, a bare root shell may not have.
const TRACEFS: &str = "/sys/kernel/tracing";

/// Mounts tracefs when neither it nor debugfs's copy is mounted (the probes attach to
/// tracepoints through it).
fn ensure_tracefs() -> Result<()> {
    let mounted = [TRACEFS, "/sys/kernel/debug/tracing"]
        .iter()
        .any(|path| Path::new(path).join("events").is_dir());
    if mounted {
        return Ok(());
    }
    mount("tracefs", TRACEFS, "tracefs", MountFlags::empty(), None).with_context(|| {
        format!("tracefs is not mounted and cannot be: mount -t tracefs tracefs {TRACEFS}")
    })?;
    tracing::info!("agent: mounted tracefs on {TRACEFS}");
    Ok(())
}

/// Packets queued between opening the socket and attaching its filter went unfiltered.
fn discard_unfiltered(socket: &Socket) {
    let mut buffer = [0u8; 2048];
    let mut reader = socket;
    while reader.read(&mut buffer).is_ok() {}
}
