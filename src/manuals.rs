//! Shell completions and man pages, generated from the command line's own definition so they
//! never drift from it; `cargo xtask dist` ships them.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: &str) -> Result<()> {
    let shell = match shell {
        "bash" => clap_complete::Shell::Bash,
        "zsh" => clap_complete::Shell::Zsh,
        "fish" => clap_complete::Shell::Fish,
        other => bail!("no completions for {other}: bash, zsh or fish"),
    };
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "bytefreezer", &mut std::io::stdout());
    Ok(())
}

/// `bytefreezer.1` and one page per command (`bytefreezer-proxy.1`, ...).
pub fn manpages(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let command = Cli::command().name("bytefreezer");
    clap_mangen::generate_to(command, out)
        .with_context(|| format!("cannot write man pages into {}", out.display()))?;
    Ok(())
}
