//! Security properties of the API, on SQLite and PostgreSQL: overlapping listen addresses are
//! refused across accounts, destination prefixes stay in the dataset's namespace, login floods
//! are throttled without locking the user out, passwords can be changed, and pipeline secrets
//! (HMAC keys) are shown only to those who may change them.

#[path = "support/control.rs"]
#[macro_use]
mod control;

use std::time::{Duration, Instant};

use control::*;
use serde_json::{Value, json};

api_tests_on_both_backends!(
    overlapping_binds_are_refused_across_accounts,
    destination_prefixes_stay_in_the_datasets_namespace,
    a_wrong_password_flood_is_throttled_and_the_right_one_still_logs_in,
    password_changes_end_other_sessions_and_are_audited,
    hmac_keys_are_shown_only_to_writers_and_never_in_the_audit_log,
);

fn dataset_on(id: &str, bind: &str) -> Value {
    json!({
        "dataset_id": id,
        "source": { "plugin": "syslog", "settings": { "bind": bind } },
    })
}

/// An account "other" with tenant "rival", created by the admin.
async fn rival_tenant(control: &Control, admin: &Session) {
    let (status, other) = control
        .post(
            "/api/v1/accounts",
            &Auth::Session(admin),
            json!({ "name": "other" }),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let (status, body) = control
        .post(
            "/api/v1/tenants",
            &Auth::Session(admin),
            json!({ "tenant_id": "rival", "name": "Rival", "account_id": other["id"] }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn overlapping_binds_are_refused_across_accounts(control: Control) {
    let admin = control.login(ADMIN.0, ADMIN.1).await;
    rival_tenant(&control, &admin).await;
    let key = Auth::Key(&control.key);
    let as_admin = Auth::Session(&admin);
    // The demo dataset listens on 0.0.0.0:5514, in another account.
    for bind in [
        "127.0.0.1:5514",
        "10.0.0.1:5514",
        "0.0.0.0:5514",
        "[::]:5514",
    ] {
        let (status, body) = control
            .create_dataset("rival", &as_admin, dataset_on("fw", bind))
            .await;
        assert_eq!(status, 409, "{bind}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("demo/syslog"),
            "admins see which dataset: {body}"
        );
    }
    let (status, body) = control
        .create_dataset("rival", &as_admin, dataset_on("fw", "10.0.0.1:6000"))
        .await;
    assert_eq!(status, 201, "{body}");
    // The other way round: a wildcard over a specific address of another account.
    let (status, body) = control
        .create_dataset("demo", &key, dataset_on("wide", "0.0.0.0:6000"))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        !body.to_string().contains("rival"),
        "another account's dataset is not named: {body}"
    );
    let (status, _) = control
        .create_dataset("demo", &key, dataset_on("wide", "10.0.0.2:6000"))
        .await;
    assert_eq!(
        status, 201,
        "another address on the same port does not overlap"
    );
    // Changing a dataset onto a taken port, or resuming one that overlaps, is refused too.
    let (status, _) = control
        .call(
            "PUT",
            "/api/v1/tenants/demo/datasets/wide",
            &key,
            Some(dataset_on("wide", "[::]:6000")),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = control.pause("demo", "syslog", &key).await;
    assert_eq!(status, 200);
    let (status, body) = control
        .create_dataset("rival", &as_admin, dataset_on("logs", "127.0.0.1:5514"))
        .await;
    assert_eq!(status, 201, "the paused dataset frees its port: {body}");
    let (status, _) = control.resume("demo", "syslog", &key).await;
    assert_eq!(status, 409, "resuming would overlap rival/logs");
    // Datasets assigned to two different proxies may share a port; one proxy may not.
    for (tenant, dataset, auth, proxy) in [
        ("rival", "logs", &as_admin, "edge-a"),
        ("demo", "syslog", &key, "edge-b"),
    ] {
        let (status, body) = control
            .call(
                "PUT",
                &format!("/api/v1/tenants/{tenant}/datasets/{dataset}/assignment"),
                auth,
                Some(json!({ "proxy": proxy })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = control.resume("demo", "syslog", &key).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = control
        .call(
            "PUT",
            "/api/v1/tenants/demo/datasets/syslog/assignment",
            &key,
            Some(json!({ "proxy": "edge-a" })),
        )
        .await;
    assert_eq!(status, 409);
    let config = control.store.dataplane_config().await.unwrap();
    let on_5514 = config
        .datasets
        .iter()
        .filter(|d| d.active && d.source.bind().is_some_and(|bind| bind.port() == 5514))
        .count();
    assert_eq!(on_5514, 2, "one on edge-a, one on edge-b");
}

async fn destination_prefixes_stay_in_the_datasets_namespace(control: Control) {
    let admin = control.login(ADMIN.0, ADMIN.1).await;
    rival_tenant(&control, &admin).await;
    let key = Auth::Key(&control.key);
    for (index, prefix) in [
        "rival/ds/data/parquet",
        "victim/ds/data/parquet",
        "x/rival/fw/data/parquet/y",
        "rival/archive",
        "_bytefreezer/plans",
    ]
    .into_iter()
    .enumerate()
    {
        let mut dataset = syslog_dataset("poison", 7100 + index as u16);
        dataset["destination"] = json!({ "prefix": prefix });
        let (status, body) = control.create_dataset("demo", &key, dataset).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("destination.prefix")),
            "{prefix}: {body}"
        );
    }
    for (index, prefix) in ["demo/archive", "site-7/fw"].into_iter().enumerate() {
        let mut dataset = syslog_dataset(&format!("ok{index}"), 7200 + index as u16);
        dataset["destination"] = json!({ "prefix": prefix });
        let (status, body) = control.create_dataset("demo", &key, dataset).await;
        assert_eq!(status, 201, "{prefix}: {body}");
    }
}

async fn login_status(control: &Control, password: &str) -> (u16, Option<u64>, Value) {
    login_at(
        control.http.clone(),
        control.base.clone(),
        password.to_owned(),
    )
    .await
}

async fn login_at(
    http: reqwest::Client,
    base: String,
    password: String,
) -> (u16, Option<u64>, Value) {
    let response = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": ADMIN.0, "password": password }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().parse().unwrap());
    (status, retry_after, response.json().await.unwrap())
}

/// The documented delay: at most 30 s after the last wrong password.
const MAX_LOGIN_DELAY: Duration = Duration::from_secs(30);

async fn a_wrong_password_flood_is_throttled_and_the_right_one_still_logs_in(control: Control) {
    let started = Instant::now();
    let (mut checked, mut throttled) = (0, 0);
    for _ in 0..20 {
        let attempts: Vec<_> = (0..10)
            .map(|_| {
                tokio::spawn(login_at(
                    control.http.clone(),
                    control.base.clone(),
                    "not the password".to_owned(),
                ))
            })
            .collect();
        for attempt in attempts {
            let (status, retry_after, body) = attempt.await.unwrap();
            match status {
                401 => checked += 1,
                429 => {
                    throttled += 1;
                    let seconds = retry_after.expect("429 carries Retry-After");
                    assert!((1..=30).contains(&seconds), "{seconds}");
                    assert_eq!(body["retry_after_secs"], seconds);
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "200 attempts within 10 s"
    );
    assert_eq!(checked + throttled, 200);
    assert!(
        checked <= 10,
        "only a few passwords were checked, {checked} were"
    );
    // The real user: told when to come back, and let in then.
    let flood_ended = Instant::now();
    let (status, retry_after, _) = login_status(&control, ADMIN.1).await;
    let status = if status == 429 {
        let wait = Duration::from_secs(retry_after.unwrap());
        assert!(wait <= MAX_LOGIN_DELAY);
        tokio::time::sleep(wait).await;
        login_status(&control, ADMIN.1).await.0
    } else {
        status
    };
    assert_eq!(status, 200);
    assert!(flood_ended.elapsed() <= MAX_LOGIN_DELAY + Duration::from_secs(2));
    // After a success the account starts afresh.
    assert_eq!(login_status(&control, "typo").await.0, 401);
}

async fn change_password(
    control: &Control,
    auth: &Auth<'_>,
    current: &str,
    new: &str,
) -> (u16, Value) {
    control
        .post(
            "/api/v1/auth/password",
            auth,
            json!({ "current_password": current, "new_password": new }),
        )
        .await
}

async fn password_changes_end_other_sessions_and_are_audited(control: Control) {
    let here = control.login(ADMIN.0, ADMIN.1).await;
    let elsewhere = control.login(ADMIN.0, ADMIN.1).await;
    let new = "a brand new passphrase";
    let (status, body) = change_password(&control, &Auth::Session(&here), "wrong!", new).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("current_password"))
    );
    let (status, body) = change_password(&control, &Auth::Session(&here), ADMIN.1, "short").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("new_password"))
    );
    let (status, _) =
        change_password(&control, &Auth::SessionWithoutCsrf(&here), ADMIN.1, new).await;
    assert_eq!(status, 403, "CSRF token required");
    let (status, _) = change_password(&control, &Auth::Key(&control.key), ADMIN.1, new).await;
    assert_eq!(status, 403, "keys have no password");
    let (status, body) = change_password(&control, &Auth::Session(&here), ADMIN.1, new).await;
    assert_eq!(status, 204, "{body}");

    let (status, _) = control
        .get("/api/v1/auth/me", &Auth::Session(&elsewhere))
        .await;
    assert_eq!(status, 401, "the other session ended");
    let (status, _) = control.get("/api/v1/auth/me", &Auth::Session(&here)).await;
    assert_eq!(status, 200, "this session stays");
    assert_eq!(login_status(&control, ADMIN.1).await.0, 401);
    control.login(ADMIN.0, new).await;

    let (status, audit) = control
        .get("/api/v1/audit?action=user.password", &Auth::Session(&here))
        .await;
    assert_eq!(status, 200);
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], ADMIN.0);
    assert_eq!(entries[0]["target"], format!("user/{}", ADMIN.0));
    let text = audit.to_string();
    assert!(
        !text.contains(new) && !text.contains(ADMIN.1) && !text.contains("argon2"),
        "{text}"
    );
    let document: Value = reqwest::get(format!("{}/api/v1/openapi.json", control.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["paths"]["/api/v1/auth/password"]["post"].is_object());
}

async fn hmac_keys_are_shown_only_to_writers_and_never_in_the_audit_log(control: Control) {
    let admin = control.login(ADMIN.0, ADMIN.1).await;
    let (status, body) = control
        .post(
            "/api/v1/users",
            &Auth::Session(&admin),
            json!({
                "email": "viewer@example.com", "password": "viewer password", "role": "viewer",
                "account_id": control.account,
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let viewer = control.login("viewer@example.com", "viewer password").await;
    let key = Auth::Key(&control.key);
    let secret = "s3cret-hmac-key";
    let pipeline = json!({ "filters": [
        { "type": "hash", "config": { "field": "host", "algorithm": "hmac-sha256", "key": secret } }
    ]});
    let path = "/api/v1/tenants/demo/datasets/syslog/pipeline";
    let (status, body) = control
        .call("PUT", path, &key, Some(pipeline.clone()))
        .await;
    assert_eq!(status, 200, "{body}");
    // Replace it once more, so the audit has a before and an after holding the key.
    let mut second = pipeline.clone();
    second["filters"][0]["config"]["field"] = json!("message");
    let (status, _) = control.call("PUT", path, &key, Some(second)).await;
    assert_eq!(status, 200);

    let (status, written) = control.get(path, &key).await;
    assert_eq!(status, 200);
    assert_eq!(
        written["pipeline"]["filters"][0]["config"]["key"], secret,
        "writers read the key back (to edit the pipeline)"
    );
    for path in [
        path,
        "/api/v1/tenants/demo/datasets/syslog",
        "/api/v1/tenants/demo/datasets",
        "/api/v1/datasets",
    ] {
        let (status, body) = control.get(path, &Auth::Session(&viewer)).await;
        assert_eq!(status, 200, "{path}");
        let text = body.to_string();
        assert!(
            !text.contains(secret),
            "{path} shows the key to a viewer: {text}"
        );
        assert!(text.contains("[redacted]"), "{path}: {text}");
    }
    let (status, viewed) = control.get(path, &Auth::Session(&viewer)).await;
    assert_eq!(status, 200);
    assert_eq!(
        viewed["version"], written["version"],
        "the version is the real one"
    );
    let (status, _) = control
        .get("/api/v1/dataplane/config", &Auth::Session(&viewer))
        .await;
    assert_eq!(
        status, 403,
        "viewers do not get the services' configuration"
    );
    let (status, config) = control.get("/api/v1/dataplane/config", &key).await;
    assert_eq!(status, 200);
    assert!(config.to_string().contains(secret), "services need the key");

    for auth in [Auth::Session(&admin), Auth::Session(&viewer), key] {
        let (status, audit) = control
            .get("/api/v1/audit?target=dataset/demo/syslog", &auth)
            .await;
        assert_eq!(status, 200);
        let text = audit.to_string();
        assert!(text.contains("dataset.pipeline"), "{text}");
        assert!(
            !text.contains(secret),
            "the audit log shows the key: {text}"
        );
    }
    let stored = control
        .store
        .audit_entries(&bytefreezer_control_store::AuditQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        !serde_json::to_string(&stored).unwrap().contains(secret),
        "the key is not even stored in the audit table"
    );
}
