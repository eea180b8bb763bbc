//! What one caller may take from the query service: one tenant cannot hold every slot, results
//! and string functions are bounded, and keys limited to one dataset (they only send data)
//! cannot query. Cancellation at the deadline is in query_cancel.rs.

use std::time::{Duration, Instant};

use bytefreezer_query::{QueryError, QueryLimits};
use bytefreezer_telemetry::Registry;

#[path = "support/tenants.rs"]
mod tenants;

use tenants::{ENDLESS, serve_fw, tenant_key, two_tenants};

#[tokio::test]
async fn a_tenant_gets_only_its_share_of_the_slots() {
    let (_dir, engine) = two_tenants();
    let engine = engine.with_tenant_limit(1);
    let long = QueryLimits {
        timeout_secs: 3,
        ..QueryLimits::default()
    };
    let first = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.run("t", "fw", ENDLESS, long, false).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let short = QueryLimits {
        timeout_secs: 1,
        ..QueryLimits::default()
    };
    let second = engine.run("t", "fw", "SELECT 1", short, false).await;
    assert!(
        matches!(&second, Err(QueryError::TenantBusy { tenant, running: 1 }) if tenant == "t"),
        "{second:?}"
    );
    assert_eq!(second.unwrap_err().limit_cause(), Some("tenant_busy"));
    assert!(matches!(first.await.unwrap(), Err(QueryError::Timeout(3))));
}

#[tokio::test]
async fn results_and_string_functions_are_bounded() {
    let (_dir, engine) = two_tenants();
    let small_result = QueryLimits {
        max_result_bytes: 64 * 1024,
        ..QueryLimits::default()
    };
    let big = engine
        .run(
            "t",
            "fw",
            "SELECT repeat('x', 1000) AS x FROM generate_series(1, 5000)",
            small_result,
            false,
        )
        .await;
    assert!(
        matches!(big, Err(QueryError::ResultTooLarge(65536))),
        "{big:?}"
    );

    let started = Instant::now();
    let huge = engine
        .run(
            "t",
            "fw",
            "SELECT length(repeat('x', 2000000000)) AS n",
            QueryLimits::default(),
            false,
        )
        .await;
    assert!(
        matches!(huge, Err(QueryError::StringTooLong(_))),
        "{huge:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let fine = engine
        .run(
            "t",
            "fw",
            "SELECT length(repeat('x', 1000)) AS n",
            QueryLimits::default(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(fine.rows[0]["n"], 1000);
}

/// Keys for one dataset are handed to field agents to send data; the query service refuses
/// them with 403 (as the control plane does), while the tenant's key queries.
#[tokio::test]
async fn a_dataset_scoped_key_cannot_query() {
    let (_dir, engine) = two_tenants();
    let registry = Registry::new();
    let keys = vec![
        tenant_key("tenant-key", None),
        tenant_key("agent-key", Some("fw")),
    ];
    let address = serve_fw(engine, keys, &registry).await;
    let client = reqwest::Client::new();
    let ask = |key: &'static str| {
        client
            .post(format!("http://{address}/api/v1/query"))
            .bearer_auth(key)
            .json(&serde_json::json!({"tenant_id": "t", "dataset_id": "fw", "sql": "SELECT count(*) AS n FROM fw"}))
            .send()
    };
    let refused = ask("agent-key").await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("only sends data"),
        "{body}"
    );
    let columns = client
        .get(format!("http://{address}/api/v1/query/t/fw/columns"))
        .bearer_auth("agent-key")
        .send()
        .await
        .unwrap();
    assert_eq!(columns.status(), 403);
    let answered = ask("tenant-key").await.unwrap();
    assert_eq!(answered.status(), 200);
    let body: serde_json::Value = answered.json().await.unwrap();
    assert_eq!(body["rows"][0]["n"], 2);
    // The scheme is case-insensitive, as for the control plane and the receiver.
    let lowercase = client
        .get(format!("http://{address}/api/v1/query/t/fw/columns"))
        .header("authorization", "bearer tenant-key")
        .send()
        .await
        .unwrap();
    assert_eq!(lowercase.status(), 200);
    let metrics = registry.render();
    assert!(
        metrics.contains("bytefreezer_query_refused_total{cause=\"scope\"} 2"),
        "{metrics}"
    );
}
