//! The JSON shapes the API returns (camelCase, prefixed ids, ISO timestamps), built from store
//! rows, and the `{"data", "meta"}` envelope. `openapi` describes exactly these.

use hyper::StatusCode;
use parley_persister::store::conversations::{Member, Membership, Summary};
use parley_persister::store::messages::Message;
use parley_persister::store::notifications::ConversationPrefs;
use parley_persister::store::reactions::Reaction;
use parley_persister::store::receipts::Receipt;
use parley_persister::store::users::User;
use parley_shared::policy::{ConversationKind, Role};
use parley_shared::time::serde_ts;
use parley_shared::{AttachmentId, ConversationId, MessageId, UserId};
use serde::Serialize;
use time::OffsetDateTime;

/// A handler's successful answer: a status and the serialised body (`None`: no content), or a
/// file streamed as an attachment.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Option<String>,
    pub(crate) download: Option<Download>,
}

/// A streamed file (a data export, an attachment): never sniffed, never run as a page.
#[derive(Debug)]
pub(crate) struct Download {
    pub(crate) body: crate::body::Body,
    /// `Content-Disposition` file name.
    pub(crate) filename: String,
    pub(crate) content_type: String,
    /// Shown in the page (`inline`: images only) rather than saved (`attachment`).
    pub(crate) inline: bool,
    /// `Cache-Control`.
    pub(crate) cache: &'static str,
    /// More headers (`Content-Length`, `Content-Range`, `ETag`...).
    pub(crate) headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
}

impl Download {
    /// A file to save, never cached.
    pub(crate) fn attachment(
        body: crate::body::Body,
        filename: String,
        content_type: &'static str,
    ) -> Self {
        Self {
            body,
            filename,
            content_type: content_type.to_owned(),
            inline: false,
            cache: "no-store",
            headers: Vec::new(),
        }
    }
}

impl Reply {
    pub(crate) fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            download: None,
        }
    }

    pub(crate) fn download(download: Download) -> Self {
        Self::download_with(StatusCode::OK, download)
    }

    pub(crate) fn download_with(status: StatusCode, download: Download) -> Self {
        Self {
            status,
            body: None,
            download: Some(download),
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    data: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<PageMeta>,
}

/// Paging information of a list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageMeta {
    /// Pass back to get the next page; `null` at the end.
    pub(crate) cursor: Option<String>,
    pub(crate) has_more: bool,
    /// A page around a message (`around=`) also pages forward: pass as `after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) newer_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) has_newer: Option<bool>,
    /// History: every message with a `seq` at or below it was deleted by retention (a gap that is
    /// expected, not missing data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expired_through_seq: Option<i64>,
}

impl PageMeta {
    /// A page that goes one way.
    pub(crate) fn new(cursor: Option<String>, has_more: bool) -> Self {
        Self {
            cursor,
            has_more,
            newer_cursor: None,
            has_newer: None,
            expired_through_seq: None,
        }
    }
}

/// `{"data": value}` with `status`.
pub(crate) fn data<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    let body = serde_json::to_string(&Envelope {
        data: value,
        meta: None,
    })
    .expect("views serialise infallibly");
    Reply {
        status,
        body: Some(body),
        download: None,
    }
}

/// `{"data": items, "meta": {cursor, hasMore}}`.
pub(crate) fn page<T: Serialize>(items: &T, meta: PageMeta) -> Reply {
    let body = serde_json::to_string(&Envelope {
        data: items,
        meta: Some(meta),
    })
    .expect("views serialise infallibly");
    Reply {
        status: StatusCode::OK,
        body: Some(body),
        download: None,
    }
}

/// Another user's public profile.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserView {
    pub(crate) id: UserId,
    pub(crate) username: String,
    pub(crate) display_name: String,
    #[serde(with = "serde_ts")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "serde_ts::option")]
    pub(crate) last_seen_at: Option<OffsetDateTime>,
    /// `online`, `away`, `dnd` or `offline`: only on `GET /api/users/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<&'static str>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            created_at: user.created_at,
            last_seen_at: user.last_seen_at,
            status: None,
        }
    }
}

/// The caller's own account (adds the email).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MeView {
    #[serde(flatten)]
    pub(crate) user: UserView,
    pub(crate) email: Option<String>,
    /// A server admin: the client offers the moderation tools.
    pub(crate) is_admin: bool,
}

impl From<&User> for MeView {
    fn from(user: &User) -> Self {
        Self {
            user: user.into(),
            email: user.email.clone(),
            is_admin: user.is_admin,
        }
    }
}

/// A fresh token pair.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenView {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    /// Seconds until the access token expires.
    pub(crate) expires_in: i64,
}

/// A login session, for its owner.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionView {
    pub(crate) id: parley_shared::SessionId,
    /// "Chrome on Linux", from the user agent.
    pub(crate) device: String,
    pub(crate) user_agent: Option<String>,
    pub(crate) ip_address: Option<String>,
    #[serde(with = "serde_ts")]
    pub(crate) created_at: OffsetDateTime,
    /// The last refresh (access tokens are renewed about every `auth.access_ttl`).
    #[serde(with = "serde_ts")]
    pub(crate) last_used_at: OffsetDateTime,
    /// The session of the token that asked.
    pub(crate) current: bool,
}

/// Sign-up and login answer.
#[derive(Debug, Serialize)]
pub(crate) struct AuthView {
    pub(crate) user: MeView,
    #[serde(flatten)]
    pub(crate) tokens: TokenView,
}

/// A member of a conversation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemberView {
    pub(crate) user_id: UserId,
    pub(crate) username: String,
    pub(crate) display_name: String,
    pub(crate) role: Role,
    #[serde(with = "serde_ts")]
    pub(crate) joined_at: OffsetDateTime,
    /// Their read watermark: a client shows ticks and "Read by N" for history from it.
    pub(crate) last_read_seq: i64,
}

impl From<&Member> for MemberView {
    fn from(member: &Member) -> Self {
        Self {
            user_id: member.user_id,
            username: member.username.clone(),
            display_name: member.display_name.clone(),
            role: member.role,
            joined_at: member.joined_at,
            last_read_seq: member.last_read_seq,
        }
    }
}

/// A message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageView {
    pub(crate) id: MessageId,
    pub(crate) conversation_id: ConversationId,
    pub(crate) sender_id: UserId,
    pub(crate) seq: i64,
    pub(crate) content: String,
    pub(crate) content_type: String,
    pub(crate) reply_to: Option<MessageId>,
    pub(crate) client_message_id: String,
    #[serde(with = "serde_ts")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "serde_ts::option")]
    pub(crate) edited_at: Option<OffsetDateTime>,
    #[serde(with = "serde_ts::option")]
    pub(crate) deleted_at: Option<OffsetDateTime>,
    /// Members it mentions by `@username` (resolved when it was sent).
    pub(crate) mentions: Vec<UserId>,
    /// It mentions every member (`@everyone`, by a group's owner or admin).
    pub(crate) mentions_everyone: bool,
    /// `normal`, or `urgent` (it broke through mutes and do-not-disturb).
    pub(crate) priority: &'static str,
    /// Each emoji with who reacted, in the order first used.
    pub(crate) reactions: Vec<ReactionView>,
    /// Its files and images, in the order sent (none once deleted).
    pub(crate) attachments: Vec<AttachmentView>,
}

/// An uploaded file or image: what a message shows of it (a copy is kept on the message, so
/// it deserialises too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttachmentView {
    pub(crate) id: AttachmentId,
    pub(crate) name: String,
    /// Sniffed from the bytes.
    pub(crate) mime_type: String,
    /// `image` (shown inline) or `file`.
    pub(crate) kind: String,
    pub(crate) size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) width: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) height: Option<i32>,
    /// Thumbnail sizes (longest side) at `/api/attachments/{id}/thumbnails/{size}`.
    #[serde(default)]
    pub(crate) thumbnails: Vec<i32>,
}

impl From<&parley_persister::store::uploads::Upload> for AttachmentView {
    fn from(u: &parley_persister::store::uploads::Upload) -> Self {
        Self {
            id: u.id,
            name: u.name.clone(),
            mime_type: u.mime_type.clone(),
            kind: u.kind.clone(),
            size: u.size,
            width: u.width,
            height: u.height,
            thumbnails: u.thumbnails.clone(),
        }
    }
}

/// The attachments a message keeps as JSON (written by `chat::attach`).
fn stored_attachments(message: &Message) -> Vec<AttachmentView> {
    let Some(json) = message.attachments.as_deref() else {
        return Vec::new();
    };
    serde_json::from_str(json).unwrap_or_else(|error| {
        tracing::warn!(%error, message = %message.id, "a message's attachments do not read back");
        Vec::new()
    })
}

/// One emoji on a message.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReactionView {
    pub(crate) emoji: String,
    pub(crate) count: i64,
    pub(crate) user_ids: Vec<UserId>,
}

impl From<&Reaction> for ReactionView {
    fn from(r: &Reaction) -> Self {
        Self {
            emoji: r.emoji.clone(),
            count: r.count,
            user_ids: r.user_ids.clone(),
        }
    }
}

impl MessageView {
    /// The message with its reactions.
    pub(crate) fn with_reactions(message: &Message, reactions: &[Reaction]) -> Self {
        Self {
            reactions: reactions.iter().map(ReactionView::from).collect(),
            ..Self::from(message)
        }
    }

    /// A page of messages, with the reactions of each (one query for the page).
    pub(crate) async fn page(
        conn: &parley_persister::store::Conn,
        messages: &[Message],
    ) -> Result<Vec<Self>, parley_persister::DbError> {
        let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
        let reactions = parley_persister::store::reactions::for_messages(conn, &ids).await?;
        Ok(messages
            .iter()
            .map(|m| match reactions.get(&m.id) {
                Some(list) => Self::with_reactions(m, list),
                None => Self::from(m),
            })
            .collect())
    }
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            sender_id: m.sender_id,
            seq: m.seq,
            content: m.content.clone(),
            content_type: m.content_type.clone(),
            reply_to: m.reply_to,
            client_message_id: m.client_message_id.clone(),
            created_at: m.created_at,
            edited_at: m.edited_at,
            deleted_at: m.deleted_at,
            mentions: m.mentions.clone(),
            mentions_everyone: m.mention_everyone,
            priority: if m.urgent { "urgent" } else { "normal" },
            reactions: Vec::new(),
            attachments: stored_attachments(m),
        }
    }
}

/// One reader of a message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReceiptView {
    pub(crate) user_id: UserId,
    pub(crate) username: String,
    pub(crate) display_name: String,
    #[serde(with = "serde_ts::option")]
    pub(crate) read_at: Option<OffsetDateTime>,
}

impl From<&Receipt> for ReceiptView {
    fn from(r: &Receipt) -> Self {
        Self {
            user_id: r.user_id,
            username: r.username.clone(),
            display_name: r.display_name.clone(),
            read_at: r.read_at,
        }
    }
}

/// A conversation from the caller's side.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationView {
    pub(crate) id: ConversationId,
    #[serde(rename = "type")]
    pub(crate) kind: ConversationKind,
    pub(crate) name: Option<String>,
    /// A group's description.
    pub(crate) description: Option<String>,
    /// How long this conversation keeps messages, seconds (`None`: as the server does).
    pub(crate) retention_seconds: Option<i64>,
    pub(crate) owner_id: Option<UserId>,
    #[serde(with = "serde_ts")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "serde_ts")]
    pub(crate) last_activity_at: OffsetDateTime,
    pub(crate) last_seq: i64,
    /// The caller's role.
    pub(crate) role: Role,
    pub(crate) last_read_seq: i64,
    pub(crate) unread_count: i64,
    /// Unread messages that mention the caller (at most `MAX_MENTION_COUNT`).
    pub(crate) mention_count: i64,
    pub(crate) member_count: i64,
    /// Every member (single conversation) or the first few (lists).
    pub(crate) members: Vec<MemberView>,
    pub(crate) last_message: Option<MessageView>,
    /// The caller's notification preferences there.
    pub(crate) notifications: NotificationsView,
}

/// A member's notification preferences for one conversation, as views show them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NotificationsView {
    pub(crate) level: &'static str,
    #[serde(with = "serde_ts::option")]
    pub(crate) muted_until: Option<OffsetDateTime>,
    /// The mute covers this moment.
    pub(crate) muted: bool,
}

impl From<ConversationPrefs> for NotificationsView {
    fn from(prefs: ConversationPrefs) -> Self {
        Self {
            level: prefs.level.as_str(),
            muted_until: prefs.muted_until,
            muted: prefs
                .muted_until
                .is_some_and(|until| until > OffsetDateTime::now_utc()),
        }
    }
}

/// What one conversation's view is made of.
pub(crate) struct ConversationParts<'a> {
    pub(crate) membership: &'a Membership,
    pub(crate) members: &'a [Member],
    pub(crate) member_count: i64,
    pub(crate) last_message: Option<&'a Message>,
    pub(crate) mention_count: i64,
    pub(crate) prefs: ConversationPrefs,
}

impl ConversationView {
    pub(crate) fn new(parts: ConversationParts<'_>) -> Self {
        let ConversationParts {
            membership,
            members,
            member_count,
            last_message,
            mention_count,
            prefs,
        } = parts;
        let c = &membership.conversation;
        Self {
            id: c.id,
            kind: c.kind,
            name: c.name.clone(),
            description: c.description.clone(),
            retention_seconds: c.retention_seconds,
            owner_id: c.owner_id,
            created_at: c.created_at,
            last_activity_at: c.last_activity_at,
            last_seq: c.last_seq,
            role: membership.role,
            last_read_seq: membership.last_read_seq,
            unread_count: membership.unread(),
            mention_count,
            member_count,
            members: members.iter().map(MemberView::from).collect(),
            last_message: last_message.map(MessageView::from),
            notifications: NotificationsView::from(prefs),
        }
    }
}

impl From<&Summary> for ConversationView {
    fn from(s: &Summary) -> Self {
        Self::new(ConversationParts {
            membership: &s.membership,
            members: &s.members,
            member_count: s.member_count,
            last_message: s.last_message.as_ref(),
            mention_count: s.mention_count,
            prefs: s.prefs,
        })
    }
}
