//! `cargo xtask bench scale`: the whole chain on moto's S3 with 1, 2 and 4 instances of piper
//! and packer sharing the buckets, a fixed time of load through the proxy's `http` input, then
//! the time until every acknowledged event is in Parquet. Prints events per second end to end
//! for each count and fails on any event missing or stored twice. On a 2-core host the figures
//! show correctness and the cost of coordination (leases, markers, listings), not a linear
//! speed-up: more instances only compete for the same two cores and the same S3 server.
//! Ignored by `cargo xtask test` (it takes minutes); the bench runs it with `--run-ignored`.

#[path = "support/chain.rs"]
mod chain;
#[path = "support/exactly_once.rs"]
mod exactly_once;
#[path = "../dataplane/storage/tests/support/moto.rs"]
mod moto;

use std::time::{Duration, Instant};

use chain::{Chain, ChainSpec};
use exactly_once::{Load, drain_and_count, env_number, s3_storage_toml, wait_for_input};

#[test]
#[ignore = "a benchmark: cargo xtask bench scale"]
fn piper_and_packer_instances_share_the_buckets_without_duplicates() {
    let load_seconds = env_number("BYTEFREEZER_SCALE_LOAD_SECONDS", 30);
    let mut rows = Vec::new();
    for instances in [1, 2, 4] {
        let moto = moto::Moto::start();
        let settings = moto.settings(&format!("scale{instances}"));
        let dir = tempfile::tempdir().unwrap();
        let spec = ChainSpec {
            pipers: instances,
            packers: instances,
            ..ChainSpec::on(s3_storage_toml(&moto.endpoint, &settings))
        };
        let mut chain = Chain::start(dir.path(), &spec);
        wait_for_input(&mut chain);
        let started = Instant::now();
        let load = Load::start(&chain.events_url);
        std::thread::sleep(Duration::from_secs(load_seconds));
        let ledger = load.finish();
        let verdict = drain_and_count(&mut chain, &settings, &ledger, Duration::from_secs(120));
        let seconds = started.elapsed().as_secs_f64();
        verdict.assert_exactly_once();
        rows.push(format!(
            "| {instances} | {} | {:.1} | {:.0} | {} | {} |",
            verdict.acknowledged,
            seconds,
            verdict.acknowledged as f64 / seconds,
            verdict.files,
            verdict.duplicated.len()
        ));
    }
    println!(
        "\npiper and packer instances on one S3 server ({} cores), {load_seconds} s of load each:\n\
         | instances of each | events acknowledged | seconds until all in Parquet | events/s end to end | Parquet files | duplicated |\n\
         |---|---|---|---|---|---|\n{}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        rows.join("\n")
    );
}
