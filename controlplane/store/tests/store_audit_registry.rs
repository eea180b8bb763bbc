//! The audit log and the service registry (reports, health, statistics, activity) on SQLite and
//! PostgreSQL, like `store_suite.rs`.

#[path = "support/backends.rs"]
mod backends;

use backends::{actor, dataset, tenant};
use bytefreezer_api::{ActivityReport, DatasetCounters, ServiceReport};
use bytefreezer_control_store::{
    ActivityQuery, Actor, AuditQuery, ControlStore, KeyScope, StoreError,
};

both_backends!(
    every_mutation_is_audited_with_before_and_after,
    audit_log_filters_and_pages,
    reports_register_services_and_feed_statistics,
);

async fn every_mutation_is_audited_with_before_and_after(store: ControlStore) {
    let account = tenant(&store, "aud").await;
    store
        .create_dataset(&actor(), &dataset("aud", "fw"))
        .await
        .unwrap();
    let mut changed = dataset("aud", "fw");
    changed.name = "firewall".into();
    store.update_dataset(&actor(), &changed).await.unwrap();
    store
        .set_dataset_active(&actor(), "aud", "fw", false)
        .await
        .unwrap();
    store
        .assign_dataset(&actor(), "aud", "fw", Some("proxy-7"))
        .await
        .unwrap();
    let (_, key) = store
        .create_api_key(
            &actor(),
            "k",
            &KeyScope::Tenant {
                tenant_id: "aud".into(),
                dataset_id: None,
            },
        )
        .await
        .unwrap();
    store
        .revoke_api_key(&Actor("key:admin".into()), &key.id)
        .await
        .unwrap();
    store.delete_dataset(&actor(), "aud", "fw").await.unwrap();
    let entries = store
        .audit_entries(&AuditQuery {
            account_id: Some(account),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "account.create",
            "tenant.create",
            "dataset.create",
            "dataset.update",
            "dataset.pause",
            "dataset.assign",
            "api_key.create",
            "api_key.revoke",
            "dataset.delete"
        ]
    );
    let update = entries
        .iter()
        .find(|e| e.action == "dataset.update")
        .unwrap();
    assert_eq!(update.target, "dataset/aud/fw");
    assert_eq!(update.actor, "ops@example.com");
    assert_eq!(update.diff["before"]["name"], "fw logs");
    assert_eq!(update.diff["after"]["name"], "firewall");
    let assign = entries
        .iter()
        .find(|e| e.action == "dataset.assign")
        .unwrap();
    assert_eq!(
        assign.diff["before"]["assigned_proxy"],
        serde_json::Value::Null
    );
    assert_eq!(assign.diff["after"]["assigned_proxy"], "proxy-7");
    let revoke = entries
        .iter()
        .find(|e| e.action == "api_key.revoke")
        .unwrap();
    assert_eq!(revoke.actor, "key:admin");
    assert!(
        !revoke.diff.to_string().contains("bf_"),
        "no key material in the log"
    );
    // A failed change writes nothing.
    let before = entries.len();
    assert!(
        store
            .update_dataset(&actor(), &dataset("aud", "gone"))
            .await
            .is_err()
    );
    let after = store
        .audit_entries(&AuditQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(after.len(), before);
}

async fn audit_log_filters_and_pages(store: ControlStore) {
    tenant(&store, "one").await;
    tenant(&store, "two").await;
    for id in ["a", "b", "c", "d", "e"] {
        store
            .create_dataset(&actor(), &dataset("one", id))
            .await
            .unwrap();
    }
    store
        .create_dataset(&Actor("key:robot".into()), &dataset("two", "x"))
        .await
        .unwrap();
    let query = |q: AuditQuery| {
        let store = store.clone();
        async move { store.audit_entries(&q).await.unwrap() }
    };
    let by_robot = query(AuditQuery {
        actor: Some("key:".into()),
        limit: 50,
        ..Default::default()
    })
    .await;
    assert_eq!(by_robot.len(), 1);
    assert_eq!(by_robot[0].target, "dataset/two/x");
    let creates_in_one = query(AuditQuery {
        tenant_id: Some("one".into()),
        action: Some("dataset.create".into()),
        limit: 50,
        ..Default::default()
    })
    .await;
    assert_eq!(creates_in_one.len(), 5);
    let first_page = query(AuditQuery {
        target: Some("dataset/one/".into()),
        limit: 2,
        ..Default::default()
    })
    .await;
    let second_page = query(AuditQuery {
        target: Some("dataset/one/".into()),
        limit: 2,
        before: Some(first_page[1].id.clone()),
        ..Default::default()
    })
    .await;
    let targets: Vec<_> = first_page
        .iter()
        .chain(&second_page)
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(
        targets,
        [
            "dataset/one/e",
            "dataset/one/d",
            "dataset/one/c",
            "dataset/one/b"
        ]
    );
    let future = query(AuditQuery {
        since: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        limit: 50,
        ..Default::default()
    })
    .await;
    assert!(future.is_empty());
    let wildcard = query(AuditQuery {
        target: Some("%".into()),
        limit: 50,
        ..Default::default()
    })
    .await;
    assert!(wildcard.is_empty(), "LIKE wildcards in filters are literal");
}

fn report(instance: &str, role: &str, counters: &[(&str, u64)]) -> ServiceReport {
    ServiceReport {
        instance_id: instance.into(),
        role: role.into(),
        host: "edge-1".into(),
        version: "0.1.0".into(),
        started_at: "2026-11-29T10:00:00Z".into(),
        ready: true,
        datasets: vec![DatasetCounters {
            tenant_id: "st".into(),
            dataset_id: "fw".into(),
            counters: counters.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }],
        ..Default::default()
    }
}

async fn reports_register_services_and_feed_statistics(store: ControlStore) {
    let account = tenant(&store, "st").await;
    store
        .create_dataset(&actor(), &dataset("st", "fw"))
        .await
        .unwrap();
    let mut first = report("proxy-1", "proxy", &[("events_received", 100)]);
    first.activity.push(ActivityReport {
        time: "2026-11-29T10:00:01Z".into(),
        stage: "proxy".into(),
        tenant_id: "st".into(),
        dataset_id: "fw".into(),
        outcome: "ok".into(),
        message: "listening".into(),
        details: serde_json::json!({"port": 5514}),
    });
    store
        .record_report(Some(&account), None, &first)
        .await
        .unwrap();
    let mut second = report("proxy-1", "proxy", &[("events_received", 250)]);
    second.drops_total = 4;
    store
        .record_report(Some(&account), None, &second)
        .await
        .unwrap();
    let services = store.list_services(Some(&account)).await.unwrap();
    assert_eq!(services.len(), 1);
    assert!(services[0].ready);
    assert!(!services[0].healthy);
    assert_eq!(services[0].detail, "4 events dropped since the last report");
    assert!(
        store
            .list_services(Some("other-account"))
            .await
            .unwrap()
            .is_empty()
    );
    // A restart resets the counters: the new total is all growth.
    let mut restarted = report("proxy-1", "proxy", &[("events_received", 30)]);
    restarted.started_at = "2026-11-29T11:00:00Z".into();
    store
        .record_report(Some(&account), None, &restarted)
        .await
        .unwrap();
    assert!(store.service("proxy-1").await.unwrap().unwrap().healthy);
    let totals = store.dataset_totals("st", "fw").await.unwrap();
    assert_eq!(totals.get("events_received"), Some(&280));
    let every = store.all_dataset_totals(None).await.unwrap();
    assert_eq!(every.get(&("st".into(), "fw".into())), Some(&totals));
    let of_tenant = store.all_dataset_totals(Some("st")).await.unwrap();
    assert_eq!(of_tenant.get(&("st".into(), "fw".into())), Some(&totals));
    assert!(
        store
            .all_dataset_totals(Some("another-tenant"))
            .await
            .unwrap()
            .is_empty()
    );
    // Another account's reporter cannot write into this account's statistics.
    let other = store.create_account(&actor(), "st-other").await.unwrap();
    let mut intruder = report("proxy-9", "proxy", &[("events_received", u64::MAX)]);
    intruder.activity = first.activity.clone();
    store
        .record_report(Some(&other.id), None, &intruder)
        .await
        .unwrap();
    assert_eq!(
        store
            .dataset_totals("st", "fw")
            .await
            .unwrap()
            .get("events_received"),
        Some(&280)
    );
    let points = store
        .dataset_stats(
            "st",
            "fw",
            chrono::Utc::now() - chrono::Duration::minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(points.iter().map(|p| p.value).sum::<i64>(), 280);
    let activity = store
        .list_activity(&ActivityQuery {
            account_id: Some(account.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(activity.len(), 1);
    assert_eq!(activity[0].details["port"], 5514);
    let registrations = store
        .audit_entries(&AuditQuery {
            action: Some("service.register".into()),
            target: Some("service/proxy-1".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        registrations.len(),
        1,
        "registered once, not on every heartbeat"
    );
    assert!(matches!(
        store.record_report(Some("another"), None, &second).await,
        Err(StoreError::Conflict { .. })
    ));
    let mut bad = report("proxy-2", "mailer", &[]);
    assert!(matches!(
        store.record_report(Some(&account), None, &bad).await,
        Err(StoreError::Invalid { field: "role", .. })
    ));
    bad.role = "piper".into();
    bad.started_at = "yesterday".into();
    assert!(matches!(
        store.record_report(Some(&account), None, &bad).await,
        Err(StoreError::Invalid {
            field: "started_at",
            ..
        })
    ));
}
