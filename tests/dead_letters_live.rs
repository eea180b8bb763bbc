//! Issue 18 items 5 and 7 end to end, on a real `bytefreezer up`: a poisoned row is
//! dead-lettered while its 10,000 neighbours reach Parquet, and a pipeline that doubles a
//! megabyte event twelve times is stopped by its limits, in Test Transformation and in piper,
//! while both stay up. Dead letters are listed with `bytefreezer dead-letter` and replayed
//! through the control API (`ctl dead-letters`), which piper carries out: the rows arrive in
//! Parquet exactly once, however often the replay is asked for.

#[path = "support/up.rs"]
mod up;

use std::process::{Command, Stdio};
use std::time::Duration;

use up::{KillOnDrop, free_tcp, free_udp, read_parquet};

fn bytefreezer(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(args)
        .output()
        .expect("run bytefreezer");
    assert!(
        output.status.success(),
        "bytefreezer {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn poisoned_rows_and_runaway_pipelines_end_in_dead_letters_not_in_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let (http, syslog) = (free_tcp(), free_udp());
    let log_path = dir.path().join("up.log");
    let data_dir = dir.path().join("data");
    let child = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["up", "--no-fakedata", "--data-dir"])
        .arg(&data_dir)
        .args([
            "--http",
            &http.to_string(),
            "--syslog-bind",
            &syslog.to_string(),
        ])
        .args(["--netflow-bind", &free_udp().to_string()])
        .args(["--ipfix-bind", &free_udp().to_string()])
        .args(["--sflow-bind", &free_udp().to_string()])
        .args(["--ebpf-bind", &free_udp().to_string()])
        .args(["--events-bind", &free_tcp().to_string()])
        .args(["--syslog-tcp-bind", &free_tcp().to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("start bytefreezer up");
    let mut child = KillOnDrop(child);
    let client = reqwest::blocking::Client::new();
    let url = |path: &str| format!("http://{http}{path}");
    let wait_until = |what: &str, limit: Duration, done: &mut dyn FnMut() -> bool| {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if done() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting until {what}");
    };
    wait_until("up is ready", Duration::from_secs(60), &mut || {
        reqwest::blocking::get(url("/readyz")).is_ok_and(|r| r.status() == 200)
    });
    let key = std::fs::read_to_string(data_dir.join("up-proxy.key")).unwrap();
    let key = key.trim();
    let parquet = data_dir.join("buckets/packer/demo/syslog/data/parquet");

    // Item 5: one poisoned row among 10,000 good ones.
    let now = chrono::Utc::now().to_rfc3339();
    let mut body = String::new();
    for seq in 0..10_000 {
        body.push_str(&format!(
            "{{\"event_time\":\"{now}\",\"message\":\"good\",\"seq\":{seq}}}\n"
        ));
        if seq == 5_000 {
            body.push_str("{\"event_time\":\"x\",\"message\":\"poison\",\"seq\":-1}\n");
        }
    }
    let ingest = |body: String| {
        client
            .post(url("/api/v1/ingest/demo/syslog"))
            .bearer_auth(key)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ingest(body), 201);
    wait_until(
        "10,000 rows are in Parquet",
        Duration::from_secs(60),
        &mut || read_parquet(&parquet, &[]).seq.len() >= 10_000,
    );
    std::thread::sleep(Duration::from_secs(3));
    let rows = read_parquet(&parquet, &[]).seq;
    assert_eq!(rows.len(), 10_000);
    assert!(!rows.contains(&-1), "the poisoned row is not in Parquet");
    let listed = bytefreezer(&[
        "dead-letter",
        "list",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 1, "{listed}");
    assert!(
        lines[0].starts_with("demo/syslog\t") && lines[0].contains("\trows\t1\treserved_column\t"),
        "{listed}"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    let errors = log.lines().filter(|line| line.contains("ERROR")).count();
    assert!(errors < 10, "{errors} error lines:\n{log}");

    // Item 7: twelve doublings of a 1 MB event, first in Test Transformation...
    let doubling = serde_json::json!({"type":"regex_replace","config":{"field":"message","pattern":"(?s)(.*)","replacement":"$1$1"}});
    let pipeline = serde_json::json!({ "filters": vec![doubling; 12] });
    let event = "e".repeat(1_000_000);
    let trial = client
        .post(url("/api/v1/transform/test"))
        .bearer_auth(key)
        .json(&serde_json::json!({"pipeline": pipeline, "events": [{"message": event}]}))
        .send()
        .unwrap();
    assert_eq!(trial.status().as_u16(), 200);
    let report: serde_json::Value = trial.json().unwrap();
    assert!(
        report["error"]
            .as_str()
            .unwrap_or("")
            .contains("max_value_bytes"),
        "{}",
        report["error"]
    );
    // ...then saved (12 filters are within max_filters) and run by piper on real data.
    let saved = client
        .put(url("/api/v1/tenants/demo/datasets/syslog/pipeline"))
        .bearer_auth(key)
        .json(&pipeline)
        .send()
        .unwrap();
    assert_eq!(saved.status().as_u16(), 200);
    std::thread::sleep(Duration::from_secs(2));
    let big = format!("{{\"message\":\"{event}\",\"seq\":-2}}\n");
    assert_eq!(ingest(big), 201);
    wait_until(
        "the runaway object is dead-lettered",
        Duration::from_secs(90),
        &mut || {
            bytefreezer(&[
                "dead-letter",
                "list",
                "--data-dir",
                data_dir.to_str().unwrap(),
            ])
            .lines()
            .any(|line| line.contains("\tobject\t") && line.contains("\tlimit\t"))
        },
    );
    assert!(child.0.try_wait().unwrap().is_none(), "up is still running");
    assert!(reqwest::blocking::get(url("/healthz")).is_ok_and(|r| r.status() == 200));

    // Replaying after fixing the pipeline, through the control plane: it records the request,
    // piper moves its dead letters back on its next pass, and the rows flow (the poisoned one,
    // still "x", comes back as a dead letter under the replayed batch's name).
    let fixed = client
        .put(url("/api/v1/tenants/demo/datasets/syslog/pipeline"))
        .bearer_auth(key)
        .json(&serde_json::json!({"filters": []}))
        .send()
        .unwrap();
    assert_eq!(fixed.status().as_u16(), 200);
    std::thread::sleep(Duration::from_secs(2));
    let replay = |body: serde_json::Value| {
        let answer = client
            .post(url(
                "/api/v1/tenants/demo/datasets/syslog/dead-letters/replay",
            ))
            .bearer_auth(key)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(answer.status().as_u16(), 202);
        let request: serde_json::Value = answer.json().unwrap();
        request["id"].as_str().unwrap().to_owned()
    };
    let dead_letters = || -> serde_json::Value {
        client
            .get(url("/api/v1/tenants/demo/datasets/syslog/dead-letters"))
            .bearer_auth(key)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let request = |view: &serde_json::Value, id: &str| {
        view["replays"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap()
    };
    let first = replay(serde_json::json!({}));
    wait_until(
        "the replayed big event is in Parquet",
        Duration::from_secs(60),
        &mut || read_parquet(&parquet, &[]).seq.contains(&-2),
    );
    wait_until(
        "piper and packer report the replay done",
        Duration::from_secs(60),
        &mut || request(&dead_letters(), &first)["state"] == "done",
    );
    let done = request(&dead_letters(), &first);
    let piper_moved = done["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "piper")
        .map(|s| s["replayed"].as_u64().unwrap());
    assert_eq!(piper_moved, Some(2), "the rows and the big object: {done}");
    let ctl = bytefreezer(&[
        "ctl",
        "--url",
        &url(""),
        "--api-key",
        key,
        "dead-letters",
        "list",
        "--tenant",
        "demo",
        "--dataset",
        "syslog",
    ]);
    assert!(
        ctl.contains(&first) && ctl.contains("done") && ctl.contains("piper 2"),
        "{ctl}"
    );

    // A second replay moves only what failed again (the poisoned row); nothing twice.
    let second = replay(serde_json::json!({}));
    wait_until(
        "the second replay is done",
        Duration::from_secs(60),
        &mut || request(&dead_letters(), &second)["state"] == "done",
    );
    std::thread::sleep(Duration::from_secs(3));
    let rows = read_parquet(&parquet, &[]).seq;
    assert_eq!(
        rows.iter().filter(|seq| **seq == -2).count(),
        1,
        "the replayed event is in Parquet exactly once"
    );
    assert_eq!(rows.len(), 10_001, "nothing else arrived twice");
    assert!(
        !rows.contains(&-1),
        "the poisoned row is still not in Parquet"
    );
}
