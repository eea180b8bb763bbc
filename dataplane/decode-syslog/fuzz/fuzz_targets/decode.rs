#![no_main]

use bytefreezer_decode_syslog::framing::{FrameSplitter, Framing};
use bytefreezer_decode_syslog::{DatagramMeta, SyslogDecoder};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 256;

fuzz_target!(|data: &[u8]| {
    let meta = DatagramMeta { receive_time_micros: 1_795_000_000_000_000, sender: None };
    let mut decoder = SyslogDecoder::with_capacity(4);
    decoder.decode(data, &meta);
    let batch = decoder.flush().expect("one row per message");
    assert_eq!(batch.num_rows(), 1);

    // The same bytes as a TCP stream, cut where the first byte says, in every framing: each
    // frame within the limit, the splitter never holding more than one, every frame decoded.
    let cut = usize::from(data.first().copied().unwrap_or(1)).max(1);
    for framing in [Framing::Auto, Framing::OctetCounting, Framing::NonTransparent] {
        let mut splitter = FrameSplitter::new(framing, LIMIT);
        let mut frames = 0usize;
        let mut on_frame = |frame: bytefreezer_decode_syslog::framing::Frame<'_>| {
            assert!(frame.message.len() <= LIMIT);
            frames += 1;
            decoder.decode(frame.message, &meta);
        };
        let mut failed = false;
        for chunk in data.chunks(cut) {
            if splitter.push(chunk, &mut on_frame).is_err() {
                failed = true;
                break;
            }
            assert!(splitter.pending() <= LIMIT + 11);
        }
        if !failed {
            let _ = splitter.finish(&mut on_frame);
        }
        assert_eq!(decoder.flush().map_or(0, |b| b.num_rows()), frames);
    }
});
