use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use bytefreezer_layout::validate_identifier;
use bytefreezer_telemetry::Registry;
use tokio::sync::Notify;

/// One batch waiting in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledBatch {
    pub batch_id: String,
    pub tenant_id: String,
    pub dataset_id: String,
    pub rows: u64,
    pub bytes: u64,
    pub path: PathBuf,
}

struct Entry {
    batch: SpooledBatch,
    in_flight: bool,
}

/// Batches on disk until the receiver acknowledges them: file per batch, named
/// `{batch_id}.{tenant}.{dataset}.{rows}.arrows`, written to a `.tmp` file, fsynced and renamed,
/// so after a crash every file is whole. Batch ids are UUIDv7, so name order is arrival order.
pub struct Spool {
    dir: PathBuf,
    rejected_dir: PathBuf,
    max_bytes: u64,
    registry: Registry,
    entries: Mutex<(BTreeMap<String, Entry>, u64)>,
    pub(crate) added: Notify,
}

const SUFFIX: &str = ".arrows";

impl Spool {
    /// Opens (or creates) the spool, resuming what a previous run left.
    pub fn open(dir: &Path, max_bytes: u64, registry: Registry) -> Result<Spool> {
        let rejected_dir = dir.join("rejected");
        fs::create_dir_all(&rejected_dir)
            .with_context(|| format!("cannot create spool folder {}", dir.display()))?;
        let mut entries = BTreeMap::new();
        let mut total = 0;
        for entry in fs::read_dir(dir)
            .with_context(|| format!("cannot read spool folder {}", dir.display()))?
        {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(".tmp") {
                // A write cut by a crash: never acknowledged as durable, so nothing is lost.
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(batch) = parse_name(name, &path) else {
                continue;
            };
            total += batch.bytes;
            entries.insert(
                batch.batch_id.clone(),
                Entry {
                    batch,
                    in_flight: false,
                },
            );
        }
        if !entries.is_empty() {
            tracing::info!(
                "spool: resuming {} batches ({} bytes) from {}",
                entries.len(),
                total,
                dir.display()
            );
        }
        let spool = Spool {
            dir: dir.to_path_buf(),
            rejected_dir,
            max_bytes,
            registry,
            entries: Mutex::new((entries, total)),
            added: Notify::new(),
        };
        spool.update_gauges();
        Ok(spool)
    }

    /// Writes a batch durably (blocking on the disk). When this returns Ok the rows survive a
    /// crash.
    pub fn write_blocking(
        &self,
        tenant_id: &str,
        dataset_id: &str,
        rows: u64,
        encoded: Vec<u8>,
    ) -> Result<()> {
        let batch_id = uuid::Uuid::now_v7().to_string();
        let path = self.dir.join(format!(
            "{batch_id}.{tenant_id}.{dataset_id}.{rows}{SUFFIX}"
        ));
        let bytes = encoded.len() as u64;
        write_durably(&path, &encoded)
            .with_context(|| format!("cannot write spool file {}", path.display()))?;
        let labels = [("tenant", tenant_id), ("dataset", dataset_id)];
        self.registry
            .counter(
                "bytefreezer_proxy_rows_durable_total",
                "Rows written to the spool: survive a crash.",
                &labels,
            )
            .increment(rows);
        let batch = SpooledBatch {
            batch_id: batch_id.clone(),
            tenant_id: tenant_id.into(),
            dataset_id: dataset_id.into(),
            rows,
            bytes,
            path,
        };
        {
            let mut guard = self.lock();
            guard.0.insert(
                batch_id,
                Entry {
                    batch,
                    in_flight: false,
                },
            );
            guard.1 += bytes;
        }
        self.enforce_limit();
        self.update_gauges();
        self.added.notify_waiters();
        Ok(())
    }

    /// Drops the oldest batches not being sent until the spool fits its limit.
    fn enforce_limit(&self) {
        let mut dropped = Vec::new();
        {
            let mut guard = self.lock();
            let (entries, total) = &mut *guard;
            while *total > self.max_bytes && entries.len() > 1 {
                let Some(oldest) = entries
                    .iter()
                    .find(|(_, e)| !e.in_flight)
                    .map(|(id, _)| id.clone())
                else {
                    break;
                };
                if let Some(entry) = entries.remove(&oldest) {
                    *total -= entry.batch.bytes;
                    dropped.push(entry.batch);
                }
            }
        }
        for batch in dropped {
            let _ = fs::remove_file(&batch.path);
            self.registry
                .counter(
                    "bytefreezer_proxy_rows_dropped_total",
                    "Rows lost, by cause.",
                    &[
                        ("tenant", &batch.tenant_id),
                        ("dataset", &batch.dataset_id),
                        ("cause", "spool_full"),
                    ],
                )
                .increment(batch.rows);
            tracing::warn!(
                "spool full ({} bytes max): dropped the oldest batch {} ({} rows)",
                self.max_bytes,
                batch.batch_id,
                batch.rows
            );
        }
    }

    /// The oldest batch nobody is sending, marked as being sent.
    pub fn take_next(&self) -> Option<SpooledBatch> {
        let mut guard = self.lock();
        let entry = guard.0.values_mut().find(|e| !e.in_flight)?;
        entry.in_flight = true;
        Some(entry.batch.clone())
    }

    /// The receiver acknowledged the batch: it leaves the spool.
    pub fn acknowledged(&self, batch: &SpooledBatch) {
        self.forget(batch);
        let _ = fs::remove_file(&batch.path);
        self.update_gauges();
    }

    /// The receiver refused the batch for good: it moves to `rejected/` for an operator.
    pub fn rejected(&self, batch: &SpooledBatch) {
        self.forget(batch);
        if let Some(name) = batch.path.file_name() {
            let _ = fs::rename(&batch.path, self.rejected_dir.join(name));
        }
        self.update_gauges();
    }

    /// Sending failed for now: the batch is offered again.
    pub fn release(&self, batch: &SpooledBatch) {
        if let Some(entry) = self.lock().0.get_mut(&batch.batch_id) {
            entry.in_flight = false;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lock().0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.lock().0.len()
    }

    fn forget(&self, batch: &SpooledBatch) {
        let mut guard = self.lock();
        if let Some(entry) = guard.0.remove(&batch.batch_id) {
            guard.1 -= entry.batch.bytes;
        }
    }

    fn update_gauges(&self) {
        let (count, bytes, oldest) = {
            let guard = self.lock();
            // Batch ids are UUIDv7: the first key is the oldest batch and carries its time.
            let oldest = guard
                .0
                .keys()
                .next()
                .and_then(|id| uuid::Uuid::parse_str(id).ok())
                .and_then(|id| id.get_timestamp())
                .map_or(0, |time| {
                    let (seconds, nanos) = time.to_unix();
                    seconds as i64 * 1000 + i64::from(nanos / 1_000_000)
                });
            (guard.0.len(), guard.1, oldest)
        };
        self.registry
            .gauge(
                "bytefreezer_proxy_oldest_pending_unix_ms",
                "When the oldest batch still in the spool was received (0: none).",
                &[],
            )
            .set(oldest);
        self.registry
            .gauge(
                "bytefreezer_proxy_spool_batches",
                "Batches waiting in the spool.",
                &[],
            )
            .set(count as i64);
        self.registry
            .gauge(
                "bytefreezer_proxy_spool_bytes",
                "Bytes waiting in the spool.",
                &[],
            )
            .set(bytes as i64);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (BTreeMap<String, Entry>, u64)> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn parse_name(name: &str, path: &Path) -> Option<SpooledBatch> {
    let stem = name.strip_suffix(SUFFIX)?;
    let mut parts = stem.split('.');
    let (batch_id, tenant_id, dataset_id, rows) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    for id in [batch_id, tenant_id, dataset_id] {
        validate_identifier("spool name part", id).ok()?;
    }
    Some(SpooledBatch {
        batch_id: batch_id.into(),
        tenant_id: tenant_id.into(),
        dataset_id: dataset_id.into(),
        rows: rows.parse().ok()?,
        bytes: fs::metadata(path).ok()?.len(),
        path: path.to_path_buf(),
    })
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    let mut file = fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_survive_reopen_in_order_and_the_limit_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let spool = Spool::open(dir.path(), 250, registry.clone()).unwrap();
        for n in 0..3 {
            spool
                .write_blocking("t", "d", 10 + n, vec![0u8; 100])
                .unwrap();
        }
        assert_eq!(spool.len(), 2, "third write pushes the first out");
        assert_eq!(
            registry.counter_total("bytefreezer_proxy_rows_dropped_total"),
            10
        );
        assert_eq!(
            registry.counter_total("bytefreezer_proxy_rows_durable_total"),
            33
        );
        std::fs::write(dir.path().join("junk.tmp"), b"half").unwrap();
        drop(spool);

        let reopened = Spool::open(dir.path(), 250, Registry::new()).unwrap();
        assert!(!dir.path().join("junk.tmp").exists());
        let first = reopened.take_next().unwrap();
        assert_eq!(first.rows, 11);
        let second = reopened.take_next().unwrap();
        assert_eq!(second.rows, 12);
        assert!(reopened.take_next().is_none(), "both in flight");
        reopened.release(&first);
        assert_eq!(reopened.take_next().unwrap(), first);
        reopened.acknowledged(&first);
        reopened.rejected(&second);
        assert!(reopened.is_empty());
        assert!(
            dir.path()
                .join("rejected")
                .join(second.path.file_name().unwrap())
                .exists()
        );
    }
}
