//! Property tests of the control-plane API from its own OpenAPI document, with Schemathesis
//! (installed by `cargo xtask test`): thousands of generated requests, valid and malformed,
//! none answered with a 5xx, and a key of one tenant never reaches another tenant's things.

#[path = "support/up.rs"]
mod up;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use up::{KillOnDrop, free_tcp};

fn schemathesis(dir: &Path, base: &str, key: &str, tenant: &str, checks: &str) -> (bool, String) {
    let config = dir.join(format!("schemathesis-{tenant}.toml"));
    std::fs::write(
        &config,
        format!("[parameters]\n\"path.tenant\" = \"{tenant}\"\n\"path.dataset\" = \"fw\"\n"),
    )
    .unwrap();
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    // Through python3, so the CLI is found wherever pip put its scripts.
    let output = Command::new("python3")
        .args([
            "-c",
            "from schemathesis.cli import schemathesis; schemathesis()",
        ])
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{base}/api/v1/openapi.json")])
        .args(["--checks", checks])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(["--max-examples", "20", "--workers", "1", "--seed", "7"])
        .args(["--no-color"])
        .env("SCHEMATHESIS_HOOKS", "cross_tenant")
        .env("PYTHONPATH", hooks)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run schemathesis ({error}): install it with `cargo xtask install-test-deps`"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn generated_requests_find_no_server_error_and_no_cross_tenant_access() {
    let dir = tempfile::tempdir().unwrap();
    let address = free_tcp();
    let _control = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args(["control", "--listen", &address.to_string()])
            .args(["--admin-email", "admin@example.com"])
            .arg("--database-url")
            .arg(format!("sqlite://{}", dir.path().join("c.db").display()))
            .env("BYTEFREEZER_ADMIN_PASSWORD", "admin password 1")
            .env("RUST_LOG", "error")
            .stderr(Stdio::null())
            .spawn()
            .expect("start control"),
    );
    let base = format!("http://{address}");
    let http = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let login = loop {
        if let Ok(response) = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({ "email": "admin@example.com", "password": "admin password 1" }))
            .send()
        {
            break response;
        }
        assert!(Instant::now() < deadline, "the control plane did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = login.json::<Value>().unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = |path: &str, body: Value| -> Value {
        let response = http
            .post(format!("{base}{path}"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().unwrap()
    };
    for (tenant, port, name) in [
        ("acme", 7101, "acme firewall"),
        ("rival", 7102, "RIVAL_MARKER firewall"),
    ] {
        let account = admin("/api/v1/accounts", json!({ "name": tenant }));
        admin(
            "/api/v1/tenants",
            json!({ "tenant_id": tenant, "name": name, "account_id": account["id"] }),
        );
        admin(
            &format!("/api/v1/tenants/{tenant}/datasets"),
            json!({ "dataset_id": "fw", "name": name,
                    "source": { "plugin": "syslog", "settings": { "bind": format!("127.0.0.1:{port}") } } }),
        );
    }
    let key = admin(
        "/api/v1/keys",
        json!({ "name": "fuzz", "tenant_id": "acme" }),
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // Paths on the caller's own tenant: real objects, so handlers run past their lookups.
    let (ok, report) = schemathesis(
        dir.path(),
        &base,
        &key,
        "acme",
        "not_a_server_error,no_cross_tenant_access",
    );
    assert!(
        ok,
        "schemathesis found failures on the caller's own tenant:\n{report}"
    );
    assert!(report.contains("generated"), "{report}");
    // Paths on another tenant: nothing may answer 2xx or show its data.
    let (ok, report) = schemathesis(
        dir.path(),
        &base,
        &key,
        "rival",
        "not_a_server_error,no_cross_tenant_access",
    );
    assert!(
        ok,
        "schemathesis found failures on another tenant's paths:\n{report}"
    );
    let rival: Value = http
        .get(format!("{base}/api/v1/tenants/rival/datasets/fw"))
        .header("cookie", &cookie)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        rival["name"], "RIVAL_MARKER firewall",
        "the other tenant's dataset is untouched"
    );
}
