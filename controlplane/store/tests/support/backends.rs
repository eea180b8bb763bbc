//! What the store suites share: a fresh store on each backend, a macro that runs a test on both,
//! and small builders. Included by each suite with `#[path]`.
// Each suite uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;

use bytefreezer_api::{DatasetSpec, SourceSpec, SyslogSourceSettings};
use bytefreezer_control_store::{Actor, ControlStore};

pub const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn dataset(tenant: &str, id: &str) -> DatasetSpec {
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

pub struct Backend {
    pub store: ControlStore,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> Backend {
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

pub async fn postgres() -> Backend {
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

/// Runs each listed `async fn(ControlStore)` as a test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(super::backends::sqlite().await.store).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(super::backends::postgres().await.store).await } )* }
    };
}

pub fn actor() -> Actor {
    Actor("ops@example.com".into())
}

pub async fn tenant(store: &ControlStore, id: &str) -> String {
    let account = store.create_account(&actor(), id).await.unwrap();
    store
        .create_tenant(&actor(), &account.id, id, &id.to_uppercase())
        .await
        .unwrap();
    account.id
}
