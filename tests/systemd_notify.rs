//! A role run as systemd runs a `Type=notify` unit: `$NOTIFY_SOCKET` gets READY=1 once the role
//! runs and STATUS=serving once it is ready, WATCHDOG=1 at half the `WATCHDOG_USEC` interval, and STOPPING=1 on SIGTERM, logging
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
    let status = next_message(&socket, Duration::from_secs(10)).expect("a status");
    assert_eq!(status, "STATUS=serving");
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
fn a_proxy_with_a_taken_port_is_running_for_systemd_and_says_what_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    std::fs::write(
        root.join("datasets.toml"),
        format!(
            "[[datasets]]\ntenant_id = \"acme\"\ndataset_id = \"fw\"\n\
             [datasets.source]\nplugin = \"syslog\"\n[datasets.source.settings]\nbind = \"{}\"\n",
            taken.local_addr().unwrap()
        ),
    )
    .unwrap();
    let config = root.join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{root}\"\nmetrics_listen = \"{metrics}\"\n\
             datasets = {{ kind = \"file\", path = \"{root}/datasets.toml\" }}\n\
             [proxy]\nreceiver_url = \"http://{receiver}\"\napi_key = \"bf_x\"\n\
             spool_dir = \"{root}/spool\"\nio = \"recvmmsg\"\n",
            root = root.display(),
            metrics = free_tcp(),
            receiver = free_tcp(),
        ),
    )
    .unwrap();
    let socket_path = root.join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let _proxy = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args(["proxy", "--config"])
            .arg(&config)
            .env("NOTIFY_SOCKET", &socket_path)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let first = next_message(&socket, Duration::from_secs(30)).expect("a notification");
    assert!(first.contains("READY=1"), "{first:?}");
    let mut statuses = Vec::new();
    while let Some(message) = next_message(&socket, Duration::from_secs(10)) {
        statuses.push(message);
        if statuses
            .last()
            .is_some_and(|m| m == "STATUS=not ready: proxy inputs")
        {
            return;
        }
    }
    panic!("no STATUS naming the input that cannot listen: {statuses:?}");
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
    assert_eq!(checked, 7, "the six role units and the agent's");
}
