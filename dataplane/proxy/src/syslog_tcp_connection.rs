//! One connection of a syslog stream input: TLS handshake, reads cut into messages, each read's
//! messages handed to the dataset's spool writer as one chunk. It reads only while the spool is
//! under its high-water mark and the writer takes its chunks, so a slow disk or a full spool
//! stops the sender through TCP's window, never through a drop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytefreezer_api::SyslogFraming;
use bytefreezer_api::metrics::{
    PROXY_SYSLOG_TCP_BYTES_TOTAL, PROXY_SYSLOG_TCP_CONNECTION_ERRORS_TOTAL,
    PROXY_SYSLOG_TCP_MESSAGES_TOTAL, PROXY_SYSLOG_TCP_TRUNCATED_TOTAL, PROXY_SYSLOG_TCP_WAITING,
};
use bytefreezer_decode_syslog::framing::{Frame, FrameError, FrameSplitter, Framing};
use bytefreezer_decode_syslog::{DatagramMeta, SyslogEdgeBuilder};
use bytefreezer_http_listen::TlsAcceptor;
use bytefreezer_telemetry::{Counter, Gauge, Registry, Shutdown};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::now_micros;
use crate::syslog_tcp::{Chunk, DatasetContext, SyslogStreamDataset};

/// Room made in the connection's buffer before each read: one read takes at most this.
const READ_CHUNK: usize = 64 * 1024;
/// A TLS handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Closing a connection (TLS close_notify) waits for the peer at most this.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// While the spool is at its high-water mark, a waiting connection looks again this often.
const SPOOL_RECHECK: Duration = Duration::from_millis(200);

/// An accepted connection and what it needs to read it.
pub(crate) struct Connection {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub tls: Option<TlsAcceptor>,
    pub context: Arc<DatasetContext>,
    pub chunks: mpsc::Sender<Chunk>,
    pub stopped: Shutdown,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A dataset's connection metrics, looked up once.
pub(crate) struct ConnectionCounters {
    messages: Counter,
    bytes: Counter,
    truncated: Counter,
    waiting: Gauge,
    registry: Registry,
    tenant_id: String,
    dataset_id: String,
}

impl ConnectionCounters {
    pub fn new(registry: &Registry, dataset: &SyslogStreamDataset) -> ConnectionCounters {
        let labels = [
            ("tenant", dataset.tenant_id.as_str()),
            ("dataset", dataset.dataset_id.as_str()),
        ];
        let counter = |metric: bytefreezer_api::metrics::Metric| {
            registry.counter(metric.name, metric.help, &labels)
        };
        ConnectionCounters {
            messages: counter(PROXY_SYSLOG_TCP_MESSAGES_TOTAL),
            bytes: counter(PROXY_SYSLOG_TCP_BYTES_TOTAL),
            truncated: counter(PROXY_SYSLOG_TCP_TRUNCATED_TOTAL),
            waiting: registry.gauge(
                PROXY_SYSLOG_TCP_WAITING.name,
                PROXY_SYSLOG_TCP_WAITING.help,
                &[
                    ("tenant", dataset.tenant_id.as_str()),
                    ("dataset", dataset.dataset_id.as_str()),
                    ("listen", dataset.listen.as_str()),
                ],
            ),
            registry: registry.clone(),
            tenant_id: dataset.tenant_id.clone(),
            dataset_id: dataset.dataset_id.clone(),
        }
    }

    fn error(&self, reason: &'static str) {
        self.registry
            .counter(
                PROXY_SYSLOG_TCP_CONNECTION_ERRORS_TOTAL.name,
                PROXY_SYSLOG_TCP_CONNECTION_ERRORS_TOTAL.help,
                &[
                    ("tenant", self.tenant_id.as_str()),
                    ("dataset", self.dataset_id.as_str()),
                    ("reason", reason),
                ],
            )
            .increment(1);
    }
}

fn framing(setting: SyslogFraming) -> Framing {
    match setting {
        SyslogFraming::Auto => Framing::Auto,
        SyslogFraming::OctetCounting => Framing::OctetCounting,
        SyslogFraming::NonTransparent => Framing::NonTransparent,
    }
}

/// Reads the connection until the sender closes it, it idles past the dataset's timeout, its
/// framing breaks, or the input stops; everything read is handed to the writer before it returns.
pub(crate) async fn read_connection(connection: Connection) {
    let Connection {
        stream,
        peer,
        tls,
        context,
        chunks,
        mut stopped,
    } = connection;
    let counters = &context.counters;
    let mut io: Box<dyn Stream> = match tls {
        None => Box::new(stream),
        Some(acceptor) => {
            let handshake = tokio::select! {
                handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => handshake,
                _ = stopped.wait() => return,
            };
            match handshake {
                Ok(Ok(stream)) => Box::new(stream),
                Ok(Err(error)) => {
                    counters.error("tls_handshake");
                    tracing::debug!(
                        "{}: TLS handshake with {peer} failed: {error}",
                        context.name()
                    );
                    return;
                }
                Err(_) => {
                    counters.error("tls_handshake");
                    tracing::debug!(
                        "{}: {peer} did not finish its TLS handshake within {HANDSHAKE_TIMEOUT:?}",
                        context.name()
                    );
                    return;
                }
            }
        }
    };
    let settings = &context.dataset.settings;
    let mut splitter = FrameSplitter::new(
        framing(settings.framing),
        settings.max_message_bytes as usize,
    );
    let mut builder = SyslogEdgeBuilder::with_capacity(64);
    let idle = Duration::from_secs(settings.idle_timeout_secs.max(1));
    let sender = Some(peer.ip().to_canonical());
    loop {
        if context.spool.over_high_water() && wait_for_spool(&context, &mut stopped).await {
            break;
        }
        let read = tokio::select! {
            read = tokio::time::timeout(idle, io.read_buf(splitter.read_buffer(READ_CHUNK))) => read,
            _ = stopped.wait() => break,
        };
        let meta = DatagramMeta {
            receive_time_micros: now_micros(),
            sender,
        };
        let mut truncated = 0u64;
        let mut on_frame = |frame: Frame<'_>| {
            truncated += u64::from(frame.truncated);
            builder.append(frame.message, &meta);
        };
        // Whether the connection is done: closed by the sender, idle, broken or misframed.
        let closed = match read {
            Ok(Ok(read)) if read > 0 => {
                counters.bytes.increment(read as u64);
                match splitter.split(&mut on_frame) {
                    Ok(()) => false,
                    Err(error) => {
                        counters.error("framing");
                        tracing::warn!(
                            "{}: closing the connection from {peer}: {error}",
                            context.name()
                        );
                        true
                    }
                }
            }
            Ok(Ok(_)) => {
                finish(&mut splitter, &mut on_frame, &context, peer);
                true
            }
            Ok(Err(error)) => {
                counters.error("read");
                tracing::debug!("{}: reading from {peer} failed: {error}", context.name());
                finish(&mut splitter, &mut on_frame, &context, peer);
                true
            }
            Err(_) => {
                counters.error("idle_timeout");
                finish(&mut splitter, &mut on_frame, &context, peer);
                true
            }
        };
        counters.truncated.increment(truncated);
        hand_over(&mut builder, &chunks, counters).await;
        if closed {
            close(io).await;
            return;
        }
    }
    // Stopping: a line still waiting for its newline is kept as it is rather than lost.
    let meta = DatagramMeta {
        receive_time_micros: now_micros(),
        sender,
    };
    finish(
        &mut splitter,
        &mut |frame| builder.append(frame.message, &meta),
        &context,
        peer,
    );
    hand_over(&mut builder, &chunks, counters).await;
    close(io).await;
}

/// Closes our side (over TLS, with close_notify, so the sender sees a clean end).
async fn close(mut io: Box<dyn Stream>) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, io.shutdown()).await;
}

/// The stream ended: its last unterminated line becomes a message; a frame cut short is
/// counted and named.
fn finish(
    splitter: &mut FrameSplitter,
    on_frame: &mut dyn FnMut(Frame<'_>),
    context: &DatasetContext,
    peer: SocketAddr,
) {
    if let Err(error @ FrameError::Incomplete { .. }) = splitter.finish(on_frame) {
        context.counters.error("incomplete_frame");
        tracing::warn!(
            "{}: the connection from {peer} ended inside a message: {error}",
            context.name()
        );
    }
}

/// Hands the messages read so far to the dataset's writer, waiting while it is behind.
async fn hand_over(
    builder: &mut SyslogEdgeBuilder,
    chunks: &mpsc::Sender<Chunk>,
    counters: &ConnectionCounters,
) {
    let (rows, bytes) = (builder.rows(), builder.bytes());
    let Some(batch) = builder.flush() else {
        return;
    };
    counters.messages.increment(rows as u64);
    // The writer outlives every connection; a closed channel only means the proxy is gone.
    let _ = chunks.send(Chunk { batch, bytes }).await;
}

/// Waits until the spool is under its high-water mark again; true when the input stops first.
async fn wait_for_spool(context: &DatasetContext, stopped: &mut Shutdown) -> bool {
    let waiting = &context.counters.waiting;
    waiting.add(1);
    let stopping = loop {
        tokio::select! {
            _ = stopped.wait() => break true,
            _ = tokio::time::sleep(SPOOL_RECHECK) => {
                if !context.spool.over_high_water() {
                    break false;
                }
            }
        }
    };
    waiting.add(-1);
    stopping
}
