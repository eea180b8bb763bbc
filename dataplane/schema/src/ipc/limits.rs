//! Checks an Arrow IPC stream's declared lengths before arrow-ipc trusts them.
//!
//! arrow-ipc sizes its allocations from what a stream declares: the metadata length, each
//! message's body length (allocated zeroed before it is read) and the 8-byte uncompressed length
//! in front of every compressed buffer. An LZ4 frame is also decompressed to its end whatever
//! length was declared. A hostile sender can therefore make a small body cost any amount of
//! memory, or abort the process when an allocation fails. This walk reads every message header
//! without allocating from declared sizes, refuses what does not fit the bytes present or the
//! limits, and decodes LZ4 frames into a fixed scratch buffer to see they hold what they claim.

use std::io::Read;

use arrow::ipc::{CompressionType, MessageHeader, root_as_message};

/// Marks a message length that follows (the IPC format's continuation token).
const CONTINUATION: u32 = 0xFFFF_FFFF;
/// The uncompressed-length prefix of each compressed buffer.
const PREFIX_BYTES: usize = 8;
/// The prefix value meaning "stored uncompressed".
const NOT_COMPRESSED: i64 = -1;
/// LZ4 frames are decoded into this much scratch at a time to count their true size.
const LZ4_SCRATCH_BYTES: usize = 64 * 1024;

/// Decompressed sizes an Arrow IPC stream may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcLimits {
    /// Total decompressed size of every buffer of every message in one stream.
    pub max_decoded_bytes: u64,
    /// Decompressed size of one buffer (a column's validity, offsets or values in one batch).
    pub max_buffer_bytes: u64,
}

impl Default for IpcLimits {
    /// 128 MiB per stream (a full 65,536-row NetFlow batch decodes to about 29 MB) and 64 MiB per
    /// buffer (a syslog batch's message column is at most the proxy's 8 MiB batch).
    fn default() -> Self {
        IpcLimits {
            max_decoded_bytes: 128 * 1024 * 1024,
            max_buffer_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why a stream was refused before decoding.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpcLimitError {
    /// A declared length points past the bytes present, or is negative.
    #[error(
        "Arrow IPC stream declares {what} of {declared} bytes at offset {offset}, but only {available} bytes follow"
    )]
    Truncated {
        what: &'static str,
        offset: usize,
        declared: i64,
        available: usize,
    },
    /// The stream is not made of readable IPC messages.
    #[error("Arrow IPC message at offset {offset} is malformed: {reason}")]
    Malformed { offset: usize, reason: String },
    /// One buffer decompresses to more than `max_buffer_bytes` (declared, or found while decoding LZ4).
    #[error("an Arrow IPC buffer decompresses to {declared} bytes, more than the limit of {limit}")]
    BufferTooLarge { declared: u64, limit: u64 },
    /// The stream decompresses to more than `max_decoded_bytes` in total.
    #[error("the Arrow IPC stream decompresses to more than {limit} bytes")]
    StreamTooLarge { limit: u64 },
}

impl IpcLimitError {
    /// True when the stream is well formed but bigger than allowed (HTTP 413 rather than 400).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            IpcLimitError::BufferTooLarge { .. } | IpcLimitError::StreamTooLarge { .. }
        )
    }
}

/// What the walk learned: enough for a caller to reserve memory before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IpcScan {
    /// Sum of the decompressed sizes of all buffers (uncompressed buffers count their length).
    pub decoded_bytes: u64,
    /// Record batch messages in the stream.
    pub record_batches: u64,
}

/// Walks every message of an IPC stream, checking declared lengths against the bytes present
/// and decompressed sizes against `limits`. Allocates nothing sized by the input except LZ4's
/// fixed scratch.
pub fn scan_ipc(bytes: &[u8], limits: &IpcLimits) -> Result<IpcScan, IpcLimitError> {
    let mut scan = IpcScan::default();
    let mut offset = 0usize;
    loop {
        let Some(word) = read_u32(bytes, offset) else {
            // A stream may end at EOF without the end-of-stream marker, as arrow-ipc accepts.
            if offset == bytes.len() {
                return Ok(scan);
            }
            return Err(truncated(
                "a message length",
                offset,
                4,
                bytes.len() - offset,
            ));
        };
        offset += 4;
        let meta_length = if word == CONTINUATION {
            let length = read_u32(bytes, offset).ok_or_else(|| {
                truncated(
                    "a message length",
                    offset,
                    4,
                    bytes.len().saturating_sub(offset),
                )
            })?;
            offset += 4;
            length
        } else {
            word
        };
        let meta_length = i32::from_le_bytes(meta_length.to_le_bytes());
        if meta_length == 0 {
            return Ok(scan);
        }
        let available = bytes.len() - offset;
        let meta_end = usize::try_from(meta_length)
            .ok()
            .filter(|length| *length <= available)
            .map(|length| offset + length)
            .ok_or_else(|| truncated("metadata", offset, meta_length.into(), available))?;
        let message = root_as_message(&bytes[offset..meta_end]).map_err(|error| {
            IpcLimitError::Malformed {
                offset,
                reason: error.to_string(),
            }
        })?;
        let available = bytes.len() - meta_end;
        let body_length = message.bodyLength();
        let body_end = usize::try_from(body_length)
            .ok()
            .filter(|length| *length <= available)
            .map(|length| meta_end + length)
            .ok_or_else(|| truncated("a message body", meta_end, body_length, available))?;
        let body = &bytes[meta_end..body_end];
        let batch = match message.header_type() {
            MessageHeader::RecordBatch => {
                scan.record_batches += 1;
                message.header_as_record_batch()
            }
            MessageHeader::DictionaryBatch => message
                .header_as_dictionary_batch()
                .and_then(|dictionary| dictionary.data()),
            _ => None,
        };
        if let Some(batch) = batch {
            let codec = batch.compression().map(|compression| compression.codec());
            for buffer in batch.buffers().into_iter().flatten() {
                let decoded = buffer_size(
                    body,
                    meta_end,
                    buffer.offset(),
                    buffer.length(),
                    codec,
                    limits,
                )?;
                scan.decoded_bytes = scan.decoded_bytes.saturating_add(decoded);
                if scan.decoded_bytes > limits.max_decoded_bytes {
                    return Err(IpcLimitError::StreamTooLarge {
                        limit: limits.max_decoded_bytes,
                    });
                }
            }
        }
        offset = body_end;
    }
}

/// The decompressed size of one buffer of a message body, checked against the limits.
fn buffer_size(
    body: &[u8],
    body_offset: usize,
    offset: i64,
    length: i64,
    codec: Option<CompressionType>,
    limits: &IpcLimits,
) -> Result<u64, IpcLimitError> {
    let start = usize::try_from(offset)
        .ok()
        .filter(|start| *start <= body.len())
        .ok_or_else(|| truncated("a buffer offset", body_offset, offset, body.len()))?;
    let end = usize::try_from(length)
        .ok()
        .and_then(|length| start.checked_add(length))
        .filter(|end| *end <= body.len())
        .ok_or_else(|| truncated("a buffer", body_offset + start, length, body.len() - start))?;
    let data = &body[start..end];
    let too_large = |declared: u64| {
        (declared > limits.max_buffer_bytes).then_some(IpcLimitError::BufferTooLarge {
            declared,
            limit: limits.max_buffer_bytes,
        })
    };
    let Some(codec) = codec.filter(|_| !data.is_empty()) else {
        let declared = data.len() as u64;
        return too_large(declared).map_or(Ok(declared), Err);
    };
    let (prefix, compressed) = data.split_at_checked(PREFIX_BYTES).ok_or_else(|| {
        truncated(
            "a compressed buffer's length prefix",
            body_offset + start,
            PREFIX_BYTES as i64,
            data.len(),
        )
    })?;
    let mut prefix_bytes = [0u8; PREFIX_BYTES];
    prefix_bytes.copy_from_slice(prefix);
    let declared = i64::from_le_bytes(prefix_bytes);
    if declared == NOT_COMPRESSED {
        let stored = compressed.len() as u64;
        return too_large(stored).map_or(Ok(stored), Err);
    }
    let declared = u64::try_from(declared).map_err(|_| IpcLimitError::Malformed {
        offset: body_offset + start,
        reason: format!("negative uncompressed length {declared}"),
    })?;
    if let Some(error) = too_large(declared) {
        return Err(error);
    }
    if codec == CompressionType::LZ4_FRAME {
        check_lz4_size(compressed, declared, body_offset + start, limits)?;
    }
    // zstd needs no such check: arrow-ipc decompresses it into a buffer of the declared size and
    // fails when the frame holds more.
    Ok(declared)
}

/// arrow-ipc reads an LZ4 frame to its end whatever length was declared, so a frame that expands
/// far beyond its prefix would cost memory before the mismatch is noticed: decode it here into a
/// fixed scratch buffer and refuse it as soon as it passes what it declared.
fn check_lz4_size(
    compressed: &[u8],
    declared: u64,
    offset: usize,
    limits: &IpcLimits,
) -> Result<(), IpcLimitError> {
    let mut decoder = lz4_flex::frame::FrameDecoder::new(compressed);
    let mut scratch = vec![0u8; LZ4_SCRATCH_BYTES];
    let mut total = 0u64;
    loop {
        let read = decoder
            .read(&mut scratch)
            .map_err(|error| IpcLimitError::Malformed {
                offset,
                reason: format!("LZ4 frame: {error}"),
            })?;
        if read == 0 {
            return Ok(());
        }
        total += read as u64;
        if total > declared {
            return Err(if total > limits.max_buffer_bytes {
                IpcLimitError::BufferTooLarge {
                    declared: total,
                    limit: limits.max_buffer_bytes,
                }
            } else {
                IpcLimitError::Malformed {
                    offset,
                    reason: format!("LZ4 frame holds more than its declared {declared} bytes"),
                }
            });
        }
    }
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
}

fn truncated(what: &'static str, offset: usize, declared: i64, available: usize) -> IpcLimitError {
    IpcLimitError::Truncated {
        what,
        offset,
        declared,
        available,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::record_batch::RecordBatch;

    use super::*;
    use crate::ipc::{IpcCompression, count_ipc_rows, encode_ipc_with};

    fn stream(rows: i64, compression: IpcCompression) -> Vec<u8> {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "n",
                Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef,
            ),
            (
                "s",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("row {i}")),
                )) as ArrayRef,
            ),
        ])
        .unwrap();
        encode_ipc_with(&[batch.clone(), batch], compression).unwrap()
    }

    #[test]
    fn honest_streams_pass_with_their_decoded_size() {
        for compression in IpcCompression::ALL {
            let bytes = stream(1000, compression);
            let scan = scan_ipc(&bytes, &IpcLimits::default()).unwrap();
            assert_eq!(scan.record_batches, 2, "{compression:?}");
            // Two batches of 8,000 value bytes, 4,004 offset bytes and the strings' bytes.
            assert!(scan.decoded_bytes > 2 * 12_004, "{compression:?}: {scan:?}");
            assert_eq!(count_ipc_rows(&bytes).unwrap(), 2000);
        }
    }

    #[test]
    fn limits_refuse_streams_that_decode_too_large() {
        let bytes = stream(100_000, IpcCompression::Zstd);
        let per_buffer = IpcLimits {
            max_decoded_bytes: u64::MAX,
            max_buffer_bytes: 100_000,
        };
        assert!(matches!(
            scan_ipc(&bytes, &per_buffer),
            Err(IpcLimitError::BufferTooLarge {
                declared: 800_000,
                limit: 100_000
            })
        ));
        let per_stream = IpcLimits {
            max_decoded_bytes: 1_000_000,
            max_buffer_bytes: u64::MAX,
        };
        let error = scan_ipc(&bytes, &per_stream).unwrap_err();
        assert_eq!(error, IpcLimitError::StreamTooLarge { limit: 1_000_000 });
        assert!(error.is_too_large());
    }

    #[test]
    fn declared_lengths_past_the_end_are_refused_at_every_cut() {
        let bytes = stream(50, IpcCompression::Lz4);
        let mut whole_messages = 0;
        // The last 8 bytes are the end-of-stream marker.
        for cut in 1..bytes.len() - 8 {
            match scan_ipc(&bytes[..cut], &IpcLimits::default()) {
                Err(IpcLimitError::Truncated { .. } | IpcLimitError::Malformed { .. }) => {}
                Ok(_) => whole_messages += 1,
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        assert_eq!(
            whole_messages, 2,
            "only cuts after the schema and after batch 1 are whole"
        );
    }
}
