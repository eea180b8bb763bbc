//! Between the receive workers and the disk: workers hand finished batches (and changed flow
//! templates) over a bounded queue; writer threads encode them as Arrow IPC with zstd and
//! make them durable in the spool. A worker never blocks on this: when the queue is full (in
//! batches, or in the memory its batches hold) the queue gives the batch back, the sink keeps
//! it and stops taking datagrams from its socket until the queue has room, so an overload is
//! dropped (and counted) by the kernel before any CPU is spent decoding it, and memory stays
//! bounded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow::record_batch::RecordBatch;
use bytefreezer_api::metrics::{PROXY_ROWS_DROPPED_TOTAL, PROXY_SPOOL_QUEUE_BYTES};
use bytefreezer_schema::{IpcCompression, encode_ipc_with};
use bytefreezer_telemetry::{Gauge, Registry};
use crossbeam_channel::{Receiver, Sender};

use crate::spool::Spool;

/// Batches waiting for a writer, across all datasets; beyond it a batch waits in its sink.
pub const QUEUED_BATCHES: usize = 8;
/// Memory the batches waiting for or being written by a writer may hold, across all datasets
/// (Arrow buffers, capacity included). A 65,536-row flow batch holds about 29 MiB, so eight
/// queued plus two being written took about 290 MiB; this keeps the proxy near its 256 MiB
/// bound under a flood. One batch is always taken, however large.
pub const QUEUED_BYTES: usize = 128 << 20;
const WRITERS: usize = 2;
/// Writers yield the CPU to the receive workers on a shared core (nice 10: a worker gets about
/// nine times a writer's share). The bounded queue, not priority, bounds the backlog.
const WRITER_NICE: i32 = 10;

/// A batch on its way to the spool.
pub struct BatchJob {
    tenant_id: Arc<str>,
    dataset_id: Arc<str>,
    pub(crate) batch: RecordBatch,
    /// Counts the batch's memory against `QUEUED_BYTES` until the job is dropped.
    held: HeldBytes,
    /// Where the encoded batch goes back, so its input builds the next batch in buffers that
    /// are already in memory.
    returns: Option<Sender<RecordBatch>>,
}

/// A flow input's templates changed: keep them for the next start.
pub struct TemplateSave {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// Memory counted against a `BatchQueue`'s limit, given back when dropped: when the writer is
/// done with the batch, or when the queue refused it.
pub struct HeldBytes {
    bytes: i64,
    held: Gauge,
}

impl Drop for HeldBytes {
    fn drop(&mut self) {
        self.held.add(-self.bytes);
    }
}

/// A batch for the spool, with the dataset it belongs to.
pub struct QueuedBatch {
    pub tenant_id: Arc<str>,
    pub dataset_id: Arc<str>,
    pub batch: RecordBatch,
    /// Where the writer gives the batch back once it is encoded (see [`BatchJob`]).
    pub returns: Option<Sender<RecordBatch>>,
}

/// Where sinks hand batches to the writers: bounded in batches and in bytes held.
#[derive(Clone)]
pub struct BatchQueue {
    jobs: Sender<BatchJob>,
    /// Bytes held, counted where `/metrics` shows them.
    held: Gauge,
    limit_bytes: i64,
}

impl QueuedBatch {
    fn into_job(self, held: HeldBytes) -> BatchJob {
        BatchJob {
            tenant_id: self.tenant_id,
            dataset_id: self.dataset_id,
            batch: self.batch,
            held,
            returns: self.returns,
        }
    }

    /// The batch of a job the queue refused (dropping the job's held bytes gives them back).
    fn from_job(job: BatchJob) -> QueuedBatch {
        QueuedBatch {
            tenant_id: job.tenant_id,
            dataset_id: job.dataset_id,
            batch: job.batch,
            returns: job.returns,
        }
    }
}

impl BatchQueue {
    pub(crate) fn new(jobs: Sender<BatchJob>, limit_bytes: usize, held: Gauge) -> BatchQueue {
        BatchQueue {
            jobs,
            held,
            limit_bytes: i64::try_from(limit_bytes).unwrap_or(i64::MAX),
        }
    }

    /// Queues a batch for the writers, or gives it back when the queue is full (in batches
    /// or in bytes held) or its writers are gone.
    pub fn offer(&self, queued: QueuedBatch) -> Result<(), QueuedBatch> {
        let bytes = queued.batch.get_array_memory_size() as i64;
        let before = self.held.fetch_add(bytes);
        let held = HeldBytes {
            bytes,
            held: self.held.clone(),
        };
        if before > 0 && before.saturating_add(bytes) > self.limit_bytes {
            return Err(queued);
        }
        self.jobs
            .try_send(queued.into_job(held))
            .map_err(|refused| QueuedBatch::from_job(refused.into_inner()))
    }

    /// Queues a batch, waiting for a writer to take one if the queue is full: for the last
    /// batch of an input that is closing, which must not be lost. Gives the batch back only
    /// when the writers are gone.
    pub fn hand_over(&self, queued: QueuedBatch) -> Result<(), QueuedBatch> {
        let bytes = queued.batch.get_array_memory_size() as i64;
        self.held.fetch_add(bytes);
        let held = HeldBytes {
            bytes,
            held: self.held.clone(),
        };
        self.jobs
            .send(queued.into_job(held))
            .map_err(|refused| QueuedBatch::from_job(refused.into_inner()))
    }

    /// Memory held by queued batches and batches being written.
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        usize::try_from(self.held.get()).expect("held bytes never go below zero")
    }
}

pub struct SpoolWriters {
    jobs: Option<BatchQueue>,
    templates: Option<Sender<TemplateSave>>,
    threads: Vec<JoinHandle<()>>,
}

impl SpoolWriters {
    pub fn start(
        spool: Arc<Spool>,
        compression: IpcCompression,
        registry: Registry,
    ) -> std::io::Result<SpoolWriters> {
        let (jobs, queue) = crossbeam_channel::bounded(QUEUED_BATCHES);
        // Template saves are rare and small; they never compete with batches for room. One
        // writer alone saves them, in the order they came: two writers saving one dataset's
        // file at once would share its staging file (one renaming what the other is still
        // writing) and could put an older version last.
        let (templates, template_queue) = crossbeam_channel::unbounded();
        let mut template_queue = Some(template_queue);
        let mut threads = Vec::new();
        for index in 0..WRITERS {
            let (spool, registry, queue, template_queue) = (
                spool.clone(),
                registry.clone(),
                queue.clone(),
                template_queue.take(),
            );
            threads.push(
                std::thread::Builder::new()
                    .name(format!("spool-writer-{index}"))
                    .spawn(move || {
                        if let Err(error) =
                            bytefreezer_udp::lower_current_thread_priority(WRITER_NICE)
                        {
                            tracing::debug!("spool writer keeps its priority: {error}");
                        }
                        write_until_closed(
                            &spool,
                            compression,
                            &registry,
                            &queue,
                            template_queue.as_ref(),
                        )
                    })?,
            );
        }
        Ok(SpoolWriters {
            jobs: Some(BatchQueue::new(
                jobs,
                QUEUED_BYTES,
                registry.gauge(
                    PROXY_SPOOL_QUEUE_BYTES.name,
                    PROXY_SPOOL_QUEUE_BYTES.help,
                    &[],
                ),
            )),
            templates: Some(templates),
            threads,
        })
    }

    /// Where sinks send batches (after `finish`, a queue that takes nothing).
    pub fn batches(&self) -> BatchQueue {
        self.jobs.clone().unwrap_or_else(|| {
            BatchQueue::new(crossbeam_channel::bounded(0).0, 0, Gauge::default())
        })
    }

    /// Where sinks send template saves.
    pub fn templates(&self) -> Sender<TemplateSave> {
        self.templates
            .clone()
            .unwrap_or_else(|| crossbeam_channel::bounded(0).0)
    }

    /// Writes what is queued, then stops. Call after every sink is closed.
    pub fn finish(mut self) {
        self.jobs = None;
        self.templates = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn write_until_closed(
    spool: &Spool,
    compression: IpcCompression,
    registry: &Registry,
    queue: &Receiver<BatchJob>,
    template_queue: Option<&Receiver<TemplateSave>>,
) {
    let Some(template_queue) = template_queue else {
        for job in queue.iter() {
            write_batch(spool, compression, registry, job);
        }
        return;
    };
    loop {
        crossbeam_channel::select! {
            recv(queue) -> job => match job {
                Ok(job) => write_batch(spool, compression, registry, job),
                Err(_) => break,
            },
            recv(template_queue) -> save => match save {
                Ok(save) => save_templates(save),
                Err(_) => break,
            },
        }
    }
    // One side closed: finish both, then stop.
    for job in queue.iter() {
        write_batch(spool, compression, registry, job);
    }
    for save in template_queue.iter() {
        save_templates(save);
    }
}

fn write_batch(spool: &Spool, compression: IpcCompression, registry: &Registry, job: BatchJob) {
    let BatchJob {
        tenant_id,
        dataset_id,
        batch,
        held,
        returns,
    } = job;
    let rows = batch.num_rows() as u64;
    let batches = [batch];
    let written = encode_ipc_with(&batches, compression)
        .map_err(anyhow::Error::from)
        .and_then(|encoded| spool.write_blocking(&tenant_id, &dataset_id, rows, &encoded));
    drop(held);
    if let Some(returns) = returns {
        let [batch] = batches;
        // A full or closed return channel only means the input builds in fresh buffers.
        let _ = returns.try_send(batch);
    }
    if let Err(error) = written {
        registry
            .counter(
                PROXY_ROWS_DROPPED_TOTAL.name,
                PROXY_ROWS_DROPPED_TOTAL.help,
                &[
                    ("tenant", &tenant_id),
                    ("dataset", &dataset_id),
                    ("cause", "spool_write"),
                ],
            )
            .increment(rows);
        tracing::error!("dataset {tenant_id}/{dataset_id}: {rows} rows lost: {error:#}");
    }
}

fn save_templates(save: TemplateSave) {
    if let Err(error) = save_atomically(&save.path, &save.bytes) {
        tracing::warn!(
            "cannot save flow templates to {}: {error}; a restart will wait for the exporters to resend them",
            save.path.display()
        );
    }
}

/// Writes a new file and renames it over the old, so a crash leaves one whole version.
fn save_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let staging = path.with_extension("bft.tmp");
    let saved = std::fs::write(&staging, bytes).and_then(|()| std::fs::rename(&staging, path));
    if saved.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    saved
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::UInt64Array;

    fn queued(batch: RecordBatch) -> QueuedBatch {
        QueuedBatch {
            tenant_id: "t".into(),
            dataset_id: "d".into(),
            batch,
            returns: None,
        }
    }

    fn batch(rows: u64) -> RecordBatch {
        let values = UInt64Array::from_iter_values(0..rows);
        RecordBatch::try_from_iter([("value", Arc::new(values) as _)]).unwrap()
    }

    #[test]
    fn the_queue_holds_at_most_its_bytes_and_frees_them_when_a_batch_is_written() {
        let (jobs, writer) = crossbeam_channel::bounded(QUEUED_BATCHES);
        let size = batch(10_000).get_array_memory_size();
        let gauge = Gauge::default();
        let queue = BatchQueue::new(jobs, 2 * size + size / 2, gauge.clone());
        let offer = || queue.offer(queued(batch(10_000))).is_ok();
        assert!(offer());
        assert!(offer());
        assert!(!offer(), "a third batch is over the byte limit");
        assert_eq!(
            queue.held_bytes(),
            2 * size,
            "a refused batch holds nothing"
        );
        assert_eq!(gauge.get(), 2 * size as i64, "/metrics shows what is held");
        // A writer takes one and finishes it: its memory is free again.
        drop(writer.try_recv().unwrap());
        assert_eq!(queue.held_bytes(), size);
        assert_eq!(gauge.get(), size as i64);
        assert!(offer());
    }

    /// Many saves of one dataset's templates in a row, as a busy exporter's template changes
    /// make them: at every moment the file holds one whole version, and the last one wins.
    #[test]
    fn template_saves_of_one_file_never_mix_and_the_newest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let spool =
            Arc::new(Spool::open(&dir.path().join("spool"), 1 << 30, Registry::new()).unwrap());
        let writers = SpoolWriters::start(spool, IpcCompression::Zstd, Registry::new()).unwrap();
        let path = dir.path().join("templates").join("t.d.w0.bft");
        const SIZE: usize = 64 << 10;
        const VERSIONS: usize = 1_000;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut torn = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(bytes) = std::fs::read(&path)
                        && (bytes.len() != SIZE || bytes.iter().any(|b| *b != bytes[0]))
                    {
                        torn += 1;
                    }
                }
                torn
            })
        };
        let templates = writers.templates();
        for version in 0..VERSIONS {
            let bytes = vec![(version % 251) as u8; SIZE];
            templates
                .send(TemplateSave {
                    path: path.clone(),
                    bytes,
                })
                .unwrap();
        }
        drop(templates);
        writers.finish();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            reader.join().unwrap(),
            0,
            "a reader saw a torn template file"
        );
        let last = std::fs::read(&path).unwrap();
        assert_eq!(
            last,
            vec![((VERSIONS - 1) % 251) as u8; SIZE],
            "the newest version is kept"
        );
        let staging: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(staging.is_empty(), "{staging:?}");
    }

    /// The writer gives an encoded batch back to the input that sent it, and the spool holds
    /// its rows all the same.
    #[test]
    fn written_batches_go_back_to_their_input() {
        let dir = tempfile::tempdir().unwrap();
        let spool =
            Arc::new(Spool::open(&dir.path().join("spool"), 1 << 30, Registry::new()).unwrap());
        let writers =
            SpoolWriters::start(spool.clone(), IpcCompression::None, Registry::new()).unwrap();
        let (returns, returned) = crossbeam_channel::bounded(2);
        let mut with_return = queued(batch(1_000));
        with_return.returns = Some(returns);
        assert!(writers.batches().offer(with_return).is_ok());
        let back = returned
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the batch comes back once written");
        assert_eq!(back.num_rows(), 1_000);
        writers.finish();
        let spooled = spool.take_next().expect("the batch is in the spool");
        assert_eq!(spooled.rows, 1_000);
    }

    #[test]
    fn one_batch_larger_than_the_limit_still_goes_through_alone() {
        let (jobs, writer) = crossbeam_channel::bounded(QUEUED_BATCHES);
        let queue = BatchQueue::new(jobs, 1024, Gauge::default());
        assert!(queue.offer(queued(batch(100_000))).is_ok());
        assert!(queue.offer(queued(batch(10))).is_err());
        drop(writer.try_recv().unwrap());
        assert_eq!(queue.held_bytes(), 0);
    }

    #[test]
    fn a_full_channel_refuses_without_holding_memory() {
        let (jobs, _writer) = crossbeam_channel::bounded(1);
        let queue = BatchQueue::new(jobs, usize::MAX / 2, Gauge::default());
        assert!(queue.offer(queued(batch(10))).is_ok());
        let refused = queue.offer(queued(batch(7))).unwrap_err();
        assert_eq!(
            refused.batch.num_rows(),
            7,
            "the refused batch comes back whole"
        );
        assert_eq!(queue.held_bytes(), batch(10).get_array_memory_size());
    }

    #[test]
    fn hand_over_waits_for_room_instead_of_refusing() {
        let (jobs, writer) = crossbeam_channel::bounded(1);
        let queue = BatchQueue::new(jobs, 1, Gauge::default());
        assert!(queue.offer(queued(batch(10))).is_ok());
        let taker = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let first = writer.recv().unwrap();
            let second = writer.recv().unwrap();
            [first, second].map(|job| job.batch.num_rows())
        });
        assert!(queue.hand_over(queued(batch(20))).is_ok());
        assert_eq!(taker.join().unwrap(), [10, 20]);
        assert!(
            queue.hand_over(queued(batch(5))).is_err(),
            "with the writers gone the batch comes back"
        );
    }
}
