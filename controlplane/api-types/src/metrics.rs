//! Every Prometheus metric the services export, named once. The stages register them, the
//! reporter and the control plane's status read them back, dashboards and alerts scrape them:
//! a name spelled in two places could drift apart without any build noticing, so every other
//! file refers to these constants (`cargo xtask tidy` refuses a `"bytefreezer_…` literal
//! anywhere else outside tests).
//!
//! The name and help text are the wire format of `/metrics`: changing either breaks whoever
//! scrapes it. Whether a metric is a counter or a gauge is up to the registering call
//! (`Registry::counter`, `Registry::gauge`); names ending in `_total` are counters.

use crate::role::Role;

/// One metric family: its name and the `# HELP` text `/metrics` shows for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Metric {
    pub name: &'static str,
    pub help: &'static str,
}

const fn metric(name: &'static str, help: &'static str) -> Metric {
    Metric { name, help }
}

// Proxy: inputs and what they decode.

/// Gauge, per dataset and listen address; the series goes when the input stops.
pub const PROXY_INPUT_UP: Metric = metric(
    "bytefreezer_proxy_input_up",
    "1 while the dataset's input is listening, 0 while it cannot open its socket.",
);
pub const PROXY_INPUT_ERRORS_TOTAL: Metric = metric(
    "bytefreezer_proxy_input_errors_total",
    "Inputs that could not start (port, certificate, settings) or could not read from their source (server or queue unreachable, stream missing), each time they tried.",
);
pub const PROXY_INPUT_PAUSED_TOTAL: Metric = metric(
    "bytefreezer_proxy_input_paused_total",
    "Times an input stopped reading its socket because the spool writers' queue was full; its datagrams wait in the kernel's buffer, and what overflows there is counted in bytefreezer_proxy_datagrams_dropped_total{cause=\"receive_buffer\"}.",
);
pub const PROXY_DATAGRAMS_TOTAL: Metric =
    metric("bytefreezer_proxy_datagrams_total", "Datagrams received.");
pub const PROXY_DATAGRAMS_DROPPED_TOTAL: Metric = metric(
    "bytefreezer_proxy_datagrams_dropped_total",
    "Datagrams lost before decoding, by cause: receive_buffer (the kernel's socket buffer was full), truncated (larger than the receive buffer).",
);
pub const PROXY_DECODE_ERRORS_TOTAL: Metric = metric(
    "bytefreezer_proxy_decode_errors_total",
    "Datagrams with a decode error: flows (the records before the error are kept) and ebpf events (the datagram is dropped whole).",
);
/// Batches that could not be built from decoded rows; their rows also count in
/// [`PROXY_ROWS_DROPPED_TOTAL`] with `cause="flush_error"`.
pub const PROXY_FLUSH_ERRORS_TOTAL: Metric = metric(
    "bytefreezer_proxy_flush_errors_total",
    "Batches that could not be built from decoded rows, by cause (invalid_data, schema, memory, compute, other); their rows are lost and counted in bytefreezer_proxy_rows_dropped_total{cause=\"flush_error\"}.",
);
/// Gauge: the UDP receive path in use, 1 on its `backend` series.
pub const PROXY_IO_BACKEND: Metric = metric(
    "bytefreezer_proxy_io_backend",
    "The UDP receive path in use (1 on the backend's series).",
);
/// Gauge.
pub const PROXY_UDP_WORKERS: Metric = metric(
    "bytefreezer_proxy_udp_workers",
    "UDP receive worker threads, one per core.",
);

// Proxy: NetFlow / IPFIX decoder state, per exporter and observation domain.

/// Gauge.
pub const PROXY_FLOW_TEMPLATES: Metric = metric(
    "bytefreezer_proxy_flow_templates",
    "Templates and options templates held per exporter and observation domain.",
);
pub const PROXY_FLOW_TEMPLATE_EVENTS_TOTAL: Metric = metric(
    "bytefreezer_proxy_flow_template_events_total",
    "Templates received (learnt: new or changed; refreshed: resent unchanged), withdrawn, or refused by the template limits.",
);
pub const PROXY_FLOW_TEMPLATES_REFUSED_TOTAL: Metric = metric(
    "bytefreezer_proxy_flow_templates_refused_total",
    "Templates refused per exporter, by the limit that refused them (too_many_fields, exporter_count, total_count, exporter_bytes, total_bytes; settings in [proxy.flow]).",
);
pub const PROXY_FLOW_OPTIONS_REFUSED_TOTAL: Metric = metric(
    "bytefreezer_proxy_flow_options_refused_total",
    "Sampling intervals, boot times and names from options data not kept: the exporter or all exporters reached max_options_entries(_per_exporter) or max_names(_per_exporter).",
);
pub const PROXY_FLOW_ODD_LENGTH_FIELDS_TOTAL: Metric = metric(
    "bytefreezer_proxy_flow_odd_length_fields_total",
    "Fields of learnt flow templates whose announced length does not fit the column their element names (a 2-byte IPv4 address); their values are kept as hex in extra_fields.",
);
pub const PROXY_FLOW_DATA_SETS_TOTAL: Metric = metric(
    "bytefreezer_proxy_flow_data_sets_total",
    "Data sets that came before their template: held, decoded once it came (released), or given up (dropped: their records are lost).",
);
pub const PROXY_FLOW_MALFORMED_TOTAL: Metric = metric(
    "bytefreezer_proxy_flow_malformed_total",
    "Malformed flow datagrams per exporter, by cause (records before the problem are kept).",
);
/// Gauge: memory the flow decoders of a dataset hold in templates and in held data sets
/// (bounded by `[proxy.flow]`), summed over workers.
pub const PROXY_FLOW_STATE_BYTES: Metric = metric(
    "bytefreezer_proxy_flow_state_bytes",
    "Memory the dataset's flow decoders hold, by kind: templates (bounded by max_template_bytes per worker) and held data sets (max_held_bytes per worker).",
);

// Proxy: the syslog `tcp` and `tls` inputs.

pub const PROXY_SYSLOG_TCP_MESSAGES_TOTAL: Metric = metric(
    "bytefreezer_proxy_syslog_tcp_messages_total",
    "Syslog messages a dataset's tcp or tls input cut from its streams.",
);
pub const PROXY_SYSLOG_TCP_BYTES_TOTAL: Metric = metric(
    "bytefreezer_proxy_syslog_tcp_bytes_total",
    "Bytes a dataset's tcp or tls input read from its streams (after TLS).",
);
pub const PROXY_SYSLOG_TCP_TRUNCATED_TOTAL: Metric = metric(
    "bytefreezer_proxy_syslog_tcp_truncated_total",
    "Syslog messages longer than the dataset's max_message_bytes, kept truncated to it.",
);
/// Gauge, per dataset and listen address.
pub const PROXY_SYSLOG_TCP_CONNECTIONS: Metric = metric(
    "bytefreezer_proxy_syslog_tcp_connections",
    "Open connections to a dataset's syslog tcp or tls input.",
);
pub const PROXY_SYSLOG_TCP_CONNECTION_ERRORS_TOTAL: Metric = metric(
    "bytefreezer_proxy_syslog_tcp_connection_errors_total",
    "Connections to a syslog tcp or tls input closed on a problem, by reason (tls_handshake, framing, incomplete_frame, idle_timeout, read).",
);
/// Gauge, per dataset and listen address.
pub const PROXY_SYSLOG_TCP_WAITING: Metric = metric(
    "bytefreezer_proxy_syslog_tcp_connections_waiting",
    "Connections to a syslog tcp or tls input not being read because the spool is at its high-water mark (their senders wait; nothing is dropped).",
);

// Proxy: the `http` input.

/// Counter, per dataset and HTTP status answered.
pub const PROXY_HTTP_REQUESTS_TOTAL: Metric = metric(
    "bytefreezer_proxy_http_requests_total",
    "Requests to a dataset's http input, by status answered (200: its events are durable in the spool).",
);
pub const PROXY_HTTP_EVENTS_TOTAL: Metric = metric(
    "bytefreezer_proxy_http_events_total",
    "Events accepted by a dataset's http input (durable in the spool when its request was answered 200).",
);
pub const PROXY_HTTP_BODY_BYTES_TOTAL: Metric = metric(
    "bytefreezer_proxy_http_body_bytes_total",
    "Body bytes of accepted requests, as inflated.",
);
pub const PROXY_HTTP_UNROUTED_TOTAL: Metric = metric(
    "bytefreezer_proxy_http_unrouted_requests_total",
    "Requests to an http input listener for a path no active dataset receives at (answered 404), per listen address.",
);
/// Gauge, per listen address.
pub const PROXY_HTTP_CONNECTIONS: Metric = metric(
    "bytefreezer_proxy_http_connections",
    "Open connections to an http input listener.",
);
pub const PROXY_HTTP_CONNECTION_ERRORS_TOTAL: Metric = metric(
    "bytefreezer_proxy_http_connection_errors_total",
    "Connections to an http input listener closed before a request was read, by reason.",
);

// Proxy: the `nats` input. Each per dataset and `listen` (server and subjects or consumer).

pub const PROXY_NATS_MESSAGES_TOTAL: Metric = metric(
    "bytefreezer_proxy_nats_messages_total",
    "NATS messages a dataset's nats input received (each body holds one or more events).",
);
pub const PROXY_NATS_REDELIVERED_TOTAL: Metric = metric(
    "bytefreezer_proxy_nats_redelivered_total",
    "JetStream messages received again (not acknowledged in time before, or after a restart): their events may be in the spool twice.",
);
pub const PROXY_NATS_SLOW_CONSUMER_TOTAL: Metric = metric(
    "bytefreezer_proxy_nats_slow_consumer_total",
    "Times the NATS client of a core nats input fell behind and messages were lost (core NATS delivers at most once).",
);
/// Gauge.
pub const PROXY_NATS_WAITING: Metric = metric(
    "bytefreezer_proxy_nats_waiting",
    "1 while a nats input does not take messages because the spool is at its high-water mark (JetStream keeps them; core NATS may drop them at the server).",
);

// Proxy: the `kafka` input. Each per dataset and `listen` (first broker and topics).

pub const PROXY_KAFKA_MESSAGES_TOTAL: Metric = metric(
    "bytefreezer_proxy_kafka_messages_total",
    "Kafka messages a dataset's kafka input received (each value holds one or more events).",
);
pub const PROXY_KAFKA_REDELIVERED_TOTAL: Metric = metric(
    "bytefreezer_proxy_kafka_redelivered_total",
    "Kafka messages received again at an offset the input had already taken (after a rebalance, a failed commit or a restart): their events may be stored twice.",
);
pub const PROXY_KAFKA_COMMIT_FAILURES_TOTAL: Metric = metric(
    "bytefreezer_proxy_kafka_commit_failures_total",
    "Offset commits the broker refused or that did not reach it, after their messages were durable: those messages are read again (duplicates, never a loss).",
);
/// Gauge.
pub const PROXY_KAFKA_LAG: Metric = metric(
    "bytefreezer_proxy_kafka_lag",
    "Messages the kafka input's assigned partitions hold beyond what it has read (the consumer lag librdkafka reports every 5 s).",
);
/// Gauge.
pub const PROXY_KAFKA_WAITING: Metric = metric(
    "bytefreezer_proxy_kafka_waiting",
    "1 while a kafka input has paused its partitions because the spool is at its high-water mark (the topics keep the backlog).",
);

// Proxy: the `sqs` input. Each per dataset and `listen` (the queue URL).

pub const PROXY_SQS_MESSAGES_TOTAL: Metric = metric(
    "bytefreezer_proxy_sqs_messages_total",
    "SQS messages a dataset's sqs input received (each body holds one or more events).",
);
pub const PROXY_SQS_REDELIVERED_TOTAL: Metric = metric(
    "bytefreezer_proxy_sqs_redelivered_total",
    "SQS messages received more than once (not deleted in time before, by this proxy or another receiver): their events may be stored twice.",
);
pub const PROXY_SQS_DELETE_FAILURES_TOTAL: Metric = metric(
    "bytefreezer_proxy_sqs_delete_failures_total",
    "Stored SQS messages the input could not delete after three tries: they come back after their visibility timeout and are stored again.",
);
pub const PROXY_SQS_OBJECTS_TOTAL: Metric = metric(
    "bytefreezer_proxy_sqs_objects_total",
    "S3 objects an sqs input with s3_events read, by outcome (read, dropped: missing, refused, too large or not gzip; retried: the store did not answer).",
);
/// Gauge.
pub const PROXY_SQS_WAITING: Metric = metric(
    "bytefreezer_proxy_sqs_waiting",
    "1 while an sqs input makes no receive because the spool is at its high-water mark (the backlog stays in the queue).",
);

// Proxy: the spool and shipping to the receiver.

pub const PROXY_ROWS_DURABLE_TOTAL: Metric = metric(
    "bytefreezer_proxy_rows_durable_total",
    "Rows written to the spool: survive a crash.",
);
pub const PROXY_ROWS_DROPPED_TOTAL: Metric = metric(
    "bytefreezer_proxy_rows_dropped_total",
    "Rows lost, by cause.",
);
pub const PROXY_ROWS_ACKED_TOTAL: Metric = metric(
    "bytefreezer_proxy_rows_acked_total",
    "Rows the receiver acknowledged as durable.",
);
pub const PROXY_ROWS_REJECTED_TOTAL: Metric = metric(
    "bytefreezer_proxy_rows_rejected_total",
    "Rows the receiver refused for good (see spool/rejected).",
);
pub const PROXY_RETRIES_TOTAL: Metric = metric(
    "bytefreezer_proxy_retries_total",
    "Failed sends that will be retried.",
);
/// Batches the receiver refused for good, by reason (moved to spool/rejected).
pub const PROXY_BATCHES_REJECTED_TOTAL: Metric = metric(
    "bytefreezer_proxy_batches_rejected_total",
    "Batches the receiver refused for good and the proxy moved to spool/rejected, by reason (unauthorized, forbidden, not_found: still refused after reject_grace_secs; bad_request, payload_too_large, unsupported_media_type: at once).",
);
/// Gauge.
pub const PROXY_REJECTED_BATCHES: Metric = metric(
    "bytefreezer_proxy_rejected_batches",
    "Batches in spool/rejected, refused for good by the receiver (replay: bytefreezer proxy --replay-rejected).",
);
/// Gauge.
pub const PROXY_REJECTED_BYTES: Metric = metric(
    "bytefreezer_proxy_rejected_bytes",
    "Bytes of the batches in spool/rejected.",
);
/// Gauge, in Unix milliseconds; the reporter turns it into the proxy's lag.
pub const PROXY_OLDEST_PENDING_UNIX_MS: Metric = metric(
    "bytefreezer_proxy_oldest_pending_unix_ms",
    "When the oldest batch still in the spool was received (0: none).",
);
/// Gauge.
pub const PROXY_SPOOL_BATCHES: Metric = metric(
    "bytefreezer_proxy_spool_batches",
    "Batches waiting in the spool.",
);
/// Gauge.
pub const PROXY_SPOOL_BYTES: Metric = metric(
    "bytefreezer_proxy_spool_bytes",
    "Bytes waiting in the spool.",
);
/// Gauge.
pub const PROXY_SPOOL_QUEUE_BYTES: Metric = metric(
    "bytefreezer_proxy_spool_queue_bytes",
    "Memory held by batches waiting for or being written by a spool writer; at the queue's limit a new batch waits in its input, which stops reading its socket",
);

// Receiver.

/// Gauge.
pub const RECEIVER_CONNECTIONS: Metric = metric(
    "bytefreezer_receiver_connections",
    "Open connections to the ingest listener.",
);
pub const RECEIVER_CONNECTION_ERRORS_TOTAL: Metric = metric(
    "bytefreezer_receiver_connection_errors_total",
    "Connections closed before a request was read, by reason.",
);
pub const RECEIVER_REJECTED_TOTAL: Metric = metric(
    "bytefreezer_receiver_rejected_total",
    "Requests refused, by reason.",
);
pub const RECEIVER_REQUESTS_TOTAL: Metric = metric(
    "bytefreezer_receiver_requests_total",
    "Ingest requests, by status.",
);
pub const RECEIVER_ROWS_TOTAL: Metric = metric(
    "bytefreezer_receiver_rows_total",
    "Rows written to the intake bucket.",
);
pub const RECEIVER_BYTES_TOTAL: Metric = metric(
    "bytefreezer_receiver_bytes_total",
    "Bytes written to the intake bucket.",
);

// Piper.

pub const PIPER_OBJECTS_TOTAL: Metric = metric(
    "bytefreezer_piper_objects_total",
    "Intake objects transformed.",
);
pub const PIPER_OBJECTS_SKIPPED_TOTAL: Metric = metric(
    "bytefreezer_piper_objects_skipped_total",
    "Intake objects left in place.",
);
pub const PIPER_OBJECTS_WRITTEN_TOTAL: Metric = metric(
    "bytefreezer_piper_objects_written_total",
    "Piper objects written.",
);
pub const PIPER_ROWS_IN_TOTAL: Metric = metric(
    "bytefreezer_piper_rows_in_total",
    "Rows read from intake objects.",
);
pub const PIPER_ROWS_OUT_TOTAL: Metric = metric(
    "bytefreezer_piper_rows_out_total",
    "Rows written to piper objects.",
);
pub const PIPER_UNPARSED_TOTAL: Metric = metric(
    "bytefreezer_piper_unparsed_total",
    "Syslog messages that did not parse cleanly, kept with their raw bytes and parse_error.",
);
/// Labelled by `format`: rfc5424, rfc3164, a vendor variant, or unparsed.
pub const PIPER_SYSLOG_ROWS_TOTAL: Metric = metric(
    "bytefreezer_piper_syslog_rows_total",
    "Syslog messages parsed, by the format they were recognised as (the row's format column).",
);
pub const PIPER_SYSLOG_REPAIRED_TOTAL: Metric = metric(
    "bytefreezer_piper_syslog_repaired_total",
    "Syslog messages read with a repair or an omission, described in their parse_warning.",
);
pub const PIPER_ERRORS_TOTAL: Metric = metric(
    "bytefreezer_piper_errors_total",
    "Intake objects that could not be transformed.",
);
pub const PIPER_RETRY_RECORDS_EVICTED_TOTAL: Metric = metric(
    "bytefreezer_piper_retry_records_evicted_total",
    "Failed objects whose attempt count was forgotten because max_tracked_failures was reached.",
);
/// Gauge, in Unix milliseconds; the reporter turns it into piper's lag.
pub const PIPER_OLDEST_PENDING_UNIX_MS: Metric = metric(
    "bytefreezer_piper_oldest_pending_unix_ms",
    "When the oldest intake object still waiting was written (0: none).",
);
pub const PIPER_DEAD_LETTERED_TOTAL: Metric = metric(
    "bytefreezer_piper_dead_lettered_total",
    "Intake objects moved to the dead-letter prefix, by cause.",
);
pub const PIPER_DEAD_LETTERED_ROWS_TOTAL: Metric = metric(
    "bytefreezer_piper_dead_lettered_rows_total",
    "Rows split out of intake objects into the dead-letter prefix, by cause.",
);
/// Gauge; the reporter sends it as piper's `dead_letters`.
pub const PIPER_DEAD_LETTERS_WAITING: Metric = metric(
    "bytefreezer_piper_dead_letters_waiting",
    DEAD_LETTERS_WAITING_HELP,
);
pub const PIPER_DEAD_LETTERS_REPLAYED_TOTAL: Metric = metric(
    "bytefreezer_piper_dead_letters_replayed_total",
    DEAD_LETTERS_REPLAYED_HELP,
);

// Packer.

pub const PACKER_INPUTS_TOTAL: Metric =
    metric("bytefreezer_packer_inputs_total", "Piper objects packed.");
pub const PACKER_INPUTS_SKIPPED_TOTAL: Metric = metric(
    "bytefreezer_packer_inputs_skipped_total",
    "Piper objects left in place for a later pass.",
);
pub const PACKER_INPUTS_REDELIVERED_TOTAL: Metric = metric(
    "bytefreezer_packer_inputs_redelivered_total",
    "Piper objects dropped because an object of the same name was already packed (a resent or retransformed batch).",
);
pub const PACKER_PACKED_MARKERS_EXPIRED_TOTAL: Metric = metric(
    "bytefreezer_packer_packed_markers_expired_total",
    "Records of packed piper objects deleted after the packed-marker retention.",
);
pub const PACKER_FILES_TOTAL: Metric =
    metric("bytefreezer_packer_files_total", "Parquet files written.");
pub const PACKER_ROWS_TOTAL: Metric =
    metric("bytefreezer_packer_rows_total", "Rows written to Parquet.");
pub const PACKER_BYTES_TOTAL: Metric = metric(
    "bytefreezer_packer_bytes_total",
    "Bytes of Parquet written.",
);
pub const PACKER_SCHEMA_WIDENINGS_TOTAL: Metric = metric(
    "bytefreezer_packer_schema_widenings_total",
    "Columns widened because inputs disagreed on their type.",
);
pub const PACKER_ERRORS_TOTAL: Metric = metric(
    "bytefreezer_packer_errors_total",
    "Partitions that failed to flush.",
);
pub const PACKER_DEAD_LETTERS_TOTAL: Metric = metric(
    "bytefreezer_packer_dead_letters_total",
    "Piper objects moved to the dead-letter prefix, by cause.",
);
/// Gauge; the reporter sends it as packer's `dead_letters`.
pub const PACKER_DEAD_LETTERS_WAITING: Metric = metric(
    "bytefreezer_packer_dead_letters_waiting",
    DEAD_LETTERS_WAITING_HELP,
);
pub const PACKER_DEAD_LETTERS_REPLAYED_TOTAL: Metric = metric(
    "bytefreezer_packer_dead_letters_replayed_total",
    DEAD_LETTERS_REPLAYED_HELP,
);

// Query service.

pub const QUERY_QUERIES_TOTAL: Metric =
    metric("bytefreezer_query_queries_total", "Queries answered.");
pub const QUERY_REFUSED_TOTAL: Metric = metric(
    "bytefreezer_query_refused_total",
    "Queries refused or cancelled by a limit or a key's scope, by cause.",
);
pub const QUERY_ERRORS_TOTAL: Metric = metric(
    "bytefreezer_query_errors_total",
    "Queries that did not answer rows.",
);

// Control plane.

pub const CONTROL_QUERY_TOKENS_TOTAL: Metric = metric(
    "bytefreezer_control_query_tokens_total",
    "Short-lived query tokens issued to dashboard users and keys.",
);
/// Logins refused with 429 by the throttle, by `cause` (`account` or `address`).
pub const CONTROL_LOGINS_THROTTLED_TOTAL: Metric = metric(
    "bytefreezer_control_logins_throttled_total",
    "Password checks refused with 429 after too many wrong passwords, by cause.",
);

// The eBPF agent (`bytefreezer agent`), a process of its own beside the roles.

/// Per `record_type`: connection, flow, process, dns.
pub const AGENT_RECORDS_TOTAL: Metric = metric(
    "bytefreezer_agent_records_total",
    "Records the agent built from what its probes saw, by record type.",
);
/// Per `cause`: ring_full, flow_map_full, connection_map_full.
pub const AGENT_KERNEL_DROPS_TOTAL: Metric = metric(
    "bytefreezer_agent_kernel_drops_total",
    "Records the probes lost in the kernel because a bounded map or the ring buffer was full, by cause.",
);
/// Per `cause`: malformed, malformed_dns, oversized.
pub const AGENT_RECORDS_DROPPED_TOTAL: Metric = metric(
    "bytefreezer_agent_records_dropped_total",
    "Records the agent dropped in user space: unreadable kernel records or DNS packets, or records larger than a datagram, by cause.",
);
pub const AGENT_DATAGRAMS_SENT_TOTAL: Metric = metric(
    "bytefreezer_agent_datagrams_sent_total",
    "NDJSON datagrams the agent sent to its proxy.",
);
pub const AGENT_SEND_ERRORS_TOTAL: Metric = metric(
    "bytefreezer_agent_send_errors_total",
    "Datagrams the agent could not send (the error is logged).",
);

// Every HTTP listener of the binary.

/// Requests to a loopback listener refused because their Host header named another site.
pub const HTTP_FOREIGN_HOST_REFUSED_TOTAL: Metric = metric(
    "bytefreezer_http_foreign_host_refused_total",
    "Requests to a loopback listener refused because their Host header named another site (DNS rebinding).",
);

// Piper and packer register the dead-letter gauges and counters under one help text each.
const DEAD_LETTERS_WAITING_HELP: &str =
    "Dead letters waiting in the dataset's dead-letter prefix of this stage.";
const DEAD_LETTERS_REPLAYED_HELP: &str =
    "Dead letters moved back to this stage's input by a replay request.";

/// Every metric above, for the checks that names are unique and carry their role.
pub const ALL: &[Metric] = &[
    AGENT_RECORDS_TOTAL,
    AGENT_KERNEL_DROPS_TOTAL,
    AGENT_RECORDS_DROPPED_TOTAL,
    AGENT_DATAGRAMS_SENT_TOTAL,
    AGENT_SEND_ERRORS_TOTAL,
    PROXY_INPUT_UP,
    PROXY_INPUT_ERRORS_TOTAL,
    PROXY_INPUT_PAUSED_TOTAL,
    PROXY_DATAGRAMS_TOTAL,
    PROXY_DATAGRAMS_DROPPED_TOTAL,
    PROXY_DECODE_ERRORS_TOTAL,
    PROXY_FLUSH_ERRORS_TOTAL,
    PROXY_SYSLOG_TCP_MESSAGES_TOTAL,
    PROXY_SYSLOG_TCP_BYTES_TOTAL,
    PROXY_SYSLOG_TCP_TRUNCATED_TOTAL,
    PROXY_SYSLOG_TCP_CONNECTIONS,
    PROXY_SYSLOG_TCP_CONNECTION_ERRORS_TOTAL,
    PROXY_SYSLOG_TCP_WAITING,
    PROXY_NATS_MESSAGES_TOTAL,
    PROXY_NATS_REDELIVERED_TOTAL,
    PROXY_NATS_SLOW_CONSUMER_TOTAL,
    PROXY_NATS_WAITING,
    PROXY_KAFKA_MESSAGES_TOTAL,
    PROXY_KAFKA_REDELIVERED_TOTAL,
    PROXY_KAFKA_COMMIT_FAILURES_TOTAL,
    PROXY_KAFKA_LAG,
    PROXY_KAFKA_WAITING,
    PROXY_SQS_MESSAGES_TOTAL,
    PROXY_SQS_REDELIVERED_TOTAL,
    PROXY_SQS_DELETE_FAILURES_TOTAL,
    PROXY_SQS_OBJECTS_TOTAL,
    PROXY_SQS_WAITING,
    PROXY_HTTP_REQUESTS_TOTAL,
    PROXY_HTTP_EVENTS_TOTAL,
    PROXY_HTTP_BODY_BYTES_TOTAL,
    PROXY_HTTP_UNROUTED_TOTAL,
    PROXY_HTTP_CONNECTIONS,
    PROXY_HTTP_CONNECTION_ERRORS_TOTAL,
    PROXY_IO_BACKEND,
    PROXY_UDP_WORKERS,
    PROXY_FLOW_TEMPLATES,
    PROXY_FLOW_TEMPLATE_EVENTS_TOTAL,
    PROXY_FLOW_TEMPLATES_REFUSED_TOTAL,
    PROXY_FLOW_OPTIONS_REFUSED_TOTAL,
    PROXY_FLOW_ODD_LENGTH_FIELDS_TOTAL,
    PROXY_FLOW_DATA_SETS_TOTAL,
    PROXY_FLOW_MALFORMED_TOTAL,
    PROXY_FLOW_STATE_BYTES,
    PROXY_ROWS_DURABLE_TOTAL,
    PROXY_ROWS_DROPPED_TOTAL,
    PROXY_ROWS_ACKED_TOTAL,
    PROXY_ROWS_REJECTED_TOTAL,
    PROXY_RETRIES_TOTAL,
    PROXY_BATCHES_REJECTED_TOTAL,
    PROXY_REJECTED_BATCHES,
    PROXY_REJECTED_BYTES,
    PROXY_OLDEST_PENDING_UNIX_MS,
    PROXY_SPOOL_BATCHES,
    PROXY_SPOOL_BYTES,
    PROXY_SPOOL_QUEUE_BYTES,
    RECEIVER_CONNECTIONS,
    RECEIVER_CONNECTION_ERRORS_TOTAL,
    RECEIVER_REJECTED_TOTAL,
    RECEIVER_REQUESTS_TOTAL,
    RECEIVER_ROWS_TOTAL,
    RECEIVER_BYTES_TOTAL,
    PIPER_OBJECTS_TOTAL,
    PIPER_OBJECTS_SKIPPED_TOTAL,
    PIPER_OBJECTS_WRITTEN_TOTAL,
    PIPER_ROWS_IN_TOTAL,
    PIPER_ROWS_OUT_TOTAL,
    PIPER_UNPARSED_TOTAL,
    PIPER_SYSLOG_ROWS_TOTAL,
    PIPER_SYSLOG_REPAIRED_TOTAL,
    PIPER_ERRORS_TOTAL,
    PIPER_RETRY_RECORDS_EVICTED_TOTAL,
    PIPER_OLDEST_PENDING_UNIX_MS,
    PIPER_DEAD_LETTERED_TOTAL,
    PIPER_DEAD_LETTERED_ROWS_TOTAL,
    PIPER_DEAD_LETTERS_WAITING,
    PIPER_DEAD_LETTERS_REPLAYED_TOTAL,
    PACKER_INPUTS_TOTAL,
    PACKER_INPUTS_SKIPPED_TOTAL,
    PACKER_INPUTS_REDELIVERED_TOTAL,
    PACKER_PACKED_MARKERS_EXPIRED_TOTAL,
    PACKER_FILES_TOTAL,
    PACKER_ROWS_TOTAL,
    PACKER_BYTES_TOTAL,
    PACKER_SCHEMA_WIDENINGS_TOTAL,
    PACKER_ERRORS_TOTAL,
    PACKER_DEAD_LETTERS_TOTAL,
    PACKER_DEAD_LETTERS_WAITING,
    PACKER_DEAD_LETTERS_REPLAYED_TOTAL,
    QUERY_QUERIES_TOTAL,
    QUERY_REFUSED_TOTAL,
    QUERY_ERRORS_TOTAL,
    CONTROL_QUERY_TOKENS_TOTAL,
    CONTROL_LOGINS_THROTTLED_TOTAL,
    HTTP_FOREIGN_HOST_REFUSED_TOTAL,
];

/// The gauge of the oldest data still waiting in a role (spool for a proxy, intake objects
/// for piper), which the reporter turns into the role's lag; `None` for roles that hold none.
pub fn oldest_pending(role: Role) -> Option<Metric> {
    match role {
        Role::Proxy => Some(PROXY_OLDEST_PENDING_UNIX_MS),
        Role::Piper => Some(PIPER_OLDEST_PENDING_UNIX_MS),
        Role::Control | Role::Receiver | Role::Packer | Role::Query => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_are_unique_prometheus_names_under_a_role_or_http() {
        let names: BTreeSet<&str> = ALL.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), ALL.len(), "a name is listed twice");
        for metric in ALL {
            let rest = metric
                .name
                .strip_prefix("bytefreezer_")
                .unwrap_or_else(|| panic!("{} lacks the prefix", metric.name));
            let owner = rest.split('_').next().unwrap_or_default();
            assert!(
                owner == "http"
                    || owner == "agent"
                    || Role::ALL.iter().any(|role| role.as_str() == owner),
                "{}: `{owner}` is neither a role, the agent nor http",
                metric.name
            );
            assert!(
                metric
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}: not a plain Prometheus name",
                metric.name
            );
            assert!(!metric.help.is_empty(), "{}: no help text", metric.name);
        }
    }

    #[test]
    fn the_lag_gauges_are_the_roles_own() {
        for role in Role::ALL {
            if let Some(metric) = oldest_pending(role) {
                assert!(metric.name.starts_with(&format!("bytefreezer_{role}_")));
            }
        }
        assert_eq!(oldest_pending(Role::Packer), None);
    }
}
