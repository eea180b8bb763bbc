use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::Utc;

use crate::generator::{FakeFormat, FakeGenerator};
use crate::pacer::Pacer;

/// Where and how to post events to an `http` input.
#[derive(Debug, Clone)]
pub struct HttpSendOptions {
    /// `http://HOST:PORT/PATH` or `https://...`.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    pub format: FakeFormat,
    /// Events per second; as fast as the input answers when `None`.
    pub rate_per_second: Option<u64>,
    pub count: Option<u64>,
    pub seed: u64,
    /// Events per request at most.
    pub events_per_request: usize,
}

/// Posts events, one per line (NDJSON for `json`), until `count` or `shutdown`; how many the
/// input answered 200 for. A refused request (429, 503) is retried after its `Retry-After`, so
/// nothing generated is skipped; any other refusal is an error naming the answer.
pub async fn send_http(
    options: HttpSendOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<u64> {
    if !(options.url.starts_with("http://") || options.url.starts_with("https://")) {
        bail!(
            "target {:?} must look like http://HOST:PORT/PATH",
            options.url
        );
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    let mut generator = FakeGenerator::new(options.seed);
    let mut body = Vec::with_capacity(options.events_per_request * 256);
    let mut sent = 0u64;
    let mut pacer = Pacer::new(
        options.rate_per_second,
        options.count,
        options.events_per_request as u64,
    );
    tokio::pin!(shutdown);
    loop {
        let due = pacer.due(sent);
        while sent < due {
            let events = (due - sent).min(options.events_per_request.max(1) as u64);
            body.clear();
            for _ in 0..events {
                generator.render(options.format, Utc::now(), &mut body);
                body.push(b'\n');
            }
            post_until_taken(&client, &options, body.clone()).await?;
            sent += events;
        }
        if pacer.finished(sent) || pacer.wait(&mut shutdown).await {
            return Ok(sent);
        }
    }
}

async fn post_until_taken(
    client: &reqwest::Client,
    options: &HttpSendOptions,
    body: Vec<u8>,
) -> Result<()> {
    loop {
        let mut request = client.post(&options.url).body(body.clone());
        if let Some(token) = &options.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot post to {}", options.url))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.as_u16() == 429 || status.as_u16() == 503 {
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait.min(60))).await;
            continue;
        }
        let answer = response.text().await.unwrap_or_default();
        bail!("{} answered {status}: {answer}", options.url);
    }
}
