//! HTTPS without a proxy (issue 19, point 6): the rustls server configuration of
//! `--tls-cert` and `--tls-key` (PEM files). rustls 0.23 on ring: the one rustls and the one
//! provider the database drivers (sqlx) already build.

use std::{path::Path, sync::Arc};

use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};

/// Why the certificate or key cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS needs both a certificate and its key: tls_key (--tls-key) is missing")]
    NoKeyFile,
    #[error("TLS needs both a certificate and its key: tls_cert (--tls-cert) is missing")]
    NoCertFile,
    #[error("cannot read the TLS {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("the TLS certificate {path} holds no PEM certificate (\"BEGIN CERTIFICATE\")")]
    NoCertificate { path: String },
    #[error("the TLS certificate {path} is not valid PEM: {source}")]
    BadCertificate {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("the TLS key {path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {source}")]
    BadKey {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("the TLS certificate and key cannot serve (do they belong together?): {0}")]
    Rustls(#[from] rustls::Error),
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
}

/// The TLS configuration of a certificate chain and its key, both PEM; `None` when neither
/// is given (plain HTTP). One without the other is an error, not plain HTTP.
pub fn server_config(
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Option<ServerConfig>, TlsError> {
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(TlsError::NoKeyFile),
        (None, Some(_)) => return Err(TlsError::NoCertFile),
        (Some(c), Some(k)) => (c, k),
    };
    let cert_pem = read("certificate", cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::BadCertificate {
            path: cert.display().to_string(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.display().to_string(),
        });
    }
    let key_pem = read("key", key)?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| TlsError::BadKey {
        path: key.display().to_string(),
        source,
    })?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)?;
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, cert: &str, key: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&k, key).unwrap_or_else(|e| panic!("{e}"));
        (c, k)
    }

    fn refusal(cert: Option<&Path>, key: Option<&Path>) -> String {
        match server_config(cert, key) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn missing_or_bad_files_are_refused_saying_which_and_why() {
        let dir = std::env::temp_dir().join(format!("tf-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(server_config(None, None), Ok(None)), "plain HTTP");
        let nowhere = dir.join("nowhere.pem");
        let m = refusal(Some(&nowhere), Some(&nowhere));
        assert!(
            m.contains("cannot read the TLS certificate") && m.contains("nowhere.pem"),
            "{m}"
        );
        assert!(refusal(Some(&nowhere), None).contains("tls_key (--tls-key) is missing"));
        assert!(refusal(None, Some(&nowhere)).contains("tls_cert (--tls-cert) is missing"));
        let (c, k) = files(&dir, "not a certificate\n", "not a key\n");
        let m = refusal(Some(&c), Some(&k));
        assert!(m.contains("holds no PEM certificate"), "{m}");
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .unwrap_or_else(|e| panic!("{e}"));
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .unwrap_or_else(|e| panic!("{e}"));
        let cert = generated.cert.pem();
        let (c, k) = files(&dir, &cert, "not a key\n");
        let m = refusal(Some(&c), Some(&k));
        assert!(m.contains("holds no PEM private key"), "{m}");
        let (c, k) = files(&dir, &cert, &other.signing_key.serialize_pem());
        let m = refusal(Some(&c), Some(&k));
        assert!(m.contains("do they belong together"), "{m}");
        let (c, k) = files(&dir, &cert, &generated.signing_key.serialize_pem());
        assert!(matches!(server_config(Some(&c), Some(&k)), Ok(Some(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
