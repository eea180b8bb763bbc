//! A real `bytefreezer control` on SQLite with a first admin, and `bytefreezer ctl` run against
//! it as an operator would. Included with `#[path]`.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery";

/// A `bytefreezer control` process, killed when dropped.
pub struct ControlPlane {
    child: Option<Child>,
    database: PathBuf,
    port: u16,
    pub url: String,
}

impl ControlPlane {
    /// A control plane on a free port with its database in `dir`.
    pub fn start(dir: &Path) -> ControlPlane {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut control = ControlPlane {
            child: None,
            database: dir.join("c.db"),
            port,
            url: format!("http://127.0.0.1:{port}"),
        };
        control.restart();
        control
    }

    /// SIGKILL, as a crashed host or a cut network looks to the roles.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and database; returns once it answers.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args(["control", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--database-url")
            .arg(format!("sqlite://{}", self.database.display()))
            .args(["--admin-email", ADMIN_EMAIL])
            .env("BYTEFREEZER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start bytefreezer control");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::blocking::get(format!("{}/healthz", self.url)).is_err() {
            assert!(
                Instant::now() < deadline,
                "bytefreezer control did not answer within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Outcome {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn success(self, what: &str) -> String {
        assert!(self.ok, "{what} failed:\n{}\n{}", self.stdout, self.stderr);
        self.stdout
    }

    pub fn failure(self, what: &str) -> String {
        assert!(!self.ok, "{what} succeeded:\n{}", self.stdout);
        self.stderr
    }
}

/// Runs `bytefreezer ctl` with its session file in `session` and nothing from the environment.
pub struct Ctl {
    pub url: String,
    pub session: PathBuf,
}

impl Ctl {
    /// Logged in as the first admin, its session in `dir`.
    pub fn admin(control: &ControlPlane, dir: &Path) -> Ctl {
        let ctl = Ctl {
            url: control.url.clone(),
            session: dir.join("ctl/session.json"),
        };
        ctl.run_with_stdin(
            &["login", "--email", ADMIN_EMAIL],
            &format!("{ADMIN_PASSWORD}\n"),
        )
        .success("login");
        ctl
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        self.run_with_stdin(args, "")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Outcome {
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

    pub fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let stdout = self.run(&args).success(&args.join(" "));
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// Creates a key and returns it (the only time it is shown).
    pub fn create_key(&self, args: &[&str]) -> String {
        let mut all = vec!["keys", "create"];
        all.extend_from_slice(args);
        shown_key(&self.run(&all).success("keys create"))
    }
}

/// The key in what `ctl keys create` printed.
pub fn shown_key(created: &str) -> String {
    created
        .lines()
        .find_map(|line| line.strip_prefix("key: "))
        .unwrap_or_else(|| panic!("no key line in {created}"))
        .to_owned()
}
