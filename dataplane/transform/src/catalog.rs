//! The settings schema of every filter type: what the dashboard builds its forms from and what
//! `docs/transform.md` describes. A test compiles each example, so the two cannot drift apart.

use bytefreezer_api::FilterType;
use serde::Serialize;
use serde_json::{Value, json};

/// One filter type: what it does, the JSON Schema of its `config`, an example that compiles,
/// and whether a filter-level `condition` is allowed.
#[derive(Debug, Clone, Serialize)]
pub struct FilterKind {
    #[serde(rename = "type")]
    pub kind: FilterType,
    pub summary: &'static str,
    pub accepts_condition: bool,
    pub config_schema: Value,
    pub example: Value,
}

fn text(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "description": description })
}

fn field_or_fields(description: &str) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "field": text(description),
            "fields": { "type": "array", "items": { "type": "string", "minLength": 1 }, "description": "Several fields at once." }
        },
        "anyOf": [{ "required": ["field"] }, { "required": ["fields"] }]
    })
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "required": required,
    })
}

pub fn filter_catalog() -> Vec<FilterKind> {
    let condition_config = object(
        json!({ "condition": text("A condition in the documented language, e.g. action == 'deny'.") }),
        &["condition"],
    );
    let kind = |kind, summary, accepts_condition, config_schema, example| FilterKind {
        kind,
        summary,
        accepts_condition,
        config_schema,
        example,
    };
    vec![
        kind(
            FilterType::RenameField,
            "Renames a column (a schema change, no data copied).",
            false,
            object(
                json!({ "from": text("Existing field."), "to": text("New name; an existing column of that name is replaced.") }),
                &["from", "to"],
            ),
            json!({ "from": "src", "to": "source_ip" }),
        ),
        kind(
            FilterType::CopyField,
            "Copies a column under a second name.",
            true,
            object(
                json!({ "from": text("Existing field."), "to": text("Name of the copy.") }),
                &["from", "to"],
            ),
            json!({ "from": "hostname", "to": "device" }),
        ),
        kind(
            FilterType::AddField,
            "Sets a field to a constant, or to a template such as \"${hostname}/${app_name}\" ($$ writes a $).",
            true,
            object(
                json!({
                    "field": text("Field to set."),
                    "value": { "type": ["string", "number", "boolean"], "description": "Constant, or text with ${field} references." }
                }),
                &["field", "value"],
            ),
            json!({ "field": "environment", "value": "production" }),
        ),
        kind(
            FilterType::RemoveField,
            "Removes columns.",
            false,
            field_or_fields("Field to remove."),
            json!({ "fields": ["password", "token"] }),
        ),
        kind(
            FilterType::Drop,
            "Drops the rows where the condition holds.",
            true,
            condition_config.clone(),
            json!({ "condition": "action == 'deny'" }),
        ),
        kind(
            FilterType::Keep,
            "Keeps only the rows where the condition holds.",
            true,
            condition_config,
            json!({ "condition": "severity <= 4" }),
        ),
        kind(
            FilterType::Lowercase,
            "Lowercases text fields.",
            true,
            field_or_fields("Field to change."),
            json!({ "field": "hostname" }),
        ),
        kind(
            FilterType::Uppercase,
            "Uppercases text fields.",
            true,
            field_or_fields("Field to change."),
            json!({ "field": "action" }),
        ),
        kind(
            FilterType::Trim,
            "Removes leading and trailing white space.",
            true,
            field_or_fields("Field to change."),
            json!({ "field": "message" }),
        ),
        kind(
            FilterType::Mask,
            "Replaces characters with * except a kept prefix and suffix.",
            true,
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "field": text("Field to mask."),
                    "fields": { "type": "array", "items": { "type": "string" } },
                    "keep_prefix": { "type": "integer", "minimum": 0, "default": 0 },
                    "keep_suffix": { "type": "integer", "minimum": 0, "default": 0 }
                },
                "anyOf": [{ "required": ["field"] }, { "required": ["fields"] }]
            }),
            json!({ "field": "card_number", "keep_suffix": 4 }),
        ),
        kind(
            FilterType::Hash,
            "Replaces values with their hex SHA-256, or keyed HMAC-SHA-256 for pseudonymizing PII.",
            true,
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "field": text("Field to hash."),
                    "fields": { "type": "array", "items": { "type": "string" } },
                    "algorithm": { "enum": ["sha256", "hmac-sha256"], "default": "sha256" },
                    "key": text("Secret key; required for hmac-sha256.")
                },
                "anyOf": [{ "required": ["field"] }, { "required": ["fields"] }]
            }),
            json!({ "field": "user", "algorithm": "hmac-sha256", "key": "change-me" }),
        ),
        kind(
            FilterType::RegexReplace,
            "Replaces every match of a regular expression ($1 or ${name} refer to groups).",
            true,
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "field": text("Field to change."),
                    "fields": { "type": "array", "items": { "type": "string" } },
                    "pattern": text("Regular expression (Rust regex syntax)."),
                    "replacement": { "type": "string" }
                },
                "required": ["pattern", "replacement"],
                "anyOf": [{ "required": ["field"] }, { "required": ["fields"] }]
            }),
            json!({ "field": "message", "pattern": "password=\\S+", "replacement": "password=***" }),
        ),
        kind(
            FilterType::RegexExtract,
            "Adds one field per named group of a regular expression.",
            true,
            object(
                json!({ "field": text("Field to match."), "pattern": text("Regular expression with named groups, e.g. (?P<user>\\w+).") }),
                &["field", "pattern"],
            ),
            json!({ "field": "message", "pattern": "user (?P<user>\\w+) from (?P<source_ip>\\S+)" }),
        ),
        kind(
            FilterType::Kv,
            "Parses key=value pairs in a field into their own fields.",
            false,
            object(
                json!({ "field": text("Field holding key=value text.") }),
                &["field"],
            ),
            json!({ "field": "message" }),
        ),
        kind(
            FilterType::JsonParse,
            "Parses a JSON object in a field; its top-level keys become fields (nested values stay JSON text).",
            false,
            object(
                json!({ "field": text("Field holding a JSON object.") }),
                &["field"],
            ),
            json!({ "field": "message" }),
        ),
        kind(
            FilterType::JsonFlatten,
            "Parses a JSON object in a field and flattens nested objects into dotted fields such as user.name.",
            false,
            object(
                json!({ "field": text("Field holding a JSON object.") }),
                &["field"],
            ),
            json!({ "field": "message" }),
        ),
        kind(
            FilterType::Convert,
            "Changes a field's type; values that do not convert become null.",
            false,
            object(
                json!({
                    "field": text("Field to convert."),
                    "to": { "enum": ["int", "float", "bool", "string", "timestamp", "ip"] }
                }),
                &["field", "to"],
            ),
            json!({ "field": "bytes", "to": "int" }),
        ),
        kind(
            FilterType::DateParse,
            "Parses a time and sets the event time, which decides the Parquet hour partition.",
            true,
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "field": text("Field holding the time."),
                    "format": { "type": "string", "default": "rfc3339", "description": "rfc3339, unix, unix_ms, or a strftime pattern such as %d/%b/%Y:%H:%M:%S %z." },
                    "timezone": { "type": "string", "default": "UTC", "description": "Zone of times without an offset (IANA name)." },
                    "target": { "type": "string", "default": "event_time" }
                },
                "required": ["field"]
            }),
            json!({ "field": "timestamp", "format": "%d/%b/%Y:%H:%M:%S %z" }),
        ),
        kind(
            FilterType::Geoip,
            "Adds <field>_geo_country, _geo_country_code, _geo_city, _geo_region, _geo_lat, _geo_lon (and _geo_asn, _geo_as_org with an ASN database) from the node's MaxMind databases.",
            true,
            object(
                json!({ "field": text("Field holding an IPv4 or IPv6 address.") }),
                &["field"],
            ),
            json!({ "field": "source_ip" }),
        ),
        kind(
            FilterType::Sample,
            "Keeps a fraction of rows, deterministically by the hash of a field (or by row when none).",
            true,
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "rate": { "type": "number", "exclusiveMinimum": 0, "maximum": 1 },
                    "field": text("Field whose value decides; rows with equal values share a fate.")
                },
                "required": ["rate"]
            }),
            json!({ "rate": 0.1, "field": "source_ip" }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use bytefreezer_api::FilterSpec;

    use super::*;
    use crate::filters::CompiledFilter;
    use crate::geoip::GeoIp;

    #[test]
    fn every_filter_type_is_listed_once_with_an_example_that_compiles() {
        let catalog = filter_catalog();
        let listed: Vec<FilterType> = catalog.iter().map(|k| k.kind).collect();
        assert_eq!(listed, FilterType::ALL);
        for kind in &catalog {
            let spec = FilterSpec {
                kind: kind.kind.as_str().to_owned(),
                config: kind.example.clone(),
                enabled: true,
                condition: None,
            };
            match CompiledFilter::compile(0, &spec, &GeoIp::default()) {
                Ok(_) => {}
                Err(error) if kind.kind == FilterType::Geoip => {
                    assert!(error.to_string().contains("city_database"), "{error}")
                }
                Err(error) => panic!("{}: {error}", kind.kind),
            }
            let with_condition = FilterSpec {
                condition: Some("severity < 3".into()),
                ..spec
            };
            let accepted = CompiledFilter::compile(0, &with_condition, &GeoIp::default())
                .map_err(|e| e.to_string());
            if kind.kind != FilterType::Geoip {
                assert_eq!(
                    accepted.is_ok(),
                    kind.accepts_condition,
                    "{}: {accepted:?}",
                    kind.kind
                );
            }
            let properties = kind.config_schema["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{}: no properties", kind.kind));
            for key in kind.example.as_object().unwrap().keys() {
                assert!(
                    properties.contains_key(key),
                    "{}: example key {key} not in the schema",
                    kind.kind
                );
            }
        }
    }

    /// The control plane redacts the settings `bytefreezer_api::SECRET_FILTER_SETTINGS` lists
    /// without knowing the catalog, so the list must name exactly what the catalog calls secret.
    #[test]
    fn every_secret_the_catalog_describes_is_redacted() {
        let mut described = Vec::new();
        for filter in filter_catalog() {
            let Some(properties) = filter.config_schema["properties"].as_object() else {
                continue;
            };
            for (name, schema) in properties {
                let description = schema["description"].as_str().unwrap_or_default();
                if description.to_lowercase().contains("secret") {
                    described.push((filter.kind, name.clone()));
                }
            }
        }
        let listed: Vec<(FilterType, String)> = bytefreezer_api::SECRET_FILTER_SETTINGS
            .iter()
            .map(|(kind, name)| (*kind, (*name).to_owned()))
            .collect();
        assert_eq!(described, listed);
    }
}
