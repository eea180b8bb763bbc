//! Outages, each while a numbered load keeps arriving through the proxy's acknowledged `http`
//! input, every role its own process on moto's S3: the network to S3 cut for 20 s (every stage
//! retries; the proxy keeps acknowledging into its spool), then the receiver down for 15 s (the
//! proxy spools and drains after). At the end every acknowledged event is in the Parquet
//! exactly once.

#[path = "support/chain.rs"]
mod chain;
#[path = "support/exactly_once.rs"]
mod exactly_once;
#[path = "support/gate.rs"]
mod gate;
#[path = "../dataplane/storage/tests/support/moto.rs"]
mod moto;

use std::net::SocketAddr;
use std::time::Duration;

use chain::{Chain, ChainSpec};
use exactly_once::{Load, drain_and_judge, s3_storage_toml, wait_for_input};

#[test]
fn s3_unreachable_and_receiver_down_lose_nothing_acknowledged() {
    let moto = moto::Moto::start();
    let settings = moto.settings("outage");
    let moto_address: SocketAddr = moto.endpoint.trim_start_matches("http://").parse().unwrap();
    let s3_link = gate::Gate::new(moto_address);
    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec::on(s3_storage_toml(&s3_link.url(), &settings));
    let mut chain = Chain::start(dir.path(), &spec);
    wait_for_input(&mut chain);
    let receiver = chain
        .members
        .iter()
        .position(|m| m.name == "receiver")
        .unwrap();

    let load = Load::start(&chain.events_url);
    std::thread::sleep(Duration::from_secs(5));
    s3_link.close();
    std::thread::sleep(Duration::from_secs(20));
    s3_link.open();
    std::thread::sleep(Duration::from_secs(5));
    chain.kill(receiver);
    std::thread::sleep(Duration::from_secs(15));
    chain.restart(receiver);
    std::thread::sleep(Duration::from_secs(5));
    let ledger = load.finish();

    let verdict = drain_and_judge(
        &mut chain,
        &settings,
        &ledger,
        Duration::from_secs(120),
        "outages",
    );
    // The proxy kept acknowledging through both outages: the spool took the load.
    assert!(
        verdict.acknowledged * 10 >= ledger.sent * 9,
        "the proxy refused much of the load during the outages: {}",
        verdict.summary(&ledger)
    );
}
