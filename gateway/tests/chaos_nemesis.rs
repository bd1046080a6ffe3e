//! Faults under load, checked like Jepsen (issue 20): the real `parley` binary over a PostgreSQL
//! of its own, seven reconnecting clients (three groups sharing members, and a stranger alone in a
//! fourth) sending all the time, while a nemesis injects one kind of fault again and again:
//! `kill -9` of the gateway (restarted at once), `kill -9` of PostgreSQL (down 500 ms, then crash
//! recovery), SIGSTOP of every PostgreSQL process (stalled 800 ms, then SIGCONT), and through a
//! TCP proxy between the gateway and PostgreSQL (`testkit::chaos_proxy`) a partition (every byte
//! held 800 ms, then released or every connection reset, alternately), the same partition aimed
//! right after a COMMIT is sent (committed, answer held, every connection reset), and 50 ms of
//! latency for a second; with two instances joined by Redis: `kill -9` of one of them, a partition between the
//! instances and Redis (through another proxy), and `kill -9` of Redis. Afterwards
//! every client settles and gap-fills, and `parley_testkit::history` checks the history against
//! what PostgreSQL stores and what each client saw: nothing acknowledged lost or moved, nothing
//! stored twice or unsent, real-time order per sender, no seq gap, every member has every message,
//! no delivery to a non-member, and no acknowledgement while PostgreSQL was down or stopped.
//! `PARLEY_CHAOS_CYCLES` sets the cycles per fault (2 in `make test`, 20 in `make chaos`); each
//! test prints a `nemesis|` table row that `scripts/chaos.sh` collects.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use parley_testkit::api::{Api, uuid_of};
use parley_testkit::chaos_proxy::{ChaosProxy, Mode};
use parley_testkit::chat::{Pool, Resilient};
use parley_testkit::cluster::TEST_DATABASE;
use parley_testkit::history::{self, Observer, Op, Stored, Verdict};
use parley_testkit::process::{ParleyProcess, wait_ready};
use parley_testkit::redis::TestRedis;
use parley_testkit::tls::free_port;
use parley_testkit::{TestCluster, scratch_dir};
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_parley");
/// An acknowledgement this soon after the database went away may be one it committed just before.
const IN_FLIGHT: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
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
}

impl Fault {
    fn name(self) -> &'static str {
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
        }
    }

    /// Instances joined by Redis for this fault (one alone, for the others).
    fn instances(self) -> usize {
        match self {
            Fault::InstanceKill | Fault::RedisPartition | Fault::RedisKill => 2,
            _ => 1,
        }
    }
}

struct Rig {
    cluster: TestCluster,
    /// Between the gateway and PostgreSQL (on TCP) for every fault.
    proxy: ChaosProxy,
    cycle: usize,
    /// Each instance, by slot (`None` while killed); each has its own data dir.
    gateways: Vec<Option<ParleyProcess>>,
    /// With several instances: Redis, and a chaos proxy between the instances and it.
    redis: Option<(TestRedis, ChaosProxy)>,
    pool: Pool,
    data: PathBuf,
}

impl Rig {
    async fn start(instances: usize) -> anyhow::Result<Self> {
        let port = free_port()?;
        let dir = scratch_dir("nemesis-pg")?;
        let cluster = TestCluster::start_with(dir, |options| {
            options.port = port;
            options.settings = vec![("listen_addresses".to_owned(), "127.0.0.1".to_owned())];
        })
        .await?;
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
        };
        for slot in 0..instances {
            rig.start_gateway(slot).await?;
        }
        Ok(rig)
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
        let env = [
            ("PARLEY_DATA_DIR", data.as_str()),
            ("PARLEY_LIMITS__ENABLED", "false"),
            ("PARLEY_LOG__LEVEL", "warn"),
            ("PARLEY_REDIS__URL", redis.as_str()),
        ];
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

    fn api(&self) -> Api {
        Api {
            addr: self.pool.lock().expect("pool")[0],
        }
    }

    /// Injects one fault and removes it; returns (the outage window during which no
    /// acknowledgement may arrive, if the fault has one; when the nemesis healed it).
    async fn inject(
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
            Fault::Latency => {
                self.proxy.set(Mode::Delay(Duration::from_millis(50)));
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.proxy.set(Mode::Pass);
                Ok((None, Instant::now()))
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

fn cycles() -> usize {
    std::env::var("PARLEY_CHAOS_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// Runs `fault` for the configured cycles under load; checks and prints the outcome.
async fn campaign(fault: Fault) -> anyhow::Result<()> {
    let mut rig = Rig::start(fault.instances()).await?;
    let api = rig.api();
    let mut users = Vec::new();
    for n in 0..7 {
        users.push(api.register(&format!("nem{n}")).await?);
    }
    let u = |i: usize| &users[i];
    let groups = [
        api.group(u(0), "One", &[u(1), u(2)]).await?,
        api.group(u(2), "Two", &[u(3), u(4)]).await?,
        api.group(u(4), "Three", &[u(5), u(0)]).await?,
        api.group(u(6), "Solo", &[]).await?,
    ];
    let membership: [&[usize]; 7] = [&[0, 2], &[0], &[0, 1], &[1], &[1, 2], &[2], &[3]];
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let member_of: Vec<String> = membership[n].iter().map(|g| groups[*g].clone()).collect();
        let mut client = Resilient::connect(
            Arc::clone(&rig.pool),
            &user.access_token,
            &format!("n{n}"),
            member_of.clone(),
            n,
        )
        .await?;
        let stop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                if client.unacked() < 32 {
                    let conversation = &member_of[k % member_of.len()];
                    client.send(conversation, &format!("n{n} says {k}")).await?;
                    k += 1;
                }
                client.pump(Duration::from_millis(20)).await?;
            }
            client.settle(Duration::from_secs(90)).await?;
            client.resync(Duration::from_millis(500)).await?;
            anyhow::Ok((client, member_of))
        }));
    }

    let cycles = cycles();
    let (mut heals, mut windows) = (Vec::new(), Vec::new());
    for _ in 0..cycles {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (window, healed) = rig.inject(fault).await?;
        windows.extend(window);
        heals.push(healed);
        // Under load again before the next fault.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await??);
    }

    let db = rig.cluster.client().await?;
    // Wire ids carry the UUID's hex without dashes.
    let ids: HashMap<String, String> = groups
        .iter()
        .map(|g| (uuid_of(g).replace('-', ""), g.clone()))
        .collect();
    let stored: Vec<Stored> = db
        .query(
            "SELECT replace(conversation_id::text, '-', ''), seq, client_message_id,
                    content_type = 'system'
             FROM messages WHERE replace(conversation_id::text, '-', '') = ANY($1)",
            &[&ids.keys().collect::<Vec<_>>()],
        )
        .await?
        .iter()
        .map(|row| {
            let conversation: String = row.get(0);
            Stored {
                conversation: ids.get(&conversation).cloned().unwrap_or(conversation),
                seq: row.get(1),
                cid: row.get(2),
                system: row.get(3),
            }
        })
        .collect();
    let ops: Vec<Op> = clients.iter().flat_map(|(c, _)| c.ops.clone()).collect();
    let labels: Vec<String> = (0..clients.len()).map(|n| format!("n{n}")).collect();
    let observers: Vec<Observer<'_>> = clients
        .iter()
        .zip(&labels)
        .map(|((client, member_of), label)| Observer {
            client: label,
            member_of,
            seen: &client.seen,
            live_reordered: client.order_violations,
            live_duplicates: client.duplicates,
        })
        .collect();
    let verdict = history::check(&ops, &stored, &observers);
    let connections: Vec<String> = clients
        .iter()
        .map(|(c, _)| format!("{} reconnects, closes {:?}", c.reconnects, c.closes))
        .collect();
    // Recovery: from the nemesis healing the fault to the next acknowledgement any client got.
    let mut recoveries: Vec<Duration> = heals
        .iter()
        .map(|healed| {
            history::first_ack_after(&ops, *healed).map_or(Duration::MAX, |at| at - *healed)
        })
        .collect();
    let acked_while_down: usize = windows
        .iter()
        .map(|(from, to)| history::acked_between(&ops, *from, *to))
        .sum();
    report(fault, cycles, &verdict, acked_while_down, &mut recoveries);
    let problems = verdict.problems();
    assert!(
        problems.is_empty(),
        "{}: {problems:?}, for example {:#?}; connections {connections:?}",
        fault.name(),
        verdict.examples
    );
    assert_eq!(
        acked_while_down, 0,
        "acknowledged while PostgreSQL was down"
    );
    assert!(verdict.acked > 0 && verdict.in_doubt_resolved == verdict.in_doubt);
    Ok(())
}

fn report(fault: Fault, cycles: usize, v: &Verdict, acked_while_down: usize, rec: &mut [Duration]) {
    rec.sort();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let down = if fault.instances() > 1 || matches!(fault, Fault::GatewayKill | Fault::Latency) {
        "n/a".to_owned()
    } else {
        acked_while_down.to_string()
    };
    // The run's table row, for `make chaos`'s report.
    eprintln!(
        "nemesis| {} | {cycles} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | {} | {down} | {:.0} | {:.0} |",
        fault.name(),
        v.operations,
        v.acked,
        v.failed,
        v.in_doubt_resolved,
        v.in_doubt,
        v.lost + v.mismatched,
        v.duplicated,
        v.reordered + v.live_reordered as usize,
        v.gaps,
        v.missing_deliveries + v.wrong_deliveries,
        v.leaks,
        ms(rec.get(rec.len().saturating_sub(1) / 2)),
        ms(rec.last()),
    );
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_when_the_gateway_is_killed() -> anyhow::Result<()> {
    campaign(Fault::GatewayKill).await
}

/// Found two bugs, fixed (this is their regression test): a batch that committed while its answer
/// was lost was answered DB_ERROR once its retries ran out during the restart, so the resend found
/// it stored and nobody else was told (persister `in_doubt_patience`, `adopt_own_commits`); and a
/// lane reconnecting cleared the member cache under another lane's batch in flight, whose messages
/// then reached nobody but their senders (the batch now holds the lists it relies on).
#[tokio::test]
async fn nothing_acknowledged_is_lost_when_postgres_is_killed() -> anyhow::Result<()> {
    campaign(Fault::PostgresKill).await
}

#[tokio::test]
async fn nothing_is_acknowledged_through_a_partition_from_postgres() -> anyhow::Result<()> {
    campaign(Fault::Partition).await
}

#[tokio::test]
async fn latency_to_postgres_breaks_no_promise() -> anyhow::Result<()> {
    campaign(Fault::Latency).await
}

#[tokio::test]
async fn nothing_is_acknowledged_while_postgres_is_stopped() -> anyhow::Result<()> {
    campaign(Fault::PostgresStop).await
}

/// Cross-instance delivery under the loss of one of two instances: its clients reconnect to the
/// other, resend and gap-fill; members on the other instance still get every message.
#[tokio::test]
async fn nothing_is_lost_when_one_of_two_instances_is_killed() -> anyhow::Result<()> {
    campaign(Fault::InstanceKill).await
}

/// Redis is the fan-out between instances, not the truth: a partition from it delays
/// cross-instance deliveries (gap-filled from PostgreSQL), never loses or doubles one.
#[tokio::test]
async fn a_partition_from_redis_loses_no_delivery() -> anyhow::Result<()> {
    campaign(Fault::RedisPartition).await
}

#[tokio::test]
async fn a_redis_kill_loses_no_delivery() -> anyhow::Result<()> {
    campaign(Fault::RedisKill).await
}

/// A COMMIT PostgreSQL performed whose answer never came: the batch is in doubt, retried with
/// its client ids, and each message ends up stored once and delivered (persister
/// `in_doubt_patience`, `adopt_own_commits`).
#[tokio::test]
async fn a_partition_right_after_commit_resolves_to_one_stored_copy() -> anyhow::Result<()> {
    campaign(Fault::CommitBlackhole).await
}
