//! How the inputs on tokio store a batch: encoded once and written to the spool as a promised
//! batch. Those that read what cannot be asked for again (syslog streams, core NATS) try again
//! until the disk takes it while their readers wait (`write_until_stored`); those whose source
//! keeps a message until it is acknowledged (JetStream, SQS) try once and let the source
//! deliver it again (`write_once`).

use std::sync::Arc;
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use bytefreezer_api::metrics::PROXY_ROWS_DROPPED_TOTAL;
use bytefreezer_schema::{IpcCompression, encode_ipc_with};
use bytefreezer_telemetry::Registry;

use crate::spool::Spool;

/// While a spool write fails (disk full, I/O error), the batch is tried again this often.
pub(crate) const WRITE_RETRY: Duration = Duration::from_secs(1);

/// When an input's read rows go to the spool.
#[derive(Debug, Clone, Copy)]
pub struct StreamBatching {
    pub max_rows: usize,
    pub max_bytes: usize,
    pub max_age: Duration,
    /// `max_age` of a dataset in testing mode.
    pub testing_max_age: Duration,
}

impl StreamBatching {
    pub fn max_age(&self, testing: bool) -> Duration {
        if testing {
            self.max_age.min(self.testing_max_age)
        } else {
            self.max_age
        }
    }
}

/// What the inputs on tokio share: the spool, its encoding, the metrics and the batch limits.
pub struct InputRuntime {
    pub spool: Arc<Spool>,
    pub compression: IpcCompression,
    pub registry: Registry,
    pub batching: StreamBatching,
}

impl InputRuntime {
    /// Where a dataset's batches go; `rows_are` names the rows in the log.
    pub(crate) fn target<'a>(
        &'a self,
        tenant_id: &'a str,
        dataset_id: &'a str,
        rows_are: &'a str,
    ) -> SpoolTarget<'a> {
        SpoolTarget {
            spool: &self.spool,
            compression: self.compression,
            registry: &self.registry,
            tenant_id,
            dataset_id,
            rows_are,
        }
    }
}

/// Where and how an input's batches are stored.
pub(crate) struct SpoolTarget<'a> {
    pub spool: &'a Arc<Spool>,
    pub compression: IpcCompression,
    pub registry: &'a Registry,
    pub tenant_id: &'a str,
    pub dataset_id: &'a str,
    /// `messages`, `events`: what the rows are, for the log.
    pub rows_are: &'a str,
}

impl SpoolTarget<'_> {
    /// Writes an encoded batch of `rows` rows as one promised spool batch; an error says why.
    pub async fn write_once(&self, encoded: &Arc<Vec<u8>>, rows: usize) -> anyhow::Result<()> {
        let (spool, encoded) = (self.spool.clone(), encoded.clone());
        let (tenant_id, dataset_id) = (self.tenant_id.to_owned(), self.dataset_id.to_owned());
        tokio::task::spawn_blocking(move || {
            spool.write_promised_blocking(&tenant_id, &dataset_id, rows as u64, &encoded)
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|written| written)
    }

    /// The batch as the spool stores it; `None` (its rows counted lost) when it cannot be
    /// encoded.
    pub fn encode(&self, batch: &RecordBatch) -> Option<Arc<Vec<u8>>> {
        match encode_ipc_with(std::slice::from_ref(batch), self.compression) {
            Ok(encoded) => Some(Arc::new(encoded)),
            Err(error) => {
                self.lost(batch.num_rows(), &error);
                None
            }
        }
    }

    /// Counts and logs `rows` that cannot be stored because their batch cannot be built or
    /// encoded: a bug, since every input builds its batches with one schema, so the rows are
    /// counted in `rows_dropped{cause=flush_error}` rather than retried forever.
    pub fn lost(&self, rows: usize, error: &dyn std::fmt::Display) {
        self.registry
            .counter(
                PROXY_ROWS_DROPPED_TOTAL.name,
                PROXY_ROWS_DROPPED_TOTAL.help,
                &[
                    ("tenant", self.tenant_id),
                    ("dataset", self.dataset_id),
                    ("cause", "flush_error"),
                ],
            )
            .increment(rows as u64);
        tracing::error!(
            "dataset {}/{}: {rows} {} could not be encoded and are lost: {error}",
            self.tenant_id,
            self.dataset_id,
            self.rows_are
        );
    }

    /// Writes `batch` until the spool takes it, trying again every [`WRITE_RETRY`].
    pub async fn write_until_stored(&self, batch: &RecordBatch) {
        let Some(encoded) = self.encode(batch) else {
            return;
        };
        let rows = batch.num_rows();
        let mut failures = 0u32;
        loop {
            match self.write_once(&encoded, rows).await {
                Ok(()) => return,
                Err(error) => {
                    failures += 1;
                    // Once, then every minute: the retries go on until the disk takes it.
                    if failures == 1 || failures.is_multiple_of(60) {
                        tracing::error!(
                            "dataset {}/{}: cannot store {rows} {} in the spool ({failures} tries; \
                             reading waits until it can): {error:#}",
                            self.tenant_id,
                            self.dataset_id,
                            self.rows_are
                        );
                    }
                    tokio::time::sleep(WRITE_RETRY).await;
                }
            }
        }
    }
}
