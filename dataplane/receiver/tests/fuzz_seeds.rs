//! The seeds of the receiver's fuzz target (`fuzz/seeds/body`) are real bodies of each kind the
//! receiver accepts, so fuzzing starts from inputs that reach row decoding. The first byte picks
//! the path, as in `fuzz/fuzz_targets/body.rs`: even for Arrow IPC, odd for NDJSON.
//! `BYTEFREEZER_WRITE_FUZZ_SEEDS=1 cargo test -p bytefreezer-receiver --test fuzz_seeds` rewrites them.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use bytefreezer_schema::{
    IpcCompression, IpcLimits, count_ipc_rows, encode_ipc_with, json_rows_to_batch, scan_ipc,
};

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let batch = RecordBatch::try_from_iter(vec![
        (
            "n",
            Arc::new(Int64Array::from_iter_values(0..20)) as ArrayRef,
        ),
        (
            "s",
            Arc::new(StringArray::from_iter(
                (0..20).map(|i| (i % 4 != 0).then(|| format!("v{i}"))),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    let mut out = Vec::new();
    for compression in IpcCompression::ALL {
        let mut seed = vec![0u8];
        seed.extend(encode_ipc_with(&[batch.clone(), batch.clone()], compression).unwrap());
        out.push((compression.name(), seed));
    }
    out.push((
        "ndjson",
        b"\x01{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"c\":[1,2]}\n".to_vec(),
    ));
    out
}

#[test]
fn fuzz_seeds_reach_row_decoding_on_every_path() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/body");
    if std::env::var_os("BYTEFREEZER_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, seed) in seeds() {
            std::fs::write(dir.join(name), seed).unwrap();
        }
    }
    for (name, _) in seeds() {
        let seed = std::fs::read(dir.join(name)).unwrap();
        let (kind, body) = seed.split_first().unwrap();
        let rows = if kind & 1 == 0 {
            scan_ipc(body, &IpcLimits::default()).unwrap();
            count_ipc_rows(body).unwrap()
        } else {
            json_rows_to_batch(body, 0).unwrap().num_rows() as u64
        };
        let expected = if name == "ndjson" { 2 } else { 40 };
        assert_eq!(rows, expected, "seed {name}");
    }
}
