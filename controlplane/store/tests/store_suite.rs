//! One suite, two backends: every test runs against SQLite and against the PostgreSQL server
//! at 127.0.0.1:5432 (database `test`), each PostgreSQL test in a schema of its own.

use std::net::SocketAddr;

use bytefreezer_api::{DatasetSpec, SourceSpec, SyslogSourceSettings};
use bytefreezer_control_store::{ControlStore, ServiceHeartbeat, StoreError};

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
    heartbeats_upsert,
    pipelines_are_replaced_and_keys_name_their_tenant
);

async fn pipelines_are_replaced_and_keys_name_their_tenant(store: ControlStore) {
    let account = store.create_account("p").await.unwrap();
    store.create_tenant(&account.id, "p", "P").await.unwrap();
    store.create_dataset(&dataset("p", "fw")).await.unwrap();
    let pipeline: bytefreezer_api::PipelineSpec = serde_json::from_str(
        r#"{"filters":[{"type":"drop","config":{"condition":"action == 'deny'"}}]}"#,
    )
    .unwrap();
    store
        .set_dataset_pipeline("p", "fw", &pipeline)
        .await
        .unwrap();
    let stored = store.dataset("p", "fw").await.unwrap().unwrap();
    assert_eq!(stored.pipeline, pipeline);
    assert_eq!(
        store.dataplane_config().await.unwrap().datasets[0].pipeline,
        pipeline
    );
    assert!(matches!(
        store.set_dataset_pipeline("p", "nope", &pipeline).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.dataset("p", "nope").await.unwrap().is_none());
    let key = store.create_api_key("ops", "p", None).await.unwrap();
    assert_eq!(
        store.api_key_tenant(&key).await.unwrap().as_deref(),
        Some("p")
    );
    assert_eq!(store.api_key_tenant("bf_wrong").await.unwrap(), None);
}

async fn demo_seed_is_idempotent(store: ControlStore) {
    store.ensure_demo(&dataset("demo", "syslog")).await.unwrap();
    let mut changed = dataset("demo", "syslog");
    changed.testing = false;
    store.update_dataset(&changed).await.unwrap();
    store.ensure_demo(&dataset("demo", "syslog")).await.unwrap();
    let datasets = store.list_datasets().await.unwrap();
    assert_eq!(datasets.len(), 1);
    assert!(
        !datasets[0].testing,
        "a user's change survives the next seed"
    );
}

async fn api_keys_are_hashed_scoped_and_revocable(store: ControlStore) {
    let account = store.create_account("acme").await.unwrap();
    store
        .create_tenant(&account.id, "acme", "Acme")
        .await
        .unwrap();
    store.create_dataset(&dataset("acme", "fw")).await.unwrap();
    let key = store.create_api_key("edge-1", "acme", None).await.unwrap();
    assert!(key.starts_with("bf_") && key.len() > 60);
    let config = store.dataplane_config().await.unwrap();
    assert_eq!(config.ingest_keys.len(), 1);
    assert_ne!(
        config.ingest_keys[0].key_sha256, key,
        "only the hash is stored"
    );
    assert!(config.authorize(&key, "acme", "fw").is_ok());
    assert!(store.api_key_is_valid(&key).await.unwrap());
    store.revoke_api_key("acme", "edge-1").await.unwrap();
    assert!(
        store
            .dataplane_config()
            .await
            .unwrap()
            .ingest_keys
            .is_empty()
    );
    assert!(!store.api_key_is_valid(&key).await.unwrap());
    assert!(matches!(
        store.revoke_api_key("acme", "edge-1").await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn paused_datasets_leave_the_dataplane_config(store: ControlStore) {
    let account = store.create_account("a").await.unwrap();
    store.create_tenant(&account.id, "a", "A").await.unwrap();
    store.create_dataset(&dataset("a", "one")).await.unwrap();
    store.create_dataset(&dataset("a", "two")).await.unwrap();
    store.set_dataset_active("a", "one", false).await.unwrap();
    let config = store.dataplane_config().await.unwrap();
    assert_eq!(
        config
            .datasets
            .iter()
            .map(|d| d.dataset_id.as_str())
            .collect::<Vec<_>>(),
        ["two"]
    );
    assert_eq!(store.list_datasets().await.unwrap().len(), 2);
    assert_eq!(
        config.datasets[0],
        dataset("a", "two"),
        "specs round-trip unchanged"
    );
}

async fn invalid_input_is_refused_with_the_field(store: ControlStore) {
    let account = store.create_account("b").await.unwrap();
    let error = store
        .create_tenant(&account.id, "Bad/Id", "x")
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
        store.create_tenant("nope", "b", "x").await,
        Err(StoreError::NotFound { .. })
    ));
    store.create_tenant(&account.id, "b", "B").await.unwrap();
    assert!(matches!(
        store.create_tenant(&account.id, "b", "B").await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.create_dataset(&dataset("missing", "x")).await,
        Err(StoreError::NotFound { .. })
    ));
    store.create_dataset(&dataset("b", "x")).await.unwrap();
    let conflict = store.create_dataset(&dataset("b", "x")).await.unwrap_err();
    assert_eq!(conflict.to_string(), "dataset b/x already exists");
    assert!(matches!(
        store.create_account("b").await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn heartbeats_upsert(store: ControlStore) {
    let mut heartbeat = ServiceHeartbeat {
        instance_id: "proxy-1".into(),
        role: "proxy".into(),
        host: "edge".into(),
        version: "0.1.0".into(),
        started_at: chrono::Utc::now(),
        last_seen: chrono::Utc::now(),
        healthy: true,
        detail: String::new(),
    };
    store.record_heartbeat(&heartbeat).await.unwrap();
    heartbeat.healthy = false;
    heartbeat.detail = "spool full".into();
    store.record_heartbeat(&heartbeat).await.unwrap();
    let services = store.list_services().await.unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(
        (services[0].healthy, services[0].detail.as_str()),
        (false, "spool full")
    );
}
