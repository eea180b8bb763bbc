//! The stages built one way, whether `up` runs them side by side in one process or each
//! single-role command runs one alone: same constructor arguments, same registry and dataset
//! feed, same heartbeat contents per role. What differs between the two (one shutdown for
//! all, or one per process; ports; start-up order) stays with the caller.

use std::path::PathBuf;

use anyhow::Result;
use bytefreezer_api::Role;
use bytefreezer_packer::{Packer, PackerConfig};
use bytefreezer_piper::{Piper, PiperConfig};
use bytefreezer_proxy::{Proxy, ProxyConfig};
use bytefreezer_receiver::{Receiver, ReceiverConfig};
use bytefreezer_storage::{Bucket, Buckets};
use bytefreezer_telemetry::{Readiness, Registry};

use crate::config_source::ConfigWatch;
use crate::reporter::Reporter;

/// What every stage is built from.
#[derive(Clone)]
pub struct StageContext {
    /// This process's instance id (piper and packer name their leases and files with it).
    pub instance: String,
    /// Where the instance id, cached configuration and heartbeat state live.
    pub data_dir: PathBuf,
    pub registry: Registry,
    pub datasets: ConfigWatch,
}

impl StageContext {
    pub fn proxy(&self, config: ProxyConfig) -> Result<Proxy> {
        Proxy::new(config, self.datasets.clone(), self.registry.clone())
    }

    pub fn receiver(&self, config: ReceiverConfig, intake: Bucket) -> Receiver {
        Receiver::new(config, intake, self.datasets.clone(), self.registry.clone())
    }

    pub fn piper(&self, config: PiperConfig, buckets: Buckets) -> Result<Piper> {
        Piper::new(
            config,
            buckets,
            self.datasets.clone(),
            self.instance.clone(),
            self.registry.clone(),
        )
    }

    pub fn packer(&self, config: PackerConfig, buckets: Buckets) -> Packer {
        Packer::new(
            config,
            buckets,
            self.datasets.clone(),
            self.instance.clone(),
            self.registry.clone(),
        )
    }

    /// The heartbeat of one role. `up` gives each role its own id under the process's
    /// instance, so the services list shows each role, as separate processes would.
    pub fn reporter(&self, role: Role, instance_id: String, readiness: Readiness) -> Reporter {
        Reporter::new(
            role,
            instance_id,
            self.registry.clone(),
            readiness,
            self.data_dir.clone(),
        )
    }
}

/// What a packer's heartbeat carries beyond the common fields: the partitions it is still
/// accumulating and whether each of its buckets takes writes.
pub fn packer_reporter(reporter: Reporter, packer: &Packer) -> Reporter {
    reporter
        .with_open_partitions(packer.open_partitions())
        .with_destination_probes(packer.destination_probes())
}
