/// One captured frame and the link type that says how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub timestamp_micros: i64,
    pub link_type: u32,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    #[error("not a pcap or pcapng file (magic {0:02x?})")]
    UnknownFormat([u8; 4]),
    #[error("capture truncated at byte {0}")]
    Truncated(usize),
    #[error("pcapng block at byte {offset}: {problem}")]
    BadBlock { offset: usize, problem: String },
}

#[derive(Debug, Clone, Copy)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u16(self, b: &[u8]) -> u16 {
        let b = [b[0], b[1]];
        match self {
            Order::Little => u16::from_le_bytes(b),
            Order::Big => u16::from_be_bytes(b),
        }
    }
    fn u32(self, b: &[u8]) -> u32 {
        let b = [b[0], b[1], b[2], b[3]];
        match self {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        }
    }
}

/// Every packet of a pcap or pcapng capture, in file order.
pub fn packets(capture: &[u8]) -> Result<Vec<Packet<'_>>, CaptureError> {
    let magic: [u8; 4] = capture
        .get(0..4)
        .and_then(|m| m.try_into().ok())
        .ok_or(CaptureError::Truncated(0))?;
    match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => pcap(capture, Order::Little, 1),
        [0xa1, 0xb2, 0xc3, 0xd4] => pcap(capture, Order::Big, 1),
        [0x4d, 0x3c, 0xb2, 0xa1] => pcap(capture, Order::Little, 1_000),
        [0xa1, 0xb2, 0x3c, 0x4d] => pcap(capture, Order::Big, 1_000),
        [0x0a, 0x0d, 0x0d, 0x0a] => pcapng(capture),
        other => Err(CaptureError::UnknownFormat(other)),
    }
}

fn pcap(
    capture: &[u8],
    order: Order,
    fraction_per_micro: i64,
) -> Result<Vec<Packet<'_>>, CaptureError> {
    let header = capture.get(0..24).ok_or(CaptureError::Truncated(0))?;
    let link_type = order.u32(&header[20..24]) & 0x0fff_ffff;
    let mut at = 24;
    let mut out = Vec::new();
    while at < capture.len() {
        let record = capture
            .get(at..at + 16)
            .ok_or(CaptureError::Truncated(at))?;
        let seconds = i64::from(order.u32(&record[0..4]));
        let fraction = i64::from(order.u32(&record[4..8]));
        let captured = order.u32(&record[8..12]) as usize;
        let data = capture
            .get(at + 16..at + 16 + captured)
            .ok_or(CaptureError::Truncated(at))?;
        out.push(Packet {
            timestamp_micros: seconds * 1_000_000 + fraction / fraction_per_micro,
            link_type,
            data,
        });
        at += 16 + captured;
    }
    Ok(out)
}

/// Per interface: link type and how many timestamp units make a second.
struct Interface {
    link_type: u32,
    units_per_second: i64,
}

fn pcapng(capture: &[u8]) -> Result<Vec<Packet<'_>>, CaptureError> {
    let mut at = 0;
    let mut order = Order::Little;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut out = Vec::new();
    while at < capture.len() {
        let head = capture
            .get(at..at + 12)
            .ok_or(CaptureError::Truncated(at))?;
        let block_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if block_type == 0x0a0d_0d0a {
            // Section header: its byte-order magic decides how the section reads.
            order = match &head[8..12] {
                [0x4d, 0x3c, 0x2b, 0x1a] => Order::Little,
                [0x1a, 0x2b, 0x3c, 0x4d] => Order::Big,
                other => {
                    return Err(CaptureError::BadBlock {
                        offset: at,
                        problem: format!("byte-order magic {other:02x?}"),
                    });
                }
            };
            interfaces.clear();
        }
        let block_type = order.u32(&head[0..4]);
        let length = order.u32(&head[4..8]) as usize;
        if length < 12 || !length.is_multiple_of(4) {
            return Err(CaptureError::BadBlock {
                offset: at,
                problem: format!("length {length}"),
            });
        }
        let block = capture
            .get(at..at + length)
            .ok_or(CaptureError::Truncated(at))?;
        let body = &block[8..length - 4];
        match block_type {
            1 if body.len() >= 8 => {
                let link_type = u32::from(order.u16(&body[0..2]));
                interfaces.push(Interface {
                    link_type,
                    units_per_second: timestamp_resolution(&body[8..], order),
                });
            }
            6 if body.len() >= 20 => {
                let interface = order.u32(&body[0..4]) as usize;
                let Some(iface) = interfaces.get(interface) else {
                    return Err(CaptureError::BadBlock {
                        offset: at,
                        problem: format!("packet on undeclared interface {interface}"),
                    });
                };
                let stamp =
                    (u64::from(order.u32(&body[4..8])) << 32) | u64::from(order.u32(&body[8..12]));
                let captured = order.u32(&body[12..16]) as usize;
                let data = body.get(20..20 + captured).ok_or(CaptureError::BadBlock {
                    offset: at,
                    problem: "packet data longer than its block".into(),
                })?;
                let units = iface.units_per_second.max(1);
                let stamp = stamp as i128;
                out.push(Packet {
                    timestamp_micros: (stamp * 1_000_000 / i128::from(units)) as i64,
                    link_type: iface.link_type,
                    data,
                });
            }
            3 if body.len() >= 4 => {
                let Some(iface) = interfaces.first() else {
                    return Err(CaptureError::BadBlock {
                        offset: at,
                        problem: "simple packet before any interface".into(),
                    });
                };
                out.push(Packet {
                    timestamp_micros: 0,
                    link_type: iface.link_type,
                    data: &body[4..],
                });
            }
            _ => {}
        }
        at += length;
    }
    Ok(out)
}

/// The `if_tsresol` option (9) of an interface description; default microseconds.
fn timestamp_resolution(mut options: &[u8], order: Order) -> i64 {
    while options.len() >= 4 {
        let code = order.u16(&options[0..2]);
        let length = usize::from(order.u16(&options[2..4]));
        let Some(value) = options.get(4..4 + length) else {
            break;
        };
        if code == 0 {
            break;
        }
        if code == 9 && length >= 1 {
            let resolution = value[0];
            let exponent = u32::from(resolution & 0x7f).min(18);
            return if resolution & 0x80 != 0 {
                2i64.saturating_pow(exponent)
            } else {
                10i64.saturating_pow(exponent)
            };
        }
        options = options.get(4 + length.div_ceil(4) * 4..).unwrap_or(&[]);
    }
    1_000_000
}
