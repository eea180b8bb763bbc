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
    /// The control plane's `GET /api/v1/dataplane/config`, polled with If-None-Match.
    Control {
        url: String,
        api_key: String,
        /// Seconds between polls. Default 2: an unchanged configuration costs one 304, and a
        /// saved pipeline must reach new data within seconds.
        #[serde(default = "default_poll_secs")]
        poll_interval_secs: u64,
    },
}

fn default_poll_secs() -> u64 {
    2
}

/// Loads the first snapshot (failing clearly when it cannot) and keeps it fresh in the background.
pub async fn start(config: &DatasetSourceConfig, shutdown: Shutdown) -> Result<ConfigWatch> {
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
        } => {
            let client = ControlClient::new(url, api_key)?;
            let (first, etag) = client
                .fetch(None)
                .await?
                .context("control plane answered 304 to a first request")?;
            let (sender, receiver) = watch::channel(Arc::new(first));
            let interval = Duration::from_secs((*poll_interval_secs).max(1));
            tokio::spawn(poll_control(client, etag, interval, sender, shutdown));
            Ok(receiver)
        }
    }
}

/// Inside `up`: the store is in the same process, so it is polled directly and often.
pub async fn from_store(store: ControlStore, shutdown: Shutdown) -> Result<ConfigWatch> {
    let first = store.dataplane_config().await?;
    let (sender, receiver) = watch::channel(Arc::new(first));
    tokio::spawn(async move {
        let mut shutdown = shutdown;
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
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
}

impl ControlClient {
    fn new(url: &str, api_key: &str) -> Result<ControlClient> {
        if api_key.is_empty() {
            bail!("[datasets] kind = \"control\" needs an api_key");
        }
        Ok(ControlClient {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .context("cannot build the HTTP client")?,
            endpoint: format!("{}/api/v1/dataplane/config", url.trim_end_matches('/')),
            api_key: api_key.to_owned(),
        })
    }

    /// `None` when the configuration did not change since `etag`.
    async fn fetch(&self, etag: Option<&str>) -> Result<Option<(DataPlaneConfig, Option<String>)>> {
        let mut request = self.http.get(&self.endpoint).bearer_auth(&self.api_key);
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

async fn poll_control(
    client: ControlClient,
    mut etag: Option<String>,
    interval: Duration,
    sender: watch::Sender<Arc<DataPlaneConfig>>,
    mut shutdown: Shutdown,
) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        match client.fetch(etag.as_deref()).await {
            Ok(Some((config, new_etag))) => {
                etag = new_etag;
                publish(&sender, config);
            }
            Ok(None) => {}
            Err(error) => tracing::warn!("{error:#}; keeping the previous datasets"),
        }
    }
}
