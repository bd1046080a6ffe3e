//! A gateway on `127.0.0.1:0` over its own migrated test cluster, started in-process.

use std::net::SocketAddr;

use parley_gateway::Gateway;
use parley_shared::Config;

use crate::cluster::TestCluster;
use crate::http::{self, JsonResponse};

/// A running gateway and its database. Dropping it stops the gateway, then the database.
#[derive(Debug)]
pub struct TestGateway {
    gateway: Option<Gateway>,
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
        let gateway = Gateway::start(&config, cluster.config())?;
        Ok(Self {
            gateway: Some(gateway),
            cluster,
        })
    }

    /// The gateway's address.
    pub fn addr(&self) -> SocketAddr {
        self.gateway().local_addr()
    }

    /// `GET path` on the gateway.
    pub async fn get(&self, path: &str) -> anyhow::Result<JsonResponse> {
        http::get(self.addr(), path).await
    }

    /// The gateway itself, to trigger or inspect shutdown.
    pub fn gateway(&self) -> &Gateway {
        self.gateway
            .as_ref()
            .expect("the gateway lives until shutdown")
    }

    /// Stops the gateway (blocking until every shard has exited), keeping the database.
    pub fn shutdown(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown();
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown();
    }
}
