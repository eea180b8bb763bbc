use std::future::Future;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

use crate::generator::{FakeFormat, FakeGenerator};
use crate::pacer::Pacer;

/// How messages are separated on the stream (RFC 6587).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFraming {
    /// `LEN SP MSG`, as RFC 5425 requires over TLS.
    OctetCounting,
    /// Each message ends with a newline.
    Newline,
}

/// Where and how to send syslog over TCP or TLS.
#[derive(Debug, Clone)]
pub struct StreamSendOptions {
    /// `tcp://HOST:PORT` or `tls://HOST:PORT`.
    pub target: String,
    /// TLS: trust the CAs in this PEM file instead of the system's.
    pub ca_file: Option<PathBuf>,
    pub framing: StreamFraming,
    pub format: FakeFormat,
    pub rate_per_second: Option<u64>,
    pub count: Option<u64>,
    pub seed: u64,
}

/// Whether `target` names a syslog stream (`tcp://` or `tls://`).
pub fn is_stream_target(target: &str) -> bool {
    target.starts_with("tcp://") || target.starts_with("tls://")
}

trait Stream: AsyncWrite + Unpin + Send {}
impl<T: AsyncWrite + Unpin + Send> Stream for T {}

/// Sends framed messages on one connection until `count` or `shutdown`; how many were written
/// to it. Writing waits while the input is not reading (its spool is full), as a real sender's
/// would; a closed connection is an error naming how many were sent before it.
pub async fn send_stream(
    options: StreamSendOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<u64> {
    let (tls, address) = match (
        options.target.strip_prefix("tcp://"),
        options.target.strip_prefix("tls://"),
    ) {
        (Some(address), _) => (false, address),
        (_, Some(address)) => (true, address),
        _ => bail!(
            "target {:?} must look like tcp://HOST:PORT or tls://HOST:PORT",
            options.target
        ),
    };
    let socket_address = address
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve target {:?}", options.target))?
        .next()
        .with_context(|| format!("target {:?} resolves to no address", options.target))?;
    let tcp = TcpStream::connect(socket_address)
        .await
        .with_context(|| format!("cannot connect to {}", options.target))?;
    let stream: Box<dyn Stream> = if tls {
        let host = address
            .rsplit_once(':')
            .map_or(address, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        Box::new(connect_tls(tcp, host, options.ca_file.as_deref()).await?)
    } else {
        Box::new(tcp)
    };
    let mut writer = BufWriter::with_capacity(64 * 1024, stream);
    let mut generator = FakeGenerator::new(options.seed);
    let (mut message, mut frame) = (Vec::with_capacity(512), Vec::with_capacity(512));
    let mut sent = 0u64;
    let mut pacer = Pacer::new(options.rate_per_second, options.count, 256);
    tokio::pin!(shutdown);
    loop {
        let due = pacer.due(sent);
        while sent < due {
            message.clear();
            generator.render(options.format, Utc::now(), &mut message);
            frame.clear();
            match options.framing {
                StreamFraming::OctetCounting => {
                    frame.extend_from_slice(format!("{} ", message.len()).as_bytes());
                    frame.extend_from_slice(&message);
                }
                StreamFraming::Newline => {
                    frame.extend_from_slice(&message);
                    frame.push(b'\n');
                }
            }
            writer.write_all(&frame).await.with_context(|| {
                format!(
                    "{} closed the connection after {sent} messages",
                    options.target
                )
            })?;
            sent += 1;
        }
        writer
            .flush()
            .await
            .with_context(|| format!("{} closed the connection", options.target))?;
        if pacer.finished(sent) || pacer.wait(&mut shutdown).await {
            break;
        }
    }
    writer
        .shutdown()
        .await
        .with_context(|| format!("cannot close the connection to {}", options.target))?;
    Ok(sent)
}

async fn connect_tls(
    tcp: TcpStream,
    host: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("cannot read CA file {}", path.display()))?;
            roots.add_parsable_certificates(certificates);
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    if roots.is_empty() {
        bail!("no CA certificate to check the server with; pass --ca-file");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("cannot set up TLS")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned())
        .with_context(|| format!("{host:?} is not a host name TLS can check"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {host} failed"))
}
