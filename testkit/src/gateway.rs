//! A gateway on `127.0.0.1:0` over its own migrated test cluster, started in-process.

use std::net::SocketAddr;

use parley_gateway::{Gateway, Parley};
use parley_shared::Config;

use crate::cluster::TestCluster;
use crate::http::{self, JsonResponse};

/// The access-token key of test gateways.
pub const TEST_JWT_SECRET: &str = "parley-test-secret-0123456789abcdef";
/// The bearer token `/metrics` wants on test gateways (`TestGateway::metrics` sends it).
pub const TEST_METRICS_TOKEN: &str = "parley-test-metrics-token";

/// A running gateway and its database. Dropping it stops the gateway, then the database.
#[derive(Debug)]
pub struct TestGateway {
    parley: Option<Parley>,
    config: Config,
    pub cluster: TestCluster,
    /// The data dir (uploaded files), unless the test chose one.
    _data: Option<tempfile::TempDir>,
}

/// A fresh data dir for a test's gateways (uploaded files live there), when the configuration
/// still names the default one.
pub fn own_data_dir(config: &mut Config) -> anyhow::Result<Option<tempfile::TempDir>> {
    if config.server.data_dir != Config::default().server.data_dir {
        return Ok(None);
    }
    let dir = tempfile::Builder::new()
        .prefix("parley-test-data-")
        .tempdir()?;
    config.server.data_dir = dir.path().to_owned();
    Ok(Some(dir))
}

impl TestGateway {
    /// A default configuration for tests: loopback port 0, two shards, short timeouts.
    pub fn default_config() -> Config {
        let mut config = Config::default();
        config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.server.shards = 2;
        config.server.shutdown_grace = std::time::Duration::from_secs(5);
        config.database.probe_timeout = std::time::Duration::from_secs(2);
        config.database.connect_timeout = std::time::Duration::from_secs(2);
        // Tests sign up many users from 127.0.0.1; the rate-limit tests lower these again.
        config.limits.register = "100000/1h".parse().expect("rate");
        config.limits.login = "100000/15m".parse().expect("rate");
        config.limits.api = "100000/1m".parse().expect("rate");
        config.limits.history = "100000/1m".parse().expect("rate");
        config.limits.uploads = "100000/1m".parse().expect("rate");
        config.limits.login_failures = "100000/15m".parse().expect("rate");
        config.limits.login_account_failures = "100000/1h".parse().expect("rate");
        config.limits.ws_events = "100000/1m".parse().expect("rate");
        config.server.max_connections_per_ip = 0;
        config.metrics.token = TEST_METRICS_TOKEN.to_owned();
        // The API's own answers (unknown paths 404), unless a test asks for the web client.
        config.server.web_client = false;
        config
    }

    /// Starts with [`default_config`](Self::default_config).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts with the default configuration changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let mut config = Self::default_config();
        adjust(&mut config);
        config.validate()?;
        let data = own_data_dir(&mut config)?;
        let cluster = TestCluster::migrated().await?;
        let parley = Parley::start(
            &config,
            cluster.config(),
            TEST_JWT_SECRET.as_bytes().to_vec(),
        )
        .await?;
        Ok(Self {
            parley: Some(parley),
            config,
            cluster,
            _data: data,
        })
    }

    /// Stops the gateway and starts it again on the same database (a new port).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.shutdown();
        let parley = Parley::start(
            &self.config,
            self.cluster.config(),
            TEST_JWT_SECRET.as_bytes().to_vec(),
        )
        .await?;
        self.parley = Some(parley);
        Ok(())
    }

    /// The gateway's data dir (uploaded files are under `files/`).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.server.data_dir
    }

    /// The gateway's address.
    pub fn addr(&self) -> SocketAddr {
        self.gateway().local_addr()
    }

    /// A REST client for this gateway.
    pub fn api(&self) -> crate::api::Api {
        crate::api::Api { addr: self.addr() }
    }

    /// `GET path` on the gateway.
    pub async fn get(&self, path: &str) -> anyhow::Result<JsonResponse> {
        http::get(self.addr(), path).await
    }

    /// `GET /metrics` with the test token: the Prometheus text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        metrics_at(self.addr()).await
    }

    /// One sample of `/metrics`, e.g. `parley_sends_total{result="stored"}` (`None`: absent).
    pub async fn metric(&self, sample: &str) -> anyhow::Result<Option<f64>> {
        Ok(metric_sample(&self.metrics().await?, sample))
    }

    /// The gateway itself, to trigger or inspect shutdown.
    pub fn gateway(&self) -> &Gateway {
        self.parley
            .as_ref()
            .expect("the gateway lives until shutdown")
            .gateway()
    }

    /// Stops the gateway (blocking until every shard has exited) and then the persister (after
    /// it answered every queued send), keeping the database.
    pub fn shutdown(&mut self) {
        if let Some(parley) = self.parley.take() {
            parley.shutdown();
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `GET /metrics` of the test gateway at `addr`, with the test token: the Prometheus text.
pub async fn metrics_at(addr: SocketAddr) -> anyhow::Result<String> {
    let bearer = format!("Bearer {TEST_METRICS_TOKEN}");
    let response = http::request(
        addr,
        hyper::Method::GET,
        "/metrics",
        &[("authorization", bearer.as_str())],
        None,
    )
    .await?;
    anyhow::ensure!(response.status == 200, "metrics: {}", response.status);
    Ok(String::from_utf8(response.raw.to_vec())?)
}

/// The value of one sample (`name{labels}`) in a Prometheus exposition.
pub fn metric_sample(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(sample) && line[sample.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}
