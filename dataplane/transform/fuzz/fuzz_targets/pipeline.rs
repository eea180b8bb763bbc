//! Whatever a user saves as a pipeline (JSON) or types as a condition must give an error or a
//! result, never a panic, and a compiled pipeline must run on any batch without panicking.
#![no_main]

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use bytefreezer_transform::{Pipeline, PipelineSpec, evaluate, parse_condition};
use libfuzzer_sys::fuzz_target;

fn batch() -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        (
            "action",
            Arc::new(StringArray::from(vec![Some("deny"), None, Some("{\"a\":{\"b\":1}}")])) as ArrayRef,
        ),
        (
            "source_ip",
            Arc::new(StringArray::from(vec![Some("10.0.0.1"), Some("::1"), Some("x=1 y=\"2\"")])) as ArrayRef,
        ),
        ("port", Arc::new(Int64Array::from(vec![Some(22), Some(-1), None])) as ArrayRef),
    ])
    .expect("fixed batch")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(condition) = parse_condition(text) {
        let _ = evaluate(&condition, &batch());
    }
    if let Ok(spec) = serde_json::from_str::<PipelineSpec>(text)
        && let Ok(pipeline) = Pipeline::compile(&spec)
    {
        let _ = pipeline.run(batch());
    }
});
