//! On-prem guarantee: with proxy, receiver, piper and packer on the data side, talking to a
//! separate control plane, no row, sample or field value reaches the control plane. Every
//! request the control plane receives passes through a recorder in this test and is inspected,
//! and so is the control database itself.

#[path = "support/up.rs"]
mod up;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use up::{KillOnDrop, free_tcp};

/// Field values only the events carry; none may reach the control plane.
const MARKERS: [&str; 4] = [
    "QX7SECRET",
    "plant-host-7731",
    "198.51.100.23",
    "alice_onprem",
];

#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    body: Vec<u8>,
}

#[derive(Clone)]
struct Recorder {
    upstream: String,
    http: reqwest::Client,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

/// Forwards every request to the control plane after writing it down.
async fn record(
    State(recorder): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.to_string());
    recorder.seen.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        body: body.to_vec(),
    });
    let mut request = recorder
        .http
        .request(method, format!("{}{path}", recorder.upstream))
        .body(body);
    for name in ["authorization", "if-none-match", "content-type"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
            let mut out = HeaderMap::new();
            for name in ["etag", "content-type"] {
                if let Some(value) = response.headers().get(name) {
                    out.insert(name, value.clone());
                }
            }
            (status, out, response.bytes().await.unwrap_or_default()).into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

fn start_role(role: &str, config: PathBuf) -> KillOnDrop {
    KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args([role, "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start role"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_data_reaches_the_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let control_address = free_tcp();
    let _control = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args([
                "control",
                "--listen",
                &control_address.to_string(),
                "--admin-email",
                "ops@plant.example",
            ])
            .arg("--database-url")
            .arg(format!(
                "sqlite://{}",
                root.join("control/control.db").display()
            ))
            .env("BYTEFREEZER_ADMIN_PASSWORD", "plant admin password")
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .expect("start control"),
    );
    let control = format!("http://{control_address}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let login = loop {
        let attempt = http
            .post(format!("{control}/api/v1/auth/login"))
            .json(&json!({ "email": "ops@plant.example", "password": "plant admin password" }))
            .send()
            .await;
        if let Ok(response) = attempt {
            break response;
        }
        assert!(Instant::now() < deadline, "the control plane did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = login.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{control}{path}"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
    };
    let account: Value = admin(
        reqwest::Method::POST,
        "/api/v1/accounts",
        json!({ "name": "plant" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let status = admin(
        reqwest::Method::POST,
        "/api/v1/tenants",
        json!({ "tenant_id": "plant", "name": "Plant", "account_id": account["id"] }),
    )
    .await
    .unwrap()
    .status();
    assert_eq!(status, 201);
    let syslog = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let status = admin(
        reqwest::Method::POST,
        "/api/v1/tenants/plant/datasets",
        json!({ "dataset_id": "fw", "source": { "plugin": "syslog", "settings": { "bind": syslog.to_string() } }, "testing": true }),
    )
    .await.unwrap().status();
    assert_eq!(status, 201);
    let created: Value = admin(
        reqwest::Method::POST,
        "/api/v1/keys",
        json!({ "name": "plant-edge", "tenant_id": "plant" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();

    let recorder = Recorder {
        upstream: control.clone(),
        http: reqwest::Client::new(),
        seen: Arc::default(),
    };
    let seen = recorder.seen.clone();
    let recorder_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recorder_address = recorder_listener.local_addr().unwrap();
    tokio::spawn(async move {
        let router = axum::Router::new().fallback(record).with_state(recorder);
        axum::serve(recorder_listener, router).await
    });

    let datasets = format!(
        "datasets = {{ kind = \"control\", url = \"http://{recorder_address}\", api_key = \"{key}\" }}"
    );
    let storage = format!(
        "[storage]\nkind = \"local\"\nroot = \"{}\"",
        root.join("buckets").display()
    );
    let receiver = free_tcp();
    let data_dir = |role: &str| format!("data_dir = \"{}\"", root.join(role).display());
    let write = |name: &str, text: String| {
        let path = root.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let _roles = [
        start_role(
            "receiver",
            write(
                "receiver.toml",
                format!(
                    "{}\nmetrics_listen = \"{}\"\n{datasets}\n{storage}\n[receiver]\nlisten = \"{receiver}\"\n",
                    data_dir("receiver"),
                    free_tcp()
                ),
            ),
        ),
        start_role(
            "piper",
            write(
                "piper.toml",
                format!(
                    "{}\nmetrics_listen = \"{}\"\n{datasets}\n{storage}\n[piper]\npoll_interval_ms = 200\n",
                    data_dir("piper"),
                    free_tcp()
                ),
            ),
        ),
        start_role(
            "packer",
            write(
                "packer.toml",
                format!(
                    "{}\nmetrics_listen = \"{}\"\n{datasets}\n{storage}\n[packer]\npoll_interval_ms = 200\n",
                    data_dir("packer"),
                    free_tcp()
                ),
            ),
        ),
        start_role(
            "proxy",
            write(
                "proxy.toml",
                format!(
                    "{}\nmetrics_listen = \"{}\"\n{datasets}\n[proxy]\nreceiver_url = \"http://{receiver}\"\napi_key = \"{key}\"\nspool_dir = \"{}\"\n",
                    data_dir("proxy"),
                    free_tcp(),
                    root.join("spool").display()
                ),
            ),
        ),
    ];

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let folder = root.join("buckets/packer/plant/fw/data/parquet");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = 0u64;
    while up::count_rows(&folder) < 50 {
        if Instant::now() >= deadline {
            let calls: Vec<String> = seen
                .lock()
                .unwrap()
                .iter()
                .map(|r| format!("{} {} ({} bytes)", r.method, r.path, r.body.len()))
                .collect();
            panic!(
                "no Parquet from the data side within 60 s; the roles called the control plane: {calls:#?}; spool: {:?}",
                std::fs::read_dir(root.join("spool")).map(|d| d.count())
            );
        }
        for _ in 0..10 {
            let message = format!(
                "<134>1 2026-11-29T10:00:00Z plant-host-7731 app - - - marker=QX7SECRET{sent} src=198.51.100.23 user=alice_onprem action=deny"
            );
            socket.send_to(message.as_bytes(), syslog).unwrap();
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The data side reported its counters: the control plane knows how much, not what.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let stats: Value = admin(
            reqwest::Method::GET,
            "/api/v1/tenants/plant/datasets/fw/statistics",
            json!({}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let totals = &stats["totals"];
        if totals["events_received"].as_i64().unwrap_or(0) >= 50
            && totals["parquet_rows"].as_i64().unwrap_or(0) >= 50
        {
            assert_eq!(stats["stages"]["receiver"], "installed");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the statistics never counted the events: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let seen = seen.lock().unwrap().clone();
    let mut roles_reporting: Vec<String> = seen
        .iter()
        .filter(|r| r.path == "/api/v1/services/report")
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter_map(|report| report["role"].as_str().map(str::to_owned))
        .collect();
    roles_reporting.sort();
    roles_reporting.dedup();
    assert_eq!(roles_reporting, ["packer", "piper", "proxy", "receiver"]);
    for request in &seen {
        let path_only = request.path.split('?').next().unwrap();
        assert!(
            matches!(
                (request.method.as_str(), path_only),
                ("GET", "/api/v1/dataplane/config") | ("POST", "/api/v1/services/report")
            ),
            "the data side called {} {}",
            request.method,
            request.path
        );
        let text = String::from_utf8_lossy(&request.body);
        for marker in MARKERS {
            assert!(
                !text.contains(marker) && !request.path.contains(marker),
                "{marker} reached the control plane in {} {}: {text}",
                request.method,
                request.path
            );
        }
    }
    for file in ["control.db", "control.db-wal"] {
        let bytes = std::fs::read(root.join("control").join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for marker in MARKERS {
            assert!(
                !text.contains(marker),
                "{marker} is stored in the control database ({file})"
            );
        }
    }
}
