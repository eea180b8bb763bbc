//! What the tests of the inputs on tokio share: a real spool in a temporary folder, its
//! runtime, a way to hold it over its high-water mark, and the batches it holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use bytefreezer_schema::{IpcCompression, decode_ipc};
use bytefreezer_telemetry::Registry;

use crate::promised_write::{InputRuntime, StreamBatching};
use crate::spool::Spool;

pub(crate) struct TestSpool {
    _dir: tempfile::TempDir,
    pub spool: Arc<Spool>,
    pub registry: Registry,
}

impl TestSpool {
    pub fn new(max_bytes: u64) -> TestSpool {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let spool = Arc::new(Spool::open(dir.path(), max_bytes, registry.clone()).unwrap());
        TestSpool {
            _dir: dir,
            spool,
            registry,
        }
    }

    /// Batches of at most `max_rows` rows or 1 MiB, written 100 ms after their first row.
    pub fn runtime(&self, max_rows: usize) -> InputRuntime {
        InputRuntime {
            spool: self.spool.clone(),
            compression: IpcCompression::None,
            registry: self.registry.clone(),
            batching: StreamBatching {
                max_rows,
                max_bytes: 1 << 20,
                max_age: Duration::from_millis(100),
                testing_max_age: Duration::from_millis(100),
            },
        }
    }

    /// Holds a spool of 1 MiB over its high-water mark with a batch of another dataset waiting
    /// to ship; [`TestSpool::ship_held`] lets it go.
    pub fn hold_over_high_water(&self) {
        self.spool
            .write_promised_blocking("t", "other", 1, &vec![0u8; 950 << 10])
            .unwrap();
        assert!(self.spool.over_high_water());
    }

    pub fn ship_held(&self) {
        let held = self.spool.take_next().unwrap();
        self.spool.acknowledged(&held);
    }

    /// Every batch in the spool, in the order written, taking them out (each must be promised).
    pub fn drain(&self) -> Vec<RecordBatch> {
        let mut batches = Vec::new();
        while let Some(spooled) = self.spool.take_next() {
            assert!(
                spooled.promised,
                "an input that can wait writes promised batches"
            );
            let (_, read) = decode_ipc(&std::fs::read(&spooled.path).unwrap()).unwrap();
            batches.extend(read);
            self.spool.acknowledged(&spooled);
        }
        batches
    }

    /// The events of every `events/1` batch in the spool: each row's JSON text or text line.
    pub fn drain_events(&self) -> Vec<String> {
        let mut events = Vec::new();
        for batch in self.drain() {
            let json = batch.column_by_name("json").unwrap().as_string::<i32>();
            let text = batch.column_by_name("text").unwrap().as_string::<i32>();
            events.extend((0..batch.num_rows()).map(|row| {
                if json.is_valid(row) {
                    json.value(row).to_owned()
                } else {
                    text.value(row).to_owned()
                }
            }));
        }
        events
    }
}

/// The `seq` of each JSON event, in order: `{"seq":7,...}`.
pub(crate) fn sequences(events: &[String]) -> Vec<u64> {
    events
        .iter()
        .map(|event| {
            let value: serde_json::Value = serde_json::from_str(event).unwrap();
            value["seq"].as_u64().unwrap()
        })
        .collect()
}

/// Polls `done` every 20 ms; fails naming `what` after 30 s.
pub(crate) async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
