use arrow::record_batch::RecordBatch;
use bytefreezer_api::PipelineSpec;

use crate::filters::CompiledFilter;
use crate::geoip::GeoIp;
use crate::limits::TransformLimits;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    #[error("filter {index} ({kind:?}): {problem}")]
    Filter {
        index: usize,
        kind: String,
        problem: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("filter {index} ({kind:?}) failed: {problem}")]
    Filter {
        index: usize,
        kind: String,
        problem: String,
    },
    #[error("column {column:?}: {problem}")]
    Column { column: String, problem: String },
    /// A filter made more output than [`TransformLimits`] allow: the batch cannot be
    /// transformed as configured, however often it is retried.
    #[error("filter {index} ({kind:?}) exceeded a limit: {problem}")]
    Limit {
        index: usize,
        kind: String,
        problem: String,
    },
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

/// What one filter did to a batch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FilterReport {
    pub index: usize,
    #[serde(rename = "type")]
    pub kind: String,
    pub rows_in: usize,
    pub rows_out: usize,
    pub fields_added: Vec<String>,
    pub fields_removed: Vec<String>,
}

/// A validated, ready-to-run pipeline: filters applied in order, each on the whole batch.
#[derive(Debug, Clone)]
pub struct Pipeline {
    filters: Vec<CompiledFilter>,
    limits: TransformLimits,
}

impl Pipeline {
    /// Validates every filter (type, config keys, conditions); errors name the filter index and
    /// type. Disabled filters are validated too, so enabling one later cannot break piper.
    pub fn compile(spec: &PipelineSpec) -> Result<Pipeline, PipelineError> {
        Pipeline::compile_with(spec, &GeoIp::default())
    }

    /// [`Pipeline::compile`] on a node with GeoIP databases, which `geoip` filters need.
    pub fn compile_with(spec: &PipelineSpec, geoip: &GeoIp) -> Result<Pipeline, PipelineError> {
        Pipeline::compile_with_limits(spec, geoip, &TransformLimits::default())
    }

    /// [`Pipeline::compile_with`] under `limits`: a pipeline with more than `max_filters`
    /// filters is refused, and running it stops at the output limits.
    pub fn compile_with_limits(
        spec: &PipelineSpec,
        geoip: &GeoIp,
        limits: &TransformLimits,
    ) -> Result<Pipeline, PipelineError> {
        if let Some(extra) = spec.filters.get(limits.max_filters) {
            return Err(PipelineError::Filter {
                index: limits.max_filters,
                kind: extra.kind.clone(),
                problem: format!(
                    "a pipeline has at most {} filters (max_filters); this one has {}",
                    limits.max_filters,
                    spec.filters.len()
                ),
            });
        }
        let mut filters = Vec::new();
        for (index, filter) in spec.filters.iter().enumerate() {
            let compiled = CompiledFilter::compile(index, filter, geoip)?;
            if filter.enabled {
                filters.push(compiled);
            }
        }
        Ok(Pipeline {
            filters,
            limits: *limits,
        })
    }

    /// Runs one filter, holding its output to `max_batch_bytes` when it grew the batch.
    fn apply(
        &self,
        filter: &CompiledFilter,
        batch: RecordBatch,
    ) -> Result<RecordBatch, TransformError> {
        let before = batch.get_array_memory_size();
        let output = filter
            .apply(batch, &self.limits)
            .map_err(|error| match error {
                limit @ TransformError::Limit { .. } => limit,
                other => TransformError::Filter {
                    index: filter.index,
                    kind: filter.kind.clone(),
                    problem: other.to_string(),
                },
            })?;
        let after = output.get_array_memory_size();
        if after > self.limits.max_batch_bytes && after > before {
            return Err(TransformError::Limit {
                index: filter.index,
                kind: filter.kind.clone(),
                problem: format!(
                    "the batch grew to {after} bytes, past max_batch_bytes ({})",
                    self.limits.max_batch_bytes
                ),
            });
        }
        Ok(output)
    }

    pub fn is_identity(&self) -> bool {
        self.filters.is_empty()
    }

    /// Runs the pipeline and reports what each filter did, for Test Transformation. On an error
    /// the reports cover the filters that ran.
    pub fn run_traced(
        &self,
        batch: RecordBatch,
    ) -> (Result<RecordBatch, TransformError>, Vec<FilterReport>) {
        let mut reports = Vec::with_capacity(self.filters.len());
        let mut batch = batch;
        for filter in &self.filters {
            let before = batch.schema();
            let rows_in = batch.num_rows();
            match self.apply(filter, batch) {
                Ok(output) => {
                    let after = output.schema();
                    let names = |schema: &arrow::datatypes::Schema| {
                        schema
                            .fields()
                            .iter()
                            .map(|f| f.name().clone())
                            .collect::<Vec<_>>()
                    };
                    let (old, new) = (names(&before), names(&after));
                    reports.push(FilterReport {
                        index: filter.index,
                        kind: filter.kind.clone(),
                        rows_in,
                        rows_out: output.num_rows(),
                        fields_added: new.iter().filter(|n| !old.contains(n)).cloned().collect(),
                        fields_removed: old.iter().filter(|n| !new.contains(n)).cloned().collect(),
                    });
                    batch = output;
                }
                Err(error) => return (Err(error), reports),
            }
        }
        (Ok(batch), reports)
    }

    pub fn run(&self, batch: RecordBatch) -> Result<RecordBatch, TransformError> {
        let mut batch = batch;
        for filter in &self.filters {
            batch = self.apply(filter, batch)?;
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
    use arrow::datatypes::Int64Type;

    use super::*;

    fn pipeline(json: &str) -> Result<Pipeline, PipelineError> {
        Pipeline::compile(&serde_json::from_str::<PipelineSpec>(json).unwrap())
    }

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "action",
                Arc::new(StringArray::from(vec!["deny", "allow", "drop", "allow"])) as ArrayRef,
            ),
            (
                "src",
                Arc::new(StringArray::from(vec![
                    "10.0.0.1",
                    "192.0.2.1",
                    "10.0.0.2",
                    " Host ",
                ])) as ArrayRef,
            ),
            (
                "port",
                Arc::new(Int64Array::from(vec![22, 443, 80, 8080])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn text(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
        let column = batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no {name}"));
        let column = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8).unwrap();
        column
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect()
    }

    #[test]
    fn the_documented_drop_example_works_verbatim() {
        let out =
            pipeline(r#"{"filters":[{"type":"drop","config":{"condition":"action == 'deny'"}}]}"#)
                .unwrap()
                .run(batch())
                .unwrap();
        assert_eq!(
            text(&out, "action"),
            [
                Some("allow".into()),
                Some("drop".into()),
                Some("allow".into())
            ]
        );
    }

    #[test]
    fn filters_run_in_order_with_conditions() {
        let spec = r#"{"filters":[
            {"type":"rename_field","config":{"from":"src","to":"source_ip"}},
            {"type":"add_field","config":{"field":"env","value":"prod"}},
            {"type":"add_field","config":{"field":"internal","value":true},"condition":"source_ip in cidr('10.0.0.0/8')"},
            {"type":"keep","config":{"condition":"port < 1000"}},
            {"type":"uppercase","config":{"field":"action"},"condition":"port == 22"},
            {"type":"copy_field","config":{"from":"port","to":"port_copy"}},
            {"type":"remove_field","config":{"fields":["port"]}},
            {"type":"trim","config":{"field":"nothing_here"},"enabled":false}
        ]}"#;
        let out = pipeline(spec).unwrap().run(batch()).unwrap();
        let names: Vec<_> = out
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names,
            ["action", "source_ip", "env", "internal", "port_copy"]
        );
        assert_eq!(
            text(&out, "action"),
            [
                Some("DENY".into()),
                Some("allow".into()),
                Some("drop".into())
            ]
        );
        assert_eq!(
            text(&out, "internal"),
            [Some("true".into()), None, Some("true".into())]
        );
        assert_eq!(text(&out, "env"), vec![Some("prod".to_owned()); 3]);
        let copy = out
            .column_by_name("port_copy")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(copy.values().to_vec(), [22, 443, 80]);
    }

    #[test]
    fn lowercase_trim_and_keep_with_condition() {
        let out = pipeline(r#"{"filters":[{"type":"trim","config":{"field":"src"}},{"type":"lowercase","config":{"field":"src"}},
            {"type":"keep","config":{"condition":"action == 'deny'"},"condition":"port < 100"}]}"#)
            .unwrap()
            .run(batch())
            .unwrap();
        // keep applies only to rows matching its own condition (port < 100): the drop row goes.
        assert_eq!(out.num_rows(), 3);
        assert_eq!(text(&out, "src")[2], Some("host".into()));
    }

    #[test]
    fn invalid_pipelines_name_the_filter_key_and_problem() {
        let cases = [
            (
                r#"{"filters":[{"type":"drop","config":{}}]}"#,
                "filter 0 (\"drop\"): config: missing field `condition`",
            ),
            (
                r#"{"filters":[{"type":"drop","config":{"condition":"action =="}}]}"#,
                "filter 0 (\"drop\"): config.condition: condition: expected a value",
            ),
            (
                r#"{"filters":[{"type":"add_field","config":{"field":"a","value":1}},{"type":"rename_field","config":{"from":"a","to":"b","x":1}}]}"#,
                "filter 1 (\"rename_field\"): config: unknown field `x`",
            ),
            (
                r#"{"filters":[{"type":"rename_field","config":{"from":"a","to":"b"},"condition":"a == 1"}]}"#,
                "filter 0 (\"rename_field\"): condition: a rename",
            ),
            (
                r#"{"filters":[{"type":"geoip","config":{"field":"source_ip"}}]}"#,
                "filter 0 (\"geoip\"): no GeoIP city database is configured",
            ),
            (
                r#"{"filters":[{"type":"remove_field","config":{}}]}"#,
                "filter 0 (\"remove_field\"): config: set field or fields",
            ),
            (
                r#"{"filters":[{"type":"add_field","config":{"field":"a","value":[1]}}]}"#,
                "config.value",
            ),
            (
                r#"{"filters":[{"type":"trim","config":{"field":"a"},"enabled":false,"condition":"("}]}"#,
                "condition:",
            ),
        ];
        for (json, expected) in cases {
            let error = pipeline(json).unwrap_err().to_string();
            assert!(
                error.starts_with(expected) || error.contains(expected),
                "{json}\n got: {error}"
            );
        }
    }

    #[test]
    fn missing_fields_leave_batches_unchanged() {
        let out = pipeline(r#"{"filters":[{"type":"rename_field","config":{"from":"nope","to":"x"}},{"type":"copy_field","config":{"from":"nope","to":"y"}},{"type":"remove_field","config":{"field":"nope"}}]}"#)
            .unwrap()
            .run(batch())
            .unwrap();
        assert_eq!(out, batch());
        assert!(out.column(0).null_count() == 0);
    }

    #[test]
    fn privacy_and_extraction_filters() {
        let spec = r##"{"filters":[
            {"type":"mask","config":{"field":"src","keep_suffix":2}},
            {"type":"hash","config":{"field":"action","algorithm":"hmac-sha256","key":"k"},"condition":"port == 22"},
            {"type":"regex_extract","config":{"field":"src","pattern":"^\\*+(?P<tail>.{2})$"}},
            {"type":"regex_replace","config":{"field":"tail","pattern":"[0-9]","replacement":"#"}}
        ]}"##;
        let out = pipeline(spec).unwrap().run(batch()).unwrap();
        assert_eq!(text(&out, "src")[0], Some("******.1".into()));
        let action = text(&out, "action");
        assert_eq!(
            action[0].as_ref().map(String::len),
            Some(64),
            "hashed where port == 22"
        );
        assert_eq!(action[1], Some("allow".into()), "left alone elsewhere");
        assert_eq!(text(&out, "tail")[0], Some(".#".into()));
    }

    #[test]
    fn sampling_is_deterministic_per_key() {
        let rows = 2000;
        let keys: Vec<String> = (0..rows).map(|i| format!("user-{}", i % 100)).collect();
        let batch = RecordBatch::try_from_iter(vec![(
            "user",
            Arc::new(StringArray::from(keys)) as ArrayRef,
        )])
        .unwrap();
        let sample =
            pipeline(r#"{"filters":[{"type":"sample","config":{"rate":0.25,"field":"user"}}]}"#)
                .unwrap();
        let first = sample.run(batch.clone()).unwrap();
        assert_eq!(first, sample.run(batch).unwrap());
        assert!(
            (200..800).contains(&first.num_rows()),
            "{}",
            first.num_rows()
        );
        assert_eq!(
            first.num_rows() % 20,
            0,
            "a key is kept in all its rows or none"
        );
    }

    #[test]
    fn invalid_privacy_configs_are_refused() {
        for (json, expected) in [
            (
                r#"{"filters":[{"type":"hash","config":{"field":"a","algorithm":"hmac-sha256"}}]}"#,
                "config.key",
            ),
            (
                r#"{"filters":[{"type":"hash","config":{"field":"a","algorithm":"md5"}}]}"#,
                "config.algorithm",
            ),
            (
                r#"{"filters":[{"type":"sample","config":{"rate":1.5}}]}"#,
                "config.rate",
            ),
            (
                r#"{"filters":[{"type":"regex_extract","config":{"field":"a","pattern":"(\\d+)"}}]}"#,
                "name the groups",
            ),
            (
                r#"{"filters":[{"type":"regex_replace","config":{"field":"a","pattern":"(","replacement":""}}]}"#,
                "config.pattern",
            ),
            (
                r#"{"filters":[{"type":"mask","config":{"keep_prefix":1}}]}"#,
                "set field or fields",
            ),
        ] {
            let error = pipeline(json).unwrap_err().to_string();
            assert!(error.contains(expected), "{json}: {error}");
        }
    }

    #[test]
    fn parsing_converting_and_event_time() {
        use arrow::array::TimestampMicrosecondArray;
        use arrow::datatypes::TimestampMicrosecondType;
        let batch = RecordBatch::try_from_iter(vec![
            (
                "body",
                Arc::new(StringArray::from(vec![
                    r#"{"user":"bob","n":1}"#,
                    "user=eve n=2",
                ])) as ArrayRef,
            ),
            (
                "when",
                Arc::new(StringArray::from(vec![
                    "24/Nov/2026:10:00:00 +0200",
                    "not a time",
                ])) as ArrayRef,
            ),
            (
                "port",
                Arc::new(StringArray::from(vec!["22", "x"])) as ArrayRef,
            ),
            (
                "event_time",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(5), Some(7)]).with_timezone("UTC"),
                ) as ArrayRef,
            ),
        ])
        .unwrap();
        let spec = r#"{"filters":[
            {"type":"json_parse","config":{"field":"body"}},
            {"type":"kv","config":{"field":"body"}},
            {"type":"convert","config":{"field":"port","to":"int"}},
            {"type":"date_parse","config":{"field":"when","format":"%d/%b/%Y:%H:%M:%S %z"}}
        ]}"#;
        let out = pipeline(spec).unwrap().run(batch).unwrap();
        assert_eq!(text(&out, "user"), [Some("bob".into()), None]);
        assert_eq!(
            text(&out, "body_user"),
            [None, Some("eve".into())],
            "kv after json: the name is taken"
        );
        let port = out
            .column_by_name("port")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!((port.value(0), port.is_null(1)), (22, true));
        let event = out
            .column_by_name("event_time")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(
            event.value(0),
            chrono::DateTime::parse_from_rfc3339("2026-11-24T08:00:00Z")
                .unwrap()
                .timestamp_micros()
        );
        assert_eq!(
            event.value(1),
            7,
            "an unparsable time keeps the old event time"
        );
        for (json, expected) in [
            (
                r#"{"filters":[{"type":"convert","config":{"field":"a","to":"uuid"}}]}"#,
                "config.to",
            ),
            (
                r#"{"filters":[{"type":"date_parse","config":{"field":"a","timezone":"Mars/Base"}}]}"#,
                "config.timezone",
            ),
            (
                r#"{"filters":[{"type":"date_parse","config":{"field":"a","format":"dd/mm"}}]}"#,
                "config.format",
            ),
            (
                r#"{"filters":[{"type":"kv","config":{"field":"a"},"condition":"x == 1"}]}"#,
                "condition:",
            ),
        ] {
            let error = pipeline(json).unwrap_err().to_string();
            assert!(error.contains(expected), "{json}: {error}");
        }
    }

    #[test]
    fn json_flatten_names_nested_keys_with_dots_for_conditions() {
        let batch = RecordBatch::try_from_iter(vec![(
            "body",
            Arc::new(StringArray::from(vec![
                r#"{"user":{"name":"bob","geo":{"cc":"SE"}},"tags":["a"],"n":1}"#,
                r#"{"user":{"name":"eve"}}"#,
                "not json",
            ])) as ArrayRef,
        )])
        .unwrap();
        let spec = r#"{"filters":[
            {"type":"json_flatten","config":{"field":"body"}},
            {"type":"add_field","config":{"field":"who","value":"${user.name}@${user.geo.cc}"},"condition":"user.name != 'eve'"}
        ]}"#;
        let out = pipeline(spec).unwrap().run(batch).unwrap();
        assert_eq!(
            text(&out, "user.name"),
            [Some("bob".into()), Some("eve".into()), None]
        );
        assert_eq!(text(&out, "user.geo.cc")[0], Some("SE".into()));
        assert_eq!(text(&out, "tags")[0], Some(r#"["a"]"#.into()));
        assert_eq!(text(&out, "who"), [Some("bob@SE".into()), None, None]);
        let error =
            pipeline(r#"{"filters":[{"type":"add_field","config":{"field":"a","value":"${b"}}]}"#)
                .unwrap_err()
                .to_string();
        assert!(error.contains("config.value: unclosed"), "{error}");
        let error =
            pipeline(r#"{"filters":[{"type":"json_flatten","config":{"field":"a","depth":2}}]}"#)
                .unwrap_err()
                .to_string();
        assert!(error.contains("unknown field `depth`"), "{error}");
    }

    #[test]
    fn a_pipeline_past_max_filters_is_refused_at_save_time() {
        let filter = r#"{"type":"trim","config":{"field":"src"}}"#;
        let spec = |count: usize| format!(r#"{{"filters":[{}]}}"#, vec![filter; count].join(","));
        let max = TransformLimits::default().max_filters;
        assert!(pipeline(&spec(max)).is_ok());
        let error = pipeline(&spec(max + 1)).unwrap_err().to_string();
        assert!(error.contains("at most 64 filters"), "{error}");
    }

    #[test]
    fn twelve_doublings_of_a_megabyte_event_stop_at_the_value_limit() {
        let filter = r#"{"type":"regex_replace","config":{"field":"message","pattern":"(?s)(.*)","replacement":"$1$1"}}"#;
        let spec = format!(r#"{{"filters":[{}]}}"#, [filter; 12].join(","));
        let event = "e".repeat(1_000_000);
        let batch = RecordBatch::try_from_iter(vec![(
            "message",
            Arc::new(StringArray::from(vec![event.as_str()])) as ArrayRef,
        )])
        .unwrap();
        let error = pipeline(&spec).unwrap().run(batch).unwrap_err();
        assert!(
            matches!(&error, TransformError::Limit { index: 0, .. }),
            "the first doubling already passes 1 MiB: {error}"
        );
    }

    #[test]
    fn templates_and_batch_growth_are_bounded_too() {
        let spec = format!(
            r#"{{"filters":[{{"type":"add_field","config":{{"field":"big","value":"{}"}}}}]}}"#,
            "${src}".repeat(200_000)
        );
        let error = pipeline(&spec)
            .unwrap()
            .run(batch())
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_value_bytes"), "{error}");
        let limits = TransformLimits {
            max_batch_bytes: 1,
            ..TransformLimits::default()
        };
        let spec: PipelineSpec = serde_json::from_str(
            r#"{"filters":[{"type":"add_field","config":{"field":"env","value":"prod"}}]}"#,
        )
        .unwrap();
        let error = Pipeline::compile_with_limits(&spec, &GeoIp::default(), &limits)
            .unwrap()
            .run(batch())
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_batch_bytes"), "{error}");
    }

    #[test]
    fn traced_runs_report_rows_and_fields_per_filter() {
        let spec = r#"{"filters":[{"type":"drop","config":{"condition":"action == 'deny'"}},{"type":"rename_field","config":{"from":"src","to":"source_ip"}}]}"#;
        let (result, reports) = pipeline(spec).unwrap().run_traced(batch());
        assert_eq!(result.unwrap().num_rows(), 3);
        assert_eq!((reports[0].rows_in, reports[0].rows_out), (4, 3));
        assert_eq!(
            (
                reports[1].fields_added.clone(),
                reports[1].fields_removed.clone()
            ),
            (vec!["source_ip".to_owned()], vec!["src".to_owned()])
        );
    }
}
