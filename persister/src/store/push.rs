//! Push to devices: the devices users register, the outbox committed messages feed (behind the
//! writer, a watermark per conversation), and the delivery bookkeeping (claim with a lease,
//! delete when delivered, retry later, dead-letter, forget a device the service says is gone).

use std::time::Duration;

use parley_shared::{ConversationId, MessageId, UserId};
use time::OffsetDateTime;

use super::Conn;
use crate::DbError;

/// Most devices one user may register.
pub const MAX_DEVICES: i64 = 10;

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: uuid::Uuid,
    pub user: UserId,
    pub kind: String,
    pub token: String,
    pub label: String,
    pub created_at: OffsetDateTime,
    pub last_success_at: Option<OffsetDateTime>,
    pub failures: i32,
}

const DEVICE_COLUMNS: &str =
    "id, user_id, kind, token, label, created_at, last_success_at, failures";

fn device(row: &tokio_postgres::Row) -> Device {
    Device {
        id: row.get(0),
        user: UserId(row.get(1)),
        kind: row.get(2),
        token: row.get(3),
        label: row.get(4),
        created_at: row.get(5),
        last_success_at: row.get(6),
        failures: row.get(7),
    }
}

/// What [`register`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// Registered now, or already (the same kind and token): the device.
    Device(Device),
    /// The user holds [`MAX_DEVICES`] already.
    TooMany,
}

/// A Web Push subscription's keys (RFC 8291): `p256dh` (65 bytes) and `auth` (16).
pub type WebPushKeys<'a> = Option<(&'a [u8], &'a [u8])>;

/// Registers `token` as a device of `user` (idempotent for the same kind and token; a browser's
/// new keys for the same endpoint replace the old ones).
pub async fn register(
    conn: &mut Conn,
    user: UserId,
    (kind, token, label): (&str, &str, &str),
    keys: WebPushKeys<'_>,
) -> Result<Registered, DbError> {
    let (p256dh, auth) = (keys.map(|k| k.0), keys.map(|k| k.1));
    let tx = conn.transaction().await?;
    // Serialises one user's registrations, so the bound holds under concurrent requests.
    tx.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user.0])
        .await?;
    let existing = tx
        .query_opt(
            &format!(
                "UPDATE push_subscriptions SET p256dh = coalesce($4, p256dh), auth = coalesce($5, auth)
                 WHERE user_id = $1 AND kind = $2 AND token = $3 RETURNING {DEVICE_COLUMNS}"
            ),
            &[&user.0, &kind, &token, &p256dh, &auth],
        )
        .await?;
    if let Some(row) = existing {
        tx.commit().await?;
        return Ok(Registered::Device(device(&row)));
    }
    let held: i64 = tx
        .query_one(
            "SELECT count(*) FROM push_subscriptions WHERE user_id = $1",
            &[&user.0],
        )
        .await?
        .get(0);
    if held >= MAX_DEVICES {
        return Ok(Registered::TooMany);
    }
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO push_subscriptions (id, user_id, kind, token, label, p256dh, auth)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {DEVICE_COLUMNS}"
            ),
            &[
                &uuid::Uuid::now_v7(),
                &user.0,
                &kind,
                &token,
                &label,
                &p256dh,
                &auth,
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(Registered::Device(device(&row)))
}

/// `user`'s devices, newest first.
pub async fn devices(conn: &Conn, user: UserId) -> Result<Vec<Device>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM push_subscriptions WHERE user_id = $1
             ORDER BY created_at DESC, id DESC"
        ))
        .await?;
    Ok(conn
        .query(&statement, &[&user.0])
        .await?
        .iter()
        .map(device)
        .collect())
}

/// Removes one of `user`'s devices (and what waits for it); false if they have no such device.
pub async fn remove(conn: &Conn, user: UserId, id: uuid::Uuid) -> Result<bool, DbError> {
    let statement = conn
        .prepare_cached("DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2")
        .await?;
    Ok(conn.execute(&statement, &[&id, &user.0]).await? > 0)
}

/// One device that may be told of one message: whoever decides (the gateway: is its user
/// connected?) turns it into a payload, or leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub conversation: ConversationId,
    pub message: MessageId,
    pub seq: i64,
    pub sender: UserId,
    pub sender_name: String,
    /// The group's name, or the sender's display name in a DM.
    pub title: String,
    pub content: String,
    pub urgent: bool,
    pub device: uuid::Uuid,
    pub kind: String,
    pub token: String,
    pub user: UserId,
}

/// Conversations with committed messages for the outbox: `first..=top` committed since it last
/// looked (a conversation without a watermark starts as [`START`] says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub conversation: ConversationId,
    pub first: i64,
    pub top: i64,
}

/// The members' devices to tell of each message after the conversation's watermark (up to `top`,
/// at most `per_conversation` messages each), as the members' preferences allow: level `off`
/// never, `mentions` only a mention or an urgent message, muted or in a do-not-disturb window not
/// unless urgent; never the sender, never a deleted message or one older than `max_age`.
const CANDIDATES: &str = "WITH todo AS (
         SELECT t.conversation_id, coalesce(w.pushed_seq, t.first - 1) AS done,
                least(t.top, coalesce(w.pushed_seq, t.first - 1) + $4) AS upto
         FROM unnest($1::uuid[], $2::int8[], $3::int8[]) AS t(conversation_id, first, top)
         LEFT JOIN push_watermarks w ON w.conversation_id = t.conversation_id
         WHERE t.top > coalesce(w.pushed_seq, t.first - 1)
     ), told AS (
         SELECT todo.conversation_id, m.id AS message_id, m.seq, m.sender_id, su.display_name,
                CASE WHEN c.kind = 'dm' THEN su.display_name ELSE coalesce(c.name, '') END AS title,
                m.content, m.urgent, s.id AS device, s.kind, s.token, s.user_id,
                coalesce(n.level, 'all') AS level,
                coalesce(n.muted_until > now(), false) AS muted,
                m.mention_everyone OR s.user_id = ANY (coalesce(m.mentions, '{}')) AS mentioned,
                CASE WHEN un.user_id IS NULL THEN false
                     WHEN un.dnd_start_minute < un.dnd_end_minute
                     THEN local.minute BETWEEN un.dnd_start_minute AND un.dnd_end_minute - 1
                     ELSE local.minute >= un.dnd_start_minute OR local.minute < un.dnd_end_minute
                END AS in_dnd
         FROM todo
         JOIN conversations c ON c.id = todo.conversation_id
         JOIN conversation_members cm ON cm.conversation_id = todo.conversation_id
         JOIN push_subscriptions s ON s.user_id = cm.user_id
         JOIN messages m ON m.conversation_id = todo.conversation_id
              AND m.seq > todo.done AND m.seq <= todo.upto
              AND m.deleted_at IS NULL AND m.sender_id <> cm.user_id
              AND m.created_at > now() - make_interval(secs => $5)
         JOIN users su ON su.id = m.sender_id
         LEFT JOIN member_notifications n
              ON n.conversation_id = cm.conversation_id AND n.user_id = cm.user_id
         LEFT JOIN user_notifications un ON un.user_id = cm.user_id
         CROSS JOIN LATERAL (SELECT CASE WHEN un.user_id IS NULL THEN 0 ELSE
             (extract(hour FROM now() AT TIME ZONE un.time_zone) * 60
              + extract(minute FROM now() AT TIME ZONE un.time_zone))::int4 END AS minute) local
     )
     SELECT conversation_id, message_id, seq, sender_id, display_name, title, content, urgent,
            device, kind, token, user_id
     FROM told
     WHERE level <> 'off' AND (level = 'all' OR mentioned OR urgent)
       AND (urgent OR NOT (muted OR in_dnd))
     ORDER BY conversation_id, seq, device";

const ADVANCE: &str = "INSERT INTO push_watermarks (conversation_id, pushed_seq)
     SELECT t.conversation_id, least(t.top, coalesce(w.pushed_seq, t.first - 1) + $4)
     FROM unnest($1::uuid[], $2::int8[], $3::int8[]) AS t(conversation_id, first, top)
     LEFT JOIN push_watermarks w ON w.conversation_id = t.conversation_id
     WHERE t.top > coalesce(w.pushed_seq, t.first - 1)
     ON CONFLICT (conversation_id) DO UPDATE
         SET pushed_seq = greatest(push_watermarks.pushed_seq, excluded.pushed_seq)
     RETURNING conversation_id, pushed_seq";

/// Starts a watermark for each conversation of the round that has none: just below the oldest of
/// its last `$3` messages below `first` that is newer than the push age (`$4` seconds), or just
/// below `first`. The messages below `first` were committed by other instances (this one's feed
/// did not hear them) and nobody pushed them: there is no watermark yet. Bounded: a backward
/// look-up of at most `$3` rows on `messages_seq_key`, never the conversation's whole history.
const START: &str = "INSERT INTO push_watermarks (conversation_id, pushed_seq)
     SELECT t.conversation_id,
            coalesce((SELECT min(r.seq) FROM (
                          SELECT m.seq, m.created_at FROM messages m
                          WHERE m.conversation_id = t.conversation_id AND m.seq < t.first
                          ORDER BY m.seq DESC LIMIT $3) r
                      WHERE r.created_at > now() - make_interval(secs => $4)),
                     t.first) - 1
     FROM unnest($1::uuid[], $2::int8[]) AS t(conversation_id, first)
     WHERE NOT EXISTS (SELECT 1 FROM push_watermarks w WHERE w.conversation_id = t.conversation_id)
       AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = t.conversation_id)
     ON CONFLICT (conversation_id) DO NOTHING";

/// The transaction-scoped advisory lock's key serializing [`enqueue`] (migrations use "parley").
const ENQUEUE_LOCK_KEY: i64 = 0x7075_7368; // "push"

const ENQUEUE: &str = "INSERT INTO push_outbox (id, subscription_id, message_id, payload)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[])
     ON CONFLICT (subscription_id, message_id) DO NOTHING";

/// What one [`enqueue`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// Deliveries put in the outbox.
    pub deliveries: u64,
    /// Conversations whose watermark moved, and where to (a conversation not at its `top` yet has
    /// more to look at).
    pub advanced: Vec<(ConversationId, i64)>,
}

/// In one transaction: reads the candidates of `work`, keeps those `decide` turns into a payload
/// (outbox id, device, message, payload), puts them in the outbox and moves the watermarks.
pub async fn enqueue(
    conn: &mut Conn,
    work: &[Committed],
    per_conversation: i64,
    max_age: Duration,
    mut decide: impl FnMut(&Candidate) -> Option<(uuid::Uuid, String)>,
) -> Result<Enqueued, DbError> {
    let conversations: Vec<uuid::Uuid> = work.iter().map(|w| w.conversation.0).collect();
    let firsts: Vec<i64> = work.iter().map(|w| w.first).collect();
    let tops: Vec<i64> = work.iter().map(|w| w.top).collect();
    let age = max_age.as_secs_f64();
    let tx = conn.transaction().await?;
    // One enqueue at a time over every instance: two reading the same watermark would both
    // enqueue its messages, and a copy enqueued after the first was delivered (and left the
    // outbox) would go out twice. The statements after the lock see the watermark it moved.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ENQUEUE_LOCK_KEY])
        .await?;
    tx.execute(START, &[&conversations, &firsts, &per_conversation, &age])
        .await?;
    let rows = tx
        .query(
            CANDIDATES,
            &[&conversations, &firsts, &tops, &per_conversation, &age],
        )
        .await?;
    let (mut ids, mut devices, mut messages, mut payloads) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in &rows {
        let candidate = Candidate {
            conversation: ConversationId(row.get(0)),
            message: MessageId(row.get(1)),
            seq: row.get(2),
            sender: UserId(row.get(3)),
            sender_name: row.get(4),
            title: row.get(5),
            content: row.get(6),
            urgent: row.get(7),
            device: row.get(8),
            kind: row.get(9),
            token: row.get(10),
            user: UserId(row.get(11)),
        };
        if let Some((id, payload)) = decide(&candidate) {
            ids.push(id);
            devices.push(candidate.device);
            messages.push(candidate.message.0);
            payloads.push(payload);
        }
    }
    let deliveries = if ids.is_empty() {
        0
    } else {
        tx.execute(ENQUEUE, &[&ids, &devices, &messages, &payloads])
            .await?
    };
    let advanced = tx
        .query(
            ADVANCE,
            &[&conversations, &firsts, &tops, &per_conversation],
        )
        .await?
        .iter()
        .map(|row| (ConversationId(row.get(0)), row.get(1)))
        .collect();
    tx.commit().await?;
    Ok(Enqueued {
        deliveries,
        advanced,
    })
}

/// Conversations whose watermark is behind their `last_seq` and that have a member with a
/// device: what the outbox still has to look at (after a restart, or a feed that overflowed).
pub async fn behind(conn: &Conn) -> Result<Vec<Committed>, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT c.id, w.pushed_seq + 1, c.last_seq FROM push_watermarks w
             JOIN conversations c ON c.id = w.conversation_id
             WHERE c.last_seq > w.pushed_seq
               AND EXISTS (SELECT 1 FROM conversation_members cm
                           JOIN push_subscriptions s ON s.user_id = cm.user_id
                           WHERE cm.conversation_id = c.id)",
        )
        .await?;
    Ok(conn
        .query(&statement, &[])
        .await?
        .iter()
        .map(|row| Committed {
            conversation: ConversationId(row.get(0)),
            first: row.get(1),
            top: row.get(2),
        })
        .collect())
}

/// A delivery to attempt now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: uuid::Uuid,
    pub device: uuid::Uuid,
    pub kind: String,
    pub token: String,
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// A Web Push device's keys.
    pub p256dh: Option<Vec<u8>>,
    pub auth: Option<Vec<u8>>,
}

/// Claims up to `limit` due deliveries for `lease` (another worker, or this one after a crash,
/// takes them again once it ends), counting the attempt.
pub async fn claim(conn: &Conn, limit: i64, lease: Duration) -> Result<Vec<Due>, DbError> {
    let statement = conn
        .prepare_cached(
            "UPDATE push_outbox o SET attempts = o.attempts + 1,
                    next_attempt_at = now() + make_interval(secs => $2::float8)
             FROM push_subscriptions s
             WHERE o.id IN (SELECT id FROM push_outbox
                            WHERE dead_at IS NULL AND next_attempt_at <= now()
                            ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
               AND s.id = o.subscription_id
             RETURNING o.id, o.subscription_id, s.kind, s.token, o.payload, o.attempts, s.p256dh,
                       s.auth",
        )
        .await?;
    let lease = lease.as_secs_f64();
    Ok(conn
        .query(&statement, &[&limit, &lease])
        .await?
        .iter()
        .map(|row| Due {
            id: row.get(0),
            device: row.get(1),
            kind: row.get(2),
            token: row.get(3),
            payload: row.get(4),
            attempts: row.get(5),
            p256dh: row.get(6),
            auth: row.get(7),
        })
        .collect())
}

/// The delivery `id` reached the service: it leaves the outbox.
pub async fn delivered(conn: &Conn, id: uuid::Uuid, device: uuid::Uuid) -> Result<(), DbError> {
    let statement = conn
        .prepare_cached(
            "WITH gone AS (DELETE FROM push_outbox WHERE id = $1)
             UPDATE push_subscriptions SET last_success_at = now(), failures = 0 WHERE id = $2",
        )
        .await?;
    conn.execute(&statement, &[&id, &device]).await?;
    Ok(())
}

/// The delivery `id` failed: tried again after `retry` (or dead-lettered when `None`).
pub async fn failed(
    conn: &Conn,
    id: uuid::Uuid,
    device: uuid::Uuid,
    error: &str,
    retry: Option<Duration>,
) -> Result<(), DbError> {
    let statement = conn
        .prepare_cached(
            "WITH failed AS (
                 UPDATE push_outbox SET last_error = left($3, 500),
                        next_attempt_at = now() + make_interval(secs => coalesce($4::float8, 0)),
                        dead_at = CASE WHEN $4::float8 IS NULL THEN now() END
                 WHERE id = $1)
             UPDATE push_subscriptions SET failures = failures + 1 WHERE id = $2",
        )
        .await?;
    let retry = retry.map(|d| d.as_secs_f64());
    conn.execute(&statement, &[&id, &device, &error, &retry])
        .await?;
    Ok(())
}

/// The service says the device is gone: it is forgotten, with what waited for it.
pub async fn forget_device(conn: &Conn, device: uuid::Uuid) -> Result<(), DbError> {
    let statement = conn
        .prepare_cached("DELETE FROM push_subscriptions WHERE id = $1")
        .await?;
    conn.execute(&statement, &[&device]).await?;
    Ok(())
}

/// Deliveries waiting (not dead) and dead-lettered.
pub async fn outbox_sizes(conn: &Conn) -> Result<(i64, i64), DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE dead_at IS NULL), count(*) FILTER (WHERE dead_at IS NOT NULL)
             FROM push_outbox",
        )
        .await?;
    let row = conn.query_one(&statement, &[]).await?;
    Ok((row.get(0), row.get(1)))
}
