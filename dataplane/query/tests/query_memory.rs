//! Queries that would build huge values in memory (aggregated strings, repeated arrays, padded
//! or concatenated text, big constants copied into every row) answer a clear 422 quickly, the
//! process's memory stays bounded, and the service answers the next query at once. Alone in its
//! test binary so the peak memory measured is this test's.

use std::time::{Duration, Instant};

use bytefreezer_telemetry::Registry;

#[path = "support/tenants.rs"]
mod tenants;

use tenants::{serve_fw, tenant_key, two_tenants};

/// Peak resident memory of this process so far, from /proc.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_values_are_refused_with_4xx_and_memory_stays_bounded() {
    let (_dir, engine) = two_tenants();
    let registry = Registry::new();
    let address = serve_fw(engine, vec![tenant_key("tenant-key", None)], &registry).await;
    let client = reqwest::Client::new();
    let ask = |sql: &str| {
        client
            .post(format!("http://{address}/api/v1/query"))
            .bearer_auth("tenant-key")
            .json(&serde_json::json!({"tenant_id": "t", "dataset_id": "fw", "sql": sql}))
            .send()
    };
    let baseline = peak_rss_bytes();

    for (sql, expected) in [
        (
            "SELECT string_agg(repeat('x', 1000000), ',') FROM generate_series(1, 100000)",
            "copied into each",
        ),
        ("SELECT array_repeat('x', 2000000000)", "array_repeat()"),
        ("SELECT lpad('x', 2000000000)", "lpad()"),
        (
            "SELECT regexp_replace(CAST(value AS VARCHAR), '', repeat('y', 2000), 'g') \
             FROM generate_series(1, 100000) AS t(value)",
            "regexp_replace()",
        ),
        (
            "WITH a AS (SELECT repeat('x', 1000) || CAST(value AS VARCHAR) AS v FROM \
             generate_series(1, 8000) AS t(value)), b AS (SELECT v || v AS v FROM a), \
             c AS (SELECT v || v AS v FROM b), d AS (SELECT v || v AS v FROM c), \
             e AS (SELECT v || v AS v FROM d) SELECT length(v) FROM e",
            "||",
        ),
        // Each row's value is small; what grows is the aggregate, which the memory pool stops.
        (
            "SELECT length(string_agg(repeat('x', 1000), ',')) FROM generate_series(1, 10000000)",
            "more memory than its limit",
        ),
    ] {
        let started = Instant::now();
        let refused = ask(sql).await.unwrap();
        let status = refused.status();
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(status, 422, "{sql}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(expected),
            "{sql}: {body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{sql} took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let next = ask("SELECT 1 AS one").await.unwrap();
        assert_eq!(next.status(), 200, "after {sql}");
        assert!(started.elapsed() < Duration::from_secs(2), "after {sql}");
    }
    let grown = peak_rss_bytes().saturating_sub(baseline);
    assert!(
        grown < 1536 * 1024 * 1024,
        "peak memory grew by {} MiB",
        grown >> 20
    );
    let ordinary = ask("SELECT concat(action, '-', upper(action)) || '!' AS a FROM fw ORDER BY a")
        .await
        .unwrap();
    let body: serde_json::Value = ordinary.json().await.unwrap();
    assert_eq!(body["rows"][0]["a"], "allow-ALLOW!", "{body}");
    let metrics = registry.render();
    assert!(
        metrics.contains("bytefreezer_query_refused_total{cause=\"string_bytes\"} 5")
            && metrics.contains("bytefreezer_query_refused_total{cause=\"memory\"} 1"),
        "{metrics}"
    );
}
