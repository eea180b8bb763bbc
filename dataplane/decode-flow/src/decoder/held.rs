//! Data sets that arrive before their template (exporters send templates only now and then,
//! and a collector that just started has none): held, bounded by count, age and bytes (in
//! total and per exporter), and decoded when the template comes.

use std::collections::VecDeque;

use super::{DecodeReport, FlowDecoder, Message};
use crate::metrics::Event;
use crate::templates::TemplateKey;

pub(super) struct HeldSet {
    key: TemplateKey,
    message: Message,
    body: Vec<u8>,
}

impl HeldSet {
    /// What the set counts against the held byte limits: its body and its place in the queue.
    fn cost_bytes(&self) -> usize {
        self.body.capacity() + std::mem::size_of::<HeldSet>()
    }
}

impl FlowDecoder {
    pub(super) fn hold(
        &mut self,
        key: TemplateKey,
        message: &Message,
        body: &[u8],
        report: &mut DecodeReport,
    ) {
        let cost = body.len() + std::mem::size_of::<HeldSet>();
        let limits = self.limits;
        self.count(message.exporter, Some(message.domain), Event::SetHeld);
        if cost
            > limits
                .max_held_bytes_per_exporter
                .min(limits.max_held_bytes)
        {
            // Larger than any room there is: given up at once rather than emptying the queue.
            self.count(key.exporter, Some(key.domain), Event::SetDropped);
            report.dropped_held_sets += 1;
            return;
        }
        // The exporter's own oldest sets make room first, so one exporter cannot push out
        // what others wait for.
        while self.held_by(key.exporter) + cost > limits.max_held_bytes_per_exporter {
            let Some(oldest) = self
                .held
                .iter()
                .position(|held| held.key.exporter == key.exporter)
            else {
                break;
            };
            self.drop_held(oldest, report);
        }
        while !self.held.is_empty()
            && (self.held.len() >= limits.max_held_sets
                || self.held_bytes + cost > limits.max_held_bytes)
        {
            self.drop_held(0, report);
        }
        if limits.max_held_sets == 0 {
            self.count(key.exporter, Some(key.domain), Event::SetDropped);
            report.dropped_held_sets += 1;
            return;
        }
        let held = HeldSet {
            key,
            message: *message,
            body: body.to_vec(),
        };
        self.add_held_bytes(key.exporter, held.cost_bytes() as isize);
        self.held.push_back(held);
        report.held_sets += 1;
    }

    pub(super) fn expire_held(&mut self, now_micros: i64, report: &mut DecodeReport) {
        while self.held.front().is_some_and(|held| {
            now_micros - held.message.receive_time_micros > self.limits.max_held_age_micros
        }) {
            self.drop_held(0, report);
        }
    }

    /// Gives up the held set at `index`: its records are lost, and counted.
    fn drop_held(&mut self, index: usize, report: &mut DecodeReport) {
        if let Some(dropped) = self.take_held(index) {
            self.count(
                dropped.key.exporter,
                Some(dropped.key.domain),
                Event::SetDropped,
            );
            report.dropped_held_sets += 1;
        }
    }

    fn take_held(&mut self, index: usize) -> Option<HeldSet> {
        let held = self.held.remove(index)?;
        self.add_held_bytes(held.key.exporter, -(held.cost_bytes() as isize));
        Some(held)
    }

    fn held_by(&self, exporter: Option<std::net::IpAddr>) -> usize {
        self.held_per_exporter.get(&exporter).copied().unwrap_or(0)
    }

    fn add_held_bytes(&mut self, exporter: Option<std::net::IpAddr>, change: isize) {
        self.held_bytes = self.held_bytes.saturating_add_signed(change);
        let bytes = self.held_per_exporter.entry(exporter).or_default();
        *bytes = bytes.saturating_add_signed(change);
        if *bytes == 0 {
            self.held_per_exporter.remove(&exporter);
        }
    }

    /// Decodes the sets held for `key`, now that its template is known, into
    /// `report.released_records`. A held set that turns out unusable costs only itself (counted
    /// by cause, like a set in its own datagram); the others still decode.
    pub(super) fn release_held(&mut self, key: &TemplateKey, report: &mut DecodeReport) {
        if !self.held.iter().any(|held| held.key == *key) {
            return;
        }
        let (ready, waiting): (VecDeque<HeldSet>, VecDeque<HeldSet>) =
            std::mem::take(&mut self.held)
                .into_iter()
                .partition(|held| held.key == *key);
        self.held = waiting;
        for held in &ready {
            self.add_held_bytes(held.key.exporter, -(held.cost_bytes() as isize));
        }
        for held in ready {
            self.count(held.key.exporter, Some(held.key.domain), Event::SetReleased);
            let (rows, decoded) = self.counted_data_set(&held.key, &held.body, &held.message);
            report.released_records += rows;
            if let Err(error) = decoded {
                self.skip_set(held.key.exporter, held.key.domain, error, report);
            }
        }
    }
}
