//! Any datagram, and any sequence of them from one exporter (so templates from earlier inputs
//! meet data from later ones), decodes to rows or an error, never a panic, and its edge batch always becomes table rows; any bytes given as
//! a template file are refused or loaded, never a panic.
#![no_main]

use bytefreezer_decode_flow::{DatagramMeta, FlowDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = FlowDecoder::default();
    let meta = DatagramMeta {
        receive_time_micros: 1_795_000_000_000_000,
        exporter: Some(std::net::IpAddr::from([192, 0, 2, 1])),
    };
    // A 0xff 0xff pair splits the input into several datagrams.
    for datagram in data.split(|b| *b == 0xff).filter(|d| !d.is_empty()) {
        let _ = decoder.decode(datagram, &meta);
    }
    let _ = decoder.decode(data, &meta);
    // Whatever the edge batch holds converts to table rows.
    if let Err(error) = decoder.flush_table() {
        panic!("an edge batch that does not convert to the table: {error}");
    }
    // A damaged template file must be refused, and a saved one must load back.
    let mut restored = FlowDecoder::default();
    let _ = restored.restore_templates(data);
    let saved = decoder.save_templates();
    assert!(restored.restore_templates(&saved).is_ok());
});
