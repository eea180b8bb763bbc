//! The Query service inside `bytefreezer up`: SQL over a dataset's Parquet answers what DuckDB
//! answers on the same files, only for keys that reach the dataset.

#[path = "support/up.rs"]
mod up;

use std::net::UdpSocket;
use std::time::Duration;

use serde_json::{Value, json};
use up::{UpProcess, duckdb, free_tcp, free_udp, read_parquet};

#[test]
fn sql_over_the_parquet_matches_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let key = std::fs::read_to_string(dir.path().join("up-proxy.key")).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in 0..120u32 {
        let action = ["allow", "deny", "drop"][(seq % 7 % 3) as usize];
        let message = format!(
            "<134>1 {} fw01 filterlog - - - seq={seq} action={action} bytes={}",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            seq * 3
        );
        socket.send_to(message.as_bytes(), up.syslog).unwrap();
    }
    up.wait_until(Duration::from_secs(30), "120 rows are in Parquet", |up| {
        read_parquet(&up.parquet_folder(), &["seq"]).seq.len() >= 120
    });
    let client = reqwest::blocking::Client::new();
    let query = |sql: &str, key: &str| {
        let response = client
            .post(format!("http://{}/api/v1/query", up.http))
            .bearer_auth(key)
            .json(&json!({ "tenant_id": "demo", "dataset_id": "syslog", "sql": sql }))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap_or(Value::Null))
    };
    let (status, answer) = query(
        "SELECT action, COUNT(*) AS n, SUM(CAST(bytes AS BIGINT)) AS total FROM syslog GROUP BY action ORDER BY action",
        &key,
    );
    assert_eq!(status, 200, "{answer}");
    let ours: Vec<(String, i64, i64)> = answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["n"].as_i64().unwrap(),
                r["total"].as_i64().unwrap(),
            )
        })
        .collect();
    let files = format!("{}/**/*.parquet", up.parquet_folder().display());
    let theirs = duckdb(&format!(
        "SELECT action, COUNT(*), SUM(CAST(bytes AS BIGINT)) FROM read_parquet('{files}', union_by_name = true) GROUP BY action ORDER BY action"
    ));
    let expected = format!(
        "[{}]",
        ours.iter()
            .map(|(a, n, t)| format!("('{a}', {n}, {t})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(theirs, expected, "DuckDB and the Query service disagree");
    assert_eq!(ours.iter().map(|r| r.1).sum::<i64>(), 120);

    let (status, columns) = {
        let response = client
            .get(format!(
                "http://{}/api/v1/query/demo/syslog/columns",
                up.http
            ))
            .bearer_auth(&key)
            .send()
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().unwrap(),
        )
    };
    assert_eq!(status, 200);
    assert!(
        columns["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "hour" && c["partition"] == true)
    );
    assert_eq!(query("SELECT 1", "bf_wrong").0, 401);
    let (status, refused) = query("DROP TABLE syslog", &key);
    assert_eq!(status, 400, "{refused}");
}
