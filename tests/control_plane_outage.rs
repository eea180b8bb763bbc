//! The control plane down while a numbered load keeps arriving, every role its own process on
//! moto's S3 reading its datasets from `bytefreezer control`: the roles keep running on the
//! configuration they cached, a proxy and a piper restarted during the outage start on it, and
//! once the control plane returns every role reports to it again. Every acknowledged event is
//! in the Parquet exactly once.

#[path = "support/chain.rs"]
mod chain;
#[path = "support/control.rs"]
mod control;
#[path = "support/exactly_once.rs"]
mod exactly_once;
#[path = "../dataplane/storage/tests/support/moto.rs"]
mod moto;

use std::time::{Duration, Instant};

use chain::{Chain, ChainSpec, DATASET, DatasetsFrom, TENANT, free_tcp, http_dataset_settings};
use chrono::{DateTime, Utc};
use control::{ControlPlane, Ctl};
use exactly_once::{Load, drain_and_judge, s3_storage_toml, wait_for_input};
use serde_json::Value;

const ROLES: [&str; 4] = ["proxy", "receiver", "piper", "packer"];

/// The roles whose last report to the control plane came after `since`.
fn reported_since(control: &ControlPlane, key: &str, since: DateTime<Utc>) -> Vec<String> {
    let Ok(response) = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/services", control.url))
        .bearer_auth(key)
        .send()
    else {
        return Vec::new();
    };
    let services: Value = response.json().unwrap_or(Value::Null);
    let mut roles: Vec<String> = services
        .as_array()
        .into_iter()
        .flatten()
        .filter(|service| {
            service["last_seen"]
                .as_str()
                .and_then(|seen| seen.parse::<DateTime<Utc>>().ok())
                .is_some_and(|seen| seen > since)
                && service["health"] != "Unhealthy"
        })
        .filter_map(|service| service["role"].as_str().map(str::to_owned))
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

#[test]
fn roles_run_on_their_cached_configuration_while_the_control_plane_is_down() {
    let moto = moto::Moto::start();
    let settings = moto.settings("control-outage");
    let dir = tempfile::tempdir().unwrap();
    let mut control = ControlPlane::start(dir.path());
    let ctl = Ctl::admin(&control, dir.path());
    let account = ctl.json(&["accounts", "create", "Soak"]);
    let account_id = account["id"].as_str().unwrap();
    ctl.run(&[
        "tenants",
        "create",
        TENANT,
        "--name",
        "Soak",
        "--account",
        account_id,
    ])
    .success("tenants create");
    let key = ctl.create_key(&["--name", "roles", "--tenant", TENANT]);
    let events = free_tcp();
    ctl.run(&[
        "--api-key",
        &key,
        "datasets",
        "create",
        TENANT,
        DATASET,
        "--plugin",
        "http",
        "--settings",
        &http_dataset_settings(events),
    ])
    .success("datasets create");

    let spec = ChainSpec {
        datasets: DatasetsFrom::Control {
            url: control.url.clone(),
            api_key: key.clone(),
            events,
        },
        ..ChainSpec::on(s3_storage_toml(&moto.endpoint, &settings))
    };
    let mut chain = Chain::start(dir.path(), &spec);
    wait_for_input(&mut chain);
    let member =
        |chain: &Chain, name: &str| chain.members.iter().position(|m| m.name == name).unwrap();
    let (proxy, piper) = (member(&chain, "proxy"), member(&chain, "piper-1"));

    let load = Load::start(&chain.events_url);
    std::thread::sleep(Duration::from_secs(5));
    control.kill();
    std::thread::sleep(Duration::from_secs(5));
    // Restarted while the control plane is away: each starts on its cached configuration.
    for index in [proxy, piper] {
        chain.kill(index);
        chain.restart(index);
    }
    wait_for_input(&mut chain);
    std::thread::sleep(Duration::from_secs(10));
    let returned = Utc::now();
    control.restart();
    std::thread::sleep(Duration::from_secs(3));
    let ledger = load.finish();

    // Reports come every 10 s; failed ones are not queued, so the next one is the sign.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut reported = Vec::new();
    while reported.len() < ROLES.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        reported = reported_since(&control, &key, returned);
    }
    let mut expected = ROLES.map(str::to_owned).to_vec();
    expected.sort();
    assert_eq!(
        reported,
        expected,
        "every role reports to the returned control plane\n{}",
        chain.log_tails(20)
    );

    let verdict = drain_and_judge(
        &mut chain,
        &settings,
        &ledger,
        Duration::from_secs(120),
        "control plane outage",
    );
    assert!(
        verdict.acknowledged * 10 >= ledger.sent * 8,
        "the proxy refused much of the load while the control plane was down: {}",
        verdict.summary(&ledger)
    );
}
