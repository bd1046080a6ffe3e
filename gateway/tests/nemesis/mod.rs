//! The nemesis of `chaos_nemesis.rs`: the faults it injects and the rig it injects them into
//! (PostgreSQL of its own behind a chaos proxy, one or two `parley` instances, Redis behind
//! another proxy when there are two).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use parley_testkit::api::Api;
use parley_testkit::chaos_proxy::{ChaosProxy, Mode};
use parley_testkit::chat::Pool;
use parley_testkit::cluster::TEST_DATABASE;
use parley_testkit::process::{ParleyProcess, wait_ready};
use parley_testkit::redis::TestRedis;
use parley_testkit::tls::free_port;
use parley_testkit::{TestCluster, scratch_dir};
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_parley");
/// An acknowledgement this soon after the database went away may be one it committed just before.
const IN_FLIGHT: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    GatewayKill,
    PostgresKill,
    PostgresStop,
    /// The network between the gateway and PostgreSQL holds every byte (a partition), then
    /// heals: alternately the held bytes go on, or every connection is reset.
    Partition,
    /// 50 ms added to every chunk between the gateway and PostgreSQL for a second.
    Latency,
    /// The partition aimed at the worst moment: right after a COMMIT is sent, so PostgreSQL
    /// commits and the answer is held 800 ms, then every connection is reset (outcome unknown).
    CommitBlackhole,
    /// Two instances joined by Redis: `kill -9` of one of them (alternately), restarted at once.
    InstanceKill,
    /// Two instances: the network between them and Redis holds every byte 800 ms, then heals
    /// (released or reset, alternately).
    RedisPartition,
    /// Two instances: `kill -9` of Redis, started again 500 ms later (empty: no persistence).
    RedisKill,
    /// The link between the gateway and PostgreSQL slowed to 32 KiB/s each way for a second.
    SlowPostgres,
    /// Two instances: the links to Redis slowed to 16 KiB/s each way, plus 20 ms a chunk, for
    /// a second.
    SlowRedis,
    /// The gateway's wall clock (libfaketime, preloaded) steps 10 minutes, forward and back
    /// alternately, for a second, then steps back to the true time (what NTP stepping a clock
    /// looks like; the monotonic clock is left alone, as NTP leaves it).
    ClockJump,
    /// PostgreSQL's pg_wal on a tmpfs of its own, filled to the last byte for 800 ms (WAL
    /// segments forced to switch meanwhile, so PostgreSQL needs the space it lacks), then freed;
    /// PostgreSQL is started again if it stopped.
    DiskFull,
}

impl Fault {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::GatewayKill => "kill -9 gateway",
            Fault::PostgresKill => "kill -9 PostgreSQL",
            Fault::PostgresStop => "SIGSTOP PostgreSQL",
            Fault::Partition => "partition gateway/PostgreSQL",
            Fault::Latency => "latency +50 ms gateway/PostgreSQL",
            Fault::CommitBlackhole => "partition right after COMMIT",
            Fault::InstanceKill => "kill -9 one of two instances",
            Fault::RedisPartition => "partition instances/Redis",
            Fault::RedisKill => "kill -9 Redis",
            Fault::SlowPostgres => "slow bandwidth gateway/PostgreSQL",
            Fault::SlowRedis => "slow bandwidth instances/Redis",
            Fault::ClockJump => "gateway clock jumps ±10 min",
            Fault::DiskFull => "pg_wal disk full",
        }
    }

    /// Whether no acknowledgement may arrive while it lasts (PostgreSQL unreachable or stopped).
    pub(crate) fn has_outage(self) -> bool {
        matches!(
            self,
            Fault::PostgresKill | Fault::PostgresStop | Fault::Partition | Fault::CommitBlackhole
        )
    }

    /// Instances joined by Redis for this fault (one alone, for the others).
    pub(crate) fn instances(self) -> usize {
        match self {
            Fault::InstanceKill | Fault::RedisPartition | Fault::RedisKill | Fault::SlowRedis => 2,
            _ => 1,
        }
    }
}

pub(crate) struct Rig {
    pub(crate) cluster: TestCluster,
    /// Between the gateway and PostgreSQL (on TCP) for every fault.
    proxy: ChaosProxy,
    cycle: usize,
    /// Each instance, by slot (`None` while killed); each has its own data dir.
    gateways: Vec<Option<ParleyProcess>>,
    /// With several instances: Redis, and a chaos proxy between the instances and it.
    redis: Option<(TestRedis, ChaosProxy)>,
    pub(crate) pool: Pool,
    data: PathBuf,
    /// For clock jumps: the libfaketime setting every gateway reads ("+0", "+10m", "-10m").
    clock: Option<PathBuf>,
    /// Times the nemesis had to start PostgreSQL again after a full disk stopped it.
    restarts: usize,
    /// For a full disk: pg_wal's own filesystem (last, so it is unmounted after PostgreSQL stops).
    wal: Option<WalFs>,
}

impl Rig {
    /// PostgreSQL, the proxies and the instances `fault` needs. `None` when this machine cannot
    /// host the fault (a full disk needs a tmpfs mount: root).
    pub(crate) async fn start(fault: Fault) -> anyhow::Result<Option<Self>> {
        let instances = fault.instances();
        let port = free_port()?;
        let dir = scratch_dir("nemesis-pg")?;
        let mut cluster = TestCluster::start_with(dir, |options| {
            options.port = port;
            options.settings = vec![("listen_addresses".to_owned(), "127.0.0.1".to_owned())];
            if fault == Fault::DiskFull {
                // Old segments are removed, not recycled, and checkpoints come often: a new
                // segment needs new space, and the space a test needs stays small.
                for (name, value) in [
                    ("wal_recycle", "off"),
                    ("max_wal_size", "64MB"),
                    ("min_wal_size", "32MB"),
                ] {
                    options.settings.push((name.to_owned(), value.to_owned()));
                }
            }
        })
        .await?;
        let wal = if fault == Fault::DiskFull {
            match WalFs::mount(&mut cluster)? {
                Some(wal) => Some(wal),
                None => return Ok(None),
            }
        } else {
            None
        };
        let clock = if fault == Fault::ClockJump {
            let file = scratch_dir("nemesis-clock")?.join("faketime");
            std::fs::write(&file, "+0")?;
            Some(file)
        } else {
            None
        };
        let proxy = ChaosProxy::start(SocketAddr::from(([127, 0, 0, 1], port)))?;
        let redis = if instances > 1 {
            let redis = TestRedis::start().await?;
            let proxy = ChaosProxy::start(redis.addr())?;
            Some((redis, proxy))
        } else {
            None
        };
        let mut rig = Self {
            cluster,
            proxy,
            cycle: 0,
            gateways: (0..instances).map(|_| None).collect(),
            redis,
            pool: Arc::new(Mutex::new(Vec::new())),
            data: scratch_dir("nemesis")?,
            clock,
            restarts: 0,
            wal,
        };
        for slot in 0..instances {
            rig.start_gateway(slot).await?;
        }
        Ok(Some(rig))
    }

    async fn start_gateway(&mut self, slot: usize) -> anyhow::Result<()> {
        let data = self.data.join(slot.to_string()).display().to_string();
        let redis = self
            .redis
            .as_ref()
            .map(|(_, proxy)| format!("redis://{}", proxy.addr))
            .unwrap_or_default();
        let url = format!(
            "host=127.0.0.1 port={} user=parley dbname={TEST_DATABASE}",
            self.proxy.addr.port()
        );
        let mut env = vec![
            ("PARLEY_DATA_DIR", data),
            ("PARLEY_LIMITS__ENABLED", "false".to_owned()),
            ("PARLEY_LOG__LEVEL", "warn".to_owned()),
            ("PARLEY_REDIS__URL", redis),
        ];
        if let Some(file) = &self.clock {
            env.extend(faketime(file)?);
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let gateway = ParleyProcess::serve(
            Path::new(BIN),
            &["--listen", "127.0.0.1:0", "--database-url", &url],
            &env,
            Duration::from_secs(60),
        )?;
        wait_ready(gateway.addr).await?;
        self.pool.lock().expect("pool").push(gateway.addr);
        self.gateways[slot] = Some(gateway);
        Ok(())
    }

    /// `kill -9` of the instance in `slot`; its clients' next connection goes elsewhere.
    fn kill_gateway(&mut self, slot: usize) -> anyhow::Result<()> {
        if let Some(gateway) = self.gateways[slot].take() {
            self.pool
                .lock()
                .expect("pool")
                .retain(|a| *a != gateway.addr);
            gateway.signal("KILL")?;
            gateway.wait(Duration::from_secs(10))?;
        }
        Ok(())
    }

    /// Sets every gateway's wall clock (a libfaketime offset: "+0", "+20m", "-10m").
    pub(crate) fn set_clock(&self, offset: &str) -> anyhow::Result<()> {
        let file = self.clock.as_ref().context("a rig with a fake clock")?;
        std::fs::write(file, offset)?;
        Ok(())
    }

    /// What PostgreSQL's log says the fault did to it (for a full disk: the writes refused, the
    /// PANICs, and the restarts the nemesis made).
    pub(crate) fn postgres_note(&self) -> String {
        let log =
            std::fs::read_to_string(self.cluster.dir().join("pg/postgres.log")).unwrap_or_default();
        let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
        format!(
            "PostgreSQL logged {} \"No space left on device\" and {} PANIC lines; the nemesis started it again {} times",
            count("No space left on device"),
            count("PANIC"),
            self.restarts
        )
    }

    pub(crate) fn api(&self) -> Api {
        Api {
            addr: self.pool.lock().expect("pool")[0],
        }
    }

    /// Injects one fault and removes it; returns (the outage window during which no
    /// acknowledgement may arrive, if the fault has one; when the nemesis healed it).
    pub(crate) async fn inject(
        &mut self,
        fault: Fault,
    ) -> anyhow::Result<(Option<(Instant, Instant)>, Instant)> {
        self.cycle += 1;
        match fault {
            Fault::GatewayKill | Fault::InstanceKill => {
                let slot = self.cycle % self.gateways.len();
                self.kill_gateway(slot)?;
                let healed = Instant::now();
                self.start_gateway(slot).await?;
                Ok((None, healed))
            }
            Fault::RedisPartition => {
                let (_, proxy) = self.redis.as_ref().context("a rig with Redis")?;
                proxy.set(Mode::Blackhole);
                tokio::time::sleep(Duration::from_millis(800)).await;
                let healed = Instant::now();
                if self.cycle % 2 == 1 {
                    proxy.reset_all();
                }
                proxy.set(Mode::Pass);
                Ok((None, healed))
            }
            Fault::RedisKill => {
                let (redis, _) = self.redis.as_mut().context("a rig with Redis")?;
                redis.kill();
                tokio::time::sleep(Duration::from_millis(500)).await;
                let healed = Instant::now();
                redis.restart().await?;
                Ok((None, healed))
            }
            Fault::PostgresKill => {
                let down = Instant::now();
                signal(
                    &postgres_processes(self.cluster.pg_mut().data_dir())?,
                    "KILL",
                )?;
                tokio::time::sleep(Duration::from_millis(500)).await;
                let healed = Instant::now();
                let mut tries = 0;
                while let Err(error) = self.cluster.pg_mut().respawn(Duration::from_secs(60)) {
                    tries += 1;
                    anyhow::ensure!(tries < 100, "PostgreSQL did not come back: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok((Some((down + IN_FLIGHT, healed)), healed))
            }
            Fault::Partition => {
                let down = Instant::now();
                self.proxy.set(Mode::Blackhole);
                tokio::time::sleep(Duration::from_millis(800)).await;
                let healed = Instant::now();
                if self.cycle % 2 == 1 {
                    self.proxy.reset_all();
                }
                self.proxy.set(Mode::Pass);
                Ok((Some((down + IN_FLIGHT, healed)), healed))
            }
            Fault::CommitBlackhole => {
                self.proxy.set(Mode::BlackholeAfterCommit);
                let armed = Instant::now();
                while self.proxy.mode() != Mode::Blackhole {
                    anyhow::ensure!(
                        armed.elapsed() < Duration::from_secs(10),
                        "no COMMIT went through the proxy"
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let down = Instant::now();
                tokio::time::sleep(Duration::from_millis(800)).await;
                let healed = Instant::now();
                self.proxy.reset_all();
                self.proxy.set(Mode::Pass);
                Ok((Some((down + IN_FLIGHT, healed)), healed))
            }
            Fault::Latency | Fault::SlowPostgres => {
                self.proxy.set(if fault == Fault::Latency {
                    Mode::Delay(Duration::from_millis(50))
                } else {
                    Mode::Throttle(32 * 1024)
                });
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.proxy.set(Mode::Pass);
                Ok((None, Instant::now()))
            }
            Fault::SlowRedis => {
                let (_, proxy) = self.redis.as_ref().context("a rig with Redis")?;
                // Alternately: the bandwidth alone, and the bandwidth with latency on top.
                proxy.set(if self.cycle % 2 == 1 {
                    Mode::Throttle(16 * 1024)
                } else {
                    Mode::Delay(Duration::from_millis(20))
                });
                tokio::time::sleep(Duration::from_secs(1)).await;
                proxy.set(Mode::Pass);
                Ok((None, Instant::now()))
            }
            Fault::ClockJump => {
                self.set_clock(if self.cycle % 2 == 1 { "+10m" } else { "-10m" })?;
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.set_clock("+0")?;
                Ok((None, Instant::now()))
            }
            Fault::DiskFull => {
                let wal = self.wal.as_ref().context("a rig with pg_wal on a tmpfs")?;
                wal.fill()?;
                // New segments, now: each switch needs one (none are recycled).
                if let Ok(db) = self.cluster.client().await {
                    for _ in 0..3 {
                        let _ = db.simple_query("SELECT pg_switch_wal()").await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(800)).await;
                let healed = Instant::now();
                wal.free()?;
                // A PANIC on the full disk makes PostgreSQL restart; its recovery needs WAL space
                // too, and when it found none the server stopped: start it again.
                let mut tries = 0;
                while !self.cluster.pg_mut().is_running() {
                    match self.cluster.pg_mut().respawn(Duration::from_secs(60)) {
                        Ok(()) => {
                            self.restarts += 1;
                            break;
                        }
                        Err(error) => {
                            tries += 1;
                            anyhow::ensure!(tries < 100, "PostgreSQL did not come back: {error}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                Ok((None, healed))
            }
            Fault::PostgresStop => {
                let stalled = postgres_processes(self.cluster.pg_mut().data_dir())?;
                let down = Instant::now();
                signal(&stalled, "STOP")?;
                tokio::time::sleep(Duration::from_millis(800)).await;
                let healed = Instant::now();
                signal(&stalled, "CONT")?;
                Ok((Some((down + IN_FLIGHT, healed)), healed))
            }
        }
    }
}

/// The postmaster (from `postmaster.pid`) and its children.
fn postgres_processes(data: &Path) -> anyhow::Result<Vec<u32>> {
    let pid_file = std::fs::read_to_string(data.join("postmaster.pid"))?;
    let postmaster: u32 = pid_file.lines().next().unwrap_or_default().trim().parse()?;
    let mut pids = vec![postmaster];
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The fourth field, after the parenthesised command name, is the parent's id.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<u32>().ok());
        if parent == Some(postmaster) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

fn signal(pids: &[u32], signal: &str) -> anyhow::Result<()> {
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    // Processes may exit between the listing and the signal: the status is not checked.
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} {} 2>/dev/null", list.join(" ")))
        .status()?;
    Ok(())
}

/// The environment that preloads libfaketime (Debian's `libfaketime`) into a gateway: its wall
/// clock follows `file`, re-read on every call; its monotonic clock stays true.
fn faketime(file: &Path) -> anyhow::Result<Vec<(&'static str, String)>> {
    let library = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ]
    .iter()
    .map(|dir| Path::new(dir).join("faketime/libfaketimeMT.so.1"))
    .find(|path| path.exists())
    .context("libfaketime is not installed (scripts/setup.sh proxy installs it)")?;
    Ok(vec![
        ("LD_PRELOAD", library.display().to_string()),
        ("FAKETIME_TIMESTAMP_FILE", file.display().to_string()),
        ("FAKETIME_NO_CACHE", "1".to_owned()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
    ])
}

/// pg_wal moved onto a tmpfs of its own (size-capped), so the test can fill it.
struct WalFs {
    mount: PathBuf,
    ballast: PathBuf,
}

impl WalFs {
    /// Mounts a 256 MiB tmpfs, moves the stopped cluster's pg_wal onto it and starts the cluster
    /// again. `None` when mounting is not permitted here (not root, or no CAP_SYS_ADMIN).
    fn mount(cluster: &mut TestCluster) -> anyhow::Result<Option<Self>> {
        let mount = scratch_dir("nemesis-walfs")?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256m,mode=0700", "tmpfs"])
            .arg(&mount)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            return Ok(None);
        }
        let wal = Self {
            ballast: mount.join("ballast"),
            mount,
        };
        let data = cluster.pg_mut().data_dir().to_path_buf();
        cluster.pg_mut().stop()?;
        let moved = format!(
            "cp -a '{data}/pg_wal/.' '{mount}/' && chown --reference='{data}' '{mount}' && \
             rm -rf '{data}/pg_wal' && ln -s '{mount}' '{data}/pg_wal'",
            data = data.display(),
            mount = wal.mount.display()
        );
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(moved)
            .status()?;
        anyhow::ensure!(status.success(), "could not move pg_wal onto the tmpfs");
        cluster.pg_mut().respawn(Duration::from_secs(60))?;
        Ok(Some(wal))
    }

    /// Writes a ballast file until the filesystem is full.
    fn fill(&self) -> anyhow::Result<()> {
        use std::io::Write;
        let mut file = std::fs::File::create(&self.ballast)?;
        let chunk = vec![0u8; 1 << 20];
        loop {
            match file.write(&chunk) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => return Ok(()), // ENOSPC
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn free(&self) -> anyhow::Result<()> {
        std::fs::remove_file(&self.ballast)?;
        Ok(())
    }
}

impl Drop for WalFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mount)
            .status();
    }
}
