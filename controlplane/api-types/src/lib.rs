//! Every contract between the stages: dataset specifications and the pipeline format
//! (`PipelineSpec`, compiled by `bytefreezer-transform`), the configuration snapshot each
//! data-side service works from, the filter types ([`FilterType`]), ingest-key authorization,
//! the report every service sends with its heartbeat, the REST bodies the control server and
//! `bytefreezer ctl` share ([`rest`]), and the name and help text of every Prometheus metric the
//! services export ([`metrics`]).
//!
//! Pure serde types and small pure functions. It must not do I/O or depend on any other crate
//! of the workspace; it is the only thing the two planes share besides HTTP.

mod dataplane_config;
mod dataset;
mod dead_letters;
mod ebpf_source;
mod filter_type;
mod kafka_source;
mod keys;
pub mod metrics;
mod nats_source;
mod pipeline;
mod plugins;
mod query_token;
mod report;
pub mod rest;
mod role;
mod sqs_source;

pub use dataplane_config::{AuthorizeError, DataPlaneConfig, IngestKey};
pub use dataset::{
    DatasetSpec, Destination, FlowSourceSettings, HTTP_MAX_BODY_LIMIT, HttpBodyFormat,
    HttpSourceSettings, NestedJson, PackerThresholds, REDACTED, SECRET_FILTER_SETTINGS,
    SYSLOG_MAX_MESSAGE_LIMIT, SYSLOG_MIN_MESSAGE_LIMIT, SourceSpec, SyslogFraming,
    SyslogSourceSettings, SyslogTls, SyslogTransport, Transport, binds_overlap, redact_pipeline,
};
pub use dead_letters::{
    DEAD_LETTER_STAGES, DeadLetterCount, DeadLetterReplay, DeadLettersView, REPLAY_DONE_DETAIL,
    ReplayDone, ReplayRequest, ReplayRequestBody, ReplayStageResult,
};
pub use ebpf_source::EbpfSourceSettings;
pub use filter_type::{FilterType, UnknownFilterType};
pub use kafka_source::{KafkaSourceSettings, KafkaStart};
pub use keys::{KeyReach, KeyUse, bearer_token, hash_api_key};
pub use nats_source::{NatsDeliver, NatsMode, NatsSourceSettings};
pub use pipeline::{FilterSpec, PipelineSpec, pipeline_version};
pub use plugins::{PluginKind, plugin_catalog};
pub use query_token::{
    QUERY_TOKEN_PREFIX, QueryTokenClaims, QueryTokenError, sign_query_token, verify_query_token,
};
pub use report::{
    ActivityReport, DATASET_METRICS, DatasetCounters, DestinationStatus, InputStatus,
    OpenPartition, ServiceReport, SystemMetrics,
};
pub use role::{Role, UnknownRole};
pub use sqs_source::{SQS_MAX_OBJECT_LIMIT, SqsSourceSettings};
