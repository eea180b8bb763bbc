//! A private CA and certificates it signed, as PEM files, for tests of TLS listeners and their
//! clients. Built only with the `test-pki` feature, which only dev-dependencies turn on.

use std::path::{Path, PathBuf};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA, and a server certificate for `localhost` it signed, written to a folder.
pub struct TestPki {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_pem: String,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl TestPki {
    /// Writes `ca.pem`, `server.pem` and `server.key` into `dir`.
    pub fn new(dir: &Path) -> TestPki {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let server_key = rcgen::KeyPair::generate().expect("server key");
        let server = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("server parameters")
            .signed_by(&server_key, &ca, &ca_key)
            .expect("server certificate");
        let pki = TestPki {
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server.key"),
            ca_pem: ca.pem(),
            ca,
            ca_key,
        };
        std::fs::write(&pki.ca_file, &pki.ca_pem).expect("write ca.pem");
        std::fs::write(&pki.cert_file, server.pem()).expect("write server.pem");
        std::fs::write(&pki.key_file, server_key.serialize_pem()).expect("write server.key");
        pki
    }

    /// A client certificate for `name` the CA signed: its chain and key, for a TLS client.
    pub fn client(&self, name: &str) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = rcgen::KeyPair::generate().expect("client key");
        let certificate = rcgen::CertificateParams::new(vec![name.to_owned()])
            .expect("client parameters")
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("client certificate");
        let key = PrivateKeyDer::try_from(key.serialize_der()).expect("client key DER");
        (vec![certificate.der().clone()], key)
    }
}
