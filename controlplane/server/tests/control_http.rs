#[path = "support/control.rs"]
#[macro_use]
mod control;

use bytefreezer_control_store::Actor;
use control::*;
use serde_json::{Value, json};

api_tests_on_both_backends!(
    dashboard_files_and_status_json,
    dataplane_config_needs_a_key_and_supports_etags,
    long_poll_answers_as_soon_as_a_dataset_is_paused,
    another_tenants_things_answer_404_whatever_the_path,
    sessions_need_csrf_and_viewers_only_read,
    malformed_requests_get_4xx_naming_the_field,
    reports_show_health_statistics_activity_and_what_is_not_installed,
    keys_are_shown_once_and_revoked_keys_stop_working,
    the_openapi_document_describes_every_route,
);

async fn dashboard_files_and_status_json(control: Control) {
    let base = &control.base;
    // The dashboard is static files that build pages from the API in the browser (never
    // parsing API values as HTML); the browser tests drive it.
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains("/assets/js/app.js"), "{html}");
    let script = reqwest::get(format!("{base}/assets/js/app.js"))
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let missing = reqwest::get(format!("{base}/assets/js/nope.js"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // A page typed without its `#` lands on the page, not on a JSON 404.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let typed = no_redirects
        .get(format!("{base}/datasets/acme/fw"))
        .send()
        .await
        .unwrap();
    assert_eq!(typed.status(), 303);
    assert_eq!(typed.headers()["location"], "/#/datasets/acme/fw");
    let unknown = reqwest::get(format!("{base}/api/v1/nope")).await.unwrap();
    assert_eq!(unknown.status(), 404);
    let status: serde_json::Value = reqwest::get(format!("{base}/api/v1/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["pipeline"]["packer_rows"], 42);
    assert_eq!(status["datasets"][0]["dataset_id"], "syslog");
    let (status, datasets) = control
        .get("/api/v1/datasets", &Auth::Key(&control.key))
        .await;
    assert_eq!(status, 200);
    assert_eq!(datasets[0]["source"]["plugin"], "syslog");
    let (status, _) = control.get("/api/v1/datasets", &Auth::None).await;
    assert_eq!(status, 401, "datasets are not public");
}

async fn dataplane_config_needs_a_key_and_supports_etags(control: Control) {
    let (base, store, key) = (&control.base, &control.store, &control.key);
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/dataplane/config?proxy=proxy-1");
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
    let response = client.get(&url).bearer_auth(key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let config: bytefreezer_api::DataPlaneConfig = response.json().await.unwrap();
    assert_eq!(config.datasets.len(), 1);
    let again = client
        .get(&url)
        .bearer_auth(key)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    store
        .set_dataset_active(&Actor::system(), "demo", "syslog", false)
        .await
        .unwrap();
    let changed = client
        .get(&url)
        .bearer_auth(key)
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

async fn long_poll_answers_as_soon_as_a_dataset_is_paused(control: Control) {
    let url = format!("{}/api/v1/dataplane/config?proxy=proxy-1", control.base);
    let first = control
        .http
        .get(&url)
        .bearer_auth(&control.key)
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let waiting = {
        let http = control.http.clone();
        let (url, key, etag) = (url.clone(), control.key.clone(), etag.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let response = http
                .get(&url)
                .query(&[("wait", "20")])
                .bearer_auth(&key)
                .header("if-none-match", &etag)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                started.elapsed(),
                response.json::<Value>().await.ok(),
            )
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (status, paused) = control
        .pause("demo", "syslog", &Auth::Key(&control.key))
        .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["active"], false);
    let (status, elapsed, body) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert!(
        elapsed < std::time::Duration::from_secs(5),
        "took {elapsed:?}"
    );
    assert_eq!(body.unwrap()["datasets"], json!([]));
    // Nothing changes: the wait ends with 304 after the asked time.
    let started = std::time::Instant::now();
    let unchanged = control
        .http
        .get(&url)
        .query(&[("wait", "1")])
        .bearer_auth(&control.key)
        .send()
        .await
        .unwrap();
    let etag = unchanged.headers()["etag"].to_str().unwrap().to_owned();
    let unchanged = control
        .http
        .get(&url)
        .query(&[("wait", "1")])
        .bearer_auth(&control.key)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
}

async fn another_tenants_things_answer_404_whatever_the_path(control: Control) {
    let admin = control.login(ADMIN.0, ADMIN.1).await;
    let (status, other) = control
        .post(
            "/api/v1/accounts",
            &Auth::Session(&admin),
            json!({ "name": "other" }),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let other_account = other["id"].as_str().unwrap().to_owned();
    let (status, _) = control
        .post(
            "/api/v1/tenants",
            &Auth::Session(&admin),
            json!({ "tenant_id": "rival", "name": "Rival", "account_id": other_account }),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = control
        .create_dataset("rival", &Auth::Session(&admin), syslog_dataset("fw", 6514))
        .await;
    assert_eq!(status, 201, "{body}");
    let key = Auth::Key(&control.key);
    for (method, path) in [
        ("GET", "/api/v1/tenants/rival"),
        ("PUT", "/api/v1/tenants/rival"),
        ("DELETE", "/api/v1/tenants/rival"),
        ("GET", "/api/v1/tenants/rival/datasets"),
        ("POST", "/api/v1/tenants/rival/datasets"),
        ("GET", "/api/v1/tenants/rival/datasets/fw"),
        ("PUT", "/api/v1/tenants/rival/datasets/fw"),
        ("DELETE", "/api/v1/tenants/rival/datasets/fw"),
        ("POST", "/api/v1/tenants/rival/datasets/fw/pause"),
        ("POST", "/api/v1/tenants/rival/datasets/fw/resume"),
        ("PUT", "/api/v1/tenants/rival/datasets/fw/assignment"),
        ("GET", "/api/v1/tenants/rival/datasets/fw/pipeline"),
        ("PUT", "/api/v1/tenants/rival/datasets/fw/pipeline"),
        ("GET", "/api/v1/tenants/rival/datasets/fw/statistics"),
        ("GET", &format!("/api/v1/accounts/{other_account}")),
        ("GET", "/api/v1/tenants/nope/datasets/fw"),
    ] {
        let (status, body) = control
            .call(method, path, &key, Some(syslog_dataset("fw", 6515)))
            .await;
        assert_eq!(status, 404, "{method} {path}: {body}");
    }
    for path in [
        "/api/v1/tenants",
        "/api/v1/datasets",
        "/api/v1/keys",
        "/api/v1/audit",
        "/api/v1/statistics",
    ] {
        let (status, body) = control.get(path, &key).await;
        assert_eq!(status, 200, "{path}");
        assert!(!body.to_string().contains("rival"), "{path} leaks: {body}");
    }
    let config = control.store.dataplane_config().await.unwrap();
    assert!(
        config.dataset("rival", "fw").is_some(),
        "it exists, yet the key saw 404"
    );
    let (_, still) = control
        .get("/api/v1/tenants/rival/datasets/fw", &Auth::Session(&admin))
        .await;
    assert_eq!(still["active"], true, "the 404'd pause did nothing");
}

async fn sessions_need_csrf_and_viewers_only_read(control: Control) {
    let admin = control.login(ADMIN.0, ADMIN.1).await;
    let (status, _) = control
        .post(
            "/api/v1/auth/login",
            &Auth::None,
            json!({ "email": ADMIN.0, "password": "wrong one!" }),
        )
        .await;
    assert_eq!(status, 401);
    let (status, me) = control.get("/api/v1/auth/me", &Auth::Session(&admin)).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("admin")));
    let tenant = json!({ "tenant_id": "t2", "name": "T2", "account_id": control.account });
    let (status, body) = control
        .post(
            "/api/v1/tenants",
            &Auth::SessionWithoutCsrf(&admin),
            tenant.clone(),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("X-CSRF-Token"));
    let (status, _) = control
        .post("/api/v1/tenants", &Auth::Session(&admin), tenant)
        .await;
    assert_eq!(status, 201);
    let viewer = json!({
        "email": "viewer@example.com", "password": "viewer password", "role": "viewer",
        "account_id": control.account,
    });
    let (status, body) = control
        .post("/api/v1/users", &Auth::Session(&admin), viewer)
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(!body.to_string().contains("viewer password") && !body.to_string().contains("argon2"));
    let viewer = control.login("viewer@example.com", "viewer password").await;
    let (status, datasets) = control
        .get("/api/v1/tenants/demo/datasets", &Auth::Session(&viewer))
        .await;
    assert_eq!(status, 200);
    assert_eq!(datasets.as_array().unwrap().len(), 1);
    let (status, _) = control
        .pause("demo", "syslog", &Auth::Session(&viewer))
        .await;
    assert_eq!(status, 403);
    let (status, _) = control
        .call("POST", "/api/v1/auth/logout", &Auth::Session(&viewer), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = control
        .get("/api/v1/auth/me", &Auth::Session(&viewer))
        .await;
    assert_eq!(status, 401, "the session ended");
}

async fn malformed_requests_get_4xx_naming_the_field(control: Control) {
    let key = Auth::Key(&control.key);
    let url = format!("{}/api/v1/tenants/demo/datasets", control.base);
    let garbage = control
        .http
        .post(&url)
        .bearer_auth(&control.key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let (status, body) = control.create_dataset("demo", &key, json!({ "dataset_id": "x", "source": { "plugin": "syslog", "settings": { "bind": "nope" } } }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["field"].as_str().unwrap().starts_with("source"),
        "{body}"
    );
    let (status, body) = control
        .create_dataset(
            "demo",
            &key,
            json!({ "name": "no id", "source": { "plugin": "syslog", "settings": {} } }),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("dataset_id")),
        "{body}"
    );
    let (status, body) = control
        .create_dataset("demo", &key, syslog_dataset("Bad Id", 7000))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("dataset_id")),
        "{body}"
    );
    let (status, body) = control.create_dataset("demo", &key, json!({
            "dataset_id": "clash", "source": { "plugin": "syslog", "settings": { "bind": "0.0.0.0:5514" } }
        }))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("demo/syslog"),
        "{body}"
    );
    let mut bad_pipeline = syslog_dataset("p", 7001);
    bad_pipeline["pipeline"] = json!({ "filters": [{ "type": "rename_field", "config": {} }] });
    let (status, body) = control.create_dataset("demo", &key, bad_pipeline).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("pipeline.filters[0]")),
        "{body}"
    );
    let mut too_quick = syslog_dataset("q", 7003);
    too_quick["packer"] = json!({ "max_age_secs": 0 });
    let (status, body) = control.create_dataset("demo", &key, too_quick).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("packer.max_age_secs")),
        "{body}"
    );
    let mut escaping = syslog_dataset("escape", 7005);
    escaping["destination"] = json!({ "bucket": "archive", "prefix": "../etc" });
    let (status, body) = control.create_dataset("demo", &key, escaping).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("destination.prefix")),
        "{body}"
    );
    let mut hourly = syslog_dataset("hourly", 7004);
    hourly["packer"] = json!({ "max_age_secs": 3600, "max_file_bytes": 268435456 });
    hourly["destination"] = json!({ "bucket": "archive", "prefix": "site-7/fw" });
    let (status, body) = control.create_dataset("demo", &key, hourly).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["packer"]["max_age_secs"], 3600);
    assert_eq!(body["destination"]["prefix"], "site-7/fw");
    let config = control.store.dataplane_config().await.unwrap();
    assert_eq!(
        config
            .dataset("demo", "hourly")
            .unwrap()
            .packer
            .max_file_bytes,
        Some(268435456)
    );
    let (status, _) = control.get("/api/v1/audit?since=yesterday", &key).await;
    assert_eq!(status, 422);
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/tenants/demo/datasets",
            Some(
                json!({ "dataset_id": "nul", "name": "a\u{0}b", "source": { "plugin": "syslog", "settings": { "bind": "127.0.0.1:7009" } } }),
            ),
        ),
        ("GET", "/api/v1/audit?actor=a%00b", None),
        ("GET", "/api/v1/tenants/de%00mo", None),
    ] {
        let (status, answer) = control.call(method, path, &key, body).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
    }
    let (status, answer) = control
        .call(
            "PUT",
            "/api/v1/tenants/demo/datasets/syslog/pipeline",
            &key,
            Some(json!({ "filters": [{ "type": "add_field", "config": { "field": "x", "value": "a\u{0}b" } }] })),
        )
        .await;
    assert_eq!(status, 400, "a NUL in a pipeline: {answer}");
    let form_login = control
        .http
        .post(format!("{}/api/v1/auth/login", control.base))
        .header("content-type", "text/plain")
        .body(format!(
            r#"{{"email":"{}","password":"{}"}}"#,
            ADMIN.0, ADMIN.1
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(form_login.status(), 400, "no login from a cross-site form");
    let (status, _) = control.get("/api/v1/nope", &key).await;
    assert_eq!(status, 404);
    let (status, body) = control
        .create_dataset("demo", &key, syslog_dataset("fw", 7002))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["source"]["settings"]["bind"], "127.0.0.1:7002");
}

async fn reports_show_health_statistics_activity_and_what_is_not_installed(control: Control) {
    let key = Auth::Key(&control.key);
    let report = |events: u64, drops: u64, ready: bool| {
        json!({
            "instance_id": "proxy-edge-1", "role": "proxy", "host": "edge-1", "version": "0.1.0",
            "started_at": "2026-11-29T10:00:00Z", "ready": ready,
            "system": { "cpu_percent": 12.5, "memory_bytes": 50_000_000u64, "disk_free_bytes": 1u64 << 30,
                        "disk_total_bytes": 1u64 << 32, "uptime_secs": 60 },
            "drops_total": drops,
            "datasets": [{ "tenant_id": "demo", "dataset_id": "syslog", "counters": { "events_received": events } }],
            "activity": [{ "time": "2026-11-29T10:00:05Z", "stage": "proxy", "tenant_id": "demo", "dataset_id": "syslog",
                           "outcome": "ok", "message": "listening", "details": {} }],
        })
    };
    let (status, _) = control.report_service(&key, report(10, 0, false)).await;
    assert_eq!(status, 204);
    let (_, services) = control.get("/api/v1/services", &key).await;
    assert_eq!(services[0]["health"], "Starting");
    control.report_service(&key, report(110, 0, true)).await;
    let (_, services) = control.get("/api/v1/services", &key).await;
    assert_eq!(services[0]["health"], "Healthy");
    assert_eq!(services[0]["memory_bytes"], 50_000_000);
    control.report_service(&key, report(150, 3, true)).await;
    let (_, services) = control.get("/api/v1/services", &key).await;
    assert_eq!(services[0]["health"], "Degraded");
    assert_eq!(
        services[0]["reason"],
        "3 events dropped since the last report"
    );
    let (status, stats) = control
        .get(
            "/api/v1/tenants/demo/datasets/syslog/statistics?minutes=5",
            &key,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(stats["totals"]["events_received"], 150);
    assert_eq!(stats["totals"]["parquet_files"], 0);
    assert_eq!(stats["stages"]["proxy"], "installed");
    assert_eq!(stats["stages"]["packer"], "not_installed");
    let points: i64 = stats["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_i64().unwrap())
        .sum();
    assert_eq!(points, 150);
    let (_, activity) = control.get("/api/v1/activity?stage=proxy", &key).await;
    assert_eq!(activity["events"].as_array().unwrap().len(), 3);
    let (status, body) = control
        .report_service(&key, json!({ "instance_id": "x", "role": "proxy" }))
        .await;
    assert_eq!(status, 422, "{body}");
    let (_, audit) = control
        .get(
            "/api/v1/audit?action=service.register",
            &Auth::Session(&control.login(ADMIN.0, ADMIN.1).await),
        )
        .await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
    assert_eq!(audit["entries"][0]["actor"], "service:proxy-edge-1");
}

async fn keys_are_shown_once_and_revoked_keys_stop_working(control: Control) {
    let (status, created) = control
        .post(
            "/api/v1/keys",
            &Auth::Key(&control.key),
            json!({ "name": "edge-2", "tenant_id": "demo" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let new_key = created["key"].as_str().unwrap().to_owned();
    let (_, listed) = control.get("/api/v1/keys", &Auth::Key(&new_key)).await;
    assert!(
        !listed.to_string().contains(&new_key),
        "listings never show a key"
    );
    assert_eq!(listed.as_array().unwrap().len(), 2);
    // The scheme is case-insensitive, as for the receiver and the query service.
    for scheme in ["bearer", "BEARER"] {
        let lowercase = control
            .http
            .get(format!("{}/api/v1/keys", control.base))
            .header("authorization", format!("{scheme} {new_key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(lowercase.status(), 200, "scheme {scheme}");
    }
    let (status, _) = control
        .post(
            "/api/v1/keys",
            &Auth::Key(&new_key),
            json!({ "name": "account-wide" }),
        )
        .await;
    assert_eq!(status, 403, "a tenant key cannot mint account keys");
    let (status, ingest_only) = control
        .post(
            "/api/v1/keys",
            &Auth::Key(&control.key),
            json!({ "name": "agent", "tenant_id": "demo", "dataset_id": "syslog" }),
        )
        .await;
    assert_eq!(status, 201);
    let agent = ingest_only["key"].as_str().unwrap();
    for (method, path) in [
        ("GET", "/api/v1/tenants/demo/datasets/syslog"),
        ("POST", "/api/v1/tenants/demo/datasets/syslog/pause"),
        ("POST", "/api/v1/keys"),
        ("GET", "/api/v1/dataplane/config"),
    ] {
        let (status, body) = control
            .call(
                method,
                path,
                &Auth::Key(agent),
                Some(json!({ "name": "x" })),
            )
            .await;
        assert_eq!(
            status, 403,
            "a dataset key only ingests: {method} {path}: {body}"
        );
        assert!(
            body.to_string().contains("only sends data"),
            "the refusal says why: {body}"
        );
    }
    let id = created["id"].as_str().unwrap();
    let (status, _) = control
        .call(
            "DELETE",
            &format!("/api/v1/keys/{id}"),
            &Auth::Key(&control.key),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = control.get("/api/v1/tenants", &Auth::Key(&new_key)).await;
    assert_eq!(status, 401);
    let (_, audit) = control
        .get("/api/v1/audit?target=api_key/", &Auth::Key(&control.key))
        .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_key.revoke",
            "api_key.create",
            "api_key.create",
            "api_key.create"
        ]
    );
}

async fn the_openapi_document_describes_every_route(control: Control) {
    let document: Value = reqwest::get(format!("{}/api/v1/openapi.json", control.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/tenants",
        "/api/v1/tenants/{tenant}/datasets/{dataset}/pause",
        "/api/v1/keys",
        "/api/v1/services/report",
        "/api/v1/audit",
        "/api/v1/dataplane/config",
        "/api/v1/tenants/{tenant}/datasets/{dataset}/statistics",
        "/api/v1/activity",
    ] {
        assert!(paths.contains_key(path), "{path} is missing");
    }
    assert!(document["components"]["securitySchemes"]["api_key"].is_object());
}
