//! `GET /api/search/messages`: full-text search over the caller's conversations only, ranked,
//! with highlighted snippets (as ranges: never HTML) and a cursor. Operators in `q`:
//! `from:username`, `in:conv_…`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD`, `has:image`,
//! `has:file` (alone, they list such messages newest first); `conversationId` narrows to one
//! conversation (in-chat search). Attachments are found by their names too. Messages become searchable shortly after they
//! are acknowledged (the index is filled behind the writer).

use parley_persister::store::search::{self, HIT_END, HIT_START, Has, SearchQuery};
use parley_shared::{ConversationId, MessageId};
use serde::Serialize;
use time::{Date, Month, OffsetDateTime};

use super::error::ApiError;
use super::request::Ctx;
use super::views::{self, MessageView, PageMeta, Reply};

/// A query split into its words and operators.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Parsed {
    pub(super) text: String,
    from: Option<String>,
    conversation: Option<ConversationId>,
    before: Option<OffsetDateTime>,
    after: Option<OffsetDateTime>,
    pub(super) has: Option<Has>,
}

/// `YYYY-MM-DD`, a real calendar day.
fn parse_day(text: &str) -> Option<Date> {
    let mut parts = text.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

pub(super) fn parse(q: &str) -> Result<Parsed, ApiError> {
    let mut parsed = Parsed::default();
    let mut words = Vec::new();
    for token in q.split_whitespace() {
        let day = |value: &str| {
            parse_day(value)
                .map(|d| d.midnight().assume_utc())
                .ok_or_else(|| ApiError::field("q", format!("`{token}`: dates are YYYY-MM-DD")))
        };
        match token.split_once(':') {
            Some(("from", name)) if !name.is_empty() => parsed.from = Some(name.to_lowercase()),
            Some(("in", id)) if !id.is_empty() => {
                let id = id.parse().map_err(|_| {
                    ApiError::field("q", format!("`{token}` is not a conversation id"))
                })?;
                parsed.conversation = Some(id);
            }
            Some(("before", value)) => parsed.before = Some(day(value)?),
            Some(("after", value)) => parsed.after = Some(day(value)?),
            Some(("has", "image" | "images")) => parsed.has = Some(Has::Image),
            Some(("has", "file" | "files")) => parsed.has = Some(Has::File),
            Some(("has", _)) => {
                return Err(ApiError::field(
                    "q",
                    format!("`{token}`: has:image or has:file"),
                ));
            }
            _ => words.push(token),
        }
    }
    parsed.text = words.join(" ");
    if parsed.text.is_empty() && parsed.has.is_none() {
        return Err(ApiError::field(
            "q",
            "needs at least one word to look for (or has:image, has:file)",
        ));
    }
    if parsed.text.chars().count() > 256 {
        return Err(ApiError::field(
            "q",
            "must be at most 256 characters of words",
        ));
    }
    Ok(parsed)
}

/// A snippet as plain text with the matched words as ranges (clients render text, never HTML).
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Snippet {
    pub(crate) text: String,
    /// `[start, end)` character offsets of the matched words in `text`.
    pub(crate) highlights: Vec<[usize; 2]>,
}

pub(super) fn snippet(marked: &str) -> Snippet {
    let mut text = String::with_capacity(marked.len());
    let mut highlights = Vec::new();
    let (mut chars, mut start) = (0usize, None);
    for c in marked.chars() {
        match c {
            HIT_START => start = Some(chars),
            HIT_END => {
                if let Some(from) = start.take() {
                    highlights.push([from, chars]);
                }
            }
            c => {
                text.push(c);
                chars += 1;
            }
        }
    }
    Snippet { text, highlights }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HitView {
    message: MessageView,
    snippet: Snippet,
    rank: f32,
}

pub(super) fn cursor_text(rank: f32, id: MessageId) -> String {
    format!("{}_{}", rank.to_bits(), id.0.simple())
}

pub(super) fn cursor_parse(text: &str) -> Option<(f32, MessageId)> {
    let (bits, id) = text.split_once('_')?;
    Some((
        f32::from_bits(bits.parse().ok()?),
        MessageId(uuid::Uuid::parse_str(id).ok()?),
    ))
}

/// The handler.
pub(crate) async fn messages(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let q = ctx.query.get("q").map(String::as_str).unwrap_or_default();
    let mut parsed = parse(q)?;
    if let Some(id) = ctx.query.get("conversationId") {
        let id: ConversationId = id
            .parse()
            .map_err(|_| ApiError::field("conversationId", "is not a conversation id"))?;
        parsed.conversation = Some(id);
    }
    let limit = ctx.int_query("limit", 20, 1..=50)?;
    let cursor = match ctx.query.get("cursor") {
        None => None,
        Some(text) => Some(
            cursor_parse(text)
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor this server issued"))?,
        ),
    };
    let conn = ctx.conn().await?;
    let query = SearchQuery {
        caller: me,
        text: &parsed.text,
        conversation: parsed.conversation,
        from: parsed.from.as_deref(),
        before: parsed.before,
        after: parsed.after,
        has: parsed.has,
        cursor,
        limit: limit + 1,
    };
    let mut hits = match query.text.is_empty() {
        true => search::holding(&conn, &query).await?,
        false => search::messages(&conn, &query).await?,
    };
    let has_more = hits.len() as i64 > limit;
    hits.truncate(limit as usize);
    let cursor = hits
        .last()
        .filter(|_| has_more)
        .map(|h| cursor_text(h.rank, h.message.id));
    let items: Vec<HitView> = hits
        .iter()
        .map(|h| HitView {
            message: MessageView::from(&h.message),
            snippet: snippet(&h.snippet),
            rank: h.rank,
        })
        .collect();
    Ok(views::page(&items, PageMeta::new(cursor, has_more)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_are_taken_out_of_the_words() {
        let p =
            parse("hello from:Alice world before:2026-11-01 after:2026-10-01").unwrap_or_default();
        assert_eq!(p.text, "hello world");
        assert_eq!(p.from.as_deref(), Some("alice"));
        assert_eq!(
            p.before.map(|d| d.date().to_string()).as_deref(),
            Some("2026-11-01")
        );
        assert_eq!(
            p.after.map(|d| d.date().to_string()).as_deref(),
            Some("2026-10-01")
        );
        for bad in [
            "",
            "from:bob",
            "x before:yesterday",
            "x after:2026-02-30",
            "x in:nope",
            "   ",
            "has:pdf",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let p = parse("has:image from:ann").unwrap_or_default();
        assert_eq!((p.text.as_str(), p.has), ("", Some(Has::Image)));
        assert_eq!(
            parse("report has:files").unwrap_or_default().has,
            Some(Has::File)
        );
        // Colons that are not operators stay words.
        assert_eq!(
            parse("time: 10:30").map(|p| p.text).ok().as_deref(),
            Some("time: 10:30")
        );
    }

    #[test]
    fn snippets_become_text_and_character_ranges() {
        let s = snippet("say \u{2}héllo\u{3} to \u{2}you\u{3}");
        assert_eq!(s.text, "say héllo to you");
        assert_eq!(s.highlights, vec![[4, 9], [13, 16]]);
        assert_eq!(snippet("plain").highlights, Vec::<[usize; 2]>::new());
    }

    #[test]
    fn cursors_round_trip() {
        let id = MessageId::generate();
        assert_eq!(cursor_parse(&cursor_text(0.25, id)), Some((0.25, id)));
        assert_eq!(cursor_parse("nonsense"), None);
    }
}
