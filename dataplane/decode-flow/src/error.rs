//! What goes wrong decoding a datagram or restoring a template file.

use crate::metrics::MalformedCause;

/// Why decoding stopped part way through a datagram (the records before it are kept). The
/// variant is the cause [`FlowDecoder::exporter_metrics`] counts; the text says where.
///
/// [`FlowDecoder::exporter_metrics`]: crate::FlowDecoder::exporter_metrics
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// It ends before its header, a record or a sample does.
    #[error("{0}")]
    Truncated(String),
    /// A length or count in it does not fit the datagram or the protocol's limits.
    #[error("{0}")]
    BadLength(String),
    /// Its first two bytes name no version this decoder reads.
    #[error("version {version} is not NetFlow v5, v9, IPFIX (10) or sFlow v5")]
    UnknownVersion { version: u16 },
    /// A template or options template that cannot be used.
    #[error("{0}")]
    Template(String),
}

impl DecodeError {
    pub(crate) fn truncated(detail: impl Into<String>) -> DecodeError {
        DecodeError::Truncated(detail.into())
    }

    pub(crate) fn bad_length(detail: impl Into<String>) -> DecodeError {
        DecodeError::BadLength(detail.into())
    }

    pub(crate) fn template(detail: impl Into<String>) -> DecodeError {
        DecodeError::Template(detail.into())
    }

    /// The cause as counted (and as a metric label, through [`MalformedCause::name`]).
    pub fn cause(&self) -> MalformedCause {
        match self {
            DecodeError::Truncated(_) => MalformedCause::Truncated,
            DecodeError::BadLength(_) => MalformedCause::BadLength,
            DecodeError::UnknownVersion { .. } => MalformedCause::UnknownVersion,
            DecodeError::Template(_) => MalformedCause::Template,
        }
    }
}

/// Why a template file was refused; a refused file changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TemplateRestoreError {
    #[error("not a bytefreezer template file (BFT1 or BFT2)")]
    NotTemplateFile,
    #[error("template file is truncated or damaged")]
    Damaged,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_counts_under_its_cause_and_says_what_happened() {
        let unknown = DecodeError::UnknownVersion { version: 11 };
        assert_eq!(unknown.cause(), MalformedCause::UnknownVersion);
        assert_eq!(
            unknown.to_string(),
            "version 11 is not NetFlow v5, v9, IPFIX (10) or sFlow v5"
        );
        let truncated = DecodeError::truncated("NetFlow v5 header truncated");
        assert_eq!(truncated.cause().name(), "truncated");
        assert_eq!(truncated.to_string(), "NetFlow v5 header truncated");
        assert_eq!(
            DecodeError::bad_length("x").cause(),
            MalformedCause::BadLength
        );
        assert_eq!(DecodeError::template("x").cause(), MalformedCause::Template);
    }
}
