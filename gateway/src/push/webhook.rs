//! The HTTP side of push: one POST per delivery over HTTP/1.1 (TLS with the Mozilla roots for
//! `https://`), a fresh connection per request, the whole exchange under `push_timeout`. The
//! webhook channel signs a JSON body for `notifications.webhook_url`: `Idempotency-Key` (the
//! delivery's id: the same on every retry, so the receiver can drop a repeat) and
//! `Parley-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` keyed with
//! `webhook_secret`. Web Push requests (`post_to`) go to the browser's endpoint.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use parley_shared::config::NotificationsConfig;
use sha2::Sha256;
use tokio::net::TcpStream;

/// Most bytes of an answer read (the status is what counts).
const MAX_ANSWER: usize = 16 * 1024;

/// Why a POST got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostError {
    #[error("webhook URL not usable: {0}")]
    Url(&'static str),
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("no answer within the push timeout")]
    Timeout,
}

/// Where a request goes.
#[derive(Debug)]
pub(crate) struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// Path and query.
    path: String,
}

pub(crate) fn target(url: &str) -> Result<Target, PostError> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(PostError::Url("not http:// or https://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(PostError::Url("credentials in the URL"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            (host, port.parse().map_err(|_| PostError::Url("bad port"))?)
        }
        _ => (authority, if tls { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(PostError::Url("no host"));
    }
    Ok(Target {
        tls,
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

impl Target {
    /// `host[:port]` (the port only when not the scheme's).
    pub(crate) fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if (self.tls && self.port == 443) || (!self.tls && self.port == 80) {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `https://host[:port]`: the audience of a VAPID token.
    pub(crate) fn origin(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority())
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.tls
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }
}

/// `t=<unix>,v1=<hex>` for `body` at `unix`.
pub(crate) fn signature(secret: &[u8], unix: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix},v1={hex}")
}

/// The channel, built once from the configuration.
pub(crate) struct Client {
    target: Result<Target, &'static str>,
    secret: Vec<u8>,
    timeout: Duration,
    tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("webhook::Client").finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(config: &NotificationsConfig) -> Self {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .expect("the ring provider supports the default TLS versions");
        Self {
            target: target(config.webhook_url.trim()).map_err(|e| match e {
                PostError::Url(why) => why,
                _ => "unusable",
            }),
            secret: config.webhook_secret.as_bytes().to_vec(),
            timeout: config.push_timeout,
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        }
    }

    /// POSTs `payload` for delivery `id` to the webhook; the answer's status.
    pub(crate) async fn post(&self, id: &uuid::Uuid, payload: &str) -> Result<u16, PostError> {
        let target = self.target.as_ref().map_err(|why| PostError::Url(why))?;
        let unix = time::OffsetDateTime::now_utc().unix_timestamp();
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("idempotency-key", id.to_string()),
            (
                "parley-signature",
                signature(&self.secret, unix, payload.as_bytes()),
            ),
        ];
        let body = Bytes::copy_from_slice(payload.as_bytes());
        self.post_to(target, &headers, body).await
    }

    /// POSTs `body` with `headers` to `target`; the answer's status.
    pub(crate) async fn post_to(
        &self,
        target: &Target,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> Result<u16, PostError> {
        match tokio::time::timeout(self.timeout, self.exchange(target, headers, body)).await {
            Ok(answer) => answer,
            Err(_) => Err(PostError::Timeout),
        }
    }

    async fn exchange(
        &self,
        target: &Target,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> Result<u16, PostError> {
        let stream = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(PostError::Connect)?;
        let _ = stream.set_nodelay(true);
        let mut request = Request::post(target.path.as_str())
            .header("host", target.authority())
            .header("user-agent", "parley-push/1");
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|_| PostError::Url("bad request parts"))?;
        if target.tls {
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|_| PostError::Url("bad host name"))?;
            let stream = self
                .tls
                .connect(name, stream)
                .await
                .map_err(PostError::Tls)?;
            send(TokioIo::new(stream), request).await
        } else {
            send(TokioIo::new(stream), request).await
        }
    }
}

async fn send<IO>(io: IO, request: Request<Full<Bytes>>) -> Result<u16, PostError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    let driver = tokio::task::spawn_local(async move {
        let _ = connection.await;
    });
    let answer = sender.send_request(request).await;
    let status = match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read a little of the body so the connection ends cleanly; its content is unused.
            let mut body = response.into_body();
            let mut read = 0;
            while read < MAX_ANSWER {
                match body.frame().await {
                    Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                    _ => break,
                }
            }
            Ok(status)
        }
        Err(error) => Err(PostError::Http(error)),
    };
    driver.abort();
    status
}

#[cfg(test)]
mod tests {
    use super::{signature, target};

    #[test]
    fn urls_and_signatures() {
        let t = target("https://push.example.com/hooks/parley?x=1").expect("parses");
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (true, "push.example.com", 443, "/hooks/parley?x=1")
        );
        let t = target("http://127.0.0.1:8080").expect("parses");
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (false, "127.0.0.1", 8080, "/")
        );
        let t = target("http://[::1]:9000/p").expect("parses");
        assert_eq!((t.host.as_str(), t.port), ("::1", 9000));
        assert!(target("ftp://x").is_err());
        assert!(target("http://user:pw@x/").is_err());
        // Computed apart (Python's hmac): HMAC-SHA256("Jefe", "1700000000.{\"a\":1}").
        assert_eq!(
            signature(b"Jefe", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
        );
    }
}
