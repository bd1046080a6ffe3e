//! Notification preferences: per member and conversation, a level (`all`, `mentions`, `off`) and
//! a mute until a time; per user, a do-not-disturb schedule (a daily window in a time zone). Rows
//! exist only for what differs from the defaults (everything on, no schedule), so the send path
//! and membership rows carry nothing for them.

use parley_shared::{ConversationId, UserId};
use time::OffsetDateTime;

use super::Conn;
use crate::DbError;

/// What a member hears of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    All,
    Mentions,
    Off,
}

impl Level {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "all" => Some(Self::All),
            "mentions" => Some(Self::Mentions),
            "off" => Some(Self::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Mentions => "mentions",
            Self::Off => "off",
        }
    }
}

/// A member's preferences for one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationPrefs {
    pub level: Level,
    pub muted_until: Option<OffsetDateTime>,
}

impl Default for ConversationPrefs {
    fn default() -> Self {
        Self {
            level: Level::All,
            muted_until: None,
        }
    }
}

/// A daily do-not-disturb window, `start` to `end` in `time_zone` (wrapping past midnight when
/// `end` is earlier than `start`). Times are minutes after midnight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DndSchedule {
    pub start_minute: i32,
    pub end_minute: i32,
    pub time_zone: String,
}

/// A user's preferences, and whether their schedule covers this moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserPrefs {
    pub schedule: Option<DndSchedule>,
    pub in_dnd_now: bool,
}

/// `user`'s preferences for `conversation` (the defaults when they never changed them).
pub async fn conversation_prefs(
    conn: &Conn,
    conversation: ConversationId,
    user: UserId,
) -> Result<ConversationPrefs, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT level, muted_until FROM member_notifications
             WHERE conversation_id = $1 AND user_id = $2",
        )
        .await?;
    let row = conn
        .query_opt(&statement, &[&conversation.0, &user.0])
        .await?;
    let Some(row) = row else {
        return Ok(ConversationPrefs::default());
    };
    let level: &str = row.get(0);
    Ok(ConversationPrefs {
        level: Level::parse(level)
            .ok_or_else(|| DbError::Corrupt(format!("unknown notification level `{level}`")))?,
        muted_until: row.get(1),
    })
}

/// Replaces `user`'s preferences for `conversation` (a row only while they differ from the
/// defaults).
pub async fn set_conversation_prefs(
    conn: &Conn,
    conversation: ConversationId,
    user: UserId,
    prefs: ConversationPrefs,
) -> Result<(), DbError> {
    if prefs == ConversationPrefs::default() {
        let statement = conn
            .prepare_cached(
                "DELETE FROM member_notifications WHERE conversation_id = $1 AND user_id = $2",
            )
            .await?;
        conn.execute(&statement, &[&conversation.0, &user.0])
            .await?;
        return Ok(());
    }
    let statement = conn
        .prepare_cached(
            "INSERT INTO member_notifications (conversation_id, user_id, level, muted_until)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (conversation_id, user_id)
             DO UPDATE SET level = excluded.level, muted_until = excluded.muted_until,
                           updated_at = now()",
        )
        .await?;
    conn.execute(
        &statement,
        &[
            &conversation.0,
            &user.0,
            &prefs.level.as_str(),
            &prefs.muted_until,
        ],
    )
    .await?;
    Ok(())
}

/// Whether PostgreSQL knows `name` as a time zone (an IANA name such as `Europe/Berlin`).
pub async fn is_time_zone(conn: &Conn, name: &str) -> Result<bool, DbError> {
    let statement = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
        .await?;
    Ok(conn.query_one(&statement, &[&name]).await?.get(0))
}

/// `user`'s schedule, and whether it covers now.
pub async fn user_prefs(conn: &Conn, user: UserId) -> Result<UserPrefs, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT dnd_start_minute, dnd_end_minute, time_zone,
                    CASE WHEN dnd_start_minute < dnd_end_minute
                         THEN local BETWEEN dnd_start_minute AND dnd_end_minute - 1
                         ELSE local >= dnd_start_minute OR local < dnd_end_minute END
             FROM (SELECT *, (extract(hour FROM now() AT TIME ZONE time_zone) * 60
                              + extract(minute FROM now() AT TIME ZONE time_zone))::int4 AS local
                   FROM user_notifications WHERE user_id = $1) s",
        )
        .await?;
    let Some(row) = conn.query_opt(&statement, &[&user.0]).await? else {
        return Ok(UserPrefs::default());
    };
    Ok(UserPrefs {
        schedule: Some(DndSchedule {
            start_minute: row.get(0),
            end_minute: row.get(1),
            time_zone: row.get(2),
        }),
        in_dnd_now: row.get(3),
    })
}

/// Replaces `user`'s schedule (`None`: no schedule).
pub async fn set_schedule(
    conn: &Conn,
    user: UserId,
    schedule: Option<&DndSchedule>,
) -> Result<(), DbError> {
    let Some(schedule) = schedule else {
        let statement = conn
            .prepare_cached("DELETE FROM user_notifications WHERE user_id = $1")
            .await?;
        conn.execute(&statement, &[&user.0]).await?;
        return Ok(());
    };
    let statement = conn
        .prepare_cached(
            "INSERT INTO user_notifications (user_id, dnd_start_minute, dnd_end_minute, time_zone)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id) DO UPDATE SET dnd_start_minute = excluded.dnd_start_minute,
                 dnd_end_minute = excluded.dnd_end_minute, time_zone = excluded.time_zone,
                 updated_at = now()",
        )
        .await?;
    conn.execute(
        &statement,
        &[
            &user.0,
            &schedule.start_minute,
            &schedule.end_minute,
            &schedule.time_zone,
        ],
    )
    .await?;
    Ok(())
}

/// What the gateway needs to decide a connected user's toasts: per conversation its title (a
/// group's name, the other member's display name in a DM) and the user's preferences there, and
/// the do-not-disturb windows of their schedule from yesterday to tomorrow in their time zone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToastContext {
    pub conversations: Vec<ConversationContext>,
    /// `[start, end)` in UTC, each ending after the moment of the read.
    pub dnd: Vec<(OffsetDateTime, OffsetDateTime)>,
}

/// One conversation of a [`ToastContext`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationContext {
    pub conversation: ConversationId,
    pub title: String,
    pub prefs: ConversationPrefs,
}

/// `user`'s [`ToastContext`].
pub async fn toast_context(conn: &Conn, user: UserId) -> Result<ToastContext, DbError> {
    let conversations = conn
        .prepare_cached(
            "SELECT c.id, coalesce(CASE WHEN c.kind = 'dm' THEN u.display_name ELSE c.name END, ''),
                    n.level, n.muted_until
             FROM conversation_members m
             JOIN conversations c ON c.id = m.conversation_id
             LEFT JOIN users u ON c.kind = 'dm'
                  AND u.id = CASE WHEN c.dm_user_low = $1 THEN c.dm_user_high ELSE c.dm_user_low END
             LEFT JOIN member_notifications n
                  ON n.conversation_id = m.conversation_id AND n.user_id = m.user_id
             WHERE m.user_id = $1",
        )
        .await?;
    let windows = conn
        .prepare_cached(
            "SELECT w.starts, w.ends FROM user_notifications s
             CROSS JOIN LATERAL generate_series(
                 (now() AT TIME ZONE s.time_zone)::date::timestamp - interval '1 day',
                 (now() AT TIME ZONE s.time_zone)::date::timestamp + interval '1 day',
                 interval '1 day') AS d(day)
             CROSS JOIN LATERAL (SELECT
                 (d.day + make_interval(mins => s.dnd_start_minute)) AT TIME ZONE s.time_zone,
                 (d.day + make_interval(mins => s.dnd_end_minute)
                  + CASE WHEN s.dnd_end_minute < s.dnd_start_minute THEN interval '1 day'
                         ELSE interval '0' END) AT TIME ZONE s.time_zone) AS w(starts, ends)
             WHERE s.user_id = $1 AND w.ends > now()
             ORDER BY w.starts",
        )
        .await?;
    let mut context = ToastContext::default();
    for row in conn.query(&conversations, &[&user.0]).await? {
        let level = match row.get::<_, Option<&str>>(2) {
            None => Level::All,
            Some(text) => Level::parse(text)
                .ok_or_else(|| DbError::Corrupt(format!("unknown notification level `{text}`")))?,
        };
        context.conversations.push(ConversationContext {
            conversation: ConversationId(row.get(0)),
            title: row.get(1),
            prefs: ConversationPrefs {
                level,
                muted_until: row.get(3),
            },
        });
    }
    for row in conn.query(&windows, &[&user.0]).await? {
        context.dnd.push((row.get(0), row.get(1)));
    }
    Ok(context)
}
