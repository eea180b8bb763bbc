//! `bytefreezer doctor` on this host: with a healthy configuration nothing fails; with a port
//! taken, a spool folder that cannot exist, an unreachable receiver and control plane, each
//! check fails with its fix, the exit status says so, and `--json` carries the same findings.

use std::net::TcpListener;
use std::process::{Command, Output};

use serde_json::Value;

fn doctor(config: &std::path::Path) -> (Output, Vec<Value>) {
    let output = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["doctor", "--json", "--config"])
        .arg(config)
        .output()
        .expect("run bytefreezer doctor");
    let findings: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "doctor --json printed no JSON ({error}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, findings.as_array().cloned().unwrap_or_default())
}

fn finding<'a>(findings: &'a [Value], check_starts: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| {
            f["check"]
                .as_str()
                .is_some_and(|c| c.starts_with(check_starts))
        })
        .unwrap_or_else(|| panic!("no {check_starts} check in {findings:#?}"))
}

#[test]
fn a_healthy_host_passes_and_every_check_reports() {
    let dir = tempfile::tempdir().unwrap();
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.path().join("receiver.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\nmetrics_listen = \"{free}\"\n\
             datasets = {{ kind = \"file\", path = \"datasets.toml\" }}\n\
             [storage]\nkind = \"local\"\nroot = {buckets:?}\n",
            data = dir.path().display().to_string(),
            buckets = dir.path().join("buckets").display().to_string(),
        ),
    )
    .unwrap();
    let (output, findings) = doctor(&config);
    assert!(
        output.status.success(),
        "{findings:#?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for check in [
        "io_uring",
        "net.core.rmem_max",
        "memlock",
        "cpus",
        "port tcp/",
        "disk ",
        "fsync ",
        "storage intake",
        "storage piper",
        "storage packer",
    ] {
        let found = finding(&findings, check);
        assert_ne!(found["status"], "fail", "{found}");
    }
    let intake = finding(&findings, "storage intake");
    assert_eq!(intake["status"], "ok");
    assert!(
        intake["detail"]
            .as_str()
            .is_some_and(|d| d.contains("refused a second create-if-absent")),
        "{intake}"
    );
    // The probe objects are gone again.
    for bucket in ["intake", "piper", "packer"] {
        let probes = dir
            .path()
            .join("buckets")
            .join(bucket)
            .join("_bytefreezer/doctor");
        let left = std::fs::read_dir(&probes).map_or(0, Iterator::count);
        assert_eq!(left, 0, "{}", probes.display());
    }
}

#[test]
fn each_broken_check_fails_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, b"x").unwrap();
    let config = dir.path().join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "metrics_listen = \"{taken}\"\n\
             datasets = {{ kind = \"control\", url = \"http://{closed}\", api_key = \"bf_x\" }}\n\
             [proxy]\nreceiver_url = \"http://{closed}\"\napi_key = \"bf_x\"\n\
             spool_dir = {spool:?}\n",
            taken = taken.local_addr().unwrap(),
            spool = not_a_folder.join("spool").display().to_string(),
        ),
    )
    .unwrap();
    let (output, findings) = doctor(&config);
    assert_eq!(output.status.code(), Some(1), "{findings:#?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("checks failed"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (check, fix) in [
        ("port tcp/", "ss -lnpt"),
        ("fsync ", "write access"),
        ("reach the receiver", "open the firewall"),
        ("control plane", "bytefreezer control"),
    ] {
        let found = finding(&findings, check);
        assert_eq!(found["status"], "fail", "{found}");
        assert!(
            found["fix"].as_str().is_some_and(|f| f.contains(fix)),
            "{found}"
        );
    }
}

#[test]
fn the_text_report_shows_each_fix_under_its_check() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = dir.path().join("piper.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\nmetrics_listen = \"{taken}\"\n",
            data = dir.path().display().to_string(),
            taken = taken.local_addr().unwrap(),
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["doctor", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|line| line.starts_with("FAIL  port tcp/"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(lines[at + 1].trim_start().starts_with("fix: "), "{text}");
}
