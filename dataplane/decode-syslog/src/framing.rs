//! RFC 6587 framing for syslog over TCP and TLS: octet counting (`LEN SP MSG`) or a trailing
//! newline, detected per frame, with a size limit that resynchronizes at the next newline.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A frame longer than the limit; its bytes were skipped.
    Oversized { length: usize, limit: usize },
}

/// Cuts a byte stream into syslog frames.
pub struct FrameSplitter {
    buffer: Vec<u8>,
    max_frame: usize,
    /// Skipping the rest of an oversized newline-framed message until its newline.
    discarding: bool,
}

impl FrameSplitter {
    pub fn new(max_frame: usize) -> Self {
        FrameSplitter {
            buffer: Vec::new(),
            max_frame,
            discarding: false,
        }
    }

    /// Appends `input` and calls `on_frame` for every complete frame, in order.
    pub fn push(&mut self, input: &[u8], mut on_frame: impl FnMut(Result<&[u8], FrameError>)) {
        self.buffer.extend_from_slice(input);
        let mut start = 0;
        loop {
            let pending = &self.buffer[start..];
            if pending.is_empty() {
                break;
            }
            if self.discarding {
                match pending.iter().position(|b| *b == b'\n') {
                    Some(newline) => {
                        start += newline + 1;
                        self.discarding = false;
                        continue;
                    }
                    None => {
                        start = self.buffer.len();
                        break;
                    }
                }
            }
            if let Some((length, header)) = octet_count(pending) {
                if length > self.max_frame {
                    on_frame(Err(FrameError::Oversized {
                        length,
                        limit: self.max_frame,
                    }));
                    // The length is known, so skip exactly that many bytes (possibly later).
                    let available = pending.len() - header;
                    if available >= length {
                        start += header + length;
                        continue;
                    }
                    self.discarding = true;
                    start = self.buffer.len();
                    break;
                }
                if pending.len() - header < length {
                    break;
                }
                on_frame(Ok(&pending[header..header + length]));
                start += header + length;
                continue;
            }
            match pending.iter().position(|b| *b == b'\n') {
                Some(newline) => {
                    let frame = trim_end(&pending[..newline]);
                    if newline > self.max_frame {
                        on_frame(Err(FrameError::Oversized {
                            length: newline,
                            limit: self.max_frame,
                        }));
                    } else if !frame.is_empty() {
                        on_frame(Ok(frame));
                    }
                    start += newline + 1;
                }
                None if pending.len() > self.max_frame => {
                    on_frame(Err(FrameError::Oversized {
                        length: pending.len(),
                        limit: self.max_frame,
                    }));
                    self.discarding = true;
                    start = self.buffer.len();
                    break;
                }
                None => break,
            }
        }
        self.buffer.drain(..start);
    }

    /// Bytes received but not yet part of a complete frame.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }
}

/// `LEN SP` at the start of `bytes`, when the frame uses octet counting.
fn octet_count(bytes: &[u8]) -> Option<(usize, usize)> {
    let digits = bytes
        .iter()
        .take(10)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || bytes.get(digits) != Some(&b' ') || bytes[0] == b'0' {
        return None;
    }
    let length = std::str::from_utf8(&bytes[..digits]).ok()?.parse().ok()?;
    Some((length, digits + 1))
}

fn trim_end(frame: &[u8]) -> &[u8] {
    let mut end = frame.len();
    while end > 0 && matches!(frame[end - 1], b'\r' | 0) {
        end -= 1;
    }
    &frame[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(splitter: &mut FrameSplitter, input: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut out = Vec::new();
        splitter.push(input, |frame| out.push(frame.map(<[u8]>::to_vec)));
        out
    }

    #[test]
    fn octet_counting_and_newlines_mix_and_split_across_reads() {
        let mut splitter = FrameSplitter::new(1024);
        let first = frames(&mut splitter, b"11 <13>1 hello<13>line one\r\n<13>li");
        assert_eq!(
            first,
            vec![Ok(b"<13>1 hello".to_vec()), Ok(b"<13>line one".to_vec())]
        );
        let second = frames(&mut splitter, b"ne two\n6 <1>ab");
        assert_eq!(second, vec![Ok(b"<13>line two".to_vec())]);
        assert_eq!(splitter.pending(), 7);
        let third = frames(&mut splitter, b"c");
        assert_eq!(third, vec![Ok(b"<1>abc".to_vec())]);
    }

    #[test]
    fn oversized_frames_are_reported_and_skipped() {
        let mut splitter = FrameSplitter::new(8);
        let out = frames(&mut splitter, b"20 0123456789");
        assert_eq!(
            out,
            vec![Err(FrameError::Oversized {
                length: 20,
                limit: 8
            })]
        );
        let out = frames(&mut splitter, b"0123456789\n<1>ok\n");
        assert_eq!(out, vec![Ok(b"<1>ok".to_vec())]);
        let out = frames(&mut splitter, b"a-very-long-line-without-end");
        assert_eq!(out.len(), 1);
        let out = frames(&mut splitter, b" still\n<1>x\n");
        assert_eq!(out, vec![Ok(b"<1>x".to_vec())]);
    }
}
