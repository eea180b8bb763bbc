//! The softflowd captures in `dataplane/decode-flow/tests/data`: each datagram stored as a
//! big-endian u32 length and its bytes (written by `capture_softflowd.py`).

use std::path::Path;

pub fn softflowd_datagrams(data_dir: &Path, name: &str) -> Vec<Vec<u8>> {
    let path = data_dir.join(format!("softflowd-{name}.bin"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rest = bytes.as_slice();
    let mut out = Vec::new();
    while let [a, b, c, d, tail @ ..] = rest {
        let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
        out.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    out
}
