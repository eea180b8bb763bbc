//! The control plane's HTTP server on SQLite or PostgreSQL, with a tenant key and an admin, for
//! the API tests. Included by each test file with `#[path]`.
#![allow(dead_code)]

use bytefreezer_api::metrics::PACKER_ROWS_TOTAL;
use bytefreezer_api::{DatasetSpec, SourceSpec, SyslogSourceSettings};
use bytefreezer_control::ControlServer;
use bytefreezer_control_store::{Actor, ControlStore, KeyScope, Role};
use bytefreezer_telemetry::Registry;
use serde_json::{Value, json};

pub struct Control {
    pub base: String,
    pub store: ControlStore,
    /// A key of tenant `demo`.
    pub key: String,
    pub account: String,
    pub http: reqwest::Client,
    _backend: backends::Backend,
}

pub const ADMIN: (&str, &str) = ("admin@example.com", "admin password 1");

// The store suites' own backends: a SQLite file, or a fresh schema in the PostgreSQL test
// database (failing with how to start PostgreSQL when it is not reachable).
#[path = "../../../store/tests/support/backends.rs"]
mod backends;

/// Every API test runs against SQLite and PostgreSQL.
macro_rules! api_tests_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(super::serve("sqlite").await).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(super::serve("postgres").await).await } )* }
    };
}

pub async fn serve(backend: &str) -> Control {
    let backend = match backend {
        "sqlite" => backends::sqlite().await,
        _ => backends::postgres().await,
    };
    let store = backend.store.clone();
    let dataset = DatasetSpec {
        tenant_id: "demo".into(),
        dataset_id: "syslog".into(),
        name: "<script>alert(1)</script>".into(),
        source: SourceSpec::Syslog(SyslogSourceSettings::default()),
        pipeline: Default::default(),
        testing: true,
        active: true,
        packer: Default::default(),
        destination: Default::default(),
    };
    let account = store.ensure_demo(&dataset).await.unwrap();
    let scope = KeyScope::Tenant {
        tenant_id: "demo".into(),
        dataset_id: None,
    };
    let (key, _) = store
        .create_api_key(&Actor::system(), "svc", &scope)
        .await
        .unwrap();
    store
        .create_user(&Actor::system(), None, ADMIN.0, ADMIN.1, Role::Admin)
        .await
        .unwrap();
    let registry = Registry::new();
    registry
        .counter(PACKER_ROWS_TOTAL.name, "", &[("tenant", "demo")])
        .increment(42);
    let router = ControlServer::new(store.clone(), registry)
        .with_public_status()
        .with_parquet_location("/data/parquet".into())
        .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    Control {
        base,
        store,
        key,
        account,
        http: reqwest::Client::new(),
        _backend: backend,
    }
}

/// A logged-in dashboard session: the cookie and the CSRF token.
pub struct Session {
    cookie: String,
    csrf: String,
}

impl Control {
    pub async fn login(&self, email: &str, password: &str) -> Session {
        let response = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let set_cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            set_cookie.contains("HttpOnly")
                && set_cookie.contains("Secure")
                && set_cookie.contains("SameSite=Strict"),
            "{set_cookie}"
        );
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let body: Value = response.json().await.unwrap();
        Session {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Sends with an API key (`Auth::Key`) or a session, returning status and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        auth: &Auth<'_>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        request = match auth {
            Auth::Key(key) => request.bearer_auth(key),
            Auth::Session(session) => request
                .header("cookie", &session.cookie)
                .header("x-csrf-token", &session.csrf),
            Auth::SessionWithoutCsrf(session) => request.header("cookie", &session.cookie),
            Auth::None => request,
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl Control {
    pub async fn get(&self, path: &str, auth: &Auth<'_>) -> (u16, Value) {
        self.call("GET", path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth<'_>, body: Value) -> (u16, Value) {
        self.call("POST", path, auth, Some(body)).await
    }

    /// A service's report, as its reporter posts it.
    pub async fn report_service(&self, auth: &Auth<'_>, report: Value) -> (u16, Value) {
        self.post("/api/v1/services/report", auth, report).await
    }

    pub async fn create_dataset(&self, tenant: &str, auth: &Auth<'_>, spec: Value) -> (u16, Value) {
        let path = format!("/api/v1/tenants/{tenant}/datasets");
        self.post(&path, auth, spec).await
    }

    pub async fn pause(&self, tenant: &str, dataset: &str, auth: &Auth<'_>) -> (u16, Value) {
        let path = format!("/api/v1/tenants/{tenant}/datasets/{dataset}/pause");
        self.call("POST", &path, auth, None).await
    }

    pub async fn resume(&self, tenant: &str, dataset: &str, auth: &Auth<'_>) -> (u16, Value) {
        let path = format!("/api/v1/tenants/{tenant}/datasets/{dataset}/resume");
        self.call("POST", &path, auth, None).await
    }
}

pub enum Auth<'a> {
    Key(&'a str),
    Session(&'a Session),
    SessionWithoutCsrf(&'a Session),
    None,
}

pub fn syslog_dataset(id: &str, port: u16) -> Value {
    json!({
        "dataset_id": id,
        "name": format!("{id} logs"),
        "source": { "plugin": "syslog", "settings": { "bind": format!("127.0.0.1:{port}") } },
        "testing": true,
    })
}
