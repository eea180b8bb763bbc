//! End-to-end on a running `bytefreezer up`: a dataset created through the API receives syslog
//! on its new port and lands in Parquet without a restart; pausing closes the port within 2 s
//! and resuming opens it again; every role registers, reports and feeds the statistics.

#[path = "support/up.rs"]
mod up;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use up::{UpProcess, free_tcp, free_udp, read_parquet};

struct Api {
    client: reqwest::blocking::Client,
    base: String,
    key: String,
}

impl Api {
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }
}

fn send_syslog(target: SocketAddr, count: u64, tag: &str) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in 0..count {
        let message = format!(
            "<134>1 {} fw02 filterlog - - - seq={seq} tag={tag} action=allow",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
        socket.send_to(message.as_bytes(), target).unwrap();
    }
}

/// Whether something listens on the UDP port: our own bind (without SO_REUSEPORT) fails then.
fn udp_port_open(address: SocketAddr) -> bool {
    UdpSocket::bind(address).is_err()
}

fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {limit:?} waiting until {what}");
}

#[test]
fn datasets_created_paused_and_resumed_through_the_api_take_effect_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let api = Api {
        client: reqwest::blocking::Client::new(),
        base: format!("http://{}", up.http),
        key: std::fs::read_to_string(dir.path().join("up-proxy.key")).unwrap(),
    };
    let port = free_udp();
    let (status, created) = api.call(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets",
        Some(json!({
            "dataset_id": "edge_fw",
            "name": "Edge firewall",
            "source": { "plugin": "syslog", "settings": { "bind": port.to_string() } },
            "testing": true,
        })),
    );
    assert_eq!(status, 201, "{created}");
    wait_for(Duration::from_secs(5), "the new port listens", || {
        udp_port_open(port)
    });
    let parquet = dir.path().join("buckets/packer/demo/edge_fw/data/parquet");
    wait_for(
        Duration::from_secs(20),
        "syslog sent to the new port is in Parquet",
        || {
            send_syslog(port, 20, "first");
            read_parquet(&parquet, &["tag"]).seq.len() >= 20
        },
    );

    let (status, paused) = api.call(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets/edge_fw/pause",
        None,
    );
    assert_eq!((status, &paused["active"]), (200, &json!(false)));
    let closed_after = wait_for(Duration::from_secs(5), "the paused port closes", || {
        !udp_port_open(port)
    });
    assert!(
        closed_after <= Duration::from_secs(2),
        "the port closed after {closed_after:?}"
    );
    assert!(
        udp_port_open(up.syslog),
        "the other datasets keep listening"
    );

    let (status, _) = api.call(
        reqwest::Method::POST,
        "/api/v1/tenants/demo/datasets/edge_fw/resume",
        None,
    );
    assert_eq!(status, 200);
    wait_for(
        Duration::from_secs(5),
        "the resumed port listens again",
        || udp_port_open(port),
    );
    let before = read_parquet(&parquet, &["tag"]).seq.len();
    wait_for(Duration::from_secs(20), "data after resume lands", || {
        send_syslog(port, 10, "second");
        read_parquet(&parquet, &["tag"]).seq.len() > before
    });

    // Every role of `up` registers and reports; the dataset's statistics fill from the reports.
    wait_for(
        Duration::from_secs(25),
        "the statistics count the events",
        || {
            let (_, stats) = api.call(
                reqwest::Method::GET,
                "/api/v1/tenants/demo/datasets/edge_fw/statistics",
                None,
            );
            stats["totals"]["events_received"].as_i64().unwrap_or(0) >= 30
                && stats["totals"]["parquet_rows"].as_i64().unwrap_or(0) >= 30
                && stats["totals"]["parquet_files"].as_i64().unwrap_or(0) >= 1
        },
    );
    let (_, stats) = api.call(
        reqwest::Method::GET,
        "/api/v1/tenants/demo/datasets/edge_fw/statistics",
        None,
    );
    assert_eq!(stats["stages"]["piper"], "installed");
    assert_eq!(stats["stages"]["query"], "installed");
    assert!(!stats["series"].as_array().unwrap().is_empty());
    let (_, services) = api.call(reqwest::Method::GET, "/api/v1/services", None);
    let mut roles: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["role"].as_str().unwrap())
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        ["control", "packer", "piper", "proxy", "query", "receiver"]
    );
    for service in services.as_array().unwrap() {
        assert_ne!(service["health"], "Unhealthy", "{service}");
        assert!(service["memory_bytes"].as_u64().unwrap() > 0, "{service}");
    }
    let (_, activity) = api.call(
        reqwest::Method::GET,
        "/api/v1/activity?dataset=edge_fw&stage=packer",
        None,
    );
    assert!(
        !activity["events"].as_array().unwrap().is_empty(),
        "{activity}"
    );
    let (_, audit) = api.call(
        reqwest::Method::GET,
        "/api/v1/audit?target=dataset/demo/edge_fw",
        None,
    );
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["dataset.resume", "dataset.pause", "dataset.create"]
    );
    assert!(
        audit["entries"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("key:up-proxy-")
    );
}
