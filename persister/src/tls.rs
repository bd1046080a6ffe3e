//! TLS to PostgreSQL, with rustls: libpq's `sslmode` (`disable`, `allow`/`prefer`, `require`,
//! `verify-ca`, `verify-full`) and `sslrootcert` read from the database URL (or key=value string),
//! the rest handed to tokio-postgres. `require` encrypts without checking who answers (as libpq
//! does, unless `sslrootcert` is given: then the chain is checked), `verify-ca` checks the chain,
//! `verify-full` the chain and the host name; without `sslrootcert` the chain is checked against
//! the Mozilla roots (webpki-roots). Unix-socket connections never use TLS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::DbError;

/// How strongly the server's identity is checked (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// TLS if the server offers it (`allow`, `prefer`; libpq's default).
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<Self, DbError> {
        Ok(match text {
            "disable" => Self::Disable,
            "allow" | "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(DbError::BadUrl(format!(
                    "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )));
            }
        })
    }

    /// What tokio-postgres is told: whether to ask for TLS, and whether it must succeed.
    fn for_tokio_postgres(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require | Self::VerifyCa | Self::VerifyFull => "require",
        }
    }
}

/// The TLS settings found in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

/// Splits `sslmode` and `sslrootcert` out of `url`: the URL for tokio-postgres (its `sslmode`
/// mapped to one it knows) and the settings. Client certificates are not supported.
pub fn extract(url: &str) -> Result<(String, TlsSettings), DbError> {
    let mut settings = TlsSettings {
        mode: SslMode::Prefer,
        root_cert: None,
    };
    let mut take = |key: &str, value: String| -> Result<bool, DbError> {
        match key {
            "sslmode" => settings.mode = SslMode::parse(&value)?,
            "sslrootcert" => settings.root_cert = Some(PathBuf::from(value)),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(DbError::BadUrl(format!(
                    "{key}: client certificates are not supported"
                )));
            }
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.contains("://") {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(key, percent_decode(value))? {
                kept.push(pair.to_owned());
            }
        }
        let mut rest = base.to_owned();
        kept.push(format!("sslmode={}", settings.mode.for_tokio_postgres()));
        rest.push('?');
        rest.push_str(&kept.join("&"));
        rest
    } else {
        let mut kept = Vec::new();
        for pair in parley_shared::libpq::pairs(url) {
            if !take(&pair.key, pair.value)? {
                kept.push(pair.raw);
            }
        }
        kept.push(format!("sslmode={}", settings.mode.for_tokio_postgres()));
        kept.join(" ")
    };
    Ok((rest, settings))
}

/// The rustls configuration `settings` need (`None` for `disable`).
pub fn client_config(settings: &TlsSettings) -> Result<Option<Arc<ClientConfig>>, DbError> {
    if settings.mode == SslMode::Disable {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match &settings.root_cert {
        Some(path) => Some(Arc::new(load_roots(path)?)),
        None => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (settings.mode, roots) {
        (SslMode::Prefer | SslMode::Require, None) => Arc::new(Unverified(Arc::clone(&provider))),
        (SslMode::VerifyFull, roots) => webpki(roots, &provider)?,
        (_, roots) => Arc::new(ChainOnly(webpki(roots, &provider)?)),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::BadUrl(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

fn webpki(
    roots: Option<Arc<RootCertStore>>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, DbError> {
    let roots = roots.unwrap_or_else(|| {
        Arc::new(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
    });
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(provider))
        .build()
        .map_err(|e| DbError::BadUrl(format!("TLS roots: {e}")))?;
    Ok(verifier)
}

fn load_roots(path: &Path) -> Result<RootCertStore, DbError> {
    let bad =
        |e: &dyn std::fmt::Display| DbError::BadUrl(format!("sslrootcert {}: {e}", path.display()));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate in the file"));
    }
    Ok(roots)
}

/// `require` without a root certificate: encrypted, identity unchecked (the handshake's
/// signatures are still verified, so the session is bound to the certificate presented).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` (and `require` with a root certificate): the chain must lead to a trusted root;
/// the name in it need not match the host.
#[derive(Debug)]
struct ChainOnly(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_table() {
        let cases = [
            (
                "postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
                "postgres://u@h/db?sslmode=require",
                SslMode::VerifyFull,
                Some("/etc/ca.pem"),
            ),
            (
                "postgres://u@h/db?application_name=x&sslmode=require",
                "postgres://u@h/db?application_name=x&sslmode=require",
                SslMode::Require,
                None,
            ),
            (
                "postgres://u@h/db",
                "postgres://u@h/db?sslmode=prefer",
                SslMode::Prefer,
                None,
            ),
            (
                "host=h user=u sslmode=verify-ca sslrootcert='/a b/ca.pem'",
                "host=h user=u sslmode=require",
                SslMode::VerifyCa,
                Some("/a b/ca.pem"),
            ),
            (
                "host=/run/pg dbname=d",
                "host=/run/pg dbname=d sslmode=prefer",
                SslMode::Prefer,
                None,
            ),
            (
                "host=h sslmode=disable",
                "host=h sslmode=disable",
                SslMode::Disable,
                None,
            ),
        ];
        for (url, rest, mode, root) in cases {
            let (got, settings) = extract(url).expect(url);
            assert_eq!(got, rest, "{url}");
            assert_eq!(settings.mode, mode, "{url}");
            assert_eq!(settings.root_cert.as_deref(), root.map(Path::new), "{url}");
        }
        assert!(extract("postgres://h/db?sslmode=maybe").is_err());
        assert!(extract("host=h sslcert=/c.pem").is_err());
    }
}
