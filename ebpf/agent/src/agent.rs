//! The agent's loop: records from the ring buffer, DNS packets from the packet socket and the
//! flow map's counters every interval become wire records, enriched from /proc, packed into
//! datagrams and sent to the proxy's `ebpf` input.

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytefreezer_api::metrics::{
    AGENT_DATAGRAMS_SENT_TOTAL, AGENT_KERNEL_DROPS_TOTAL, AGENT_RECORDS_DROPPED_TOTAL,
    AGENT_RECORDS_TOTAL, AGENT_SEND_ERRORS_TOTAL, Metric,
};
use bytefreezer_telemetry::{Counter, Registry, Shutdown};
use rustix::event::{PollFd, PollFlags, Timespec, poll};

use crate::clock::{BootClock, boot_ns};
use crate::dns::{DnsExchange, PendingQueries, parse_packet, rcode_name, type_name};
use crate::probes::{FlowMap, Probes};
use crate::procfs::{ProcessInfo, ProcessTable};
use crate::records::{
    Connection, FlowCounters, FlowKey, KernelRecord, Process, ProcessEvent, parse_flow_counters,
    parse_flow_key, parse_record,
};
use crate::wire::{DatagramPacker, WireRecord};

/// How a running agent is set up.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The proxy's `ebpf` input.
    pub proxy: SocketAddr,
    /// The `host` of every record.
    pub host: String,
    /// How often UDP and ICMP flows are read from the kernel and sent.
    pub flow_interval: Duration,
    /// Largest datagram sent (1472 fits an Ethernet MTU without fragments).
    pub datagram_bytes: usize,
    /// Flows the kernel counts at once; packets of further flows are counted as dropped.
    pub flows_max: u32,
    /// The ring buffer's size in bytes (a power of two, a multiple of the page size).
    pub ring_bytes: u32,
    /// A query unanswered this long is sent without an answer.
    pub dns_timeout: Duration,
}

impl AgentSettings {
    pub fn new(proxy: SocketAddr) -> AgentSettings {
        AgentSettings {
            proxy,
            host: host_name(),
            flow_interval: Duration::from_secs(10),
            datagram_bytes: 1472,
            flows_max: 16_384,
            ring_bytes: 4 << 20,
            dns_timeout: Duration::from_secs(5),
        }
    }
}

/// This host's name, as the kernel has it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// How long partly filled datagrams wait before they are sent anyway.
const SEND_EVERY: Duration = Duration::from_millis(200);
const DROP_CAUSES: [&str; 3] = ["ring_full", "flow_map_full", "connection_map_full"];
const RECORD_TYPES: [&str; 4] = ["connection", "flow", "process", "dns"];

struct Counters {
    registry: Registry,
    /// Per record type, as [`RECORD_TYPES`] lists them: looked up once, counted per record.
    records: [Counter; 4],
    datagrams: Counter,
    send_errors: Counter,
    kernel_drops: [Counter; 3],
    kernel_seen: [u64; 3],
}

impl Counters {
    fn new(registry: &Registry) -> Counters {
        let counter = |metric: Metric, labels: &[(&str, &str)]| {
            registry.counter(metric.name, metric.help, labels)
        };
        Counters {
            registry: registry.clone(),
            records: RECORD_TYPES
                .map(|kind| counter(AGENT_RECORDS_TOTAL, &[("record_type", kind)])),
            datagrams: counter(AGENT_DATAGRAMS_SENT_TOTAL, &[]),
            send_errors: counter(AGENT_SEND_ERRORS_TOTAL, &[]),
            kernel_drops: DROP_CAUSES
                .map(|cause| counter(AGENT_KERNEL_DROPS_TOTAL, &[("cause", cause)])),
            kernel_seen: [0; 3],
        }
    }

    fn record(&self, record_type: &str) {
        let index = RECORD_TYPES.iter().position(|kind| *kind == record_type);
        match index {
            Some(index) => self.records[index].increment(1),
            None => self
                .registry
                .counter(
                    AGENT_RECORDS_TOTAL.name,
                    AGENT_RECORDS_TOTAL.help,
                    &[("record_type", record_type)],
                )
                .increment(1),
        }
    }

    fn dropped(&self, cause: &str, count: u64) {
        self.registry
            .counter(
                AGENT_RECORDS_DROPPED_TOTAL.name,
                AGENT_RECORDS_DROPPED_TOTAL.help,
                &[("cause", cause)],
            )
            .increment(count);
    }
}

/// The probes loaded and attached, and the socket to the proxy open: nothing left that the
/// host can refuse.
pub struct Agent {
    probes: Probes,
    settings: AgentSettings,
    socket: UdpSocket,
}

impl Agent {
    /// Loads the probes, failing at once (with what the host lacks) when it cannot.
    pub fn load(settings: AgentSettings) -> Result<Agent> {
        let probes = crate::probes::load(settings.flows_max, settings.ring_bytes)?;
        let socket = UdpSocket::bind(if settings.proxy.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })
        .context("cannot open the agent's UDP socket")?;
        socket
            .connect(settings.proxy)
            .with_context(|| format!("cannot reach {}", settings.proxy))?;
        tracing::info!(
            "agent: probes loaded, sending to udp://{} as host {}",
            settings.proxy,
            settings.host
        );
        Ok(Agent {
            probes,
            settings,
            socket,
        })
    }

    /// Sends what the probes see until `shutdown`. The loop is synchronous, on a thread of its
    /// own: it waits on the ring buffer and the packet socket with poll(2).
    pub async fn run(self, registry: Registry, shutdown: Shutdown) -> Result<()> {
        let Agent {
            probes,
            settings,
            socket,
        } = self;
        tokio::task::spawn_blocking(move || {
            run_loop(probes, settings, &registry, &socket, &shutdown)
        })
        .await
        .context("the agent's loop panicked")?
    }
}

/// [`Agent::load`], then [`Agent::run`].
pub async fn run(settings: AgentSettings, registry: Registry, shutdown: Shutdown) -> Result<()> {
    Agent::load(settings)?.run(registry, shutdown).await
}

fn run_loop(
    probes: Probes,
    settings: AgentSettings,
    registry: &Registry,
    socket: &UdpSocket,
    shutdown: &Shutdown,
) -> Result<()> {
    let Probes {
        mut records,
        mut flows,
        drops,
        packets,
        ebpf: _attached,
    } = probes;
    let mut state = AgentState {
        clock: BootClock::now(),
        processes: ProcessTable::new(),
        queries: PendingQueries::default(),
        packer: DatagramPacker::new(settings.datagram_bytes),
        counters: Counters::new(registry),
        flows_sent: HashMap::new(),
        settings,
    };
    let wait = Timespec {
        tv_sec: 0,
        tv_nsec: SEND_EVERY.as_nanos() as i64,
    };
    let mut last_send = Instant::now();
    let mut last_flows = Instant::now();
    let mut packet = vec![0u8; 65_536];
    while !shutdown.is_triggered() {
        let mut ready = [
            PollFd::new(&records, PollFlags::IN),
            PollFd::new(&packets, PollFlags::IN),
        ];
        match poll(&mut ready, Some(&wait)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(error).context("waiting for the probes"),
        }
        let packets_ready = !ready[1].revents().is_empty();
        while let Some(item) = records.next() {
            state.kernel_record(&item);
        }
        if packets_ready {
            let mut reader = &packets;
            loop {
                match reader.read(&mut packet) {
                    Ok(length) => state.dns_packet(&packet[..length]),
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(error) => {
                        tracing::warn!("agent: reading the packet socket: {error}");
                        break;
                    }
                }
            }
        }
        if last_flows.elapsed() >= state.settings.flow_interval {
            last_flows = Instant::now();
            state.clock = BootClock::now();
            state.read_flows(&mut flows);
            state.read_drops(&drops);
        }
        let due = last_send.elapsed() >= SEND_EVERY;
        if due {
            last_send = Instant::now();
            let timeout = state.settings.dns_timeout.as_nanos() as u64;
            for exchange in state.queries.expire(boot_ns().saturating_sub(timeout)) {
                state.dns_exchange(exchange);
            }
        }
        state.send(socket, due);
    }
    state.read_flows(&mut flows);
    state.read_drops(&drops);
    state.send(socket, true);
    Ok(())
}

/// The process a kernel record names.
struct Owner {
    pid: u32,
    uid: u32,
    comm: String,
    cgroup_id: u64,
}

struct AgentState {
    settings: AgentSettings,
    clock: BootClock,
    processes: ProcessTable,
    queries: PendingQueries,
    packer: DatagramPacker,
    counters: Counters,
    /// What was sent of each flow still in the kernel's map, so each interval sends the change.
    flows_sent: HashMap<FlowKey, FlowCounters>,
}

impl AgentState {
    fn kernel_record(&mut self, bytes: &[u8]) {
        match parse_record(bytes) {
            Ok(KernelRecord::Connection(connection)) => self.connection(connection),
            Ok(KernelRecord::Process(process)) => self.process(process),
            Err(error) => {
                self.counters.dropped("malformed", 1);
                tracing::warn!("agent: a kernel record was dropped: {error}");
            }
        }
    }

    fn push(&mut self, record: WireRecord) {
        self.counters.record(record.record_type);
        self.packer.push(&record);
    }

    fn connection(&mut self, connection: Connection) {
        let mut record = WireRecord::new(
            "connection",
            self.clock.wall(connection.end_ns),
            &self.settings.host,
        );
        record.endpoints(
            connection.src,
            connection.src_port,
            connection.dst,
            connection.dst_port,
        );
        record.ip_protocol = Some(6);
        record.direction = connection.direction.name();
        record.outcome = Some(if connection.established {
            "closed"
        } else {
            "failed"
        });
        record.bytes_sent = Some(connection.bytes_sent);
        record.bytes_received = Some(connection.bytes_received);
        record.packets_sent = Some(connection.segments_sent.into());
        record.packets_received = Some(connection.segments_received.into());
        record.retransmits = Some(connection.retransmits);
        record.rtt_us = Some(connection.srtt_us);
        record.duration_us = connection
            .start_ns
            .map(|start| connection.end_ns.saturating_sub(start) / 1_000);
        if connection.pid != 0 {
            let info = self.processes.lookup(connection.pid);
            let owner = Owner {
                pid: connection.pid,
                uid: connection.uid,
                comm: connection.comm,
                cgroup_id: connection.cgroup_id,
            };
            self.describe(&mut record, owner, info);
        }
        self.push(record);
    }

    fn process(&mut self, process: Process) {
        let mut record = WireRecord::new(
            "process",
            self.clock.wall(process.time_ns),
            &self.settings.host,
        );
        let info = match process.event {
            ProcessEvent::Exec => {
                self.processes
                    .exec(process.pid, &process.filename, process.time_ns)
            }
            ProcessEvent::Exit => {
                let info = self.processes.exit(process.pid);
                record.exit_code = Some(process.exit_code);
                record.duration_us = info
                    .started_ns
                    .map(|start| process.time_ns.saturating_sub(start) / 1_000);
                info
            }
        };
        record.event = Some(process.event.name());
        record.ppid = Some(process.ppid);
        let owner = Owner {
            pid: process.pid,
            uid: process.uid,
            comm: process.comm,
            cgroup_id: process.cgroup_id,
        };
        self.describe(&mut record, owner, info);
        self.push(record);
    }

    /// The process fields of a record: what the kernel said and what /proc added.
    fn describe(&mut self, record: &mut WireRecord, owner: Owner, info: ProcessInfo) {
        record.pid = Some(owner.pid);
        record.uid = Some(owner.uid);
        record.user = self.processes.user_name(owner.uid);
        record.comm = Some(owner.comm);
        record.cgroup_id = Some(owner.cgroup_id);
        record.exe = info.exe;
        record.cmdline = info.cmdline;
        record.container_id = info.container_id;
    }

    fn dns_packet(&mut self, packet: &[u8]) {
        match parse_packet(packet) {
            Ok(dns) => {
                for exchange in self.queries.take(dns, boot_ns()) {
                    self.dns_exchange(exchange);
                }
            }
            Err(error) => {
                self.counters.dropped("malformed_dns", 1);
                tracing::debug!("agent: a DNS packet was not read: {error}");
            }
        }
    }

    fn dns_exchange(&mut self, exchange: DnsExchange) {
        let query = &exchange.query;
        let mut record = WireRecord::new(
            "dns",
            self.clock.wall(exchange.asked_ns),
            &self.settings.host,
        );
        record.endpoints(query.src, query.src_port, query.dst, query.dst_port);
        record.ip_protocol = Some(17);
        record.dns_id = Some(query.id);
        record.dns_query = Some(query.name.clone());
        record.dns_type = Some(type_name(query.query_type));
        match &exchange.answer {
            Some((answer, answered_ns)) => {
                record.dns_rcode = Some(rcode_name(answer.rcode));
                record.dns_answers = Some(answer.answers.join(","));
                record.dns_latency_us = Some(answered_ns.saturating_sub(exchange.asked_ns) / 1_000);
            }
            None => record.dns_rcode = Some("NO_ANSWER".into()),
        }
        self.push(record);
    }

    /// Sends each flow's change since the last read; forgets flows idle for two intervals
    /// (deleting them frees their slot in the kernel's bounded map).
    fn read_flows(&mut self, flows: &mut FlowMap) {
        let idle_before =
            boot_ns().saturating_sub(2 * self.settings.flow_interval.as_nanos() as u64);
        let mut idle = Vec::new();
        let mut read = Vec::new();
        for entry in flows.iter() {
            let Ok((raw_key, per_cpu)) = entry else {
                continue;
            };
            let mut total = FlowCounters::default();
            for cpu in per_cpu.iter() {
                total.add(&parse_flow_counters(cpu));
            }
            let key = parse_flow_key(&raw_key);
            if total.last_ns < idle_before {
                idle.push((raw_key, key.as_ref().ok().cloned()));
            }
            match key {
                Ok(key) => read.push((key, total)),
                Err(error) => tracing::warn!("agent: a flow key was not read: {error}"),
            }
        }
        for (key, total) in read {
            let sent = self.flows_sent.get(&key).copied().unwrap_or_default();
            if total.packets > sent.packets {
                self.flow(&key, &total, &sent);
                self.flows_sent.insert(key, total);
            }
        }
        for (raw_key, key) in idle {
            let _ = flows.remove(&raw_key);
            if let Some(key) = key {
                self.flows_sent.remove(&key);
            }
        }
    }

    fn flow(&mut self, key: &FlowKey, total: &FlowCounters, sent: &FlowCounters) {
        let mut record =
            WireRecord::new("flow", self.clock.wall(total.last_ns), &self.settings.host);
        let icmp = key.ip_protocol == 1 || key.ip_protocol == 58;
        if icmp {
            record.endpoints(key.src, 0, key.dst, 0);
            record.src_port = None;
            record.dst_port = None;
            record.icmp_type = Some((key.src_port >> 8) as u8);
            record.icmp_code = Some((key.src_port & 0xff) as u8);
        } else {
            record.endpoints(key.src, key.src_port, key.dst, key.dst_port);
        }
        record.ip_protocol = Some(key.ip_protocol);
        record.packets = Some(total.packets - sent.packets);
        record.bytes = Some(total.bytes.saturating_sub(sent.bytes));
        let since = if sent.last_ns != 0 {
            sent.last_ns
        } else {
            total.first_ns
        };
        record.duration_us = Some(total.last_ns.saturating_sub(since) / 1_000);
        self.push(record);
    }

    fn read_drops(&mut self, drops: &aya::maps::PerCpuArray<aya::maps::MapData, u64>) {
        for (index, counter) in self.counters.kernel_drops.iter().enumerate() {
            let Ok(per_cpu) = drops.get(&(index as u32), 0) else {
                continue;
            };
            let total: u64 = per_cpu.iter().sum();
            let new = total.saturating_sub(self.counters.kernel_seen[index]);
            if new > 0 {
                counter.increment(new);
                tracing::warn!(
                    "agent: the kernel dropped {new} records ({})",
                    DROP_CAUSES[index]
                );
            }
            self.counters.kernel_seen[index] = total;
        }
    }

    fn send(&mut self, socket: &UdpSocket, all: bool) {
        if self.packer.oversized > 0 {
            self.counters
                .dropped("oversized", std::mem::take(&mut self.packer.oversized));
        }
        for datagram in self.packer.take(all) {
            match socket.send(&datagram) {
                Ok(_) => self.counters.datagrams.increment(1),
                Err(error) => {
                    self.counters.send_errors.increment(1);
                    tracing::warn!("agent: cannot send to {}: {error}", self.settings.proxy);
                }
            }
        }
    }
}
