use bytefreezer_api::{DatasetSpec, SourceSpec, SyslogSourceSettings};
use bytefreezer_control::ControlServer;
use bytefreezer_control_store::ControlStore;
use bytefreezer_telemetry::Registry;

async fn serve() -> (String, ControlStore, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = ControlStore::connect(&format!("sqlite://{}", dir.path().join("c.db").display()))
        .await
        .unwrap();
    let dataset = DatasetSpec {
        tenant_id: "demo".into(),
        dataset_id: "syslog".into(),
        name: "<script>alert(1)</script>".into(),
        source: SourceSpec::Syslog(SyslogSourceSettings::default()),
        pipeline: Default::default(),
        testing: true,
        active: true,
    };
    store.ensure_demo(&dataset).await.unwrap();
    let key = store.create_api_key("svc", "demo", None).await.unwrap();
    let registry = Registry::new();
    registry
        .counter("bytefreezer_packer_rows_total", "", &[("tenant", "demo")])
        .increment(42);
    let router = ControlServer::new(store.clone(), registry)
        .with_parquet_location("/data/parquet".into())
        .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, store, key, dir)
}

#[tokio::test]
async fn status_page_and_json_show_datasets_and_counters_escaped() {
    let (base, _store, _key, _dir) = serve().await;
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("syslog")
            && html.contains("udp://0.0.0.0:5514")
            && html.contains("/data/parquet")
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            && !html.contains("<script>alert(1)")
    );
    assert!(html.contains("id=\"counter-packer_rows\">42<"));
    let status: serde_json::Value = reqwest::get(format!("{base}/api/v1/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["pipeline"]["packer_rows"], 42);
    assert_eq!(status["datasets"][0]["dataset_id"], "syslog");
    let datasets: serde_json::Value = reqwest::get(format!("{base}/api/v1/datasets"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(datasets[0]["source"]["plugin"], "syslog");
}

#[tokio::test]
async fn dataplane_config_needs_a_key_and_supports_etags() {
    let (base, store, key, _dir) = serve().await;
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/dataplane/config");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        client
            .get(&url)
            .bearer_auth("bf_nope")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let response = client.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let config: bytefreezer_api::DataPlaneConfig = response.json().await.unwrap();
    assert_eq!(config.datasets.len(), 1);
    let again = client
        .get(&url)
        .bearer_auth(&key)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    store
        .set_dataset_active("demo", "syslog", false)
        .await
        .unwrap();
    let changed = client
        .get(&url)
        .bearer_auth(&key)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let config: bytefreezer_api::DataPlaneConfig = changed.json().await.unwrap();
    assert!(
        config.datasets.is_empty(),
        "paused datasets leave the data side"
    );
}
