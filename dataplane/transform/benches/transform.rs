//! Throughput of a five-filter pipeline (the DESIGN.md target: 10 M rows/s/core without GeoIP),
//! next to the same five steps applied row by row to JSON objects, the way a per-event
//! collector does it, measured in the same run.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use bytefreezer_transform::{Pipeline, PipelineSpec};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

const ROWS: usize = 65_536;

const FIVE_FILTERS: &str = r#"{"filters":[
    {"type":"rename_field","config":{"from":"src","to":"source_ip"}},
    {"type":"add_field","config":{"field":"environment","value":"production"}},
    {"type":"drop","config":{"condition":"action == 'deny'"}},
    {"type":"lowercase","config":{"field":"hostname"}},
    {"type":"remove_field","config":{"field":"procid"}}
]}"#;

fn sample_batch() -> RecordBatch {
    let actions = ["allow", "deny", "allow", "allow"];
    RecordBatch::try_from_iter(vec![
        (
            "hostname",
            Arc::new(StringArray::from_iter_values(
                (0..ROWS).map(|i| format!("Edge-Router-{}", i % 64)),
            )) as ArrayRef,
        ),
        (
            "action",
            Arc::new(StringArray::from_iter_values(
                (0..ROWS).map(|i| actions[i % actions.len()]),
            )) as ArrayRef,
        ),
        (
            "src",
            Arc::new(StringArray::from_iter_values(
                (0..ROWS).map(|i| format!("10.{}.{}.{}", i % 7, i % 251, i % 13)),
            )) as ArrayRef,
        ),
        (
            "port",
            Arc::new(Int64Array::from_iter_values(
                (0..ROWS).map(|i| (i % 65_535) as i64),
            )) as ArrayRef,
        ),
        (
            "procid",
            Arc::new(StringArray::from_iter_values(
                (0..ROWS).map(|i| (i % 30_000).to_string()),
            )) as ArrayRef,
        ),
    ])
    .expect("sample batch")
}

fn sample_rows(batch: &RecordBatch) -> Vec<Map<String, Value>> {
    let text = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .expect("text column")
            .clone()
    };
    let (hostname, action, src, procid) = (
        text("hostname"),
        text("action"),
        text("src"),
        text("procid"),
    );
    let port = batch
        .column_by_name("port")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .expect("port column");
    (0..batch.num_rows())
        .map(|i| {
            let mut row = Map::new();
            row.insert("hostname".into(), json!(hostname.value(i)));
            row.insert("action".into(), json!(action.value(i)));
            row.insert("src".into(), json!(src.value(i)));
            row.insert("port".into(), json!(port.value(i)));
            row.insert("procid".into(), json!(procid.value(i)));
            row
        })
        .collect()
}

/// The same five steps, one event at a time on JSON objects.
fn row_by_row(rows: &[Map<String, Value>]) -> Vec<Map<String, Value>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut row = row.clone();
        if let Some(value) = row.remove("src") {
            row.insert("source_ip".into(), value);
        }
        row.insert("environment".into(), json!("production"));
        if row.get("action").and_then(Value::as_str) == Some("deny") {
            continue;
        }
        if let Some(Value::String(host)) = row.get_mut("hostname") {
            *host = host.to_lowercase();
        }
        row.remove("procid");
        out.push(row);
    }
    out
}

fn five_filters(c: &mut Criterion) {
    let spec: PipelineSpec = serde_json::from_str(FIVE_FILTERS).expect("pipeline json");
    let pipeline = Pipeline::compile(&spec).expect("pipeline compiles");
    let batch = sample_batch();
    let rows = sample_rows(&batch);
    let mut group = c.benchmark_group("transform");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("five_filters_vectorized", |b| {
        b.iter(|| pipeline.run(batch.clone()).expect("pipeline runs"))
    });
    group.bench_function("five_filters_row_by_row_json", |b| {
        b.iter(|| row_by_row(&rows))
    });
    group.finish();
}

criterion_group!(benches, five_filters);
criterion_main!(benches);
