//! One suite, two backends: accounts, tenants, datasets, keys and users, every test against
//! SQLite and against the PostgreSQL server at 127.0.0.1:5432 (database `test`), each
//! PostgreSQL test in a schema of its own. Audit and registry tests are in `store_audit_registry.rs`.

#[path = "support/backends.rs"]
mod backends;

use backends::{actor, dataset, tenant};
use bytefreezer_control_store::{ConfigScope, ControlStore, KeyScope, Role, StoreError};

both_backends!(
    demo_seed_is_idempotent,
    api_keys_are_hashed_scoped_and_revocable,
    paused_datasets_leave_the_dataplane_config,
    invalid_input_is_refused_with_the_field,
    pipelines_are_replaced_and_keys_name_their_scope,
    users_log_in_with_argon2_and_sessions_end,
    proxies_get_their_assigned_and_unassigned_datasets,
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
