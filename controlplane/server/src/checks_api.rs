//! Test input and Test output of a dataset, answered from what the data side reported: the
//! control plane never opens a socket or a bucket of the data side itself (on-prem mode).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use bytefreezer_api::Role;
use bytefreezer_control_store::{DatasetRecord, ServiceRecord};
use chrono::{Duration, Utc};
use serde::Serialize;

use crate::api_error::ApiResult;
use crate::auth::Principal;
use crate::datasets_api::visible_dataset;
use crate::routes::ServerState;
use crate::status::health_label;

/// How far back "data arrived recently" looks.
const RECENT_MINUTES: i64 = 5;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CheckResult {
    /// True when every check passed.
    ok: bool,
    checks: Vec<Check>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Check {
    ok: bool,
    message: String,
}

impl CheckResult {
    fn from(checks: Vec<Check>) -> CheckResult {
        CheckResult {
            ok: !checks.is_empty() && checks.iter().all(|c| c.ok),
            checks,
        }
    }
}

fn check(ok: bool, message: impl Into<String>) -> Check {
    Check {
        ok,
        message: message.into(),
    }
}

/// The live services of the dataset's account in `role` (reported within the heartbeat window).
async fn live_services(
    state: &ServerState,
    record: &DatasetRecord,
    role: Role,
) -> ApiResult<Vec<ServiceRecord>> {
    let account = state
        .store
        .tenant(&record.spec.tenant_id)
        .await?
        .map(|t| t.account_id);
    let now = Utc::now();
    Ok(state
        .store
        .list_services(account.as_deref())
        .await?
        .into_iter()
        .filter(|s| s.role == role && health_label(s, now).0 != "Unhealthy")
        .collect())
}

/// Is a proxy listening for this dataset, and has data arrived in the last five minutes?
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/datasets/{dataset}/checks/input", tag = "datasets",
    params(("tenant" = String, Path), ("dataset" = String, Path)),
    responses((status = 200, body = CheckResult), (status = 404)))]
pub(crate) async fn check_input(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
) -> ApiResult<Json<CheckResult>> {
    let record = visible_dataset(&state, &principal, &tenant, &dataset).await?;
    let spec = &record.spec;
    let listen = spec.source.listen();
    let mut checks = Vec::new();
    if !spec.active {
        checks.push(check(
            false,
            "the dataset is paused: no proxy listens for it; resume it first",
        ));
    }
    let proxies: Vec<ServiceRecord> = live_services(&state, &record, Role::Proxy)
        .await?
        .into_iter()
        .filter(|p| {
            record
                .assigned_proxy
                .as_deref()
                .is_none_or(|a| a == p.instance_id)
        })
        .collect();
    if proxies.is_empty() {
        checks.push(check(
            false,
            match &record.assigned_proxy {
                Some(proxy) => {
                    format!("the assigned proxy {proxy} has not reported in the last 30 s")
                }
                None => "no proxy of this account has reported in the last 30 s".to_owned(),
            },
        ));
    }
    for proxy in &proxies {
        let input = proxy
            .report
            .inputs
            .iter()
            .find(|i| i.tenant_id == tenant && i.dataset_id == dataset);
        // `nats`, `sqs` and `kafka` inputs connect out instead of listening.
        let listens = spec.source.bind().is_some();
        checks.push(match input {
            Some(input) if input.listening && listens => check(
                true,
                format!("proxy {} listens on {}", proxy.instance_id, input.listen),
            ),
            Some(input) if input.listening => check(
                true,
                format!("proxy {} reads from {}", proxy.instance_id, input.listen),
            ),
            Some(input) if listens => check(
                false,
                format!(
                    "proxy {} cannot open {} (address in use or not permitted); see its log",
                    proxy.instance_id, input.listen
                ),
            ),
            Some(input) => check(
                false,
                format!(
                    "proxy {} cannot read from {} (server unreachable, stream, queue or topic \
                     missing, credentials refused); see its log",
                    proxy.instance_id, input.listen
                ),
            ),
            None if spec.active => check(
                false,
                format!(
                    "proxy {} does not run {listen} yet (it picks changes up within seconds)",
                    proxy.instance_id
                ),
            ),
            None => continue,
        });
    }
    let since = Utc::now() - Duration::minutes(RECENT_MINUTES);
    let received: i64 = state
        .store
        .dataset_stats(&tenant, &dataset, since)
        .await?
        .iter()
        .filter(|p| p.metric == "events_received")
        .map(|p| p.value)
        .sum();
    checks.push(if received > 0 {
        check(
            true,
            format!("{received} events arrived in the last {RECENT_MINUTES} minutes"),
        )
    } else {
        check(
            false,
            format!(
                "no events arrived in the last {RECENT_MINUTES} minutes: send some to {listen}"
            ),
        )
    });
    Ok(Json(CheckResult::from(checks)))
}

/// Can the data side write this dataset's Parquet? From each packer's last probe of its buckets.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/datasets/{dataset}/checks/output", tag = "datasets",
    params(("tenant" = String, Path), ("dataset" = String, Path)),
    responses((status = 200, body = CheckResult), (status = 404)))]
pub(crate) async fn check_output(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
) -> ApiResult<Json<CheckResult>> {
    let record = visible_dataset(&state, &principal, &tenant, &dataset).await?;
    let bucket = record
        .spec
        .destination
        .bucket
        .clone()
        .unwrap_or_else(|| "packer".to_owned());
    let packers = live_services(&state, &record, Role::Packer).await?;
    let mut checks = Vec::new();
    if packers.is_empty() {
        checks.push(check(
            false,
            "no packer of this account has reported in the last 30 s",
        ));
    }
    for packer in &packers {
        let probe = packer
            .report
            .destinations
            .iter()
            .find(|d| d.bucket == bucket);
        checks.push(match probe {
            Some(probe) if probe.writable => check(
                true,
                format!(
                    "packer {} wrote and deleted a probe object in bucket {bucket} at {}",
                    packer.instance_id, probe.checked_at
                ),
            ),
            Some(probe) => check(
                false,
                format!(
                    "packer {} cannot write to bucket {bucket}: {}",
                    packer.instance_id, probe.error
                ),
            ),
            None if packer.report.destinations.is_empty() => check(
                false,
                format!(
                    "packer {} has not probed its buckets yet; try again in a few seconds",
                    packer.instance_id
                ),
            ),
            None => check(
                false,
                format!(
                    "packer {} has no bucket {bucket}: add it under [packer.destinations]",
                    packer.instance_id
                ),
            ),
        });
    }
    Ok(Json(CheckResult::from(checks)))
}
