use bytefreezer_api::Role;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytefreezer_api::metrics::{
    PROXY_BATCHES_REJECTED_TOTAL, PROXY_RETRIES_TOTAL, PROXY_ROWS_ACKED_TOTAL,
    PROXY_ROWS_REJECTED_TOTAL,
};
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
    /// How long a batch refused as unknown (401, 403, 404) is retried before it is rejected:
    /// the proxy and the receiver learn a new dataset or key each on its own schedule.
    pub reject_grace: Duration,
}

enum Outcome {
    Acknowledged,
    /// Refused for good: retrying the same bytes cannot help.
    Rejected {
        reason: &'static str,
        detail: String,
    },
    /// Refused as unknown: the receiver may not have learnt the dataset or key yet.
    NotYetKnown {
        reason: &'static str,
        detail: String,
    },
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
            let outcome = match self.send(&batch).await {
                Outcome::NotYetKnown { reason, detail } => {
                    let refused_for = self.spool.refused_for(&batch, Instant::now());
                    if refused_for >= self.reject_grace {
                        Outcome::Rejected { reason, detail }
                    } else {
                        Outcome::Retry(format!(
                            "{detail}; the receiver may not know the dataset or key yet, \
                             retrying for {:?} more before rejecting it",
                            self.reject_grace - refused_for
                        ))
                    }
                }
                outcome => outcome,
            };
            match outcome {
                Outcome::Acknowledged => {
                    bytefreezer_telemetry::crash_point("proxy.batch_acknowledged");
                    self.spool.acknowledged(&batch);
                    self.count(
                        PROXY_ROWS_ACKED_TOTAL.name,
                        PROXY_ROWS_ACKED_TOTAL.help,
                        &batch,
                    );
                    backoff = self.retry_initial;
                }
                Outcome::Rejected { reason, detail } => self.reject(&batch, reason, &detail),
                // (`NotYetKnown` was turned into `Rejected` or `Retry` above.)
                Outcome::Retry(reason) | Outcome::NotYetKnown { detail: reason, .. } => {
                    self.spool.release(&batch);
                    self.registry
                        .counter(PROXY_RETRIES_TOTAL.name, PROXY_RETRIES_TOTAL.help, &[])
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

    /// Moves a batch the receiver refused for good to spool/rejected, counted by reason and
    /// reported in the Activity view.
    fn reject(&self, batch: &SpooledBatch, reason: &'static str, detail: &str) {
        self.spool.rejected(batch, detail);
        self.count(
            PROXY_ROWS_REJECTED_TOTAL.name,
            PROXY_ROWS_REJECTED_TOTAL.help,
            batch,
        );
        let (tenant, dataset) = (batch.tenant_id.as_str(), batch.dataset_id.as_str());
        self.registry
            .counter(
                PROXY_BATCHES_REJECTED_TOTAL.name,
                PROXY_BATCHES_REJECTED_TOTAL.help,
                &[("tenant", tenant), ("dataset", dataset), ("reason", reason)],
            )
            .increment(1);
        let message = format!(
            "receiver refused batch {} ({} rows) for good: {detail}; moved to spool/rejected \
             (bytefreezer proxy --replay-rejected sends it again)",
            batch.batch_id, batch.rows
        );
        self.registry.activity().record(
            Role::Proxy.as_str(),
            (tenant, dataset),
            false,
            message.clone(),
            serde_json::json!({
                "batch_id": batch.batch_id,
                "rows": batch.rows,
                "bytes": batch.bytes,
                "reason": reason,
            }),
        );
        tracing::error!(tenant, dataset, "{message}");
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
        let detail = format!("{status}: {}", text.trim());
        classify(status, detail)
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

/// What a receiver's refusal means: 401/403/404 may be config lag (the receiver has not learned
/// the key or dataset yet, so retried for a grace period), other 4xx refuse this batch for good,
/// and everything else is retried.
fn classify(status: StatusCode, detail: String) -> Outcome {
    let (reason, for_good) = match status {
        StatusCode::UNAUTHORIZED => ("unauthorized", false),
        StatusCode::FORBIDDEN => ("forbidden", false),
        StatusCode::NOT_FOUND => ("not_found", false),
        StatusCode::BAD_REQUEST => ("bad_request", true),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", true),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", true),
        _ => return Outcome::Retry(detail),
    };
    if for_good {
        Outcome::Rejected { reason, detail }
    } else {
        Outcome::NotYetKnown { reason, detail }
    }
}
