//! Who may report a query service, and where the dashboard sends its queries: only account
//! credentials report query services, an instance stays with the credentials that registered
//! it, and `/api/v1/query-access` names only a query service the control plane vouches for,
//! with a short-lived token for one tenant.

#[path = "support/control.rs"]
#[macro_use]
mod control;

use bytefreezer_api::verify_query_token;
use bytefreezer_control::ControlServer;
use bytefreezer_control_store::{Actor, KeyScope};
use bytefreezer_telemetry::Registry;
use control::*;
use serde_json::{Value, json};

const SECRET: &[u8] = b"a query token secret of 32 bytes or more";

api_tests_on_both_backends!(
    another_accounts_query_service_never_receives_this_accounts_queries,
    a_tenant_key_cannot_report_a_query_service,
);

fn query_report(instance: &str, endpoint: &str) -> Value {
    json!({
        "instance_id": instance, "role": "query", "host": "q-1", "version": "0.1.0",
        "started_at": "2026-11-29T10:00:00Z", "ready": true, "endpoint": endpoint,
        "system": { "cpu_percent": 1.0, "memory_bytes": 1u64, "disk_free_bytes": 1u64,
                    "disk_total_bytes": 2u64, "uptime_secs": 60 },
    })
}

/// The control plane of `control`'s store, issuing query tokens, in place of `control.base`.
async fn with_query_access(control: &mut Control, endpoint: Option<String>) {
    let router = ControlServer::new(control.store.clone(), Registry::new())
        .with_query_access(endpoint, SECRET.to_vec())
        .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    control.base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
}

async fn account_key(control: &Control, account_id: &str, name: &str) -> String {
    let scope = KeyScope::Account {
        account_id: account_id.into(),
    };
    control
        .store
        .create_api_key(&Actor::system(), name, &scope)
        .await
        .unwrap()
        .0
}

/// The reproduction: a key of account B reports `role=query, instance_id="0"` with its
/// own endpoint; an admin of account A opens Query and is sent only to A's query service.
async fn another_accounts_query_service_never_receives_this_accounts_queries(mut control: Control) {
    with_query_access(&mut control, None).await;
    let system = Actor::system();
    let b = control.store.create_account(&system, "b").await.unwrap();
    control
        .store
        .create_tenant(&system, &b.id, "bt", "B")
        .await
        .unwrap();
    let b_key = account_key(&control, &b.id, "b-svc").await;
    let b_report = query_report("0", "http://b.example:8083");
    for _ in 0..2 {
        let (status, body) = control
            .report_service(&Auth::Key(&b_key), b_report.clone())
            .await;
        assert_eq!(status, 204, "B reports its own query service: {body}");
    }
    let admin = control.login(ADMIN.0, ADMIN.1).await;
    let (status, body) = control
        .post(
            "/api/v1/query-access",
            &Auth::Session(&admin),
            json!({"tenant_id": "demo"}),
        )
        .await;
    assert_eq!(status, 409, "account A runs no query service yet: {body}");
    assert!(!body.to_string().contains("b.example"), "{body}");

    // A's own query service, reported with A's account key; another key of A cannot take it over.
    let a_key = account_key(&control, &control.account, "a-svc").await;
    let a_report = query_report("query-a", "http://a.example:8083/");
    let (status, _) = control
        .report_service(&Auth::Key(&a_key), a_report.clone())
        .await;
    assert_eq!(status, 204);
    let other_a_key = account_key(&control, &control.account, "a-other").await;
    let hijack = query_report("query-a", "http://evil.example:8083");
    let (status, body) = control
        .report_service(&Auth::Key(&other_a_key), hijack)
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = control
        .report_service(
            &Auth::Key(&a_key),
            query_report("0", "http://a.example:8083"),
        )
        .await;
    assert_eq!(status, 409, "B's instance stays B's: {body}");

    let (status, grant) = control
        .post(
            "/api/v1/query-access",
            &Auth::Session(&admin),
            json!({"tenant_id": "demo"}),
        )
        .await;
    assert_eq!(status, 200, "{grant}");
    assert_eq!(grant["endpoint"], "http://a.example:8083");
    let token = grant["token"].as_str().unwrap();
    let claims = verify_query_token(token, SECRET, chrono::Utc::now().timestamp()).unwrap();
    assert_eq!(
        (
            claims.tenant_id.as_str(),
            claims.account_id.as_str(),
            claims.subject.as_str()
        ),
        ("demo", control.account.as_str(), ADMIN.0)
    );
    let lifetime = grant["expires_at"].as_i64().unwrap() - chrono::Utc::now().timestamp();
    assert!((1..=300).contains(&lifetime), "{lifetime}");
    assert!(verify_query_token(token, b"another secret", 0).is_err());

    // B's key learns nothing of A's tenant; every token issued is audited.
    let (status, _) = control
        .post(
            "/api/v1/query-access",
            &Auth::Key(&b_key),
            json!({"tenant_id": "demo"}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, audit) = control
        .get(
            "/api/v1/audit?action=query_token.issue",
            &Auth::Session(&admin),
        )
        .await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], ADMIN.0);

    // Configured by the operator (`bytefreezer up`: this origin): the registry is not consulted.
    with_query_access(&mut control, Some(String::new())).await;
    let (status, grant) = control
        .post(
            "/api/v1/query-access",
            &Auth::Session(&admin),
            json!({"tenant_id": "demo"}),
        )
        .await;
    assert_eq!(
        (status, grant["endpoint"].as_str()),
        (200, Some("")),
        "{grant}"
    );
}

/// The demo tenant's key (as a proxy uses) was able to register a query service with its own
/// endpoint; now it gets 403, and it can still report its proxy.
async fn a_tenant_key_cannot_report_a_query_service(mut control: Control) {
    with_query_access(&mut control, None).await;
    let key = Auth::Key(&control.key);
    let (status, body) = control
        .report_service(&key, query_report("0", "http://evil.example"))
        .await;
    assert_eq!(status, 403, "{body}");
    let mut proxy = query_report("proxy-1", "");
    proxy["role"] = json!("proxy");
    let (status, body) = control.report_service(&key, proxy).await;
    assert_eq!(status, 204, "{body}");
    let (_, services) = control.get("/api/v1/services", &key).await;
    assert!(
        services
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["role"] != "query"),
        "{services}"
    );
}
