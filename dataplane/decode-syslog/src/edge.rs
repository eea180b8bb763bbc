//! The `syslog/1` edge batch (docs/specs/edge-batch.md): what a proxy ships for a syslog input.
//! A syslog message needs no state to parse, so the edge keeps only what the parser cannot
//! recover later (the bytes as received, when, and from whom) and piper parses off the edge
//! with the same decoder, into the same table rows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::TimestampMicrosecondType;
use arrow::record_batch::RecordBatch;
use bytefreezer_schema::{
    EdgeError, RECEIVE_TIME, SYSLOG_EDGE_FORMAT, SYSLOG_EDGE_RAW, SYSLOG_EDGE_SENDER, ValueProblem,
    check_fixed_edge_batch, edge_column, syslog_edge_schema,
};

use crate::decoder::{DatagramMeta, DecodeOutcome, FlushPolicy, SyslogDecoder};
use crate::parse::Format;

const UTC: &str = "UTC";

/// Appends datagrams to a `syslog/1` edge batch: three columns, no parsing.
pub struct SyslogEdgeBuilder {
    receive_time: TimestampMicrosecondBuilder,
    sender_address: BinaryBuilder,
    raw: BinaryBuilder,
    rows: usize,
    pending_bytes: usize,
}

impl SyslogEdgeBuilder {
    pub fn with_capacity(rows: usize) -> SyslogEdgeBuilder {
        SyslogEdgeBuilder {
            receive_time: TimestampMicrosecondBuilder::with_capacity(rows).with_timezone(UTC),
            sender_address: BinaryBuilder::with_capacity(rows, rows * 4),
            raw: BinaryBuilder::with_capacity(rows, rows * 256),
            rows: 0,
            pending_bytes: 0,
        }
    }

    /// Appends one row holding `message` exactly as it arrived.
    pub fn append(&mut self, message: &[u8], meta: &DatagramMeta) {
        self.receive_time.append_value(meta.receive_time_micros);
        match meta.sender {
            Some(IpAddr::V4(address)) => self.sender_address.append_value(address.octets()),
            Some(IpAddr::V6(address)) => self.sender_address.append_value(address.octets()),
            None => self.sender_address.append_null(),
        }
        self.raw.append_value(message);
        self.rows += 1;
        self.pending_bytes += message.len();
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Message bytes appended since the last flush.
    pub fn bytes(&self) -> usize {
        self.pending_bytes
    }

    pub fn should_flush(&self, policy: &FlushPolicy) -> bool {
        self.rows >= policy.max_rows || self.pending_bytes >= policy.max_bytes
    }

    /// The rows appended since the last flush as one edge batch; `None` when there are none.
    pub fn flush(&mut self) -> Option<RecordBatch> {
        if self.rows == 0 {
            return None;
        }
        // Room for a batch like this one, so a busy input does not grow its buffers anew.
        let rows = self.rows + self.rows / 8;
        let bytes = self.raw.values_slice().len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                std::mem::replace(
                    &mut self.receive_time,
                    TimestampMicrosecondBuilder::with_capacity(rows).with_timezone(UTC),
                )
                .finish(),
            ),
            Arc::new(
                std::mem::replace(
                    &mut self.sender_address,
                    BinaryBuilder::with_capacity(rows, rows * 4),
                )
                .finish(),
            ),
            Arc::new(
                std::mem::replace(
                    &mut self.raw,
                    BinaryBuilder::with_capacity(rows, bytes + bytes / 8),
                )
                .finish(),
            ),
        ];
        self.rows = 0;
        self.pending_bytes = 0;
        // The builders produce exactly the schema's types, so this only fails on a bug here.
        RecordBatch::try_new(syslog_edge_schema(), columns).ok()
    }
}

/// Table rows (`syslog_schema()`) built from a `syslog/1` edge batch, and how they parsed.
pub struct SyslogTable {
    pub batch: RecordBatch,
    pub counts: SyslogCounts,
}

/// How a set of messages parsed: for `/metrics` and the activity log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyslogCounts {
    /// Messages that did not parse cleanly (`format` unparsed or a `parse_error`).
    pub unparsed: u64,
    /// Messages per format, indexed by [`Format::index`].
    pub rows_by_format: [u64; Format::ALL.len()],
    /// Messages that carry a `parse_warning`.
    pub rows_with_warnings: u64,
}

impl SyslogCounts {
    pub fn add(&mut self, other: &SyslogCounts) {
        self.unparsed += other.unparsed;
        for (total, more) in self.rows_by_format.iter_mut().zip(other.rows_by_format) {
            *total += more;
        }
        self.rows_with_warnings += other.rows_with_warnings;
    }

    /// Each format with its count, skipping formats no message had.
    pub fn formats(&self) -> impl Iterator<Item = (Format, u64)> + '_ {
        Format::ALL
            .into_iter()
            .map(|format| (format, self.rows_by_format[format.index()]))
            .filter(|(_, rows)| *rows > 0)
    }
}

/// Parses every row of a `syslog/1` edge batch with the decoder a proxy used to run, so the
/// table rows are the ones that decoder gave.
pub fn syslog_edge_to_table(batch: &RecordBatch) -> Result<SyslogTable, EdgeError> {
    const FORMAT: &str = SYSLOG_EDGE_FORMAT;
    check_fixed_edge_batch(batch, FORMAT, &syslog_edge_schema())?;
    let column = |name: &'static str| edge_column(batch, FORMAT, name);
    let receive_time = column(RECEIVE_TIME)?.as_primitive::<TimestampMicrosecondType>();
    let sender_address = column(SYSLOG_EDGE_SENDER)?.as_binary::<i32>();
    let raw = column(SYSLOG_EDGE_RAW)?.as_binary::<i32>();
    let mut decoder = SyslogDecoder::with_capacity(batch.num_rows());
    let mut unparsed = 0;
    for row in 0..batch.num_rows() {
        let bad = |column: &'static str, problem: ValueProblem| EdgeError::BadValue {
            format: FORMAT,
            column,
            row,
            problem,
        };
        if receive_time.is_null(row) {
            return Err(bad(RECEIVE_TIME, ValueProblem::Null));
        }
        if raw.is_null(row) {
            return Err(bad(SYSLOG_EDGE_RAW, ValueProblem::Null));
        }
        let sender = if sender_address.is_null(row) {
            None
        } else {
            Some(
                address(sender_address.value(row))
                    .ok_or_else(|| bad(SYSLOG_EDGE_SENDER, ValueProblem::NotAnAddress))?,
            )
        };
        let meta = DatagramMeta {
            receive_time_micros: receive_time.value(row),
            sender,
        };
        if decoder.decode(raw.value(row), &meta) == DecodeOutcome::Unparsed {
            unparsed += 1;
        }
    }
    let batch = decoder
        .flush()
        .unwrap_or_else(|| RecordBatch::new_empty(bytefreezer_schema::syslog_schema()));
    Ok(SyslogTable {
        batch,
        counts: SyslogCounts {
            unparsed,
            rows_by_format: decoder.rows_by_format(),
            rows_with_warnings: decoder.rows_with_warnings(),
        },
    })
}

fn address(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| Ipv4Addr::from(b).into()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| Ipv6Addr::from(b).into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use bytefreezer_schema::edge_format;

    use super::*;

    fn meta(sender: Option<&str>, micros: i64) -> DatagramMeta {
        DatagramMeta {
            receive_time_micros: micros,
            sender: sender.map(|s| s.parse().unwrap()),
        }
    }

    /// Every shape the decoder tells apart: RFC 5424 with and without structured data, RFC 3164,
    /// text that is no syslog, invalid UTF-8, trailers, an empty datagram, IPv6 and no sender.
    fn corpus() -> Vec<(Vec<u8>, DatagramMeta)> {
        let lines: [&[u8]; 10] = [
            b"<134>1 2026-11-24T22:14:15.003Z fw01 filterlog 4242 ID47 [meta seq=\"1\"] action=deny",
            b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - BOMAn application event",
            b"<38>Nov 24 22:14:15 web02 sshd[812]: accepted publickey for alice",
            b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!\n",
            b"just some text without any priority",
            b"<34>1 2026-11-24T22:14:15Z host app - - [broken",
            b"<14>Nov 24 22:14:15 host app: caf\xc3\xa9 \xff\xfe bytes\r\n\0",
            b"",
            b"<999>1 - - - - - -",
            b"<191>1 - - - - - - \xef\xbb\xbfhello",
        ];
        let senders = [Some("192.0.2.7"), Some("2001:db8::1"), None];
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                (
                    line.to_vec(),
                    meta(senders[i % senders.len()], 1_795_000_000_000_000 + i as i64),
                )
            })
            .collect()
    }

    #[test]
    fn edge_rows_become_the_rows_the_decoder_gives_directly() {
        let mut edge = SyslogEdgeBuilder::with_capacity(4);
        let mut direct = SyslogDecoder::with_capacity(4);
        let mut direct_unparsed = 0;
        for (message, meta) in corpus() {
            edge.append(&message, &meta);
            if direct.decode(&message, &meta) == DecodeOutcome::Unparsed {
                direct_unparsed += 1;
            }
        }
        let edge_batch = edge.flush().expect("rows");
        assert_eq!(
            edge_format(edge_batch.schema_ref()).unwrap(),
            Some(SYSLOG_EDGE_FORMAT)
        );
        assert_eq!(edge_batch.num_columns(), 3);
        let table = syslog_edge_to_table(&edge_batch).expect("table");
        assert_eq!(table.batch, direct.flush().expect("rows"));
        assert_eq!(table.counts.unparsed, direct_unparsed);
        assert!(
            table.counts.unparsed >= 3,
            "the corpus holds unparsed lines"
        );
        assert!(edge.flush().is_none(), "a flush leaves the builder empty");
    }

    #[test]
    fn a_malformed_edge_batch_names_its_problem() {
        let mut edge = SyslogEdgeBuilder::with_capacity(1);
        edge.append(b"<13>hello", &meta(Some("192.0.2.7"), 1));
        let batch = edge.flush().unwrap();
        // A sender address of 5 bytes.
        let mut columns = batch.columns().to_vec();
        let mut senders = BinaryBuilder::new();
        senders.append_value([1, 2, 3, 4, 5]);
        columns[1] = Arc::new(senders.finish());
        let bad = RecordBatch::try_new(batch.schema(), columns).unwrap();
        let error = syslog_edge_to_table(&bad)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            error.contains("sender_address") && error.contains("row 0"),
            "{error}"
        );
        // A table batch is not a syslog/1 edge batch.
        let table = syslog_edge_to_table(&batch).unwrap().batch;
        assert!(syslog_edge_to_table(&table).is_err());
    }
}
