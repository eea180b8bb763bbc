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
pub struct ActivityLog(Arc<Mutex<VecDeque<ActivityEvent>>>);

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
        let mut events = match self.0.lock() {
            Ok(events) => events,
            Err(poisoned) => poisoned.into_inner(),
        };
        if events.len() >= CAPACITY {
            events.pop_front();
        }
        events.push_back(event);
    }

    /// The newest `limit` events, newest first.
    pub fn recent(&self, limit: usize) -> Vec<ActivityEvent> {
        let events = match self.0.lock() {
            Ok(events) => events,
            Err(poisoned) => poisoned.into_inner(),
        };
        events.iter().rev().take(limit).cloned().collect()
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
}
