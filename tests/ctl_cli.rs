//! `bytefreezer ctl` against a real `bytefreezer control`: log in with a password on stdin, create
//! an account, a tenant and a tenant key, drive a dataset with the key, read the audit log with
//! the session, and see a revoked key refused.

#[path = "support/control.rs"]
mod control;

use control::{ADMIN_EMAIL, ADMIN_PASSWORD, ControlPlane, Ctl, shown_key};

/// The table row whose first cells are `first`.
fn row<'a>(table: &'a str, first: &[&str]) -> Option<Vec<&'a str>> {
    table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.starts_with(first))
}

#[test]
fn without_a_key_or_session_it_says_how_to_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = Ctl {
        url: "http://127.0.0.1:9".into(),
        session: dir.path().join("none.json"),
    };
    let stderr = ctl.run(&["tenants", "list"]).failure("tenants list");
    assert!(stderr.contains("bytefreezer ctl login"), "{stderr}");
    assert!(stderr.contains("--api-key"), "{stderr}");
}

#[test]
fn ctl_logs_in_manages_tenants_keys_and_datasets_and_reads_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlPlane::start(dir.path());
    let ctl = Ctl {
        url: control.url.clone(),
        session: dir.path().join("ctl/session.json"),
    };

    let refused = ctl
        .run_with_stdin(&["login", "--email", ADMIN_EMAIL], "wrong-password-1\n")
        .failure("login with a wrong password");
    assert!(refused.contains("401"), "{refused}");
    assert!(refused.contains("wrong email or password"), "{refused}");
    let stdout = ctl
        .run_with_stdin(
            &["login", "--email", ADMIN_EMAIL],
            &format!("{ADMIN_PASSWORD}\n"),
        )
        .success("login");
    assert!(stdout.contains("logged in"), "{stdout}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ctl.session)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the session file is private");
    }
    let whoami = ctl.run(&["whoami"]).success("whoami");
    assert_eq!(row(&whoami, &["actor"]), Some(vec!["actor", ADMIN_EMAIL]));
    assert_eq!(row(&whoami, &["role"]), Some(vec!["role", "admin"]));

    let account = ctl.json(&["accounts", "create", "Acme"]);
    let account_id = account["id"].as_str().unwrap().to_owned();
    let created = ctl
        .run(&[
            "tenants",
            "create",
            "acme",
            "--name",
            "Acme Corp",
            "--account",
            &account_id,
        ])
        .success("tenants create");
    assert!(created.contains("created tenant acme"), "{created}");
    let tenants = ctl.run(&["tenants", "list"]).success("tenants list");
    assert!(
        row(&tenants, &["acme", "Acme", "Corp", &account_id]).is_some(),
        "{tenants}"
    );

    let created = ctl
        .run(&["keys", "create", "--name", "ingest", "--tenant", "acme"])
        .success("keys create");
    assert!(created.contains("only time the key is shown"), "{created}");
    let key = shown_key(&created);
    let keys = ctl.json(&["keys", "list"]);
    let key_id = keys[0]["id"].as_str().unwrap().to_owned();

    // The tenant key drives the dataset; the session sees the result.
    let with_key = |args: &[&str]| {
        let mut all = vec!["--api-key", key.as_str()];
        all.extend_from_slice(args);
        ctl.run(&all)
    };
    let created = with_key(&[
        "datasets",
        "create",
        "acme",
        "fw",
        "--plugin",
        "syslog",
        "--bind",
        "127.0.0.1:5514",
    ])
    .success("datasets create");
    assert_eq!(
        created.trim(),
        "created dataset acme/fw: syslog on 127.0.0.1:5514, active"
    );
    let paused = with_key(&["datasets", "pause", "acme", "fw"]).success("datasets pause");
    assert_eq!(paused.trim(), "paused dataset acme/fw");
    let resumed = with_key(&["datasets", "resume", "acme", "fw"]).success("datasets resume");
    assert_eq!(resumed.trim(), "resumed dataset acme/fw");
    let assigned = with_key(&["datasets", "assign", "acme", "fw", "--proxy", "proxy-1"])
        .success("datasets assign");
    assert!(assigned.contains("proxy proxy-1"), "{assigned}");
    let clash = with_key(&[
        "datasets",
        "create",
        "acme",
        "flows",
        "--plugin",
        "netflow",
        "--bind",
        "127.0.0.1:5514",
    ])
    .failure("a dataset on a taken port");
    assert!(clash.contains("409"), "{clash}");
    assert!(clash.contains("overlaps dataset acme/fw"), "{clash}");
    // An input that connects out takes its settings as JSON and needs no --bind.
    let bus = with_key(&[
        "datasets",
        "create",
        "acme",
        "bus",
        "--plugin",
        "nats",
        "--settings",
        r#"{"mode":"jetstream","stream":"EVENTS","consumer":"bf"}"#,
    ])
    .success("datasets create nats");
    assert_eq!(
        bus.trim(),
        "created dataset acme/bus: nats on nats://127.0.0.1:4222/EVENTS/bf, active"
    );
    let refused = with_key(&[
        "datasets",
        "create",
        "acme",
        "bus2",
        "--plugin",
        "nats",
        "--settings",
        r#"{"mode":"jetstream"}"#,
    ])
    .failure("a jetstream dataset without its stream");
    assert!(refused.contains("source.settings.stream"), "{refused}");

    let updated = ctl
        .run(&[
            "datasets",
            "update",
            "acme",
            "fw",
            "--bind",
            "127.0.0.1:6514",
            "--testing",
        ])
        .success("datasets update");
    assert!(
        updated.contains("127.0.0.1:6514, active, testing"),
        "{updated}"
    );
    let datasets = ctl.run(&["datasets", "list"]).success("datasets list");
    assert_eq!(
        row(&datasets, &["acme", "fw"]),
        Some(vec![
            "acme",
            "fw",
            "fw",
            "syslog",
            "127.0.0.1:6514",
            "active,",
            "testing",
            "proxy-1"
        ]),
        "{datasets}"
    );
    assert_eq!(
        row(&datasets, &["acme", "bus"]).map(|row| row[4]),
        Some("nats://127.0.0.1:4222/EVENTS/bf"),
        "{datasets}"
    );
    let listed = ctl.json(&["datasets", "list", "--tenant", "acme"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(2));

    let pauses = ctl
        .run(&["audit", "--action", "dataset.pause"])
        .success("audit --action dataset.pause");
    assert!(
        pauses
            .lines()
            .any(|line| line.contains("key:ingest") && line.contains("dataset/acme/fw")),
        "{pauses}"
    );
    let tenant_creations = ctl
        .run(&["audit", "--action", "tenant.create", "--since", "1h"])
        .success("audit --action tenant.create --since 1h");
    assert!(
        tenant_creations
            .lines()
            .any(|line| line.contains(ADMIN_EMAIL) && line.contains("tenant")),
        "{tenant_creations}"
    );
    let everything = ctl.json(&["audit", "--limit", "500"]);
    let paged = ctl.json(&["audit", "--limit", "2", "--all"]);
    let count = everything["entries"].as_array().unwrap().len();
    assert!(count >= 8, "{everything}");
    assert_eq!(
        paged["entries"], everything["entries"],
        "--all follows every page"
    );

    let revoked = ctl.run(&["keys", "revoke", &key_id]).success("keys revoke");
    assert!(revoked.contains("revoked API key ingest"), "{revoked}");
    let refused = with_key(&["datasets", "list"]).failure("a revoked key");
    assert!(refused.contains("401"), "{refused}");
    assert!(refused.contains("revoked"), "{refused}");

    let logged_out = ctl.run(&["logout"]).success("logout");
    assert!(logged_out.contains("logged out"), "{logged_out}");
    assert!(!ctl.session.exists());
    let stderr = ctl.run(&["whoami"]).failure("whoami after logout");
    assert!(stderr.contains("bytefreezer ctl login"), "{stderr}");
}
