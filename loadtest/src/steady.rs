//! The message scenarios. `steady`: C connections over M group conversations sending R msgs/s in
//! total. `fanout`: one group of N members, one publisher at R msgs/s, every other member
//! receiving: publish→delivery at each recipient and publish→last recipient per message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::arrivals::{Arrivals, Schedule};
use crate::client::{self, Protocol, Socket};
use crate::drive::{self, Live, Plan, Run};
use crate::http;
use crate::record::{Recorder, Report};

/// Options every message scenario takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) addr: SocketAddr,
    /// Other instances of the same deployment (`--also-addr`): `steady` spreads its connections
    /// over `addr` and these; `fanout` keeps the publisher on `addr` and puts every recipient on
    /// these, so each delivery crosses instances.
    pub(crate) also: &'static [SocketAddr],
    /// Processes whose CPU time over the measured window is reported (`--cpu-of`).
    pub(crate) cpu: &'static [crate::cpu::Watched],
    pub(crate) protocol: Protocol,
    pub(crate) arrivals: Arrivals,
    /// Total messages per second offered.
    pub(crate) rate: u64,
    pub(crate) duration: Duration,
}

/// Where connection `n` of a `steady` run goes: round robin over every instance.
fn spread(load: &Load, n: usize) -> SocketAddr {
    match n % (1 + load.also.len()) {
        0 => load.addr,
        k => load.also[k - 1],
    }
}

/// Where connection `n` of a `fanout` run goes: the publisher (0) on `addr`, recipients on the
/// other instances when there are any.
fn across(load: &Load, n: usize) -> SocketAddr {
    match (n, load.also.len()) {
        (0, _) | (_, 0) => load.addr,
        (n, others) => load.also[(n - 1) % others],
    }
}

/// Opens one authenticated connection per token, 64 at a time, connection `n` to `place(n)`.
pub(crate) async fn connect_all(
    load: &Load,
    users: &[(String, String)],
    place: fn(&Load, usize) -> SocketAddr,
) -> anyhow::Result<Vec<Socket>> {
    http::in_batches(users.len(), 64, |n| {
        let (addr, protocol, token) = (place(load, n), load.protocol, users[n].1.clone());
        async move { client::connect(addr, protocol, &token, None).await }
    })
    .await
}

/// Runs every connection's drive and merges what they recorded.
async fn run_all(
    sockets: Vec<Socket>,
    run: &Arc<Run>,
    mut plan_for: impl FnMut(usize) -> Option<Plan>,
    listen_until: Instant,
) -> anyhow::Result<Recorder> {
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(n, socket)| {
            tokio::spawn(drive::drive(
                socket,
                Arc::clone(run),
                plan_for(n),
                listen_until,
            ))
        })
        .collect();
    let mut total = Recorder::default();
    for task in tasks {
        total.merge(&task.await??);
    }
    Ok(total)
}

fn progress(what: &str) {
    eprintln!("{what}");
}

pub(crate) async fn steady(
    load: Load,
    connections: usize,
    conversations: usize,
) -> anyhow::Result<Report> {
    let conversations = conversations.clamp(1, connections.max(1));
    progress(&format!(
        "setting up {connections} users in {conversations} conversations..."
    ));
    let (sockets, convs, nicks) = if load.protocol == Protocol::Xmpp {
        crate::xmpp::setup(load.addr, connections, conversations).await?
    } else {
        let (sockets, convs) = setup(&load, connections, conversations).await?;
        (sockets, convs, Vec::new())
    };
    // Set-up work (sign-ups, rooms, joins) must not land in the window: wait for the watched
    // processes to go quiet first.
    let settled = crate::cpu::settle(load.cpu).await;
    progress(&format!(
        "steady: {} msgs/s for {:?}...",
        load.rate, load.duration
    ));
    let run = Run::start(load.protocol, None);
    let per_connection = Duration::from_secs_f64(connections as f64 / load.rate.max(1) as f64);
    let started = Instant::now() + Duration::from_millis(200);
    let deadline = started + load.duration;
    let ticker = Live::show_until(Arc::clone(&run), deadline);
    let cpu = tokio::spawn(crate::cpu::measure(load.cpu.to_vec(), started, deadline));
    let total = run_all(
        sockets,
        &run,
        |n| {
            // Spread the connections' first sends over one interval.
            let offset = per_connection.mul_f64(n as f64 / connections as f64);
            Some(Plan {
                conversations: vec![convs[n % conversations].clone()],
                schedule: Schedule::new(started + offset, per_connection, load.arrivals, n as u64),
                deadline,
                recipients: (0..connections)
                    .filter(|i| i % conversations == n % conversations)
                    .count()
                    .saturating_sub(1) as u64,
                me: nicks.get(n).cloned().unwrap_or_default(),
            })
        },
        deadline + Duration::from_secs(1),
    )
    .await?;
    let _ = ticker.await;
    let mut report = steady_report(&load, connections, conversations, total);
    report
        .summary
        .insert("settle_s".into(), json!(settled.as_secs_f64()));
    add_cpu(&mut report, cpu.await.unwrap_or_default(), "acked");
    Ok(report)
}

/// Parley's and Socket.IO's set-up over REST: users, groups of them, one socket each.
async fn setup(
    load: &Load,
    connections: usize,
    conversations: usize,
) -> anyhow::Result<(Vec<Socket>, Vec<String>)> {
    let prefix = format!("st{}", std::process::id());
    let users = http::register_many(load.addr, &prefix, connections).await?;
    let mut convs = Vec::new();
    for c in 0..conversations {
        let members: Vec<&str> = users
            .iter()
            .enumerate()
            .filter(|(i, _)| i % conversations == c)
            .map(|(_, u)| u.0.as_str())
            .collect();
        let owner = &users[c];
        let others: Vec<&str> = members.into_iter().filter(|id| *id != owner.0).collect();
        convs.push(http::group(load.addr, &owner.1, &format!("{prefix}-{c}"), &others).await?);
    }
    let sockets = connect_all(load, &users, spread).await?;
    Ok((sockets, convs))
}

/// The `steady` report, whatever the protocol.
pub(crate) fn steady_report(
    load: &Load,
    connections: usize,
    conversations: usize,
    total: Recorder,
) -> Report {
    // The achieved rate counts the acks that arrived within the window (those drained after it
    // say nothing about the rate the system sustained).
    let acked = total.counts.get("acked_in_window").copied().unwrap_or(0);
    let mut summary = summary(load);
    deliveries(&mut summary, &total);
    summary.insert("connections".into(), json!(connections));
    summary.insert("conversations".into(), json!(conversations));
    summary.insert(
        "achieved_rate".into(),
        json!(acked as f64 / load.duration.as_secs_f64()),
    );
    Report {
        scenario: "steady",
        summary,
        recorder: total,
    }
}

pub(crate) async fn fanout(load: Load, members: usize) -> anyhow::Result<Report> {
    let members = members.max(2);
    progress(&format!("setting up one group of {members} members..."));
    let prefix = format!("fo{}", std::process::id());
    let users = http::register_many(load.addr, &prefix, members).await?;
    let others: Vec<&str> = users[1..].iter().map(|u| u.0.as_str()).collect();
    let group = http::group(load.addr, &users[0].1, &prefix, &others).await?;
    let sockets = connect_all(&load, &users, across).await?;
    let settled = crate::cpu::settle(load.cpu).await;
    progress(&format!(
        "fanout: {} msgs/s to {} recipients for {:?}...",
        load.rate,
        members - 1,
        load.duration
    ));
    let expected = (load.rate as f64 * load.duration.as_secs_f64() * 1.5) as usize + 16;
    let run = Run::start(load.protocol, Some(expected));
    let started = Instant::now() + Duration::from_millis(200);
    let deadline = started + load.duration;
    let interval = Duration::from_secs_f64(1.0 / load.rate.max(1) as f64);
    let ticker = Live::show_until(Arc::clone(&run), deadline);
    let cpu = tokio::spawn(crate::cpu::measure(load.cpu.to_vec(), started, deadline));
    let mut total = run_all(
        sockets,
        &run,
        |n| {
            (n == 0).then(|| Plan {
                conversations: vec![group.clone()],
                schedule: Schedule::new(started, interval, load.arrivals, 1),
                deadline,
                recipients: (members - 1) as u64,
                me: String::new(),
            })
        },
        deadline + Duration::from_secs(2),
    )
    .await?;
    let _ = ticker.await;
    let slots = run
        .last_delivery
        .as_ref()
        .context("fanout tracks deliveries")?;
    for slot in slots {
        let us = slot.load(Ordering::Relaxed);
        if us > 0 {
            total.record("publish_to_last", Duration::from_micros(us));
        }
    }
    let delivered = total
        .latencies
        .get("send_to_delivery")
        .map_or(0, |h| h.len());
    let mut summary = summary(&load);
    deliveries(&mut summary, &total);
    summary.insert("members".into(), json!(members));
    summary.insert(
        "deliveries_per_s".into(),
        json!(delivered as f64 / load.duration.as_secs_f64()),
    );
    summary.insert("settle_s".into(), json!(settled.as_secs_f64()));
    let mut report = Report {
        scenario: "fanout",
        summary,
        recorder: total,
    };
    add_cpu(&mut report, cpu.await.unwrap_or_default(), "acked");
    Ok(report)
}

/// Every acknowledged message must reach every other member of its conversation within the run:
/// expected, received and missing deliveries.
fn deliveries(summary: &mut serde_json::Map<String, serde_json::Value>, total: &Recorder) {
    let expected = total
        .counts
        .get("deliveries_expected")
        .copied()
        .unwrap_or(0);
    let received = total
        .latencies
        .get("send_to_delivery")
        .map_or(0, |h| h.len());
    summary.insert("deliveries_expected".into(), json!(expected));
    summary.insert("deliveries_received".into(), json!(received));
    summary.insert(
        "deliveries_missing".into(),
        json!(expected.saturating_sub(received)),
    );
}

/// Adds each watched process's CPU seconds over the window, and per `per` (a count: "acked").
pub(crate) fn add_cpu(report: &mut Report, cpu: Vec<(String, f64)>, per: &str) {
    if cpu.is_empty() {
        return;
    }
    let count = report.recorder.counts.get(per).copied().unwrap_or(0);
    let seconds: serde_json::Map<String, serde_json::Value> =
        cpu.iter().map(|(n, s)| (n.clone(), json!(s))).collect();
    report.summary.insert("cpu_s".into(), json!(seconds));
    if count > 0 {
        let per_message: serde_json::Map<String, serde_json::Value> = cpu
            .iter()
            .map(|(n, s)| {
                (
                    n.clone(),
                    json!((s * 1e6 / count as f64 * 10.0).round() / 10.0),
                )
            })
            .collect();
        report
            .summary
            .insert(format!("cpu_us_per_{per}"), json!(per_message));
    }
}

pub(crate) fn summary(load: &Load) -> serde_json::Map<String, serde_json::Value> {
    let mut summary = serde_json::Map::new();
    summary.insert("protocol".into(), json!(format!("{:?}", load.protocol)));
    summary.insert("arrivals".into(), json!(format!("{:?}", load.arrivals)));
    summary.insert("offered_rate".into(), json!(load.rate));
    summary.insert("duration_s".into(), json!(load.duration.as_secs_f64()));
    summary.insert("instances".into(), json!(1 + load.also.len()));
    summary
}
