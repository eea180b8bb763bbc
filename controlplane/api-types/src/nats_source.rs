//! Settings of the `nats` plugin: the proxy subscribes to a NATS server instead of listening,
//! either to core subjects (optionally in a queue group) or through a JetStream durable pull
//! consumer whose messages it acknowledges only once they are durable in its spool.

use serde::{Deserialize, Serialize};

use crate::dataset::{HttpBodyFormat, NestedJson};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSourceSettings {
    /// Server URLs, comma separated (`nats://host:4222`, `tls://host:4222`). Default
    /// `nats://127.0.0.1:4222`.
    #[serde(default = "default_nats_url")]
    pub url: String,
    #[serde(default)]
    pub mode: NatsMode,
    /// Core: the subjects to subscribe to (wildcards allowed), at least one. JetStream: at most
    /// one, the consumer's filter (none: every subject of the stream).
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Core: proxies in one queue group share the subjects' messages, each delivered to one.
    #[serde(default)]
    pub queue_group: Option<String>,
    /// JetStream: the stream to read (it must exist; its retention is the operator's choice).
    #[serde(default)]
    pub stream: Option<String>,
    /// JetStream: the durable consumer's name, created when absent. Proxies sharing it share
    /// the stream's messages.
    #[serde(default)]
    pub consumer: Option<String>,
    /// JetStream: where a newly created consumer starts.
    #[serde(default)]
    pub deliver: NatsDeliver,
    /// JetStream: a delivered message not acknowledged within this is delivered again.
    /// Default 30, 5 to 3600.
    #[serde(default = "default_nats_ack_wait")]
    pub ack_wait_secs: u64,
    #[serde(default)]
    pub format: HttpBodyFormat,
    #[serde(default)]
    pub nested: NestedJson,
    /// Authentication: a token, a user and password, or a credentials file (JWT and NKey
    /// seed, as `nsc` writes it) on the proxy's host; at most one of the three.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub credentials_file: Option<String>,
    /// PEM CA the server's certificate must chain to; set, the connection must use TLS.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
}

impl Default for NatsSourceSettings {
    fn default() -> Self {
        NatsSourceSettings {
            url: default_nats_url(),
            mode: NatsMode::default(),
            subjects: Vec::new(),
            queue_group: None,
            stream: None,
            consumer: None,
            deliver: NatsDeliver::default(),
            ack_wait_secs: default_nats_ack_wait(),
            format: HttpBodyFormat::default(),
            nested: NestedJson::default(),
            token: None,
            user: None,
            password: None,
            credentials_file: None,
            tls_ca_file: None,
        }
    }
}

/// How the proxy reads a NATS server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NatsMode {
    /// Core NATS subscriptions: at most once, as NATS delivers them (nothing to acknowledge; a
    /// subscriber that falls behind loses messages at the server, counted as slow-consumer
    /// events).
    #[default]
    Core,
    /// A JetStream durable pull consumer: each message acknowledged after it is durable in the
    /// spool, so a stopped or crashed proxy loses nothing.
    Jetstream,
}

/// Where a newly created JetStream consumer starts in its stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NatsDeliver {
    /// The first message the stream holds.
    #[default]
    All,
    /// Messages published after the consumer was created.
    New,
    /// The last message the stream holds, then the new ones.
    Last,
}

impl NatsSourceSettings {
    /// The field and reason of the first setting out of range.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        let url_ok = !self.url.trim().is_empty()
            && self.url.split(',').all(|url| {
                let url = url.trim();
                ["nats://", "tls://"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len())
            });
        if !url_ok {
            return Err((
                "source.settings.url",
                "one or more server URLs, comma separated, each nats://host:port or tls://host:port",
            ));
        }
        if self.subjects.iter().any(|subject| !subject_ok(subject)) {
            return Err((
                "source.settings.subjects",
                "each subject is dot-separated tokens without spaces (* and > as wildcards)",
            ));
        }
        let name_ok = |name: &Option<String>| {
            name.as_deref().is_none_or(|name| {
                !name.is_empty()
                    && name.len() <= 128
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
        };
        match self.mode {
            NatsMode::Core => {
                if self.subjects.is_empty() {
                    return Err((
                        "source.settings.subjects",
                        "mode core needs at least one subject",
                    ));
                }
                if self.stream.is_some() || self.consumer.is_some() {
                    return Err((
                        "source.settings.mode",
                        "stream and consumer apply to mode jetstream only; set it, or remove them",
                    ));
                }
                if !self
                    .queue_group
                    .as_deref()
                    .is_none_or(|group| !group.is_empty() && subject_ok(group))
                {
                    return Err((
                        "source.settings.queue_group",
                        "a name without spaces or wildcards",
                    ));
                }
            }
            NatsMode::Jetstream => {
                if self.stream.is_none() || !name_ok(&self.stream) {
                    return Err((
                        "source.settings.stream",
                        "mode jetstream needs the stream's name (letters, digits, - and _)",
                    ));
                }
                if self.consumer.is_none() || !name_ok(&self.consumer) {
                    return Err((
                        "source.settings.consumer",
                        "mode jetstream needs a durable consumer name (letters, digits, - and _)",
                    ));
                }
                if self.subjects.len() > 1 {
                    return Err((
                        "source.settings.subjects",
                        "a JetStream consumer filters one subject at most (use a wildcard)",
                    ));
                }
                if self.queue_group.is_some() {
                    return Err((
                        "source.settings.queue_group",
                        "applies to mode core only: proxies sharing a JetStream consumer share its messages",
                    ));
                }
                if !(5..=3600).contains(&self.ack_wait_secs) {
                    return Err((
                        "source.settings.ack_wait_secs",
                        "must be between 5 and 3600 seconds",
                    ));
                }
            }
        }
        let methods = usize::from(self.token.is_some())
            + usize::from(self.user.is_some() || self.password.is_some())
            + usize::from(self.credentials_file.is_some());
        if methods > 1 {
            return Err((
                "source.settings.token",
                "use one of token, user and password, or credentials_file",
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            return Err((
                "source.settings.user",
                "set both user and password, or neither",
            ));
        }
        Ok(())
    }

    /// The first server URL without credentials a URL may carry: the `listen` label of the
    /// input's metrics and what the dashboard shows.
    pub fn label(&self) -> String {
        let first = self.url.split(',').next().unwrap_or_default().trim();
        let without_user = match first.split_once("://") {
            Some((scheme, rest)) => {
                format!(
                    "{scheme}://{}",
                    rest.rsplit_once('@').map_or(rest, |(_, h)| h)
                )
            }
            None => first.to_owned(),
        };
        match (self.mode, &self.stream, &self.consumer) {
            (NatsMode::Jetstream, Some(stream), Some(consumer)) => {
                format!("{without_user}/{stream}/{consumer}")
            }
            _ => format!("{without_user}/{}", self.subjects.join(",")),
        }
    }
}

fn subject_ok(subject: &str) -> bool {
    !subject.is_empty()
        && subject.len() <= 256
        && subject.split('.').all(|token| {
            !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic() && b != b'.')
        })
}

fn default_nats_url() -> String {
    "nats://127.0.0.1:4222".to_owned()
}

fn default_nats_ack_wait() -> u64 {
    30
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core(subjects: &[&str]) -> NatsSourceSettings {
        NatsSourceSettings {
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            ..NatsSourceSettings::default()
        }
    }

    #[test]
    fn settings_are_checked_per_mode() {
        assert_eq!(core(&["logs.>"]).validate(), Ok(()));
        assert_eq!(
            core(&[]).validate().unwrap_err().0,
            "source.settings.subjects"
        );
        assert_eq!(
            core(&["a..b"]).validate().unwrap_err().0,
            "source.settings.subjects"
        );
        let jetstream = NatsSourceSettings {
            mode: NatsMode::Jetstream,
            stream: Some("EVENTS".into()),
            consumer: Some("bytefreezer".into()),
            ..NatsSourceSettings::default()
        };
        assert_eq!(jetstream.validate(), Ok(()));
        let no_consumer = NatsSourceSettings {
            consumer: None,
            ..jetstream.clone()
        };
        assert_eq!(
            no_consumer.validate().unwrap_err().0,
            "source.settings.consumer"
        );
        let two_filters = NatsSourceSettings {
            subjects: vec!["a".into(), "b".into()],
            ..jetstream.clone()
        };
        assert_eq!(
            two_filters.validate().unwrap_err().0,
            "source.settings.subjects"
        );
        let bad_url = NatsSourceSettings {
            url: "http://x:4222".into(),
            ..jetstream.clone()
        };
        assert_eq!(bad_url.validate().unwrap_err().0, "source.settings.url");
        let two_auths = NatsSourceSettings {
            token: Some("t".into()),
            credentials_file: Some("/etc/x.creds".into()),
            ..jetstream
        };
        assert_eq!(two_auths.validate().unwrap_err().0, "source.settings.token");
    }

    #[test]
    fn the_label_hides_credentials_in_the_url() {
        let settings = NatsSourceSettings {
            url: "nats://me:secret@host:4222,nats://other:4222".into(),
            ..core(&["logs.>", "audit"])
        };
        assert_eq!(settings.label(), "nats://host:4222/logs.>,audit");
    }
}
