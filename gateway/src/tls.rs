//! TLS termination in the gateway (`server.tls_cert`, `server.tls_key`; rustls, TLS 1.2 and 1.3,
//! HTTP/1.1): the certificate is read at start and again on `reload` (SIGHUP), which swaps it for
//! new handshakes only; connections already open keep the session they have. A reload that fails
//! keeps the current certificate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why the certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not read the TLS certificate {path}: {message}")]
    Cert { path: PathBuf, message: String },
    #[error("could not read the TLS key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("the TLS certificate and key do not go together: {0}")]
    Mismatch(String),
}

/// The certificate in use, swapped by `reload`.
#[derive(Debug)]
struct Current {
    key: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .key
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

/// The gateway's TLS: a rustls server configuration and its reloadable certificate.
#[derive(Debug)]
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Arc<Current>,
    config: Arc<ServerConfig>,
}

impl ServerTls {
    /// Reads `cert` (PEM, leaf first, then intermediates) and `key` (PEM).
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = read(cert, key, &provider)?;
        let current = Arc::new(Current {
            key: RwLock::new(Arc::new(certified)),
        });
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Mismatch(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current,
            config: Arc::new(config),
        })
    }

    /// Reads the files again; new handshakes use them from now on.
    pub fn reload(&self) -> Result<(), TlsError> {
        let certified = read(&self.cert, &self.key, &self.provider)?;
        *self
            .current
            .key
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(certified);
        Ok(())
    }

    /// The configuration acceptors are built from.
    pub(crate) fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }
}

fn read(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_error = |message: String| TlsError::Cert {
        path: cert.to_path_buf(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no certificate in the file".to_owned()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        message: e.to_string(),
    })?;
    let certified = CertifiedKey::from_der(chain, private, provider)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    Ok(certified)
}
