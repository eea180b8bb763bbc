//! The TOML file each role reads (`bytefreezer ROLE --config FILE`). Unknown keys are errors so
//! a typo never silently falls back to a default. Every key and its default is documented in
//! `deploy/config/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bytefreezer_packer::PackerConfig;
use bytefreezer_piper::PiperConfig;
use bytefreezer_proxy::ProxyConfig;
use bytefreezer_receiver::ReceiverConfig;
use bytefreezer_storage::StorageConfig;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config_source::DatasetSourceConfig;

fn default_data_dir() -> PathBuf {
    PathBuf::from("bytefreezer-data")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyFile {
    /// Instance id and the cached control-plane configuration.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `/healthz`, `/readyz` and `/metrics`. Default 127.0.0.1:9101.
    #[serde(default = "default_proxy_metrics")]
    pub metrics_listen: SocketAddr,
    pub datasets: DatasetSourceConfig,
    pub proxy: ProxyConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverFile {
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `/healthz`, `/readyz`, `/metrics` and `/activity`, apart from the public ingest listener.
    /// Default 127.0.0.1:9102.
    #[serde(default = "default_receiver_metrics")]
    pub metrics_listen: SocketAddr,
    pub datasets: DatasetSourceConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub receiver: ReceiverConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiperFile {
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Default 127.0.0.1:9103.
    #[serde(default = "default_piper_metrics")]
    pub metrics_listen: SocketAddr,
    pub datasets: DatasetSourceConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub piper: PiperConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackerFile {
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Default 127.0.0.1:9104.
    #[serde(default = "default_packer_metrics")]
    pub metrics_listen: SocketAddr,
    pub datasets: DatasetSourceConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub packer: PackerConfig,
}

fn default_proxy_metrics() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9101))
}
fn default_receiver_metrics() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9102))
}
fn default_piper_metrics() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9103))
}
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryFile {
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Default 127.0.0.1:9105.
    #[serde(default = "default_query_metrics")]
    pub metrics_listen: SocketAddr,
    pub datasets: DatasetSourceConfig,
    /// The bucket holding the Parquet: the packer's.
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub query: bytefreezer_query::QueryConfig,
}

fn default_query_metrics() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9105))
}

fn default_packer_metrics() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9104))
}

/// The keys every role file has, which the common start-up reads (`roles::RoleProcess`).
pub struct RoleBasics<'a> {
    pub data_dir: &'a Path,
    pub metrics_listen: SocketAddr,
    pub datasets: &'a DatasetSourceConfig,
}

/// A role's file. The common keys are repeated in each file type rather than flattened into
/// one struct because serde's `flatten` switches off `deny_unknown_fields`.
pub trait RoleFile {
    fn basics(&self) -> RoleBasics<'_>;
    /// Reads the keys given as files (`api_key_file`) into the configuration.
    fn read_secret_files(&mut self) -> Result<()>;
}

macro_rules! role_files {
    ($($file:ty $(=> $own_secrets:expr)?),+) => {$(
        impl RoleFile for $file {
            fn basics(&self) -> RoleBasics<'_> {
                RoleBasics {
                    data_dir: &self.data_dir,
                    metrics_listen: self.metrics_listen,
                    datasets: &self.datasets,
                }
            }

            fn read_secret_files(&mut self) -> Result<()> {
                self.datasets.read_secret_files()?;
                $( ($own_secrets)(self)?; )?
                Ok(())
            }
        }
    )+};
}

role_files!(
    ProxyFile => proxy_key_file,
    ReceiverFile,
    PiperFile,
    PackerFile,
    QueryFile
);

/// The proxy's own key, besides the one its datasets are read with.
fn proxy_key_file(file: &mut ProxyFile) -> Result<()> {
    let proxy = &mut file.proxy;
    crate::secret_file::read_into(
        &mut proxy.api_key,
        proxy.api_key_file.as_deref(),
        "[proxy] api_key",
    )
}

/// A role's file with its secret files read: what a role starts on.
pub fn load_role<T: DeserializeOwned + RoleFile>(path: &Path) -> Result<T> {
    let mut file: T = load(path)?;
    file.read_secret_files()
        .with_context(|| format!("configuration {}", path.display()))?;
    Ok(file)
}

pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/config")
            .join(name)
    }

    #[test]
    fn documented_example_configurations_load() {
        load::<ProxyFile>(&example("proxy.toml")).unwrap();
        load::<ReceiverFile>(&example("receiver.toml")).unwrap();
        load::<PiperFile>(&example("piper.toml")).unwrap();
        load::<PackerFile>(&example("packer.toml")).unwrap();
        load::<QueryFile>(&example("query.toml")).unwrap();
        let datasets = std::fs::read_to_string(example("datasets.toml")).unwrap();
        let datasets: bytefreezer_api::DataPlaneConfig = toml::from_str(&datasets).unwrap();
        assert_eq!(datasets.datasets.len(), 2);
        assert_eq!(datasets.datasets[1].source.plugin_name(), "netflow");
    }

    /// The files deploy/compose and deploy/k8s mount into their containers: each role's
    /// parses, reads its datasets from the control plane and its keys from the mounted secret.
    #[test]
    fn container_configurations_load_and_read_keys_from_secret_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        for folder in ["compose/config", "k8s/config"] {
            let file = |role: &str| root.join(folder).join(format!("{role}.toml"));
            let proxy = load::<ProxyFile>(&file("proxy")).unwrap();
            assert!(proxy.proxy.api_key.is_empty() && proxy.proxy.api_key_file.is_some());
            let datasets = [
                proxy.datasets,
                load::<ReceiverFile>(&file("receiver")).unwrap().datasets,
                load::<PiperFile>(&file("piper")).unwrap().datasets,
                load::<PackerFile>(&file("packer")).unwrap().datasets,
                load::<QueryFile>(&file("query")).unwrap().datasets,
            ];
            for source in datasets {
                assert!(
                    matches!(
                        source,
                        DatasetSourceConfig::Control { ref api_key, api_key_file: Some(_), .. }
                            if api_key.is_empty()
                    ),
                    "{folder}: {source:?}"
                );
            }
        }
    }

    #[test]
    fn a_role_file_reads_its_keys_from_files_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("api-key");
        std::fs::write(&key, "bf_from_a_secret\n").unwrap();
        let config = dir.path().join("proxy.toml");
        std::fs::write(
            &config,
            format!(
                "datasets = {{ kind = \"control\", url = \"http://control:8000\", api_key_file = \"{key}\" }}\n\
                 [proxy]\nreceiver_url = \"http://receiver:8081\"\napi_key_file = \"{key}\"\n\
                 spool_dir = \"{spool}\"\n",
                key = key.display(),
                spool = dir.path().join("spool").display()
            ),
        )
        .unwrap();
        let file = load_role::<ProxyFile>(&config).unwrap();
        assert_eq!(file.proxy.api_key, "bf_from_a_secret");
        let DatasetSourceConfig::Control { api_key, .. } = &file.datasets else {
            panic!("a control source");
        };
        assert_eq!(api_key, "bf_from_a_secret");

        std::fs::remove_file(&key).unwrap();
        let error = load_role::<ProxyFile>(&config).unwrap_err();
        assert!(
            format!("{error:#}").contains("api_key_file: cannot read"),
            "{error:#}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let error = toml::from_str::<PiperFile>(
            "datasets = { kind = \"file\", path = \"d.toml\" }\n[piper]\npoll_intervall_ms = 5\n",
        )
        .unwrap_err();
        assert!(error.to_string().contains("poll_intervall_ms"), "{error}");
    }
}
