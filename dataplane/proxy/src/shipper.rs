use std::sync::Arc;
use std::time::Duration;

use bytefreezer_telemetry::{Registry, Shutdown};
use reqwest::StatusCode;

use crate::spool::{Spool, SpooledBatch};

const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";
const BATCH_ID_HEADER: &str = "x-bytefreezer-batch-id";

/// Sends spooled batches to the receiver, oldest first, until each is acknowledged.
pub struct Shipper {
    pub client: reqwest::Client,
    pub receiver_url: String,
    pub api_key: String,
    pub spool: Arc<Spool>,
    pub registry: Registry,
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

enum Outcome {
    Acknowledged,
    Rejected(String),
    Retry(String),
}

impl Shipper {
    /// One sending loop; several run side by side so a slow request does not stall the rest.
    pub async fn run_worker(self: Arc<Self>, mut stop: Shutdown) {
        let mut backoff = self.retry_initial;
        loop {
            if stop.is_triggered() {
                return;
            }
            let added = self.spool.added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            let Some(batch) = self.spool.take_next() else {
                tokio::select! {
                    _ = stop.wait() => return,
                    _ = &mut added => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            };
            match self.send(&batch).await {
                Outcome::Acknowledged => {
                    self.spool.acknowledged(&batch);
                    self.count(
                        "bytefreezer_proxy_rows_acked_total",
                        "Rows the receiver acknowledged as durable.",
                        &batch,
                    );
                    backoff = self.retry_initial;
                }
                Outcome::Rejected(reason) => {
                    self.spool.rejected(&batch);
                    self.count(
                        "bytefreezer_proxy_rows_rejected_total",
                        "Rows the receiver refused for good (see spool/rejected).",
                        &batch,
                    );
                    tracing::error!(tenant = %batch.tenant_id, dataset = %batch.dataset_id, "receiver refused batch {}: {reason}; moved to spool/rejected", batch.batch_id);
                }
                Outcome::Retry(reason) => {
                    self.spool.release(&batch);
                    self.registry
                        .counter(
                            "bytefreezer_proxy_retries_total",
                            "Failed sends that will be retried.",
                            &[],
                        )
                        .increment(1);
                    tracing::warn!(
                        "cannot deliver batch {} ({reason}); retrying in {backoff:?}",
                        batch.batch_id
                    );
                    let jitter = Duration::from_millis(rand::random_range(
                        0..=backoff.as_millis() as u64 / 4 + 1,
                    ));
                    tokio::select! {
                        _ = stop.wait() => return,
                        _ = tokio::time::sleep(backoff + jitter) => {}
                    }
                    backoff = (backoff * 2).min(self.retry_max);
                }
            }
        }
    }

    async fn send(&self, batch: &SpooledBatch) -> Outcome {
        let body = match tokio::fs::read(&batch.path).await {
            Ok(body) => body,
            Err(error) => {
                return Outcome::Retry(format!("cannot read {}: {error}", batch.path.display()));
            }
        };
        let url = format!(
            "{}/api/v1/ingest/{}/{}",
            self.receiver_url, batch.tenant_id, batch.dataset_id
        );
        let response = self
            .client
            .post(&url)
            .bearer_auth(&self.api_key)
            .header(reqwest::header::CONTENT_TYPE, ARROW_STREAM)
            .header(BATCH_ID_HEADER, &batch.batch_id)
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error) => return Outcome::Retry(format!("{url}: {error}")),
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Acknowledged;
        }
        let text = response.text().await.unwrap_or_default();
        let reason = format!("{status}: {}", text.trim());
        match status {
            StatusCode::BAD_REQUEST
            | StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::NOT_FOUND
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE => Outcome::Rejected(reason),
            _ => Outcome::Retry(reason),
        }
    }

    fn count(&self, name: &str, help: &str, batch: &SpooledBatch) {
        self.registry
            .counter(
                name,
                help,
                &[("tenant", &batch.tenant_id), ("dataset", &batch.dataset_id)],
            )
            .increment(batch.rows);
    }
}
