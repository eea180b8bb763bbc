//! Settings of the `kafka` plugin: the proxy joins a consumer group on one or more topics
//! instead of listening, and commits a partition's offset only once the messages before it are
//! durable in its spool.

use serde::{Deserialize, Serialize};

use crate::dataset::{HttpBodyFormat, NestedJson};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceSettings {
    /// Bootstrap brokers, `host:port` comma separated. Default `127.0.0.1:9092`.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// The topics to read, at least one.
    #[serde(default)]
    pub topics: Vec<String>,
    /// The consumer group: proxies in one group share the topics' partitions, and the group's
    /// committed offsets say where a restarted proxy goes on. Default `bytefreezer`.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Where a group without a committed offset for a partition starts.
    #[serde(default)]
    pub start: KafkaStart,
    /// How each message's value holds events, as an `http` body does.
    #[serde(default)]
    pub format: HttpBodyFormat,
    #[serde(default)]
    pub nested: NestedJson,
    /// Kafka's `session.timeout.ms` in seconds: a proxy silent this long leaves the group and
    /// its partitions go to the others. Default 45, 6 to 300.
    #[serde(default = "default_session_timeout")]
    pub session_timeout_secs: u64,
}

impl Default for KafkaSourceSettings {
    fn default() -> Self {
        KafkaSourceSettings {
            brokers: default_brokers(),
            topics: Vec::new(),
            group_id: default_group(),
            start: KafkaStart::default(),
            format: HttpBodyFormat::default(),
            nested: NestedJson::default(),
            session_timeout_secs: default_session_timeout(),
        }
    }
}

/// Where a consumer group without a committed offset starts reading a partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaStart {
    /// The oldest message the partition still holds.
    #[default]
    Earliest,
    /// Messages produced after the group joined.
    Latest,
}

impl KafkaStart {
    /// Kafka's `auto.offset.reset` value.
    pub fn offset_reset(self) -> &'static str {
        match self {
            KafkaStart::Earliest => "earliest",
            KafkaStart::Latest => "latest",
        }
    }
}

impl KafkaSourceSettings {
    /// The field and reason of the first setting out of range.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        let brokers_ok = !self.brokers.trim().is_empty()
            && self.brokers.split(',').all(|broker| {
                let broker = broker.trim();
                broker.rsplit_once(':').is_some_and(|(host, port)| {
                    !host.is_empty()
                        && !host.contains("://")
                        && port.parse::<u16>().is_ok_and(|port| port > 0)
                })
            });
        if !brokers_ok {
            return Err((
                "source.settings.brokers",
                "one or more brokers, comma separated, each host:port (no scheme)",
            ));
        }
        if self.topics.is_empty() {
            return Err(("source.settings.topics", "at least one topic"));
        }
        if !self.topics.iter().all(|topic| kafka_name_ok(topic, 249)) {
            return Err((
                "source.settings.topics",
                "each topic is 1 to 249 letters, digits, '.', '_' or '-'",
            ));
        }
        if !kafka_name_ok(&self.group_id, 255) {
            return Err((
                "source.settings.group_id",
                "1 to 255 letters, digits, '.', '_' or '-'",
            ));
        }
        if !(6..=300).contains(&self.session_timeout_secs) {
            return Err((
                "source.settings.session_timeout_secs",
                "must be between 6 and 300 seconds",
            ));
        }
        Ok(())
    }

    /// `kafka://first-broker/topic,topic`: the `listen` label of the input's metrics and what
    /// the dashboard shows.
    pub fn label(&self) -> String {
        let first = self.brokers.split(',').next().unwrap_or_default().trim();
        format!("kafka://{first}/{}", self.topics.join(","))
    }
}

/// Kafka's legal topic and group names (the broker refuses others).
fn kafka_name_ok(name: &str, max_len: usize) -> bool {
    !name.is_empty()
        && name.len() <= max_len
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn default_brokers() -> String {
    "127.0.0.1:9092".to_owned()
}

fn default_group() -> String {
    "bytefreezer".to_owned()
}

fn default_session_timeout() -> u64 {
    45
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(topics: &[&str]) -> KafkaSourceSettings {
        KafkaSourceSettings {
            topics: topics.iter().map(|topic| topic.to_string()).collect(),
            ..KafkaSourceSettings::default()
        }
    }

    #[test]
    fn settings_out_of_range_name_their_field() {
        assert_eq!(topics(&["logs", "audit.v1"]).validate(), Ok(()));
        assert_eq!(
            topics(&[]).validate().unwrap_err().0,
            "source.settings.topics"
        );
        assert_eq!(
            topics(&["a b"]).validate().unwrap_err().0,
            "source.settings.topics"
        );
        for brokers in ["", "kafka://h:9092", "h", "h:0", "h:9092,", ":9092"] {
            let settings = KafkaSourceSettings {
                brokers: brokers.into(),
                ..topics(&["logs"])
            };
            assert_eq!(
                settings.validate().unwrap_err().0,
                "source.settings.brokers",
                "{brokers}"
            );
        }
        let group = KafkaSourceSettings {
            group_id: "".into(),
            ..topics(&["logs"])
        };
        assert_eq!(group.validate().unwrap_err().0, "source.settings.group_id");
        let session = KafkaSourceSettings {
            session_timeout_secs: 1,
            ..topics(&["logs"])
        };
        assert_eq!(
            session.validate().unwrap_err().0,
            "source.settings.session_timeout_secs"
        );
    }

    #[test]
    fn the_label_names_the_first_broker_and_the_topics() {
        let settings = KafkaSourceSettings {
            brokers: "k1:9092, k2:9092".into(),
            ..topics(&["logs", "audit"])
        };
        assert_eq!(settings.label(), "kafka://k1:9092/logs,audit");
    }
}
