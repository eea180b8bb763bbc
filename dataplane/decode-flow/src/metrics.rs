//! Per-exporter template metrics: what each exporter and observation domain made the decoder
//! learn, hold, drop and refuse, as cumulative counters a caller turns into `/metrics` series.
//! Counted only when such an event happens, never per record.

use std::collections::HashMap;
use std::net::IpAddr;

/// Scopes tracked at most (further ones are summed in [`FlowDecoder::metrics_overflow`]).
///
/// [`FlowDecoder::metrics_overflow`]: crate::FlowDecoder::metrics_overflow
pub(crate) const MAX_SCOPES: usize = 4_096;

/// Whose metrics: an exporter (the datagram's sender) and an observation domain (IPFIX) or
/// source id (NetFlow v9). `domain` is `None` for NetFlow v5 and sFlow datagrams and for
/// datagrams too damaged to say (shorter than their header, unknown version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExporterScope {
    pub exporter: Option<IpAddr>,
    pub domain: Option<u32>,
}

/// Why a datagram was malformed (the records before the problem are kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MalformedCause {
    /// It ends before its header, a record or a sample does.
    Truncated,
    /// A length or count in it does not fit the datagram or the protocol's limits.
    BadLength,
    /// Not NetFlow v5, v9, IPFIX or sFlow v5.
    UnknownVersion,
    /// A template or options template that cannot be used.
    Template,
}

impl MalformedCause {
    pub const ALL: [MalformedCause; 4] = [
        MalformedCause::Truncated,
        MalformedCause::BadLength,
        MalformedCause::UnknownVersion,
        MalformedCause::Template,
    ];

    /// A label value: `truncated`, `bad_length`, `unknown_version`, `template`.
    pub fn name(self) -> &'static str {
        match self {
            MalformedCause::Truncated => "truncated",
            MalformedCause::BadLength => "bad_length",
            MalformedCause::UnknownVersion => "unknown_version",
            MalformedCause::Template => "template",
        }
    }
}

/// Why a template or options template was refused (the decoder keeps working without it;
/// its data sets are held, then dropped, and counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateRefusal {
    /// More fields than `FlowLimits::max_template_fields`.
    TooManyFields,
    /// The exporter already has `FlowLimits::max_templates_per_exporter` templates.
    ExporterCount,
    /// The decoder already holds `FlowLimits::max_templates` templates.
    TotalCount,
    /// It would take the exporter's templates past `FlowLimits::max_template_bytes_per_exporter`.
    ExporterBytes,
    /// It would take all templates past `FlowLimits::max_template_bytes`.
    TotalBytes,
}

impl TemplateRefusal {
    pub const ALL: [TemplateRefusal; 5] = [
        TemplateRefusal::TooManyFields,
        TemplateRefusal::ExporterCount,
        TemplateRefusal::TotalCount,
        TemplateRefusal::ExporterBytes,
        TemplateRefusal::TotalBytes,
    ];

    /// A label value: `too_many_fields`, `exporter_count`, `total_count`, `exporter_bytes`,
    /// `total_bytes`.
    pub fn name(self) -> &'static str {
        match self {
            TemplateRefusal::TooManyFields => "too_many_fields",
            TemplateRefusal::ExporterCount => "exporter_count",
            TemplateRefusal::TotalCount => "total_count",
            TemplateRefusal::ExporterBytes => "exporter_bytes",
            TemplateRefusal::TotalBytes => "total_bytes",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            TemplateRefusal::TooManyFields => 0,
            TemplateRefusal::ExporterCount => 1,
            TemplateRefusal::TotalCount => 2,
            TemplateRefusal::ExporterBytes => 3,
            TemplateRefusal::TotalBytes => 4,
        }
    }
}

/// Refused templates counted by cause.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefusedCounts(pub(crate) [u64; 5]);

impl RefusedCounts {
    pub fn get(&self, cause: TemplateRefusal) -> u64 {
        self.0[cause.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Malformed datagrams counted by cause.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MalformedCounts {
    pub truncated: u64,
    pub bad_length: u64,
    pub unknown_version: u64,
    pub template: u64,
}

impl MalformedCounts {
    pub fn get(&self, cause: MalformedCause) -> u64 {
        match cause {
            MalformedCause::Truncated => self.truncated,
            MalformedCause::BadLength => self.bad_length,
            MalformedCause::UnknownVersion => self.unknown_version,
            MalformedCause::Template => self.template,
        }
    }

    pub fn total(&self) -> u64 {
        MalformedCause::ALL
            .iter()
            .map(|cause| self.get(*cause))
            .sum()
    }

    fn add(&mut self, cause: MalformedCause) {
        let count = match cause {
            MalformedCause::Truncated => &mut self.truncated,
            MalformedCause::BadLength => &mut self.bad_length,
            MalformedCause::UnknownVersion => &mut self.unknown_version,
            MalformedCause::Template => &mut self.template,
        };
        *count += 1;
    }
}

/// One scope's metrics. `templates` is a gauge; everything else counts up from the decoder's
/// creation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExporterMetrics {
    /// Templates and options templates held now (restored ones included).
    pub templates: usize,
    /// Templates received that were new or changed a template's layout.
    pub templates_learnt: u64,
    /// Templates received again unchanged (exporters resend them periodically).
    pub templates_refreshed: u64,
    /// Templates removed by IPFIX withdrawals.
    pub templates_withdrawn: u64,
    /// Templates refused by a template limit (`refused` says which).
    pub templates_refused: u64,
    pub refused: RefusedCounts,
    /// Sampling intervals and boot times announced in options data that were not kept: the
    /// exporter, or all exporters, already announced `FlowLimits::max_options_entries_per_exporter`
    /// (or `max_options_entries`) of them.
    pub options_refused: u64,
    /// Fields of learnt flow templates whose announced length does not fit the column their
    /// element names (a 2-byte field where an IPv4 address is defined): their values are kept
    /// as hex in `extra_fields` instead.
    pub odd_length_fields: u64,
    /// Data sets that arrived before their template and were held for it.
    pub sets_held: u64,
    /// Held data sets decoded when their template came.
    pub sets_released: u64,
    /// Held data sets given up, too old or pushed out by newer ones: their records are lost.
    pub sets_dropped: u64,
    pub malformed: MalformedCounts,
}

/// What happened, to count in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    TemplateLearnt { new: bool },
    TemplateRefreshed,
    TemplatesWithdrawn(usize),
    TemplateRefused(TemplateRefusal),
    OptionsRefused,
    OddLengthFields(u64),
    TemplateRestored,
    SetHeld,
    SetReleased,
    SetDropped,
    Malformed(MalformedCause),
}

/// Metrics of at most [`MAX_SCOPES`] scopes; events of further scopes go to `overflow`.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    scopes: HashMap<ExporterScope, ExporterMetrics>,
    overflow: ExporterMetrics,
}

impl Metrics {
    pub(crate) fn count(&mut self, scope: ExporterScope, event: Event) {
        let metrics = if self.scopes.len() < MAX_SCOPES {
            self.scopes.entry(scope).or_default()
        } else {
            match self.scopes.get_mut(&scope) {
                Some(metrics) => metrics,
                None => &mut self.overflow,
            }
        };
        match event {
            Event::TemplateLearnt { new } => {
                metrics.templates_learnt += 1;
                metrics.templates += usize::from(new);
            }
            Event::TemplateRefreshed => metrics.templates_refreshed += 1,
            Event::TemplatesWithdrawn(removed) => {
                metrics.templates_withdrawn += removed as u64;
                metrics.templates = metrics.templates.saturating_sub(removed);
            }
            Event::TemplateRefused(cause) => {
                metrics.templates_refused += 1;
                metrics.refused.0[cause.index()] += 1;
            }
            Event::OptionsRefused => metrics.options_refused += 1,
            Event::OddLengthFields(fields) => metrics.odd_length_fields += fields,
            Event::TemplateRestored => metrics.templates += 1,
            Event::SetHeld => metrics.sets_held += 1,
            Event::SetReleased => metrics.sets_released += 1,
            Event::SetDropped => metrics.sets_dropped += 1,
            Event::Malformed(cause) => metrics.malformed.add(cause),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ExporterScope, &ExporterMetrics)> {
        self.scopes.iter()
    }

    pub(crate) fn overflow(&self) -> &ExporterMetrics {
        &self.overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_bounded_and_the_rest_is_summed() {
        let mut metrics = Metrics::default();
        for domain in 0..MAX_SCOPES as u32 + 10 {
            let scope = ExporterScope {
                exporter: None,
                domain: Some(domain),
            };
            metrics.count(scope, Event::TemplateLearnt { new: true });
            metrics.count(scope, Event::Malformed(MalformedCause::Truncated));
        }
        assert_eq!(metrics.iter().count(), MAX_SCOPES);
        assert_eq!(metrics.overflow().templates, 10);
        assert_eq!(metrics.overflow().malformed.total(), 10);
        let first = ExporterScope {
            exporter: None,
            domain: Some(0),
        };
        metrics.count(first, Event::TemplatesWithdrawn(1));
        let (_, kept) = metrics.iter().find(|(scope, _)| **scope == first).unwrap();
        assert_eq!(
            (
                kept.templates,
                kept.templates_withdrawn,
                kept.malformed.truncated
            ),
            (0, 1, 1),
            "known scopes keep counting when the table is full"
        );
    }
}
