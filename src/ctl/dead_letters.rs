//! `ctl dead-letters list|replay`: a dataset's dead letters through the control plane, which
//! asks piper and packer to move them back (it never touches the objects itself). `replay`
//! answers as soon as the request is recorded; `list` shows when each stage carried it out.

use anyhow::{Context, Result};
use bytefreezer_api::ReplayRequestBody;
use serde_json::Value;

use super::client::Client;
use super::output::{self, text, time};
use crate::cli::{CtlDeadLetterRef, CtlDeadLettersCommand};

pub async fn run(client: &Client, command: CtlDeadLettersCommand, json: bool) -> Result<()> {
    match command {
        CtlDeadLettersCommand::List(dataset) => {
            let answer = client.get(&path(&dataset), &[]).await?;
            if json {
                return output::json(&answer);
            }
            print_view(&answer)
        }
        CtlDeadLettersCommand::Replay { dataset, batch } => {
            let mut segments = path(&dataset);
            segments.push("replay");
            let body = ReplayRequestBody {
                batch_id: batch.clone(),
            };
            let request = client.post(&segments, &body).await?;
            if json {
                return output::json(&request);
            }
            let what = match &batch {
                Some(batch) => format!("batch {batch} of {}/{}", dataset.tenant, dataset.dataset),
                None => format!(
                    "every dead letter of {}/{}",
                    dataset.tenant, dataset.dataset
                ),
            };
            output::line(format!(
                "replay {} requested for {what}; piper and packer carry it out on their next \
                 pass (see `ctl dead-letters list`)",
                text(&request, "/id")
            ))
        }
    }
}

fn path(dataset: &CtlDeadLetterRef) -> Vec<&str> {
    vec![
        "tenants",
        &dataset.tenant,
        "datasets",
        &dataset.dataset,
        "dead-letters",
    ]
}

fn print_view(view: &Value) -> Result<()> {
    let counts: Vec<Vec<String>> = output::list(
        view.get("dead_letters").context(
            "the control plane answered without `dead_letters`; is it older than this ctl?",
        )?,
        "dead-letter counts",
    )?
    .iter()
    .map(|count| vec![text(count, "/stage"), text(count, "/objects")])
    .collect();
    output::print_table(&["STAGE", "DEAD LETTERS"], &counts, "no stage reported")?;
    let replays: Vec<Vec<String>> = output::list(
        view.get("replays").unwrap_or(&Value::Null),
        "replay requests",
    )
    .unwrap_or(&[])
    .iter()
    .map(replay_row)
    .collect();
    output::line("")?;
    output::print_table(
        &["REPLAY", "REQUESTED", "BY", "BATCH", "STATE", "REPLAYED"],
        &replays,
        "no replay requested",
    )
}

/// `piper 3, packer 0`: what each stage moved back.
fn replayed(request: &Value) -> String {
    let stages = request
        .get("stages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if stages.is_empty() {
        return "-".to_owned();
    }
    stages
        .iter()
        .map(|stage| format!("{} {}", text(stage, "/stage"), text(stage, "/replayed")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn replay_row(request: &Value) -> Vec<String> {
    let batch = match request.get("batch_id") {
        Some(Value::String(batch)) => batch.clone(),
        _ => "all".to_owned(),
    };
    vec![
        text(request, "/id"),
        time(request, "/created_at"),
        text(request, "/requested_by"),
        batch,
        text(request, "/state"),
        replayed(request),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_replay_row_says_what_each_stage_moved() {
        let row = replay_row(&json!({
            "id": "r1", "created_at": "2026-12-06T07:00:00.000000Z", "requested_by": "a@b.c",
            "batch_id": null, "state": "done",
            "stages": [{"stage": "packer", "replayed": 0}, {"stage": "piper", "replayed": 2}]
        }));
        assert_eq!(
            row,
            [
                "r1",
                "2026-12-06 07:00:00",
                "a@b.c",
                "all",
                "done",
                "packer 0, piper 2"
            ]
        );
    }
}
