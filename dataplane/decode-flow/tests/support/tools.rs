//! Running the reference tools (tshark, nfcapd, nfdump): a missing tool fails the test and says
//! how to install it, never a silent skip.
// Shared by several test crates, each using a part.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The path of `program` on `PATH` (or in /usr/sbin, /usr/bin); panics naming the package.
pub fn require(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let candidates = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/usr/bin".into()]);
    for dir in candidates {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{program}` is not installed, and this test compares our decoder with it: run \
         `cargo xtask install-test-deps` (as root it installs the Debian package `{package}`), \
         or `apt-get install {package}`"
    );
}

/// Runs `command` to completion and returns its stdout; panics with its stderr on failure.
pub fn output(command: &mut Command) -> String {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    assert!(
        output.status.success(),
        "{shown} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap_or_else(|e| panic!("{shown} printed non-UTF-8: {e}"))
}

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "bf-decode-flow-{label}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
