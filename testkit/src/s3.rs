//! A throwaway S3-compatible server for the `uploads.store = "s3"` tests: moto's S3 server
//! (PyPI `moto[server]`, installed by `make test` into `target/tools-venv`; MinIO and Garage are
//! not in this machine's registries), on a free loopback port, with one bucket made for the test.
//! Parley talks to it over real HTTP with signed S3 requests, as it would to any S3 store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// A running S3 server with one bucket.
#[derive(Debug)]
pub struct TestS3 {
    child: Child,
    port: u16,
    pub bucket: String,
}

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("PARLEY_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools-venv/bin/moto_server")
}

impl TestS3 {
    /// Starts the server and makes bucket `bucket`.
    pub async fn start(bucket: &str) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let bin = binary();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (make test installs it: pip install 'moto[server]' into target/tools-venv)",
                    bin.display()
                )
            })?;
        let s3 = Self {
            child,
            port,
            bucket: bucket.to_owned(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let made = crate::http::request_bytes(
                s3.addr(),
                hyper::Method::PUT,
                &format!("/{bucket}"),
                &[],
                bytes::Bytes::new(),
            )
            .await;
            match made {
                Ok(response) if response.status.is_success() => return Ok(s3),
                _ if tokio::time::Instant::now() > deadline => {
                    bail!("the S3 server on port {port} never made bucket {bucket}")
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:<port>`, for `uploads.s3_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The keys in the bucket (ListObjectsV2, unsigned: the test server does not check).
    pub async fn keys(&self) -> anyhow::Result<Vec<String>> {
        let listed = crate::http::request_bytes(
            self.addr(),
            hyper::Method::GET,
            &format!("/{}?list-type=2", self.bucket),
            &[],
            bytes::Bytes::new(),
        )
        .await?;
        let text = String::from_utf8_lossy(&listed.raw);
        Ok(text
            .split("<Key>")
            .skip(1)
            .filter_map(|part| part.split_once("</Key>").map(|(key, _)| key.to_owned()))
            .collect())
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
