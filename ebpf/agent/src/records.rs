//! The probes' records as the kernel wrote them (probes/records.h), read field by field at
//! their offsets: a record shorter than its kind needs, or of a kind this build does not know,
//! is an error the agent counts, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const RECORD_CONNECTION: u32 = 1;
const RECORD_PROCESS_EXEC: u32 = 2;
const RECORD_PROCESS_EXIT: u32 = 3;

const CONNECTION_LEN: usize = 128;
const PROCESS_LEN: usize = 312;
pub const FLOW_KEY_LEN: usize = 40;
pub const FLOW_COUNTERS_LEN: usize = 32;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("a record of {len} bytes is too short for its kind {kind}")]
    Short { kind: u32, len: usize },
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
    #[error("unknown address family {0}")]
    Family(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Unknown,
    Outbound,
    Inbound,
}

impl Direction {
    pub fn name(self) -> Option<&'static str> {
        match self {
            Direction::Unknown => None,
            Direction::Outbound => Some("outbound"),
            Direction::Inbound => Some("inbound"),
        }
    }
}

/// A TCP connection, written by the probe when it reached CLOSE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub pid: u32,
    pub uid: u32,
    pub end_ns: u64,
    /// Boot-clock nanoseconds of its first state change; `None` when it predates the agent.
    pub start_ns: Option<u64>,
    pub cgroup_id: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub segments_sent: u32,
    pub segments_received: u32,
    pub retransmits: u32,
    pub srtt_us: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub direction: Direction,
    /// False when it never reached ESTABLISHED (refused, timed out, reset in the handshake).
    pub established: bool,
    pub comm: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEvent {
    Exec,
    Exit,
}

impl ProcessEvent {
    pub fn name(self) -> &'static str {
        match self {
            ProcessEvent::Exec => "exec",
            ProcessEvent::Exit => "exit",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub event: ProcessEvent,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub time_ns: u64,
    pub cgroup_id: u64,
    pub exit_code: i32,
    pub comm: String,
    /// The program an exec ran; empty on exit.
    pub filename: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelRecord {
    Connection(Connection),
    Process(Process),
}

/// One record from the ring buffer.
pub fn parse_record(bytes: &[u8]) -> Result<KernelRecord, RecordError> {
    let kind = u32_at(bytes, 0).ok_or(RecordError::Short {
        kind: 0,
        len: bytes.len(),
    })?;
    let need = match kind {
        RECORD_CONNECTION => CONNECTION_LEN,
        RECORD_PROCESS_EXEC | RECORD_PROCESS_EXIT => PROCESS_LEN,
        other => return Err(RecordError::UnknownKind(other)),
    };
    if bytes.len() < need {
        return Err(RecordError::Short {
            kind,
            len: bytes.len(),
        });
    }
    let b = &bytes[..need];
    let u32_ = |offset| u32_at(b, offset).unwrap_or(0);
    let u64_ = |offset| u64_at(b, offset).unwrap_or(0);
    if kind == RECORD_CONNECTION {
        let family = u16_at(b, 68).unwrap_or(0);
        let start_ns = u64_(16);
        return Ok(KernelRecord::Connection(Connection {
            pid: u32_(4),
            end_ns: u64_(8),
            start_ns: (start_ns != 0).then_some(start_ns),
            cgroup_id: u64_(24),
            bytes_sent: u64_(32),
            bytes_received: u64_(40),
            segments_sent: u32_(48),
            segments_received: u32_(52),
            retransmits: u32_(56),
            srtt_us: u32_(60),
            uid: u32_(64),
            src_port: u16_at(b, 70).unwrap_or(0),
            dst_port: u16_at(b, 72).unwrap_or(0),
            direction: match b[74] {
                1 => Direction::Outbound,
                2 => Direction::Inbound,
                _ => Direction::Unknown,
            },
            established: b[75] != 2,
            comm: c_string(&b[76..92]),
            src: address(family, &b[96..112])?,
            dst: address(family, &b[112..128])?,
        }));
    }
    Ok(KernelRecord::Process(Process {
        event: if kind == RECORD_PROCESS_EXEC {
            ProcessEvent::Exec
        } else {
            ProcessEvent::Exit
        },
        pid: u32_(4),
        time_ns: u64_(8),
        cgroup_id: u64_(16),
        ppid: u32_(24),
        uid: u32_(28),
        exit_code: u32_(32) as i32,
        comm: c_string(&b[36..52]),
        filename: c_string(&b[56..312]),
    }))
}

/// A UDP or ICMP flow counted in the kernel: its key, and its counters summed over the CPUs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// UDP ports; for ICMP, `src_port` holds type << 8 | code and `dst_port` is 0.
    pub src_port: u16,
    pub dst_port: u16,
    pub ip_protocol: u8,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounters {
    pub packets: u64,
    pub bytes: u64,
    /// Boot-clock nanoseconds; 0 when no CPU saw a packet.
    pub first_ns: u64,
    pub last_ns: u64,
}

impl FlowCounters {
    /// Adds one CPU's slot: counters add up, the time span widens.
    pub fn add(&mut self, cpu: &FlowCounters) {
        self.packets += cpu.packets;
        self.bytes += cpu.bytes;
        if cpu.first_ns != 0 && (self.first_ns == 0 || cpu.first_ns < self.first_ns) {
            self.first_ns = cpu.first_ns;
        }
        self.last_ns = self.last_ns.max(cpu.last_ns);
    }
}

pub fn parse_flow_key(bytes: &[u8; FLOW_KEY_LEN]) -> Result<FlowKey, RecordError> {
    let family = match bytes[37] {
        4 => AF_INET,
        6 => AF_INET6,
        other => return Err(RecordError::Family(other.into())),
    };
    Ok(FlowKey {
        src: address(family, &bytes[0..16])?,
        dst: address(family, &bytes[16..32])?,
        src_port: u16_at(bytes, 32).unwrap_or(0),
        dst_port: u16_at(bytes, 34).unwrap_or(0),
        ip_protocol: bytes[36],
    })
}

pub fn parse_flow_counters(bytes: &[u8; FLOW_COUNTERS_LEN]) -> FlowCounters {
    FlowCounters {
        packets: u64_at(bytes, 0).unwrap_or(0),
        bytes: u64_at(bytes, 8).unwrap_or(0),
        first_ns: u64_at(bytes, 16).unwrap_or(0),
        last_ns: u64_at(bytes, 24).unwrap_or(0),
    }
}

fn address(family: u16, bytes: &[u8]) -> Result<IpAddr, RecordError> {
    match family {
        AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        AF_INET6 => {
            let octets: [u8; 16] = bytes[..16]
                .try_into()
                .map_err(|_| RecordError::Family(family))?;
            Ok(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        other => Err(RecordError::Family(other)),
    }
}

/// Text up to the first NUL; bytes that are not UTF-8 replaced.
fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn u16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        bytes.get(offset..offset + 2)?.try_into().ok()?,
    ))
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        bytes.get(offset..offset + 4)?.try_into().ok()?,
    ))
}

fn u64_at(bytes: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(
        bytes.get(offset..offset + 8)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn connection_bytes() -> Vec<u8> {
        let mut b = vec![0u8; CONNECTION_LEN];
        b[0..4].copy_from_slice(&1u32.to_ne_bytes());
        b[4..8].copy_from_slice(&4242u32.to_ne_bytes());
        b[8..16].copy_from_slice(&2_000u64.to_ne_bytes());
        b[16..24].copy_from_slice(&1_000u64.to_ne_bytes());
        b[32..40].copy_from_slice(&5_000u64.to_ne_bytes());
        b[68..70].copy_from_slice(&2u16.to_ne_bytes());
        b[70..72].copy_from_slice(&40_000u16.to_ne_bytes());
        b[72..74].copy_from_slice(&443u16.to_ne_bytes());
        b[74] = 1;
        b[75] = 1;
        b[76..80].copy_from_slice(b"curl");
        b[96..100].copy_from_slice(&[10, 0, 0, 1]);
        b[112..116].copy_from_slice(&[192, 0, 2, 9]);
        b
    }

    #[test]
    fn a_connection_record_reads_at_its_offsets() {
        let KernelRecord::Connection(c) = parse_record(&connection_bytes()).unwrap() else {
            panic!("not a connection");
        };
        assert_eq!((c.pid, c.start_ns, c.end_ns), (4242, Some(1_000), 2_000));
        assert_eq!(c.bytes_sent, 5_000);
        assert_eq!(c.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(c.dst, "192.0.2.9".parse::<IpAddr>().unwrap());
        assert_eq!((c.src_port, c.dst_port), (40_000, 443));
        assert_eq!(c.direction, Direction::Outbound);
        assert!(c.established);
        assert_eq!(c.comm, "curl");
    }

    #[test]
    fn short_and_unknown_records_are_errors() {
        let bytes = connection_bytes();
        assert_eq!(
            parse_record(&bytes[..100]),
            Err(RecordError::Short { kind: 1, len: 100 })
        );
        assert_eq!(
            parse_record(&9u32.to_ne_bytes()),
            Err(RecordError::UnknownKind(9))
        );
        let mut bad_family = bytes;
        bad_family[68] = 7;
        assert_eq!(parse_record(&bad_family), Err(RecordError::Family(7)));
    }

    #[test]
    fn per_cpu_counters_add_up_and_widen_the_span() {
        let mut total = FlowCounters::default();
        total.add(&FlowCounters {
            packets: 2,
            bytes: 100,
            first_ns: 50,
            last_ns: 60,
        });
        total.add(&FlowCounters::default());
        total.add(&FlowCounters {
            packets: 1,
            bytes: 40,
            first_ns: 20,
            last_ns: 55,
        });
        assert_eq!(
            total,
            FlowCounters {
                packets: 3,
                bytes: 140,
                first_ns: 20,
                last_ns: 60
            }
        );
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_record(&bytes);
        }
    }
}
