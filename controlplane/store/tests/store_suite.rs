//! One suite, two backends: every test runs against SQLite and against the PostgreSQL server
//! at 127.0.0.1:5432 (database `test`), each PostgreSQL test in a schema of its own.

use std::net::SocketAddr;

use bytefreezer_api::{ActivityReport, DatasetCounters, ServiceReport};
use bytefreezer_api::{DatasetSpec, SourceSpec, SyslogSourceSettings};
use bytefreezer_control_store::{
    ActivityQuery, Actor, AuditQuery, ConfigScope, ControlStore, KeyScope, Role, StoreError,
};

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

fn dataset(tenant: &str, id: &str) -> DatasetSpec {
    DatasetSpec {
        tenant_id: tenant.into(),
        dataset_id: id.into(),
        name: format!("{id} logs"),
        source: SourceSpec::Syslog(SyslogSourceSettings {
            bind: "127.0.0.1:5514".parse::<SocketAddr>().unwrap(),
            ..Default::default()
        }),
        pipeline: Default::default(),
        testing: true,
        active: true,
        packer: Default::default(),
        destination: Default::default(),
    }
}

struct Backend {
    store: ControlStore,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = ControlStore::connect(&format!(
        "sqlite://{}",
        dir.path().join("control.db").display()
    ))
    .await
    .unwrap();
    Backend {
        store,
        _dir: Some(dir),
    }
}

async fn postgres() -> Backend {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(POSTGRES)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "PostgreSQL is not reachable at 127.0.0.1:5432 ({error}): start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
            )
        });
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let store = ControlStore::connect(&format!("{POSTGRES}?options=-csearch_path%3D{schema}"))
        .await
        .unwrap();
    Backend { store, _dir: None }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(super::sqlite().await.store).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(super::postgres().await.store).await } )* }
    };
}

both_backends!(
    demo_seed_is_idempotent,
    api_keys_are_hashed_scoped_and_revocable,
    paused_datasets_leave_the_dataplane_config,
    invalid_input_is_refused_with_the_field,
    pipelines_are_replaced_and_keys_name_their_scope,
    every_mutation_is_audited_with_before_and_after,
    audit_log_filters_and_pages,
    users_log_in_with_argon2_and_sessions_end,
    proxies_get_their_assigned_and_unassigned_datasets,
    reports_register_services_and_feed_statistics,
    deletions_refuse_what_still_has_children,
);

/// A store created before accounts had users and keys had account scopes upgrades in place:
/// existing keys keep working and gain their tenant's account.
#[tokio::test]
async fn stores_of_the_first_schema_upgrade_with_their_keys() {
    use sqlx::Executor;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let mut first_only = sqlx::migrate!("./migrations");
        first_only.migrations = std::borrow::Cow::Owned(first_only.migrations[..1].to_vec());
        first_only.run(&pool).await.unwrap();
        pool.execute(
            "INSERT INTO accounts VALUES ('acc1', 'legacy', '2026-11-24T00:00:00Z');
             INSERT INTO tenants VALUES ('old', 'acc1', 'Old', '2026-11-24T00:00:00Z');
             INSERT INTO api_keys (id, name, key_sha256, tenant_id, dataset_id, created_at)
             VALUES ('k1', 'edge', '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b', 'old', NULL, '2026-11-24T00:00:00Z');",
        )
        .await
        .unwrap();
        pool.close().await;
    }
    let store = ControlStore::connect(&url).await.unwrap();
    // The hash above is SHA-256 of "secret".
    let key = store.authenticate_api_key("secret").await.unwrap().unwrap();
    assert_eq!(
        (key.account_id.as_str(), key.tenant_id.as_deref()),
        ("acc1", Some("old"))
    );
    assert_eq!(store.dataplane_config().await.unwrap().ingest_keys.len(), 1);
}

fn actor() -> Actor {
    Actor("ops@example.com".into())
}

async fn tenant(store: &ControlStore, id: &str) -> String {
    let account = store.create_account(&actor(), id).await.unwrap();
    store
        .create_tenant(&actor(), &account.id, id, &id.to_uppercase())
        .await
        .unwrap();
    account.id
}

async fn pipelines_are_replaced_and_keys_name_their_scope(store: ControlStore) {
    tenant(&store, "p").await;
    store
        .create_dataset(&actor(), &dataset("p", "fw"))
        .await
        .unwrap();
    let pipeline: bytefreezer_api::PipelineSpec = serde_json::from_str(
        r#"{"filters":[{"type":"drop","config":{"condition":"action == 'deny'"}}]}"#,
    )
    .unwrap();
    store
        .set_dataset_pipeline(&actor(), "p", "fw", &pipeline)
        .await
        .unwrap();
    let stored = store.dataset("p", "fw").await.unwrap().unwrap();
    assert_eq!(stored.pipeline, pipeline);
    assert_eq!(
        store.dataplane_config().await.unwrap().datasets[0].pipeline,
        pipeline
    );
    assert!(matches!(
        store
            .set_dataset_pipeline(&actor(), "p", "nope", &pipeline)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.dataset("p", "nope").await.unwrap().is_none());
    let (key, record) = store
        .create_api_key(
            &actor(),
            "ops",
            &KeyScope::Tenant {
                tenant_id: "p".into(),
                dataset_id: None,
            },
        )
        .await
        .unwrap();
    let found = store.authenticate_api_key(&key).await.unwrap().unwrap();
    assert_eq!(found.tenant_id.as_deref(), Some("p"));
    assert_eq!(found.id, record.id);
    assert!(found.last_used_at.is_some(), "use is recorded");
    assert_eq!(store.authenticate_api_key("bf_wrong").await.unwrap(), None);
}

async fn demo_seed_is_idempotent(store: ControlStore) {
    let account = store.ensure_demo(&dataset("demo", "syslog")).await.unwrap();
    let mut changed = dataset("demo", "syslog");
    changed.testing = false;
    store.update_dataset(&actor(), &changed).await.unwrap();
    assert_eq!(
        store.ensure_demo(&dataset("demo", "syslog")).await.unwrap(),
        account
    );
    let datasets = store.list_datasets().await.unwrap();
    assert_eq!(datasets.len(), 1);
    assert!(
        !datasets[0].testing,
        "a user's change survives the next seed"
    );
}

async fn api_keys_are_hashed_scoped_and_revocable(store: ControlStore) {
    let account = tenant(&store, "acme").await;
    tenant(&store, "other").await;
    store
        .create_dataset(&actor(), &dataset("acme", "fw"))
        .await
        .unwrap();
    store
        .create_dataset(&actor(), &dataset("other", "fw"))
        .await
        .unwrap();
    let tenant_scope = KeyScope::Tenant {
        tenant_id: "acme".into(),
        dataset_id: None,
    };
    let (key, record) = store
        .create_api_key(&actor(), "edge-1", &tenant_scope)
        .await
        .unwrap();
    assert!(key.starts_with("bf_") && key.len() > 60);
    assert_eq!(record.account_id, account);
    let scoped = ConfigScope {
        account_id: Some(account.clone()),
        ..Default::default()
    };
    let config = store.dataplane_config_for(&scoped).await.unwrap();
    assert_eq!(config.ingest_keys.len(), 1);
    assert_eq!(
        config.datasets.len(),
        1,
        "another account's datasets stay out"
    );
    assert_ne!(
        config.ingest_keys[0].key_sha256, key,
        "only the hash is stored"
    );
    assert!(config.authorize(&key, "acme", "fw").is_ok());
    let (account_key, account_record) = store
        .create_api_key(
            &actor(),
            "ops",
            &KeyScope::Account {
                account_id: account.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(account_record.tenant_id, None);
    assert!(
        store
            .authenticate_api_key(&account_key)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .dataplane_config_for(&scoped)
            .await
            .unwrap()
            .ingest_keys
            .len(),
        1,
        "account keys manage; they do not ingest"
    );
    store.revoke_api_key(&actor(), &record.id).await.unwrap();
    assert!(
        store
            .dataplane_config_for(&scoped)
            .await
            .unwrap()
            .ingest_keys
            .is_empty()
    );
    assert!(store.authenticate_api_key(&key).await.unwrap().is_none());
    assert!(matches!(
        store.revoke_api_key(&actor(), &record.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let listed = store.list_api_keys(Some(&account), None).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|k| k.id == record.id && k.revoked_at.is_some())
    );
    assert!(matches!(
        store
            .create_api_key(
                &actor(),
                "x",
                &KeyScope::Tenant {
                    tenant_id: "nope".into(),
                    dataset_id: None
                }
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn paused_datasets_leave_the_dataplane_config(store: ControlStore) {
    tenant(&store, "a").await;
    store
        .create_dataset(&actor(), &dataset("a", "one"))
        .await
        .unwrap();
    store
        .create_dataset(&actor(), &dataset("a", "two"))
        .await
        .unwrap();
    store
        .set_dataset_active(&actor(), "a", "one", false)
        .await
        .unwrap();
    let proxy = ConfigScope {
        proxy: Some("proxy-1".into()),
        ..Default::default()
    };
    let config = store.dataplane_config_for(&proxy).await.unwrap();
    assert_eq!(
        config
            .datasets
            .iter()
            .map(|d| d.dataset_id.as_str())
            .collect::<Vec<_>>(),
        ["two"]
    );
    assert_eq!(
        config.datasets[0],
        dataset("a", "two"),
        "specs round-trip unchanged"
    );
    // Receiver, piper and packer keep it, marked paused, so data in flight still lands.
    let services = store.dataplane_config().await.unwrap();
    assert_eq!(services.datasets.len(), 2);
    assert!(!services.dataset("a", "one").unwrap().active);
    store
        .set_dataset_active(&actor(), "a", "one", true)
        .await
        .unwrap();
    assert_eq!(
        store
            .dataplane_config_for(&proxy)
            .await
            .unwrap()
            .datasets
            .len(),
        2
    );
}

async fn invalid_input_is_refused_with_the_field(store: ControlStore) {
    let account = store.create_account(&actor(), "b").await.unwrap();
    let error = store
        .create_tenant(&actor(), &account.id, "Bad/Id", "x")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Invalid {
                field: "tenant_id",
                ..
            }
        ),
        "{error}"
    );
    assert!(matches!(
        store.create_tenant(&actor(), "nope", "b", "x").await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .create_tenant(&actor(), &account.id, "b", "B")
        .await
        .unwrap();
    assert!(matches!(
        store.create_tenant(&actor(), &account.id, "b", "B").await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store
            .create_dataset(&actor(), &dataset("missing", "x"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .create_dataset(&actor(), &dataset("b", "x"))
        .await
        .unwrap();
    let conflict = store
        .create_dataset(&actor(), &dataset("b", "x"))
        .await
        .unwrap_err();
    assert_eq!(conflict.to_string(), "dataset b/x already exists");
    assert!(matches!(
        store.create_account(&actor(), "b").await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.create_account(&actor(), "  ").await,
        Err(StoreError::Invalid { field: "name", .. })
    ));
    assert!(matches!(
        store
            .create_user(
                &actor(),
                Some(&account.id),
                "not-an-email",
                "long enough pw",
                Role::Viewer
            )
            .await,
        Err(StoreError::Invalid { field: "email", .. })
    ));
    assert!(matches!(
        store
            .create_user(
                &actor(),
                Some(&account.id),
                "v@example.com",
                "short",
                Role::Viewer
            )
            .await,
        Err(StoreError::Invalid {
            field: "password",
            ..
        })
    ));
    assert!(matches!(
        store
            .create_user(
                &actor(),
                None,
                "v@example.com",
                "long enough pw",
                Role::Viewer
            )
            .await,
        Err(StoreError::Invalid {
            field: "account_id",
            ..
        })
    ));
}

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

async fn users_log_in_with_argon2_and_sessions_end(store: ControlStore) {
    let account = tenant(&store, "u").await;
    let user = store
        .create_user(
            &actor(),
            Some(&account),
            "Viewer@Example.com",
            "correct horse battery",
            Role::Viewer,
        )
        .await
        .unwrap();
    assert_eq!(user.email, "viewer@example.com");
    assert!(matches!(
        store
            .create_user(
                &actor(),
                Some(&account),
                "viewer@example.com",
                "another password",
                Role::Viewer
            )
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(
        store
            .login("viewer@example.com", "wrong password!")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .login("nobody@example.com", "correct horse battery")
            .await
            .unwrap()
            .is_none()
    );
    let (token, session) = store
        .login("VIEWER@example.com", "correct horse battery")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.user, user);
    assert_eq!(session.csrf_token.len(), 64);
    let found = store.session(&token).await.unwrap().unwrap();
    assert_eq!(found.user.role, Role::Viewer);
    assert_eq!(found.csrf_token, session.csrf_token);
    assert!(store.session("not-a-token").await.unwrap().is_none());
    store.logout(&token).await.unwrap();
    assert!(store.session(&token).await.unwrap().is_none());
    let (token, _) = store
        .login("viewer@example.com", "correct horse battery")
        .await
        .unwrap()
        .unwrap();
    store.delete_user(&actor(), &user.id).await.unwrap();
    assert!(
        store.session(&token).await.unwrap().is_none(),
        "deleting a user ends its sessions"
    );
    assert_eq!(store.count_users().await.unwrap(), 0);
}

async fn proxies_get_their_assigned_and_unassigned_datasets(store: ControlStore) {
    tenant(&store, "px").await;
    for id in ["shared", "mine", "theirs"] {
        store
            .create_dataset(&actor(), &dataset("px", id))
            .await
            .unwrap();
    }
    store
        .assign_dataset(&actor(), "px", "mine", Some("proxy-a"))
        .await
        .unwrap();
    store
        .assign_dataset(&actor(), "px", "theirs", Some("proxy-b"))
        .await
        .unwrap();
    let ids = |config: bytefreezer_api::DataPlaneConfig| {
        config
            .datasets
            .into_iter()
            .map(|d| d.dataset_id)
            .collect::<Vec<_>>()
    };
    let for_a = ConfigScope {
        tenant_id: Some("px".into()),
        proxy: Some("proxy-a".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.dataplane_config_for(&for_a).await.unwrap()),
        ["mine", "shared"]
    );
    let piper = ConfigScope {
        tenant_id: Some("px".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.dataplane_config_for(&piper).await.unwrap()).len(),
        3
    );
    store
        .assign_dataset(&actor(), "px", "theirs", None)
        .await
        .unwrap();
    assert_eq!(
        ids(store.dataplane_config_for(&for_a).await.unwrap()),
        ["mine", "shared", "theirs"]
    );
    assert!(matches!(
        store
            .assign_dataset(&actor(), "px", "mine", Some("bad id!"))
            .await,
        Err(StoreError::Invalid { field: "proxy", .. })
    ));
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

async fn deletions_refuse_what_still_has_children(store: ControlStore) {
    let account = tenant(&store, "del").await;
    store
        .create_dataset(&actor(), &dataset("del", "fw"))
        .await
        .unwrap();
    assert!(matches!(
        store.delete_tenant(&actor(), "del").await,
        Err(StoreError::Invalid {
            field: "tenant",
            ..
        })
    ));
    assert!(matches!(
        store.delete_account(&actor(), &account).await,
        Err(StoreError::Invalid {
            field: "account",
            ..
        })
    ));
    store.delete_dataset(&actor(), "del", "fw").await.unwrap();
    store.delete_tenant(&actor(), "del").await.unwrap();
    store.delete_account(&actor(), &account).await.unwrap();
    assert!(store.account(&account).await.unwrap().is_none());
}
