//! `ctl datasets`: the request bodies (built from flags, or from the current dataset for
//! `update`) and how datasets print.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, bail};
use bytefreezer_api::rest::{AssignmentRequest, DatasetRecord, DatasetRequest};
use bytefreezer_api::{PipelineSpec, SourceSpec, plugin_catalog};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::client::{Client, answer};
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
            let record = client.post_empty(&segments).await?;
            confirm(json, &record, format!("paused dataset {}", name(&dataset)))
        }
        CtlDatasetsCommand::Resume(dataset) => {
            let mut segments = path(&dataset);
            segments.push("resume");
            let record = client.post_empty(&segments).await?;
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
        settings,
        options,
    } = args;
    let settings = read_settings(settings.as_deref())?;
    let request = DatasetRequest {
        dataset_id: Some(dataset.dataset.clone()),
        name: options.name.unwrap_or_default(),
        source: source(&plugin, bind, settings.as_ref())?,
        pipeline: read_pipeline(options.pipeline.as_deref())?.unwrap_or_default(),
        testing: options.testing.unwrap_or(false),
        active: !options.paused.unwrap_or(false),
        packer: Default::default(),
        destination: Default::default(),
    };
    let record = client
        .post(&["tenants", &dataset.tenant, "datasets"], &request)
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
        settings,
        options,
    } = args;
    let changes = Changes {
        plugin,
        bind,
        settings: read_settings(settings.as_deref())?,
        pipeline: read_pipeline(options.pipeline.as_deref())?,
        options,
    };
    if changes.is_empty() {
        bail!(
            "nothing to change: pass --name, --plugin, --bind, --settings, --testing, --paused \
             or --pipeline"
        );
    }
    let segments = path(&dataset);
    let current: DatasetRecord = answer(&client.get(&segments, &[]).await?, "datasets show")?;
    let request = changes.apply(&current)?;
    let record = client.put(&segments, &request).await?;
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
    let request = AssignmentRequest {
        proxy: proxy.clone(),
    };
    let record = client.put(&segments, &request).await?;
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
    settings: Option<Map<String, Value>>,
    pipeline: Option<PipelineSpec>,
    options: CtlDatasetOptions,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.plugin.is_none()
            && self.bind.is_none()
            && self.settings.is_none()
            && self.pipeline.is_none()
            && self.options.name.is_none()
            && self.options.testing.is_none()
            && self.options.paused.is_none()
    }

    /// The full replacement: the current dataset with the changes applied. A new plugin
    /// starts its settings over, because each plugin refuses the others' settings.
    fn apply(&self, current: &DatasetRecord) -> Result<DatasetRequest> {
        let mut request = DatasetRequest::replacing(current);
        match &self.plugin {
            Some(plugin) if plugin != current.spec.source.plugin_name() => {
                let bind = self.bind.or_else(|| current.spec.source.bind());
                request.source = source(plugin, bind, self.settings.as_ref())?;
            }
            _ => {
                if let Some(bind) = self.bind
                    && !request.source.set_bind(bind)
                {
                    bail!(
                        "--bind: a {} dataset connects to its source and listens nowhere",
                        request.source.plugin_name()
                    );
                }
                if let Some(settings) = &self.settings {
                    request.source = with_settings(&request.source, settings)?;
                }
            }
        }
        if let Some(name) = &self.options.name {
            request.name = name.clone();
        }
        if let Some(pipeline) = &self.pipeline {
            request.pipeline = pipeline.clone();
        }
        if let Some(testing) = self.options.testing {
            request.testing = testing;
        }
        if let Some(paused) = self.options.paused {
            request.active = !paused;
        }
        Ok(request)
    }
}

/// `plugin` listening on `bind`, its other settings at their defaults.
fn source(
    plugin: &str,
    bind: Option<SocketAddr>,
    settings: Option<&Map<String, Value>>,
) -> Result<SourceSpec> {
    let unbound = SocketAddr::from(([0, 0, 0, 0], 0));
    let defaults =
        SourceSpec::with_defaults(plugin, bind.unwrap_or(unbound)).with_context(|| {
            let known: Vec<&str> = plugin_catalog().iter().map(|kind| kind.plugin).collect();
            format!(
                "--plugin {plugin}: not a plugin; choose one of {}",
                known.join(", ")
            )
        })?;
    let bind_in_settings = settings.is_some_and(|settings| settings.contains_key("bind"));
    if defaults.bind().is_some() && bind.is_none() && !bind_in_settings {
        bail!("--bind is required: a {plugin} dataset listens on an address");
    }
    match settings {
        Some(settings) => with_settings(&defaults, settings),
        None => Ok(defaults),
    }
}

/// `source` with `settings` (names and values as `GET /api/v1/plugins` describes them) in
/// place of its own.
fn with_settings(source: &SourceSpec, settings: &Map<String, Value>) -> Result<SourceSpec> {
    let mut value = serde_json::to_value(source)?;
    let current = value
        .get_mut("settings")
        .and_then(Value::as_object_mut)
        .context("a source without settings")?;
    for (name, setting) in settings {
        current.insert(name.clone(), setting.clone());
    }
    serde_json::from_value(value).with_context(|| {
        format!(
            "--settings: not settings of the {} plugin (GET /api/v1/plugins lists them)",
            source.plugin_name()
        )
    })
}

fn read_settings(text: Option<&str>) -> Result<Option<Map<String, Value>>> {
    let Some(text) = text else { return Ok(None) };
    match serde_json::from_str(text) {
        Ok(Value::Object(settings)) => Ok(Some(settings)),
        Ok(_) => bail!("--settings: a JSON object of settings, like '{{\"mode\":\"jetstream\"}}'"),
        Err(error) => bail!("--settings: not JSON: {error}"),
    }
}

fn read_pipeline(file: Option<&Path>) -> Result<Option<PipelineSpec>> {
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
    let pipeline = PipelineSpec::deserialize(&pipeline)
        .with_context(|| format!("--pipeline {}: not a pipeline", file.display()))?;
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

/// `syslog on 127.0.0.1:5514, active`; `nats on nats://host:4222/logs.>, active`.
fn summary(record: &Value) -> String {
    format!(
        "{} on {}, {}",
        text(record, "/source/plugin"),
        address(record),
        state(record)
    )
}

/// Where the dataset listens, or for an input that connects out, what it reads from.
fn address(record: &Value) -> String {
    if record.pointer("/source/settings/bind").is_some() {
        return text(record, "/source/settings/bind");
    }
    record
        .get("source")
        .and_then(|source| serde_json::from_value::<SourceSpec>(source.clone()).ok())
        .map_or_else(|| "-".to_owned(), |source| source.listen())
}

fn row(record: &Value) -> Vec<String> {
    vec![
        text(record, "/tenant_id"),
        text(record, "/dataset_id"),
        text(record, "/name"),
        text(record, "/source/plugin"),
        address(record),
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
        ("bind", address(record)),
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
    use serde_json::json;

    use super::*;

    fn current() -> DatasetRecord {
        answer(
            &json!({
                "tenant_id": "acme", "dataset_id": "fw", "name": "Firewall",
                "source": {"plugin": "syslog", "settings": {"bind": "127.0.0.1:5514", "transport": "udp", "lift_message_fields": false}},
                "pipeline": {"filters": [{"type": "drop", "config": {"condition": "a == 1"}}]},
                "testing": true, "active": false, "assigned_proxy": "proxy-1"
            }),
            "datasets show",
        )
        .unwrap()
    }

    fn changes() -> Changes {
        Changes {
            plugin: None,
            bind: None,
            settings: None,
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
        let body = serde_json::to_value(change.apply(&current()).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "name": "Firewall",
                "source": {"plugin": "syslog", "settings": {
                    "bind": "127.0.0.1:6514", "transport": "udp", "lift_message_fields": false,
                    "framing": "auto", "max_message_bytes": 65536, "max_connections": 1024,
                    "idle_timeout_secs": 3600, "tls_cert_file": null, "tls_key_file": null,
                    "tls_client_ca_file": null,
                }},
                "pipeline": {"filters": [{"type": "drop", "config": {"condition": "a == 1"}, "enabled": true}]},
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
        let body = serde_json::to_value(change.apply(&current()).unwrap()).unwrap();
        assert_eq!(
            body["source"],
            json!({"plugin": "netflow", "settings": {"bind": "127.0.0.1:5514"}})
        );
        assert_eq!(
            (body["active"].as_bool(), body["testing"].as_bool()),
            (Some(true), Some(false))
        );
        change.plugin = Some("carrier-pigeon".into());
        let error = change.apply(&current()).unwrap_err().to_string();
        assert!(error.contains("syslog, netflow"), "{error}");
    }

    #[test]
    fn settings_go_over_the_plugin_defaults_or_the_current_ones() {
        let settings = read_settings(Some(
            r#"{"mode":"jetstream","stream":"EVENTS","consumer":"bf"}"#,
        ))
        .unwrap();
        let nats = source("nats", None, settings.as_ref()).unwrap();
        assert_eq!(nats.listen(), "nats://127.0.0.1:4222/EVENTS/bf");
        assert!(
            source("syslog", None, None)
                .unwrap_err()
                .to_string()
                .contains("--bind")
        );
        let mut change = changes();
        change.settings = read_settings(Some(r#"{"transport":"tcp"}"#)).unwrap();
        let body = serde_json::to_value(change.apply(&current()).unwrap()).unwrap();
        assert_eq!(body["source"]["settings"]["transport"], json!("tcp"));
        assert_eq!(body["source"]["settings"]["bind"], json!("127.0.0.1:5514"));
        change.settings = read_settings(Some(r#"{"no_such_setting":1}"#)).unwrap();
        let error = change.apply(&current()).unwrap_err().to_string();
        assert!(
            error.contains("not settings of the syslog plugin"),
            "{error}"
        );
        assert!(read_settings(Some("[1]")).is_err());
    }

    #[test]
    fn a_dataset_without_a_source_is_an_error_not_a_panic() {
        for odd in [
            json!({"name": "x"}),
            json!({"source": {"plugin": "syslog", "settings": 3}}),
            json!([]),
        ] {
            assert!(answer::<DatasetRecord>(&odd, "datasets show").is_err());
        }
    }
}
