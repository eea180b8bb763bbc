use std::io::Read;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::budget::{BodyBudget, BudgetError, Reservation};
use crate::rejection::{Rejection, reject};

/// Inflated output is produced and reserved this much at a time.
const INFLATE_STEP: usize = 64 * 1024;

/// How a body is compressed (`Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    Identity,
    Gzip,
    Zstd,
}

/// The body's encoding from its headers; any other than `accepted` (identity always is) is
/// refused with 415 before a byte of the body is read.
pub fn content_encoding(
    headers: &HeaderMap,
    accepted: &[ContentEncoding],
) -> Result<ContentEncoding, Rejection> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    let found = match encoding.trim().to_ascii_lowercase().as_str() {
        "identity" | "" => Some(ContentEncoding::Identity),
        "gzip" | "x-gzip" => Some(ContentEncoding::Gzip),
        "zstd" => Some(ContentEncoding::Zstd),
        _ => None,
    };
    match found {
        Some(found) if found == ContentEncoding::Identity || accepted.contains(&found) => Ok(found),
        _ => {
            let names: Vec<&str> = accepted
                .iter()
                .map(|encoding| match encoding {
                    ContentEncoding::Identity => "identity",
                    ContentEncoding::Gzip => "gzip",
                    ContentEncoding::Zstd => "zstd",
                })
                .collect();
            Err(reject(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content_encoding",
                format!(
                    "content encoding {encoding:?} is not supported: use {} or none",
                    names.join(" or ")
                ),
            ))
        }
    }
}

/// The body length the headers declare, if they do and it is a number.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
}

/// Reads a body whose headers were already accepted, holding at most `limit` bytes and only what
/// `budget` grants, and giving up at `deadline`.
pub async fn read_body(
    body: Body,
    content_length: Option<u64>,
    limit: usize,
    deadline: Instant,
    budget: &BodyBudget,
    reservation: &mut Reservation,
) -> Result<Bytes, Rejection> {
    if let Some(length) = content_length {
        if length > limit as u64 {
            return Err(too_large(limit));
        }
        // Declared up front, so the whole body is reserved before any byte is read.
        budget
            .reserve_total(reservation, length)
            .map_err(budget_rejection)?;
    }
    // bounded by `limit` (config: max_body_bytes) and checked below before each append
    let mut buffer = BytesMut::with_capacity(content_length.unwrap_or(0) as usize);
    let mut body = body;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(reject(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    "the body did not arrive within body_timeout_secs; send faster or ask the operator to raise it",
                ));
            }
            Ok(None) => return Ok(buffer.freeze()),
            Ok(Some(Err(error))) => {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    "body_read",
                    format!("cannot read the body: {error}"),
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let total = buffer.len() + data.len();
        if total > limit {
            return Err(too_large(limit));
        }
        budget
            .reserve_total(reservation, total as u64)
            .map_err(budget_rejection)?;
        buffer.extend_from_slice(&data);
    }
}

/// A request's body as sent and as inflated (the same bytes when it was not compressed).
pub struct ReadBody {
    pub sent: Bytes,
    pub inflated: Bytes,
    pub encoding: ContentEncoding,
}

impl ReadBody {
    /// What the two hold in memory: the inflated copy counts only when there is one.
    pub fn held_bytes(&self) -> u64 {
        let inflated = match self.encoding {
            ContentEncoding::Identity => 0,
            ContentEncoding::Gzip | ContentEncoding::Zstd => self.inflated.len(),
        };
        (self.sent.len() + inflated) as u64
    }
}

/// Everything between accepted headers and a body to parse: the encoding checked against
/// `accepted` (415 before a byte is read), the body read within `limit` by `deadline`, and
/// inflated within the same limit, all of it reserved from `budget`.
pub async fn read_request_body(
    headers: &HeaderMap,
    body: Body,
    accepted: &[ContentEncoding],
    limit: usize,
    deadline: Instant,
    budget: &BodyBudget,
    reservation: &mut Reservation,
) -> Result<ReadBody, Rejection> {
    let encoding = content_encoding(headers, accepted)?;
    let sent = read_body(
        body,
        declared_length(headers),
        limit,
        deadline,
        budget,
        reservation,
    )
    .await?;
    let inflated = inflate(sent.clone(), encoding, limit, budget, reservation)?;
    Ok(ReadBody {
        sent,
        inflated,
        encoding,
    })
}

/// The body as sent, inflated to at most `limit` bytes when compressed, reserving the output from
/// `budget` as it grows (a small body that inflates to gigabytes stops at the limit).
pub fn inflate(
    compressed: Bytes,
    encoding: ContentEncoding,
    limit: usize,
    budget: &BodyBudget,
    reservation: &mut Reservation,
) -> Result<Bytes, Rejection> {
    let invalid = |reason: &'static str, codec: &str, error: std::io::Error| {
        reject(
            StatusCode::BAD_REQUEST,
            reason,
            format!("body is not valid {codec}: {error}"),
        )
    };
    let (decoder, reason, codec): (Box<dyn Read + '_>, _, _) = match encoding {
        ContentEncoding::Identity => return Ok(compressed),
        ContentEncoding::Gzip => (
            Box::new(flate2::read::GzDecoder::new(&compressed[..])),
            "bad_gzip",
            "gzip",
        ),
        ContentEncoding::Zstd => (
            Box::new(
                zstd::stream::read::Decoder::new(&compressed[..])
                    .map_err(|e| invalid("bad_zstd", "zstd", e))?,
            ),
            "bad_zstd",
            "zstd",
        ),
    };
    read_bounded(decoder, compressed.len(), limit, budget, reservation)?
        .map_err(|error| invalid(reason, codec, error))
}

/// Reads `decoder` to its end within `limit`: the outer error refuses the body for its size or
/// the budget, the inner one is the decoder's, for the caller to name its codec.
fn read_bounded(
    mut decoder: impl Read,
    compressed_len: usize,
    limit: usize,
    budget: &BodyBudget,
    reservation: &mut Reservation,
) -> Result<Result<Bytes, std::io::Error>, Rejection> {
    let mut out = Vec::new();
    loop {
        let filled = out.len();
        if filled > limit {
            return Err(too_large(limit));
        }
        if filled + INFLATE_STEP > out.capacity() {
            // Grow by doubling (not by steps, which would copy quadratically), and reserve the
            // capacity, which is what the allocation costs.
            let capacity = (out.capacity() * 2).clamp(filled + INFLATE_STEP, limit + INFLATE_STEP);
            budget
                .reserve_total(reservation, (compressed_len + capacity) as u64)
                .map_err(budget_rejection)?;
            out.reserve_exact(capacity - filled);
        }
        out.resize(filled + INFLATE_STEP, 0);
        let read = match decoder.read(&mut out[filled..]) {
            Ok(read) => read,
            Err(error) => return Ok(Err(error)),
        };
        out.truncate(filled + read);
        if read == 0 {
            return Ok(Ok(Bytes::from(out)));
        }
    }
}

pub fn too_large(limit: usize) -> Rejection {
    reject(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the body exceeds {limit} bytes (max_body_bytes), as sent or inflated"),
    )
}

pub fn budget_rejection(error: BudgetError) -> Rejection {
    match error {
        BudgetError::Busy => reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the listener holds as many bodies as its in-flight memory budget allows; retry later",
        )
        .retry_after(1),
        BudgetError::NeverFits => reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the body needs more memory than the listener's whole in-flight budget; send smaller bodies",
        ),
    }
}
