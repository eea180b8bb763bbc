//! S3 event notifications on an `sqs` input (`s3_events`): a message names objects created in
//! S3 (directly, or inside an SNS envelope); the input reads each object (gzip inflated when
//! its key ends in `.gz`) and takes its content as the events of that message, so the message
//! is deleted only once every event of every object it names is durable.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;

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
