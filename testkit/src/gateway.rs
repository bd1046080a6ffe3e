//! A gateway on `127.0.0.1:0` over its own migrated test cluster, started in-process.

use std::net::SocketAddr;

use parley_gateway::{Gateway, Parley};
use parley_shared::Config;

use crate::cluster::TestCluster;
use crate::http::{self, JsonResponse};

/// The access-token key of test gateways.
pub const TEST_JWT_SECRET: &str = "parley-test-secret-0123456789abcdef";

/// A running gateway and its database. Dropping it stops the gateway, then the database.
#[derive(Debug)]
pub struct TestGateway {
    parley: Option<Parley>,
    pub cluster: TestCluster,
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
        let cluster = TestCluster::migrated().await?;
        let parley = Parley::start(
            &config,
            cluster.config(),
            TEST_JWT_SECRET.as_bytes().to_vec(),
        )?;
        Ok(Self {
            parley: Some(parley),
            cluster,
        })
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
