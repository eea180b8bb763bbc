//! Templates per (exporter, observation domain, template id), bounded.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::metrics::TemplateRefusal;
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

/// What one stored template costs against the byte limits, beyond its fields and plan: the
/// map entry (key and template, the compiled plan's struct included) with room for the hash
/// map's slack (it grows by doubling, so up to half its slots are empty).
const ENTRY_OVERHEAD: usize = 2 * std::mem::size_of::<(TemplateKey, Template)>();

impl Template {
    /// Memory this template holds while stored: its field list, its compiled plan and its map
    /// entry. What `FlowLimits::max_template_bytes_per_exporter` and `max_template_bytes`
    /// count: 8 bytes a field, up to 48 more for a field the plan keeps as an extra, and about
    /// 5.6 KiB for the entry (a 16,000-field template costs about 880 KiB).
    pub(crate) fn cost_bytes(&self) -> usize {
        ENTRY_OVERHEAD
            + self.fields.capacity() * std::mem::size_of::<FieldSpec>()
            + self.plan.as_ref().map_or(0, Plan::heap_bytes)
    }
}

/// The template limits of a decoder (from `FlowLimits`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TemplateLimits {
    pub per_exporter: usize,
    pub total: usize,
    pub bytes_per_exporter: usize,
    pub bytes_total: usize,
}

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    templates: usize,
    bytes: usize,
}

/// Bounded template storage: an exporter that announces endless or enormous templates cannot
/// grow memory past the limits, counted in templates and in bytes, per exporter and in total.
#[derive(Debug, Default)]
pub(crate) struct Templates {
    by_key: HashMap<TemplateKey, Template>,
    /// Exporters with at least one template (so bounded by the template count).
    per_exporter: HashMap<Option<IpAddr>, Usage>,
    bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    New,
    Replaced,
    /// The same template again (an exporter's periodic refresh): nothing changed.
    Unchanged,
    Refused(TemplateRefusal),
}

impl Templates {
    pub(crate) fn get(&self, key: &TemplateKey) -> Option<&Template> {
        self.by_key.get(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Memory the stored templates hold, as [`Template::cost_bytes`] counts it.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TemplateKey, &Template)> {
        self.by_key.iter()
    }

    pub(crate) fn insert(
        &mut self,
        key: TemplateKey,
        template: Template,
        limits: &TemplateLimits,
    ) -> Stored {
        let cost = template.cost_bytes();
        let usage = self
            .per_exporter
            .get(&key.exporter)
            .copied()
            .unwrap_or_default();
        let previous = match self.by_key.get(&key) {
            Some(existing)
                if existing.options == template.options && existing.fields == template.fields =>
            {
                return Stored::Unchanged;
            }
            Some(existing) => Some(existing.cost_bytes()),
            None => {
                if usage.templates >= limits.per_exporter {
                    return Stored::Refused(TemplateRefusal::ExporterCount);
                }
                if self.by_key.len() >= limits.total {
                    return Stored::Refused(TemplateRefusal::TotalCount);
                }
                None
            }
        };
        // A replacement is charged only what it adds; the old layout stays when it does not fit.
        let freed = previous.unwrap_or(0);
        if (usage.bytes - freed).saturating_add(cost) > limits.bytes_per_exporter {
            return Stored::Refused(TemplateRefusal::ExporterBytes);
        }
        if (self.bytes - freed).saturating_add(cost) > limits.bytes_total {
            return Stored::Refused(TemplateRefusal::TotalBytes);
        }
        // Checked before an entry is made, so refused exporters leave nothing behind.
        let usage = self.per_exporter.entry(key.exporter).or_default();
        usage.bytes = usage.bytes - freed + cost;
        self.bytes = self.bytes - freed + cost;
        self.by_key.insert(key, template);
        match previous {
            Some(_) => Stored::Replaced,
            None => {
                usage.templates += 1;
                Stored::New
            }
        }
    }

    /// Withdraws one template, or with `template_id` None every template of the domain (IPFIX
    /// all-templates withdrawal); returns how many it removed.
    pub(crate) fn withdraw(
        &mut self,
        exporter: Option<IpAddr>,
        domain: u32,
        template_id: Option<u16>,
    ) -> usize {
        let (mut removed, mut freed) = (0, 0);
        match template_id {
            Some(template_id) => {
                let key = TemplateKey {
                    exporter,
                    domain,
                    template_id,
                };
                if let Some(template) = self.by_key.remove(&key) {
                    removed = 1;
                    freed = template.cost_bytes();
                }
            }
            None => self.by_key.retain(|key, template| {
                let keep = !(key.exporter == exporter && key.domain == domain);
                if !keep {
                    removed += 1;
                    freed += template.cost_bytes();
                }
                keep
            }),
        }
        self.bytes -= freed;
        if let Some(usage) = self.per_exporter.get_mut(&exporter) {
            usage.templates = usage.templates.saturating_sub(removed);
            usage.bytes = usage.bytes.saturating_sub(freed);
            if usage.templates == 0 {
                self.per_exporter.remove(&exporter);
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(fields: u16) -> Template {
        let fields = (0..fields)
            .map(|n| FieldSpec {
                element: 1000 + n,
                length: 4,
                enterprise: 0,
            })
            .collect();
        Template::new(fields, false)
    }

    fn key(exporter: u8, template_id: u16) -> TemplateKey {
        TemplateKey {
            exporter: Some(IpAddr::from([192, 0, 2, exporter])),
            domain: 0,
            template_id,
        }
    }

    #[test]
    fn bytes_are_counted_per_exporter_and_in_total_and_given_back() {
        let one = template(100).cost_bytes();
        assert!(one > 100 * 8, "fields and plan count: {one}");
        let limits = TemplateLimits {
            per_exporter: 100,
            total: 100,
            bytes_per_exporter: 2 * one,
            bytes_total: 3 * one,
        };
        let mut templates = Templates::default();
        assert_eq!(
            templates.insert(key(1, 256), template(100), &limits),
            Stored::New
        );
        assert_eq!(
            templates.insert(key(1, 257), template(100), &limits),
            Stored::New
        );
        assert_eq!(
            templates.insert(key(1, 258), template(100), &limits),
            Stored::Refused(TemplateRefusal::ExporterBytes)
        );
        assert_eq!(
            templates.insert(key(1, 257), template(101), &limits),
            Stored::Refused(TemplateRefusal::ExporterBytes),
            "a larger layout for a full exporter is refused and the old one stays"
        );
        assert_eq!(
            templates.insert(key(1, 257), template(99), &limits),
            Stored::Replaced
        );
        assert_eq!(
            templates.insert(key(2, 256), template(100), &limits),
            Stored::New
        );
        assert_eq!(
            templates.insert(key(3, 256), template(100), &limits),
            Stored::Refused(TemplateRefusal::TotalBytes)
        );
        assert_eq!(templates.bytes(), 2 * one + template(99).cost_bytes());
        assert_eq!(templates.withdraw(key(1, 0).exporter, 0, None), 2);
        assert_eq!(templates.bytes(), one);
        assert_eq!(
            templates.insert(key(3, 256), template(100), &limits),
            Stored::New
        );
    }
}
