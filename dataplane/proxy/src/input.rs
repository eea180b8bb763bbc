use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytefreezer_api::metrics::{PROXY_INPUT_ERRORS_TOTAL, PROXY_INPUT_UP};
use bytefreezer_decode_flow::FlowLimits;
use bytefreezer_decode_syslog::FlushPolicy;
use bytefreezer_telemetry::Registry;
use bytefreezer_udp::{ReceivePool, bind_group};
use tokio::sync::watch;

use crate::config::ProxyConfig;
pub use crate::decoders::DecoderKind;
use crate::decoders::InputDecoder;
use crate::sink::{InputSink, SinkSettings};
use crate::spool_writer::SpoolWriters;

/// One dataset's listening input, as derived from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InputSpec {
    pub tenant_id: String,
    pub dataset_id: String,
    pub bind: SocketAddr,
    pub testing: bool,
    pub decoder: DecoderKind,
}

/// What every UDP input shares: the receive workers and the spool writers.
pub struct UdpRuntime {
    pub pool: Arc<ReceivePool>,
    pub writers: Arc<SpoolWriters>,
    pub config: Arc<ProxyConfig>,
    pub registry: Registry,
}

/// How long a dataset in testing mode lets a batch fill at most.
pub(crate) const TESTING_MAX_AGE: Duration = Duration::from_millis(200);
const BIND_RETRY: Duration = Duration::from_secs(10);

/// Binds the dataset's port on every worker (retrying while it is taken), decodes on the
/// workers until `stop` turns true, then waits until every worker flushed what it held.
pub async fn run_udp_input(
    spec: InputSpec,
    runtime: Arc<UdpRuntime>,
    mut stop: watch::Receiver<bool>,
) {
    let registry = &runtime.registry;
    let config = &runtime.config;
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
    let up = registry.gauge(PROXY_INPUT_UP.name, PROXY_INPUT_UP.help, &input_labels);
    let forget_input = || registry.remove(PROXY_INPUT_UP.name, &input_labels);
    let group = loop {
        match bind_group(
            spec.bind,
            runtime.pool.workers(),
            config.udp_recv_buffer_bytes,
        ) {
            Ok(group) => break group,
            Err(error) => {
                up.set(0);
                registry
                    .counter(
                        PROXY_INPUT_ERRORS_TOTAL.name,
                        PROXY_INPUT_ERRORS_TOTAL.help,
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
    if group.granted_receive_buffer < config.udp_recv_buffer_bytes {
        tracing::warn!(
            "udp://{}: the kernel granted a {}-byte receive buffer instead of {}; raise net.core.rmem_max \
             (sysctl -w net.core.rmem_max={}) to absorb bursts without loss",
            spec.bind,
            group.granted_receive_buffer,
            config.udp_recv_buffer_bytes,
            config.udp_recv_buffer_bytes
        );
    }

    let policy = FlushPolicy {
        max_rows: config.batch_max_rows.max(1),
        max_bytes: config.batch_max_bytes.max(1),
    };
    let mut max_age = Duration::from_millis(config.batch_max_age_ms.max(1));
    if spec.testing {
        max_age = max_age.min(TESTING_MAX_AGE);
    }
    let templates_dir = config.spool_dir.join("templates");
    let flow_limits = config.flow.limits();
    let saved_templates = if spec.decoder == DecoderKind::Flow {
        read_saved_templates(&templates_dir, &spec, saved_file_limit(&flow_limits)).await
    } else {
        Vec::new()
    };
    let (tenant_id, dataset_id): (Arc<str>, Arc<str>) = (
        spec.tenant_id.as_str().into(),
        spec.dataset_id.as_str().into(),
    );
    let attached = runtime.pool.attach(group, |worker| {
        let mut decoder =
            InputDecoder::with_flow_limits(spec.decoder, policy.max_rows.min(8192), flow_limits);
        let mut restored = 0;
        for (path, bytes) in &saved_templates {
            match decoder.restore_templates(bytes) {
                Some(Ok(count)) => restored += count,
                Some(Err(error)) => tracing::warn!(
                    "dataset {}/{}: ignoring {}: {error}",
                    spec.tenant_id,
                    spec.dataset_id,
                    path.display()
                ),
                None => {}
            }
        }
        if worker == 0 && restored > 0 {
            tracing::info!(
                "dataset {}/{}: restored {restored} flow templates from {}",
                spec.tenant_id,
                spec.dataset_id,
                templates_dir.display()
            );
        }
        let template_file = (spec.decoder == DecoderKind::Flow).then(|| {
            templates_dir.join(format!(
                "{}.{}.w{worker}.bft",
                spec.tenant_id, spec.dataset_id
            ))
        });
        Box::new(InputSink::new(
            SinkSettings {
                tenant_id: tenant_id.clone(),
                dataset_id: dataset_id.clone(),
                policy,
                max_age,
                template_file,
            },
            decoder,
            runtime.writers.batches(),
            runtime.writers.templates(),
            registry,
        ))
    });
    let id = match attached {
        Ok(id) => id,
        Err(error) => {
            tracing::error!("dataset {}/{}: {error}", spec.tenant_id, spec.dataset_id);
            forget_input();
            return;
        }
    };
    up.set(1);
    tracing::info!(
        "dataset {}/{}: listening on udp://{} ({} workers, {})",
        spec.tenant_id,
        spec.dataset_id,
        spec.bind,
        runtime.pool.workers(),
        runtime.pool.backend()
    );
    stopped(&mut stop).await;
    let pool = runtime.pool.clone();
    let _ = tokio::task::spawn_blocking(move || pool.detach(id).wait()).await;
    forget_input();
    tracing::info!(
        "dataset {}/{}: stopped listening on udp://{}",
        spec.tenant_id,
        spec.dataset_id,
        spec.bind
    );
}

/// The largest template file a decoder within `limits` can write: 8 bytes a template field
/// (each costs at least that in memory) and under 32 bytes an options entry. Larger files were
/// not written by this proxy's settings and are skipped unread.
fn saved_file_limit(limits: &FlowLimits) -> u64 {
    (limits.max_template_bytes as u64)
        .saturating_add((limits.max_options_entries as u64).saturating_mul(32))
        .saturating_add(64)
}

/// Every template file of the dataset (one per worker, and the single file older versions
/// wrote), oldest first, so the newest copy of a template wins when a worker loads them all:
/// after a restart an exporter may land on a different worker. Each worker restores them all
/// within its own limits (`[proxy.flow]`), so what it restores is bounded by
/// `max_template_bytes` however many files there are; files over `max_bytes` are skipped.
async fn read_saved_templates(
    folder: &Path,
    spec: &InputSpec,
    max_bytes: u64,
) -> Vec<(PathBuf, Vec<u8>)> {
    let prefix = format!("{}.{}.", spec.tenant_id, spec.dataset_id);
    let Ok(mut entries) = tokio::fs::read_dir(folder).await else {
        return Vec::new();
    };
    let mut files = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let ours = rest == "bft"
            || rest
                .strip_prefix('w')
                .and_then(|rest| rest.strip_suffix(".bft"))
                .is_some_and(|worker| worker.parse::<usize>().is_ok());
        if !ours {
            continue;
        }
        let Ok(meta) = entry.metadata().await else {
            continue;
        };
        if meta.len() > max_bytes {
            tracing::warn!(
                "dataset {}/{}: ignoring {}: {} bytes, more than the {max_bytes} the [proxy.flow] \
                 template limits can save",
                spec.tenant_id,
                spec.dataset_id,
                entry.path().display(),
                meta.len()
            );
            continue;
        }
        let modified = meta.modified().ok();
        if let Ok(bytes) = tokio::fs::read(entry.path()).await {
            files.push((modified, entry.path(), bytes));
        }
    }
    files.sort_by_key(|(modified, _, _)| *modified);
    files
        .into_iter()
        .map(|(_, path, bytes)| (path, bytes))
        .collect()
}

/// Resolves once the input is asked to stop (or its owner is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
