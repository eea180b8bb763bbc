use std::path::Path;

use anyhow::{Context, Result};

use crate::run;

/// Decoders with a cargo-fuzz target: (crate folder, target name). The receiver's target covers
/// its body decoding (Arrow IPC length checks and row counting, NDJSON rows), the proxy's the
/// bodies posted to `http` inputs.
const TARGETS: &[(&str, &str)] = &[
    ("dataplane/decode-syslog", "decode"),
    ("dataplane/transform", "pipeline"),
    ("dataplane/decode-flow", "decode"),
    ("dataplane/pcap", "capture"),
    ("dataplane/receiver", "body"),
    ("dataplane/proxy", "http_body"),
];

/// Runs every fuzz target for `seconds` each with libFuzzer (cargo-fuzz needs nightly for the
/// sanitizer flags; it is installed when missing).
pub fn fuzz(root: &Path, seconds: u64) -> Result<()> {
    let installed = crate::cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        run(crate::cargo().args(["install", "cargo-fuzz", "--locked"]))
            .context("cannot install cargo-fuzz")?;
    }
    for (folder, target) in TARGETS {
        run(crate::cargo()
            .args(["+nightly", "fuzz", "run", target, "--", &format!("-max_total_time={seconds}")])
            // The fuzz build uses its own flags; sharing the workspace cache would thrash it.
            .env_remove("CARGO_TARGET_DIR")
            .current_dir(root.join(folder)))
        .with_context(|| format!("fuzz target {target} of {folder} failed; the crashing input is under {folder}/fuzz/artifacts"))?;
    }
    Ok(())
}
