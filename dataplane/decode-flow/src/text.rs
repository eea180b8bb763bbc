//! Addresses, MACs and hex written straight into a text column's bytes, without `core::fmt`
//! (which costs more than all the rest of a record) and without a `String` per value.

use std::io::Write;
use std::net::Ipv6Addr;

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

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Dotted-quad text of an IPv4 address, as `Ipv4Addr`'s `Display` writes it.
#[inline]
pub(crate) fn push_ipv4(out: &mut Vec<u8>, octets: [u8; 4]) {
    // Two octets with their dots fit a u64 (at most 8 bytes): each half is assembled in a
    // register and stored with one fixed-size copy, the bytes past its length cut off again.
    // A copy of just the text's length would call `memcpy`, and a stack buffer written byte
    // by byte then read whole stalls on store forwarding: either costs more than the rest.
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

/// Longest `extra_key`: `"4294967295:65535":"`.
pub(crate) const EXTRA_KEY_MAX: usize = 20;

/// Appends the first `len` bytes of `text` with a fixed-size copy (see `push_ipv4`).
#[inline]
pub(crate) fn push_prefix<const N: usize>(out: &mut Vec<u8>, text: &[u8; N], len: usize) {
    let start = out.len();
    out.extend_from_slice(text);
    out.truncate(start + len.min(N));
}

/// RFC 5952 text of an IPv6 address (what `Ipv6Addr`'s `Display` writes; rarer than IPv4, so it
/// keeps `core::fmt`, writing into the column without an intermediate `String`).
pub(crate) fn push_ipv6(out: &mut Vec<u8>, octets: [u8; 16]) {
    let _ = write!(out, "{}", Ipv6Addr::from(octets));
}

/// `aa:bb:cc:dd:ee:ff`.
#[inline]
pub(crate) fn push_mac(out: &mut Vec<u8>, mac: [u8; 6]) {
    let mut text = [b':'; 17];
    for (i, byte) in mac.into_iter().enumerate() {
        text[i * 3] = HEX[usize::from(byte >> 4)];
        text[i * 3 + 1] = HEX[usize::from(byte & 0x0f)];
    }
    out.extend_from_slice(&text);
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
    use std::net::Ipv4Addr;

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

    #[test]
    fn ipv6_mac_and_hex() {
        let mut text = Vec::new();
        push_ipv6(
            &mut text,
            "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
        );
        text.push(b' ');
        push_mac(&mut text, [0x00, 0x1b, 0x21, 0xab, 0xcd, 0xef]);
        text.push(b' ');
        push_hex(&mut text, &[0x00, 0x7f, 0xff]);
        text.push(b' ');
        extra_key(&mut text, 29_305, 1);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "2001:db8::1 00:1b:21:ab:cd:ef 007fff \"29305:1\":\""
        );
    }
}
