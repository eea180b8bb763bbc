use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::bytes::Cursor;
use crate::elements::{TimeParts, apply, resolve_times};
use crate::netflow_v5;
use crate::record::{FlowBuilders, FlowRecord, RecordContext};
use crate::templates::{FieldSpec, Stored, Template, TemplateKey, Templates, VARIABLE_LENGTH};

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

/// Decodes NetFlow v5, v9 and IPFIX datagrams into flow rows, keeping per-exporter templates.
pub struct FlowDecoder {
    builders: FlowBuilders,
    record: FlowRecord,
    templates: Templates,
    /// Sampling interval announced in options data, per (exporter, domain).
    sampling: HashMap<(Option<IpAddr>, u32), u32>,
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
            sampling: HashMap::new(),
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
            if self.templates.insert(
                key,
                template,
                self.limits.max_templates_per_exporter,
                self.limits.max_templates,
            ) != Stored::Refused
            {
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

    /// Decodes one datagram, whichever of NetFlow v5, v9 or IPFIX it is.
    pub fn decode(&mut self, datagram: &[u8], meta: &DatagramMeta) -> DecodeReport {
        let mut report = DecodeReport::default();
        self.expire_held(meta.receive_time_micros, &mut report);
        self.pending_bytes += datagram.len();
        let version = match datagram {
            [high, low, ..] => u16::from_be_bytes([*high, *low]),
            _ => {
                report.error = Some("datagram shorter than a flow header".into());
                return report;
            }
        };
        let outcome = match version {
            // sFlow's version is a 32-bit 5, so its first two bytes are zero.
            0 if datagram.get(0..4) == Some(&[0, 0, 0, 5]) => {
                match crate::sflow::decode(
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
                }
            }
            5 => self.decode_v5(datagram, meta, &mut report),
            9 => self.decode_v9(datagram, meta, &mut report),
            10 => self.decode_ipfix(datagram, meta, &mut report),
            other => Err(format!(
                "version {other} is not NetFlow v5, v9, IPFIX (10) or sFlow v5"
            )),
        };
        if let Err(error) = outcome {
            report.error = Some(error);
        }
        report
    }

    fn decode_v5(
        &mut self,
        datagram: &[u8],
        meta: &DatagramMeta,
        report: &mut DecodeReport,
    ) -> Result<(), String> {
        let mut cursor = Cursor::new(datagram);
        let header = netflow_v5::header(&mut cursor).ok_or("NetFlow v5 header truncated")?;
        if header.count > netflow_v5::MAX_RECORDS {
            return Err(format!(
                "NetFlow v5 header announces {} records, more than 30",
                header.count
            ));
        }
        let context = RecordContext {
            receive_time_micros: meta.receive_time_micros,
            exporter: meta.exporter,
            protocol: "netflow_v5",
        };
        for index in 0..header.count {
            let Some(bytes) = cursor.take(netflow_v5::RECORD_LEN) else {
                return Err(format!(
                    "NetFlow v5 datagram truncated at record {index} of {}",
                    header.count
                ));
            };
            self.record.clear();
            if netflow_v5::record(bytes, &header, &mut self.record).is_some() {
                self.builders.append(&context, &self.record);
                report.records += 1;
            }
        }
        Ok(())
    }

    fn decode_v9(
        &mut self,
        datagram: &[u8],
        meta: &DatagramMeta,
        report: &mut DecodeReport,
    ) -> Result<(), String> {
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
        .ok_or("NetFlow v9 header truncated")?;
        let (uptime, secs, sequence, source_id) = header;
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
    ) -> Result<(), String> {
        let mut cursor = Cursor::new(datagram);
        let header = (|| {
            let _version = cursor.u16()?;
            let length = cursor.u16()?;
            let export_time = cursor.u32()?;
            let sequence = cursor.u32()?;
            let domain = cursor.u32()?;
            Some((length, export_time, sequence, domain))
        })()
        .ok_or("IPFIX message header truncated")?;
        let (length, export_time, sequence, domain) = header;
        let length = usize::from(length);
        if length < 16 || length > datagram.len() {
            return Err(format!(
                "IPFIX message length {length} does not fit the {}-byte datagram",
                datagram.len()
            ));
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
    ) -> Result<(), String> {
        let (template_set, options_set) = match message.protocol {
            Protocol::V9 => (0, 1),
            Protocol::Ipfix => (2, 3),
        };
        while cursor.remaining() >= 4 {
            let set_id = cursor.u16().unwrap_or(0);
            let length = usize::from(cursor.u16().unwrap_or(0));
            if length < 4 {
                return Err(format!(
                    "set {set_id} has length {length}, less than its header"
                ));
            }
            let body = cursor.take(length - 4).ok_or_else(|| {
                format!("set {set_id} of {length} bytes runs past the end of the datagram")
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
    ) -> Result<(), String> {
        let mut cursor = Cursor::new(body);
        // What is left after the last template is padding.
        while cursor.remaining() >= 4 {
            let template_id = cursor.u16().unwrap_or(0);
            let (fields, scope_fields) = match (message.protocol, options) {
                (Protocol::V9, true) => {
                    let scope_bytes =
                        usize::from(cursor.u16().ok_or("options template truncated")?);
                    let option_bytes =
                        usize::from(cursor.u16().ok_or("options template truncated")?);
                    ((scope_bytes + option_bytes) / 4, scope_bytes / 4)
                }
                (Protocol::Ipfix, true) => {
                    let count = usize::from(cursor.u16().ok_or("options template truncated")?);
                    if count == 0 {
                        self.withdraw(message, template_id);
                        continue;
                    }
                    let scope = usize::from(cursor.u16().ok_or("options template truncated")?);
                    (count, scope)
                }
                (_, false) => {
                    let count = usize::from(cursor.u16().ok_or("template truncated")?);
                    if count == 0 && message.protocol == Protocol::Ipfix {
                        self.withdraw(message, template_id);
                        continue;
                    }
                    (count, 0)
                }
            };
            if template_id < 256 {
                return Err(format!("template id {template_id} is below 256"));
            }
            if fields == 0 || scope_fields > fields {
                return Err(format!("template {template_id} has no usable fields"));
            }
            let mut specs = Vec::with_capacity(fields);
            for _ in 0..fields {
                let truncated = || format!("template {template_id} truncated");
                let raw = cursor.u16().ok_or_else(truncated)?;
                let length = cursor.u16().ok_or_else(truncated)?;
                let (element, enterprise) =
                    if message.protocol == Protocol::Ipfix && raw & 0x8000 != 0 {
                        (raw & 0x7fff, cursor.u32().ok_or_else(truncated)?)
                    } else {
                        (raw, 0)
                    };
                if length == VARIABLE_LENGTH && message.protocol == Protocol::V9 {
                    return Err(format!(
                        "template {template_id}: NetFlow v9 has no variable-length fields"
                    ));
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
            match self.templates.insert(
                key,
                Template::new(specs, options),
                self.limits.max_templates_per_exporter,
                self.limits.max_templates,
            ) {
                Stored::Refused => report.refused_templates += 1,
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
        self.templates
            .withdraw(message.exporter, message.domain, which);
        self.generation += 1;
    }

    fn hold(
        &mut self,
        key: TemplateKey,
        message: &Message,
        body: &[u8],
        report: &mut DecodeReport,
    ) {
        if self.held.len() >= self.limits.max_held_sets {
            self.held.pop_front();
            report.dropped_held_sets += 1;
        }
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
            self.held.pop_front();
            report.dropped_held_sets += 1;
        }
    }

    fn release_held(&mut self, key: &TemplateKey) -> Result<usize, String> {
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
            records += self.data_set(&held.key, &held.body, &held.message)?;
        }
        Ok(records)
    }

    /// Decodes the records of one data set; returns how many flow rows it appended.
    fn data_set(
        &mut self,
        key: &TemplateKey,
        body: &[u8],
        message: &Message,
    ) -> Result<usize, String> {
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
        let mut cursor = Cursor::new(body);
        let mut rows = 0;
        // Fewer bytes than a record are padding.
        while cursor.remaining() >= template.min_record_len {
            self.record.clear();
            let mut times = TimeParts::default();
            let mut announced_sampling = None;
            let mut announced_init = None;
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
                        format!(
                            "template {} record truncated at element {}",
                            key.template_id, field.element
                        )
                    })?;
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
                if let Some(rate) = announced_sampling.filter(|rate| *rate > 0)
                    && self.sampling.insert(domain_key, rate) != Some(rate)
                {
                    self.generation += 1;
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
                self.record.sampling_rate = self.sampling.get(&domain_key).copied();
            }
            self.builders.append(&context, &self.record);
            rows += 1;
        }
        Ok(rows)
    }
}
