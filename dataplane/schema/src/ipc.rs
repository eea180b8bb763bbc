use std::io::Cursor;
use std::str::FromStr;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ipc::CompressionType;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::record_batch::RecordBatch;

mod limits;

pub use limits::{IpcLimitError, IpcLimits, IpcScan, scan_ipc};

#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error("cannot encode Arrow IPC stream: {0}")]
    Encode(#[source] ArrowError),
    #[error("not a readable Arrow IPC stream: {0}")]
    Decode(#[source] ArrowError),
    #[error("cannot encode an empty list of batches: the schema would be unknown")]
    Empty,
    #[error(transparent)]
    Limit(#[from] IpcLimitError),
}

/// zstd level 1: on syslog text it compresses within a few percent of the default level 3 at
/// about twice the speed, and on a small edge host every stage encodes on the cores that also
/// receive.
const ZSTD_LEVEL: i32 = 1;
/// zstd's fast level 7 (negative levels trade ratio for speed). A 65,536-row NetFlow v9 batch
/// (`cargo xtask bench flow`, group `flow_spool_encode`): level 1 29 ms and 67 bytes a row,
/// fast 7 17 ms and 106, LZ4 22 ms and 100; fast 3 and 5 were no faster than LZ4.
const ZSTD_FAST_LEVEL: i32 = -7;

/// How the buffers of an Arrow IPC stream are compressed. All are in the Arrow IPC format
/// itself, so a reader needs no setting: `decode_ipc` reads any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcCompression {
    /// zstd level 1: the smaller output, for objects that are stored (intake, piper).
    Zstd,
    /// zstd fast level 7: for a proxy whose core is the limit rather than its link to the
    /// receiver (the receiver re-encodes with `Zstd` either way).
    ZstdFast,
    /// LZ4 frames: slower to write than `ZstdFast` on flow columns, output a little smaller.
    Lz4,
    /// Buffers as they are: for a proxy on the same host or a fast link as its receiver,
    /// where any compression costs more core than the bytes it saves.
    None,
}

impl IpcCompression {
    pub const ALL: [IpcCompression; 4] = [
        IpcCompression::Zstd,
        IpcCompression::ZstdFast,
        IpcCompression::Lz4,
        IpcCompression::None,
    ];

    pub fn name(self) -> &'static str {
        match self {
            IpcCompression::Zstd => "zstd",
            IpcCompression::ZstdFast => "zstd-fast",
            IpcCompression::Lz4 => "lz4",
            IpcCompression::None => "none",
        }
    }

    fn write_options(self) -> Result<IpcWriteOptions, ArrowError> {
        let zstd = |level| {
            IpcWriteOptions::default()
                .try_with_compression(Some(CompressionType::ZSTD))
                .and_then(|options| options.try_with_compression_level(Some(level)))
        };
        match self {
            IpcCompression::Zstd => zstd(ZSTD_LEVEL),
            IpcCompression::ZstdFast => zstd(ZSTD_FAST_LEVEL),
            IpcCompression::Lz4 => {
                IpcWriteOptions::default().try_with_compression(Some(CompressionType::LZ4_FRAME))
            }
            IpcCompression::None => Ok(IpcWriteOptions::default()),
        }
    }
}

/// A compression name [`IpcCompression`] does not know; the message lists those it does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression {name:?}: choose {}", known_compressions())]
pub struct UnknownCompression {
    pub name: String,
}

/// `"zstd", "zstd-fast", "lz4" or "none"`.
fn known_compressions() -> String {
    let known = IpcCompression::ALL.map(|known| format!("{:?}", known.name()));
    match known.split_last() {
        Some((last, others)) => format!("{} or {last}", others.join(", ")),
        None => String::new(),
    }
}

impl FromStr for IpcCompression {
    type Err = UnknownCompression;

    fn from_str(text: &str) -> Result<IpcCompression, UnknownCompression> {
        Self::ALL
            .into_iter()
            .find(|compression| compression.name() == text)
            .ok_or_else(|| UnknownCompression {
                name: text.to_owned(),
            })
    }
}

/// Encodes batches as one Arrow IPC stream with zstd-compressed buffers: the format of every
/// intake and piper object.
pub fn encode_ipc(batches: &[RecordBatch]) -> Result<Vec<u8>, IpcError> {
    encode_ipc_with(batches, IpcCompression::Zstd)
}

/// Encodes batches as one Arrow IPC stream with the given buffer compression.
pub fn encode_ipc_with(
    batches: &[RecordBatch],
    compression: IpcCompression,
) -> Result<Vec<u8>, IpcError> {
    let first = batches.first().ok_or(IpcError::Empty)?;
    let options = compression.write_options().map_err(IpcError::Encode)?;
    let mut buffer = Vec::with_capacity(first.get_array_memory_size() / 4 + 1024);
    {
        let mut writer = StreamWriter::try_new_with_options(&mut buffer, &first.schema(), options)
            .map_err(IpcError::Encode)?;
        for batch in batches {
            writer.write(batch).map_err(IpcError::Encode)?;
        }
        writer.finish().map_err(IpcError::Encode)?;
    }
    Ok(buffer)
}

/// Decodes one Arrow IPC stream into its schema and batches.
pub fn decode_ipc(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>), IpcError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(IpcError::Decode)?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(IpcError::Decode)?;
    Ok((schema, batches))
}

/// Decodes a stream from an untrusted sender: its declared lengths are checked against the
/// bytes present and `limits` (see [`scan_ipc`]) before arrow-ipc allocates from them.
pub fn decode_ipc_limited(
    bytes: &[u8],
    limits: &IpcLimits,
) -> Result<(SchemaRef, Vec<RecordBatch>), IpcError> {
    scan_ipc(bytes, limits)?;
    decode_ipc(bytes)
}

/// Counts the rows of a stream already checked by [`scan_ipc`], decoding one batch at a time so
/// at most one decoded batch is held.
pub fn count_ipc_rows(bytes: &[u8]) -> Result<u64, IpcError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(IpcError::Decode)?;
    let mut rows = 0u64;
    for batch in reader {
        rows += batch.map_err(IpcError::Decode)?.num_rows() as u64;
    }
    Ok(rows)
}

/// Reads only the schema message at the start of a stream, without decoding any batch.
pub fn read_ipc_schema(bytes: &[u8]) -> Result<SchemaRef, IpcError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(IpcError::Decode)?;
    Ok(reader.schema())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn round_trips_batches_through_every_compression() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..1000)),
                Arc::new(StringArray::from_iter(
                    (0..1000).map(|i| (i % 3 != 0).then(|| format!("value {i}"))),
                )),
            ],
        )
        .unwrap();
        for compression in IpcCompression::ALL {
            let bytes = encode_ipc_with(&[batch.clone(), batch.clone()], compression).unwrap();
            let (decoded_schema, batches) = decode_ipc(&bytes).unwrap();
            assert_eq!(decoded_schema, schema, "{compression:?}");
            assert_eq!(
                batches,
                vec![batch.clone(), batch.clone()],
                "{compression:?}"
            );
            assert_eq!(read_ipc_schema(&bytes).unwrap(), schema, "{compression:?}");
            assert_eq!(compression.name().parse(), Ok(compression));
        }
    }

    #[test]
    fn an_unknown_compression_name_lists_the_known_ones() {
        assert_eq!(
            "snappy"
                .parse::<IpcCompression>()
                .map_err(|error| error.to_string()),
            Err(
                "unknown compression \"snappy\": choose \"zstd\", \"zstd-fast\", \"lz4\" or \"none\""
                    .to_owned()
            )
        );
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        assert!(matches!(
            decode_ipc(b"not arrow at all"),
            Err(IpcError::Decode(_))
        ));
        assert!(matches!(decode_ipc(&[]), Err(IpcError::Decode(_))));
        assert!(matches!(encode_ipc(&[]), Err(IpcError::Empty)));
    }
}
