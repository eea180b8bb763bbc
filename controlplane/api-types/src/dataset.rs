use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::ebpf_source::EbpfSourceSettings;
use crate::filter_type::FilterType;
use crate::kafka_source::KafkaSourceSettings;
use crate::nats_source::NatsSourceSettings;
use crate::pipeline::PipelineSpec;
use crate::sqs_source::SqsSourceSettings;

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

impl Destination {
    /// [`Destination::validate`], then that the prefix stays in the dataset's own namespace:
    /// the folder `{prefix}/{tenant}/{dataset}/data/parquet/` must not lie inside another
    /// dataset's Parquet folder (readers list theirs recursively, so foreign files there would
    /// poison its schema inference and queries), and the prefix must not enter the pipeline's
    /// internal `_`-prefixed objects (leases, plans).
    pub fn validate_for(
        &self,
        tenant_id: &str,
        dataset_id: &str,
    ) -> Result<(), (&'static str, &'static str)> {
        self.validate()?;
        let Some(prefix) = &self.prefix else {
            return Ok(());
        };
        if prefix.starts_with('_') {
            return Err((
                "destination.prefix",
                "must not start with '_', which is reserved for the pipeline's own objects",
            ));
        }
        let segments: Vec<&str> = prefix
            .split('/')
            .chain([tenant_id, dataset_id, PARQUET_FOLDER[0], PARQUET_FOLDER[1]])
            .collect();
        let last = segments.len() - 2;
        let nested = segments
            .windows(2)
            .enumerate()
            .any(|(index, pair)| index != last && pair == PARQUET_FOLDER);
        if nested {
            return Err((
                "destination.prefix",
                "must not contain 'data/parquet': it would place this dataset's files inside another dataset's Parquet folder",
            ));
        }
        Ok(())
    }

    /// The prefix's first segment, the one that could name another tenant's folder.
    pub fn prefix_root(&self) -> Option<&str> {
        self.prefix
            .as_deref()
            .and_then(|prefix| prefix.split('/').next())
    }
}

/// The two segments that end every dataset's Parquet folder (`{tenant}/{dataset}/data/parquet/`).
const PARQUET_FOLDER: [&str; 2] = ["data", "parquet"];

/// Whether two UDP listen addresses receive each other's datagrams: the same port and the same
/// address, or a wildcard (`0.0.0.0`, or `[::]`, which the proxy opens dual-stack) covering the
/// other. IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
pub fn binds_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() != b.port() {
        return false;
    }
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let (a, b) = (canonical(a.ip()), canonical(b.ip()));
    let covers = |wildcard: IpAddr, other: IpAddr| match wildcard {
        IpAddr::V6(v6) if v6.is_unspecified() => true,
        IpAddr::V4(v4) if v4.is_unspecified() => other.is_ipv4(),
        _ => false,
    };
    a == b || covers(a, b) || covers(b, a)
}

/// Filter settings that hold secrets, as `(filter type, config key)`: redacted for readers who
/// may not change the pipeline and in the audit log. A test in `bytefreezer-transform`'s catalog
/// holds this list equal to the settings the filter catalog describes as secret.
pub const SECRET_FILTER_SETTINGS: &[(FilterType, &str)] = &[(FilterType::Hash, "key")];

/// What a redacted secret reads as.
pub const REDACTED: &str = "[redacted]";

/// The pipeline with every secret setting replaced by [`REDACTED`].
pub fn redact_pipeline(pipeline: &PipelineSpec) -> PipelineSpec {
    let mut redacted = pipeline.clone();
    for filter in &mut redacted.filters {
        for (kind, setting) in SECRET_FILTER_SETTINGS {
            if filter.kind == kind.as_str()
                && let Some(value) = filter.config.get_mut(*setting)
                && !value.is_null()
            {
                *value = serde_json::Value::String(REDACTED.to_owned());
            }
        }
    }
    redacted
}

impl DatasetSpec {
    /// The spec with its secrets redacted: the pipeline's (see [`redact_pipeline`]), an
    /// `http` source's token, a `nats` source's token, password and any password in its URL, an
    /// `sqs` source's secret access key and session token.
    pub fn redacted(&self) -> DatasetSpec {
        let mut source = self.source.clone();
        let redact = |secret: &mut Option<String>| {
            if secret.is_some() {
                *secret = Some(REDACTED.to_owned());
            }
        };
        match &mut source {
            SourceSpec::Http(settings) => redact(&mut settings.token),
            SourceSpec::Nats(settings) => {
                redact(&mut settings.token);
                redact(&mut settings.password);
                settings.url = redact_url_passwords(&settings.url);
            }
            SourceSpec::Sqs(settings) => {
                redact(&mut settings.secret_access_key);
                redact(&mut settings.session_token);
            }
            _ => {}
        }
        DatasetSpec {
            pipeline: redact_pipeline(&self.pipeline),
            source,
            ..self.clone()
        }
    }
}

/// Server URLs (comma separated) with the password of any `user:password@` replaced.
fn redact_url_passwords(urls: &str) -> String {
    urls.split(',')
        .map(|url| match url.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                // `user:password@`, or a token alone before the `@`.
                Some((credentials, host)) => match credentials.split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:{REDACTED}@{host}"),
                    None => format!("{scheme}://{REDACTED}@{host}"),
                },
                None => url.to_owned(),
            },
            None => url.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
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
    /// Events posted over HTTP(S): JSON objects, arrays, NDJSON or text lines.
    Http(HttpSourceSettings),
    /// Events read from NATS subjects or a JetStream consumer, each message's body split as an
    /// `http` body is.
    Nats(NatsSourceSettings),
    /// Events read from an Amazon SQS queue (or a compatible server), each message's body
    /// split as an `http` body is; a message is deleted once its events are durable.
    Sqs(SqsSourceSettings),
    /// Events read from Kafka topics in a consumer group, each message's value split as an
    /// `http` body is; a partition's offset is committed once its messages are durable.
    Kafka(KafkaSourceSettings),
    /// Host telemetry from eBPF agents: NDJSON datagrams over UDP, typed by `record_type`
    /// (`docs/ebpf.md`).
    Ebpf(EbpfSourceSettings),
}

/// How a proxy receives a dataset's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl SourceSpec {
    pub fn plugin_name(&self) -> &'static str {
        match self {
            SourceSpec::Syslog(_) => "syslog",
            SourceSpec::Netflow(_) => "netflow",
            SourceSpec::Ipfix(_) => "ipfix",
            SourceSpec::Sflow(_) => "sflow",
            SourceSpec::Http(_) => "http",
            SourceSpec::Nats(_) => "nats",
            SourceSpec::Sqs(_) => "sqs",
            SourceSpec::Kafka(_) => "kafka",
            SourceSpec::Ebpf(_) => "ebpf",
        }
    }

    /// The address the proxy listens on for this dataset; none for an input that connects out
    /// to its source (`nats`, `sqs`, `kafka`).
    pub fn bind(&self) -> Option<SocketAddr> {
        match self {
            SourceSpec::Syslog(settings) => Some(settings.bind),
            SourceSpec::Netflow(settings)
            | SourceSpec::Ipfix(settings)
            | SourceSpec::Sflow(settings) => Some(settings.bind),
            SourceSpec::Http(settings) => Some(settings.bind),
            SourceSpec::Ebpf(settings) => Some(settings.bind),
            SourceSpec::Nats(_) | SourceSpec::Sqs(_) | SourceSpec::Kafka(_) => None,
        }
    }

    /// Moves a listening input to `bind`; false for an input that listens nowhere.
    pub fn set_bind(&mut self, bind: SocketAddr) -> bool {
        match self {
            SourceSpec::Syslog(settings) => settings.bind = bind,
            SourceSpec::Netflow(settings)
            | SourceSpec::Ipfix(settings)
            | SourceSpec::Sflow(settings) => settings.bind = bind,
            SourceSpec::Http(settings) => settings.bind = bind,
            SourceSpec::Ebpf(settings) => settings.bind = bind,
            SourceSpec::Nats(_) | SourceSpec::Sqs(_) | SourceSpec::Kafka(_) => return false,
        }
        true
    }

    pub fn transport(&self) -> Transport {
        match self {
            SourceSpec::Http(_)
            | SourceSpec::Nats(_)
            | SourceSpec::Sqs(_)
            | SourceSpec::Kafka(_) => Transport::Tcp,
            SourceSpec::Syslog(settings) if settings.transport != SyslogTransport::Udp => {
                Transport::Tcp
            }
            SourceSpec::Syslog(_)
            | SourceSpec::Netflow(_)
            | SourceSpec::Ipfix(_)
            | SourceSpec::Sflow(_)
            | SourceSpec::Ebpf(_) => Transport::Udp,
        }
    }

    /// Where senders send, as a URL: `udp://0.0.0.0:5514`, `tls://0.0.0.0:6514`,
    /// `https://0.0.0.0:8443/events`; for `nats`, the server and what is read from it
    /// (`nats://host:4222/logs.>`, `nats://host:4222/STREAM/consumer`); for `sqs`, the queue URL;
    /// for `kafka`, the first broker and the topics (`kafka://host:9092/logs,audit`).
    pub fn listen(&self) -> String {
        match self {
            SourceSpec::Syslog(settings) => {
                let scheme = match settings.transport {
                    SyslogTransport::Udp => "udp",
                    SyslogTransport::Tcp => "tcp",
                    SyslogTransport::Tls => "tls",
                };
                format!("{scheme}://{}", settings.bind)
            }
            SourceSpec::Http(settings) => {
                let scheme = if settings.tls_cert_file.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{}{}", settings.bind, settings.path)
            }
            SourceSpec::Nats(settings) => settings.label(),
            SourceSpec::Sqs(settings) => settings.label(),
            SourceSpec::Kafka(settings) => settings.label(),
            SourceSpec::Netflow(settings)
            | SourceSpec::Ipfix(settings)
            | SourceSpec::Sflow(settings) => format!("udp://{}", settings.bind),
            SourceSpec::Ebpf(settings) => format!("udp://{}", settings.bind),
        }
    }

    /// The field and reason of the first setting out of range.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        match self {
            SourceSpec::Syslog(settings) => settings.validate(),
            SourceSpec::Http(settings) => settings.validate(),
            SourceSpec::Nats(settings) => settings.validate(),
            SourceSpec::Sqs(settings) => settings.validate(),
            SourceSpec::Kafka(settings) => settings.validate(),
            SourceSpec::Netflow(_)
            | SourceSpec::Ipfix(_)
            | SourceSpec::Sflow(_)
            | SourceSpec::Ebpf(_) => Ok(()),
        }
    }

    /// Whether two datasets' inputs cannot both run on one proxy: their addresses overlap on
    /// one transport, unless both are HTTP on different paths (one listener serves both).
    /// Inputs that listen nowhere clash with nothing.
    pub fn clashes_with(&self, other: &SourceSpec) -> bool {
        let (Some(ours), Some(theirs)) = (self.bind(), other.bind()) else {
            return false;
        };
        if self.transport() != other.transport() || !binds_overlap(ours, theirs) {
            return false;
        }
        match (self, other) {
            (SourceSpec::Http(ours), SourceSpec::Http(theirs)) => {
                ours.bind != theirs.bind || ours.path == theirs.path || ours.tls() != theirs.tls()
            }
            _ => true,
        }
    }

    /// The plugin named `plugin` (as [`SourceSpec::plugin_name`] names it) listening on
    /// `bind` (where it listens), every other setting at its default; `None` for a plugin
    /// this build lacks.
    pub fn with_defaults(plugin: &str, bind: SocketAddr) -> Option<SourceSpec> {
        let flow = FlowSourceSettings { bind };
        [
            SourceSpec::Syslog(SyslogSourceSettings {
                bind,
                ..SyslogSourceSettings::default()
            }),
            SourceSpec::Netflow(flow.clone()),
            SourceSpec::Ipfix(flow.clone()),
            SourceSpec::Sflow(flow),
            SourceSpec::Http(HttpSourceSettings {
                bind,
                ..HttpSourceSettings::default()
            }),
            SourceSpec::Nats(NatsSourceSettings::default()),
            SourceSpec::Sqs(SqsSourceSettings::default()),
            SourceSpec::Kafka(KafkaSourceSettings::default()),
            SourceSpec::Ebpf(EbpfSourceSettings {
                bind,
                ..EbpfSourceSettings::default()
            }),
        ]
        .into_iter()
        .find(|source| source.plugin_name() == plugin)
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
    /// TCP and TLS: how the stream separates messages (RFC 6587).
    #[serde(default)]
    pub framing: SyslogFraming,
    /// TCP and TLS: a longer message is kept truncated to this (and counted). Default 64 KiB.
    #[serde(default = "default_syslog_max_message")]
    pub max_message_bytes: u32,
    /// TCP and TLS: connections open at once; more wait in the kernel's backlog. Default 1024.
    #[serde(default = "default_syslog_max_connections")]
    pub max_connections: u32,
    /// TCP and TLS: a connection that sends nothing this long is closed. Default 3600.
    #[serde(default = "default_syslog_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// TLS: PEM certificate chain and key on the proxy's host.
    #[serde(default)]
    pub tls_cert_file: Option<String>,
    #[serde(default)]
    pub tls_key_file: Option<String>,
    /// TLS: senders must present a certificate signed by one of these PEM CAs (RFC 5425's
    /// mutual authentication); none: any sender that completes the handshake.
    #[serde(default)]
    pub tls_client_ca_file: Option<String>,
}

impl Default for SyslogSourceSettings {
    fn default() -> Self {
        SyslogSourceSettings {
            bind: default_syslog_bind(),
            transport: SyslogTransport::default(),
            lift_message_fields: true,
            framing: SyslogFraming::default(),
            max_message_bytes: default_syslog_max_message(),
            max_connections: default_syslog_max_connections(),
            idle_timeout_secs: default_syslog_idle_timeout(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
        }
    }
}

/// The largest `max_message_bytes` a syslog dataset may set.
pub const SYSLOG_MAX_MESSAGE_LIMIT: u32 = 16 << 20;
/// The smallest: RFC 5424 receivers must accept messages of 480 bytes.
pub const SYSLOG_MIN_MESSAGE_LIMIT: u32 = 480;

impl SyslogSourceSettings {
    /// The certificate, key and client CA files, when the transport is TLS.
    pub fn tls(&self) -> Option<SyslogTls<'_>> {
        (self.transport == SyslogTransport::Tls).then_some(SyslogTls {
            cert_file: self.tls_cert_file.as_deref()?,
            key_file: self.tls_key_file.as_deref()?,
            client_ca_file: self.tls_client_ca_file.as_deref(),
        })
    }

    /// The field and reason of the first setting out of range.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if !(SYSLOG_MIN_MESSAGE_LIMIT..=SYSLOG_MAX_MESSAGE_LIMIT).contains(&self.max_message_bytes)
        {
            return Err((
                "source.settings.max_message_bytes",
                "must be between 480 bytes and 16 MiB",
            ));
        }
        if !(1..=65_536).contains(&self.max_connections) {
            return Err((
                "source.settings.max_connections",
                "must be between 1 and 65536",
            ));
        }
        if !(1..=86_400).contains(&self.idle_timeout_secs) {
            return Err((
                "source.settings.idle_timeout_secs",
                "must be between 1 and 86400 seconds",
            ));
        }
        let any_tls_file = self.tls_cert_file.is_some()
            || self.tls_key_file.is_some()
            || self.tls_client_ca_file.is_some();
        match self.transport {
            SyslogTransport::Tls if self.tls_cert_file.is_none() || self.tls_key_file.is_none() => {
                Err((
                    "source.settings.tls_cert_file",
                    "transport tls needs tls_cert_file and tls_key_file",
                ))
            }
            SyslogTransport::Udp | SyslogTransport::Tcp if any_tls_file => Err((
                "source.settings.transport",
                "the TLS files apply to transport tls only; set it, or remove them",
            )),
            _ => Ok(()),
        }
    }
}

/// The files of a syslog TLS listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyslogTls<'a> {
    pub cert_file: &'a str,
    pub key_file: &'a str,
    pub client_ca_file: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogTransport {
    #[default]
    Udp,
    /// RFC 6587: a stream of framed messages.
    Tcp,
    /// RFC 5425: the TCP stream inside TLS.
    Tls,
}

/// How a syslog stream separates messages (RFC 6587).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFraming {
    /// Per message: octet counting when it starts with `LEN SP`, newline-ended otherwise.
    #[default]
    Auto,
    /// `LEN SP MSG` (RFC 5425's framing).
    OctetCounting,
    /// Each message ends with a newline.
    NonTransparent,
}

/// Settings of the `http` plugin: one listener per address serves every dataset on it, each on
/// its own path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceSettings {
    /// TCP address the proxy listens on. Default `0.0.0.0:8080`.
    #[serde(default = "default_http_bind")]
    pub bind: SocketAddr,
    /// The path senders `POST` to, starting with `/`. Default `/`.
    #[serde(default = "default_http_path")]
    pub path: String,
    #[serde(default)]
    pub format: HttpBodyFormat,
    #[serde(default)]
    pub nested: NestedJson,
    /// Senders must send `Authorization: Bearer <token>`; none: anyone who reaches the port.
    #[serde(default)]
    pub token: Option<String>,
    /// Largest body, as sent or inflated (gzip, zstd). Default 10 MiB, at most 256 MiB.
    #[serde(default = "default_http_max_body")]
    pub max_body_bytes: u64,
    /// PEM certificate chain and key on the proxy's host: HTTPS instead of HTTP.
    #[serde(default)]
    pub tls_cert_file: Option<String>,
    #[serde(default)]
    pub tls_key_file: Option<String>,
}

impl Default for HttpSourceSettings {
    fn default() -> Self {
        HttpSourceSettings {
            bind: default_http_bind(),
            path: default_http_path(),
            format: HttpBodyFormat::default(),
            nested: NestedJson::default(),
            token: None,
            max_body_bytes: default_http_max_body(),
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

/// The largest `max_body_bytes` a dataset may set: a body is held whole while it is split into
/// events.
pub const HTTP_MAX_BODY_LIMIT: u64 = 256 << 20;

impl HttpSourceSettings {
    /// The certificate and key files, when HTTPS.
    pub fn tls(&self) -> Option<(&str, &str)> {
        Some((
            self.tls_cert_file.as_deref()?,
            self.tls_key_file.as_deref()?,
        ))
    }

    /// The field and reason of the first setting out of range.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        let path_ok = self.path.starts_with('/')
            && self.path.len() <= 256
            && !self.path.contains("//")
            && self
                .path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
        if !path_ok {
            return Err((
                "source.settings.path",
                "must start with / and hold only letters, digits and / - _ . ~ (at most 256)",
            ));
        }
        if !(1..=HTTP_MAX_BODY_LIMIT).contains(&self.max_body_bytes) {
            return Err((
                "source.settings.max_body_bytes",
                "must be between 1 byte and 256 MiB",
            ));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err((
                "source.settings.tls_cert_file",
                "set both tls_cert_file and tls_key_file, or neither",
            ));
        }
        if self.token.as_deref().is_some_and(|t| t.trim().len() < 16) {
            return Err((
                "source.settings.token",
                "must be at least 16 characters (or absent for no token)",
            ));
        }
        Ok(())
    }
}

/// How an `http` body holds events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpBodyFormat {
    /// JSON when the body starts with `{` or `[`, text lines otherwise.
    #[default]
    Auto,
    /// A JSON object, a JSON array of objects, or objects one per line (NDJSON).
    Json,
    /// One event per line, kept as text in `message`.
    Text,
}

/// What becomes of objects nested in a JSON event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NestedJson {
    /// Dotted columns: `{"user":{"name":"x"}}` gives `user.name`.
    #[default]
    Flatten,
    /// The nested object as JSON text in one column (`user`).
    JsonText,
}

fn default_http_bind() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}

fn default_http_path() -> String {
    "/".to_owned()
}

fn default_http_max_body() -> u64 {
    10 << 20
}

fn default_syslog_bind() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 5514))
}

fn lift_by_default() -> bool {
    true
}

fn default_syslog_max_message() -> u32 {
    64 << 10
}

fn default_syslog_max_connections() -> u32 {
    1024
}

fn default_syslog_idle_timeout() -> u64 {
    3600
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn wildcards_overlap_every_address_on_their_port() {
        assert!(binds_overlap(at("0.0.0.0:5514"), at("10.0.0.1:5514")));
        assert!(binds_overlap(at("127.0.0.1:5514"), at("0.0.0.0:5514")));
        assert!(binds_overlap(at("[::]:5514"), at("10.0.0.1:5514")));
        assert!(binds_overlap(at("[::]:5514"), at("0.0.0.0:5514")));
        assert!(binds_overlap(
            at("[::ffff:10.0.0.1]:5514"),
            at("10.0.0.1:5514")
        ));
        assert!(binds_overlap(at("10.0.0.1:5514"), at("10.0.0.1:5514")));
        assert!(!binds_overlap(at("10.0.0.1:5514"), at("10.0.0.2:5514")));
        assert!(!binds_overlap(at("0.0.0.0:5514"), at("0.0.0.0:5515")));
        assert!(!binds_overlap(at("0.0.0.0:5514"), at("[::1]:5514")));
    }

    #[test]
    fn prefixes_stay_out_of_other_datasets_folders() {
        let prefix = |text: &str| Destination {
            bucket: None,
            prefix: Some(text.to_owned()),
        };
        for bad in [
            "victim/ds/data/parquet",
            "victim/ds/data/parquet/year=2026",
            "a/data/parquet/b",
            "_bytefreezer/plans",
        ] {
            assert_eq!(
                prefix(bad).validate_for("attacker", "ds").unwrap_err().0,
                "destination.prefix",
                "{bad}"
            );
        }
        // The dataset's own ids cannot complete a foreign folder either: `x/data` + tenant
        // `parquet` would be `x/data/parquet/...`.
        assert!(prefix("x/data").validate_for("parquet", "ds").is_err());
        for good in ["site-7/fw", "archive", "data", "parquet/data"] {
            assert!(prefix(good).validate_for("acme", "fw").is_ok(), "{good}");
        }
        assert!(Destination::default().validate_for("acme", "fw").is_ok());
    }

    #[test]
    fn every_plugin_of_the_catalog_can_be_built_from_its_name() {
        let bind = at("127.0.0.1:9999");
        for kind in crate::plugin_catalog() {
            let source = SourceSpec::with_defaults(kind.plugin, bind)
                .unwrap_or_else(|| panic!("{}", kind.plugin));
            assert_eq!(source.plugin_name(), kind.plugin);
            let expected = !matches!(kind.plugin, "nats" | "sqs" | "kafka");
            let expected = expected.then_some(bind);
            assert_eq!(source.bind(), expected, "{}", kind.plugin);
        }
        assert_eq!(SourceSpec::with_defaults("carrier-pigeon", bind), None);
    }

    #[test]
    fn nats_secrets_are_redacted_wherever_they_are_written() {
        let spec = |source| DatasetSpec {
            tenant_id: "t".into(),
            dataset_id: "d".into(),
            name: String::new(),
            source,
            pipeline: PipelineSpec::default(),
            testing: false,
            active: true,
            packer: PackerThresholds::default(),
            destination: Destination::default(),
        };
        let nats = spec(SourceSpec::Nats(NatsSourceSettings {
            url: "nats://me:pw1@a:4222,nats://tok2@b:4222,nats://c:4222".into(),
            user: Some("me".into()),
            password: Some("pw3".into()),
            subjects: vec!["x".into()],
            ..NatsSourceSettings::default()
        }));
        let text = serde_json::to_string(&nats.redacted()).unwrap();
        for secret in ["pw1", "tok2", "pw3"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("nats://me:[redacted]@a:4222"), "{text}");
        assert!(text.contains("nats://c:4222"), "{text}");
    }

    #[test]
    fn secrets_are_redacted_and_other_settings_kept() {
        let pipeline: PipelineSpec = serde_json::from_value(serde_json::json!({ "filters": [
            { "type": "hash", "config": { "field": "user", "algorithm": "hmac-sha256", "key": "s3cret" } },
            { "type": "hash", "config": { "field": "user" } },
        ]}))
        .unwrap();
        let redacted = serde_json::to_string(&redact_pipeline(&pipeline)).unwrap();
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert!(redacted.contains(REDACTED), "{redacted}");
        assert_eq!(redact_pipeline(&pipeline).filters[1], pipeline.filters[1]);
    }
}
