//! Shell completions and man pages come from the command line's definition: every shell gets a
//! script naming the commands, and every command a man page.

use std::process::Command;

#[test]
fn completions_and_man_pages_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        for command in ["doctor", "proxy", "ctl"] {
            assert!(script.contains(command), "{shell}: {command}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["manpages", "--out"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    for page in [
        "bytefreezer.1",
        "bytefreezer-doctor.1",
        "bytefreezer-proxy.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|error| panic!("{page}: {error}"));
        assert!(text.contains(".TH"), "{page} is a man page");
    }
}
