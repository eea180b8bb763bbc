//! `ctl datasets`: the request bodies (built from flags, or from the current dataset for
//! `update`) and how datasets print.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::client::Client;
use super::output::{self, flag, text};
use crate::cli::{
    CtlAssignArgs, CtlDatasetCreateArgs, CtlDatasetOptions, CtlDatasetRef, CtlDatasetUpdateArgs,
    CtlDatasetsCommand,
};

pub async fn run(client: &Client, command: CtlDatasetsCommand, json: bool) -> Result<()> {
    match command {
        CtlDatasetsCommand::List { tenant } => {
            let answer = match &tenant {
                Some(tenant) => client.get(&["tenants", tenant, "datasets"], &[]).await?,
                None => client.get(&["datasets"], &[]).await?,
            };
            if json {
                return output::json(&answer);
            }
            let rows: Vec<Vec<String>> =
                output::list(&answer, "datasets")?.iter().map(row).collect();
            output::print_table(
                &[
                    "TENANT", "DATASET", "NAME", "PLUGIN", "BIND", "STATE", "PROXY",
                ],
                &rows,
                "no datasets",
            )
        }
        CtlDatasetsCommand::Show(dataset) => {
            let record = client.get(&path(&dataset), &[]).await?;
            if json {
                return output::json(&record);
            }
            show(&record)
        }
        CtlDatasetsCommand::Create(args) => create(client, args, json).await,
        CtlDatasetsCommand::Update(args) => update(client, args, json).await,
        CtlDatasetsCommand::Pause(dataset) => {
            let mut segments = path(&dataset);
            segments.push("pause");
            let record = client.post(&segments, None).await?;
            confirm(json, &record, format!("paused dataset {}", name(&dataset)))
        }
        CtlDatasetsCommand::Resume(dataset) => {
            let mut segments = path(&dataset);
            segments.push("resume");
            let record = client.post(&segments, None).await?;
            confirm(json, &record, format!("resumed dataset {}", name(&dataset)))
        }
        CtlDatasetsCommand::Assign(args) => assign(client, args, json).await,
        CtlDatasetsCommand::Delete(dataset) => {
            let answer = client.delete(&path(&dataset)).await?;
            confirm(json, &answer, format!("deleted dataset {}", name(&dataset)))
        }
    }
}

async fn create(client: &Client, args: CtlDatasetCreateArgs, json: bool) -> Result<()> {
    let CtlDatasetCreateArgs {
        dataset,
        plugin,
        bind,
        options,
    } = args;
    let pipeline = read_pipeline(options.pipeline.as_deref())?;
    let mut body = json!({
        "dataset_id": dataset.dataset,
        "source": source(&plugin, bind),
        "testing": options.testing.unwrap_or(false),
        "active": !options.paused.unwrap_or(false),
    });
    if let Some(object) = body.as_object_mut() {
        if let Some(name) = options.name {
            object.insert("name".into(), Value::String(name));
        }
        if let Some(pipeline) = pipeline {
            object.insert("pipeline".into(), pipeline);
        }
    }
    let record = client
        .post(&["tenants", &dataset.tenant, "datasets"], Some(&body))
        .await?;
    confirm(
        json,
        &record,
        format!("created dataset {}: {}", name(&dataset), summary(&record)),
    )
}

async fn update(client: &Client, args: CtlDatasetUpdateArgs, json: bool) -> Result<()> {
    let CtlDatasetUpdateArgs {
        dataset,
        plugin,
        bind,
        options,
    } = args;
    let changes = Changes {
        plugin,
        bind,
        pipeline: read_pipeline(options.pipeline.as_deref())?,
        options,
    };
    if changes.is_empty() {
        bail!(
            "nothing to change: pass --name, --plugin, --bind, --testing, --paused or --pipeline"
        );
    }
    let segments = path(&dataset);
    let current = client.get(&segments, &[]).await?;
    let body = changes.apply(&current)?;
    let record = client.put(&segments, &body).await?;
    confirm(
        json,
        &record,
        format!("updated dataset {}: {}", name(&dataset), summary(&record)),
    )
}

async fn assign(client: &Client, args: CtlAssignArgs, json: bool) -> Result<()> {
    let mut segments = path(&args.dataset);
    segments.push("assignment");
    let proxy = if args.unassign { None } else { args.proxy };
    let record = client.put(&segments, &json!({ "proxy": proxy })).await?;
    let runs_on = match &proxy {
        Some(proxy) => format!("proxy {proxy} only"),
        None => "every proxy of its scope".to_owned(),
    };
    confirm(
        json,
        &record,
        format!("dataset {} now runs on {runs_on}", name(&args.dataset)),
    )
}

/// The fields `update` changes; everything else keeps the dataset's current value.
struct Changes {
    plugin: Option<String>,
    bind: Option<SocketAddr>,
    pipeline: Option<Value>,
    options: CtlDatasetOptions,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.plugin.is_none()
            && self.bind.is_none()
            && self.pipeline.is_none()
            && self.options.name.is_none()
            && self.options.testing.is_none()
            && self.options.paused.is_none()
    }

    /// The full replacement body: the current dataset with the changes applied. A new plugin
    /// starts its settings over, because each plugin refuses the others' settings.
    fn apply(&self, current: &Value) -> Result<Value> {
        let unexpected = || {
            anyhow::anyhow!("the control plane answered with a dataset without a valid `source`")
        };
        let mut source = current
            .get("source")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(unexpected)?;
        let current_plugin = source.get("plugin").and_then(Value::as_str);
        match &self.plugin {
            Some(plugin) if Some(plugin.as_str()) != current_plugin => {
                let bind = match self.bind {
                    Some(bind) => Value::String(bind.to_string()),
                    None => current
                        .pointer("/source/settings/bind")
                        .cloned()
                        .ok_or_else(unexpected)?,
                };
                source = Map::from_iter([
                    ("plugin".to_owned(), Value::String(plugin.clone())),
                    ("settings".to_owned(), json!({ "bind": bind })),
                ]);
            }
            _ => {
                if let Some(bind) = self.bind {
                    let settings = source
                        .entry("settings")
                        .or_insert_with(|| Value::Object(Map::new()))
                        .as_object_mut()
                        .ok_or_else(unexpected)?;
                    settings.insert("bind".into(), Value::String(bind.to_string()));
                }
            }
        }
        let kept = |field: &str| current.get(field).cloned().unwrap_or(Value::Null);
        let mut body = Map::new();
        body.insert(
            "name".into(),
            match &self.options.name {
                Some(name) => Value::String(name.clone()),
                None => kept("name"),
            },
        );
        body.insert("source".into(), Value::Object(source));
        body.insert(
            "pipeline".into(),
            self.pipeline.clone().unwrap_or_else(|| kept("pipeline")),
        );
        body.insert(
            "testing".into(),
            Value::Bool(
                self.options
                    .testing
                    .or_else(|| flag(current, "/testing"))
                    .unwrap_or(false),
            ),
        );
        body.insert(
            "active".into(),
            Value::Bool(match self.options.paused {
                Some(paused) => !paused,
                None => flag(current, "/active").unwrap_or(true),
            }),
        );
        // The server fills defaults for fields left out, rather than accepting null.
        body.retain(|_, value| !value.is_null());
        Ok(Value::Object(body))
    }
}

fn source(plugin: &str, bind: SocketAddr) -> Value {
    json!({ "plugin": plugin, "settings": { "bind": bind.to_string() } })
}

fn read_pipeline(file: Option<&Path>) -> Result<Option<Value>> {
    let Some(file) = file else { return Ok(None) };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("--pipeline {}: cannot read it", file.display()))?;
    let pipeline: Value = serde_json::from_str(&text)
        .with_context(|| format!("--pipeline {}: not JSON", file.display()))?;
    if !pipeline.is_object() {
        bail!(
            "--pipeline {}: expected an object such as {{\"filters\": [...]}}",
            file.display()
        );
    }
    Ok(Some(pipeline))
}

fn path(dataset: &CtlDatasetRef) -> Vec<&str> {
    vec!["tenants", &dataset.tenant, "datasets", &dataset.dataset]
}

fn name(dataset: &CtlDatasetRef) -> String {
    format!("{}/{}", dataset.tenant, dataset.dataset)
}

fn confirm(json: bool, answer: &Value, summary: String) -> Result<()> {
    if json {
        output::json(answer)
    } else {
        output::line(summary)
    }
}

fn state(record: &Value) -> String {
    let state = match flag(record, "/active") {
        Some(true) => "active",
        Some(false) => "paused",
        None => "-",
    };
    if flag(record, "/testing") == Some(true) {
        format!("{state}, testing")
    } else {
        state.to_owned()
    }
}

fn proxy(record: &Value) -> String {
    match record.get("assigned_proxy").and_then(Value::as_str) {
        Some(proxy) => proxy.to_owned(),
        None => "any".to_owned(),
    }
}

/// `syslog on 127.0.0.1:5514, active`
fn summary(record: &Value) -> String {
    format!(
        "{} on {}, {}",
        text(record, "/source/plugin"),
        text(record, "/source/settings/bind"),
        state(record)
    )
}

fn row(record: &Value) -> Vec<String> {
    vec![
        text(record, "/tenant_id"),
        text(record, "/dataset_id"),
        text(record, "/name"),
        text(record, "/source/plugin"),
        text(record, "/source/settings/bind"),
        state(record),
        proxy(record),
    ]
}

fn show(record: &Value) -> Result<()> {
    let filters = record
        .pointer("/pipeline/filters")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    output::print_pairs(&[
        (
            "dataset",
            format!(
                "{}/{}",
                text(record, "/tenant_id"),
                text(record, "/dataset_id")
            ),
        ),
        ("name", text(record, "/name")),
        ("plugin", text(record, "/source/plugin")),
        ("bind", text(record, "/source/settings/bind")),
        ("state", state(record)),
        ("proxy", proxy(record)),
        (
            "pipeline",
            match filters {
                1 => "1 filter".to_owned(),
                count => format!("{count} filters"),
            },
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> Value {
        json!({
            "tenant_id": "acme", "dataset_id": "fw", "name": "Firewall",
            "source": {"plugin": "syslog", "settings": {"bind": "127.0.0.1:5514", "transport": "udp", "lift_message_fields": false}},
            "pipeline": {"filters": [{"type": "drop", "config": {"condition": "a == 1"}}]},
            "testing": true, "active": false, "assigned_proxy": "proxy-1"
        })
    }

    fn changes() -> Changes {
        Changes {
            plugin: None,
            bind: None,
            pipeline: None,
            options: CtlDatasetOptions {
                name: None,
                testing: None,
                paused: None,
                pipeline: None,
            },
        }
    }

    #[test]
    fn an_update_keeps_every_field_it_does_not_change() {
        let mut change = changes();
        change.bind = Some("127.0.0.1:6514".parse().unwrap());
        let body = change.apply(&current()).unwrap();
        assert_eq!(
            body,
            json!({
                "name": "Firewall",
                "source": {"plugin": "syslog", "settings": {"bind": "127.0.0.1:6514", "transport": "udp", "lift_message_fields": false}},
                "pipeline": {"filters": [{"type": "drop", "config": {"condition": "a == 1"}}]},
                "testing": true, "active": false
            })
        );
    }

    #[test]
    fn a_new_plugin_starts_its_settings_over_with_the_bind() {
        let mut change = changes();
        change.plugin = Some("netflow".into());
        change.options.paused = Some(false);
        change.options.testing = Some(false);
        let body = change.apply(&current()).unwrap();
        assert_eq!(
            body["source"],
            json!({"plugin": "netflow", "settings": {"bind": "127.0.0.1:5514"}})
        );
        assert_eq!(
            (body["active"].as_bool(), body["testing"].as_bool()),
            (Some(true), Some(false))
        );
    }

    #[test]
    fn a_dataset_without_a_source_is_an_error_not_a_panic() {
        let mut change = changes();
        change.bind = Some("127.0.0.1:6514".parse().unwrap());
        assert!(change.apply(&json!({"name": "x"})).is_err());
        assert!(
            change
                .apply(&json!({"source": {"plugin": "syslog", "settings": 3}}))
                .is_err()
        );
        assert!(change.apply(&json!([])).is_err());
    }
}
