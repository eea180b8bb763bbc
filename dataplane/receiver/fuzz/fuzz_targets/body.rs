#![no_main]

//! The receiver's body decoding, in the order `ingest` runs it: the declared-length walk, then
//! row counting one batch at a time for an Arrow IPC body; JSON rows for anything else. Limits are
//! small so that a declared size the walk failed to catch shows up as a large allocation, which
//! libFuzzer reports (`-malloc_limit_mb`, default the 2 GiB RSS limit).

use bytefreezer_schema::{IpcLimits, count_ipc_rows, json_rows_to_batch, scan_ipc};
use libfuzzer_sys::fuzz_target;

const LIMITS: IpcLimits = IpcLimits {
    max_decoded_bytes: 16 * 1024 * 1024,
    max_buffer_bytes: 4 * 1024 * 1024,
};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    if kind & 1 == 0 {
        if let Ok(scan) = scan_ipc(body, &LIMITS) {
            assert!(scan.decoded_bytes <= LIMITS.max_decoded_bytes);
            let _ = count_ipc_rows(body);
        }
    } else {
        let _ = json_rows_to_batch(body, 1_795_000_000_000_000);
    }
});
