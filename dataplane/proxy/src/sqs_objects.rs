//! S3 event notifications on an `sqs` input (`s3_events`): a message names objects created in
//! S3 (directly, or inside an SNS envelope); the input reads each object (gzip inflated when
//! its key ends in `.gz`) and takes its content as the events of that message, so the message
//! is deleted only once every event of every object it names is durable.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

use bytefreezer_api::metrics::PROXY_SQS_OBJECTS_TOTAL;
use bytefreezer_api::{HttpBodyFormat, SqsSourceSettings};
use bytefreezer_telemetry::{Counter, Registry};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;

use crate::dataset_tasks::InputDataset;
use crate::sqs_client::SqsMessage;

/// One object an event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectRef {
    pub bucket: String,
    /// Decoded: S3 sends keys URL-encoded, with `+` for spaces.
    pub key: String,
}

/// Why an object's events cannot be taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ObjectError {
    /// Another try cannot mend it (no such object, access refused, too large, not gzip): the
    /// message is dropped and counted.
    #[error("{0}")]
    Permanent(String),
    /// The store did not answer: the message is left to come back.
    #[error("{0}")]
    Transient(String),
}

/// The objects an S3 event notification names: none for S3's test event and for events other
/// than object creation; an error when the body is not an S3 event at all.
pub(crate) fn created_objects(body: &str) -> Result<Vec<ObjectRef>, String> {
    let mut value: Value =
        serde_json::from_str(body).map_err(|error| format!("not JSON: {error}"))?;
    // An SNS topic between S3 and the queue wraps the event as a string.
    if value["Type"] == "Notification"
        && let Some(inner) = value["Message"].as_str()
    {
        value = serde_json::from_str(inner)
            .map_err(|error| format!("the SNS message is not JSON: {error}"))?;
    }
    if value["Event"] == "s3:TestEvent" {
        return Ok(Vec::new());
    }
    let records = value["Records"]
        .as_array()
        .ok_or("not an S3 event notification (no Records)")?;
    let mut objects = Vec::new();
    for record in records {
        let created = record["eventName"]
            .as_str()
            .is_some_and(|name| name.starts_with("ObjectCreated:"));
        if !created {
            continue;
        }
        let bucket = record["s3"]["bucket"]["name"]
            .as_str()
            .ok_or("a record without s3.bucket.name")?;
        let key = record["s3"]["object"]["key"]
            .as_str()
            .ok_or("a record without s3.object.key")?;
        objects.push(ObjectRef {
            bucket: bucket.to_owned(),
            key: decode_key(key)?,
        });
    }
    Ok(objects)
}

/// An event's object key as stored: `+` is a space, `%XX` a byte.
fn decode_key(encoded: &str) -> Result<String, String> {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => decoded.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(at + 1..at + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| format!("object key {encoded:?} has a bad %-escape"))?;
                decoded.push(hex);
                at += 2;
            }
            byte => decoded.push(byte),
        }
        at += 1;
    }
    String::from_utf8(decoded).map_err(|_| format!("object key {encoded:?} is not UTF-8"))
}

/// How the input reaches S3: the dataset's region, credentials and endpoint.
#[derive(Clone)]
pub(crate) struct S3Access {
    pub region: String,
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// The largest object read, as stored and as inflated.
    pub max_object_bytes: u64,
}

/// Reads objects, one client per bucket.
pub(crate) struct ObjectReader {
    access: S3Access,
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl ObjectReader {
    pub fn new(access: S3Access) -> ObjectReader {
        ObjectReader {
            access,
            stores: Mutex::new(HashMap::new()),
        }
    }

    fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, ObjectError> {
        let mut stores = self
            .stores
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(store) = stores.get(bucket) {
            return Ok(store.clone());
        }
        let access = &self.access;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&access.region)
            .with_access_key_id(&access.access_key_id)
            .with_secret_access_key(&access.secret_access_key);
        if let Some(token) = &access.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &access.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(builder.build().map_err(|error| {
            ObjectError::Permanent(format!("cannot reach bucket {bucket}: {error}"))
        })?);
        stores.insert(bucket.to_owned(), store.clone());
        Ok(store)
    }

    /// The object's content, inflated when its key ends in `.gz`, within `max_object_bytes`.
    pub async fn read(&self, object: &ObjectRef) -> Result<Vec<u8>, ObjectError> {
        let limit = self.access.max_object_bytes;
        let name = format!("s3://{}/{}", object.bucket, object.key);
        let store = self.store(&object.bucket)?;
        let path = ObjectPath::from(object.key.as_str());
        let got = store.get(&path).await.map_err(|error| match error {
            object_store::Error::NotFound { .. } => {
                ObjectError::Permanent(format!("{name} does not exist (deleted since?)"))
            }
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                ObjectError::Permanent(format!("{name}: access refused: {error}"))
            }
            other => ObjectError::Transient(format!("cannot read {name}: {other}")),
        })?;
        if got.meta.size > limit {
            return Err(ObjectError::Permanent(format!(
                "{name} holds {} bytes, more than max_object_bytes ({limit})",
                got.meta.size
            )));
        }
        let bytes = got
            .bytes()
            .await
            .map_err(|error| ObjectError::Transient(format!("cannot read {name}: {error}")))?;
        if !object.key.ends_with(".gz") {
            return Ok(bytes.to_vec());
        }
        let mut inflated = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(limit + 1)
            .read_to_end(&mut inflated)
            .map_err(|error| ObjectError::Permanent(format!("{name} is not gzip: {error}")))?;
        if inflated.len() as u64 > limit {
            return Err(ObjectError::Permanent(format!(
                "{name} inflates to more than max_object_bytes ({limit})"
            )));
        }
        Ok(inflated)
    }
}

/// A received message and what its events are taken from.
pub(crate) struct Received {
    pub message: SqsMessage,
    pub content: Content,
}

pub(crate) enum Content {
    /// The message's own body.
    Body,
    /// `s3_events`: the content of the objects it names, each with its `s3://` name.
    Objects(Vec<(String, Vec<u8>)>),
    /// Not an S3 event notification: dropped, counted and deleted.
    NotAnEvent(String),
    /// An object it names could not be read now: left to come back after its visibility
    /// timeout.
    Later(String),
}

/// `s3_events`: each message's objects, read one after another (the receivers read at once).
pub(crate) async fn read_objects(
    messages: Vec<SqsMessage>,
    reader: &ObjectReader,
    objects_read: &ObjectCounters,
) -> Vec<Received> {
    let mut received = Vec::with_capacity(messages.len());
    for message in messages {
        let content = match created_objects(&message.body) {
            Err(reason) => Content::NotAnEvent(reason),
            Ok(objects) => {
                let mut contents = Vec::with_capacity(objects.len());
                let mut later = None;
                for object in &objects {
                    let name = format!("object s3://{}/{}", object.bucket, object.key);
                    match reader.read(object).await {
                        Ok(bytes) => {
                            objects_read.read.increment(1);
                            contents.push((name, bytes));
                        }
                        Err(ObjectError::Permanent(reason)) => {
                            objects_read.dropped.increment(1);
                            tracing::warn!("{}: {name} is dropped: {reason}", objects_read.name);
                        }
                        Err(ObjectError::Transient(reason)) => {
                            objects_read.retried.increment(1);
                            later = Some(reason);
                            break;
                        }
                    }
                }
                match later {
                    Some(reason) => Content::Later(reason),
                    None => Content::Objects(contents),
                }
            }
        };
        received.push(Received { message, content });
    }
    received
}

/// `bytefreezer_proxy_sqs_objects_total` by outcome.
#[derive(Clone)]
pub(crate) struct ObjectCounters {
    name: String,
    read: Counter,
    dropped: Counter,
    retried: Counter,
}

impl ObjectCounters {
    pub fn new(registry: &Registry, dataset: &InputDataset<SqsSourceSettings>) -> ObjectCounters {
        let counter = |outcome| {
            let [tenant, id, listen] = dataset.labels();
            registry.counter(
                PROXY_SQS_OBJECTS_TOTAL.name,
                PROXY_SQS_OBJECTS_TOTAL.help,
                &[tenant, id, listen, ("outcome", outcome)],
            )
        };
        ObjectCounters {
            name: dataset.name(),
            read: counter("read"),
            dropped: counter("dropped"),
            retried: counter("retried"),
        }
    }
}

/// `content` in parts of about `max_bytes` each (one event larger than that stays whole), cut
/// only where an event ends and the next begins: at a line for text, before a line opening a
/// new JSON object for JSON. A JSON array is one value and stays whole.
pub(crate) fn parts(content: &[u8], format: HttpBodyFormat, max_bytes: usize) -> Vec<&[u8]> {
    let first = content.iter().find(|byte| !byte.is_ascii_whitespace());
    let json = match format {
        HttpBodyFormat::Json => true,
        HttpBodyFormat::Text => false,
        HttpBodyFormat::Auto => matches!(first, Some(b'{' | b'[')),
    };
    if json && first == Some(&b'[') {
        return vec![content];
    }
    let cut_after =
        |at: usize| content[at] == b'\n' && (!json || content.get(at + 1) == Some(&b'{'));
    let mut parts = Vec::new();
    let mut start = 0;
    while content.len() - start > max_bytes.max(1) {
        let limit = start + max_bytes.max(1);
        // The last cut within the limit, or else the first beyond it.
        let cut = (start..limit)
            .rev()
            .find(|&at| cut_after(at))
            .or_else(|| (limit..content.len()).find(|&at| cut_after(at)));
        match cut {
            Some(at) => {
                parts.push(&content[start..=at]);
                start = at + 1;
            }
            None => break,
        }
    }
    if start < content.len() {
        parts.push(&content[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(bucket: &str, key: &str) -> ObjectRef {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    #[test]
    fn objects_are_cut_where_one_event_ends_and_the_next_begins() {
        let ndjson = b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n";
        assert_eq!(
            parts(ndjson, HttpBodyFormat::Auto, 10),
            vec![&b"{\"a\":1}\n"[..], b"{\"a\":2}\n", b"{\"a\":3}\n"]
        );
        // A pretty-printed object is not cut inside.
        let pretty = b"{\n  \"a\": 1\n}\n{\n  \"a\": 2\n}\n";
        assert_eq!(
            parts(pretty, HttpBodyFormat::Json, 4),
            vec![&b"{\n  \"a\": 1\n}\n"[..], b"{\n  \"a\": 2\n}\n"]
        );
        assert_eq!(parts(b"[1,\n2]", HttpBodyFormat::Auto, 2).len(), 1);
        let text = b"one\ntwo\nthree";
        assert_eq!(
            parts(text, HttpBodyFormat::Text, 5),
            vec![&b"one\n"[..], b"two\n", b"three"]
        );
        for (content, max) in [(&ndjson[..], 1000), (&text[..], 1)] {
            assert_eq!(parts(content, HttpBodyFormat::Auto, max).concat(), content);
        }
    }

    #[test]
    fn created_objects_are_read_from_s3_events_and_sns_envelopes() {
        let event = r#"{"Records":[
            {"eventSource":"aws:s3","eventName":"ObjectCreated:Put",
             "s3":{"bucket":{"name":"logs"},"object":{"key":"alb/2026/12/07/a+b%2Bc%C3%A9.log.gz","size":10}}},
            {"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete",
             "s3":{"bucket":{"name":"logs"},"object":{"key":"gone.log"}}}]}"#;
        assert_eq!(
            created_objects(event).unwrap(),
            vec![object("logs", "alb/2026/12/07/a b+cé.log.gz")]
        );
        let sns = serde_json::json!({ "Type": "Notification", "Message": event }).to_string();
        assert_eq!(created_objects(&sns).unwrap().len(), 1);
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"logs"}"#;
        assert_eq!(created_objects(test_event).unwrap(), vec![]);
        assert!(created_objects("{\"seq\": 1}").is_err());
        assert!(created_objects("plain text").is_err());
        assert!(decode_key("bad%zz").is_err());
        assert!(decode_key("cut%2").is_err());
    }
}
