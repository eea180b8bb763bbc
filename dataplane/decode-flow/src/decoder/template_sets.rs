//! NetFlow v9 and IPFIX template and options template sets: templates learnt, refreshed,
//! refused or (IPFIX) withdrawn, and the data held for a template released when it comes.

use super::{DecodeReport, FlowDecoder, Message, Outcome, Protocol};
use crate::bytes::Cursor;
use crate::elements::length_fits;
use crate::error::DecodeError;
use crate::metrics::{Event, TemplateRefusal};
use crate::templates::{FieldSpec, Stored, Template, TemplateKey};

impl FlowDecoder {
    pub(super) fn template_set(
        &mut self,
        body: &[u8],
        message: &Message,
        options: bool,
        report: &mut DecodeReport,
    ) -> Outcome<()> {
        let mut cursor = Cursor::new(body);
        let truncated = || {
            DecodeError::template(if options {
                "options template truncated"
            } else {
                "template truncated"
            })
        };
        // What is left after the last template is padding.
        while cursor.remaining() >= 4 {
            let template_id = cursor.u16().unwrap_or(0);
            let (fields, scope_fields) = match (message.protocol, options) {
                (Protocol::V9, true) => {
                    let scope_bytes = usize::from(cursor.u16().ok_or_else(truncated)?);
                    let option_bytes = usize::from(cursor.u16().ok_or_else(truncated)?);
                    ((scope_bytes + option_bytes) / 4, scope_bytes / 4)
                }
                (Protocol::Ipfix, true) => {
                    let count = usize::from(cursor.u16().ok_or_else(truncated)?);
                    if count == 0 {
                        self.withdraw(message, template_id);
                        continue;
                    }
                    let scope = usize::from(cursor.u16().ok_or_else(truncated)?);
                    (count, scope)
                }
                (_, false) => {
                    let count = usize::from(cursor.u16().ok_or_else(truncated)?);
                    if count == 0 && message.protocol == Protocol::Ipfix {
                        self.withdraw(message, template_id);
                        continue;
                    }
                    (count, 0)
                }
            };
            if template_id < 256 {
                return Err(DecodeError::template(format!(
                    "template id {template_id} is below 256"
                )));
            }
            if fields == 0 || scope_fields > fields {
                return Err(DecodeError::template(format!(
                    "template {template_id} has no usable fields"
                )));
            }
            let key = TemplateKey {
                exporter: message.exporter,
                domain: message.domain,
                template_id,
            };
            if fields > self.limits.max_template_fields {
                // Walked, not kept, to find the next template of the set.
                for _ in 0..fields {
                    let truncated =
                        || DecodeError::template(format!("template {template_id} truncated"));
                    let raw = cursor.u16().ok_or_else(truncated)?;
                    cursor.take(2).ok_or_else(truncated)?;
                    if message.protocol == Protocol::Ipfix && raw & 0x8000 != 0 {
                        cursor.take(4).ok_or_else(truncated)?;
                    }
                }
                let cause = TemplateRefusal::TooManyFields;
                self.count(
                    key.exporter,
                    Some(key.domain),
                    Event::TemplateRefused(cause),
                );
                report.refused_templates += 1;
                continue;
            }
            // Bounded by `max_template_fields`.
            let mut specs = Vec::with_capacity(fields);
            for index in 0..fields {
                let truncated =
                    || DecodeError::template(format!("template {template_id} truncated"));
                let raw = cursor.u16().ok_or_else(truncated)?;
                let length = cursor.u16().ok_or_else(truncated)?;
                let (element, enterprise) =
                    if message.protocol == Protocol::Ipfix && raw & 0x8000 != 0 {
                        (raw & 0x7fff, cursor.u32().ok_or_else(truncated)?)
                    } else {
                        (raw, 0)
                    };
                // NetFlow v9's scope types are not element numbers: its Interface scope is
                // the ifIndex IPFIX calls ingressInterface (10), its Line Card scope lineCardId
                // (141). The others (System, Cache, Template) name nothing a row uses.
                let element = match (message.protocol, index < scope_fields, element) {
                    (Protocol::V9, true, 2) => 10,
                    (Protocol::V9, true, 3) => 141,
                    _ => element,
                };
                specs.push(FieldSpec {
                    element,
                    length,
                    enterprise,
                });
            }
            let odd_length_fields = specs
                .iter()
                .filter(|f| !length_fits(f.enterprise, f.element, f.length))
                .count() as u64;
            let stored =
                self.templates
                    .insert(key, Template::new(specs, options), &self.limits.templates());
            let event = match stored {
                Stored::Refused(cause) => Event::TemplateRefused(cause),
                Stored::Unchanged => Event::TemplateRefreshed,
                Stored::New | Stored::Replaced => Event::TemplateLearnt {
                    new: stored == Stored::New,
                },
            };
            self.count(message.exporter, Some(message.domain), event);
            match stored {
                Stored::Refused(_) => report.refused_templates += 1,
                Stored::Unchanged => {
                    // Nothing to save again; data held for it (before a restore) still goes.
                    report.templates += 1;
                    self.release_held(&key, report);
                }
                Stored::New | Stored::Replaced => {
                    report.templates += 1;
                    self.generation += 1;
                    if !options && odd_length_fields > 0 {
                        self.count(
                            message.exporter,
                            Some(message.domain),
                            Event::OddLengthFields(odd_length_fields),
                        );
                    }
                    self.release_held(&key, report);
                }
            }
        }
        Ok(())
    }

    fn withdraw(&mut self, message: &Message, template_id: u16) {
        let which = match template_id {
            2 | 3 => None,
            id => Some(id),
        };
        let removed = self
            .templates
            .withdraw(message.exporter, message.domain, which);
        self.count(
            message.exporter,
            Some(message.domain),
            Event::TemplatesWithdrawn(removed),
        );
        self.generation += 1;
    }
}
