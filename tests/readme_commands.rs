//! The README's commands, run as a new user would run them. Every command of a `sh` block runs
//! in order against a real `bytefreezer up` (the debug binary stands in for `cargo run
//! --release -- up`, on free ports instead of the defaults); every command named in a `text`
//! block answers `--help`. Then `up` is stopped with Ctrl-C's signal and started again on the
//! same folder, and the event sent with `logger` is still there exactly once.

#[path = "support/up.rs"]
mod up;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use up::{UpProcess, free_tcp, free_udp};

const README: &str = include_str!("../README.md");

struct Block {
    language: String,
    commands: Vec<String>,
}

/// Fenced blocks with their commands: continuation lines joined, comments and blank lines
/// dropped.
fn blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for line in text.lines() {
        if let Some(fence) = line.strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => {
                    current = Some(Block {
                        language: fence.trim().to_owned(),
                        commands: Vec::new(),
                    })
                }
            }
            continue;
        }
        let Some(block) = current.as_mut() else {
            continue;
        };
        let joins_previous = block.commands.last().is_some_and(|c| c.ends_with('\\'));
        if joins_previous {
            let previous = block.commands.last_mut().expect("checked");
            previous.pop();
            let kept = previous.trim_end().len();
            previous.truncate(kept);
            previous.push(' ');
            previous.push_str(line.trim());
        } else if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            block.commands.push(line.trim().to_owned());
        }
    }
    for block in &mut blocks {
        for command in &mut block.commands {
            // A comment starts at ` # ` outside the command's own words.
            if let Some(at) = command.find("  #").or_else(|| command.find(" # ")) {
                command.truncate(at);
            }
            *command = command.trim().to_owned();
        }
    }
    blocks
}

struct Ports {
    http: SocketAddr,
    syslog: SocketAddr,
    extra_dataset: SocketAddr,
}

impl Ports {
    /// The README's default addresses, moved to this test's free ports.
    fn apply(&self, command: &str) -> String {
        command
            .replace("127.0.0.1:8000", &self.http.to_string())
            .replace("--port 5514", &format!("--port {}", self.syslog.port()))
            .replace("0.0.0.0:5515", &self.extra_dataset.to_string())
    }
}

fn shell(dir: &Path, command: &str) -> Output {
    Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{command}`: {e}"))
}

fn shown(output: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `cargo xtask VERB --help`: the verb exists and explains itself.
fn xtask_help(verb: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["xtask", verb, "--help"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo xtask");
    assert!(
        output.status.success(),
        "cargo xtask {verb} --help: {}",
        shown(&output)
    );
    let usage = String::from_utf8_lossy(&output.stderr);
    assert!(usage.contains(verb), "cargo xtask {verb} --help: {usage}");
}

fn bytefreezer_help(subcommand: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args([subcommand, "--help"])
        .output()
        .expect("run bytefreezer");
    assert!(
        output.status.success(),
        "bytefreezer {subcommand} --help: {}",
        shown(&output)
    );
}

/// The second word of each `bytefreezer` or `cargo xtask` command of a reference block, with
/// `a|b|c` alternatives spelled out.
fn reference_commands(block: &Block) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for command in block.commands.iter().flat_map(|c| c.split("; ")) {
        let words: Vec<&str> = command.split_whitespace().collect();
        let (program, verb) = match words.as_slice() {
            ["bytefreezer", verb, ..] => ("bytefreezer", *verb),
            ["cargo", "xtask", verb, ..] => ("xtask", *verb),
            _ => continue,
        };
        for alternative in verb.split('|') {
            found.push((program, alternative.to_owned()));
        }
    }
    found
}

#[test]
fn every_readme_command_works_and_a_restart_keeps_the_data() {
    let blocks = blocks(README);
    let shell_blocks: Vec<&Block> = blocks.iter().filter(|b| b.language == "sh").collect();
    assert!(
        shell_blocks.len() >= 4,
        "the README lost its commands: {} sh blocks",
        shell_blocks.len()
    );
    assert_eq!(
        shell_blocks[0].commands,
        ["cargo run --release -- up", "cargo xtask test"],
        "the README starts with the two commands"
    );

    let home = tempfile::tempdir().unwrap();
    let data_dir = home.path().join("bytefreezer-data");
    let ports = Ports {
        http: free_tcp(),
        syslog: free_udp(),
        extra_dataset: free_udp(),
    };
    let mut running: Option<UpProcess> = None;
    let mut logged: Option<String> = None;
    let mut ran = 0;
    for command in shell_blocks.iter().flat_map(|b| &b.commands) {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            ["cargo", "run", "--release", "--", "up", ..] => {
                running = Some(UpProcess::start(&data_dir, ports.http, ports.syslog));
            }
            ["cargo", "xtask", verb, ..] => xtask_help(verb),
            ["logger", ..] => {
                // Syslog over TCP goes to the demo stream dataset's port.
                let stream_port = running.as_ref().map(|up| up.syslog_tcp.port());
                let runnable = match stream_port {
                    Some(port) if command.contains("--tcp") => {
                        command.replace("--port 5514", &format!("--port {port}"))
                    }
                    _ => ports.apply(command),
                };
                let output = shell(home.path(), &runnable);
                assert!(output.status.success(), "`{command}`: {}", shown(&output));
                let message = command.rsplit('"').nth(1).expect("a quoted message");
                // The README queries the UDP dataset (`demo/syslog`) for what it logged.
                if stream_port.is_none() || !command.contains("--tcp") {
                    logged = Some(message.to_owned());
                }
            }
            ["curl", rest @ ..] => {
                assert!(running.is_some(), "`{command}` comes before `up` starts");
                let events = running.as_ref().map(|up| up.events.to_string());
                let rest = rest
                    .join(" ")
                    .replace("127.0.0.1:8080", events.as_deref().unwrap_or_default());
                let runnable = format!("curl --fail-with-body -sS {}", ports.apply(&rest));
                // A query after `logger` waits for the event to reach Parquet, as a user
                // would rerun it.
                let waits_for = logged.as_deref().filter(|_| command.contains("/query"));
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let output = shell(home.path(), &runnable);
                    let text = String::from_utf8_lossy(&output.stdout).to_string();
                    let done = output.status.success()
                        && waits_for.is_none_or(|message| text.contains(message));
                    if done {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "`{command}` never succeeded: {}",
                        shown(&output)
                    );
                    std::thread::sleep(Duration::from_millis(500));
                }
                if waits_for.is_some() {
                    logged = None;
                }
            }
            _ => panic!("the README runs `{command}`, which this test cannot run yet"),
        }
        ran += 1;
    }
    assert!(ran >= 7, "only {ran} README commands ran");

    for block in blocks.iter().filter(|b| b.language == "text") {
        for (program, verb) in reference_commands(block) {
            match program {
                "xtask" => xtask_help(&verb),
                _ => bytefreezer_help(&verb),
            }
        }
    }

    // Ctrl-C, then the same command again on the same folder: the event is still there, once.
    let up = running.expect("the README starts up");
    // A child that already exited is found by the wait below.
    let _ = kill_process(Pid::from_child(&up.child), Signal::INT);
    let mut up = up;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = up.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "up did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "up stopped with {status}");
    let _again = UpProcess::start(&data_dir, ports.http, ports.syslog);
    let sql = "SELECT count(*) AS n FROM syslog WHERE message = 'hello from logger'";
    let body = serde_json::json!({"tenant_id": "demo", "dataset_id": "syslog", "sql": sql});
    let key = std::fs::read_to_string(data_dir.join("up-proxy.key")).unwrap();
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("http://{}/api/v1/query", ports.http))
        .bearer_auth(key.trim())
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["rows"][0]["n"], 1, "{answer}");
}

#[test]
fn readme_blocks_are_read_as_commands() {
    let text = "intro\n```sh\ncargo run --release -- up   # start\ncurl -X POST x \\\n  -d '{}'\n# a comment\n```\n```text\nbytefreezer proxy|receiver --config F; bytefreezer ctl x\n```\n";
    let blocks = blocks(text);
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        blocks[0].commands,
        ["cargo run --release -- up", "curl -X POST x -d '{}'"]
    );
    let reference = reference_commands(&blocks[1]);
    let verbs: Vec<&str> = reference.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(verbs, ["proxy", "receiver", "ctl"]);
}
