//! `cargo xtask soak [MINUTES | --minutes N] [--kills N] [--rate EVENTS_PER_SECOND]`: the kill
//! harness of `tests/kill_harness.rs` for as long as asked (default 10 minutes and at least 300
//! kills), printing its report: kills per role, events sent, acknowledged, found, missing,
//! duplicated. `cargo xtask test` runs the same test in its short form (one minute, 50 kills).

use std::path::Path;

use anyhow::{Context, Result, bail};

pub fn soak(root: &Path, args: &[String]) -> Result<()> {
    let mut minutes: u64 = 10;
    let mut kills: Option<u64> = None;
    // A steady site rather than a flood: under a kill every second or so the chain must keep
    // up, or the run measures a growing backlog instead of durability (the short form's pace).
    let mut rate: u64 = 600;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--kills" => {
                kills = Some(
                    rest.next()
                        .context("--kills takes a number")?
                        .parse()
                        .context("--kills takes a number")?,
                );
            }
            "--rate" => {
                rate = rest
                    .next()
                    .context("--rate takes events per second")?
                    .parse()
                    .context("--rate takes a whole number of events per second")?;
            }
            "--minutes" => {
                minutes = rest
                    .next()
                    .context("--minutes takes a number")?
                    .parse()
                    .context("--minutes takes a whole number")?;
            }
            number if number.chars().all(|c| c.is_ascii_digit()) => {
                minutes = number.parse().context("MINUTES is a whole number")?;
            }
            other => {
                bail!("soak takes [MINUTES | --minutes N] [--kills N] [--rate N], not `{other}`")
            }
        }
    }
    if minutes == 0 {
        bail!("MINUTES must be at least 1");
    }
    // About one kill every 1.3 s is what the harness manages; ask for what fits the time.
    let kills = kills.unwrap_or(minutes * 30);
    crate::run_test_binary(
        root,
        "kill_harness",
        // The soak profile lifts the time limit the default profile puts on the short form.
        &["--workspace", "--profile", "soak"],
        &[
            ("BYTEFREEZER_SOAK_SECONDS", (minutes * 60).to_string()),
            ("BYTEFREEZER_SOAK_KILLS", kills.to_string()),
            ("BYTEFREEZER_SOAK_RATE", rate.to_string()),
        ],
    )
}
