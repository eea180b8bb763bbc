//! Dead letters through the control API, on both backends: only callers who may change the
//! pipeline ask for a replay (audited, 202), the request reaches piper and packer in their
//! configuration, and their reports (dead-letter counts, an Activity event per replay) show in
//! `GET …/dead-letters` until both stages are done.

#[path = "support/control.rs"]
#[macro_use]
mod control;

use control::*;
use serde_json::{Value, json};

api_tests_on_both_backends!(replays_are_requested_by_editors_delivered_and_reported_done);

const DEAD_LETTERS: &str = "/api/v1/tenants/demo/datasets/syslog/dead-letters";
const REPLAY: &str = "/api/v1/tenants/demo/datasets/syslog/dead-letters/replay";

fn report(role: &str, waiting: u64, replay: Option<(&str, u64)>) -> Value {
    let mut report = json!({
        "instance_id": format!("{role}-1"), "role": role, "host": "edge-1", "version": "0.1.0",
        "started_at": "2026-11-29T10:00:00Z", "ready": true,
        "dead_letters": [{ "tenant_id": "demo", "dataset_id": "syslog", "stage": role, "objects": waiting }],
    });
    if let Some((id, replayed)) = replay {
        report["activity"] = json!([{
            "time": "2026-12-06T08:00:00Z", "stage": role, "tenant_id": "demo", "dataset_id": "syslog",
            "outcome": "ok", "message": format!("replayed {replayed} dead letters"),
            "details": { "dead_letter_replay": { "replay_id": id, "stage": role, "replayed": replayed } },
        }]);
    }
    report
}

async fn user(control: &Control, admin: &Session, email: &str, role: &str) -> Session {
    let (status, body) = control
        .post(
            "/api/v1/users",
            &Auth::Session(admin),
            json!({
                "email": email, "password": "a long password", "role": role,
                "account_id": control.account,
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    control.login(email, "a long password").await
}

async fn pending_in_config(control: &Control) -> Vec<Value> {
    let (status, config) = control
        .get("/api/v1/dataplane/config", &Auth::Key(&control.key))
        .await;
    assert_eq!(status, 200, "{config}");
    config["dead_letter_replays"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn replays_are_requested_by_editors_delivered_and_reported_done(control: Control) {
    let admin = control.login(ADMIN.0, ADMIN.1).await;
    let viewer = user(&control, &admin, "viewer@example.com", "viewer").await;
    let editor = user(&control, &admin, "editor@example.com", "account_admin").await;

    let (status, body) = control
        .post(REPLAY, &Auth::Session(&viewer), json!({}))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, view) = control.get(DEAD_LETTERS, &Auth::Session(&viewer)).await;
    assert_eq!(status, 200, "viewers may look: {view}");
    assert_eq!(view["replays"], json!([]));
    assert!(pending_in_config(&control).await.is_empty());

    let (status, request) = control
        .post(REPLAY, &Auth::Session(&editor), json!({ "batch_id": "b1" }))
        .await;
    assert_eq!(status, 202, "{request}");
    assert_eq!(
        (
            request["requested_by"].as_str(),
            request["batch_id"].as_str(),
            request["state"].as_str()
        ),
        (Some("editor@example.com"), Some("b1"), Some("pending"))
    );
    let id = request["id"].as_str().unwrap().to_owned();
    let (status, view) = control.get(DEAD_LETTERS, &Auth::Session(&viewer)).await;
    assert_eq!(status, 200);
    assert_eq!(view["replays"][0]["id"], json!(id));
    assert_eq!(view["replays"][0]["state"], "pending");

    let (status, audit) = control
        .get(
            "/api/v1/audit?action=dead_letter.replay",
            &Auth::Session(&admin),
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let entries = audit["entries"].as_array().or(audit.as_array()).unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(
        (entries[0]["actor"].as_str(), entries[0]["target"].as_str()),
        (Some("editor@example.com"), Some("dataset/demo/syslog"))
    );
    assert_eq!(entries[0]["diff"]["after"]["id"], json!(id));

    // Both stages receive it, and each is done once it says so in its Activity.
    let pending = pending_in_config(&control).await;
    assert_eq!(
        pending,
        [
            json!({ "id": id, "tenant_id": "demo", "dataset_id": "syslog", "batch_id": "b1", "stages": ["piper", "packer"] })
        ]
    );
    let key = Auth::Key(&control.key);
    let (status, body) = control
        .report_service(&key, report("piper", 2, Some((&id, 1))))
        .await;
    assert!(status < 300, "{status} {body}");
    assert_eq!(
        pending_in_config(&control).await[0]["stages"],
        json!(["packer"])
    );
    // Told again (a restarted stage replays again and finds nothing), the count stays.
    control
        .report_service(&key, report("piper", 2, Some((&id, 0))))
        .await;
    control
        .report_service(&key, report("packer", 0, Some((&id, 0))))
        .await;
    assert!(pending_in_config(&control).await.is_empty());
    let (_, view) = control.get(DEAD_LETTERS, &key).await;
    assert_eq!(view["replays"][0]["state"], "done", "{view}");
    let replayed: Vec<(String, u64)> = view["replays"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_owned(),
                s["replayed"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        replayed,
        [("packer".to_owned(), 0), ("piper".to_owned(), 1)]
    );
    let counts: Vec<(String, u64)> = view["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["stage"].as_str().unwrap().to_owned(),
                c["objects"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, [("packer".to_owned(), 0), ("piper".to_owned(), 2)]);

    // Refusals name what is wrong.
    let (status, _) = control
        .post(REPLAY, &key, json!({ "batch_id": "../other" }))
        .await;
    assert_eq!(status, 422);
    let (status, _) = control
        .call(
            "POST",
            "/api/v1/tenants/demo/datasets/nope/dead-letters/replay",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = control.call("POST", REPLAY, &key, None).await;
    assert_eq!(
        (status, body["batch_id"].clone()),
        (202, Value::Null),
        "{body}"
    );
}
