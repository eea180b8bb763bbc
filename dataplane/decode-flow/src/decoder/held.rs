//! Data sets that arrive before their template (exporters send templates only now and then,
//! and a collector that just started has none): held, bounded by count and age, and decoded
//! when the template comes.

use std::collections::VecDeque;

use super::{DecodeReport, FlowDecoder, Message, Outcome};
use crate::metrics::Event;
use crate::templates::TemplateKey;

pub(super) struct HeldSet {
    key: TemplateKey,
    message: Message,
    body: Vec<u8>,
}

impl FlowDecoder {
    pub(super) fn hold(
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

    pub(super) fn expire_held(&mut self, now_micros: i64, report: &mut DecodeReport) {
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

    pub(super) fn release_held(&mut self, key: &TemplateKey) -> Outcome<usize> {
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
}
