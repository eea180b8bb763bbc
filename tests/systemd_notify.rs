//! A role run as systemd runs a `Type=notify` unit: `$NOTIFY_SOCKET` gets READY=1 once the role
//! is ready, WATCHDOG=1 at half the `WATCHDOG_USEC` interval, and STOPPING=1 on SIGTERM, logging
//! JSON lines when asked; the units in deploy/systemd say so and stay at most MEDIUM in
//! `systemd-analyze security`.

#[path = "support/up.rs"]
mod up;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use up::{KillOnDrop, free_tcp};

fn next_message(socket: &UnixDatagram, within: Duration) -> Option<String> {
    socket.set_read_timeout(Some(within)).unwrap();
    let mut buffer = [0u8; 512];
    let read = socket.recv(&mut buffer).ok()?;
    Some(String::from_utf8_lossy(&buffer[..read]).into_owned())
}

#[test]
fn a_role_tells_systemd_it_is_ready_feeds_the_watchdog_and_says_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("datasets.toml"), "datasets = []\n").unwrap();
    let config = root.join("piper.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{root}\"\nmetrics_listen = \"{metrics}\"\n\
             datasets = {{ kind = \"file\", path = \"{root}/datasets.toml\" }}\n\
             [storage]\nkind = \"local\"\nroot = \"{root}/buckets\"\n",
            root = root.display(),
            metrics = free_tcp(),
        ),
    )
    .unwrap();
    let socket_path = root.join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let started = Instant::now();
    let child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args(["piper", "--config"])
            .arg(&config)
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "600000")
            .env("RUST_LOG", "info")
            .env("BYTEFREEZER_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let first = next_message(&socket, Duration::from_secs(30)).expect("a notification");
    assert!(first.contains("READY=1"), "{first:?}");
    // Watchdog pings every 300 ms or so: a few within two seconds.
    let mut pings = 0;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Some(message) = next_message(&socket, Duration::from_millis(500))
            && message.contains("WATCHDOG=1")
        {
            pings += 1;
        }
    }
    assert!(pings >= 3, "{pings} watchdog pings in 2 s");
    kill_process(Pid::from_child(&child.0), Signal::TERM).unwrap();
    let mut stopping = false;
    while let Some(message) = next_message(&socket, Duration::from_secs(10)) {
        if message.contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 after SIGTERM");
    assert!(started.elapsed() < Duration::from_secs(60));
    // BYTEFREEZER_LOG_FORMAT=json: every log line is one JSON object with its level and message.
    let mut child = child;
    let _ = child.0.wait();
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut logs).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert!(!lines.is_empty(), "the role logged nothing at info");
    for line in lines {
        let record: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
        assert!(
            record["level"].is_string() && record["message"].is_string(),
            "{line}"
        );
    }
}

#[test]
fn every_unit_is_type_notify_and_at_most_medium_exposure() {
    let units = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd");
    let mut checked = 0;
    for entry in std::fs::read_dir(&units).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "service") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in ["Type=notify", "WatchdogSec=", "NotifyAccess=main"] {
            assert!(text.contains(line), "{}: {line}", path.display());
        }
        let output = Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(&path)
            .output()
            .expect("systemd-analyze (Debian package systemd) checks the units");
        let report = String::from_utf8_lossy(&output.stdout);
        let level = report
            .lines()
            .find(|line| line.contains("Overall exposure level"))
            .unwrap_or_else(|| panic!("{}: {report}", path.display()));
        let score: f64 = level
            .split(':')
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|score| score.parse().ok())
            .unwrap_or_else(|| panic!("{level}"));
        // systemd's levels: below 7.0 is MEDIUM or better; EXPOSED and UNSAFE are above.
        assert!(score < 7.0, "{}: {level}", path.display());
        checked += 1;
    }
    assert_eq!(checked, 6, "the six role units");
}
