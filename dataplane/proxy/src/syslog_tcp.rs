//! The syslog `tcp` and `tls` inputs (RFC 6587, RFC 5425): one listener per dataset, each
//! connection cut into messages (`bytefreezer_decode_syslog::framing`) and appended to the same
//! `syslog/1` edge batches the UDP input ships, so piper parses them alike.
//!
//! A stream can wait, so nothing read is dropped: the dataset's batches go to the spool as
//! promised batches (never evicted), and while the spool is at its high-water mark, or the
//! spool writes fall behind, connections stop reading and TCP's window pushes back on the
//! senders. Syslog over TCP has no acknowledgement above TCP's: what a stopping proxy has read
//! is written before it exits, and only a crash loses the messages of the batch being filled
//! (at most `batch_max_age_ms`, docs/inputs.md).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use bytefreezer_api::SyslogSourceSettings;
use bytefreezer_api::metrics::{
    PROXY_INPUT_ERRORS_TOTAL, PROXY_INPUT_UP, PROXY_SYSLOG_TCP_CONNECTIONS,
    PROXY_SYSLOG_TCP_WAITING,
};
use bytefreezer_http_listen::{TlsAcceptor, load_stream_tls};
use bytefreezer_schema::syslog_edge_schema;
use bytefreezer_telemetry::Shutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::dataset_tasks::{DatasetInputs, InputDataset};
use crate::promised_write::InputRuntime;
use crate::spool::Spool;
use crate::syslog_tcp_connection::{Connection, ConnectionCounters, read_connection};

/// Read batches waiting for the dataset's spool writer; beyond it connections stop reading.
const QUEUED_CHUNKS: usize = 64;
/// While a listener cannot open its port or load its certificate, it tries again this often.
const LISTEN_RETRY: Duration = Duration::from_secs(10);
/// After a failed accept (out of file descriptors), wait before the next so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// One syslog dataset whose transport is `tcp` or `tls`.
pub type SyslogStreamDataset = InputDataset<SyslogSourceSettings>;

/// Every running syslog stream input, by dataset.
pub type SyslogStreamInputs = DatasetInputs<SyslogSourceSettings, InputRuntime>;

/// The syslog stream inputs; a clean stop or pause hands over what connections read, and it is
/// in the spool when `stop` returns.
pub fn syslog_stream_inputs(runtime: InputRuntime) -> SyslogStreamInputs {
    DatasetInputs::new(runtime, |dataset, runtime, stopped| {
        Box::pin(run_input(dataset, runtime, stopped))
    })
}

/// What a dataset's connections share.
pub(crate) struct DatasetContext {
    pub dataset: SyslogStreamDataset,
    pub spool: Arc<Spool>,
    pub counters: ConnectionCounters,
}

impl DatasetContext {
    pub fn name(&self) -> String {
        self.dataset.name()
    }
}

/// Messages read from one connection, for the dataset's spool writer.
pub(crate) struct Chunk {
    pub batch: RecordBatch,
    pub bytes: usize,
}

async fn run_input(
    dataset: SyslogStreamDataset,
    runtime: Arc<InputRuntime>,
    mut stopped: Shutdown,
) {
    let registry = &runtime.registry;
    let input_labels = dataset.labels();
    let up = registry.gauge(PROXY_INPUT_UP.name, PROXY_INPUT_UP.help, &input_labels);
    let name = format!("dataset {}/{}", dataset.tenant_id, dataset.dataset_id);
    let (listener, tls) = loop {
        match open(&dataset, &name).await {
            Ok(opened) => break opened,
            Err(error) => {
                up.set(0);
                registry
                    .counter(
                        PROXY_INPUT_ERRORS_TOTAL.name,
                        PROXY_INPUT_ERRORS_TOTAL.help,
                        &input_labels[..2],
                    )
                    .increment(1);
                tracing::error!("{error:#}; retrying in {}s", LISTEN_RETRY.as_secs());
                tokio::select! {
                    _ = stopped.wait() => {
                        registry.remove(PROXY_INPUT_UP.name, &input_labels);
                        return;
                    }
                    _ = tokio::time::sleep(LISTEN_RETRY) => {}
                }
            }
        }
    };
    up.set(1);
    tracing::info!("{name}: listening on {}", dataset.listen);

    let (chunks, queue) = mpsc::channel(QUEUED_CHUNKS);
    let writer = tokio::spawn(write_loop(queue, dataset.clone(), runtime.clone()));
    let context = Arc::new(DatasetContext {
        counters: ConnectionCounters::new(registry, &dataset),
        spool: runtime.spool.clone(),
        dataset: dataset.clone(),
    });
    let open_connections = registry.gauge(
        PROXY_SYSLOG_TCP_CONNECTIONS.name,
        PROXY_SYSLOG_TCP_CONNECTIONS.help,
        &input_labels,
    );
    let slots = Arc::new(Semaphore::new(
        dataset.settings.max_connections.max(1) as usize
    ));
    let mut connections = JoinSet::new();
    loop {
        // Finished connections leave the set, so it holds at most max_connections.
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = stopped.wait() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!("{name}: cannot accept a connection: {error}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = stopped.wait() => break,
        };
        let connection = Connection {
            stream,
            peer,
            tls: tls.clone(),
            context: context.clone(),
            chunks: chunks.clone(),
            stopped: stopped.clone(),
        };
        let open_connections = open_connections.clone();
        connections.spawn(async move {
            let _slot = slot;
            open_connections.add(1);
            read_connection(connection).await;
            open_connections.add(-1);
        });
    }
    drop(listener);
    // Each connection hands over what it read, then the writer stores the last batch.
    while connections.join_next().await.is_some() {}
    drop(chunks);
    let _ = writer.await;
    for metric in [
        PROXY_INPUT_UP,
        PROXY_SYSLOG_TCP_CONNECTIONS,
        PROXY_SYSLOG_TCP_WAITING,
    ] {
        registry.remove(metric.name, &input_labels);
    }
    tracing::info!("{name}: stopped listening on {}", dataset.listen);
}

async fn open(
    dataset: &SyslogStreamDataset,
    name: &str,
) -> anyhow::Result<(TcpListener, Option<TlsAcceptor>)> {
    use anyhow::Context;
    // A dataset from a configuration file was not validated by the control plane: `tls`
    // without its certificate must not open as plain TCP.
    dataset
        .settings
        .validate()
        .map_err(|(field, reason)| anyhow::anyhow!("{name}: {field} {reason}"))?;
    let tls = match dataset.settings.tls() {
        Some(files) => Some(
            load_stream_tls(
                Path::new(files.cert_file),
                Path::new(files.key_file),
                files.client_ca_file.map(Path::new),
                name,
            )
            .await?,
        ),
        None => None,
    };
    let bind: SocketAddr = dataset.settings.bind;
    let listener = TcpListener::bind(bind).await.with_context(|| {
        format!("{name}: cannot listen on tcp {bind}; is another process using the port?")
    })?;
    Ok((listener, tls))
}

/// Gathers the connections' chunks into one batch and writes it to the spool once it holds
/// `max_rows` messages or `max_bytes`, or its oldest is `max_age` old. A failed write is tried
/// again (the connections wait), since what was read from a stream cannot be asked for again.
async fn write_loop(
    mut queue: mpsc::Receiver<Chunk>,
    dataset: SyslogStreamDataset,
    runtime: Arc<InputRuntime>,
) {
    let batching = runtime.batching;
    let max_age = batching.max_age(dataset.testing);
    let mut pending: Vec<RecordBatch> = Vec::new();
    let (mut rows, mut bytes) = (0usize, 0usize);
    let mut oldest: Option<Instant> = None;
    loop {
        let due = oldest.map(|since| since + max_age);
        let closed = tokio::select! {
            received = queue.recv() => match received {
                Some(chunk) => {
                    rows += chunk.batch.num_rows();
                    bytes += chunk.bytes;
                    pending.push(chunk.batch);
                    oldest.get_or_insert_with(Instant::now);
                    if rows < batching.max_rows && bytes < batching.max_bytes {
                        continue;
                    }
                    false
                }
                None => true,
            },
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => false,
        };
        if !pending.is_empty() {
            write_until_stored(std::mem::take(&mut pending), &dataset, &runtime).await;
        }
        (rows, bytes, oldest) = (0, 0, None);
        if closed {
            return;
        }
    }
}

async fn write_until_stored(
    batches: Vec<RecordBatch>,
    dataset: &SyslogStreamDataset,
    runtime: &InputRuntime,
) {
    let target = runtime.target(&dataset.tenant_id, &dataset.dataset_id, "messages");
    match concat_batches(&syslog_edge_schema(), &batches) {
        Ok(batch) => target.write_until_stored(&batch).await,
        Err(error) => target.lost(batches.iter().map(RecordBatch::num_rows).sum(), &error),
    }
}

#[cfg(test)]
#[path = "syslog_tcp_tests.rs"]
mod tests;
