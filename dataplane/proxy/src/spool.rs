use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytefreezer_api::metrics::{
    PROXY_OLDEST_PENDING_UNIX_MS, PROXY_REJECTED_BATCHES, PROXY_REJECTED_BYTES,
    PROXY_ROWS_DROPPED_TOTAL, PROXY_ROWS_DURABLE_TOTAL, PROXY_SPOOL_BATCHES, PROXY_SPOOL_BYTES,
};
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
    /// Its input told the sender the rows are durable (an HTTP 2xx): the batch is never dropped
    /// to make room, and such inputs refuse new data above [`Spool::over_high_water`] instead.
    pub promised: bool,
}

struct Entry {
    batch: SpooledBatch,
    in_flight: bool,
    /// When the receiver first refused the batch as unknown (config lag), if it did.
    refused_since: Option<Instant>,
}

/// Batches on disk until the receiver acknowledges them: file per batch, named
/// `{batch_id}.{tenant}.{dataset}.{rows}.arrows` (`...{rows}.promised.arrows` for a promised
/// batch), written to a `.tmp` file, fsynced and renamed, so after a crash every file is whole.
/// Batch ids are UUIDv7, so name order is arrival order.
pub struct Spool {
    dir: PathBuf,
    rejected_dir: PathBuf,
    max_bytes: u64,
    registry: Registry,
    entries: Mutex<(BTreeMap<String, Entry>, u64)>,
    pub(crate) added: Notify,
}

const SUFFIX: &str = ".arrows";
/// The name part that marks a promised batch.
const PROMISED: &str = "promised";
/// Inputs that promise durability refuse new data once the spool holds this share of its limit
/// (in tenths), so what they promised is never what the limit drops.
const HIGH_WATER_TENTHS: u64 = 9;
/// Beside each rejected batch: the receiver's answer.
const REASON_SUFFIX: &str = ".reason";

/// Batches moved back from `rejected/` into the spool.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub batches: u64,
    pub rows: u64,
}

/// Moves every batch in `spool_dir/rejected` back into the spool (same name and batch id, so
/// the receiver still takes each batch once), for the next start to send again. Run it with
/// the proxy stopped: a running proxy reads its spool folder only when it starts.
pub fn replay_rejected(spool_dir: &Path) -> Result<Replayed> {
    let rejected_dir = spool_dir.join("rejected");
    let mut replayed = Replayed::default();
    let entries = match fs::read_dir(&rejected_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(replayed),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", rejected_dir.display()));
        }
    };
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read {}", rejected_dir.display()))?
            .path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(batch) = parse_name(name, &path) else {
            continue;
        };
        fs::rename(&path, spool_dir.join(name)).with_context(|| {
            format!(
                "cannot move {} back into {}",
                path.display(),
                spool_dir.display()
            )
        })?;
        let _ = fs::remove_file(rejected_dir.join(format!("{name}{REASON_SUFFIX}")));
        replayed.batches += 1;
        replayed.rows += batch.rows;
    }
    Ok(replayed)
}

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
                    refused_since: None,
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
        let (mut rejected, mut rejected_bytes) = (0, 0);
        if let Ok(entries) = fs::read_dir(&spool.rejected_dir) {
            for entry in entries.filter_map(Result::ok) {
                let path = entry.path();
                if let Some(batch) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|name| parse_name(name, &path))
                {
                    rejected += 1;
                    rejected_bytes += batch.bytes as i64;
                }
            }
        }
        spool.rejected_gauges(rejected, rejected_bytes);
        spool.update_gauges();
        Ok(spool)
    }

    /// Writes a batch durably (blocking on the disk). When this returns Ok the rows survive a
    /// crash; the batch may still be dropped, oldest first, when the spool outgrows its limit.
    pub fn write_blocking(
        &self,
        tenant_id: &str,
        dataset_id: &str,
        rows: u64,
        encoded: &[u8],
    ) -> Result<()> {
        self.write(tenant_id, dataset_id, rows, encoded, false)
    }

    /// Writes a batch durably that its input will acknowledge to the sender: it is never
    /// dropped to make room (see [`SpooledBatch::promised`]).
    pub fn write_promised_blocking(
        &self,
        tenant_id: &str,
        dataset_id: &str,
        rows: u64,
        encoded: &[u8],
    ) -> Result<()> {
        self.write(tenant_id, dataset_id, rows, encoded, true)
    }

    /// Whether inputs that promise durability should refuse new data for now (HTTP 429): the
    /// spool holds 90% of its limit.
    pub fn over_high_water(&self) -> bool {
        self.lock().1 >= self.max_bytes / 10 * HIGH_WATER_TENTHS
    }

    fn write(
        &self,
        tenant_id: &str,
        dataset_id: &str,
        rows: u64,
        encoded: &[u8],
        promised: bool,
    ) -> Result<()> {
        let batch_id = uuid::Uuid::now_v7().to_string();
        let mark = if promised {
            format!(".{PROMISED}")
        } else {
            String::new()
        };
        let path = self.dir.join(format!(
            "{batch_id}.{tenant_id}.{dataset_id}.{rows}{mark}{SUFFIX}"
        ));
        let bytes = encoded.len() as u64;
        write_durably(&path, encoded)
            .with_context(|| format!("cannot write spool file {}", path.display()))?;
        let labels = [("tenant", tenant_id), ("dataset", dataset_id)];
        self.registry
            .counter(
                PROXY_ROWS_DURABLE_TOTAL.name,
                PROXY_ROWS_DURABLE_TOTAL.help,
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
            promised,
        };
        {
            let mut guard = self.lock();
            guard.0.insert(
                batch_id,
                Entry {
                    batch,
                    in_flight: false,
                    refused_since: None,
                },
            );
            guard.1 += bytes;
        }
        self.enforce_limit();
        self.update_gauges();
        self.added.notify_waiters();
        Ok(())
    }

    /// Drops the oldest batches not being sent and not promised until the spool fits its limit.
    fn enforce_limit(&self) {
        let mut dropped = Vec::new();
        {
            let mut guard = self.lock();
            let (entries, total) = &mut *guard;
            while *total > self.max_bytes && entries.len() > 1 {
                let Some(oldest) = entries
                    .iter()
                    .find(|(_, e)| !e.in_flight && !e.batch.promised)
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
                    PROXY_ROWS_DROPPED_TOTAL.name,
                    PROXY_ROWS_DROPPED_TOTAL.help,
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

    /// The receiver refused the batch for good: it moves to `rejected/` for an operator, with
    /// `{name}.reason` saying why; `bytefreezer proxy --replay-rejected` puts it back.
    pub fn rejected(&self, batch: &SpooledBatch, reason: &str) {
        self.forget(batch);
        if let Some(name) = batch.path.file_name() {
            let target = self.rejected_dir.join(name);
            if fs::rename(&batch.path, &target).is_ok() {
                let mut note = target.into_os_string();
                note.push(REASON_SUFFIX);
                let _ = fs::write(note, reason);
                self.rejected_gauges(1, batch.bytes as i64);
            }
        }
        self.update_gauges();
    }

    /// The receiver refused the batch as unknown (its dataset or key not there yet): how long
    /// it has been refusing it, counted from the first refusal.
    pub fn refused_for(&self, batch: &SpooledBatch, now: Instant) -> Duration {
        let mut guard = self.lock();
        match guard.0.get_mut(&batch.batch_id) {
            Some(entry) => now.duration_since(*entry.refused_since.get_or_insert(now)),
            None => Duration::ZERO,
        }
    }

    fn rejected_gauges(&self, batches: i64, bytes: i64) {
        self.registry
            .gauge(
                PROXY_REJECTED_BATCHES.name,
                PROXY_REJECTED_BATCHES.help,
                &[],
            )
            .add(batches);
        self.registry
            .gauge(PROXY_REJECTED_BYTES.name, PROXY_REJECTED_BYTES.help, &[])
            .add(bytes);
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
                PROXY_OLDEST_PENDING_UNIX_MS.name,
                PROXY_OLDEST_PENDING_UNIX_MS.help,
                &[],
            )
            .set(oldest);
        self.registry
            .gauge(PROXY_SPOOL_BATCHES.name, PROXY_SPOOL_BATCHES.help, &[])
            .set(count as i64);
        self.registry
            .gauge(PROXY_SPOOL_BYTES.name, PROXY_SPOOL_BYTES.help, &[])
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
    let promised = match parts.next() {
        None => false,
        Some(PROMISED) => true,
        Some(_) => return None,
    };
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
        promised,
    })
}

/// Writes `bytes` to a `.tmp` file, fsyncs it and renames it to `path`. On any error the
/// partial `.tmp` file is removed: on a full disk it would otherwise hold the space a later
/// write needs, until the next start.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    let written = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".tmp"))
            .collect()
    }

    /// A full disk: `/dev/full` answers every write with ENOSPC, reached through the `.tmp`
    /// name the spool writes to.
    #[test]
    fn a_write_failing_on_a_full_disk_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.t.d.1.arrows");
        std::os::unix::fs::symlink("/dev/full", path.with_extension("tmp")).unwrap();
        let error = write_durably(&path, &[1; 4096]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::StorageFull, "{error}");
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
        assert!(!path.exists());
    }

    #[test]
    fn a_failing_rename_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.t.d.1.arrows");
        // A non-empty folder where the batch should go: the rename fails after the fsync.
        fs::create_dir_all(path.join("inside")).unwrap();
        write_durably(&path, b"batch").unwrap_err();
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }

    #[tokio::test]
    async fn batches_survive_reopen_in_order_and_the_limit_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let spool = Spool::open(dir.path(), 250, registry.clone()).unwrap();
        for n in 0..3 {
            spool.write_blocking("t", "d", 10 + n, &[0u8; 100]).unwrap();
        }
        assert_eq!(spool.len(), 2, "third write pushes the first out");
        assert_eq!(registry.counter_total(PROXY_ROWS_DROPPED_TOTAL.name), 10);
        assert_eq!(registry.counter_total(PROXY_ROWS_DURABLE_TOTAL.name), 33);
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
        reopened.rejected(&second, "404 Not Found: dataset t/d not found");
        assert!(reopened.is_empty());
        let rejected = dir
            .path()
            .join("rejected")
            .join(second.path.file_name().unwrap());
        assert!(rejected.exists());
        let mut reason = rejected.clone().into_os_string();
        reason.push(".reason");
        assert_eq!(
            fs::read_to_string(reason).unwrap(),
            "404 Not Found: dataset t/d not found"
        );
        drop(reopened);

        let registry = Registry::new();
        let reopened = Spool::open(dir.path(), 250, registry.clone()).unwrap();
        assert_eq!(
            registry.counter_total(PROXY_REJECTED_BATCHES.name),
            1,
            "visible after a restart"
        );
        assert!(reopened.is_empty());
        drop(reopened);
        assert_eq!(
            replay_rejected(dir.path()).unwrap(),
            Replayed {
                batches: 1,
                rows: 12
            }
        );
        assert_eq!(
            fs::read_dir(dir.path().join("rejected")).unwrap().count(),
            0
        );
        let registry = Registry::new();
        let replayed = Spool::open(dir.path(), 250, registry.clone()).unwrap();
        assert_eq!(replayed.take_next().unwrap().batch_id, second.batch_id);
        assert_eq!(registry.counter_total(PROXY_REJECTED_BATCHES.name), 0);
    }

    #[tokio::test]
    async fn promised_batches_are_never_dropped_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let spool = Spool::open(dir.path(), 250, registry.clone()).unwrap();
        spool
            .write_promised_blocking("t", "web", 5, &[0u8; 100])
            .unwrap();
        assert!(!spool.over_high_water());
        spool.write_blocking("t", "d", 7, &[0u8; 100]).unwrap();
        assert!(!spool.over_high_water(), "200 of 250 bytes, under 225");
        spool
            .write_promised_blocking("t", "web", 6, &[0u8; 100])
            .unwrap();
        // Over the limit: the unpromised batch goes, though a promised one is older.
        assert_eq!(registry.counter_total(PROXY_ROWS_DROPPED_TOTAL.name), 7);
        assert_eq!(spool.len(), 2);
        assert!(!spool.over_high_water(), "200 bytes left");
        // Only promised batches: the spool goes over its limit rather than drop one, and says
        // so, so their inputs refuse more until the receiver takes some.
        spool
            .write_promised_blocking("t", "web", 8, &[0u8; 100])
            .unwrap();
        assert_eq!(spool.len(), 3);
        assert!(spool.over_high_water());
        assert_eq!(registry.counter_total(PROXY_ROWS_DROPPED_TOTAL.name), 7);
        drop(spool);

        let reopened = Spool::open(dir.path(), 250, Registry::new()).unwrap();
        let first = reopened.take_next().unwrap();
        assert!(first.promised && first.rows == 5, "{first:?}");
        let second = reopened.take_next().unwrap();
        assert!(second.promised && second.rows == 6, "{second:?}");
    }
}
