//! Where a data-side service learns its datasets and ingest keys: a file next to its config,
//! the control plane's API, or (inside `up`) the control store itself. Each source feeds one
//! `watch` channel that components observe.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytefreezer_api::DataPlaneConfig;
use bytefreezer_control_store::ControlStore;
use bytefreezer_telemetry::Shutdown;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub type ConfigWatch = watch::Receiver<Arc<DataPlaneConfig>>;

/// `[datasets]` in a role's TOML.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DatasetSourceConfig {
    /// A TOML or JSON file with `datasets` and `ingest_keys`, re-read when it changes.
    File { path: PathBuf },
    /// The control plane's `GET /api/v1/dataplane/config`: long-polled, so a change arrives
    /// about a second after it is saved, with plain polls when long-poll does not get through.
    Control {
        url: String,
        /// A key of the account or tenant whose datasets this role serves; or `api_key_file`.
        #[serde(default)]
        api_key: String,
        /// A file holding the key (a Docker or Kubernetes secret), read at start.
        #[serde(default)]
        api_key_file: Option<PathBuf>,
        /// Seconds between plain polls when long-poll fails (default 30).
        #[serde(default = "default_poll_secs")]
        poll_interval_secs: u64,
        /// Wait for changes on the server (default true). Turn off behind proxies that cut
        /// requests idle for a few seconds.
        #[serde(default = "default_long_poll")]
        long_poll: bool,
    },
}

impl DatasetSourceConfig {
    /// Reads `api_key_file` into `api_key`.
    pub fn read_secret_files(&mut self) -> Result<()> {
        if let DatasetSourceConfig::Control {
            api_key,
            api_key_file,
            ..
        } = self
        {
            crate::secret_file::read_into(api_key, api_key_file.as_deref(), "[datasets] api_key")?;
        }
        Ok(())
    }
}

fn default_poll_secs() -> u64 {
    30
}

fn default_long_poll() -> bool {
    true
}

/// How long one long-poll request waits on the server; the HTTP timeout is longer.
const LONG_POLL_SECS: u64 = 25;

/// Who is asking, for the control plane: a proxy gets only the datasets assigned to it (and
/// the unassigned ones). The last configuration is cached in `cache`, so a restart while the
/// control plane is down runs on it.
pub struct Requester<'a> {
    pub proxy_instance: Option<&'a str>,
    pub cache: &'a Path,
}

/// Loads the first snapshot (failing clearly when it cannot) and keeps it fresh in the background.
pub async fn start(
    config: &DatasetSourceConfig,
    requester: Requester<'_>,
    shutdown: Shutdown,
) -> Result<ConfigWatch> {
    match config {
        DatasetSourceConfig::File { path } => {
            let first = read_file(path)?;
            let (sender, receiver) = watch::channel(Arc::new(first));
            tokio::spawn(watch_file(path.clone(), sender, shutdown));
            Ok(receiver)
        }
        DatasetSourceConfig::Control {
            url,
            api_key,
            poll_interval_secs,
            long_poll,
            ..
        } => {
            let client = ControlClient::new(url, api_key, requester.proxy_instance)?;
            let cache = requester.cache.to_owned();
            let (first, etag) = match client.fetch(None, 0).await {
                Ok(Some((config, etag))) => {
                    write_cache(&cache, &config);
                    (config, etag)
                }
                Ok(None) => bail!("control plane answered 304 to a first request"),
                Err(error) => match read_cache(&cache) {
                    Some(config) => {
                        tracing::warn!(
                            "{error:#}; running on the configuration cached in {} until it answers",
                            cache.display()
                        );
                        (config, None)
                    }
                    None => {
                        return Err(error.context(format!(
                            "and no cached configuration at {} to fall back on",
                            cache.display()
                        )));
                    }
                },
            };
            let (sender, receiver) = watch::channel(Arc::new(first));
            let polling = Polling {
                interval: Duration::from_secs((*poll_interval_secs).max(1)),
                long_poll: *long_poll,
                cache,
            };
            tokio::spawn(poll_control(client, etag, polling, sender, shutdown));
            Ok(receiver)
        }
    }
}

fn read_cache(path: &Path) -> Option<DataPlaneConfig> {
    let text = std::fs::read(path).ok()?;
    match serde_json::from_slice(&text) {
        Ok(config) => Some(config),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "ignoring an unreadable configuration cache");
            None
        }
    }
}

/// Replaces the cache atomically, so a crash mid-write leaves the previous one.
fn write_cache(path: &Path, config: &DataPlaneConfig) {
    let written = (|| -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, serde_json::to_vec(config)?)?;
        std::fs::rename(&temporary, path)
    })();
    if let Err(error) = written {
        tracing::warn!(path = %path.display(), %error, "cannot cache the configuration");
    }
}

/// How often `up` re-reads its own store: a paused dataset's port closes well within 2 s.
const STORE_POLL: Duration = Duration::from_millis(500);

/// Inside `up`: the store is in the same process, so it is polled directly and often.
pub async fn from_store(store: ControlStore, shutdown: Shutdown) -> Result<ConfigWatch> {
    let first = store.dataplane_config().await?;
    let (sender, receiver) = watch::channel(Arc::new(first));
    tokio::spawn(async move {
        let mut shutdown = shutdown;
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(STORE_POLL) => {}
            }
            match store.dataplane_config().await {
                Ok(config) => publish(&sender, config),
                Err(error) => {
                    tracing::warn!(%error, "cannot read dataset configuration from the control store; keeping the last one")
                }
            }
        }
    });
    Ok(receiver)
}

fn publish(sender: &watch::Sender<Arc<DataPlaneConfig>>, config: DataPlaneConfig) {
    sender.send_if_modified(|current| {
        if **current == config {
            false
        } else {
            *current = Arc::new(config);
            true
        }
    });
}

fn read_file(path: &Path) -> Result<DataPlaneConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read dataset file {}", path.display()))?;
    let config: DataPlaneConfig = if path.extension().is_some_and(|ext| ext == "json") {
        serde_json::from_str(&text)
            .with_context(|| format!("invalid dataset file {}", path.display()))?
    } else {
        toml::from_str(&text).with_context(|| format!("invalid dataset file {}", path.display()))?
    };
    for dataset in &config.datasets {
        bytefreezer_layout::validate_identifier("tenant_id", &dataset.tenant_id)?;
        bytefreezer_layout::validate_identifier("dataset_id", &dataset.dataset_id)?;
    }
    Ok(config)
}

async fn watch_file(
    path: PathBuf,
    sender: watch::Sender<Arc<DataPlaneConfig>>,
    mut shutdown: Shutdown,
) {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut last_modified = modified(&path);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let now = modified(&path);
        if now == last_modified {
            continue;
        }
        last_modified = now;
        match read_file(&path) {
            Ok(config) => {
                tracing::info!(path = %path.display(), "dataset file changed; applying it");
                publish(&sender, config);
            }
            Err(error) => tracing::error!("{error:#}; keeping the previous datasets"),
        }
    }
}

struct ControlClient {
    http: reqwest::Client,
    endpoint: String,
    api_key: String,
    proxy: Option<String>,
}

impl ControlClient {
    fn new(url: &str, api_key: &str, proxy: Option<&str>) -> Result<ControlClient> {
        if api_key.is_empty() {
            bail!("[datasets] kind = \"control\" needs an api_key (or api_key_file)");
        }
        Ok(ControlClient {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(LONG_POLL_SECS + 15))
                .build()
                .context("cannot build the HTTP client")?,
            endpoint: format!("{}/api/v1/dataplane/config", url.trim_end_matches('/')),
            api_key: api_key.to_owned(),
            proxy: proxy.map(str::to_owned),
        })
    }

    /// `None` when the configuration did not change since `etag` (within `wait_secs`).
    async fn fetch(
        &self,
        etag: Option<&str>,
        wait_secs: u64,
    ) -> Result<Option<(DataPlaneConfig, Option<String>)>> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(proxy) = &self.proxy {
            query.push(("proxy", proxy.clone()));
        }
        if wait_secs > 0 && etag.is_some() {
            query.push(("wait", wait_secs.to_string()));
        }
        let mut request = self
            .http
            .get(&self.endpoint)
            .query(&query)
            .bearer_auth(&self.api_key);
        if let Some(etag) = etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the control plane at {}", self.endpoint))?;
        if response.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            bail!("control plane {} answered {status}: {body}", self.endpoint);
        }
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let config = response
            .json::<DataPlaneConfig>()
            .await
            .context("control plane sent an unreadable configuration")?;
        Ok(Some((config, etag)))
    }
}

struct Polling {
    interval: Duration,
    long_poll: bool,
    cache: PathBuf,
}

/// Long-polls while that works; after a failure it waits one plain interval, so a control
/// plane that is down is asked every `interval`, not in a tight loop.
async fn poll_control(
    client: ControlClient,
    mut etag: Option<String>,
    polling: Polling,
    sender: watch::Sender<Arc<DataPlaneConfig>>,
    mut shutdown: Shutdown,
) {
    let mut healthy = polling.long_poll;
    loop {
        if !healthy {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(polling.interval) => {}
            }
        }
        let wait = if polling.long_poll { LONG_POLL_SECS } else { 0 };
        let outcome = tokio::select! {
            _ = shutdown.wait() => return,
            outcome = client.fetch(etag.as_deref(), wait) => outcome,
        };
        match outcome {
            Ok(Some((config, new_etag))) => {
                etag = new_etag;
                write_cache(&polling.cache, &config);
                publish(&sender, config);
                healthy = polling.long_poll;
            }
            Ok(None) => healthy = polling.long_poll,
            Err(error) => {
                tracing::warn!("{error:#}; keeping the previous datasets");
                healthy = false;
            }
        }
    }
}
