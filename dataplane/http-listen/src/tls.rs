use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio_rustls::TlsAcceptor;

/// The TLS acceptor for a PEM certificate chain and key, offering HTTP/1.1 only: hyper has a
/// header timeout for it, not for HTTP/2, so a slow HTTP/2 peer could hold a connection open.
/// `who` names the service in errors (`receiver`, `dataset t/d`).
pub async fn load_tls(cert: &Path, key: &Path, who: &str) -> Result<TlsAcceptor> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let loaded = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| {
            format!(
                "{who}: cannot load TLS certificate {} / key {}",
                cert.display(),
                key.display()
            )
        })?;
    let mut config = (*loaded.get_inner()).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The TLS acceptor of a stream listener (syslog over TLS, RFC 5425): the PEM certificate chain
/// and key, no ALPN, and with `client_ca` senders must present a certificate one of its CAs
/// signed (mutual TLS). Read in a blocking task: the files are small, but this runs on the
/// proxy's runtime.
pub async fn load_stream_tls(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    who: &str,
) -> Result<TlsAcceptor> {
    let (cert, key, client_ca, who) = (
        cert.to_path_buf(),
        key.to_path_buf(),
        client_ca.map(Path::to_path_buf),
        who.to_owned(),
    );
    tokio::task::spawn_blocking(move || stream_tls(&cert, &key, client_ca.as_deref(), &who))
        .await
        .context("loading TLS files stopped")?
}

fn stream_tls(cert: &Path, key: &Path, client_ca: Option<&Path>, who: &str) -> Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let _ = rustls::crypto::ring::default_provider().install_default();
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("{who}: cannot read TLS certificate {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{who}: {} holds no PEM certificate", cert.display());
    }
    let private_key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{who}: cannot read TLS key {}", key.display()))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(ca_file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| {
                    format!("{who}: cannot read TLS client CA {}", ca_file.display())
                })?;
            let (added, _) = roots.add_parsable_certificates(cas);
            if added == 0 {
                anyhow::bail!(
                    "{who}: {} holds no usable PEM CA certificate",
                    ca_file.display()
                );
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .with_context(|| format!("{who}: cannot use {} as client CA", ca_file.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, private_key)
        .with_context(|| {
            format!(
                "{who}: TLS key {} does not go with certificate {}",
                key.display(),
                cert.display()
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
