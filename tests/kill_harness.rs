//! The durability promise, shown end to end: every role its own process on S3 (moto's real
//! server), two pipers and two packers sharing the buckets, a steady load of events each
//! carrying a unique sequence number, random SIGKILLs of random roles plus aborts at the crash
//! points of the chain (an output written and its input not yet deleted, a Parquet upload half
//! done, a 201 not yet sent), and at the end a row-by-row count: every acknowledged event is in
//! the Parquet exactly once, no event twice.
//!
//! The short form runs in `cargo xtask test`; `cargo xtask soak [MINUTES]` runs the same test
//! for longer (`BYTEFREEZER_SOAK_SECONDS`, `BYTEFREEZER_SOAK_KILLS`, `BYTEFREEZER_SOAK_RATE`
//! events a second) and prints its report.

#[path = "support/chain.rs"]
mod chain;
#[path = "support/exactly_once.rs"]
mod exactly_once;
#[path = "../dataplane/storage/tests/support/moto.rs"]
mod moto;

use std::time::{Duration, Instant};

use chain::{Chain, ChainSpec};
use exactly_once::{Load, drain_and_count, env_number, s3_storage_toml, wait_for_input};
use rand::Rng;

#[test]
fn every_acknowledged_event_lands_exactly_once_through_random_kills_on_s3() {
    let min_seconds = env_number("BYTEFREEZER_SOAK_SECONDS", 60);
    let min_kills = env_number("BYTEFREEZER_SOAK_KILLS", 50) as u32;
    let moto = moto::Moto::start();
    let settings = moto.settings("soak");
    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec {
        pipers: 2,
        packers: 2,
        crash_points: [
            "proxy.events_durable=0.003",
            "proxy.batch_acknowledged=0.01",
            "receiver.intake_written=0.01",
            "piper.output_written=0.02",
            // Packer passes its points once per file, a few dozen times a run.
            "packer.plan_written=0.15",
            "packer.parquet_partial=0.15",
            "packer.parquet_written=0.2",
            "packer.input_deleted=0.15",
        ]
        .join(","),
        ..ChainSpec::on(s3_storage_toml(&moto.endpoint, &settings))
    };
    let mut chain = Chain::start(dir.path(), &spec);
    wait_for_input(&mut chain);

    // A steady site, paced below what the chain packs on moto's single-threaded S3 server
    // while it is being killed: an unpaced load only builds a backlog, and the run then
    // measures how fast moto drains it rather than what survives the kills.
    let rate = env_number("BYTEFREEZER_SOAK_RATE", 600);
    let load = Load::paced(&chain.events_url, Some(rate));
    let started = Instant::now();
    let mut rng = rand::rng();
    while started.elapsed() < Duration::from_secs(min_seconds) || chain.signal_kills() < min_kills {
        assert!(
            started.elapsed() < Duration::from_secs(min_seconds * 4 + 120),
            "only {} kills in {:?}",
            chain.signal_kills(),
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(rng.random_range(200..1000)));
        chain.revive();
        let victim = rng.random_range(0..chain.members.len());
        chain.kill(victim);
        // Mostly a quick restart; now and then an outage long enough for the rest of the
        // chain to pack what the victim wrote before it died, so what it redoes on restart
        // (a batch resent, an object transformed again) arrives after the first copy is packed.
        let down = if rng.random_bool(0.2) {
            rng.random_range(2000..4500)
        } else {
            rng.random_range(0..400)
        };
        std::thread::sleep(Duration::from_millis(down));
        chain.restart(victim);
    }
    let ledger = load.finish();
    let seconds = started.elapsed().as_secs_f64();

    // Nothing is killed any more; a member aborted at a crash point is revived without them,
    // so the backlog drains at the chain's own pace.
    chain.disarm_crash_points();
    let verdict = drain_and_count(&mut chain, &settings, &ledger, Duration::from_secs(180));
    println!(
        "kill harness: {seconds:.0} s, {} kills by SIGKILL and {} aborts at crash points ({})\n{}",
        chain.signal_kills(),
        chain.crashes(),
        chain.kill_summary(),
        verdict.summary(&ledger)
    );
    assert!(
        chain.signal_kills() >= min_kills,
        "only {} kills",
        chain.signal_kills()
    );
    verdict.assert_exactly_once();
}
