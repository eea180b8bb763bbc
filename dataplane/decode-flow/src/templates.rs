//! Templates per (exporter, observation domain, template id), bounded.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::plan::Plan;

/// Templates are scoped per exporter and observation domain (NetFlow v9 source id), as RFC 3954
/// and RFC 7011 require: two routers may use the same template id for different layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    pub exporter: Option<IpAddr>,
    pub domain: u32,
    pub template_id: u16,
}

/// Length of a variable-length IPFIX field in a template.
pub(crate) const VARIABLE_LENGTH: u16 = 65_535;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldSpec {
    pub element: u16,
    pub length: u16,
    pub enterprise: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub fields: Vec<FieldSpec>,
    /// Options templates describe metadata (sampling, interface names), not flows.
    pub options: bool,
    /// The fewest bytes one record can take (a variable-length field takes at least one).
    pub min_record_len: usize,
    /// How flow records of this template decode a column at a time; `None` for options
    /// templates and layouts only the row path handles.
    pub plan: Option<Plan>,
}

impl Template {
    pub(crate) fn new(fields: Vec<FieldSpec>, options: bool) -> Template {
        let min_record_len = fields
            .iter()
            .map(|f| {
                if f.length == VARIABLE_LENGTH {
                    1
                } else {
                    usize::from(f.length)
                }
            })
            .sum();
        let plan = if options {
            None
        } else {
            Plan::compile(&fields)
        };
        Template {
            fields,
            options,
            min_record_len,
            plan,
        }
    }
}

/// Bounded template storage: an exporter that announces endless templates cannot grow memory.
#[derive(Debug, Default)]
pub(crate) struct Templates {
    by_key: HashMap<TemplateKey, Template>,
    per_exporter: HashMap<Option<IpAddr>, usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    New,
    Replaced,
    /// The same template again (an exporter's periodic refresh): nothing changed.
    Unchanged,
    Refused,
}

impl Templates {
    pub(crate) fn get(&self, key: &TemplateKey) -> Option<&Template> {
        self.by_key.get(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TemplateKey, &Template)> {
        self.by_key.iter()
    }

    pub(crate) fn insert(
        &mut self,
        key: TemplateKey,
        template: Template,
        max_per_exporter: usize,
        max_total: usize,
    ) -> Stored {
        if let Some(existing) = self.by_key.get_mut(&key) {
            if existing.options == template.options && existing.fields == template.fields {
                return Stored::Unchanged;
            }
            *existing = template;
            return Stored::Replaced;
        }
        // Looked up before an entry is made, so refused exporters leave nothing behind.
        let count = self.per_exporter.get(&key.exporter).copied().unwrap_or(0);
        if count >= max_per_exporter || self.by_key.len() >= max_total {
            return Stored::Refused;
        }
        self.per_exporter.insert(key.exporter, count + 1);
        self.by_key.insert(key, template);
        Stored::New
    }

    /// Withdraws one template, or with `template_id` None every template of the domain (IPFIX
    /// all-templates withdrawal); returns how many it removed.
    pub(crate) fn withdraw(
        &mut self,
        exporter: Option<IpAddr>,
        domain: u32,
        template_id: Option<u16>,
    ) -> usize {
        let removed = match template_id {
            Some(template_id) => {
                let key = TemplateKey {
                    exporter,
                    domain,
                    template_id,
                };
                usize::from(self.by_key.remove(&key).is_some())
            }
            None => {
                let before = self.by_key.len();
                self.by_key
                    .retain(|key, _| !(key.exporter == exporter && key.domain == domain));
                before - self.by_key.len()
            }
        };
        if let Some(count) = self.per_exporter.get_mut(&exporter) {
            *count = count.saturating_sub(removed);
            if *count == 0 {
                self.per_exporter.remove(&exporter);
            }
        }
        removed
    }
}
