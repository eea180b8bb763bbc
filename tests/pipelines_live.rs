//! End-to-end: pipelines saved through the API shape new Parquet within seconds in a running
//! `bytefreezer up`, Test Transformation touches nothing, and runtime failures keep their data.

#[path = "support/up.rs"]
mod up;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use up::{UpProcess, free_tcp, free_udp, read_parquet};

fn geoip_test_database() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-data/geoip/GeoIP2-City-Test.mmdb");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask install-test-deps` (it downloads MaxMind's test databases from PyPI)",
        path.display()
    );
    path
}

fn firewall_message(seq: u64) -> Vec<u8> {
    let action = if seq.is_multiple_of(2) {
        "deny"
    } else {
        "allow"
    };
    format!(
        "<134>1 {} fw01 filterlog - - - seq={seq} action={action} src=81.2.69.142",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
    .into_bytes()
}

fn send_firewall(target: SocketAddr, sequence: std::ops::Range<u64>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in sequence {
        socket.send_to(&firewall_message(seq), target).unwrap();
    }
}

#[test]
fn a_saved_pipeline_shapes_new_parquet_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let city = geoip_test_database();
    let up = UpProcess::start_with(
        dir.path(),
        free_tcp(),
        free_udp(),
        &["--geoip-city-db".as_ref(), city.as_os_str()],
    );
    let key = std::fs::read_to_string(dir.path().join("up-proxy.key")).unwrap();
    let client = reqwest::blocking::Client::new();
    let url = |path: &str| format!("http://{}{path}", up.http);
    let put = |path: &str, body: &str, key: Option<&str>| {
        let mut request = client
            .put(url(path))
            // What `curl -d` sends, as in the README.
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(key) = key {
            request = request.bearer_auth(key.trim());
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json::<serde_json::Value>().unwrap_or_default(),
        )
    };

    send_firewall(up.syslog, 0..20);
    up.wait_until(
        Duration::from_secs(60),
        "the first 20 rows are in Parquet",
        |p| read_parquet(&p.parquet_folder(), &[]).seq.len() == 20,
    );

    let own = "/api/v1/tenants/demo/datasets/syslog/pipeline";
    let documented = r#"{"filters":[{"type":"drop","config":{"condition":"action == 'deny'"}},{"type":"geoip","config":{"field":"src"}}]}"#;
    let (status, body) = put(
        own,
        r#"{"filters":[{"type":"drop","config":{"condition":"action =="}}]}"#,
        Some(&key),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["filter_index"], 0);
    assert!(
        body["error"].as_str().unwrap().contains("config.condition"),
        "{body}"
    );
    assert_eq!(put(own, documented, None).0, 401);
    assert_eq!(put(own, documented, Some("bf_not_a_key")).0, 401);
    assert_eq!(
        put(
            "/api/v1/tenants/other/datasets/syslog/pipeline",
            documented,
            Some(&key)
        )
        .0,
        404
    );
    assert_eq!(
        put(
            "/api/v1/tenants/demo/datasets/nope/pipeline",
            documented,
            Some(&key)
        )
        .0,
        404
    );
    assert_eq!(put(own, "{not json", Some(&key)).0, 400);

    let trial: serde_json::Value = client
        .post(url("/api/v1/transform/test"))
        .bearer_auth(key.trim())
        .json(&serde_json::json!({
            "pipeline": serde_json::from_str::<serde_json::Value>(documented).unwrap(),
            "events": [{"action": "deny", "src": "81.2.69.142"}, {"action": "allow", "src": "81.2.69.142"}]
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (trial["rows_in"].as_u64(), trial["rows_out"].as_u64()),
        (Some(2), Some(1)),
        "{trial}"
    );
    assert_eq!(trial["output"][0]["src_geo_city"], "London", "{trial}");
    assert_eq!(
        trial["filters"][1]["fields_added"][0], "src_geo_country",
        "{trial}"
    );
    assert_eq!(
        read_parquet(&up.parquet_folder(), &[]).seq.len(),
        20,
        "Test Transformation does not touch running data"
    );
    let catalog: serde_json::Value = client
        .get(url("/api/v1/transform/filters"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        catalog["filters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["type"] == "geoip")
    );

    let (status, saved) = put(own, documented, Some(&key));
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"].as_str().map(str::len), Some(12));
    let saved_at = Instant::now();
    let mut next = 1_000;
    let latency = loop {
        send_firewall(up.syslog, next..next + 10);
        next += 10;
        let rows = read_parquet(&up.parquet_folder(), &["src_geo_city"]);
        if rows.columns["src_geo_city"]
            .iter()
            .any(|c| c.as_deref() == Some("London"))
        {
            break saved_at.elapsed();
        }
        assert!(
            saved_at.elapsed() < Duration::from_secs(30),
            "the saved pipeline never reached Parquet"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("saved pipeline visible in new Parquet after {latency:?} (target 5 s)");
    assert!(
        latency < Duration::from_secs(10),
        "the saved pipeline took {latency:?} to reach Parquet"
    );

    send_firewall(up.syslog, next..next + 100);
    let last = next + 99;
    up.wait_until(
        Duration::from_secs(60),
        "the last message is in Parquet",
        |p| {
            read_parquet(&p.parquet_folder(), &[])
                .seq
                .contains(&(last as i64))
        },
    );
    let rows = read_parquet(&up.parquet_folder(), &["action", "src_geo_city"]);
    for (i, seq) in rows.seq.iter().enumerate() {
        let transformed = rows.columns["src_geo_city"][i].is_some();
        let action = rows.columns["action"][i].as_deref();
        if *seq >= next as i64 {
            assert!(
                transformed && action == Some("allow"),
                "seq {seq}: {action:?}, enriched: {transformed}"
            );
        }
        if transformed {
            assert_eq!(
                action,
                Some("allow"),
                "seq {seq}: the new pipeline drops denials"
            );
        }
        if *seq < 20 {
            assert!(
                !transformed,
                "data written before the change stays as it was"
            );
        }
    }
    assert_eq!(rows.seq.iter().filter(|s| **s < 20).count(), 20);

    // A pipeline that validates but fails on the data (severity is a number, not JSON text):
    // piper reports it in activity and keeps the batch until the pipeline is fixed.
    let failing = r#"{"filters":[{"type":"json_parse","config":{"field":"severity"}}]}"#;
    assert_eq!(put(own, failing, Some(&key)).0, 200);
    let failure_reported = |p: &UpProcess| {
        let activity: serde_json::Value =
            reqwest::blocking::get(format!("http://{}/activity", p.http))
                .and_then(|r| r.json())
                .unwrap_or_default();
        activity.as_array().is_some_and(|events| {
            events.iter().any(|e| {
                e["stage"] == "piper"
                    && e["outcome"] == "error"
                    && e["details"]["failed_step"] == "transform"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("expected text"))
            })
        })
    };
    let failing_since = Instant::now();
    let mut last_sent: u64 = 5_000;
    let mut last_allowed: i64 = 0;
    while !failure_reported(&up) {
        assert!(
            failing_since.elapsed() < Duration::from_secs(30),
            "the runtime failure never showed in activity"
        );
        send_firewall(up.syslog, last_sent..last_sent + 5);
        // Odd sequence numbers are allowed; the fixed pipeline drops the even denials.
        last_allowed = if last_sent.is_multiple_of(2) {
            last_sent + 3
        } else {
            last_sent + 4
        } as i64;
        last_sent += 5;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(put(own, documented, Some(&key)).0, 200);
    up.wait_until(
        Duration::from_secs(30),
        "the held batch is transformed after the fix",
        |p| {
            read_parquet(&p.parquet_folder(), &[])
                .seq
                .contains(&last_allowed)
        },
    );
    let activity: serde_json::Value =
        reqwest::blocking::get(format!("http://{}/activity?limit=500", up.http))
            .unwrap()
            .json()
            .unwrap();
    assert!(
        activity
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["stage"] == "packer" && e["outcome"] == "ok"),
        "packer files are in activity"
    );
    assert_eq!(up.terminate().code(), Some(0));
}
