//! NetFlow v9 and IPFIX data sets: records decoded a column at a time through the template's
//! plan when it has one, field by field through the row path otherwise. Options records
//! announce sampling intervals (per domain, or per sampler), the exporter's boot time, and
//! interface, VRF and application names (`names`).

use std::collections::HashMap;
use std::net::IpAddr;

use super::names::{AnnouncedInRecord, Insert};
use super::{FlowDecoder, FlowLimits, Message, NameKey, Outcome};
use crate::bytes::Cursor;
use crate::elements::{TimeBase, TimeParts, apply, resolve_times};
use crate::error::DecodeError;
use crate::metrics::{Event, ExporterScope};
use crate::plan::{Sampling, SetFacts};
use crate::record::RecordContext;
use crate::templates::{TemplateKey, VARIABLE_LENGTH};

/// The sampler or selector a record names (`samplerId`/`FLOW_SAMPLER_ID` 48, `selectorId`
/// 302), if `element` is one.
fn sampler_id(enterprise: u32, element: u16, value: &[u8]) -> Option<u64> {
    (enterprise == 0 && matches!(element, 48 | 302) && (1..=8).contains(&value.len()))
        .then(|| crate::bytes::unsigned(value))
}

/// Entries of the sampling and boot-time maps, per exporter and in total (entries are never
/// removed: options data repeats the same ones).
#[derive(Debug, Default)]
pub(super) struct OptionsBudget {
    per_exporter: HashMap<Option<IpAddr>, usize>,
    entries: usize,
}

impl OptionsBudget {
    /// Whether options data of `exporter` may add an entry (`known`: it replaces one, which
    /// costs nothing); counts the entry when it may. When it may not, the exporter's rows go
    /// without that sampling rate or boot time, and the caller counts `options_refused`.
    pub(super) fn admit(
        &mut self,
        exporter: Option<IpAddr>,
        known: bool,
        limits: &FlowLimits,
    ) -> bool {
        if known {
            return true;
        }
        let entries = self.per_exporter.get(&exporter).copied().unwrap_or(0);
        if entries >= limits.max_options_entries_per_exporter
            || self.entries >= limits.max_options_entries
        {
            return false;
        }
        self.per_exporter.insert(exporter, entries + 1);
        self.entries += 1;
        true
    }
}

impl FlowDecoder {
    /// Decodes the records of one data set; returns how many flow rows it appended.
    pub(super) fn data_set(
        &mut self,
        key: &TemplateKey,
        body: &[u8],
        message: &Message,
    ) -> Outcome<usize> {
        let Some(template) = self.templates.get(key) else {
            return Ok(0);
        };
        if template.min_record_len == 0 {
            return Ok(0);
        }
        let context = RecordContext {
            receive_time_micros: message.receive_time_micros,
            exporter: message.exporter,
            protocol: message.protocol.name(),
        };
        let options = template.options;
        let domain_key = (message.exporter, message.domain);
        #[cfg(test)]
        let plan = template.plan.as_ref().filter(|_| !self.row_path_only);
        #[cfg(not(test))]
        let plan = template.plan.as_ref();
        if let Some(plan) = plan {
            let whole = body.len() / plan.record_len;
            let records = &body[..whole * plan.record_len];
            if plan.fits(records) {
                let domain_rate = self.sampling.get(&domain_key).copied();
                let rate_of = |id| {
                    self.sampler_rates
                        .get(&(message.exporter, message.domain, id))
                        .copied()
                        .or(domain_rate)
                };
                let sampling = if !self.sampler_rates.is_empty()
                    && plan.sampler_rates(records, &mut self.rates, rate_of)
                {
                    Sampling::PerRecord(&self.rates)
                } else {
                    Sampling::Shared(domain_rate)
                };
                let facts = SetFacts {
                    context,
                    names: self.names.scope(message.exporter, message.domain),
                    sequence: Some(u64::from(message.sequence)),
                    observation_domain: Some(message.domain),
                    sampling,
                    times: TimeBase {
                        system_init_ms: self.system_init.get(&domain_key).copied(),
                        uptime_base: message.uptime_base,
                        export_micros: message.export_micros,
                    },
                };
                return Ok(plan.append(records, &facts, &mut self.builders, &mut self.times));
            }
        }
        let mut cursor = Cursor::new(body);
        let mut rows = 0;
        // Fewer bytes than a record are padding.
        while cursor.remaining() >= template.min_record_len {
            self.record.clear();
            let mut times = TimeParts::default();
            let mut announced_sampling = None;
            let mut announced_init = None;
            let mut sampler = None;
            let mut announced = AnnouncedInRecord::default();
            for field in &template.fields {
                let length = if field.length == VARIABLE_LENGTH {
                    match cursor.u8() {
                        Some(255) => cursor.u16().map(usize::from),
                        short => short.map(usize::from),
                    }
                } else {
                    Some(usize::from(field.length))
                };
                let value = length
                    .and_then(|length| cursor.take(length))
                    .ok_or_else(|| {
                        DecodeError::truncated(format!(
                            "template {} record truncated at element {}",
                            key.template_id, field.element
                        ))
                    })?;
                sampler = sampler.or(sampler_id(field.enterprise, field.element, value));
                if options {
                    // Sampling interval (34), samplingPacketInterval (305), or v9's
                    // FLOW_SAMPLER_RANDOM_INTERVAL (50).
                    if field.enterprise == 0
                        && matches!(field.element, 34 | 305 | 50)
                        && (1..=4).contains(&value.len())
                    {
                        announced_sampling = Some(crate::bytes::unsigned(value) as u32);
                    }
                    if field.enterprise == 0 && field.element == 160 && value.len() == 8 {
                        announced_init = Some(crate::bytes::unsigned(value) as i64);
                    }
                    announced.field(field.enterprise, field.element, value);
                } else {
                    apply(
                        &mut self.record,
                        &mut times,
                        field.enterprise,
                        field.element,
                        value,
                    );
                }
            }
            if options {
                let rate = announced_sampling.filter(|rate| *rate > 0);
                let budget = &mut self.options_budget;
                let mut admitted = true;
                match (rate, sampler) {
                    // One sampler's interval (Cisco announces each sampler this way).
                    (Some(rate), Some(id)) => {
                        let key = (message.exporter, message.domain, id);
                        let known = self.sampler_rates.contains_key(&key);
                        admitted &= budget.admit(message.exporter, known, &self.limits);
                        if admitted {
                            self.sampler_rates.insert(key, rate);
                        }
                    }
                    (Some(rate), None) => {
                        let known = self.sampling.contains_key(&domain_key);
                        admitted &= budget.admit(message.exporter, known, &self.limits);
                        if admitted && self.sampling.insert(domain_key, rate) != Some(rate) {
                            self.generation += 1;
                        }
                    }
                    (None, _) => {}
                }
                if let Some(init) = announced_init {
                    let known = self.system_init.contains_key(&domain_key);
                    let admit = budget.admit(message.exporter, known, &self.limits);
                    if admit && self.system_init.insert(domain_key, init) != Some(init) {
                        self.generation += 1;
                    }
                    admitted &= admit;
                }
                for (kind, engine, id, name) in announced.into_names() {
                    let key = NameKey {
                        exporter: message.exporter,
                        domain: Some(message.domain),
                        kind,
                        engine,
                        id,
                    };
                    let limits = &self.limits;
                    match self.names.announce(
                        key,
                        name,
                        limits.max_names_per_exporter,
                        limits.max_names,
                    ) {
                        Insert::Changed => self.generation += 1,
                        Insert::Unchanged => {}
                        Insert::Refused => admitted = false,
                    }
                }
                if !admitted {
                    let scope = ExporterScope {
                        exporter: message.exporter,
                        domain: Some(message.domain),
                    };
                    self.metrics.count(scope, Event::OptionsRefused);
                }
                continue;
            }
            if times.system_init_ms.is_none() {
                times.system_init_ms = self.system_init.get(&domain_key).copied();
            }
            resolve_times(
                &mut self.record,
                &times,
                message.uptime_base,
                message.export_micros,
            );
            self.record.sequence = Some(u64::from(message.sequence));
            self.record.observation_domain = Some(message.domain);
            if self.record.sampling_rate.is_none() {
                self.record.sampling_rate = match sampler {
                    Some(id) => self
                        .sampler_rates
                        .get(&(message.exporter, message.domain, id))
                        .copied(),
                    None => None,
                }
                .or_else(|| self.sampling.get(&domain_key).copied());
            }
            if let Some(names) = self.names.scope(message.exporter, message.domain) {
                names.apply(&mut self.record);
            }
            self.builders.append(&context, &self.record);
            rows += 1;
        }
        Ok(rows)
    }
}
