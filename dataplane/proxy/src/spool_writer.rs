//! Between the receive workers and the disk: workers hand finished batches (and changed flow
//! templates) over a bounded channel; writer threads encode them as Arrow IPC with zstd and
//! make them durable in the spool. A worker never waits for this: when the channel is full
//! the batch is dropped and counted (`cause="spool_backlog"`), so the sockets keep draining.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow::record_batch::RecordBatch;
use bytefreezer_schema::{IpcCompression, encode_ipc_with};
use bytefreezer_telemetry::Registry;
use crossbeam_channel::{Receiver, Sender};

use crate::spool::Spool;

/// Batches waiting for a writer, across all datasets; beyond it batches are dropped.
pub const QUEUED_BATCHES: usize = 8;
const WRITERS: usize = 2;
/// Writers yield the CPU to the receive workers on a shared core (nice 10: a worker gets about
/// nine times a writer's share). The bounded queue, not priority, bounds the backlog.
const WRITER_NICE: i32 = 10;

pub enum SpoolJob {
    Batch {
        tenant_id: Arc<str>,
        dataset_id: Arc<str>,
        batch: RecordBatch,
    },
    /// A flow input's templates changed: keep them for the next start.
    Templates { path: PathBuf, bytes: Vec<u8> },
}

pub struct SpoolWriters {
    jobs: Option<Sender<SpoolJob>>,
    templates: Option<Sender<SpoolJob>>,
    threads: Vec<JoinHandle<()>>,
}

impl SpoolWriters {
    pub fn start(
        spool: Arc<Spool>,
        compression: IpcCompression,
        registry: Registry,
    ) -> std::io::Result<SpoolWriters> {
        let (jobs, queue) = crossbeam_channel::bounded(QUEUED_BATCHES);
        // Template saves are rare and small; they never compete with batches for room.
        let (templates, template_queue) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();
        for index in 0..WRITERS {
            let (spool, registry, queue, template_queue) = (
                spool.clone(),
                registry.clone(),
                queue.clone(),
                template_queue.clone(),
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
                        write_until_closed(&spool, compression, &registry, &queue, &template_queue)
                    })?,
            );
        }
        Ok(SpoolWriters {
            jobs: Some(jobs),
            templates: Some(templates),
            threads,
        })
    }

    /// Where sinks send batches.
    pub fn batches(&self) -> Sender<SpoolJob> {
        self.jobs
            .clone()
            .unwrap_or_else(|| crossbeam_channel::bounded(0).0)
    }

    /// Where sinks send template saves.
    pub fn templates(&self) -> Sender<SpoolJob> {
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
    queue: &Receiver<SpoolJob>,
    template_queue: &Receiver<SpoolJob>,
) {
    loop {
        let job = crossbeam_channel::select! {
            recv(queue) -> job => job,
            recv(template_queue) -> job => job,
        };
        match job {
            Ok(job) => write(spool, compression, registry, job),
            // One side closed: finish the other, then stop.
            Err(_) => {
                for job in queue.iter().chain(template_queue.iter()) {
                    write(spool, compression, registry, job);
                }
                return;
            }
        }
    }
}

fn write(spool: &Spool, compression: IpcCompression, registry: &Registry, job: SpoolJob) {
    match job {
        SpoolJob::Batch {
            tenant_id,
            dataset_id,
            batch,
        } => {
            let rows = batch.num_rows() as u64;
            let written = encode_ipc_with(&[batch], compression)
                .map_err(anyhow::Error::from)
                .and_then(|encoded| spool.write_blocking(&tenant_id, &dataset_id, rows, encoded));
            if let Err(error) = written {
                registry
                    .counter(
                        crate::sink::ROWS_DROPPED,
                        crate::sink::ROWS_DROPPED_HELP,
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
        SpoolJob::Templates { path, bytes } => {
            if let Err(error) = save_atomically(&path, &bytes) {
                tracing::warn!(
                    "cannot save flow templates to {}: {error}; a restart will wait for the exporters to resend them",
                    path.display()
                );
            }
        }
    }
}

/// Writes a new file and renames it over the old, so a crash leaves one whole version.
fn save_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let staging = path.with_extension("bft.tmp");
    std::fs::write(&staging, bytes)?;
    std::fs::rename(&staging, path)
}
