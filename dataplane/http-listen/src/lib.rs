//! A hardened HTTP/1.1 listener for endpoints any peer can reach (the receiver's ingest API,
//! the proxy's `http` input): connections are capped and accepted only when a slot is free,
//! headers and TLS handshakes must arrive within a timeout, bodies are read within a size
//! limit and a memory budget shared by every request, and gzip or zstd bodies are inflated
//! within the same limit.
//!
//! `tls.rs` also builds the TLS acceptor of the proxy's syslog streams.
//!
//! It owns transport only: it must not know what a body means (the caller parses it and
//! decides what is durable), and nothing a peer sends, however malformed or whatever lengths it
//! declares, may panic it or make it allocate beyond its limits.

mod body;
mod budget;
mod rejection;
mod serve;
#[cfg(feature = "test-pki")]
mod test_pki;
mod tls;

pub use body::{
    ContentEncoding, ReadBody, budget_rejection, content_encoding, declared_length, inflate,
    read_body, read_request_body, too_large,
};
pub use budget::{BodyBudget, BudgetError, Reservation};
pub use rejection::{Rejection, reject};
pub use serve::{ConnectionLimits, ConnectionMetrics, serve};
#[cfg(feature = "test-pki")]
pub use test_pki::TestPki;
pub use tls::{load_stream_tls, load_tls};
pub use tokio_rustls::TlsAcceptor;
