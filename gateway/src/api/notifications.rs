//! `/api/conversations/{id}/notifications` and `/api/users/me/notifications`: what a member hears
//! of a conversation (level and mute) and the caller's do-not-disturb schedule. Reading or
//! changing a conversation's preferences needs membership, like reading it.

use hyper::StatusCode;
use parley_persister::store::notifications::{self, ConversationPrefs, DndSchedule, Level};
use parley_shared::ConversationId;
use parley_shared::policy::Action;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::{ApiError, Problems};
use super::request::Ctx;
use super::views::{self, Reply};
use crate::authz::authorize;
use parley_shared::time::serde_ts;

/// A member's preferences for one conversation, as REST shows them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConversationPrefsView {
    level: &'static str,
    #[serde(with = "serde_ts::option")]
    muted_until: Option<OffsetDateTime>,
    /// The mute covers this moment.
    muted: bool,
}

impl From<ConversationPrefs> for ConversationPrefsView {
    fn from(p: ConversationPrefs) -> Self {
        Self {
            level: p.level.as_str(),
            muted_until: p.muted_until,
            muted: p.muted_until.is_some_and(|t| t > OffsetDateTime::now_utc()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConversationPrefsRequest {
    level: String,
    #[serde(default)]
    muted_until: Option<String>,
}

/// `GET /api/conversations/{conversationId}/notifications`.
pub(crate) async fn get_conversation(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let id: ConversationId = ctx.id_param("conversationId", "Conversation")?;
    let conn = ctx.conn().await?;
    authorize(&conn, caller.user, id, Action::Read).await?;
    let prefs = notifications::conversation_prefs(&conn, id, caller.user).await?;
    Ok(views::data(
        StatusCode::OK,
        &ConversationPrefsView::from(prefs),
    ))
}

/// `PUT /api/conversations/{conversationId}/notifications`.
pub(crate) async fn put_conversation(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let id: ConversationId = ctx.id_param("conversationId", "Conversation")?;
    let request: ConversationPrefsRequest = ctx.json()?;
    let mut problems = Problems::default();
    let level = Level::parse(&request.level);
    if level.is_none() {
        problems.add("level", "must be \"all\", \"mentions\" or \"off\"");
    }
    let muted_until = match request.muted_until.as_deref() {
        None => None,
        Some(text) => match parley_shared::time::parse_timestamp(text) {
            Some(at) => Some(at),
            None => {
                problems.add("mutedUntil", "must be an RFC 3339 date-time or null");
                None
            }
        },
    };
    problems.into_result()?;
    let prefs = ConversationPrefs {
        level: level.unwrap_or(Level::All),
        // A mute that has already ended is no mute.
        muted_until: muted_until.filter(|t| *t > OffsetDateTime::now_utc()),
    };
    let conn = ctx.conn().await?;
    authorize(&conn, caller.user, id, Action::Read).await?;
    notifications::set_conversation_prefs(&conn, id, caller.user, prefs).await?;
    ctx.state.app.bus.preferences(caller.user);
    Ok(views::data(
        StatusCode::OK,
        &ConversationPrefsView::from(prefs),
    ))
}

/// The caller's preferences, as REST shows them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserPrefsView {
    dnd_schedule: Option<ScheduleView>,
    /// The schedule covers this moment.
    in_dnd_now: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScheduleView {
    /// `HH:MM`, local time.
    start: String,
    end: String,
    time_zone: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserPrefsRequest {
    dnd_schedule: Option<ScheduleView>,
}

fn hh_mm(minute: i32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// Minutes after midnight from `HH:MM` (00:00 to 23:59).
fn minute_of(text: &str) -> Option<i32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

async fn render_user(conn: &parley_persister::store::Conn, ctx: &Ctx) -> Result<Reply, ApiError> {
    let prefs = notifications::user_prefs(conn, ctx.caller()?.user).await?;
    let view = UserPrefsView {
        dnd_schedule: prefs.schedule.map(|s| ScheduleView {
            start: hh_mm(s.start_minute),
            end: hh_mm(s.end_minute),
            time_zone: s.time_zone,
        }),
        in_dnd_now: prefs.in_dnd_now,
    };
    Ok(views::data(StatusCode::OK, &view))
}

/// `GET /api/users/me/notifications`.
pub(crate) async fn get_user(ctx: &Ctx) -> Result<Reply, ApiError> {
    let conn = ctx.conn().await?;
    render_user(&conn, ctx).await
}

/// `PUT /api/users/me/notifications`.
pub(crate) async fn put_user(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let request: UserPrefsRequest = ctx.json()?;
    let conn = ctx.conn().await?;
    let schedule = match request.dnd_schedule {
        None => None,
        Some(s) => {
            let mut problems = Problems::default();
            let start = minute_of(&s.start);
            let end = minute_of(&s.end);
            if start.is_none() {
                problems.add("dndSchedule.start", "must be a time HH:MM (00:00 to 23:59)");
            }
            if end.is_none() {
                problems.add("dndSchedule.end", "must be a time HH:MM (00:00 to 23:59)");
            }
            if start.is_some() && start == end {
                problems.add("dndSchedule.end", "must differ from the start");
            }
            let zone_ok =
                s.time_zone.len() <= 64 && notifications::is_time_zone(&conn, &s.time_zone).await?;
            if !zone_ok {
                problems.add(
                    "dndSchedule.timeZone",
                    "must be an IANA time zone, e.g. Europe/Berlin",
                );
            }
            problems.into_result()?;
            Some(DndSchedule {
                start_minute: start.unwrap_or_default(),
                end_minute: end.unwrap_or_default(),
                time_zone: s.time_zone,
            })
        }
    };
    notifications::set_schedule(&conn, caller.user, schedule.as_ref()).await?;
    ctx.state.app.bus.preferences(caller.user);
    render_user(&conn, ctx).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_times() {
        for (text, minute) in [
            ("00:00", Some(0)),
            ("07:30", Some(450)),
            ("23:59", Some(1439)),
            ("24:00", None),
            ("7:30", None),
            ("07:60", None),
            ("07-30", None),
            ("", None),
        ] {
            assert_eq!(super::minute_of(text), minute, "{text}");
        }
        assert_eq!(super::hh_mm(450), "07:30");
    }
}
