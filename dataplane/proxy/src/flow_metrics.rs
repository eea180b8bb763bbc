//! Per-exporter flow template metrics in `/metrics`: how many templates each exporter and
//! observation domain has, what it made the decoder learn, refuse, hold and drop, and its
//! malformed datagrams by cause. Each worker publishes the change since its last publication,
//! so workers sharing a dataset add up instead of overwriting each other.

use std::collections::HashMap;

use bytefreezer_api::metrics::{
    PROXY_FLOW_DATA_SETS_TOTAL, PROXY_FLOW_MALFORMED_TOTAL, PROXY_FLOW_ODD_LENGTH_FIELDS_TOTAL,
    PROXY_FLOW_OPTIONS_REFUSED_TOTAL, PROXY_FLOW_STATE_BYTES, PROXY_FLOW_TEMPLATE_EVENTS_TOTAL,
    PROXY_FLOW_TEMPLATES, PROXY_FLOW_TEMPLATES_REFUSED_TOTAL,
};
use bytefreezer_decode_flow::{ExporterMetrics, ExporterScope, MalformedCause, TemplateRefusal};
use bytefreezer_telemetry::Registry;

/// What this worker last published, per scope.
#[derive(Default)]
pub struct FlowMetricsPublisher {
    published: HashMap<ExporterScope, ExporterMetrics>,
    overflow: ExporterMetrics,
    /// Template and held bytes last published.
    state_bytes: [i64; 2],
}

impl FlowMetricsPublisher {
    pub fn publish<'a>(
        &mut self,
        registry: &Registry,
        tenant_id: &str,
        dataset_id: &str,
        scopes: impl Iterator<Item = (&'a ExporterScope, &'a ExporterMetrics)>,
        overflow: &ExporterMetrics,
    ) {
        for (scope, now) in scopes {
            let before = self.published.get(scope).copied().unwrap_or_default();
            if before != *now {
                let (exporter, domain) = scope_labels(scope);
                publish_change(
                    registry,
                    [tenant_id, dataset_id, &exporter, &domain],
                    &before,
                    now,
                );
                self.published.insert(*scope, *now);
            }
        }
        if *overflow != self.overflow {
            // Scopes beyond the decoder's limit, summed: still counted, under one label.
            publish_change(
                registry,
                [tenant_id, dataset_id, "other", "other"],
                &self.overflow,
                overflow,
            );
            self.overflow = *overflow;
        }
    }
}

impl FlowMetricsPublisher {
    /// Publishes the memory the worker's decoder holds in templates and held data sets.
    pub fn publish_state_bytes(
        &mut self,
        registry: &Registry,
        tenant_id: &str,
        dataset_id: &str,
        now: [usize; 2],
    ) {
        for (index, kind) in ["templates", "held_sets"].into_iter().enumerate() {
            let now = i64::try_from(now[index]).unwrap_or(i64::MAX);
            let change = now - self.state_bytes[index];
            if change != 0 {
                registry
                    .gauge(
                        PROXY_FLOW_STATE_BYTES.name,
                        PROXY_FLOW_STATE_BYTES.help,
                        &[
                            ("tenant", tenant_id),
                            ("dataset", dataset_id),
                            ("kind", kind),
                        ],
                    )
                    .add(change);
                self.state_bytes[index] = now;
            }
        }
    }

    /// The worker stops decoding this dataset: its templates no longer count as held.
    pub fn retract(&mut self, registry: &Registry, tenant_id: &str, dataset_id: &str) {
        self.publish_state_bytes(registry, tenant_id, dataset_id, [0, 0]);
        for (scope, published) in self.published.drain() {
            if published.templates == 0 {
                continue;
            }
            let (exporter, domain) = scope_labels(&scope);
            registry
                .gauge(
                    PROXY_FLOW_TEMPLATES.name,
                    PROXY_FLOW_TEMPLATES.help,
                    &[
                        ("tenant", tenant_id),
                        ("dataset", dataset_id),
                        ("exporter", &exporter),
                        ("domain", &domain),
                    ],
                )
                .add(-(published.templates as i64));
        }
    }
}

/// The `exporter` and `domain` label values of a scope.
fn scope_labels(scope: &ExporterScope) -> (String, String) {
    let exporter = scope
        .exporter
        .map_or_else(|| "unknown".to_owned(), |address| address.to_string());
    let domain = scope
        .domain
        .map_or_else(|| "none".to_owned(), |domain| domain.to_string());
    (exporter, domain)
}

fn publish_change(
    registry: &Registry,
    [tenant, dataset, exporter, domain]: [&str; 4],
    before: &ExporterMetrics,
    now: &ExporterMetrics,
) {
    let scope = [
        ("tenant", tenant),
        ("dataset", dataset),
        ("exporter", exporter),
        ("domain", domain),
    ];
    let with = |name: &'static str, value: &'static str| {
        let mut labels = scope.to_vec();
        labels.push((name, value));
        labels
    };
    let templates_change = now.templates as i64 - before.templates as i64;
    if templates_change != 0 {
        registry
            .gauge(PROXY_FLOW_TEMPLATES.name, PROXY_FLOW_TEMPLATES.help, &scope)
            .add(templates_change);
    }
    for (event, now, before) in [
        ("learnt", now.templates_learnt, before.templates_learnt),
        (
            "refreshed",
            now.templates_refreshed,
            before.templates_refreshed,
        ),
        (
            "withdrawn",
            now.templates_withdrawn,
            before.templates_withdrawn,
        ),
        ("refused", now.templates_refused, before.templates_refused),
    ] {
        if now > before {
            registry
                .counter(
                    PROXY_FLOW_TEMPLATE_EVENTS_TOTAL.name,
                    PROXY_FLOW_TEMPLATE_EVENTS_TOTAL.help,
                    &with("event", event),
                )
                .increment(now - before);
        }
    }
    for cause in TemplateRefusal::ALL {
        let (now, before) = (now.refused.get(cause), before.refused.get(cause));
        if now > before {
            registry
                .counter(
                    PROXY_FLOW_TEMPLATES_REFUSED_TOTAL.name,
                    PROXY_FLOW_TEMPLATES_REFUSED_TOTAL.help,
                    &with("cause", cause.name()),
                )
                .increment(now - before);
        }
    }
    if now.options_refused > before.options_refused {
        registry
            .counter(
                PROXY_FLOW_OPTIONS_REFUSED_TOTAL.name,
                PROXY_FLOW_OPTIONS_REFUSED_TOTAL.help,
                &scope,
            )
            .increment(now.options_refused - before.options_refused);
    }
    if now.odd_length_fields > before.odd_length_fields {
        registry
            .counter(
                PROXY_FLOW_ODD_LENGTH_FIELDS_TOTAL.name,
                PROXY_FLOW_ODD_LENGTH_FIELDS_TOTAL.help,
                &scope,
            )
            .increment(now.odd_length_fields - before.odd_length_fields);
    }
    for (outcome, now, before) in [
        ("held", now.sets_held, before.sets_held),
        ("released", now.sets_released, before.sets_released),
        ("dropped", now.sets_dropped, before.sets_dropped),
    ] {
        if now > before {
            registry
                .counter(
                    PROXY_FLOW_DATA_SETS_TOTAL.name,
                    PROXY_FLOW_DATA_SETS_TOTAL.help,
                    &with("outcome", outcome),
                )
                .increment(now - before);
        }
    }
    for cause in MalformedCause::ALL {
        let (now, before) = (now.malformed.get(cause), before.malformed.get(cause));
        if now > before {
            registry
                .counter(
                    PROXY_FLOW_MALFORMED_TOTAL.name,
                    PROXY_FLOW_MALFORMED_TOTAL.help,
                    &with("cause", cause.name()),
                )
                .increment(now - before);
        }
    }
}
