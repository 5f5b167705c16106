//! Certificates for the TLS tests (the server's HTTPS, the SMTP server's STARTTLS and TLS).

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA (its PEM) and a server certificate it signed for 127.0.0.1 and localhost, with the
/// server's key, written to `dir`.
pub fn certificates(dir: &Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let fail = |e: rcgen::Error| -> ! { panic!("rcgen: {e}") };
    let ca_key = KeyPair::generate().unwrap_or_else(|e| fail(e));
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| fail(e));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "taskforce test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap_or_else(|e| fail(e));
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap_or_else(|e| fail(e));
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap_or_else(|e| fail(e));
    let cert = params.signed_by(&key, &issuer).unwrap_or_else(|e| fail(e));
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&key_path, key.serialize_pem()).unwrap_or_else(|e| panic!("{e}"));
    (ca_cert.pem(), cert_path, key_path)
}
