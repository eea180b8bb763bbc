//! A dataset's dead letters through the control plane, which never reads or moves data
//! objects: `GET` shows how many wait in each stage's prefix (as the stages last reported) and
//! the replay requests; `POST …/replay` records a request (audited) that travels to piper and
//! packer in their configuration; the stage that owns each prefix moves the objects back and
//! reports it done in its Activity.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytefreezer_api::{
    DEAD_LETTER_STAGES, DeadLetterCount, DeadLettersView, ReplayRequest, ReplayRequestBody,
};

use crate::api_error::{ApiResult, json_body};
use crate::auth::Principal;
use crate::datasets_api::visible_dataset;
use crate::routes::ServerState;

/// Replay requests listed per dataset, newest first.
const REPLAYS_LISTED: u32 = 50;

/// Dead letters waiting per stage, and the dataset's replay requests with their state.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/datasets/{dataset}/dead-letters", tag = "datasets",
    params(("tenant" = String, Path), ("dataset" = String, Path)),
    responses((status = 200, body = Object), (status = 404)))]
pub(crate) async fn list_dead_letters(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
) -> ApiResult<Json<DeadLettersView>> {
    visible_dataset(&state, &principal, &tenant, &dataset).await?;
    let account = state.store.tenant(&tenant).await?.map(|t| t.account_id);
    // Several instances of a stage list the same bucket: the largest count is the truth.
    let mut counts: BTreeMap<&str, u64> = DEAD_LETTER_STAGES
        .iter()
        .map(|stage| (stage.as_str(), 0))
        .collect();
    for service in state.store.list_services(account.as_deref()).await? {
        for reported in &service.report.dead_letters {
            if reported.tenant_id == tenant
                && reported.dataset_id == dataset
                && reported.stage == service.role.as_str()
                && let Some(count) = counts.get_mut(reported.stage.as_str())
            {
                *count = (*count).max(reported.objects);
            }
        }
    }
    let dead_letters = counts
        .into_iter()
        .map(|(stage, objects)| DeadLetterCount {
            tenant_id: tenant.clone(),
            dataset_id: dataset.clone(),
            stage: stage.to_owned(),
            objects,
        })
        .collect();
    let replays = state
        .store
        .replay_requests(&tenant, &dataset, REPLAYS_LISTED)
        .await?;
    Ok(Json(DeadLettersView {
        dead_letters,
        replays,
    }))
}

/// Ask piper and packer to move the dataset's dead letters (or one batch's) back to their
/// input. Callers who may change the dataset's pipeline only; answered before the move, which
/// the stages report in Activity and in `GET …/dead-letters`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/datasets/{dataset}/dead-letters/replay", tag = "datasets",
    params(("tenant" = String, Path), ("dataset" = String, Path)), request_body = Object,
    responses((status = 202, body = Object), (status = 403), (status = 404), (status = 422)))]
pub(crate) async fn replay_dead_letters(
    State(state): State<Arc<ServerState>>,
    principal: Principal,
    Path((tenant, dataset)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ReplayRequest>)> {
    visible_dataset(&state, &principal, &tenant, &dataset).await?;
    principal.require_write()?;
    let request: ReplayRequestBody = if body.iter().all(u8::is_ascii_whitespace) {
        ReplayRequestBody::default()
    } else {
        json_body(&body)?
    };
    let recorded = state
        .store
        .request_replay(
            &principal.actor,
            &tenant,
            &dataset,
            request.batch_id.as_deref(),
        )
        .await?;
    tracing::info!(
        "dataset {tenant}/{dataset}: dead-letter replay {} requested by {}",
        recorded.id,
        recorded.requested_by
    );
    Ok((StatusCode::ACCEPTED, Json(recorded)))
}
