//! The edge batch format (`docs/specs/edge-batch.md`): what a proxy ships, the cheapest faithful
//! form of the rows, and its conversion into the flow table schema users query.
//!
//! An edge flow batch carries `bytefreezer.edge = "flow/1"` in its schema metadata. Addresses
//! are bytes (4 or 16), MACs 6 bytes, the exporter a dictionary of addresses, the protocol and
//! record type dictionaries of their names; only the columns some row has a value in are
//! present; `event_time`, `bytes_scaled` and `packets_scaled` (derived) are not shipped.
//! [`edge_to_table`] builds the table batch from it, column by column.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, DictionaryArray, PrimitiveArray, StringArray,
    TimestampMicrosecondArray, UInt32Array, UInt64Array, new_null_array,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    DataType, Field, Int8Type, Schema, SchemaRef, TimestampMicrosecondType, UInt32Type,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::columns::{RECEIVE_TIME, timestamp_type};
use crate::extra_names::{KeyMemo, Naming, name_keys_into};
use crate::flow::{FlowColumn, flow_schema};

/// The schema metadata key naming an edge batch's format and version.
pub const EDGE_FORMAT_KEY: &str = "bytefreezer.edge";
/// The newest flow edge format, which this build writes when a batch has a column only it
/// holds (firewall, NAT and application columns); otherwise it writes `flow/1`, so a batch
/// without them stays readable by a receiver and piper that know only `flow/1`.
pub const FLOW_EDGE_FORMAT: &str = "flow/2";
/// The first flow edge format: the columns up to `extra_fields` before `flow/2` added the
/// firewall, NAT and application ones.
pub const FLOW_EDGE_FORMAT_V1: &str = "flow/1";
/// How errors about a value name the flow edge formats (a value means the same in every one).
const FLOW_EDGE_FAMILY: &str = "flow";
/// Every flow edge format this build reads, oldest first.
pub const FLOW_EDGE_FORMATS: [&str; 2] = [FLOW_EDGE_FORMAT_V1, FLOW_EDGE_FORMAT];
/// The syslog edge format this build writes and reads: the datagram as received, its receive
/// time and sender; piper parses it (`bytefreezer_decode_syslog::syslog_edge_to_table`).
pub const SYSLOG_EDGE_FORMAT: &str = "syslog/1";
/// `syslog/1`'s column of the message bytes exactly as they arrived.
pub const SYSLOG_EDGE_RAW: &str = "raw";
/// `syslog/1`'s column of the sender's address, 4 or 16 bytes.
pub const SYSLOG_EDGE_SENDER: &str = "sender_address";
/// Every edge format this build reads, for error messages.
pub const KNOWN_EDGE_FORMATS: [&str; 4] = [
    FLOW_EDGE_FORMAT_V1,
    FLOW_EDGE_FORMAT,
    SYSLOG_EDGE_FORMAT,
    crate::events::EVENTS_EDGE_FORMAT,
];

/// `flow_protocol`'s dictionary, in key order.
pub const FLOW_PROTOCOLS: [&str; 4] = ["netflow_v5", "netflow_v9", "ipfix", "sflow_v5"];
/// `record_type`'s dictionary, in key order.
pub const RECORD_TYPES: [&str; 2] = ["flow", "counters"];

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error(
        "edge batch format {found:?} is not known to this version of bytefreezer (it reads {known}); upgrade this service, or run the proxy at the same version"
    )]
    UnknownFormat { found: String, known: String },
    #[error("edge batch {format}: column {column:?} is {found}, the format says {expected}")]
    ColumnType {
        format: &'static str,
        column: String,
        found: DataType,
        expected: DataType,
    },
    #[error("edge batch {format}: column {column:?} is not part of the format")]
    UnknownColumn {
        format: &'static str,
        column: String,
    },
    #[error("edge batch {format}: required column {column:?} is missing")]
    MissingColumn {
        format: &'static str,
        column: &'static str,
    },
    #[error("edge batch {format}: column {column:?} row {row}: {problem}")]
    BadValue {
        format: &'static str,
        column: &'static str,
        row: usize,
        problem: ValueProblem,
    },
    #[error("cannot build the flow table batch: {0}")]
    Arrow(#[from] ArrowError),
}

/// What is wrong with one value of an edge batch ([`EdgeError::BadValue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueProblem {
    #[error("null")]
    Null,
    #[error("key past the dictionary")]
    KeyPastDictionary,
    #[error("an address of {bytes} bytes (4 or 16 expected)")]
    AddressLength { bytes: usize },
    /// An address whose length was not kept to report.
    #[error("an address is 4 or 16 bytes")]
    NotAnAddress,
    #[error("a MAC of {bytes} bytes (6 expected)")]
    MacLength { bytes: usize },
    #[error("more than 2 GiB of text in one batch")]
    TextTooLarge,
}

/// Checks that `batch` is a `format` edge batch whose columns are among `expected`'s, each of
/// its type (a format with a fixed set of columns: `syslog/1`, `events/1`).
pub fn check_fixed_edge_batch(
    batch: &RecordBatch,
    format: &'static str,
    expected: &Schema,
) -> Result<(), EdgeError> {
    match edge_format(batch.schema_ref())? {
        Some(found) if found == format => {}
        other => {
            return Err(EdgeError::UnknownFormat {
                found: other.unwrap_or("none").to_owned(),
                known: format.to_owned(),
            });
        }
    }
    for field in batch.schema_ref().fields() {
        let Ok(wanted) = expected.field_with_name(field.name()) else {
            return Err(EdgeError::UnknownColumn {
                format,
                column: field.name().clone(),
            });
        };
        if field.data_type() != wanted.data_type() {
            return Err(EdgeError::ColumnType {
                format,
                column: field.name().clone(),
                found: field.data_type().clone(),
                expected: wanted.data_type().clone(),
            });
        }
    }
    Ok(())
}

/// Column `name` of a `format` edge batch, or the error naming it as missing.
pub fn edge_column<'a>(
    batch: &'a RecordBatch,
    format: &'static str,
    name: &'static str,
) -> Result<&'a ArrayRef, EdgeError> {
    batch.column_by_name(name).ok_or(EdgeError::MissingColumn {
        format,
        column: name,
    })
}

/// The edge format a schema declares, `None` for a batch that is not an edge batch (a table
/// batch, JSON rows, syslog). An unknown version is an error saying which ones are known.
pub fn edge_format(schema: &Schema) -> Result<Option<&'static str>, EdgeError> {
    match schema.metadata().get(EDGE_FORMAT_KEY) {
        None => Ok(None),
        Some(found) => KNOWN_EDGE_FORMATS
            .into_iter()
            .find(|known| known == found)
            .map(Some)
            .ok_or_else(|| EdgeError::UnknownFormat {
                found: found.clone(),
                known: KNOWN_EDGE_FORMATS.join(", "),
            }),
    }
}

/// The first flow edge format holding `column`.
pub fn flow_edge_format_of(column: FlowColumn) -> &'static str {
    match column {
        FlowColumn::FirewallEvent
        | FlowColumn::FirewallExtEvent
        | FlowColumn::IngressAclId
        | FlowColumn::EgressAclId
        | FlowColumn::NatEvent
        | FlowColumn::XlateSrcAddr
        | FlowColumn::XlateDstAddr
        | FlowColumn::XlateSrcPort
        | FlowColumn::XlateDstPort
        | FlowColumn::AppId
        | FlowColumn::AppName
        | FlowColumn::UserName
        | FlowColumn::InputInterfaceName
        | FlowColumn::OutputInterfaceName
        | FlowColumn::IngressVrfName
        | FlowColumn::EgressVrfName
        | FlowColumn::InputInterfaceDescription
        | FlowColumn::OutputInterfaceDescription => FLOW_EDGE_FORMAT,
        _ => FLOW_EDGE_FORMAT_V1,
    }
}

/// Whether a batch of flow edge format `format` may hold `column`.
fn format_holds(format: &str, column: FlowColumn) -> bool {
    format == FLOW_EDGE_FORMAT || flow_edge_format_of(column) == FLOW_EDGE_FORMAT_V1
}

/// The type a column has in a flow edge batch; `None` for the columns built off the edge
/// (`event_time`, `bytes_scaled`, `packets_scaled`).
pub fn flow_edge_type(column: FlowColumn) -> Option<DataType> {
    let binary = || DataType::Binary;
    let names = || DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8));
    match column {
        FlowColumn::EventTime | FlowColumn::BytesScaled | FlowColumn::PacketsScaled => None,
        FlowColumn::ExporterAddress => Some(DataType::Dictionary(
            Box::new(DataType::UInt32),
            Box::new(DataType::Binary),
        )),
        FlowColumn::FlowProtocol | FlowColumn::RecordType => Some(names()),
        FlowColumn::SrcAddr
        | FlowColumn::DstAddr
        | FlowColumn::NextHop
        | FlowColumn::SrcMac
        | FlowColumn::DstMac
        | FlowColumn::XlateSrcAddr
        | FlowColumn::XlateDstAddr => Some(binary()),
        other => Some(other.field().data_type().clone()),
    }
}

/// The schema of a flow edge batch holding `present` columns (in table order), in the oldest
/// format that holds them all.
pub fn flow_edge_schema(present: impl IntoIterator<Item = FlowColumn>) -> SchemaRef {
    let mut format = FLOW_EDGE_FORMAT_V1;
    let fields: Vec<Field> = present
        .into_iter()
        .filter_map(|column| {
            if flow_edge_format_of(column) == FLOW_EDGE_FORMAT {
                format = FLOW_EDGE_FORMAT;
            }
            flow_edge_type(column)
                .map(|data_type| Field::new(column.name(), data_type, column.field().is_nullable()))
        })
        .collect();
    let metadata = HashMap::from([(EDGE_FORMAT_KEY.to_owned(), format.to_owned())]);
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// The schema of a `syslog/1` edge batch: `receive_time`, `sender_address` (binary, 4 or 16
/// bytes, null when unknown) and `raw` (the message bytes as received).
pub fn syslog_edge_schema() -> SchemaRef {
    SYSLOG_EDGE_SCHEMA.clone()
}

static SYSLOG_EDGE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let metadata = HashMap::from([(EDGE_FORMAT_KEY.to_owned(), SYSLOG_EDGE_FORMAT.to_owned())]);
    Arc::new(Schema::new_with_metadata(
        vec![
            Field::new(RECEIVE_TIME, timestamp_type(), false),
            Field::new(SYSLOG_EDGE_SENDER, DataType::Binary, true),
            Field::new(SYSLOG_EDGE_RAW, DataType::Binary, false),
        ],
        metadata,
    ))
});

/// Builds the flow table batch (`flow_schema()`) from a flow edge batch of any known version: addresses and MACs
/// as text, protocol names, `event_time` (the flow's end, else its receive time), the
/// sampling-corrected counters, and nulls for the columns the edge left out. Columns whose type
/// is the same in both are shared, not copied.
pub fn edge_to_table(batch: &RecordBatch) -> Result<RecordBatch, EdgeError> {
    let format = match edge_format(batch.schema_ref())? {
        Some(format) if FLOW_EDGE_FORMATS.contains(&format) => format,
        other => {
            return Err(EdgeError::UnknownFormat {
                found: other.unwrap_or("none").to_owned(),
                known: KNOWN_EDGE_FORMATS.join(", "),
            });
        }
    };
    let rows = batch.num_rows();
    let schema = batch.schema();
    let mut edge: [Option<&ArrayRef>; FlowColumn::ALL.len()] = [None; FlowColumn::ALL.len()];
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        let column = FlowColumn::ALL
            .into_iter()
            .find(|column| column.name() == field.name())
            .filter(|column| flow_edge_type(*column).is_some() && format_holds(format, *column))
            .ok_or_else(|| EdgeError::UnknownColumn {
                format,
                column: field.name().clone(),
            })?;
        let expected = flow_edge_type(column).unwrap_or(DataType::Null);
        if *array.data_type() != expected {
            return Err(EdgeError::ColumnType {
                format,
                column: field.name().clone(),
                found: array.data_type().clone(),
                expected,
            });
        }
        edge[column.index()] = Some(array);
    }
    let get = |column: FlowColumn| edge[column.index()];
    let required = |column: FlowColumn| {
        get(column).ok_or(EdgeError::MissingColumn {
            format,
            column: column.name(),
        })
    };
    let receive_time = required(FlowColumn::ReceiveTime)?;
    let flow_protocol = required(FlowColumn::FlowProtocol)?;
    let record_type = required(FlowColumn::RecordType)?;

    let table = flow_schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(FlowColumn::ALL.len());
    for column in FlowColumn::ALL {
        let array: ArrayRef = match column {
            FlowColumn::EventTime => event_time(
                receive_time.as_primitive::<TimestampMicrosecondType>(),
                get(FlowColumn::FlowEnd).map(|a| a.as_primitive::<TimestampMicrosecondType>()),
            ),
            FlowColumn::BytesScaled | FlowColumn::PacketsScaled => {
                let raw = if column == FlowColumn::BytesScaled {
                    FlowColumn::Bytes
                } else {
                    FlowColumn::Packets
                };
                match get(raw) {
                    None => new_null_array(&DataType::UInt64, rows),
                    Some(raw) => scaled(
                        raw.as_primitive(),
                        get(FlowColumn::SamplingRate).map(|a| a.as_primitive::<UInt32Type>()),
                    ),
                }
            }
            FlowColumn::FlowProtocol => names(flow_protocol, column)?,
            FlowColumn::RecordType => names(record_type, column)?,
            FlowColumn::ExporterAddress => match get(column) {
                None => new_null_array(&DataType::Utf8, rows),
                Some(array) => exporter_text(array.as_dictionary::<UInt32Type>())?,
            },
            FlowColumn::SrcAddr
            | FlowColumn::DstAddr
            | FlowColumn::NextHop
            | FlowColumn::XlateSrcAddr
            | FlowColumn::XlateDstAddr => match get(column) {
                None => new_null_array(&DataType::Utf8, rows),
                Some(array) => Arc::new(address_text(array.as_binary::<i32>(), column)?),
            },
            FlowColumn::ExtraFields => match get(column) {
                None => new_null_array(&DataType::Utf8, rows),
                Some(array) => named_extra_fields(array.as_string::<i32>(), flow_protocol)?,
            },
            FlowColumn::SrcMac | FlowColumn::DstMac => match get(column) {
                None => new_null_array(&DataType::Utf8, rows),
                Some(array) => Arc::new(mac_text(array.as_binary::<i32>(), column)?),
            },
            _ => match get(column) {
                Some(array) => array.clone(),
                None => new_null_array(table.field(column.index()).data_type(), rows),
            },
        };
        columns.push(array);
    }
    Ok(RecordBatch::try_new(table, columns)?)
}

/// `extra_fields` with the IANA elements of NetFlow v9 and IPFIX rows named
/// (`extra_names`); shared as it is when no row has one.
fn named_extra_fields(extra: &StringArray, protocols: &ArrayRef) -> Result<ArrayRef, EdgeError> {
    let protocols: &DictionaryArray<Int8Type> = protocols.as_dictionary();
    let Some(names) = protocols.values().as_string_opt::<i32>() else {
        return Ok(Arc::new(extra.clone()));
    };
    let by_key: Vec<Option<Naming>> = names
        .iter()
        .map(|name| match name {
            Some("netflow_v9") => Some(Naming::NetflowV9),
            Some("ipfix") => Some(Naming::Ipfix),
            _ => None,
        })
        .collect();
    let naming = |row: usize| {
        let key = usize::try_from(protocols.keys().value(row)).ok()?;
        by_key.get(key).copied().flatten()
    };
    let mut text: Vec<u8> = Vec::with_capacity(extra.value_data().len() + extra.len() * 16);
    let mut offsets: Vec<i32> = Vec::with_capacity(extra.len() + 1);
    offsets.push(0);
    let mut renamed = false;
    let mut memo = KeyMemo::default();
    for row in 0..extra.len() {
        if extra.is_valid(row) {
            let value = extra.value(row);
            match naming(row) {
                Some(naming) => renamed |= name_keys_into(value, naming, &mut text, &mut memo),
                None => text.extend_from_slice(value.as_bytes()),
            }
        }
        let end = i32::try_from(text.len()).map_err(|_| EdgeError::BadValue {
            format: FLOW_EDGE_FAMILY,
            column: FlowColumn::ExtraFields.name(),
            row,
            problem: ValueProblem::TextTooLarge,
        })?;
        offsets.push(end);
    }
    if !renamed {
        return Ok(Arc::new(extra.clone()));
    }
    Ok(Arc::new(StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(text),
        extra.nulls().cloned(),
    )?))
}

/// The flow's end, else when it was received.
fn event_time(
    receive: &TimestampMicrosecondArray,
    end: Option<&TimestampMicrosecondArray>,
) -> ArrayRef {
    let Some(end) = end.filter(|end| end.null_count() < end.len()) else {
        return Arc::new(receive.clone());
    };
    if end.null_count() == 0 {
        return Arc::new(end.clone());
    }
    let nulls = end.nulls().cloned();
    let values: Vec<i64> = match &nulls {
        Some(nulls) => end
            .values()
            .iter()
            .zip(receive.values().iter())
            .zip(nulls.iter())
            .map(|((end, receive), valid)| if valid { *end } else { *receive })
            .collect(),
        None => end.values().to_vec(),
    };
    Arc::new(
        PrimitiveArray::<TimestampMicrosecondType>::new(ScalarBuffer::from(values), None)
            .with_timezone("UTC"),
    )
}

/// A counter multiplied by the sampling rate when the rate is above 1 (saturating).
fn scaled(raw: &UInt64Array, rates: Option<&UInt32Array>) -> ArrayRef {
    let Some(rates) = rates.filter(|rates| rates.null_count() < rates.len()) else {
        return Arc::new(raw.clone());
    };
    let scale = |value: u64, rate: u32| {
        if rate > 1 {
            value.saturating_mul(u64::from(rate))
        } else {
            value
        }
    };
    let values: Vec<u64> = match rates.nulls() {
        None => raw
            .values()
            .iter()
            .zip(rates.values().iter())
            .map(|(value, rate)| scale(*value, *rate))
            .collect(),
        Some(valid) => raw
            .values()
            .iter()
            .zip(rates.values().iter())
            .zip(valid.iter())
            .map(|((value, rate), valid)| scale(*value, if valid { *rate } else { 1 }))
            .collect(),
    };
    Arc::new(UInt64Array::new(
        ScalarBuffer::from(values),
        raw.nulls().cloned(),
    ))
}

/// A dictionary of names as plain text, checking every key names a known value.
fn names(array: &ArrayRef, column: FlowColumn) -> Result<ArrayRef, EdgeError> {
    let dictionary: &DictionaryArray<Int8Type> = array.as_dictionary();
    if let Some(row) = dictionary
        .keys()
        .iter()
        .position(|key| key.is_some_and(|key| key < 0 || key as usize >= dictionary.values().len()))
    {
        return Err(EdgeError::BadValue {
            format: FLOW_EDGE_FAMILY,
            column: column.name(),
            row,
            problem: ValueProblem::KeyPastDictionary,
        });
    }
    Ok(arrow::compute::cast(array, &DataType::Utf8)?)
}

/// The exporter dictionary's addresses as text, formatted once per distinct exporter.
fn exporter_text(dictionary: &DictionaryArray<UInt32Type>) -> Result<ArrayRef, EdgeError> {
    let column = FlowColumn::ExporterAddress;
    let values = address_text(dictionary.values().as_binary::<i32>(), column)?;
    let keys = dictionary.keys();
    if let Some(row) = keys
        .iter()
        .position(|key| key.is_some_and(|key| key as usize >= values.len()))
    {
        return Err(EdgeError::BadValue {
            format: FLOW_EDGE_FAMILY,
            column: column.name(),
            row,
            problem: ValueProblem::KeyPastDictionary,
        });
    }
    let text = DictionaryArray::<UInt32Type>::try_new(keys.clone(), Arc::new(values))?;
    Ok(arrow::compute::cast(&text, &DataType::Utf8)?)
}

/// Each 4- or 16-byte address as its text (`Ipv4Addr`/`Ipv6Addr` `Display`).
fn address_text(addresses: &BinaryArray, column: FlowColumn) -> Result<StringArray, EdgeError> {
    text_column(addresses, column, 16, |out, bytes| match bytes.len() {
        4 => {
            push_ipv4(out, [bytes[0], bytes[1], bytes[2], bytes[3]]);
            Ok(())
        }
        16 => {
            let mut octets = [0; 16];
            octets.copy_from_slice(bytes);
            use std::io::Write as _;
            let _ = write!(out, "{}", Ipv6Addr::from(octets));
            Ok(())
        }
        other => Err(ValueProblem::AddressLength { bytes: other }),
    })
}

/// Each 6-byte MAC as `aa:bb:cc:dd:ee:ff`.
fn mac_text(macs: &BinaryArray, column: FlowColumn) -> Result<StringArray, EdgeError> {
    text_column(macs, column, 17, |out, bytes| {
        if bytes.len() != 6 {
            return Err(ValueProblem::MacLength { bytes: bytes.len() });
        }
        let mut text = [b':'; 17];
        for (i, byte) in bytes.iter().enumerate() {
            text[i * 3] = HEX[usize::from(byte >> 4)];
            text[i * 3 + 1] = HEX[usize::from(byte & 0x0f)];
        }
        out.extend_from_slice(&text);
        Ok(())
    })
}

/// A text column with one value per row of `binary`, written by `write` (nulls stay null).
fn text_column(
    binary: &BinaryArray,
    column: FlowColumn,
    bytes_per_row: usize,
    mut write: impl FnMut(&mut Vec<u8>, &[u8]) -> Result<(), ValueProblem>,
) -> Result<StringArray, EdgeError> {
    let rows = binary.len();
    let mut text: Vec<u8> = Vec::with_capacity(rows * bytes_per_row);
    let mut offsets: Vec<i32> = Vec::with_capacity(rows + 1);
    offsets.push(0);
    let bad = |row: usize, problem: ValueProblem| EdgeError::BadValue {
        format: FLOW_EDGE_FAMILY,
        column: column.name(),
        row,
        problem,
    };
    let source_offsets = binary.value_offsets();
    let source = binary.value_data();
    for row in 0..rows {
        if binary.is_valid(row) {
            // Offsets of a valid array are in bounds and increasing (checked when read).
            let (start, end) = (
                source_offsets[row] as usize,
                source_offsets[row + 1] as usize,
            );
            write(&mut text, &source[start..end]).map_err(|problem| bad(row, problem))?;
        }
        let end = i32::try_from(text.len()).map_err(|_| bad(row, ValueProblem::TextTooLarge))?;
        offsets.push(end);
    }
    Ok(StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(text),
        binary.nulls().cloned(),
    )?)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Each octet's decimal digits followed by a dot, and how many digits it has.
const DOTTED: [([u8; 4], u8); 256] = {
    let mut table = [([0u8; 4], 0u8); 256];
    let mut octet = 0;
    while octet < 256 {
        let (hundreds, tens, ones) = (octet / 100, octet / 10 % 10, octet % 10);
        let digits = [b'0' + hundreds as u8, b'0' + tens as u8, b'0' + ones as u8];
        table[octet] = if octet >= 100 {
            ([digits[0], digits[1], digits[2], b'.'], 3)
        } else if octet >= 10 {
            ([digits[1], digits[2], b'.', 0], 2)
        } else {
            ([digits[2], b'.', 0, 0], 1)
        };
        octet += 1;
    }
    table
};

/// Dotted-quad text of an IPv4 address, as `Ipv4Addr`'s `Display` writes it, without
/// `core::fmt` (which costs more than the rest of the conversion).
#[inline]
fn push_ipv4(out: &mut Vec<u8>, octets: [u8; 4]) {
    // Two octets with their dots fit a u64 (at most 8 bytes): each half is assembled in a
    // register and stored with one fixed-size copy, the bytes past its length cut off again.
    let [a, b, c, d] = octets.map(|octet| DOTTED[usize::from(octet)]);
    let digits = |(text, _): ([u8; 4], u8)| u64::from(u32::from_le_bytes(text));
    let len = |(_, len): ([u8; 4], u8)| usize::from(len) + 1;
    let head = digits(a) | digits(b) << (8 * len(a));
    let tail = digits(c) | digits(d) << (8 * len(c));
    let start = out.len();
    out.extend_from_slice(&head.to_le_bytes());
    out.truncate(start + len(a) + len(b));
    let middle = out.len();
    out.extend_from_slice(&tail.to_le_bytes());
    // Without the dot after the last octet.
    out.truncate(middle + len(c) + len(d) - 1);
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use arrow::array::{Int8Array, TimestampMicrosecondArray, UInt8Array, UInt16Array};

    use super::*;

    #[test]
    fn every_ipv4_octet_matches_the_standard_formatting() {
        for octet in 0..=255u8 {
            for octets in [[octet, 0, 255, octet], [1, octet, 10, 100], [octet; 4]] {
                let mut text = Vec::new();
                push_ipv4(&mut text, octets);
                assert_eq!(
                    String::from_utf8(text).unwrap(),
                    Ipv4Addr::from(octets).to_string()
                );
            }
        }
    }

    fn names_array(keys: Vec<i8>, values: &[&str]) -> ArrayRef {
        Arc::new(
            DictionaryArray::<Int8Type>::try_new(
                Int8Array::from(keys),
                Arc::new(StringArray::from(values.to_vec())),
            )
            .unwrap(),
        )
    }

    /// Two rows: an IPv4 flow with a sampling rate of 10 and an end time, an IPv6 one with
    /// neither.
    fn edge_batch() -> RecordBatch {
        let present = [
            FlowColumn::ReceiveTime,
            FlowColumn::FlowEnd,
            FlowColumn::ExporterAddress,
            FlowColumn::FlowProtocol,
            FlowColumn::SamplingRate,
            FlowColumn::SrcAddr,
            FlowColumn::SrcPort,
            FlowColumn::Bytes,
            FlowColumn::SrcMac,
            FlowColumn::RecordType,
        ];
        let exporter = DictionaryArray::<UInt32Type>::try_new(
            UInt32Array::from(vec![0, 0]),
            Arc::new(BinaryArray::from(vec![&[192u8, 0, 2, 1][..]])),
        )
        .unwrap();
        let v6 = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
        RecordBatch::try_new(
            flow_edge_schema(present),
            vec![
                Arc::new(
                    TimestampMicrosecondArray::from(vec![5_000_000, 6_000_000])
                        .with_timezone("UTC"),
                ),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(4_000_000), None])
                        .with_timezone("UTC"),
                ),
                Arc::new(exporter),
                names_array(vec![1, 2], &FLOW_PROTOCOLS),
                Arc::new(UInt32Array::from(vec![Some(10), None])),
                Arc::new(BinaryArray::from(vec![&[10u8, 0, 0, 1][..], &v6[..]])),
                Arc::new(UInt16Array::from(vec![443, 53])),
                Arc::new(UInt64Array::from(vec![Some(100), Some(7)])),
                Arc::new(BinaryArray::from(vec![
                    Some(&[0x00u8, 0x1b, 0x21, 0xab, 0xcd, 0xef][..]),
                    None,
                ])),
                names_array(vec![0, 1], &RECORD_TYPES),
            ],
        )
        .unwrap()
    }

    #[test]
    fn an_edge_batch_becomes_the_flow_table() {
        let table = edge_to_table(&edge_batch()).unwrap();
        assert_eq!(table.schema(), flow_schema());
        let text = |column: FlowColumn| -> Vec<Option<String>> {
            let array =
                arrow::compute::cast(table.column(column.index()), &DataType::Utf8).unwrap();
            array
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_owned))
                .collect()
        };
        let some = |values: &[&str]| {
            values
                .iter()
                .map(|v| Some((*v).to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            text(FlowColumn::SrcAddr),
            some(&["10.0.0.1", "2001:db8::1"])
        );
        assert_eq!(
            text(FlowColumn::ExporterAddress),
            some(&["192.0.2.1", "192.0.2.1"])
        );
        assert_eq!(
            text(FlowColumn::FlowProtocol),
            some(&["netflow_v9", "ipfix"])
        );
        assert_eq!(text(FlowColumn::RecordType), some(&["flow", "counters"]));
        assert_eq!(
            text(FlowColumn::SrcMac),
            vec![Some("00:1b:21:ab:cd:ef".to_owned()), None]
        );
        assert_eq!(text(FlowColumn::BytesScaled), some(&["1000", "7"]));
        assert_eq!(text(FlowColumn::PacketsScaled), vec![None, None]);
        assert_eq!(text(FlowColumn::DstAddr), vec![None, None]);
        let event = table.column(FlowColumn::EventTime.index());
        let event = event.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(event.values().to_vec(), [4_000_000, 6_000_000]);
        assert_eq!(event.null_count(), 0);
    }

    #[test]
    fn an_unknown_version_or_a_bad_address_is_a_clear_error() {
        let batch = edge_batch();
        let mut metadata = batch.schema().metadata().clone();
        metadata.insert(EDGE_FORMAT_KEY.into(), "flow/99".into());
        let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
        let future = RecordBatch::try_new(schema, batch.columns().to_vec()).unwrap();
        let error = edge_to_table(&future).unwrap_err().to_string();
        assert!(
            error.contains("\"flow/99\"") && error.contains("flow/1"),
            "{error}"
        );

        let mut columns = batch.columns().to_vec();
        columns[5] = Arc::new(BinaryArray::from(vec![&[10u8, 0, 0][..], &[1u8; 4][..]]));
        let bad = RecordBatch::try_new(batch.schema(), columns).unwrap();
        let error = edge_to_table(&bad).unwrap_err().to_string();
        assert!(
            error.contains("src_addr") && error.contains("3 bytes"),
            "{error}"
        );
    }

    /// A batch without the `flow/2` columns is written as `flow/1`, so receivers and pipers
    /// that know only `flow/1` keep reading it; one with them is `flow/2`, and its columns are
    /// refused in a batch claiming `flow/1`.
    #[test]
    fn the_oldest_format_that_holds_the_columns_is_written_and_checked() {
        let format = |batch: &RecordBatch| edge_format(batch.schema_ref()).unwrap();
        assert_eq!(format(&edge_batch()), Some(FLOW_EDGE_FORMAT_V1));

        let base = edge_batch();
        let mut present: Vec<FlowColumn> = base
            .schema()
            .fields()
            .iter()
            .map(|field| {
                FlowColumn::ALL
                    .into_iter()
                    .find(|column| column.name() == field.name())
                    .unwrap()
            })
            .collect();
        let mut columns = base.columns().to_vec();
        let at = present.len() - 1;
        present.insert(at, FlowColumn::XlateSrcAddr);
        present.insert(at + 1, FlowColumn::FirewallEvent);
        present.insert(at + 2, FlowColumn::UserName);
        columns.insert(
            at,
            Arc::new(BinaryArray::from(vec![
                Some(&[198u8, 51, 100, 7][..]),
                None,
            ])),
        );
        columns.insert(at + 1, Arc::new(UInt8Array::from(vec![Some(1), Some(3)])));
        columns.insert(
            at + 2,
            Arc::new(StringArray::from(vec![Some("alice"), None])),
        );
        let v2 = RecordBatch::try_new(flow_edge_schema(present), columns.clone()).unwrap();
        assert_eq!(format(&v2), Some(FLOW_EDGE_FORMAT));
        let table = edge_to_table(&v2).unwrap();
        let text = |column: FlowColumn| {
            arrow::compute::cast(table.column(column.index()), &DataType::Utf8)
                .unwrap()
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_owned))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            text(FlowColumn::XlateSrcAddr),
            [Some("198.51.100.7".to_owned()), None]
        );
        assert_eq!(
            text(FlowColumn::FirewallEvent),
            [Some("1".to_owned()), Some("3".to_owned())]
        );
        assert_eq!(text(FlowColumn::UserName), [Some("alice".to_owned()), None]);
        assert_eq!(text(FlowColumn::NatEvent), [None, None]);

        let mut metadata = v2.schema().metadata().clone();
        metadata.insert(EDGE_FORMAT_KEY.into(), FLOW_EDGE_FORMAT_V1.into());
        let schema = Arc::new(v2.schema().as_ref().clone().with_metadata(metadata));
        let mislabelled = RecordBatch::try_new(schema, columns).unwrap();
        let error = edge_to_table(&mislabelled).unwrap_err().to_string();
        assert!(
            error.contains("flow/1") && error.contains("xlate_src_addr"),
            "{error}"
        );
    }
}
