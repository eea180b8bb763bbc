#![no_main]

use bytefreezer_decode_syslog::framing::FrameSplitter;
use bytefreezer_decode_syslog::{DatagramMeta, SyslogDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let meta = DatagramMeta { receive_time_micros: 1_795_000_000_000_000, sender: None };
    let mut decoder = SyslogDecoder::with_capacity(4);
    decoder.decode(data, &meta);
    let batch = decoder.flush().expect("one row per message");
    assert_eq!(batch.num_rows(), 1);

    let mut splitter = FrameSplitter::new(256);
    let (head, tail) = data.split_at(data.len() / 2);
    let mut frames = 0usize;
    splitter.push(head, |frame| if let Ok(frame) = frame { frames += 1; decoder.decode(frame, &meta); });
    splitter.push(tail, |frame| if let Ok(frame) = frame { frames += 1; decoder.decode(frame, &meta); });
    assert_eq!(decoder.flush().map_or(0, |b| b.num_rows()), frames);
});
