//! The `bytefreezer` binary: one executable, many roles. This file only parses the command line
//! and hands over to the role; every role's logic lives in a crate under `dataplane/` or
//! `controlplane/`.

mod agent;
mod cat;
mod cli;
mod config_source;
mod control;
mod ctl;
mod dead_letter;
mod doctor;
mod doctor_checks;
mod fakedata;
mod manuals;
mod memory;
mod node;
mod readiness;
mod replay;
mod reporter;
mod role_config;
mod roles;
mod secret_file;
mod serve;
mod signals;
mod stages;
mod systemd;
mod transform_test;
mod up;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    bytefreezer_telemetry::init_tracing();
    memory::disable_transparent_huge_pages();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bytefreezer")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            cli::Command::Up(args) => up::run(args).await,
            cli::Command::Proxy(args) => roles::proxy(args).await,
            cli::Command::Receiver(args) => roles::receiver(args).await,
            cli::Command::Piper(args) => roles::piper(args).await,
            cli::Command::Packer(args) => roles::packer(args).await,
            cli::Command::Query(args) => roles::query(args).await,
            cli::Command::Control(args) => control::run(args).await,
            cli::Command::Ctl(args) => ctl::run(args).await,
            cli::Command::DeadLetter(args) => dead_letter::run(args).await,
            cli::Command::Fakedata(args) => fakedata::run(args).await,
            cli::Command::Agent(args) => agent::run(args).await,
            cli::Command::Cat(args) => cat::run(args),
            cli::Command::Transform(cli::TransformCommand::Test(args)) => transform_test::run(args),
            cli::Command::Replay(args) => replay::run(args),
            cli::Command::Doctor(args) => doctor::run(args).await,
            cli::Command::Completions { shell } => manuals::completions(&shell),
            cli::Command::Manpages { out } => manuals::manpages(&out),
            cli::Command::Version => {
                println!("bytefreezer {}", env!("CARGO_PKG_VERSION"));
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
