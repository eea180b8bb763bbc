use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::bytes::Cursor;
use crate::elements::{TimeBase, TimeParts, apply, resolve_times};
use crate::metrics::{Event, ExporterMetrics, ExporterScope, Malformed, MalformedCause, Metrics};
use crate::netflow_v5;
use crate::plan::{Plan, SetFacts};
use crate::record::{FlowBuilders, FlowRecord, RecordContext};
use crate::templates::{FieldSpec, Stored, Template, TemplateKey, Templates, VARIABLE_LENGTH};

type Outcome<T> = Result<T, Malformed>;

/// Samplers whose announced interval is kept, over all exporters.
const MAX_SAMPLERS: usize = 65_536;

/// The sampler or selector a record names (`samplerId`/`FLOW_SAMPLER_ID` 48, `selectorId`
/// 302), if `element` is one.
fn sampler_id(enterprise: u32, element: u16, value: &[u8]) -> Option<u64> {
    (enterprise == 0 && matches!(element, 48 | 302) && (1..=8).contains(&value.len()))
        .then(|| crate::bytes::unsigned(value))
}

/// What the caller knows about a datagram that its bytes do not say.
#[derive(Debug, Clone, Copy)]
pub struct DatagramMeta {
    pub receive_time_micros: i64,
    pub exporter: Option<IpAddr>,
}

/// Bounds on the state exporters can make a decoder hold.
#[derive(Debug, Clone, Copy)]
pub struct FlowLimits {
    pub max_templates_per_exporter: usize,
    pub max_templates: usize,
    /// Data sets that arrived before their template, held to decode when it comes.
    pub max_held_sets: usize,
    pub max_held_age_micros: i64,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_templates_per_exporter: 1_024,
            max_templates: 65_536,
            max_held_sets: 1_024,
            max_held_age_micros: 60_000_000,
        }
    }
}

/// What one datagram did. `error` names the first problem; records before it are kept.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DecodeReport {
    pub records: usize,
    pub templates: usize,
    pub held_sets: usize,
    /// Held data sets decoded because their template arrived in this datagram.
    pub released_records: usize,
    /// Held data sets given up: too many held, or held too long.
    pub dropped_held_sets: usize,
    pub refused_templates: usize,
    /// sFlow counter samples seen (those with interface counters are also in `records`).
    pub counter_samples: usize,
    pub error: Option<String>,
    /// Why `error` happened, for counting.
    pub error_cause: Option<MalformedCause>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    V9,
    Ipfix,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::V9 => "netflow_v9",
            Protocol::Ipfix => "ipfix",
        }
    }
}

/// Facts of one v9/IPFIX message every set in it shares.
#[derive(Debug, Clone, Copy)]
struct Message {
    protocol: Protocol,
    exporter: Option<IpAddr>,
    domain: u32,
    sequence: u32,
    receive_time_micros: i64,
    /// NetFlow v9: (export time µs, sysUptime ms), to place `FIRST_SWITCHED`/`LAST_SWITCHED`.
    uptime_base: Option<(i64, u32)>,
    export_micros: i64,
}

struct HeldSet {
    key: TemplateKey,
    message: Message,
    body: Vec<u8>,
}

/// Decodes NetFlow v5, v9, IPFIX and sFlow datagrams into flow rows, keeping per-exporter
/// templates.
///
/// Flow records of a template learnt with a fixed layout (and every NetFlow v5 record) are
/// decoded a column at a time through the template's compiled [`Plan`]; other layouts go
/// field by field into a reused `FlowRecord` (the row path). Both give the same rows.
///
/// [`FlowDecoder::exporter_metrics`] tells, per exporter and observation domain, what the
/// exporter made the decoder learn, hold, drop and refuse.
pub struct FlowDecoder {
    builders: FlowBuilders,
    record: FlowRecord,
    templates: Templates,
    metrics: Metrics,
    /// NetFlow v5's fixed record as a plan.
    v5_plan: Plan,
    /// Reused per data set by plans: a set's start or end times.
    times: Vec<Option<i64>>,
    /// The observation domain of the datagram being decoded, once its header said it.
    domain: Option<u32>,
    /// Decode every set through the row path (tests compare the two paths).
    #[cfg(test)]
    row_path_only: bool,
    /// Sampling interval announced in options data, per (exporter, domain).
    sampling: HashMap<(Option<IpAddr>, u32), u32>,
    /// Sampling interval announced in options data for one sampler or selector (the record
    /// carries `samplerId`/`FLOW_SAMPLER_ID` 48 or `selectorId` 302), per (exporter, domain,
    /// sampler id): it applies to the flows naming that sampler, not to the whole domain.
    /// Bounded by [`MAX_SAMPLERS`]; not saved with the templates (options data repeats).
    sampler_rates: HashMap<(Option<IpAddr>, u32, u64), u32>,
    /// `systemInitTimeMilliseconds` announced in options data, which places IPFIX
    /// `flowStart/EndSysUpTime` in wall time (softflowd exports those).
    system_init: HashMap<(Option<IpAddr>, u32), i64>,
    held: VecDeque<HeldSet>,
    limits: FlowLimits,
    pending_bytes: usize,
    /// Bumped whenever templates or options state change, so callers save only then.
    generation: u64,
}

impl Default for FlowDecoder {
    fn default() -> Self {
        FlowDecoder::new(FlowLimits::default())
    }
}

impl FlowDecoder {
    pub fn new(limits: FlowLimits) -> FlowDecoder {
        FlowDecoder {
            builders: FlowBuilders::with_capacity(4_096),
            record: FlowRecord::default(),
            templates: Templates::default(),
            metrics: Metrics::default(),
            v5_plan: Plan::netflow_v5(),
            times: Vec::new(),
            domain: None,
            #[cfg(test)]
            row_path_only: false,
            sampling: HashMap::new(),
            sampler_rates: HashMap::new(),
            system_init: HashMap::new(),
            held: VecDeque::new(),
            limits,
            pending_bytes: 0,
            generation: 0,
        }
    }

    pub fn rows(&self) -> usize {
        self.builders.rows()
    }

    /// Datagram bytes decoded since the last flush.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    pub fn template_count(&self) -> usize {
        self.templates.len()
    }

    /// Per exporter and observation domain (NetFlow v9 source id): templates held now, and
    /// counters since this decoder was made of templates learnt, refreshed, withdrawn and
    /// refused, data sets held for a missing template, released when it came and dropped
    /// (held too long or pushed out by newer ones), and malformed datagrams by cause. NetFlow
    /// v5 and sFlow datagrams, and datagrams too short to name a domain, count under domain
    /// `None`.
    ///
    /// Cheap: it iterates what the decoder keeps, which is updated only when such an event
    /// happens, never per record. Bounded: at most 4096 scopes are kept (more than the
    /// exporters one input normally serves); events of further scopes are summed in
    /// [`FlowDecoder::metrics_overflow`]. Counters never go down, so callers can export them
    /// as Prometheus counters (and `templates` as a gauge).
    pub fn exporter_metrics(&self) -> impl Iterator<Item = (&ExporterScope, &ExporterMetrics)> {
        self.metrics.iter()
    }

    /// Metrics of the scopes [`FlowDecoder::exporter_metrics`] had no room for, summed.
    pub fn metrics_overflow(&self) -> &ExporterMetrics {
        self.metrics.overflow()
    }

    fn count(&mut self, exporter: Option<IpAddr>, domain: Option<u32>, event: Event) {
        self.metrics
            .count(ExporterScope { exporter, domain }, event);
    }

    /// Changes whenever the state [`FlowDecoder::save_templates`] writes has changed.
    pub fn template_generation(&self) -> u64 {
        self.generation
    }

    /// Templates, options templates and what options data announced, as bytes to keep on disk.
    pub fn save_templates(&self) -> Vec<u8> {
        let templates: Vec<_> = self.templates.iter().collect();
        crate::persist::encode(&templates, &self.sampling, &self.system_init)
    }

    /// Loads what [`FlowDecoder::save_templates`] wrote (within this decoder's limits);
    /// returns how many templates it restored. Damaged bytes change nothing.
    pub fn restore_templates(&mut self, bytes: &[u8]) -> Result<usize, String> {
        let saved = crate::persist::decode(bytes)?;
        let mut restored = 0;
        for (key, template) in saved.templates {
            let scope = ExporterScope {
                exporter: key.exporter,
                domain: Some(key.domain),
            };
            let stored = self.templates.insert(
                key,
                template,
                self.limits.max_templates_per_exporter,
                self.limits.max_templates,
            );
            if stored == Stored::New {
                self.metrics.count(scope, Event::TemplateRestored);
            }
            if stored != Stored::Refused {
                restored += 1;
            }
        }
        self.sampling.extend(saved.sampling);
        self.system_init.extend(saved.system_init);
        Ok(restored)
    }

    /// The rows decoded since the last flush; `None` when there are none.
    pub fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        self.pending_bytes = 0;
        if self.builders.rows() == 0 {
            return Ok(None);
        }
        self.builders.finish().map(Some)
    }

    /// Decodes one datagram, whichever of NetFlow v5, v9, IPFIX or sFlow v5 it is.
    pub fn decode(&mut self, datagram: &[u8], meta: &DatagramMeta) -> DecodeReport {
        let mut report = DecodeReport::default();
        self.expire_held(meta.receive_time_micros, &mut report);
        self.pending_bytes += datagram.len();
        self.domain = None;
        let outcome = match datagram {
            // sFlow's version is a 32-bit 5, so its first two bytes are zero.
            [0, 0, 0, 5, ..] => match crate::sflow::decode(
                datagram,
                meta.receive_time_micros,
                meta.exporter,
                &mut self.builders,
                &mut self.record,
            ) {
                Ok(outcome) => {
                    report.records += outcome.flows + outcome.counter_rows;
                    report.counter_samples += outcome.counter_samples;
                    Ok(())
                }
                Err(error) => Err(error),
            },
            [0, 5, ..] => self.decode_v5(datagram, meta, &mut report),
            [0, 9, ..] => self.decode_v9(datagram, meta, &mut report),
            [0, 10, ..] => self.decode_ipfix(datagram, meta, &mut report),
            [high, low, ..] => Err(Malformed {
                cause: MalformedCause::UnknownVersion,
                message: format!(
                    "version {} is not NetFlow v5, v9, IPFIX (10) or sFlow v5",
                    u16::from_be_bytes([*high, *low])
                ),
            }),
            _ => Err(Malformed::truncated("datagram shorter than a flow header")),
        };
        if let Err(error) = outcome {
            self.count(meta.exporter, self.domain, Event::Malformed(error.cause));
            report.error = Some(error.message);
            report.error_cause = Some(error.cause);
        }
        report
    }

    fn decode_v5(
        &mut self,
        datagram: &[u8],
        meta: &DatagramMeta,
        report: &mut DecodeReport,
    ) -> Outcome<()> {
        let mut cursor = Cursor::new(datagram);
        let header = netflow_v5::header(&mut cursor)
            .ok_or_else(|| Malformed::truncated("NetFlow v5 header truncated"))?;
        if header.count > netflow_v5::MAX_RECORDS {
            return Err(Malformed::bad_length(format!(
                "NetFlow v5 header announces {} records, more than 30",
                header.count
            )));
        }
        let body = &datagram[netflow_v5::HEADER_LEN..];
        // The whole records before a cut are kept.
        let whole = header.count.min(body.len() / netflow_v5::RECORD_LEN);
        let facts = SetFacts {
            context: RecordContext {
                receive_time_micros: meta.receive_time_micros,
                exporter: meta.exporter,
                protocol: "netflow_v5",
            },
            sequence: Some(u64::from(header.sequence)),
            observation_domain: Some(u32::from(header.engine)),
            sampling_rate: header.sampling_rate,
            times: TimeBase {
                system_init_ms: None,
                uptime_base: Some((header.export_micros, header.sys_uptime_ms)),
                export_micros: header.export_micros,
            },
        };
        if whole > 0 {
            report.records += self.v5_plan.append(
                &body[..whole * netflow_v5::RECORD_LEN],
                &facts,
                &mut self.builders,
                &mut self.times,
            );
        }
        if whole < header.count {
            return Err(Malformed::truncated(format!(
                "NetFlow v5 datagram truncated at record {whole} of {}",
                header.count
            )));
        }
        Ok(())
    }

    fn decode_v9(
        &mut self,
        datagram: &[u8],
        meta: &DatagramMeta,
        report: &mut DecodeReport,
    ) -> Outcome<()> {
        let mut cursor = Cursor::new(datagram);
        let header = (|| {
            let _version = cursor.u16()?;
            let _count = cursor.u16()?;
            let uptime = cursor.u32()?;
            let secs = cursor.u32()?;
            let sequence = cursor.u32()?;
            let source_id = cursor.u32()?;
            Some((uptime, secs, sequence, source_id))
        })()
        .ok_or_else(|| Malformed::truncated("NetFlow v9 header truncated"))?;
        let (uptime, secs, sequence, source_id) = header;
        self.domain = Some(source_id);
        let message = Message {
            protocol: Protocol::V9,
            exporter: meta.exporter,
            domain: source_id,
            sequence,
            receive_time_micros: meta.receive_time_micros,
            uptime_base: Some((i64::from(secs) * 1_000_000, uptime)),
            export_micros: i64::from(secs) * 1_000_000,
        };
        self.sets(cursor, &message, report)
    }

    fn decode_ipfix(
        &mut self,
        datagram: &[u8],
        meta: &DatagramMeta,
        report: &mut DecodeReport,
    ) -> Outcome<()> {
        let mut cursor = Cursor::new(datagram);
        let header = (|| {
            let _version = cursor.u16()?;
            let length = cursor.u16()?;
            let export_time = cursor.u32()?;
            let sequence = cursor.u32()?;
            let domain = cursor.u32()?;
            Some((length, export_time, sequence, domain))
        })()
        .ok_or_else(|| Malformed::truncated("IPFIX message header truncated"))?;
        let (length, export_time, sequence, domain) = header;
        self.domain = Some(domain);
        let length = usize::from(length);
        if length < 16 || length > datagram.len() {
            return Err(Malformed::bad_length(format!(
                "IPFIX message length {length} does not fit the {}-byte datagram",
                datagram.len()
            )));
        }
        // Bytes after the message length are not part of it (RFC 7011 section 3.1).
        let body = Cursor::new(&datagram[16..length]);
        let message = Message {
            protocol: Protocol::Ipfix,
            exporter: meta.exporter,
            domain,
            sequence,
            receive_time_micros: meta.receive_time_micros,
            uptime_base: None,
            export_micros: i64::from(export_time) * 1_000_000,
        };
        self.sets(body, &message, report)
    }

    fn sets(
        &mut self,
        mut cursor: Cursor<'_>,
        message: &Message,
        report: &mut DecodeReport,
    ) -> Outcome<()> {
        let (template_set, options_set) = match message.protocol {
            Protocol::V9 => (0, 1),
            Protocol::Ipfix => (2, 3),
        };
        while cursor.remaining() >= 4 {
            let set_id = cursor.u16().unwrap_or(0);
            let length = usize::from(cursor.u16().unwrap_or(0));
            if length < 4 {
                return Err(Malformed::bad_length(format!(
                    "set {set_id} has length {length}, less than its header"
                )));
            }
            let body = cursor.take(length - 4).ok_or_else(|| {
                Malformed::bad_length(format!(
                    "set {set_id} of {length} bytes runs past the end of the datagram"
                ))
            })?;
            if set_id == template_set {
                self.template_set(body, message, false, report)?;
            } else if set_id == options_set {
                self.template_set(body, message, true, report)?;
            } else if set_id >= 256 {
                let key = TemplateKey {
                    exporter: message.exporter,
                    domain: message.domain,
                    template_id: set_id,
                };
                if self.templates.get(&key).is_some() {
                    report.records += self.data_set(&key, body, message)?;
                } else {
                    self.hold(key, message, body, report);
                }
            }
            // Set ids 4..=255 are reserved: skipped whole, as RFC 7011 asks.
        }
        Ok(())
    }

    fn template_set(
        &mut self,
        body: &[u8],
        message: &Message,
        options: bool,
        report: &mut DecodeReport,
    ) -> Outcome<()> {
        let mut cursor = Cursor::new(body);
        let truncated = || {
            Malformed::template(if options {
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
                return Err(Malformed::template(format!(
                    "template id {template_id} is below 256"
                )));
            }
            if fields == 0 || scope_fields > fields {
                return Err(Malformed::template(format!(
                    "template {template_id} has no usable fields"
                )));
            }
            let mut specs = Vec::with_capacity(fields);
            for _ in 0..fields {
                let truncated = || Malformed::template(format!("template {template_id} truncated"));
                let raw = cursor.u16().ok_or_else(truncated)?;
                let length = cursor.u16().ok_or_else(truncated)?;
                let (element, enterprise) =
                    if message.protocol == Protocol::Ipfix && raw & 0x8000 != 0 {
                        (raw & 0x7fff, cursor.u32().ok_or_else(truncated)?)
                    } else {
                        (raw, 0)
                    };
                if length == VARIABLE_LENGTH && message.protocol == Protocol::V9 {
                    return Err(Malformed::template(format!(
                        "template {template_id}: NetFlow v9 has no variable-length fields"
                    )));
                }
                specs.push(FieldSpec {
                    element,
                    length,
                    enterprise,
                });
            }
            let key = TemplateKey {
                exporter: message.exporter,
                domain: message.domain,
                template_id,
            };
            let stored = self.templates.insert(
                key,
                Template::new(specs, options),
                self.limits.max_templates_per_exporter,
                self.limits.max_templates,
            );
            let event = match stored {
                Stored::Refused => Event::TemplateRefused,
                Stored::Unchanged => Event::TemplateRefreshed,
                Stored::New | Stored::Replaced => Event::TemplateLearnt {
                    new: stored == Stored::New,
                },
            };
            self.count(message.exporter, Some(message.domain), event);
            match stored {
                Stored::Refused => report.refused_templates += 1,
                Stored::Unchanged => {
                    // Nothing to save again; data held for it (before a restore) still goes.
                    report.templates += 1;
                    report.released_records += self.release_held(&key)?;
                }
                Stored::New | Stored::Replaced => {
                    report.templates += 1;
                    self.generation += 1;
                    report.released_records += self.release_held(&key)?;
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

    fn hold(
        &mut self,
        key: TemplateKey,
        message: &Message,
        body: &[u8],
        report: &mut DecodeReport,
    ) {
        if self.held.len() >= self.limits.max_held_sets
            && let Some(dropped) = self.held.pop_front()
        {
            self.count_dropped(&dropped);
            report.dropped_held_sets += 1;
        }
        self.count(message.exporter, Some(message.domain), Event::SetHeld);
        self.held.push_back(HeldSet {
            key,
            message: *message,
            body: body.to_vec(),
        });
        report.held_sets += 1;
    }

    fn expire_held(&mut self, now_micros: i64, report: &mut DecodeReport) {
        while self.held.front().is_some_and(|held| {
            now_micros - held.message.receive_time_micros > self.limits.max_held_age_micros
        }) {
            if let Some(dropped) = self.held.pop_front() {
                self.count_dropped(&dropped);
            }
            report.dropped_held_sets += 1;
        }
    }

    fn count_dropped(&mut self, held: &HeldSet) {
        self.count(held.key.exporter, Some(held.key.domain), Event::SetDropped);
    }

    fn release_held(&mut self, key: &TemplateKey) -> Outcome<usize> {
        if !self.held.iter().any(|held| held.key == *key) {
            return Ok(0);
        }
        let (ready, waiting): (VecDeque<HeldSet>, VecDeque<HeldSet>) =
            std::mem::take(&mut self.held)
                .into_iter()
                .partition(|held| held.key == *key);
        self.held = waiting;
        let mut records = 0;
        for held in ready {
            self.count(held.key.exporter, Some(held.key.domain), Event::SetReleased);
            records += self.data_set(&held.key, &held.body, &held.message)?;
        }
        Ok(records)
    }

    /// Decodes the records of one data set; returns how many flow rows it appended.
    fn data_set(&mut self, key: &TemplateKey, body: &[u8], message: &Message) -> Outcome<usize> {
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
        // Flows naming a sampler whose own interval was announced take it in the row path.
        let names_sampler = || {
            template
                .fields
                .iter()
                .any(|f| f.enterprise == 0 && matches!(f.element, 48 | 302))
        };
        let plan = plan.filter(|_| self.sampler_rates.is_empty() || !names_sampler());
        if let Some(plan) = plan {
            let whole = body.len() / plan.record_len;
            let records = &body[..whole * plan.record_len];
            if plan.fits(records) {
                let facts = SetFacts {
                    context,
                    sequence: Some(u64::from(message.sequence)),
                    observation_domain: Some(message.domain),
                    sampling_rate: self.sampling.get(&domain_key).copied(),
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
                        Malformed::truncated(format!(
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
                match (rate, sampler) {
                    // One sampler's interval (Cisco announces each sampler this way).
                    (Some(rate), Some(id)) => {
                        let key = (message.exporter, message.domain, id);
                        if self.sampler_rates.len() < MAX_SAMPLERS
                            || self.sampler_rates.contains_key(&key)
                        {
                            self.sampler_rates.insert(key, rate);
                        }
                    }
                    (Some(rate), None) => {
                        if self.sampling.insert(domain_key, rate) != Some(rate) {
                            self.generation += 1;
                        }
                    }
                    (None, _) => {}
                }
                if let Some(init) = announced_init
                    && self.system_init.insert(domain_key, init) != Some(init)
                {
                    self.generation += 1;
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
            self.builders.append(&context, &self.record);
            rows += 1;
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64: repeatable variety.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())]
        }
    }

    fn be16(out: &mut Vec<u8>, value: u16) {
        out.extend_from_slice(&value.to_be_bytes());
    }

    fn be32(out: &mut Vec<u8>, value: u32) {
        out.extend_from_slice(&value.to_be_bytes());
    }

    fn set(out: &mut Vec<u8>, id: u16, body: &[u8]) {
        be16(out, id);
        be16(out, body.len() as u16 + 4);
        out.extend_from_slice(body);
    }

    /// A field value: random bytes, or the extremes that make the row path treat a value
    /// specially (zero sampling, counters too wide for their column, times out of range).
    fn value(random: &mut Random, length: usize) -> Vec<u8> {
        match random.below(6) {
            0 => vec![0; length],
            1 => vec![0xff; length],
            _ => (0..length).map(|_| random.next() as u8).collect(),
        }
    }

    const ELEMENTS: [u16; 52] = [
        1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 21, 22, 27, 28, 29, 30, 32, 34, 48,
        56, 57, 58, 59, 61, 62, 80, 85, 86, 89, 139, 150, 151, 152, 153, 154, 155, 156, 157, 160,
        176, 177, 178, 179, 305, 999, 8,
    ];
    const LENGTHS: [u16; 10] = [1, 2, 3, 4, 4, 6, 8, 8, 16, 0];

    /// One datagram with an options template and its data (sampling, boot time), a flow
    /// template and a data set of it, for `protocol`.
    fn datagram(random: &mut Random, ipfix: bool, fields: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut sets = Vec::new();
        let mut options = Vec::new();
        be16(&mut options, 300);
        if ipfix {
            be16(&mut options, 3);
            be16(&mut options, 1);
        } else {
            be16(&mut options, 4);
            be16(&mut options, 12);
        }
        for (element, length) in [(1u16, 4u16), (34, 4), (160, 8)] {
            be16(&mut options, element);
            be16(&mut options, length);
        }
        set(&mut sets, if ipfix { 3 } else { 1 }, &options);
        let mut options_data = vec![0; 4];
        be32(&mut options_data, random.pick(&[0, 1, 100]));
        options_data.extend_from_slice(&random.pick(&[0u64, 1_794_000_000_000]).to_be_bytes());
        set(&mut sets, 300, &options_data);

        let mut template = Vec::new();
        be16(&mut template, 256);
        be16(&mut template, fields.len() as u16);
        for (element, length, enterprise) in fields {
            if *enterprise != 0 {
                be16(&mut template, element | 0x8000);
                be16(&mut template, *length);
                be32(&mut template, *enterprise);
            } else {
                be16(&mut template, *element);
                be16(&mut template, *length);
            }
        }
        set(&mut sets, if ipfix { 2 } else { 0 }, &template);
        let mut data = Vec::new();
        for _ in 0..1 + random.below(12) {
            for (_, length, _) in fields {
                data.extend(value(random, usize::from(*length)));
            }
        }
        // Padding shorter than a record.
        data.extend(std::iter::repeat_n(0, random.below(3)));
        set(&mut sets, 256, &data);

        let mut packet = Vec::new();
        if ipfix {
            be16(&mut packet, 10);
            be16(&mut packet, 16 + sets.len() as u16);
            be32(&mut packet, 1_795_000_000);
            be32(&mut packet, 7);
            be32(&mut packet, 42);
        } else {
            be16(&mut packet, 9);
            be16(&mut packet, 0);
            be32(&mut packet, random.pick(&[60_000, 4_000_000_000]));
            be32(&mut packet, 1_795_000_000);
            be32(&mut packet, 7);
            be32(&mut packet, 42);
        }
        packet.extend(sets);
        packet
    }

    #[test]
    fn compiled_plans_give_the_rows_of_the_row_path() {
        let mut random = Random(0x5eed_1234_abcd_0042);
        let meta = DatagramMeta {
            receive_time_micros: 1_795_000_000_000_000,
            exporter: Some(IpAddr::from([192, 0, 2, 7])),
        };
        let mut planned = 0;
        for round in 0..3_000 {
            let ipfix = round % 2 == 0;
            let count = 1 + random.below(24);
            let fields: Vec<(u16, u16, u32)> = (0..count)
                .map(|_| {
                    let length = random.pick(&LENGTHS);
                    let enterprise = if ipfix && random.below(12) == 0 {
                        29_305
                    } else {
                        0
                    };
                    (random.pick(&ELEMENTS), length, enterprise)
                })
                .collect();
            let specs: Vec<FieldSpec> = fields
                .iter()
                .map(|(element, length, enterprise)| FieldSpec {
                    element: *element,
                    length: *length,
                    enterprise: *enterprise,
                })
                .collect();
            planned += usize::from(Plan::compile(&specs).is_some());
            let packet = datagram(&mut random, ipfix, &fields);
            let mut fast = FlowDecoder::default();
            let mut slow = FlowDecoder {
                row_path_only: true,
                ..FlowDecoder::default()
            };
            let fast_report = fast.decode(&packet, &meta);
            let slow_report = slow.decode(&packet, &meta);
            assert_eq!(fast_report, slow_report, "{fields:?}");
            let (fast, slow) = (fast.flush().unwrap(), slow.flush().unwrap());
            assert_eq!(fast, slow, "{fields:?}");
        }
        assert!(planned > 300, "only {planned} templates had a plan");
    }

    #[test]
    fn realistic_templates_have_plans() {
        let cisco: Vec<FieldSpec> = [
            (8, 4),
            (12, 4),
            (7, 2),
            (11, 2),
            (4, 1),
            (5, 1),
            (6, 1),
            (1, 4),
            (2, 4),
            (22, 4),
            (21, 4),
            (10, 2),
            (14, 2),
            (16, 4),
            (17, 4),
            (9, 1),
            (13, 1),
            (15, 4),
            (61, 1),
            (58, 2),
            (59, 2),
            (48, 1),
            (27, 16),
            (28, 16),
            (152, 8),
            (153, 8),
            (56, 6),
            (80, 6),
            (32, 2),
        ]
        .into_iter()
        .map(|(element, length)| FieldSpec {
            element,
            length,
            enterprise: 0,
        })
        .filter(|f| ![8, 12].contains(&f.element))
        .collect();
        let plan = Plan::compile(&cisco).expect("a plan");
        assert_eq!(
            plan.record_len,
            cisco.iter().map(|f| f.length as usize).sum::<usize>()
        );
    }

    fn v9_packet(source_id: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut packet = Vec::new();
        be16(&mut packet, 9);
        be16(&mut packet, 0);
        be32(&mut packet, 60_000);
        be32(&mut packet, 1_795_000_000);
        be32(&mut packet, 1);
        be32(&mut packet, source_id);
        for (id, body) in sets {
            set(&mut packet, *id, body);
        }
        packet
    }

    fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
        let mut body = Vec::new();
        be16(&mut body, id);
        be16(&mut body, fields.len() as u16);
        for (element, length) in fields {
            be16(&mut body, *element);
            be16(&mut body, *length);
        }
        body
    }

    fn metrics_of(decoder: &FlowDecoder, exporter: &str, domain: Option<u32>) -> ExporterMetrics {
        let scope = ExporterScope {
            exporter: Some(exporter.parse().unwrap()),
            domain,
        };
        decoder
            .exporter_metrics()
            .find(|(s, _)| **s == scope)
            .map(|(_, metrics)| *metrics)
            .unwrap_or_default()
    }

    #[test]
    fn exporter_metrics_count_templates_held_sets_and_malformed_datagrams() {
        let mut decoder = FlowDecoder::new(FlowLimits {
            max_templates_per_exporter: 2,
            max_held_sets: 1,
            ..FlowLimits::default()
        });
        let meta = |exporter: &str, time: i64| DatagramMeta {
            receive_time_micros: time,
            exporter: Some(exporter.parse().unwrap()),
        };
        let a = "192.0.2.1";
        // Data for templates not yet known: held; the second pushes the first out.
        decoder.decode(&v9_packet(5, &[(256, vec![0; 4])]), &meta(a, 0));
        decoder.decode(&v9_packet(5, &[(257, vec![0; 4])]), &meta(a, 0));
        // The template of the held set comes, then again unchanged, then changed, then a
        // third template over the per-exporter limit of two.
        let four = template(257, &[(8, 4)]);
        decoder.decode(&v9_packet(5, &[(0, four.clone())]), &meta(a, 1));
        decoder.decode(&v9_packet(5, &[(0, four)]), &meta(a, 2));
        decoder.decode(
            &v9_packet(5, &[(0, template(257, &[(12, 4)]))]),
            &meta(a, 3),
        );
        decoder.decode(&v9_packet(5, &[(0, template(258, &[(7, 2)]))]), &meta(a, 4));
        decoder.decode(&v9_packet(5, &[(0, template(259, &[(7, 2)]))]), &meta(a, 5));
        // Another domain of the same exporter: a held set that expires.
        decoder.decode(&v9_packet(6, &[(300, vec![0; 4])]), &meta(a, 6));
        decoder.decode(&v9_packet(6, &[]), &meta(a, 6 + 61_000_000));
        // Malformed: a set past the end, a bad template, too short, unknown version.
        let mut past_end = v9_packet(5, &[]);
        past_end.extend([1, 0, 0, 40]);
        decoder.decode(&past_end, &meta(a, 7));
        decoder.decode(&v9_packet(5, &[(0, template(7, &[(8, 4)]))]), &meta(a, 7));
        decoder.decode(&[9], &meta(a, 8));
        decoder.decode(&[0, 7, 0, 0], &meta(a, 8));
        decoder.decode(&[0, 5, 0, 1], &meta("192.0.2.2", 8));

        let domain5 = metrics_of(&decoder, a, Some(5));
        assert_eq!(
            domain5,
            ExporterMetrics {
                templates: 2,
                templates_learnt: 3,
                templates_refreshed: 1,
                templates_withdrawn: 0,
                templates_refused: 1,
                sets_held: 2,
                sets_released: 1,
                sets_dropped: 1,
                malformed: crate::MalformedCounts {
                    bad_length: 1,
                    template: 1,
                    ..Default::default()
                },
            }
        );
        let domain6 = metrics_of(&decoder, a, Some(6));
        assert_eq!((domain6.sets_held, domain6.sets_dropped), (1, 1));
        let unknown = metrics_of(&decoder, a, None);
        assert_eq!(
            (
                unknown.malformed.truncated,
                unknown.malformed.unknown_version
            ),
            (1, 1)
        );
        let v5 = metrics_of(&decoder, "192.0.2.2", None);
        assert_eq!(v5.malformed.truncated, 1);
        assert_eq!(decoder.metrics_overflow(), &ExporterMetrics::default());

        // IPFIX withdrawals lower the gauge; restored templates raise it.
        let saved = decoder.save_templates();
        let mut restored = FlowDecoder::default();
        assert_eq!(restored.restore_templates(&saved), Ok(2));
        assert_eq!(metrics_of(&restored, a, Some(5)).templates, 2);
    }

    #[test]
    fn ipfix_withdrawals_are_counted() {
        let mut decoder = FlowDecoder::default();
        let meta = DatagramMeta {
            receive_time_micros: 0,
            exporter: Some(IpAddr::from([192, 0, 2, 3])),
        };
        let ipfix = |sets: &[(u16, Vec<u8>)]| {
            let mut body = Vec::new();
            for (id, set_body) in sets {
                set(&mut body, *id, set_body);
            }
            let mut packet = Vec::new();
            be16(&mut packet, 10);
            be16(&mut packet, 16 + body.len() as u16);
            be32(&mut packet, 1_795_000_000);
            be32(&mut packet, 1);
            be32(&mut packet, 9);
            packet.extend(body);
            packet
        };
        let two = [
            (2, template(256, &[(8, 4)])),
            (2, template(257, &[(12, 4)])),
        ];
        decoder.decode(&ipfix(&two), &meta);
        decoder.decode(&ipfix(&[(2, template(256, &[]))]), &meta);
        let scope = ExporterScope {
            exporter: meta.exporter,
            domain: Some(9),
        };
        let metrics = |decoder: &FlowDecoder| {
            *decoder
                .exporter_metrics()
                .find(|(s, _)| **s == scope)
                .unwrap()
                .1
        };
        assert_eq!(
            (
                metrics(&decoder).templates,
                metrics(&decoder).templates_withdrawn
            ),
            (1, 1)
        );
        // Withdrawing every template of the domain (template id 2).
        decoder.decode(&ipfix(&[(2, template(2, &[]))]), &meta);
        assert_eq!(
            (
                metrics(&decoder).templates,
                metrics(&decoder).templates_withdrawn
            ),
            (0, 2)
        );
    }

    /// Found in a Cisco IOS-XE AVC capture: the options record announcing sampler 9's
    /// interval (50) made every flow of the domain look sampled 1 in 50, even flows naming no
    /// sampler. A sampler's interval now goes to the flows naming that sampler only.
    #[test]
    fn a_samplers_interval_applies_to_the_flows_naming_it() {
        let mut body = Vec::new();
        let mut set = |id: u16, content: &[u8]| {
            body.extend(id.to_be_bytes());
            body.extend((content.len() as u16 + 4).to_be_bytes());
            body.extend(content);
        };
        // Options template 300: scope FLOW_SAMPLER_ID (1 byte), FLOW_SAMPLER_RANDOM_INTERVAL.
        set(3, &[1, 44, 0, 2, 0, 1, 0, 48, 0, 1, 0, 50, 0, 4]);
        set(300, &[9, 0, 0, 0, 50, 0, 0, 0]);
        // Template 400: source address and bytes; 401 adds FLOW_SAMPLER_ID.
        set(
            2,
            &[
                1, 144, 0, 2, 0, 8, 0, 4, 0, 1, 0, 4, 1, 145, 0, 3, 0, 8, 0, 4, 0, 1, 0, 4, 0, 48,
                0, 1,
            ],
        );
        set(400, &[10, 0, 0, 1, 0, 0, 0, 100]);
        set(
            401,
            &[
                10, 0, 0, 2, 0, 0, 0, 100, 9, 10, 0, 0, 3, 0, 0, 0, 100, 7, 0, 0, 0,
            ],
        );
        let mut datagram = vec![0, 10];
        datagram.extend((16 + body.len() as u16).to_be_bytes());
        datagram.extend([0x6a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 6]);
        datagram.extend(body);
        let mut decoder = FlowDecoder::default();
        let meta = DatagramMeta {
            receive_time_micros: 1_795_000_000_000_000,
            exporter: None,
        };
        let report = decoder.decode(&datagram, &meta);
        assert_eq!((report.records, report.error), (3, None));
        let batch = decoder.flush().unwrap().unwrap();
        let rates = batch.column_by_name("sampling_rate").unwrap();
        let rates = arrow::array::AsArray::as_primitive::<arrow::datatypes::UInt32Type>(rates);
        let rates: Vec<Option<u32>> = rates.iter().collect();
        // No sampler named, sampler 9, an unannounced sampler 7.
        assert_eq!(rates, [None, Some(50), None]);
    }
}
