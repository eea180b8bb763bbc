use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytefreezer_decode_syslog::FlushPolicy;
use bytefreezer_schema::encode_ipc;
use bytefreezer_telemetry::Registry;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::config::ProxyConfig;
pub use crate::decoders::DecoderKind;
use crate::decoders::{Decoded, InputDecoder};
use crate::spool::Spool;

/// Per dataset and listen address: 1 listening, 0 cannot open its socket; absent once stopped.
pub const INPUT_UP: &str = "bytefreezer_proxy_input_up";

/// One dataset's listening input, as derived from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InputSpec {
    pub tenant_id: String,
    pub dataset_id: String,
    pub bind: SocketAddr,
    pub testing: bool,
    pub decoder: DecoderKind,
}

const TESTING_MAX_AGE: Duration = Duration::from_millis(200);
const BIND_RETRY: Duration = Duration::from_secs(10);
/// Datagrams drained without yielding, so one busy socket cannot starve the runtime.
const DRAIN_BURST: usize = 1024;

/// Receives and decodes until `stop` turns true, then flushes what it holds to the spool.
pub async fn run_udp_input(
    spec: InputSpec,
    config: Arc<ProxyConfig>,
    spool: Arc<Spool>,
    registry: Registry,
    mut stop: watch::Receiver<bool>,
) {
    let labels = [
        ("tenant", spec.tenant_id.as_str()),
        ("dataset", spec.dataset_id.as_str()),
    ];
    let listen = format!("udp://{}", spec.bind);
    let input_labels = [
        ("tenant", spec.tenant_id.as_str()),
        ("dataset", spec.dataset_id.as_str()),
        ("listen", listen.as_str()),
    ];
    // 1 listening, 0 cannot open its socket; the series goes when the input stops.
    let up = registry.gauge(
        INPUT_UP,
        "1 while the dataset's input is listening, 0 while it cannot open its socket.",
        &input_labels,
    );
    let forget_input = || registry.remove(INPUT_UP, &input_labels);
    let socket = loop {
        match bind_udp(spec.bind, config.udp_recv_buffer_bytes) {
            Ok(socket) => break socket,
            Err(error) => {
                up.set(0);
                registry
                    .counter(
                        "bytefreezer_proxy_input_errors_total",
                        "Inputs that could not start.",
                        &labels,
                    )
                    .increment(1);
                tracing::error!(
                    "dataset {}/{}: cannot listen on udp://{}: {error}; is another process using the port? retrying in {}s",
                    spec.tenant_id,
                    spec.dataset_id,
                    spec.bind,
                    BIND_RETRY.as_secs()
                );
                tokio::select! {
                    _ = stopped(&mut stop) => {
                        forget_input();
                        return;
                    }
                    _ = tokio::time::sleep(BIND_RETRY) => {}
                }
            }
        }
    };
    up.set(1);
    tracing::info!(
        "dataset {}/{}: listening on udp://{}",
        spec.tenant_id,
        spec.dataset_id,
        spec.bind
    );

    // Spool writes run beside the receive loop so an fsync never delays reading the socket.
    let (batches, mut pending) = mpsc::channel::<(u64, Vec<u8>)>(4);
    let writer = {
        let (spool, tenant, dataset, registry) = (
            spool.clone(),
            spec.tenant_id.clone(),
            spec.dataset_id.clone(),
            registry.clone(),
        );
        tokio::spawn(async move {
            while let Some((rows, encoded)) = pending.recv().await {
                if let Err(error) = spool.write(&tenant, &dataset, rows, encoded).await {
                    registry
                        .counter(
                            "bytefreezer_proxy_rows_dropped_total",
                            "Rows lost, by cause.",
                            &[
                                ("tenant", &tenant),
                                ("dataset", &dataset),
                                ("cause", "spool_write"),
                            ],
                        )
                        .increment(rows);
                    tracing::error!("dataset {tenant}/{dataset}: {error:#}");
                }
            }
        })
    };

    let policy = FlushPolicy {
        max_rows: config.batch_max_rows.max(1),
        max_bytes: config.batch_max_bytes.max(1),
    };
    let mut max_age = Duration::from_millis(config.batch_max_age_ms.max(1));
    if spec.testing {
        max_age = max_age.min(TESTING_MAX_AGE);
    }
    let datagrams = registry.counter(
        "bytefreezer_proxy_datagrams_total",
        "Datagrams received.",
        &labels,
    );
    let unparsed = registry.counter(
        "bytefreezer_proxy_unparsed_total",
        "Messages kept as unparsed text.",
        &labels,
    );
    let malformed = registry.counter(
        "bytefreezer_proxy_decode_errors_total",
        "Flow datagrams with a decode error (records before the error are kept).",
        &labels,
    );
    let mut decoder = InputDecoder::new(spec.decoder, policy.max_rows.min(8192));
    // Flow templates outlive restarts, so the first data packet after one is decoded at once.
    let template_file = config
        .spool_dir
        .join("templates")
        .join(format!("{}.{}.bft", spec.tenant_id, spec.dataset_id));
    if let Ok(saved) = tokio::fs::read(&template_file).await {
        match decoder.restore_templates(&saved) {
            Some(Ok(count)) => tracing::info!(
                "dataset {}/{}: restored {count} flow templates from {}",
                spec.tenant_id,
                spec.dataset_id,
                template_file.display()
            ),
            Some(Err(error)) => tracing::warn!(
                "dataset {}/{}: ignoring {}: {error}",
                spec.tenant_id,
                spec.dataset_id,
                template_file.display()
            ),
            None => {}
        }
    }
    let mut last_malformed_log: Option<Instant> = None;
    let mut buffer = vec![0u8; 65_536];
    let mut oldest: Option<Instant> = None;
    let mut ticker = tokio::time::interval(max_age / 4);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            received = socket.recv_from(&mut buffer) => {
                let Ok((length, sender)) = received else { continue };
                let mut handle = |length: usize, sender: SocketAddr, decoder: &mut InputDecoder, buffer: &[u8]| {
                    datagrams.increment(1);
                    match decoder.decode(&buffer[..length], chrono::Utc::now().timestamp_micros(), sender) {
                        Decoded::Kept => {}
                        Decoded::KeptUnparsed => unparsed.increment(1),
                        Decoded::Malformed(error) => {
                            malformed.increment(1);
                            // One line a minute per input is enough to find a broken exporter.
                            if last_malformed_log.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                                last_malformed_log = Some(Instant::now());
                                tracing::warn!("dataset {}/{}: malformed datagram from {sender}: {error}", spec.tenant_id, spec.dataset_id);
                            }
                        }
                    }
                };
                handle(length, sender, &mut decoder, &buffer);
                oldest.get_or_insert_with(Instant::now);
                for _ in 0..DRAIN_BURST {
                    if decoder.should_flush(&policy) {
                        flush(&mut decoder, &batches, &template_file).await;
                        oldest = None;
                    }
                    match socket.try_recv_from(&mut buffer) {
                        Ok((length, sender)) => {
                            handle(length, sender, &mut decoder, &buffer);
                            oldest.get_or_insert_with(Instant::now);
                        }
                        Err(_) => break,
                    }
                }
                if decoder.should_flush(&policy) {
                    flush(&mut decoder, &batches, &template_file).await;
                    oldest = None;
                }
            }
            _ = ticker.tick() => {
                if oldest.is_some_and(|since| since.elapsed() >= max_age) {
                    flush(&mut decoder, &batches, &template_file).await;
                    oldest = None;
                }
            }
        }
    }
    flush(&mut decoder, &batches, &template_file).await;
    drop(batches);
    let _ = writer.await;
    forget_input();
    tracing::info!(
        "dataset {}/{}: stopped listening on udp://{}",
        spec.tenant_id,
        spec.dataset_id,
        spec.bind
    );
}

/// Resolves once the input is asked to stop (or its owner is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn flush(
    decoder: &mut InputDecoder,
    batches: &mpsc::Sender<(u64, Vec<u8>)>,
    template_file: &std::path::Path,
) {
    if let Some(templates) = decoder.templates_to_save()
        && let Err(error) = save_atomically(template_file, &templates).await
    {
        tracing::warn!(
            "cannot save flow templates to {}: {error}; a restart will wait for the exporters to resend them",
            template_file.display()
        );
    }
    let Some(batch) = decoder.flush() else { return };
    let rows = batch.num_rows() as u64;
    match encode_ipc(&[batch]) {
        Ok(encoded) => {
            let _ = batches.send((rows, encoded)).await;
        }
        Err(error) => tracing::error!("cannot encode a batch of {rows} rows: {error}"),
    }
}

/// Writes a new file and renames it over the old, so a crash leaves one whole version.
async fn save_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        tokio::fs::create_dir_all(folder).await?;
    }
    let staging = path.with_extension("bft.tmp");
    tokio::fs::write(&staging, bytes).await?;
    tokio::fs::rename(&staging, path).await
}

fn bind_udp(address: SocketAddr, receive_buffer: usize) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if socket.set_recv_buffer_size(receive_buffer).is_ok() {
        // Linux reports twice the granted size (it counts bookkeeping overhead).
        let granted = socket.recv_buffer_size().unwrap_or(0) / 2;
        if granted < receive_buffer {
            tracing::warn!(
                "udp://{address}: the kernel granted a {granted}-byte receive buffer instead of {receive_buffer}; \
                 raise net.core.rmem_max (sysctl -w net.core.rmem_max={receive_buffer}) to absorb bursts without loss"
            );
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    UdpSocket::from_std(socket.into())
}
