use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Events kept per process; older ones fall off (the control plane keeps history).
const CAPACITY: usize = 1_000;

/// One thing a stage did or failed to do, for the Activity view: a piper job, a Parquet file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActivityEvent {
    /// RFC 3339 UTC.
    pub time: String,
    pub stage: String,
    pub tenant: String,
    pub dataset: String,
    /// `ok` or `error`.
    pub outcome: String,
    pub message: String,
    /// Numbers and names of the event (rows in/out, pipeline version, file, bytes).
    pub details: serde_json::Value,
}

/// The recent activity of this process, newest last, bounded.
#[derive(Clone, Default)]
pub struct ActivityLog(Arc<Mutex<Events>>);

#[derive(Default)]
struct Events {
    /// Sequence number of the newest event; the oldest kept is `last_seq - events.len() + 1`.
    last_seq: u64,
    events: VecDeque<ActivityEvent>,
}

impl ActivityLog {
    pub fn record(
        &self,
        stage: &str,
        (tenant, dataset): (&str, &str),
        ok: bool,
        message: impl Into<String>,
        details: serde_json::Value,
    ) {
        let event = ActivityEvent {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            stage: stage.to_owned(),
            tenant: tenant.to_owned(),
            dataset: dataset.to_owned(),
            outcome: if ok { "ok" } else { "error" }.to_owned(),
            message: message.into(),
            details,
        };
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if log.events.len() >= CAPACITY {
            log.events.pop_front();
        }
        log.events.push_back(event);
        log.last_seq += 1;
    }

    /// Events recorded after sequence number `seq` (oldest first, as many as are still kept)
    /// and the sequence number to pass next time: how a reporter ships each event once.
    pub fn since(&self, seq: u64) -> (Vec<ActivityEvent>, u64) {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let newer = usize::try_from(log.last_seq.saturating_sub(seq))
            .unwrap_or(usize::MAX)
            .min(log.events.len());
        let skip = log.events.len() - newer;
        (
            log.events.iter().skip(skip).cloned().collect(),
            log.last_seq,
        )
    }

    /// The newest `limit` events, newest first.
    pub fn recent(&self, limit: usize) -> Vec<ActivityEvent> {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.events.iter().rev().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_events_first_and_bounded() {
        let log = ActivityLog::default();
        for i in 0..CAPACITY + 5 {
            log.record(
                "piper",
                ("t", "d"),
                i % 2 == 0,
                format!("job {i}"),
                serde_json::json!({ "i": i }),
            );
        }
        let recent = log.recent(3);
        assert_eq!(recent[0].message, format!("job {}", CAPACITY + 4));
        assert_eq!(recent[0].outcome, "ok");
        assert_eq!(recent[1].outcome, "error");
        assert_eq!(log.recent(usize::MAX).len(), CAPACITY);
    }

    #[test]
    fn since_hands_out_each_event_once() {
        let log = ActivityLog::default();
        let (none, seq) = log.since(0);
        assert!(none.is_empty());
        log.record("packer", ("t", "d"), true, "a", serde_json::Value::Null);
        log.record("packer", ("t", "d"), true, "b", serde_json::Value::Null);
        let (first, seq) = log.since(seq);
        assert_eq!(
            first.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        log.record("packer", ("t", "d"), true, "c", serde_json::Value::Null);
        let (second, seq) = log.since(seq);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].message, "c");
        assert!(log.since(seq).0.is_empty());
        for i in 0..CAPACITY + 10 {
            log.record(
                "piper",
                ("t", "d"),
                true,
                format!("{i}"),
                serde_json::Value::Null,
            );
        }
        assert_eq!(
            log.since(seq).0.len(),
            CAPACITY,
            "what fell off is gone, not repeated"
        );
    }
}
