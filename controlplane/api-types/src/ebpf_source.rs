//! Settings of the `ebpf` input: NDJSON datagrams from host agents (`bytefreezer agent`, or
//! any agent that sends one JSON object per line) on a UDP port, 2056 by default.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::NestedJson;

/// The port agents send to unless told otherwise.
const EBPF_DEFAULT_PORT: u16 = 2056;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EbpfSourceSettings {
    /// UDP address the proxy listens on. Default `0.0.0.0:2056`.
    #[serde(default = "default_ebpf_bind")]
    pub bind: SocketAddr,
    /// Objects nested in a record (fields the typed schema does not list): flattened into
    /// dotted columns or kept as JSON text.
    #[serde(default)]
    pub nested: NestedJson,
}

impl Default for EbpfSourceSettings {
    fn default() -> Self {
        EbpfSourceSettings {
            bind: default_ebpf_bind(),
            nested: NestedJson::default(),
        }
    }
}

fn default_ebpf_bind() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], EBPF_DEFAULT_PORT))
}
