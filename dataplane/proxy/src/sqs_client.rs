//! The few Amazon SQS calls the `sqs` input makes (ReceiveMessage, DeleteMessageBatch,
//! ChangeMessageVisibilityBatch, GetQueueAttributes), over SQS's JSON protocol
//! (`application/x-amz-json-1.0`) signed with AWS Signature Version 4. Any SQS-compatible
//! server that speaks that protocol works (AWS, moto, LocalStack, ElasticMQ).

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The largest answer read: ten messages of SQS's 256 KiB limit with their attributes fit
/// many times over.
const MAX_ANSWER_BYTES: usize = 16 << 20;

/// Batch calls (ten receipts each) running at once.
const BATCH_CALLS_AT_ONCE: usize = 8;

/// Where SQS is, and as whom the input calls it.
#[derive(Clone)]
pub struct SqsClient {
    http: reqwest::Client,
    /// `https://sqs.us-east-1.amazonaws.com/`: the queue URL's scheme and authority.
    endpoint: reqwest::Url,
    queue_url: String,
    region: String,
    credentials: Credentials,
}

#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Credentials {
    /// Those given, or the proxy's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN`.
    pub fn given_or_from_env(
        access_key_id: Option<&str>,
        secret_access_key: Option<&str>,
        session_token: Option<&str>,
    ) -> Result<Credentials, String> {
        if let (Some(access_key_id), Some(secret_access_key)) = (access_key_id, secret_access_key) {
            return Ok(Credentials {
                access_key_id: access_key_id.to_owned(),
                secret_access_key: secret_access_key.to_owned(),
                session_token: session_token.map(str::to_owned),
            });
        }
        match (
            std::env::var("AWS_ACCESS_KEY_ID"),
            std::env::var("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Ok(access_key_id), Ok(secret_access_key)) => Ok(Credentials {
                access_key_id,
                secret_access_key,
                session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
            }),
            _ => Err(
                "no credentials: set access_key_id and secret_access_key, or the \
                      proxy's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    .to_owned(),
            ),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A failed call: the service's error type and message, or why no answer came.
#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("SQS answered {status} {code}: {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach SQS: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("SQS answered with a body that is not what {action} returns: {detail}")]
    Malformed {
        action: &'static str,
        detail: String,
    },
}

impl SqsError {
    /// Errors another try cannot mend (a missing queue, refused credentials).
    pub fn is_permanent(&self) -> bool {
        match self {
            SqsError::Service { status, code, .. } => {
                (400..500).contains(status)
                    && !code.contains("Throttl")
                    && !code.contains("RequestTimeout")
            }
            _ => false,
        }
    }
}

/// One received message.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SqsMessage {
    pub message_id: String,
    pub receipt_handle: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub attributes: std::collections::HashMap<String, String>,
}

impl SqsMessage {
    /// How many times SQS has handed this message out, this time included.
    pub fn receive_count(&self) -> u32 {
        self.attributes
            .get("ApproximateReceiveCount")
            .and_then(|count| count.parse().ok())
            .unwrap_or(1)
    }
}

impl SqsClient {
    /// A client for `queue_url` (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`, or the queue
    /// URL of a compatible server); calls go to the URL's scheme and authority.
    pub fn new(
        http: reqwest::Client,
        queue_url: &str,
        region: &str,
        credentials: Credentials,
    ) -> Result<SqsClient, String> {
        let url = reqwest::Url::parse(queue_url)
            .map_err(|error| format!("queue_url {queue_url:?} is not a URL: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "queue_url {queue_url:?} must be an http:// or https:// URL"
            ));
        }
        let mut endpoint = url.clone();
        endpoint.set_path("/");
        endpoint.set_query(None);
        Ok(SqsClient {
            http,
            endpoint,
            queue_url: queue_url.to_owned(),
            region: region.to_owned(),
            credentials,
        })
    }

    /// Up to `max` messages, waiting up to `wait` for the first (long polling), each hidden from
    /// other receivers for `visibility`.
    pub async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<SqsMessage>, SqsError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Received {
            #[serde(default)]
            messages: Vec<SqsMessage>,
        }
        let answer = self
            .call(
                "ReceiveMessage",
                json!({
                    "QueueUrl": self.queue_url,
                    "MaxNumberOfMessages": max,
                    "WaitTimeSeconds": wait.as_secs(),
                    "VisibilityTimeout": visibility.as_secs(),
                    "AttributeNames": ["ApproximateReceiveCount"],
                    "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
                }),
            )
            .await?;
        let received: Received =
            serde_json::from_value(answer).map_err(|error| SqsError::Malformed {
                action: "ReceiveMessage",
                detail: error.to_string(),
            })?;
        Ok(received.messages)
    }

    /// Deletes received messages by receipt handle, ten per call; the handles SQS did not
    /// delete, with its reason.
    pub async fn delete(&self, receipts: &[String]) -> Result<Vec<(String, String)>, SqsError> {
        self.batch("DeleteMessageBatch", receipts, json!({})).await
    }

    /// Hides received messages for `visibility` from now (zero: visible again at once).
    pub async fn change_visibility(
        &self,
        receipts: &[String],
        visibility: Duration,
    ) -> Result<Vec<(String, String)>, SqsError> {
        let settings = json!({ "VisibilityTimeout": visibility.as_secs() });
        self.batch("ChangeMessageVisibilityBatch", receipts, settings)
            .await
    }

    /// The queue's approximate counts of waiting and in-flight messages (for tests).
    #[cfg(test)]
    pub async fn counts(&self) -> Result<(u64, u64), SqsError> {
        let answer = self
            .call(
                "GetQueueAttributes",
                json!({
                    "QueueUrl": self.queue_url,
                    "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                }),
            )
            .await?;
        let count = |name: &str| {
            answer["Attributes"][name]
                .as_str()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok((
            count("ApproximateNumberOfMessages"),
            count("ApproximateNumberOfMessagesNotVisible"),
        ))
    }

    /// `action` on every receipt, ten per call (SQS's batch limit), several calls at once so a
    /// large batch is done well within the visibility timeout; the receipts SQS refused, with
    /// its reason.
    async fn batch(
        &self,
        action: &'static str,
        receipts: &[String],
        entry_settings: Value,
    ) -> Result<Vec<(String, String)>, SqsError> {
        // Collected first: a lazily mapped iterator of futures borrowing `self` is not `Send`
        // for every lifetime, which the input's task needs.
        let calls: Vec<_> = receipts
            .chunks(10)
            .map(|chunk| {
                let entries: Vec<Value> = chunk
                    .iter()
                    .enumerate()
                    .map(|(index, receipt)| {
                        let mut entry = entry_settings.clone();
                        entry["Id"] = json!(index.to_string());
                        entry["ReceiptHandle"] = json!(receipt);
                        entry
                    })
                    .collect();
                let body = json!({ "QueueUrl": self.queue_url, "Entries": entries });
                async move { Ok::<_, SqsError>((chunk, self.call(action, body).await?)) }
            })
            .collect();
        let mut answers = futures::stream::iter(calls).buffer_unordered(BATCH_CALLS_AT_ONCE);
        let mut failed = Vec::new();
        while let Some(answered) = answers.next().await {
            let (chunk, answer) = answered?;
            for failure in answer["Failed"].as_array().into_iter().flatten() {
                let index: Option<usize> = failure["Id"].as_str().and_then(|id| id.parse().ok());
                if let Some(receipt) = index.and_then(|index| chunk.get(index)) {
                    let reason = failure["Message"]
                        .as_str()
                        .or(failure["Code"].as_str())
                        .unwrap_or("no reason given");
                    failed.push((receipt.clone(), reason.to_owned()));
                }
            }
        }
        Ok(failed)
    }

    /// One signed call; the JSON answer of a 2xx, the service's error otherwise.
    pub(crate) async fn call(&self, action: &'static str, body: Value) -> Result<Value, SqsError> {
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let target = format!("AmazonSQS.{action}");
        let headers = self.signed_headers(&target, &body, SystemTime::now());
        let mut request = self.http.post(self.endpoint.clone()).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut response = request.send().await?;
        let status = response.status();
        // SQS's largest answer is ten messages of 256 KiB; a server sending far more is not
        // SQS, and must not cost the proxy its memory.
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(SqsError::Malformed {
                    action,
                    detail: format!("an answer of more than {MAX_ANSWER_BYTES} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let answer: Value = if bytes.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&bytes).map_err(|error| SqsError::Malformed {
                action,
                detail: format!("{error} (HTTP {status})"),
            })?
        };
        if status.is_success() {
            return Ok(answer);
        }
        let code = answer["__type"]
            .as_str()
            .or(answer["code"].as_str())
            .unwrap_or("unknown");
        Err(SqsError::Service {
            status: status.as_u16(),
            // `com.amazonaws.sqs#QueueDoesNotExist` names the error after the `#`.
            code: code.rsplit('#').next().unwrap_or(code).to_owned(),
            message: answer["message"]
                .as_str()
                .or(answer["Message"].as_str())
                .unwrap_or("no message")
                .to_owned(),
        })
    }

    /// The headers of a call to `target` with `body`, signed (AWS Signature Version 4).
    fn signed_headers(
        &self,
        target: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Vec<(&'static str, String)> {
        let now: DateTime<Utc> = now.into();
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = &amz_date[..8];
        let host = match (self.endpoint.host_str(), self.endpoint.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => String::new(),
        };
        let mut headers: Vec<(&'static str, String)> = vec![
            ("content-type", "application/x-amz-json-1.0".to_owned()),
            ("host", host),
            ("x-amz-date", amz_date.clone()),
            ("x-amz-target", target.to_owned()),
        ];
        if let Some(token) = &self.credentials.session_token {
            headers.push(("x-amz-security-token", token.clone()));
        }
        headers.sort_by_key(|(name, _)| *name);
        let canonical_headers: String = headers
            .iter()
            .map(|(name, value)| format!("{name}:{}\n", value.trim()))
            .collect();
        let signed_headers = headers
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(";");
        let canonical_request = format!(
            "POST\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
            self.endpoint.path(),
            hex::encode(Sha256::digest(body))
        );
        let scope = format!("{date}/{}/sqs/aws4_request", self.region);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let secret = format!("AWS4{}", self.credentials.secret_access_key);
        let key = [date, self.region.as_str(), "sqs", "aws4_request"]
            .iter()
            .fold(secret.into_bytes(), |key, part| hmac(&key, part.as_bytes()));
        let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        headers.push((
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                self.credentials.access_key_id
            ),
        ));
        headers.retain(|(name, _)| *name != "host");
        headers
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's own Signature Version 4 example: the signing key and signature for a known
    /// request, date and secret (docs.aws.amazon.com, "Create a signed AWS API request").
    #[test]
    fn the_signing_key_matches_the_aws_example() {
        let secret = "AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let key = ["20150830", "us-east-1", "iam", "aws4_request"]
            .iter()
            .fold(secret.as_bytes().to_vec(), |key, part| {
                hmac(&key, part.as_bytes())
            });
        assert_eq!(
            hex::encode(&key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let string_to_sign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";
        assert_eq!(
            hex::encode(hmac(&key, string_to_sign.as_bytes())),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    /// The headers of a ReceiveMessage call with `body` at 2023-11-14T22:13:20Z, as `AKID`.
    fn signed(session_token: Option<&str>, body: &[u8]) -> Vec<(&'static str, String)> {
        let client = SqsClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:5000/123456789012/events",
            "eu-west-1",
            Credentials {
                access_key_id: "AKID".into(),
                secret_access_key: "secret".into(),
                session_token: session_token.map(str::to_owned),
            },
        )
        .unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        client.signed_headers("AmazonSQS.ReceiveMessage", body, at)
    }

    /// A server answering more than SQS ever does is refused before the answer fills memory.
    #[tokio::test]
    async fn an_oversized_answer_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let body = vec![b' '; MAX_ANSWER_BYTES + 1];
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        });
        let client = SqsClient::new(
            reqwest::Client::new(),
            &format!("http://{address}/123456789012/events"),
            "us-east-1",
            Credentials {
                access_key_id: "AKID".into(),
                secret_access_key: "secret".into(),
                session_token: None,
            },
        )
        .unwrap();
        let error = client
            .receive(10, Duration::ZERO, Duration::from_secs(30))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("more than"), "{error}");
    }

    /// The signature botocore (the AWS SDK for Python) computes for the same call, date and
    /// credentials: an independent implementation agreeing byte for byte.
    #[test]
    fn a_call_is_signed_as_the_aws_sdk_signs_it() {
        let headers = signed(None, b"{}");
        let authorization = &headers
            .iter()
            .find(|(name, _)| *name == "authorization")
            .unwrap()
            .1;
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKID/20231114/eu-west-1/sqs/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
             Signature=7ebc7943116beb1f4fe0cdf378a11056c05a25b0fb8ee6de8aad1bd90ca0ed24"
        );
    }

    #[test]
    fn a_call_is_signed_over_host_date_target_and_body() {
        let headers = signed(Some("token"), b"{}");
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("x-amz-date"), "20231114T221320Z");
        let authorization = get("authorization");
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKID/20231114/eu-west-1/sqs/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="
            ),
            "{authorization}"
        );
        // Another body, another signature.
        let other = signed(Some("token"), b"{ }");
        assert_ne!(
            other.iter().find(|(n, _)| *n == "authorization").unwrap().1,
            authorization
        );
    }
}
