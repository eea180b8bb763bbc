//! Settings of the `sqs` plugin: the proxy long-polls an Amazon SQS queue (or a compatible
//! server) and deletes each message only after its events are durable in the spool.

use serde::{Deserialize, Serialize};

use crate::dataset::{HttpBodyFormat, NestedJson};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsSourceSettings {
    /// `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`, or the queue URL a compatible server
    /// gives. Required.
    pub queue_url: String,
    /// The region requests are signed for. Default `us-east-1`.
    #[serde(default = "default_sqs_region")]
    pub region: String,
    /// Credentials; none: the proxy's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN` environment variables.
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
    #[serde(default)]
    pub session_token: Option<String>,
    /// Long polling: how long a receive waits for a first message (0 to 20). Default 20.
    #[serde(default = "default_sqs_wait")]
    pub wait_time_secs: u64,
    /// Messages a receive asks for (1 to 10). Default 10.
    #[serde(default = "default_sqs_max_messages")]
    pub max_messages: u32,
    /// Receives running at once (1 to 64): each returns at most 10 messages. Default 4.
    #[serde(default = "default_sqs_receivers")]
    pub receivers: u32,
    /// How long received messages stay hidden from other receivers while the proxy stores
    /// them (10 to 43200); extended while a spool write is slow. Default 60.
    #[serde(default = "default_sqs_visibility")]
    pub visibility_timeout_secs: u64,
    #[serde(default)]
    pub format: HttpBodyFormat,
    #[serde(default)]
    pub nested: NestedJson,
    /// Each message is an S3 event notification (directly or in an SNS envelope): the events
    /// are the content of the objects it names (gzip inflated when the key ends in `.gz`), read
    /// with the same credentials.
    #[serde(default)]
    pub s3_events: bool,
    /// `s3_events`: an S3-compatible store's URL (MinIO, moto); none: AWS in `region`.
    #[serde(default)]
    pub s3_endpoint: Option<String>,
    /// `s3_events`: the largest object read, as stored and as inflated (1 KiB to 1 GiB).
    /// Default 64 MiB.
    #[serde(default = "default_sqs_max_object")]
    pub max_object_bytes: u64,
}

impl Default for SqsSourceSettings {
    /// No queue yet: a form's starting point, refused by [`SqsSourceSettings::validate`].
    fn default() -> Self {
        SqsSourceSettings {
            queue_url: String::new(),
            region: default_sqs_region(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            wait_time_secs: default_sqs_wait(),
            max_messages: default_sqs_max_messages(),
            receivers: default_sqs_receivers(),
            visibility_timeout_secs: default_sqs_visibility(),
            format: HttpBodyFormat::default(),
            nested: NestedJson::default(),
            s3_events: false,
            s3_endpoint: None,
            max_object_bytes: default_sqs_max_object(),
        }
    }
}

impl SqsSourceSettings {
    /// The field and reason of the first setting out of range.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        let url = self.queue_url.trim();
        let url_ok = ["http://", "https://"].iter().any(|scheme| {
            url.strip_prefix(scheme)
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(host, path)| !host.is_empty() && !path.is_empty())
        });
        if !url_ok {
            return Err((
                "source.settings.queue_url",
                "the queue's URL: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, or the URL a compatible server gives",
            ));
        }
        if self.region.is_empty()
            || self.region.len() > 32
            || !self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(("source.settings.region", "a region name such as us-east-1"));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err((
                "source.settings.access_key_id",
                "set both access_key_id and secret_access_key, or neither (then the proxy's AWS_* environment)",
            ));
        }
        if self.session_token.is_some() && self.access_key_id.is_none() {
            return Err((
                "source.settings.session_token",
                "goes with access_key_id and secret_access_key",
            ));
        }
        if self.wait_time_secs > 20 {
            return Err((
                "source.settings.wait_time_secs",
                "must be between 0 and 20 seconds",
            ));
        }
        if !(1..=10).contains(&self.max_messages) {
            return Err(("source.settings.max_messages", "must be between 1 and 10"));
        }
        if !(1..=64).contains(&self.receivers) {
            return Err(("source.settings.receivers", "must be between 1 and 64"));
        }
        if !(1 << 10..=SQS_MAX_OBJECT_LIMIT).contains(&self.max_object_bytes) {
            return Err((
                "source.settings.max_object_bytes",
                "must be between 1 KiB and 1 GiB",
            ));
        }
        if self.s3_endpoint.is_some() && !self.s3_events {
            return Err((
                "source.settings.s3_endpoint",
                "applies with s3_events only; set it, or remove the endpoint",
            ));
        }
        if self.s3_endpoint.as_deref().is_some_and(|endpoint| {
            !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        }) {
            return Err(("source.settings.s3_endpoint", "an http:// or https:// URL"));
        }
        if !(10..=43_200).contains(&self.visibility_timeout_secs) {
            return Err((
                "source.settings.visibility_timeout_secs",
                "must be between 10 and 43200 seconds",
            ));
        }
        Ok(())
    }

    /// The queue URL: the `listen` label of the input's metrics.
    pub fn label(&self) -> String {
        self.queue_url.trim().to_owned()
    }
}

/// The largest `max_object_bytes`: an object is held whole while it is split into events.
pub const SQS_MAX_OBJECT_LIMIT: u64 = 1 << 30;

fn default_sqs_max_object() -> u64 {
    64 << 20
}

fn default_sqs_region() -> String {
    "us-east-1".to_owned()
}

fn default_sqs_wait() -> u64 {
    20
}

fn default_sqs_max_messages() -> u32 {
    10
}

fn default_sqs_receivers() -> u32 {
    4
}

fn default_sqs_visibility() -> u64 {
    60
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(url: &str) -> SqsSourceSettings {
        serde_json::from_value(serde_json::json!({ "queue_url": url })).unwrap()
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            queue("https://sqs.eu-west-1.amazonaws.com/123456789012/events").validate(),
            Ok(())
        );
        assert_eq!(
            queue("http://127.0.0.1:5000/123456789012/events").validate(),
            Ok(())
        );
        assert_eq!(
            queue("events").validate().unwrap_err().0,
            "source.settings.queue_url"
        );
        let half_credentials = SqsSourceSettings {
            access_key_id: Some("AKID".into()),
            ..queue("https://sqs.us-east-1.amazonaws.com/1/q")
        };
        assert_eq!(
            half_credentials.validate().unwrap_err().0,
            "source.settings.access_key_id"
        );
        let long_wait = SqsSourceSettings {
            wait_time_secs: 21,
            ..queue("https://sqs.us-east-1.amazonaws.com/1/q")
        };
        assert_eq!(
            long_wait.validate().unwrap_err().0,
            "source.settings.wait_time_secs"
        );
    }
}
