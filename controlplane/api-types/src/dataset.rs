use std::net::SocketAddr;

use bytefreezer_transform::PipelineSpec;
use serde::{Deserialize, Serialize};

/// Everything a data-side service needs to know about one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub tenant_id: String,
    pub dataset_id: String,
    #[serde(default)]
    pub name: String,
    pub source: SourceSpec,
    #[serde(default)]
    pub pipeline: PipelineSpec,
    /// Testing mode: packer flushes every cycle instead of accumulating large files.
    #[serde(default)]
    pub testing: bool,
    /// Paused datasets disappear from proxy configuration; data already in flight finishes.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// When packer closes this dataset's Parquet files, if not the packer's own defaults.
    #[serde(default, skip_serializing_if = "PackerThresholds::is_unset")]
    pub packer: PackerThresholds,
    /// Where its Parquet goes, if not the packer bucket at the standard path.
    #[serde(default, skip_serializing_if = "Destination::is_default")]
    pub destination: Destination,
}

/// A dataset's Parquet destination: one of the buckets the packer has configured under
/// `[packer.destinations]` (default: the packer bucket) and a key prefix before
/// `{tenant}/{dataset}/data/parquet/...`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Slash-separated segments of lowercase letters, digits, `.`, `_` and `-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl Destination {
    pub fn is_default(&self) -> bool {
        self.bucket.is_none() && self.prefix.is_none()
    }

    /// The field and reason of the first invalid value.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        let segment_ok = |segment: &str| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        };
        if let Some(bucket) = &self.bucket
            && (bucket.len() > 64 || !segment_ok(bucket) || bucket.contains('.'))
        {
            return Err((
                "destination.bucket",
                "a name of lowercase letters, digits, '_' and '-' (at most 64)",
            ));
        }
        if let Some(prefix) = &self.prefix
            && (prefix.len() > 200 || !prefix.split('/').all(segment_ok))
        {
            return Err((
                "destination.prefix",
                "slash-separated segments of lowercase letters, digits, '.', '_' and '-', no '..', at most 200 characters",
            ));
        }
        Ok(())
    }
}

/// Per-dataset overrides of packer's `max_file_bytes` and `max_age_secs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackerThresholds {
    /// Close a file once this many bytes of input wait (at least 1 MiB, at most 4 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_bytes: Option<u64>,
    /// Close a file once its oldest input is this old (1 s to 1 day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u64>,
}

impl PackerThresholds {
    pub fn is_unset(&self) -> bool {
        self.max_file_bytes.is_none() && self.max_age_secs.is_none()
    }

    /// The field and reason of the first value out of range.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if let Some(bytes) = self.max_file_bytes
            && !(1 << 20..=4 << 30).contains(&bytes)
        {
            return Err(("packer.max_file_bytes", "must be between 1 MiB and 4 GiB"));
        }
        if let Some(secs) = self.max_age_secs
            && !(1..=86_400).contains(&secs)
        {
            return Err(("packer.max_age_secs", "must be between 1 and 86400 seconds"));
        }
        Ok(())
    }
}

fn active_by_default() -> bool {
    true
}

/// The input plugin of a dataset and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "plugin", content = "settings", rename_all = "snake_case")]
pub enum SourceSpec {
    Syslog(SyslogSourceSettings),
    /// NetFlow v5 and v9 over UDP (IPFIX is accepted too, as many exporters mix them).
    Netflow(FlowSourceSettings),
    /// IPFIX over UDP (RFC 7011).
    Ipfix(FlowSourceSettings),
    /// sFlow version 5 over UDP.
    Sflow(FlowSourceSettings),
}

impl SourceSpec {
    pub fn plugin_name(&self) -> &'static str {
        match self {
            SourceSpec::Syslog(_) => "syslog",
            SourceSpec::Netflow(_) => "netflow",
            SourceSpec::Ipfix(_) => "ipfix",
            SourceSpec::Sflow(_) => "sflow",
        }
    }

    /// The UDP address the proxy listens on for this dataset.
    pub fn bind(&self) -> SocketAddr {
        match self {
            SourceSpec::Syslog(settings) => settings.bind,
            SourceSpec::Netflow(settings)
            | SourceSpec::Ipfix(settings)
            | SourceSpec::Sflow(settings) => settings.bind,
        }
    }

    pub fn set_bind(&mut self, bind: SocketAddr) {
        match self {
            SourceSpec::Syslog(settings) => settings.bind = bind,
            SourceSpec::Netflow(settings)
            | SourceSpec::Ipfix(settings)
            | SourceSpec::Sflow(settings) => settings.bind = bind,
        }
    }
}

/// Settings of the flow plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSourceSettings {
    /// UDP address the proxy listens on (exporters usually send to 2055 for NetFlow, 4739 for
    /// IPFIX). Required.
    pub bind: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSourceSettings {
    /// Address the proxy listens on. Default `0.0.0.0:5514`.
    #[serde(default = "default_syslog_bind")]
    pub bind: SocketAddr,
    #[serde(default)]
    pub transport: SyslogTransport,
    /// Lift a JSON object or `key=value` pairs in the message body into columns, as piper's
    /// first step. Default on.
    #[serde(default = "lift_by_default")]
    pub lift_message_fields: bool,
}

impl Default for SyslogSourceSettings {
    fn default() -> Self {
        SyslogSourceSettings {
            bind: default_syslog_bind(),
            transport: SyslogTransport::default(),
            lift_message_fields: true,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogTransport {
    #[default]
    Udp,
}

fn default_syslog_bind() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 5514))
}

fn lift_by_default() -> bool {
    true
}
