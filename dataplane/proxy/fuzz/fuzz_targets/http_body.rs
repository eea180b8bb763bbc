//! Whatever a sender posts to an `http` input is split into events or refused whole: never a
//! panic, never a half-appended body, and every event a JSON object or a line of text.
#![no_main]

use bytefreezer_api::HttpBodyFormat;
use bytefreezer_proxy::split_events;
use bytefreezer_schema::EventsEdgeBuilder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for format in [HttpBodyFormat::Auto, HttpBodyFormat::Json, HttpBodyFormat::Text] {
        let mut builder = EventsEdgeBuilder::default();
        match split_events(body, format, 0, None, &mut builder) {
            Ok((_, events)) => {
                assert_eq!(builder.rows(), events);
                let batch = builder.flush().expect("events were appended");
                bytefreezer_schema::read_events_edge(&batch).expect("a readable events/1 batch");
            }
            Err(_) => assert_eq!(builder.rows(), 0),
        }
    }
});
