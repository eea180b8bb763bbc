//! The flow decoder: its state and limits, what callers read from it, and the dispatch of
//! a datagram by version. NetFlow v9 and IPFIX sets are handled in `decoder/`: template sets
//! (`template_sets`), data sets (`data_sets`) and data held for a missing template (`held`).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::bytes::Cursor;
use crate::elements::TimeBase;
use crate::error::{DecodeError, TemplateRestoreError};
use crate::metrics::{Event, ExporterMetrics, ExporterScope, Metrics, TemplateRefusal};
use crate::netflow_v5;
use crate::plan::{Plan, Sampling, SetFacts};
use crate::record::{FlowBuilders, FlowRecord, RecordContext};
use crate::templates::{Stored, TemplateKey, Templates};

mod data_sets;
mod held;
mod names;
mod template_sets;

use data_sets::OptionsBudget;
use held::HeldSet;
pub(crate) use names::{NameKey, NameKind, Names, ScopeNames};

type Outcome<T> = Result<T, DecodeError>;

/// What the caller knows about a datagram that its bytes do not say.
#[derive(Debug, Clone, Copy)]
pub struct DatagramMeta {
    pub receive_time_micros: i64,
    pub exporter: Option<IpAddr>,
}

/// Bounds on the state exporters can make a decoder hold. Any source address can send a
/// template, so every map an exporter fills is bounded per exporter and in total, in entries
/// and in bytes; what a limit refuses is counted by cause in [`ExporterMetrics`].
#[derive(Debug, Clone, Copy)]
pub struct FlowLimits {
    /// A template (or options template) with more fields is refused. Default 512: RFC 7011
    /// allows up to about 16,000 in one message, which costs about 1 MiB once compiled, while
    /// real exporters send far fewer (the Cisco IOS XE AVC and IOS XR SRv6 captures this crate
    /// is tested with: at most 34 and 40; softflowd: under 20).
    pub max_template_fields: usize,
    pub max_templates_per_exporter: usize,
    pub max_templates: usize,
    /// Memory one exporter's templates may hold (`Template::cost_bytes`: 8 bytes a field, up
    /// to 48 more for a field the schema does not name, and about 5.6 KiB a template for its
    /// compiled plan and map entry). Default 2 MiB: about 300 templates of 20 fields, or 60 of
    /// 512.
    pub max_template_bytes_per_exporter: usize,
    /// Memory all templates of this decoder may hold. Default 32 MiB.
    pub max_template_bytes: usize,
    /// Data sets that arrived before their template, held to decode when it comes.
    pub max_held_sets: usize,
    pub max_held_age_micros: i64,
    /// Bytes of held data sets, in total and per exporter (beyond, the oldest are dropped).
    /// Defaults 4 MiB and 1 MiB.
    pub max_held_bytes: usize,
    pub max_held_bytes_per_exporter: usize,
    /// Sampling intervals (per domain or sampler) and boot times announced in options data,
    /// kept in total and per exporter; each entry takes under 64 bytes. Defaults 65,536 and
    /// 1,024.
    pub max_options_entries: usize,
    pub max_options_entries_per_exporter: usize,
    /// Interface, VRF and application names announced in options data, kept in total and per
    /// exporter (each at most `names::MAX_NAME_BYTES` bytes, about 200 with its entry; a name
    /// counts twice, under its domain and as its exporter's). Defaults 65,536 and 16,384: a
    /// Cisco router announces every NBAR2 application, about 1,300.
    pub max_names: usize,
    pub max_names_per_exporter: usize,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_template_fields: 512,
            max_templates_per_exporter: 1_024,
            max_templates: 65_536,
            max_template_bytes_per_exporter: 2 << 20,
            max_template_bytes: 32 << 20,
            max_held_sets: 1_024,
            max_held_age_micros: 60_000_000,
            max_held_bytes: 4 << 20,
            max_held_bytes_per_exporter: 1 << 20,
            max_options_entries: 65_536,
            max_options_entries_per_exporter: 1_024,
            max_names: 65_536,
            max_names_per_exporter: 16_384,
        }
    }
}

impl FlowLimits {
    pub(crate) fn templates(&self) -> crate::templates::TemplateLimits {
        crate::templates::TemplateLimits {
            per_exporter: self.max_templates_per_exporter,
            total: self.max_templates,
            bytes_per_exporter: self.max_template_bytes_per_exporter,
            bytes_total: self.max_template_bytes,
        }
    }
}

/// What one datagram did. `error` is the first problem; records before it are kept, and so
/// are the records of every set after an unusable one (`skipped_sets` counts those skipped).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DecodeReport {
    pub records: usize,
    /// Template, options or data sets that could not be used; each is counted by its cause and
    /// costs only itself.
    pub skipped_sets: usize,
    pub templates: usize,
    pub held_sets: usize,
    /// Held data sets decoded because their template arrived in this datagram.
    pub released_records: usize,
    /// Held data sets given up: too many held, or held too long.
    pub dropped_held_sets: usize,
    pub refused_templates: usize,
    /// sFlow counter samples seen (those with interface counters are also in `records`).
    pub counter_samples: usize,
    pub error: Option<DecodeError>,
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
    /// Reused per data set by plans: each record's sampling rate, when records name samplers.
    rates: Vec<Option<u32>>,
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
    /// Not saved with the templates (options data repeats). This map, `sampling` and
    /// `system_init` together are bounded by `FlowLimits::max_options_entries` (and per
    /// exporter, counted in `options_budget`).
    sampler_rates: HashMap<(Option<IpAddr>, u32, u64), u32>,
    /// `systemInitTimeMilliseconds` announced in options data, which places IPFIX
    /// `flowStart/EndSysUpTime` in wall time (softflowd exports those).
    system_init: HashMap<(Option<IpAddr>, u32), i64>,
    /// Entries of `sampling`, `sampler_rates` and `system_init`, per exporter and in total.
    options_budget: OptionsBudget,
    /// Interface, VRF and application names announced in options data.
    names: Names,
    held: VecDeque<HeldSet>,
    /// Bytes of `held` in total and per exporter (exporters with something held).
    held_bytes: usize,
    held_per_exporter: HashMap<Option<IpAddr>, usize>,
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
            rates: Vec::new(),
            domain: None,
            #[cfg(test)]
            row_path_only: false,
            sampling: HashMap::new(),
            sampler_rates: HashMap::new(),
            system_init: HashMap::new(),
            options_budget: OptionsBudget::default(),
            names: Names::default(),
            held: VecDeque::new(),
            held_bytes: 0,
            held_per_exporter: HashMap::new(),
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

    /// Memory the templates hold, as the template byte limits count it.
    pub fn template_bytes(&self) -> usize {
        self.templates.bytes()
    }

    /// Bytes of data sets held for a template that has not come yet.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Entries of the sampling and boot-time maps options data fills.
    pub fn options_entries(&self) -> usize {
        self.sampling.len() + self.sampler_rates.len() + self.system_init.len()
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
        crate::persist::encode(&templates, &self.sampling, &self.system_init, &self.names)
    }

    /// Loads what [`FlowDecoder::save_templates`] wrote, within this decoder's limits (what
    /// they refuse is counted as refused); returns how many templates it restored. Damaged
    /// bytes change nothing.
    pub fn restore_templates(&mut self, bytes: &[u8]) -> Result<usize, TemplateRestoreError> {
        let mut restored = 0;
        let limits = self.limits.templates();
        let (templates, metrics) = (&mut self.templates, &mut self.metrics);
        let saved =
            crate::persist::decode(bytes, self.limits.max_template_fields, |(key, template)| {
                let scope = ExporterScope {
                    exporter: key.exporter,
                    domain: Some(key.domain),
                };
                let stored = match template {
                    Some(template) => templates.insert(key, template, &limits),
                    None => Stored::Refused(TemplateRefusal::TooManyFields),
                };
                match stored {
                    Stored::New => {
                        metrics.count(scope, Event::TemplateRestored);
                        restored += 1;
                    }
                    Stored::Refused(cause) => metrics.count(scope, Event::TemplateRefused(cause)),
                    Stored::Replaced | Stored::Unchanged => restored += 1,
                }
            })?;
        let scope = |(exporter, domain): (Option<IpAddr>, u32)| ExporterScope {
            exporter,
            domain: Some(domain),
        };
        for (key, rate) in saved.sampling {
            let known = self.sampling.contains_key(&key);
            if self.options_budget.admit(key.0, known, &self.limits) {
                self.sampling.insert(key, rate);
            } else {
                self.metrics.count(scope(key), Event::OptionsRefused);
            }
        }
        for (key, init) in saved.system_init {
            let known = self.system_init.contains_key(&key);
            if self.options_budget.admit(key.0, known, &self.limits) {
                self.system_init.insert(key, init);
            } else {
                self.metrics.count(scope(key), Event::OptionsRefused);
            }
        }
        for (key, name) in saved.names {
            let limits = &self.limits;
            let inserted =
                self.names
                    .insert(key, name, limits.max_names_per_exporter, limits.max_names);
            if inserted == names::Insert::Refused {
                let scope = ExporterScope {
                    exporter: key.exporter,
                    domain: key.domain,
                };
                self.metrics.count(scope, Event::OptionsRefused);
            }
        }
        Ok(restored)
    }

    /// The rows decoded since the last flush, as an edge batch (`flow/1`,
    /// `docs/specs/edge-batch.md`); `None` when there are none.
    pub fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        self.pending_bytes = 0;
        if self.builders.rows() == 0 {
            return Ok(None);
        }
        self.builders.finish().map(Some)
    }

    /// The rows decoded since the last flush in the flow table schema (`flow_schema()`), as
    /// the stages after the proxy build it from the edge batch: for tools and tests that read
    /// rows without shipping them.
    pub fn flush_table(&mut self) -> Result<Option<RecordBatch>, bytefreezer_schema::EdgeError> {
        match self.flush()? {
            Some(batch) => bytefreezer_schema::edge_to_table(&batch).map(Some),
            None => Ok(None),
        }
    }

    /// Takes back a batch [`FlowDecoder::flush`] returned once it is encoded, so the next batch
    /// writes into its buffers (already in memory) instead of fresh ones.
    pub fn recycle(&mut self, batch: RecordBatch) {
        self.builders.recycle(batch);
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
            [high, low, ..] => Err(DecodeError::UnknownVersion {
                version: u16::from_be_bytes([*high, *low]),
            }),
            _ => Err(DecodeError::truncated(
                "datagram shorter than a flow header",
            )),
        };
        if let Err(error) = outcome {
            self.count(meta.exporter, self.domain, Event::Malformed(error.cause()));
            report.error = Some(error);
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
            .ok_or_else(|| DecodeError::truncated("NetFlow v5 header truncated"))?;
        if header.count > netflow_v5::MAX_RECORDS {
            return Err(DecodeError::bad_length(format!(
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
            names: None,
            sequence: Some(u64::from(header.sequence)),
            observation_domain: Some(u32::from(header.engine)),
            sampling: Sampling::Shared(header.sampling_rate),
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
            return Err(DecodeError::truncated(format!(
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
        .ok_or_else(|| DecodeError::truncated("NetFlow v9 header truncated"))?;
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
        .ok_or_else(|| DecodeError::truncated("IPFIX message header truncated"))?;
        let (length, export_time, sequence, domain) = header;
        self.domain = Some(domain);
        let length = usize::from(length);
        if length < 16 || length > datagram.len() {
            return Err(DecodeError::bad_length(format!(
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
            // Palo Alto and Cisco ACI pad datagrams with zeros after the last set: not a set.
            if cursor.only_zeros_left() {
                break;
            }
            let set_id = cursor.u16().unwrap_or(0);
            let length = usize::from(cursor.u16().unwrap_or(0));
            if length < 4 {
                return Err(DecodeError::bad_length(format!(
                    "set {set_id} has length {length}, less than its header"
                )));
            }
            let body = cursor.take(length - 4).ok_or_else(|| {
                DecodeError::bad_length(format!(
                    "set {set_id} of {length} bytes runs past the end of the datagram"
                ))
            })?;
            let used = if set_id == template_set {
                self.template_set(body, message, false, report)
            } else if set_id == options_set {
                self.template_set(body, message, true, report)
            } else if set_id >= 256 {
                let key = TemplateKey {
                    exporter: message.exporter,
                    domain: message.domain,
                    template_id: set_id,
                };
                if self.templates.get(&key).is_some() {
                    let (rows, decoded) = self.counted_data_set(&key, body, message);
                    report.records += rows;
                    decoded.map(|_| ())
                } else {
                    self.hold(key, message, body, report);
                    Ok(())
                }
            } else {
                // Set ids 4..=255 are reserved: skipped whole, as RFC 7011 asks.
                Ok(())
            };
            if let Err(error) = used {
                // The set's own length delimits it, so one unusable set costs only itself.
                self.skip_set(message.exporter, message.domain, error, report);
            }
        }
        Ok(())
    }

    /// Decodes a data set whose template is known: the rows it appended (those before an error
    /// stay, so they are counted too) and what `data_set` said.
    fn counted_data_set(
        &mut self,
        key: &TemplateKey,
        body: &[u8],
        message: &Message,
    ) -> (usize, Outcome<usize>) {
        let before = self.rows();
        let decoded = self.data_set(key, body, message);
        (self.rows() - before, decoded)
    }

    /// Counts a set that could not be used, by cause; the datagram's other sets go on.
    fn skip_set(
        &mut self,
        exporter: Option<IpAddr>,
        domain: u32,
        error: DecodeError,
        report: &mut DecodeReport,
    ) {
        self.count(exporter, Some(domain), Event::Malformed(error.cause()));
        report.skipped_sets += 1;
        report.error.get_or_insert(error);
    }
}

#[cfg(test)]
mod tests;
