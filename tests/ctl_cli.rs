//! `bytefreezer ctl` against a real `bytefreezer control`: log in with a password on stdin, create
//! an account, a tenant and a tenant key, drive a dataset with the key, read the audit log with
//! the session, and see a revoked key refused.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct-horse-battery";

/// A `bytefreezer control` process, killed when dropped.
struct ControlPlane {
    child: Child,
    url: String,
}

impl ControlPlane {
    fn start(dir: &Path) -> ControlPlane {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args(["control", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--database-url")
            .arg(format!("sqlite://{}", dir.join("c.db").display()))
            .args(["--admin-email", ADMIN_EMAIL])
            .env("BYTEFREEZER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start bytefreezer control");
        let control = ControlPlane {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::blocking::get(format!("{}/healthz", control.url)).is_err() {
            assert!(
                Instant::now() < deadline,
                "bytefreezer control did not answer within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        control
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn success(self, what: &str) -> String {
        assert!(self.ok, "{what} failed:\n{}\n{}", self.stdout, self.stderr);
        self.stdout
    }

    fn failure(self, what: &str) -> String {
        assert!(!self.ok, "{what} succeeded:\n{}", self.stdout);
        self.stderr
    }
}

/// Runs `bytefreezer ctl` with its session file in `session` and nothing from the environment.
struct Ctl {
    url: String,
    session: PathBuf,
}

impl Ctl {
    fn run(&self, args: &[&str]) -> Outcome {
        self.run_with_stdin(args, "")
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Outcome {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .arg("ctl")
            .args(args)
            .env("BYTEFREEZER_URL", &self.url)
            .env("BYTEFREEZER_CTL_SESSION", &self.session)
            .env_remove("BYTEFREEZER_API_KEY")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bytefreezer ctl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        Outcome {
            ok: output.status.success(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let stdout = self.run(&args).success(&args.join(" "));
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }
}

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
    let key = created
        .lines()
        .find_map(|line| line.strip_prefix("key: "))
        .unwrap_or_else(|| panic!("no key line in {created}"))
        .to_owned();
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
