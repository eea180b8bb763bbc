//! Test input and Test output answer from what the data side reported, on both backends: the
//! proxy's input states, the events it counted, and the packer's write probes.

#[path = "support/control.rs"]
#[macro_use]
mod control;

use control::*;
use serde_json::{Value, json};

api_tests_on_both_backends!(
    test_input_explains_listening_and_recent_data,
    test_output_explains_each_packers_write_probe,
);

fn report(role: &str, instance: &str, extra: Value) -> Value {
    let mut report = json!({
        "instance_id": instance, "role": role, "host": "edge-1", "version": "0.1.0",
        "started_at": "2026-11-29T10:00:00Z", "ready": true,
    });
    for (name, value) in extra.as_object().unwrap() {
        report[name] = value.clone();
    }
    report
}

fn messages(result: &Value) -> Vec<String> {
    result["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                if c["ok"] == true { "ok" } else { "FAIL" },
                c["message"].as_str().unwrap()
            )
        })
        .collect()
}

async fn test_input_explains_listening_and_recent_data(control: Control) {
    let key = Auth::Key(&control.key);
    let path = "/api/v1/tenants/demo/datasets/syslog/checks/input";
    let (status, result) = control.get(path, &key).await;
    assert_eq!(status, 200);
    assert_eq!(result["ok"], false);
    assert!(
        messages(&result)[0].contains("no proxy of this account has reported"),
        "{result}"
    );

    // A proxy whose socket is taken by another process.
    let blocked = json!({ "inputs": [{ "tenant_id": "demo", "dataset_id": "syslog", "listen": "udp://0.0.0.0:5514", "listening": false }] });
    control
        .report_service(&key, report("proxy", "proxy-1", blocked))
        .await;
    let (_, result) = control.get(path, &key).await;
    let said = messages(&result);
    assert!(
        said[0].starts_with("FAIL proxy proxy-1 cannot open udp://0.0.0.0:5514"),
        "{said:?}"
    );
    assert!(said[1].starts_with("FAIL no events arrived"), "{said:?}");

    // Listening, then data counted: every check passes.
    let listening = |events: u64| {
        json!({
            "inputs": [{ "tenant_id": "demo", "dataset_id": "syslog", "listen": "udp://0.0.0.0:5514", "listening": true }],
            "datasets": [{ "tenant_id": "demo", "dataset_id": "syslog", "counters": { "events_received": events } }],
        })
    };
    control
        .report_service(&key, report("proxy", "proxy-1", listening(0)))
        .await;
    control
        .report_service(&key, report("proxy", "proxy-1", listening(25)))
        .await;
    let (_, result) = control.get(path, &key).await;
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(
        messages(&result),
        [
            "ok proxy proxy-1 listens on udp://0.0.0.0:5514",
            "ok 25 events arrived in the last 5 minutes"
        ]
    );

    // Paused: said first, whatever the proxy reported before.
    control.pause("demo", "syslog", &key).await;
    let (_, result) = control.get(path, &key).await;
    assert_eq!(result["ok"], false);
    assert!(
        messages(&result)[0].contains("the dataset is paused"),
        "{result}"
    );

    let (status, _) = control
        .get("/api/v1/tenants/demo/datasets/nope/checks/input", &key)
        .await;
    assert_eq!(status, 404);
    let (status, _) = control.get(path, &Auth::None).await;
    assert_eq!(status, 401);
}

async fn test_output_explains_each_packers_write_probe(control: Control) {
    let key = Auth::Key(&control.key);
    let path = "/api/v1/tenants/demo/datasets/syslog/checks/output";
    let (_, result) = control.get(path, &key).await;
    assert_eq!(result["ok"], false);
    assert!(messages(&result)[0].contains("no packer of this account has reported"));

    let probes = json!({ "destinations": [
        { "bucket": "packer", "writable": true, "checked_at": "2026-11-29T10:00:00Z" },
        { "bucket": "archive", "writable": false, "error": "permission denied", "checked_at": "2026-11-29T10:00:00Z" },
    ]});
    control
        .report_service(&key, report("packer", "packer-1", probes))
        .await;
    let (_, result) = control.get(path, &key).await;
    assert_eq!(result["ok"], true, "{result}");
    assert!(
        messages(&result)[0]
            .starts_with("ok packer packer-1 wrote and deleted a probe object in bucket packer")
    );

    // The dataset moves to a bucket the packer cannot write, then to one it does not have.
    let (_, mut dataset) = control
        .get("/api/v1/tenants/demo/datasets/syslog", &key)
        .await;
    for (bucket, expected) in [
        (
            "archive",
            "FAIL packer packer-1 cannot write to bucket archive: permission denied",
        ),
        (
            "cold",
            "FAIL packer packer-1 has no bucket cold: add it under [packer.destinations]",
        ),
    ] {
        dataset["destination"] = json!({ "bucket": bucket });
        let body = json!({
            "dataset_id": "syslog", "name": dataset["name"], "source": dataset["source"],
            "testing": true, "destination": dataset["destination"],
        });
        let (status, answer) = control
            .call(
                "PUT",
                "/api/v1/tenants/demo/datasets/syslog",
                &key,
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        let (_, result) = control.get(path, &key).await;
        assert_eq!(result["ok"], false);
        assert_eq!(messages(&result), [expected]);
    }
}
