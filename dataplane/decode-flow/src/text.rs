//! Hex and `extra_fields` keys written straight into a text column's bytes, without a
//! `String` per value. (Addresses and MACs leave the edge as bytes; their text is built off
//! the edge, by `bytefreezer_schema::edge_to_table`.)

use std::io::Write;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Longest `extra_key`: `"4294967295:65535":"`.
pub(crate) const EXTRA_KEY_MAX: usize = 20;

/// Appends the first `len` bytes of `text` with a fixed-size copy and a truncation: a copy of
/// just the text's length would call `memcpy`, which costs more than the rest.
#[inline]
pub(crate) fn push_prefix<const N: usize>(out: &mut Vec<u8>, text: &[u8; N], len: usize) {
    let start = out.len();
    out.extend_from_slice(text);
    out.truncate(start + len.min(N));
}

/// Lower-case hex of `bytes`.
#[inline]
pub(crate) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 0x0f)]);
    }
}

/// The start of one `extra_fields` member up to its value: `"<enterprise>:<element>":"`.
pub(crate) fn extra_key(out: &mut Vec<u8>, enterprise: u32, element: u16) {
    let _ = write!(out, "\"{enterprise}:{element}\":\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_extra_keys() {
        let mut text = Vec::new();
        push_hex(&mut text, &[0x00, 0x7f, 0xff]);
        text.push(b' ');
        extra_key(&mut text, 29_305, 1);
        assert_eq!(String::from_utf8(text).unwrap(), "007fff \"29305:1\":\"");
    }
}
