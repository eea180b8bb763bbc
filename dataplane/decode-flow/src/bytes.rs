/// A bounds-checked big-endian reader over one datagram: every read past the end is `None`, so
/// a truncated packet ends decoding instead of panicking.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len()
    }

    /// Whether every byte left is zero (padding some exporters add after the last set).
    pub(crate) fn only_zeros_left(&self) -> bool {
        self.data.iter().all(|byte| *byte == 0)
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.data.len() {
            return None;
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Some(head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// An unsigned big-endian integer of 1 to 8 bytes (IPFIX reduced-size encoding sends counters
/// in fewer bytes than their type); longer values keep their last 8 bytes.
pub(crate) fn unsigned(bytes: &[u8]) -> u64 {
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    tail.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}
