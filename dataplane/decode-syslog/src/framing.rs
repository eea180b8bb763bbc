//! RFC 6587 framing for syslog over TCP and TLS (RFC 5425): octet counting (`LEN SP MSG`) or
//! non-transparent framing (each message ends with a newline), fixed per stream or detected per
//! frame as rsyslog and syslog-ng do. A message over the size limit is kept truncated to it, and
//! the rest of it skipped, so one oversized message costs neither the stream nor the messages
//! after it; the splitter never holds more than one limit's worth of a message.

/// How a stream separates its messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Framing {
    /// Octet counting when a frame starts with `LEN SP`, a newline-ended message otherwise.
    #[default]
    Auto,
    /// Every frame is `LEN SP MSG` (RFC 5425 requires it over TLS).
    OctetCounting,
    /// Every message ends with a newline (LF; a CR or NUL before it is dropped).
    NonTransparent,
}

/// One message cut from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub message: &'a [u8],
    /// The message was longer than the limit: `message` is its first `max_message` bytes.
    pub truncated: bool,
}

/// A stream that cannot be cut into messages any further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("octet counting expected a length and a space, found {found:?}")]
    NotOctetCounted { found: String },
    #[error("the stream ended {received} bytes into a frame of {expected}")]
    Incomplete { expected: usize, received: usize },
}

/// The longest `LEN` accepted: ten digits, more than any limit a receiver would set.
const MAX_LENGTH_DIGITS: usize = 10;

/// What the splitter is skipping before the next frame starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    /// The rest of an oversized octet-counted frame.
    Bytes(usize),
    /// The rest of an oversized newline-ended message.
    ToNewline,
}

/// Cuts a byte stream into syslog messages. Bytes are read straight into its buffer
/// ([`FrameSplitter::read_buffer`]) or appended ([`FrameSplitter::push`]); [`FrameSplitter::split`]
/// hands out every complete frame and keeps the start of the next one.
pub struct FrameSplitter {
    buffer: Vec<u8>,
    framing: Framing,
    max_message: usize,
    skip: Skip,
    /// Bytes at the start of `buffer` already searched for a newline without finding one.
    scanned: usize,
}

enum Header {
    /// Only digits so far: the space may be in the next read.
    NeedMore,
    NotOctetCounted,
    Length {
        length: usize,
        header: usize,
    },
}

impl FrameSplitter {
    pub fn new(framing: Framing, max_message: usize) -> FrameSplitter {
        FrameSplitter {
            buffer: Vec::new(),
            framing,
            max_message: max_message.max(1),
            skip: Skip::Nothing,
            scanned: 0,
        }
    }

    /// The buffer to read the next bytes into, with room for at least `room` more; call
    /// [`FrameSplitter::split`] after appending to it.
    pub fn read_buffer(&mut self, room: usize) -> &mut Vec<u8> {
        self.buffer.reserve(room);
        &mut self.buffer
    }

    /// Appends `input` and hands out every frame it completes.
    pub fn push(
        &mut self,
        input: &[u8],
        on_frame: impl FnMut(Frame<'_>),
    ) -> Result<(), FrameError> {
        self.buffer.extend_from_slice(input);
        self.split(on_frame)
    }

    /// Hands out every complete frame in the buffer, in order. An error (a stream declared
    /// octet-counted that is not) leaves the splitter unusable: close the stream.
    pub fn split(&mut self, mut on_frame: impl FnMut(Frame<'_>)) -> Result<(), FrameError> {
        let mut at = 0;
        let outcome = loop {
            let pending = &self.buffer[at..];
            match self.skip {
                Skip::Nothing => {}
                Skip::Bytes(left) => {
                    let skipped = left.min(pending.len());
                    at += skipped;
                    if skipped < left {
                        self.skip = Skip::Bytes(left - skipped);
                        break Ok(());
                    }
                    self.skip = Skip::Nothing;
                    continue;
                }
                Skip::ToNewline => match memchr::memchr(b'\n', pending) {
                    Some(newline) => {
                        at += newline + 1;
                        self.skip = Skip::Nothing;
                        continue;
                    }
                    None => {
                        at = self.buffer.len();
                        break Ok(());
                    }
                },
            }
            // Empty lines and stray terminators between frames carry no message.
            let blank = pending
                .iter()
                .take_while(|b| matches!(b, b'\n' | b'\r' | 0))
                .count();
            if blank > 0 {
                at += blank;
                self.scanned = 0;
                continue;
            }
            if pending.is_empty() {
                break Ok(());
            }
            let octet_counted = match self.framing {
                Framing::NonTransparent => false,
                Framing::OctetCounting => true,
                Framing::Auto => pending[0].is_ascii_digit(),
            };
            if octet_counted {
                match octet_header(pending) {
                    Header::NeedMore => break Ok(()),
                    Header::Length { length, header } => {
                        let whole = length <= self.max_message;
                        let kept = length.min(self.max_message);
                        if pending.len() < header + kept {
                            break Ok(());
                        }
                        on_frame(Frame {
                            message: &pending[header..header + kept],
                            truncated: !whole,
                        });
                        at += header + kept;
                        if !whole {
                            self.skip = Skip::Bytes(length - kept);
                        }
                        continue;
                    }
                    Header::NotOctetCounted if self.framing == Framing::OctetCounting => {
                        let shown = &pending[..pending.len().min(16)];
                        break Err(FrameError::NotOctetCounted {
                            found: String::from_utf8_lossy(shown).into_owned(),
                        });
                    }
                    // A message that merely starts with a digit.
                    Header::NotOctetCounted => {}
                }
            }
            let from = self.scanned.min(pending.len());
            match memchr::memchr(b'\n', &pending[from..]) {
                Some(offset) => {
                    let end = from + offset;
                    let message = trim_end(&pending[..end]);
                    let kept = message.len().min(self.max_message);
                    if kept > 0 {
                        on_frame(Frame {
                            message: &message[..kept],
                            truncated: kept < message.len(),
                        });
                    }
                    at += end + 1;
                    self.scanned = 0;
                }
                None if pending.len() > self.max_message => {
                    on_frame(Frame {
                        message: &pending[..self.max_message],
                        truncated: true,
                    });
                    at = self.buffer.len();
                    self.skip = Skip::ToNewline;
                    self.scanned = 0;
                    break Ok(());
                }
                None => {
                    self.scanned = pending.len();
                    break Ok(());
                }
            }
        };
        self.buffer.drain(..at);
        outcome
    }

    /// The stream ended: hands out a last message that had no newline after it, or says which
    /// octet-counted frame was cut short.
    pub fn finish(&mut self, mut on_frame: impl FnMut(Frame<'_>)) -> Result<(), FrameError> {
        self.split(&mut on_frame)?;
        let pending = trim_end(&self.buffer);
        let outcome = if pending.is_empty() || self.skip != Skip::Nothing {
            Ok(())
        } else {
            match octet_header(pending) {
                Header::Length { length, header } if self.framing != Framing::NonTransparent => {
                    Err(FrameError::Incomplete {
                        expected: length,
                        received: pending.len() - header,
                    })
                }
                _ => {
                    on_frame(Frame {
                        message: pending,
                        truncated: false,
                    });
                    Ok(())
                }
            }
        };
        self.buffer.clear();
        self.scanned = 0;
        self.skip = Skip::Nothing;
        outcome
    }

    /// Bytes received but not yet handed out as a frame.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }
}

/// `LEN SP` at the start of `bytes` (RFC 6587: `NONZERO-DIGIT *DIGIT SP`).
fn octet_header(bytes: &[u8]) -> Header {
    let digits = bytes
        .iter()
        .take(MAX_LENGTH_DIGITS + 1)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || bytes[0] == b'0' || digits > MAX_LENGTH_DIGITS {
        return Header::NotOctetCounted;
    }
    match bytes.get(digits) {
        None => Header::NeedMore,
        Some(b' ') => {
            let length = bytes[..digits]
                .iter()
                .fold(0usize, |n, d| n.saturating_mul(10) + usize::from(d - b'0'));
            Header::Length {
                length,
                header: digits + 1,
            }
        }
        Some(_) => Header::NotOctetCounted,
    }
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
    use proptest::prelude::*;

    use super::*;

    type Cut = (Vec<u8>, bool);

    fn frames(splitter: &mut FrameSplitter, input: &[u8]) -> Vec<Cut> {
        let mut out = Vec::new();
        splitter
            .push(input, |frame| {
                out.push((frame.message.to_vec(), frame.truncated));
            })
            .unwrap();
        out
    }

    fn whole(message: &[u8]) -> Cut {
        (message.to_vec(), false)
    }

    #[test]
    fn octet_counting_and_newlines_mix_and_split_across_reads() {
        let mut splitter = FrameSplitter::new(Framing::Auto, 1024);
        let first = frames(&mut splitter, b"11 <13>1 hello<13>line one\r\n<13>li");
        assert_eq!(first, vec![whole(b"<13>1 hello"), whole(b"<13>line one")]);
        let second = frames(&mut splitter, b"ne two\n6 <1>ab");
        assert_eq!(second, vec![whole(b"<13>line two")]);
        assert_eq!(splitter.pending(), 7);
        assert_eq!(frames(&mut splitter, b"c"), vec![whole(b"<1>abc")]);
        // A length split from its space by a read boundary.
        assert_eq!(frames(&mut splitter, b"12"), vec![]);
        assert_eq!(frames(&mut splitter, b" <1>"), vec![]);
        assert_eq!(
            frames(&mut splitter, b"123456789"),
            vec![whole(b"<1>123456789")]
        );
    }

    #[test]
    fn auto_reads_a_message_that_starts_with_a_digit_as_a_line() {
        let mut splitter = FrameSplitter::new(Framing::Auto, 1024);
        let out = frames(&mut splitter, b"2024-05-01 host app: up\n0 zero\n");
        assert_eq!(
            out,
            vec![whole(b"2024-05-01 host app: up"), whole(b"0 zero")]
        );
    }

    #[test]
    fn a_declared_framing_is_held_to() {
        let mut lines = FrameSplitter::new(Framing::NonTransparent, 1024);
        assert_eq!(frames(&mut lines, b"5 hello\n"), vec![whole(b"5 hello")]);
        let mut counted = FrameSplitter::new(Framing::OctetCounting, 1024);
        assert_eq!(frames(&mut counted, b"3 a\nb"), vec![whole(b"a\nb")]);
        let error = counted.push(b"<13>no length\n", |_| {}).unwrap_err();
        assert!(
            matches!(&error, FrameError::NotOctetCounted { found } if found.starts_with("<13>")),
            "{error:?}"
        );
    }

    #[test]
    fn oversized_messages_are_truncated_and_the_stream_continues() {
        let mut splitter = FrameSplitter::new(Framing::Auto, 8);
        // Octet counted: the first 8 bytes are kept, the other 12 skipped across reads.
        assert_eq!(
            frames(&mut splitter, b"20 0123456789"),
            vec![(b"01234567".to_vec(), true)]
        );
        assert_eq!(
            frames(&mut splitter, b"0123456789<1>ok\n"),
            vec![whole(b"<1>ok")]
        );
        // A line: kept up to the limit as soon as it is over, the rest skipped to its newline.
        let out = frames(&mut splitter, b"a-very-long-line-without-end");
        assert_eq!(out, vec![(b"a-very-l".to_vec(), true)]);
        assert_eq!(
            frames(&mut splitter, b" still\n<1>x\n"),
            vec![whole(b"<1>x")]
        );
        assert_eq!(splitter.pending(), 0);
        let out = frames(&mut splitter, b"0123456789ab\n");
        assert_eq!(out, vec![(b"01234567".to_vec(), true)]);
    }

    #[test]
    fn the_end_of_the_stream_hands_out_an_unterminated_line_or_names_a_cut_frame() {
        let mut splitter = FrameSplitter::new(Framing::Auto, 64);
        assert_eq!(
            frames(&mut splitter, b"<1>first\n<1>last"),
            vec![whole(b"<1>first")]
        );
        let mut last = Vec::new();
        splitter
            .finish(|frame| last.push(frame.message.to_vec()))
            .unwrap();
        assert_eq!(last, vec![b"<1>last".to_vec()]);
        assert_eq!(frames(&mut splitter, b"10 <1>cut"), vec![]);
        assert_eq!(
            splitter.finish(|_| panic!("no frame")),
            Err(FrameError::Incomplete {
                expected: 10,
                received: 6
            })
        );
        assert_eq!(splitter.pending(), 0);
    }

    #[test]
    fn a_partial_line_is_searched_once() {
        let mut splitter = FrameSplitter::new(Framing::NonTransparent, 1 << 20);
        for _ in 0..1000 {
            assert_eq!(frames(&mut splitter, &[b'x'; 100]), vec![]);
        }
        assert_eq!(splitter.scanned, 100_000);
        assert_eq!(frames(&mut splitter, b"\n"), vec![whole(&[b'x'; 100_000])]);
    }

    fn message() -> impl Strategy<Value = Vec<u8>> {
        // What a line-framed message may hold: no newline, and no CR or NUL at its end.
        proptest::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 1..200)
            .prop_filter("ends in a character", |m| {
                !matches!(m.last(), Some(b'\r' | 0))
            })
            .prop_filter("starts with one", |m| !matches!(m[0], b'\r' | 0))
    }

    proptest! {
        #[test]
        fn framed_messages_come_back_whole_wherever_the_reads_split(
            messages in proptest::collection::vec((message(), any::<bool>()), 1..20),
            cuts in proptest::collection::vec(1usize..64, 1..40),
            framing in prop_oneof![Just(Framing::Auto), Just(Framing::OctetCounting)],
        ) {
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for (message, counted) in &messages {
                // Auto reads a line that starts with `LEN SP` as octet counting, by design.
                let counted = *counted || framing == Framing::OctetCounting
                    || matches!(octet_header(message), Header::Length { .. } | Header::NeedMore);
                if counted {
                    stream.extend_from_slice(format!("{} ", message.len()).as_bytes());
                    stream.extend_from_slice(message);
                } else {
                    stream.extend_from_slice(message);
                    stream.push(b'\n');
                }
                expected.push(message.clone());
            }
            let mut splitter = FrameSplitter::new(framing, 256);
            let mut got = Vec::new();
            let mut rest = &stream[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (head, tail) = rest.split_at((*cut).min(rest.len()));
                splitter.push(head, |f| got.push(f.message.to_vec())).unwrap();
                rest = tail;
            }
            splitter.finish(|f| got.push(f.message.to_vec())).unwrap();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn any_bytes_give_frames_within_the_limit_and_hold_at_most_one(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            cut in 1usize..512,
        ) {
            let mut splitter = FrameSplitter::new(Framing::Auto, 100);
            for chunk in bytes.chunks(cut) {
                splitter.push(chunk, |f| assert!(f.message.len() <= 100)).unwrap();
                prop_assert!(splitter.pending() <= 100 + MAX_LENGTH_DIGITS + 1);
            }
            let _ = splitter.finish(|f| assert!(f.message.len() <= 100));
        }
    }
}
