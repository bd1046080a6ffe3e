//! Several gateway instances in one test process over one PostgreSQL cluster and one Redis,
//! as operators run them behind a load balancer. Each instance is a whole [`Parley`] (its own
//! shards, persister and cluster link) on its own `127.0.0.1:0` port.

use std::net::SocketAddr;

use parley_gateway::Parley;
use parley_shared::Config;

use crate::cluster::TestCluster;
use crate::gateway::{TEST_JWT_SECRET, TestGateway};
use crate::redis::TestRedis;

/// The instances, their database and their Redis. Dropping it stops the instances first.
#[derive(Debug)]
pub struct TestFleet {
    instances: Vec<Option<Parley>>,
    config: Config,
    pub redis: TestRedis,
    pub cluster: TestCluster,
    /// The instances' data dir (one for all, like a shared file system).
    _data: Option<tempfile::TempDir>,
}

impl TestFleet {
    /// `count` instances with the test configuration changed by `adjust`, joined by a new Redis.
    pub async fn start(count: usize, adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let redis = TestRedis::start().await?;
        let cluster = TestCluster::migrated().await?;
        let mut config = TestGateway::default_config();
        config.redis.url = redis.url();
        adjust(&mut config);
        config.validate()?;
        let data = crate::gateway::own_data_dir(&mut config)?;
        let mut fleet = Self {
            instances: Vec::new(),
            config,
            redis,
            cluster,
            _data: data,
        };
        for _ in 0..count {
            let parley = fleet.launch().await?;
            fleet.instances.push(Some(parley));
            fleet.joined(fleet.instances.len() - 1).await?;
        }
        Ok(fleet)
    }

    /// Waits until instance `i` has joined Redis (`parley_cluster_redis_up` 1: subscribed, its
    /// liveness key written), so a test starts from a joined fleet; a connection counted before
    /// that would count on its own instance only.
    pub async fn joined(&self, i: usize) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if self.metric(i, "parley_cluster_redis_up").await? == Some(1.0) {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "instance {i} never joined Redis"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn launch(&self) -> anyhow::Result<Parley> {
        Ok(Parley::start(
            &self.config,
            self.cluster.config(),
            TEST_JWT_SECRET.as_bytes().to_vec(),
        )
        .await?)
    }

    /// The instances' data dir.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.server.data_dir
    }

    /// How many instances there are (running or stopped).
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// The address of instance `i` (which must be running).
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.instances[i]
            .as_ref()
            .expect("instance is running")
            .gateway()
            .local_addr()
    }

    /// Addresses of the running instances.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.instances
            .iter()
            .flatten()
            .map(|p| p.gateway().local_addr())
            .collect()
    }

    /// A REST client for instance `i`.
    pub fn api(&self, i: usize) -> crate::api::Api {
        crate::api::Api { addr: self.addr(i) }
    }

    /// Stops instance `i` as SIGTERM would (drain, 1012, exit), off the async runtime.
    pub async fn stop(&mut self, i: usize) {
        if let Some(parley) = self.instances[i].take() {
            let _ = tokio::task::spawn_blocking(move || parley.shutdown()).await;
        }
    }

    /// Starts one more instance with the fleet's configuration changed by `adjust` (instances
    /// that differ, e.g. one slower to push than another); returns its index.
    pub async fn add(&mut self, adjust: impl FnOnce(&mut Config)) -> anyhow::Result<usize> {
        let mut config = self.config.clone();
        adjust(&mut config);
        config.validate()?;
        let parley = Parley::start(
            &config,
            self.cluster.config(),
            TEST_JWT_SECRET.as_bytes().to_vec(),
        )
        .await?;
        self.instances.push(Some(parley));
        let i = self.instances.len() - 1;
        self.joined(i).await?;
        Ok(i)
    }

    /// Starts instance `i` again (a new process id, a new port).
    pub async fn start_instance(&mut self, i: usize) -> anyhow::Result<()> {
        let parley = self.launch().await?;
        self.instances[i] = Some(parley);
        Ok(())
    }

    /// `GET /metrics` of instance `i`: one sample's value.
    pub async fn metric(&self, i: usize, sample: &str) -> anyhow::Result<Option<f64>> {
        let text = crate::gateway::metrics_at(self.addr(i)).await?;
        Ok(crate::gateway::metric_sample(&text, sample))
    }
}

impl Drop for TestFleet {
    fn drop(&mut self) {
        for parley in self.instances.iter_mut().filter_map(Option::take) {
            parley.shutdown();
        }
    }
}
