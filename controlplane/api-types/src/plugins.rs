//! The source plugins a dataset can use, each with the JSON Schema of its settings: the
//! dashboard builds its source form from it, and a test keeps it equal to the settings types.

use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize)]
pub struct PluginKind {
    pub plugin: &'static str,
    pub summary: &'static str,
    /// JSON Schema (draft 2020-12 subset: type, properties, required, default, enum, items,
    /// writeOnly for secrets), and
    /// `x-order`: the properties a form shows first, in that order.
    pub settings_schema: Value,
    /// Settings that work as they are, for forms and docs.
    pub example: Value,
}

fn udp_bind(description: &str, default: Option<&str>) -> Value {
    let mut schema = json!({
        "type": "string",
        "format": "socket-address",
        "description": description,
        "examples": [default.unwrap_or("0.0.0.0:2055")],
    });
    if let Some(default) = default {
        schema["default"] = json!(default);
    }
    schema
}

fn flow_plugin(plugin: &'static str, summary: &'static str, port: u16) -> PluginKind {
    let example = format!("0.0.0.0:{port}");
    PluginKind {
        plugin,
        summary,
        settings_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["bind"],
            "properties": {
                "bind": udp_bind(&format!("UDP address:port the proxy listens on (usually port {port})."), None),
            },
        }),
        example: json!({ "bind": example }),
    }
}

fn http_plugin() -> PluginKind {
    PluginKind {
        plugin: "http",
        summary: "Events posted over HTTP(S): JSON, NDJSON or text lines, gzip or zstd",
        settings_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": [],
            "x-order": ["bind", "path", "format", "nested", "token"],
            "properties": {
                "bind": {
                    "type": "string",
                    "format": "socket-address",
                    "default": "0.0.0.0:8080",
                    "description": "TCP address:port the proxy listens on; datasets on one address share it, each on its own path.",
                },
                "path": {
                    "type": "string",
                    "default": "/",
                    "description": "The path senders POST to.",
                },
                "format": body_format("a body"),
                "nested": nested_json(),
                "token": optional_secret("Senders must send Authorization: Bearer <token> (16 characters at least); empty: no token."),
                "max_body_bytes": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": crate::HTTP_MAX_BODY_LIMIT,
                    "default": 10485760,
                    "description": "Largest body, as sent or inflated; larger ones get 413.",
                },
                "tls_cert_file": optional_text("PEM certificate chain on the proxy's host: HTTPS instead of HTTP."),
                "tls_key_file": optional_text("PEM private key of tls_cert_file."),
            },
        }),
        example: json!({
            "bind": "0.0.0.0:8080",
            "path": "/events",
            "format": "auto",
            "nested": "flatten",
            "token": null,
            "max_body_bytes": 10485760,
            "tls_cert_file": null,
            "tls_key_file": null,
        }),
    }
}

fn nats_plugin() -> PluginKind {
    PluginKind {
        plugin: "nats",
        summary: "Events read from NATS: core subjects (optionally a queue group) or a JetStream durable consumer, acknowledged once durable",
        settings_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": [],
            "x-order": ["url", "mode", "subjects", "queue_group", "stream", "consumer", "format"],
            "properties": {
                "url": {
                    "type": "string",
                    "default": "nats://127.0.0.1:4222",
                    "description": "Server URLs, comma separated: nats://host:4222 or tls://host:4222.",
                },
                "mode": {
                    "type": "string",
                    "enum": ["core", "jetstream"],
                    "default": "core",
                    "description": "core: subscribe to subjects, at most once as NATS delivers; jetstream: a durable pull consumer, each message acknowledged once durable in the spool.",
                },
                "subjects": {
                    "type": "array",
                    "items": { "type": "string" },
                    "default": [],
                    "description": "core: subjects to subscribe to (* and > wildcards), one at least; jetstream: the consumer's filter, one at most (none: the whole stream).",
                },
                "queue_group": optional_text("core: proxies in one queue group share the messages, each delivered to one of them."),
                "stream": optional_text("jetstream: the stream to read; it must exist."),
                "consumer": optional_text("jetstream: the durable consumer's name, created when absent; proxies using the same one share its messages."),
                "deliver": {
                    "type": "string",
                    "enum": ["all", "new", "last"],
                    "default": "all",
                    "description": "jetstream: where a newly created consumer starts: the stream's first message, new messages only, or its last message.",
                },
                "ack_wait_secs": {
                    "type": "integer",
                    "minimum": 5,
                    "maximum": 3600,
                    "default": 30,
                    "description": "jetstream: a delivered message not acknowledged within this is delivered again.",
                },
                "format": body_format("each message's body"),
                "nested": nested_json(),
                "token": optional_secret("Authentication token; or user and password; or credentials_file."),
                "user": optional_text("User name, with password."),
                "password": optional_secret("Password of user."),
                "credentials_file": optional_text("NATS credentials file (JWT and NKey seed) on the proxy's host."),
                "tls_ca_file": optional_text("PEM CA on the proxy's host the server's certificate must chain to; set, the connection must use TLS."),
            },
        }),
        example: json!({
            "url": "nats://127.0.0.1:4222",
            "mode": "jetstream",
            "subjects": ["events.>"],
            "queue_group": null,
            "stream": "EVENTS",
            "consumer": "bytefreezer",
            "deliver": "all",
            "ack_wait_secs": 30,
            "format": "auto",
            "nested": "flatten",
            "token": null,
            "user": null,
            "password": null,
            "credentials_file": null,
            "tls_ca_file": null,
        }),
    }
}

fn sqs_plugin() -> PluginKind {
    PluginKind {
        plugin: "sqs",
        summary: "Events read from an Amazon SQS queue (or a compatible server), each message deleted once durable",
        settings_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["queue_url"],
            "x-order": ["queue_url", "region", "access_key_id", "secret_access_key", "format"],
            "properties": {
                "queue_url": {
                    "type": "string",
                    "examples": ["https://sqs.us-east-1.amazonaws.com/123456789012/events"],
                    "description": "The queue's URL, as SQS (or a compatible server) gives it.",
                },
                "region": {
                    "type": "string",
                    "default": "us-east-1",
                    "description": "The region requests are signed for.",
                },
                "access_key_id": optional_text("Access key id; none: the proxy's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment."),
                "secret_access_key": optional_secret("Secret access key of access_key_id."),
                "session_token": optional_secret("Session token of temporary credentials."),
                "wait_time_secs": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 20,
                    "default": 20,
                    "description": "Long polling: how long a receive waits for a first message.",
                },
                "max_messages": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10,
                    "default": 10,
                    "description": "Messages one receive asks for.",
                },
                "receivers": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 64,
                    "default": 4,
                    "description": "Receives running at once; each returns at most 10 messages.",
                },
                "visibility_timeout_secs": {
                    "type": "integer",
                    "minimum": 10,
                    "maximum": 43200,
                    "default": 60,
                    "description": "How long received messages stay hidden while the proxy stores them; extended while a spool write is slow.",
                },
                "format": body_format("each message's body"),
                "nested": nested_json(),
                "s3_events": {
                    "type": "boolean",
                    "default": false,
                    "description": "Each message is an S3 event notification: the events are the content of the objects it names (gzip inflated for keys ending .gz).",
                },
                "s3_endpoint": optional_text("s3_events: an S3-compatible store's URL (MinIO); empty: AWS in region."),
                "max_object_bytes": {
                    "type": "integer",
                    "minimum": 1024,
                    "maximum": crate::SQS_MAX_OBJECT_LIMIT,
                    "default": 67108864,
                    "description": "s3_events: the largest object read, as stored and as inflated.",
                },
            },
        }),
        example: json!({
            "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/events",
            "region": "us-east-1",
            "access_key_id": null,
            "secret_access_key": null,
            "session_token": null,
            "wait_time_secs": 20,
            "max_messages": 10,
            "receivers": 4,
            "visibility_timeout_secs": 60,
            "format": "auto",
            "nested": "flatten",
            "s3_events": false,
            "s3_endpoint": null,
            "max_object_bytes": 67108864,
        }),
    }
}

fn kafka_plugin() -> PluginKind {
    PluginKind {
        plugin: "kafka",
        summary: "Events read from Kafka topics in a consumer group; a partition's offset is committed once its messages are durable",
        settings_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": [],
            "x-order": ["brokers", "topics", "group_id", "start", "format"],
            "properties": {
                "brokers": {
                    "type": "string",
                    "default": "127.0.0.1:9092",
                    "description": "Bootstrap brokers, comma separated: host:port (plaintext).",
                },
                "topics": {
                    "type": "array",
                    "items": { "type": "string" },
                    "default": [],
                    "description": "Topics to read, one at least.",
                },
                "group_id": {
                    "type": "string",
                    "default": "bytefreezer",
                    "description": "Consumer group: proxies in one group share the partitions; its committed offsets say where a restarted proxy goes on.",
                },
                "start": {
                    "type": "string",
                    "enum": ["earliest", "latest"],
                    "default": "earliest",
                    "description": "Where the group starts a partition it has no committed offset for: the oldest message kept, or new messages only.",
                },
                "format": body_format("each message's value"),
                "nested": nested_json(),
                "session_timeout_secs": {
                    "type": "integer",
                    "minimum": 6,
                    "maximum": 300,
                    "default": 45,
                    "description": "A proxy silent this long leaves the group and its partitions go to the others.",
                },
            },
        }),
        example: json!({
            "brokers": "127.0.0.1:9092",
            "topics": ["events"],
            "group_id": "bytefreezer",
            "start": "earliest",
            "format": "auto",
            "nested": "flatten",
            "session_timeout_secs": 45,
        }),
    }
}

/// `format` of the inputs that split bodies into events (`http`, `nats`, `sqs`, `kafka`); `what` names
/// the body.
fn body_format(what: &str) -> Value {
    json!({
        "type": "string",
        "enum": ["auto", "json", "text"],
        "default": "auto",
        "description": format!("How {what} holds events: auto: JSON when it starts with {{ or [, text lines otherwise; json: an object, an array of objects or NDJSON; text: one event per line."),
    })
}

/// `nested` of the same inputs.
fn nested_json() -> Value {
    json!({
        "type": "string",
        "enum": ["flatten", "json_text"],
        "default": "flatten",
        "description": "Nested objects as dotted columns (user.name) or as JSON text in one column.",
    })
}

fn optional_text(description: &str) -> Value {
    json!({ "type": ["string", "null"], "default": null, "description": description })
}

/// A setting that holds a secret: forms hide what is typed.
fn optional_secret(description: &str) -> Value {
    let mut schema = optional_text(description);
    schema["writeOnly"] = json!(true);
    schema
}

fn syslog_plugin() -> PluginKind {
    PluginKind {
        plugin: "syslog",
        summary: "Syslog over UDP, TCP or TLS (RFC 5424 and RFC 3164; RFC 6587 and RFC 5425 framing)",
        settings_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": [],
            "x-order": ["bind", "transport", "framing", "tls_cert_file", "tls_key_file", "tls_client_ca_file"],
            "properties": {
                "bind": {
                    "type": "string",
                    "format": "socket-address",
                    "default": "0.0.0.0:5514",
                    "examples": ["0.0.0.0:5514", "0.0.0.0:6514"],
                    "description": "Address:port the proxy listens on (UDP or TCP, as transport says; 6514 is syslog over TLS's port).",
                },
                "transport": {
                    "type": "string",
                    "enum": ["udp", "tcp", "tls"],
                    "default": "udp",
                    "description": "udp: one message per datagram; tcp: a stream of framed messages (RFC 6587); tls: the stream inside TLS (RFC 5425).",
                },
                "lift_message_fields": {
                    "type": "boolean",
                    "default": true,
                    "description": "Lift a JSON object or key=value pairs in the message body into columns.",
                },
                "framing": {
                    "type": "string",
                    "enum": ["auto", "octet_counting", "non_transparent"],
                    "default": "auto",
                    "description": "tcp and tls: auto detects per message (LEN SP MSG, or a line); octet_counting or non_transparent (newline-ended) hold every message to one.",
                },
                "max_message_bytes": {
                    "type": "integer",
                    "minimum": crate::SYSLOG_MIN_MESSAGE_LIMIT,
                    "maximum": crate::SYSLOG_MAX_MESSAGE_LIMIT,
                    "default": 65536,
                    "description": "tcp and tls: a longer message is kept truncated to this, and counted.",
                },
                "max_connections": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 65536,
                    "default": 1024,
                    "description": "tcp and tls: connections open at once; more wait in the kernel's backlog.",
                },
                "idle_timeout_secs": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 86400,
                    "default": 3600,
                    "description": "tcp and tls: a connection that sends nothing this long is closed.",
                },
                "tls_cert_file": optional_text("tls: PEM certificate chain on the proxy's host."),
                "tls_key_file": optional_text("tls: PEM private key of tls_cert_file."),
                "tls_client_ca_file": optional_text("tls: senders must present a certificate signed by a CA in this PEM file (mutual TLS); empty: any sender."),
            },
        }),
        example: json!({
            "bind": "0.0.0.0:5514",
            "transport": "udp",
            "lift_message_fields": true,
            "framing": "auto",
            "max_message_bytes": 65536,
            "max_connections": 1024,
            "idle_timeout_secs": 3600,
            "tls_cert_file": null,
            "tls_key_file": null,
            "tls_client_ca_file": null,
        }),
    }
}

pub fn plugin_catalog() -> Vec<PluginKind> {
    vec![
        syslog_plugin(),
        flow_plugin(
            "netflow",
            "NetFlow v5 and v9 over UDP (IPFIX accepted too)",
            2055,
        ),
        flow_plugin("ipfix", "IPFIX over UDP (RFC 7011)", 4739),
        flow_plugin("sflow", "sFlow version 5 over UDP", 6343),
        http_plugin(),
        nats_plugin(),
        sqs_plugin(),
        kafka_plugin(),
        ebpf_plugin(),
    ]
}

fn ebpf_plugin() -> PluginKind {
    PluginKind {
        plugin: "ebpf",
        summary: "Host telemetry from eBPF agents (bytefreezer agent): connections, flows, processes and DNS as NDJSON datagrams over UDP",
        settings_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": [],
            "x-order": ["bind", "nested"],
            "properties": {
                "bind": udp_bind("UDP address:port agents send to.", Some("0.0.0.0:2056")),
                "nested": nested_json(),
            },
        }),
        example: json!({ "bind": "0.0.0.0:2056", "nested": "flatten" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SourceSpec;

    /// Every plugin's example parses as its settings, and serializing those settings gives
    /// exactly the properties the schema names: the form cannot drift from the types.
    #[test]
    fn schemas_match_the_settings_types() {
        let catalog = plugin_catalog();
        assert_eq!(catalog.len(), 9);
        for kind in catalog {
            let spec: SourceSpec =
                serde_json::from_value(json!({ "plugin": kind.plugin, "settings": kind.example }))
                    .unwrap_or_else(|e| panic!("{}: example does not parse: {e}", kind.plugin));
            assert_eq!(spec.plugin_name(), kind.plugin);
            let serialized = serde_json::to_value(&spec).unwrap();
            let mut fields: Vec<&String> =
                serialized["settings"].as_object().unwrap().keys().collect();
            let mut properties: Vec<&String> = kind.settings_schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .collect();
            fields.sort();
            properties.sort();
            assert_eq!(fields, properties, "{}", kind.plugin);
            for first in kind.settings_schema["x-order"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let name = first.as_str().unwrap().to_owned();
                assert!(
                    properties.contains(&&name),
                    "{}: x-order {name}",
                    kind.plugin
                );
            }
            for required in kind.settings_schema["required"].as_array().unwrap() {
                let name = required.as_str().unwrap();
                let mut settings = kind.example.clone();
                settings.as_object_mut().unwrap().remove(name);
                let without = serde_json::from_value::<SourceSpec>(
                    json!({ "plugin": kind.plugin, "settings": settings }),
                );
                assert!(without.is_err(), "{}: {name} is required", kind.plugin);
            }
        }
    }

    #[test]
    fn schema_defaults_are_the_serde_defaults() {
        for plugin in ["syslog", "http", "nats", "kafka", "ebpf"] {
            let spec: SourceSpec =
                serde_json::from_value(json!({ "plugin": plugin, "settings": {} })).unwrap();
            let settings = serde_json::to_value(&spec).unwrap()["settings"].clone();
            let kind = plugin_catalog()
                .into_iter()
                .find(|kind| kind.plugin == plugin)
                .unwrap();
            for (name, property) in kind.settings_schema["properties"].as_object().unwrap() {
                assert_eq!(settings[name], property["default"], "{plugin}: {name}");
            }
        }
    }
}
