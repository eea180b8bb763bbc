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
