use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, GenericByteBuilder, PrimitiveBuilder, StringBuilder,
    TimestampMicrosecondBuilder, UInt8Builder,
};
use arrow::datatypes::{ArrowPrimitiveType, ByteArrayType};
use arrow::record_batch::RecordBatch;
use bytefreezer_schema::syslog_schema;

use crate::parse::{Format, parse_message};
use crate::sparse::Sparse;

/// What the caller knows about a message that the bytes do not say.
#[derive(Debug, Clone, Copy)]
pub struct DatagramMeta {
    pub receive_time_micros: i64,
    pub sender: Option<IpAddr>,
}

/// Whether a message was understood; unparsed messages are still kept as rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeOutcome {
    Parsed,
    Unparsed,
}

/// When a decoder's rows should become a batch.
#[derive(Debug, Clone, Copy)]
pub struct FlushPolicy {
    pub max_rows: usize,
    pub max_bytes: usize,
}

const UTC: &str = "UTC";

/// Appends syslog messages to Arrow builders of the fixed syslog schema.
pub struct SyslogDecoder {
    receive_time: TimestampMicrosecondBuilder,
    event_time: TimestampMicrosecondBuilder,
    sender_address: StringBuilder,
    format: StringBuilder,
    facility: UInt8Builder,
    severity: UInt8Builder,
    hostname: StringBuilder,
    app_name: StringBuilder,
    procid: StringBuilder,
    msgid: Sparse<StringBuilder>,
    structured_data: Sparse<StringBuilder>,
    vendor_facility: Sparse<StringBuilder>,
    vendor_severity: Sparse<UInt8Builder>,
    vendor_mnemonic: Sparse<StringBuilder>,
    message: StringBuilder,
    parse_error: Sparse<StringBuilder>,
    parse_warning: Sparse<StringBuilder>,
    raw: Sparse<BinaryBuilder>,
    rows: usize,
    pending_bytes: usize,
    // Senders repeat: the last one's text is kept so most messages skip formatting it.
    last_sender: Option<IpAddr>,
    address_text: String,
    warning_text: String,
    rows_by_format: [u64; Format::ALL.len()],
    rows_with_warnings: u64,
}

impl Default for SyslogDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SyslogDecoder {
    pub fn new() -> Self {
        Self::with_capacity(8192)
    }

    pub fn with_capacity(rows: usize) -> Self {
        let text = |bytes_per_row: usize| StringBuilder::with_capacity(rows, rows * bytes_per_row);
        let timestamp = || TimestampMicrosecondBuilder::with_capacity(rows).with_timezone(UTC);
        SyslogDecoder {
            receive_time: timestamp(),
            event_time: timestamp(),
            sender_address: text(16),
            format: text(8),
            facility: UInt8Builder::with_capacity(rows),
            severity: UInt8Builder::with_capacity(rows),
            hostname: text(16),
            app_name: text(12),
            procid: text(6),
            msgid: Sparse::new(text(4)),
            structured_data: Sparse::new(text(8)),
            vendor_facility: Sparse::new(text(2)),
            vendor_severity: Sparse::new(UInt8Builder::with_capacity(rows)),
            vendor_mnemonic: Sparse::new(text(2)),
            message: text(160),
            parse_error: Sparse::new(text(2)),
            parse_warning: Sparse::new(text(2)),
            raw: Sparse::new(BinaryBuilder::with_capacity(rows, 0)),
            rows: 0,
            pending_bytes: 0,
            last_sender: None,
            address_text: String::with_capacity(46),
            warning_text: String::with_capacity(128),
            rows_by_format: [0; Format::ALL.len()],
            rows_with_warnings: 0,
        }
    }

    /// Appends exactly one row for `message`, whatever it contains.
    pub fn decode(&mut self, message: &[u8], meta: &DatagramMeta) -> DecodeOutcome {
        let trimmed = trim_trailer(message);
        let (text, valid_utf8) = match std::str::from_utf8(trimmed) {
            Ok(text) => (Cow::Borrowed(text), true),
            Err(_) => (String::from_utf8_lossy(trimmed), false),
        };
        let parsed = parse_message(&text, meta.receive_time_micros);

        self.receive_time.append_value(meta.receive_time_micros);
        self.event_time.append_option(parsed.event_time_micros);
        match meta.sender {
            Some(address) => {
                if self.last_sender != Some(address) {
                    use std::fmt::Write;
                    self.address_text.clear();
                    let _ = write!(self.address_text, "{address}");
                    self.last_sender = Some(address);
                }
                self.sender_address.append_value(&self.address_text);
            }
            None => self.sender_address.append_null(),
        }
        self.format.append_value(parsed.format.as_str());
        self.facility.append_option(parsed.priority.map(|p| p >> 3));
        self.severity.append_option(parsed.priority.map(|p| p & 7));
        self.hostname.append_option(parsed.hostname);
        self.app_name.append_option(parsed.app_name);
        self.procid.append_option(parsed.procid);
        self.msgid.append_option(parsed.msgid);
        self.structured_data.append_option(parsed.structured_data);
        self.vendor_facility.append_option(parsed.vendor.facility);
        self.vendor_severity.append_option(parsed.vendor.severity);
        self.vendor_mnemonic.append_option(parsed.vendor.mnemonic);
        self.message.append_value(parsed.message);
        let error = match (parsed.error, valid_utf8) {
            (None, true) => None,
            (None, false) => Some(Cow::Borrowed(
                "invalid UTF-8: message shows replacement characters, raw keeps the bytes",
            )),
            (Some(error), true) => Some(Cow::Borrowed(error)),
            (Some(error), false) => Some(Cow::Owned(format!("{error}; invalid UTF-8"))),
        };
        self.parse_error.append_option(error.as_deref());
        if parsed.warnings.is_empty() {
            self.parse_warning.null();
        } else {
            self.warning_text.clear();
            parsed.warnings.describe(&mut self.warning_text);
            self.parse_warning
                .settled()
                .append_value(&self.warning_text);
            self.rows_with_warnings += 1;
        }
        self.rows_by_format[parsed.format.index()] += 1;
        if parsed.format == Format::Unparsed || parsed.error.is_some() || !valid_utf8 {
            self.raw.settled().append_value(message);
        } else {
            self.raw.null();
        }
        self.rows += 1;
        self.pending_bytes += message.len();
        if parsed.format == Format::Unparsed || parsed.error.is_some() {
            DecodeOutcome::Unparsed
        } else {
            DecodeOutcome::Parsed
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Rows decoded so far in each format (indexed by [`Format::index`]), across flushes.
    pub fn rows_by_format(&self) -> [u64; Format::ALL.len()] {
        self.rows_by_format
    }

    /// Rows decoded so far that carry a `parse_warning`, across flushes.
    pub fn rows_with_warnings(&self) -> u64 {
        self.rows_with_warnings
    }

    /// Message bytes appended since the last flush.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    pub fn should_flush(&self, policy: &FlushPolicy) -> bool {
        self.rows >= policy.max_rows || self.pending_bytes >= policy.max_bytes
    }

    /// The rows appended since the last flush as one batch; `None` when there are none.
    pub fn flush(&mut self) -> Option<RecordBatch> {
        if self.rows == 0 {
            return None;
        }
        let columns: Vec<ArrayRef> = vec![
            finish_timestamps(&mut self.receive_time),
            finish_timestamps(&mut self.event_time),
            finish_bytes(&mut self.sender_address),
            finish_bytes(&mut self.format),
            finish_primitives(&mut self.facility),
            finish_primitives(&mut self.severity),
            finish_bytes(&mut self.hostname),
            finish_bytes(&mut self.app_name),
            finish_bytes(&mut self.procid),
            finish_bytes(self.msgid.settled()),
            finish_bytes(self.structured_data.settled()),
            finish_bytes(self.vendor_facility.settled()),
            finish_primitives(self.vendor_severity.settled()),
            finish_bytes(self.vendor_mnemonic.settled()),
            finish_bytes(&mut self.message),
            finish_bytes(self.parse_error.settled()),
            finish_bytes(self.parse_warning.settled()),
            finish_bytes(self.raw.settled()),
        ];
        self.rows = 0;
        self.pending_bytes = 0;
        // The builders produce exactly the schema's types, so this only fails on a bug here.
        RecordBatch::try_new(syslog_schema(), columns).ok()
    }
}

/// Room for the next batch: as many rows and bytes as the one just flushed and an eighth more.
/// Arrow's `finish` leaves a builder empty, and a busy input's builders would otherwise double
/// their way up again after every flush, copying each column several times per batch.
fn headroom(len: usize) -> usize {
    len + len / 8
}

fn finish_bytes<T: ByteArrayType>(builder: &mut GenericByteBuilder<T>) -> ArrayRef {
    let room = GenericByteBuilder::with_capacity(
        headroom(builder.len()),
        headroom(builder.values_slice().len()),
    );
    Arc::new(std::mem::replace(builder, room).finish())
}

fn finish_primitives<T: ArrowPrimitiveType>(builder: &mut PrimitiveBuilder<T>) -> ArrayRef {
    let room = PrimitiveBuilder::with_capacity(headroom(builder.len()));
    Arc::new(std::mem::replace(builder, room).finish())
}

fn finish_timestamps(builder: &mut TimestampMicrosecondBuilder) -> ArrayRef {
    let room =
        TimestampMicrosecondBuilder::with_capacity(headroom(builder.len())).with_timezone(UTC);
    Arc::new(std::mem::replace(builder, room).finish())
}

/// Drops the line ending or NUL many senders append to datagrams.
fn trim_trailer(message: &[u8]) -> &[u8] {
    let mut end = message.len();
    while end > 0 && matches!(message[end - 1], b'\n' | b'\r' | 0) {
        end -= 1;
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{TimestampMicrosecondType, UInt8Type};
    use bytefreezer_schema::SyslogColumn;

    use super::*;

    fn meta() -> DatagramMeta {
        DatagramMeta {
            receive_time_micros: 1_700_000_000_000_000,
            sender: Some("192.0.2.7".parse().unwrap()),
        }
    }

    fn text(batch: &RecordBatch, column: SyslogColumn, row: usize) -> Option<String> {
        let array = batch.column(column.index()).as_string::<i32>();
        array.is_valid(row).then(|| array.value(row).to_owned())
    }

    #[test]
    fn one_row_per_message_matching_the_schema() {
        let mut decoder = SyslogDecoder::new();
        let outcomes = [
            decoder.decode(
                b"<34>1 2003-10-11T22:14:15.003Z host app 12 ID - hello\n",
                &meta(),
            ),
            decoder.decode(b"<13>Nov 14 22:13:20 web sshd[1]: ok\r\n", &meta()),
            decoder.decode(b"\xff\xfe not syslog", &meta()),
            decoder.decode(b"", &meta()),
        ];
        assert_eq!(
            outcomes,
            [
                DecodeOutcome::Parsed,
                DecodeOutcome::Parsed,
                DecodeOutcome::Unparsed,
                DecodeOutcome::Unparsed
            ]
        );
        assert_eq!(decoder.rows(), 4);
        let batch = decoder.flush().unwrap();
        assert_eq!(batch.schema(), syslog_schema());
        assert_eq!(batch.num_rows(), 4);
        assert!(decoder.flush().is_none());

        assert_eq!(
            text(&batch, SyslogColumn::Format, 0).as_deref(),
            Some("rfc5424")
        );
        assert_eq!(
            text(&batch, SyslogColumn::Message, 0).as_deref(),
            Some("hello")
        );
        assert_eq!(
            text(&batch, SyslogColumn::SenderAddress, 0).as_deref(),
            Some("192.0.2.7")
        );
        let facility = batch
            .column(SyslogColumn::Facility.index())
            .as_primitive::<UInt8Type>();
        let severity = batch
            .column(SyslogColumn::Severity.index())
            .as_primitive::<UInt8Type>();
        assert_eq!((facility.value(0), severity.value(0)), (4, 2));
        assert_eq!(
            text(&batch, SyslogColumn::Format, 1).as_deref(),
            Some("rfc3164")
        );
        assert_eq!(
            text(&batch, SyslogColumn::Hostname, 1).as_deref(),
            Some("web")
        );
        assert!(batch.column(SyslogColumn::Raw.index()).is_null(0));

        assert_eq!(
            text(&batch, SyslogColumn::Format, 2).as_deref(),
            Some("unparsed")
        );
        assert_eq!(
            text(&batch, SyslogColumn::Message, 2).as_deref(),
            Some("\u{fffd}\u{fffd} not syslog")
        );
        assert!(
            text(&batch, SyslogColumn::ParseError, 2)
                .unwrap()
                .contains("invalid UTF-8")
        );
        let raw = batch.column(SyslogColumn::Raw.index()).as_binary::<i32>();
        assert_eq!(raw.value(2), b"\xff\xfe not syslog");
        let receive = batch
            .column(SyslogColumn::ReceiveTime.index())
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(receive.value(3), meta().receive_time_micros);
        assert!(batch.column(SyslogColumn::EventTime.index()).is_null(3));
    }

    #[test]
    fn each_row_names_its_own_sender() {
        let mut decoder = SyslogDecoder::new();
        let senders = ["192.0.2.7", "192.0.2.7", "2001:db8::1", "192.0.2.7"];
        for sender in senders {
            let meta = DatagramMeta {
                sender: Some(sender.parse().unwrap()),
                ..meta()
            };
            decoder.decode(b"<13>x", &meta);
        }
        decoder.decode(
            b"<13>x",
            &DatagramMeta {
                sender: None,
                ..meta()
            },
        );
        let batch = decoder.flush().unwrap();
        for (row, sender) in senders.iter().enumerate() {
            assert_eq!(
                text(&batch, SyslogColumn::SenderAddress, row).as_deref(),
                Some(*sender)
            );
        }
        assert!(batch.column(SyslogColumn::SenderAddress.index()).is_null(4));
    }

    #[test]
    fn flush_policy_counts_rows_and_bytes() {
        let mut decoder = SyslogDecoder::with_capacity(4);
        let policy = FlushPolicy {
            max_rows: 3,
            max_bytes: 1000,
        };
        decoder.decode(b"<13>a", &meta());
        decoder.decode(b"<13>b", &meta());
        assert!(!decoder.should_flush(&policy));
        decoder.decode(b"<13>c", &meta());
        assert!(decoder.should_flush(&policy));
        decoder.flush();
        decoder.decode(&[b'x'; 1000], &meta());
        assert!(decoder.should_flush(&policy));
        assert_eq!(decoder.pending_bytes(), 1000);
    }

    #[test]
    fn every_flush_keeps_the_schema_and_starts_the_next_batch_empty() {
        let mut decoder = SyslogDecoder::with_capacity(1);
        let messages: [&[u8]; 3] = [
            b"<34>1 2026-11-24T10:00:00Z host app 1 ID [a b=\"c\"] first",
            b"<13>Nov 24 10:00:01 host app: second",
            b"not syslog \xff",
        ];
        let mut previous: Option<RecordBatch> = None;
        for round in 0..3 {
            for message in messages.iter().take(round + 1) {
                decoder.decode(message, &meta());
            }
            let batch = decoder.flush().expect("a batch");
            assert_eq!(batch.schema(), syslog_schema(), "round {round}");
            assert_eq!(batch.num_rows(), round + 1);
            let mut fresh = SyslogDecoder::with_capacity(1);
            for message in messages.iter().take(round + 1) {
                fresh.decode(message, &meta());
            }
            assert_eq!(Some(batch.clone()), fresh.flush(), "round {round}");
            assert_ne!(previous.as_ref(), Some(&batch));
            previous = Some(batch);
        }
        assert!(decoder.flush().is_none());
    }
}
