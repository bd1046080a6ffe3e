//! `steady` against a Matrix homeserver (Synapse, the peer in `benches/peers/synapse`), measured
//! the same way as Parley: each user sends over its own kept-alive HTTP connection with
//! `PUT /_matrix/client/v3/rooms/{room}/send/m.room.message/{txnId}` (answered once the event is
//! persisted: `send_to_ack`, from the intended time), and long-polls `/sync` on a second
//! connection; every message from someone else found in a sync is a delivery (`send_to_delivery`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper::Method;
use serde_json::json;

use crate::arrivals::Schedule;
use crate::drive::{Live, Run};
use crate::http::{self, Conn};
use crate::record::{Recorder, Report};
use crate::steady::{Load, steady_report};

/// Only the timeline of joined rooms: no presence, account data or member lists.
const FILTER: &str = "%7B%22presence%22%3A%7B%22types%22%3A%5B%5D%7D%2C%22account_data%22%3A%7B%22types%22%3A%5B%5D%7D%2C%22room%22%3A%7B%22state%22%3A%7B%22lazy_load_members%22%3Atrue%7D%2C%22ephemeral%22%3A%7B%22types%22%3A%5B%5D%7D%7D%7D";
const DRAIN: Duration = Duration::from_secs(5);

struct User {
    id: String,
    token: String,
}

async fn register(addr: std::net::SocketAddr, name: &str) -> anyhow::Result<User> {
    let mut conn = Conn::open(addr).await?;
    let body = json!({"username": name, "password": "loadtest-password",
                      "auth": {"type": "m.login.dummy"}});
    let (status, reply) = conn
        .request(Method::POST, "/_matrix/client/v3/register", "", Some(&body))
        .await?;
    if status != 200 {
        bail!("register {name}: {status} {reply} (enable_registration_without_verification?)");
    }
    Ok(User {
        id: reply["user_id"].as_str().context("user_id")?.to_owned(),
        token: reply["access_token"]
            .as_str()
            .context("access_token")?
            .to_owned(),
    })
}

pub(crate) async fn steady(
    load: Load,
    connections: usize,
    conversations: usize,
) -> anyhow::Result<Report> {
    let conversations = conversations.clamp(1, connections.max(1));
    eprintln!("setting up {connections} Matrix users in {conversations} rooms...");
    let prefix = format!("mx{}", std::process::id());
    let users = http::in_batches(connections, 8, |n| {
        let (addr, name) = (load.addr, format!("{prefix}_{n}"));
        async move { register(addr, &name).await }
    })
    .await?;
    let mut rooms = Vec::new();
    let mut conn = Conn::open(load.addr).await?;
    for (c, owner) in users.iter().take(conversations).enumerate() {
        // A private room, as a group chat is: its members invited at creation, then joining.
        let invite: Vec<&str> = users
            .iter()
            .enumerate()
            .skip(conversations)
            .filter(|(n, _)| n % conversations == c)
            .map(|(_, u)| u.id.as_str())
            .collect();
        let body = json!({"preset": "private_chat", "name": format!("{prefix}-{c}"),
                          "invite": invite});
        let (status, reply) = conn
            .request(
                Method::POST,
                "/_matrix/client/v3/createRoom",
                &owner.token,
                Some(&body),
            )
            .await?;
        anyhow::ensure!(status == 200, "createRoom: {status} {reply}");
        rooms.push(reply["room_id"].as_str().context("room_id")?.to_owned());
    }
    for (n, user) in users.iter().enumerate().skip(conversations) {
        let room = &rooms[n % conversations];
        let (status, reply) = conn
            .request(
                Method::POST,
                &format!("/_matrix/client/v3/join/{room}"),
                &user.token,
                Some(&json!({})),
            )
            .await?;
        anyhow::ensure!(status == 200, "join: {status} {reply}");
    }
    // Everyone's sync position before the clock starts.
    let mut since = Vec::with_capacity(users.len());
    for user in &users {
        let (status, reply) = conn
            .get(
                &format!("/_matrix/client/v3/sync?timeout=0&filter={FILTER}"),
                &user.token,
            )
            .await?;
        anyhow::ensure!(status == 200, "initial sync: {status}");
        since.push(
            reply["next_batch"]
                .as_str()
                .context("next_batch")?
                .to_owned(),
        );
    }
    // Synapse keeps working after set-up (room state, push rules, caches): measure once idle.
    let settled = crate::cpu::settle(load.cpu).await;
    eprintln!(
        "matrix steady: {} msgs/s for {:?}...",
        load.rate, load.duration
    );
    let run = Run::start(load.protocol, None);
    let per_user = Duration::from_secs_f64(connections as f64 / load.rate.max(1) as f64);
    let started = Instant::now() + Duration::from_millis(200);
    let deadline = started + load.duration;
    let listen_until = deadline + DRAIN;
    let ticker = Live::show_until(Arc::clone(&run), deadline);
    let cpu = tokio::spawn(crate::cpu::measure(load.cpu.to_vec(), started, deadline));
    let mut tasks = Vec::new();
    for (n, (user, since)) in users.into_iter().zip(since).enumerate() {
        let user = Arc::new(user);
        let offset = per_user.mul_f64(n as f64 / connections as f64);
        let schedule = Schedule::new(started + offset, per_user, load.arrivals, n as u64);
        let sender = Conn::open(load.addr).await?;
        let syncer = Conn::open(load.addr).await?;
        let room = rooms[n % conversations].clone();
        tasks.push(tokio::spawn(send_loop(
            sender,
            Arc::clone(&user),
            room,
            schedule,
            deadline,
            Arc::clone(&run),
            (0..connections)
                .filter(|i| i % conversations == n % conversations)
                .count()
                .saturating_sub(1) as u64,
        )));
        tasks.push(tokio::spawn(sync_loop(
            syncer,
            user,
            since,
            listen_until,
            Arc::clone(&run),
        )));
    }
    let mut total = Recorder::default();
    for task in tasks {
        total.merge(&task.await??);
    }
    let _ = ticker.await;
    let mut report = steady_report(&load, connections, conversations, total);
    report
        .summary
        .insert("settle_s".into(), json!(settled.as_secs_f64()));
    crate::steady::add_cpu(&mut report, cpu.await.unwrap_or_default(), "acked");
    Ok(report)
}

async fn send_loop(
    mut conn: Conn,
    user: Arc<User>,
    room: String,
    mut schedule: Schedule,
    deadline: Instant,
    run: Arc<Run>,
    recipients: u64,
) -> anyhow::Result<Recorder> {
    let mut rec = Recorder::default();
    let mut n = 0u64;
    loop {
        let at = schedule.advance();
        if at >= deadline {
            break;
        }
        if Instant::now() > deadline + DRAIN {
            // Sends the server never let us make in time count as timeouts.
            rec.count("sent", 1);
            rec.error("TIMEOUT");
            continue;
        }
        tokio::time::sleep_until(at.into()).await;
        rec.record(
            "generator_lag",
            Instant::now().saturating_duration_since(at),
        );
        let body = json!({"msgtype": "m.text",
                          "body": format!("t={};i={n}", at.saturating_duration_since(run.epoch).as_micros())});
        let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/k{n}");
        n += 1;
        rec.count("sent", 1);
        run.live
            .sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match conn
            .request(Method::PUT, &path, &user.token, Some(&body))
            .await
        {
            Ok((200, _)) => {
                let now = Instant::now();
                rec.record("send_to_ack", now.saturating_duration_since(at));
                rec.count("acked", 1);
                if now <= deadline {
                    rec.count("acked_in_window", 1);
                }
                rec.count("deliveries_expected", recipients);
                run.live
                    .acked
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok((status, reply)) => {
                let code = reply["errcode"]
                    .as_str()
                    .map_or_else(|| format!("HTTP_{status}"), str::to_owned);
                rec.error(&code);
                run.live
                    .failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(_) => {
                rec.error("HTTP_FAILED");
                conn = Conn::open(conn.addr()).await?;
            }
        }
    }
    Ok(rec)
}

async fn sync_loop(
    mut conn: Conn,
    user: Arc<User>,
    mut since: String,
    until: Instant,
    run: Arc<Run>,
) -> anyhow::Result<Recorder> {
    let mut rec = Recorder::default();
    while Instant::now() < until {
        // A long poll as real clients make it (30 s): it returns as soon as there is an event.
        let path = format!("/_matrix/client/v3/sync?since={since}&timeout=30000&filter={FILTER}");
        let left = until.saturating_duration_since(Instant::now());
        let Ok(answer) = tokio::time::timeout(left, conn.get(&path, &user.token)).await else {
            break;
        };
        let Ok((200, reply)) = answer else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let now = Instant::now();
        if let Some(next) = reply["next_batch"].as_str() {
            since = next.to_owned();
        }
        let Some(rooms) = reply["rooms"]["join"].as_object() else {
            continue;
        };
        for room in rooms.values() {
            for event in room["timeline"]["events"].as_array().into_iter().flatten() {
                if event["sender"].as_str() == Some(user.id.as_str()) {
                    continue;
                }
                let Some(sent) = event["content"]["body"]
                    .as_str()
                    .and_then(|b| b.strip_prefix("t="))
                    .and_then(|b| b.split_once(";i="))
                    .and_then(|(t, _)| t.parse::<u64>().ok())
                else {
                    continue;
                };
                let at = run.epoch + Duration::from_micros(sent);
                rec.record("send_to_delivery", now.saturating_duration_since(at));
                run.live
                    .delivered
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    Ok(rec)
}
