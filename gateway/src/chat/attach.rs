//! A send's attachments, checked on the stored uploads before the send is queued: each must be
//! the sender's, recent enough (`uploads.unattached_ttl` less an hour) and not attached yet (or
//! attached to this very send, for a retry); `image` needs every one to be an image; without a
//! type, the send is `image` when they all are and `file` otherwise. The message carries their
//! views, in the order given, as the JSON every reader sees.

use parley_persister::store::uploads;
use parley_persister::writer::NewAttachments;
use parley_shared::send::ValidSend;
use parley_shared::{ErrorBody, ErrorCode};

use super::send::Sender;
use crate::api::views::AttachmentView;
use crate::app::App;

/// The send's type and its attachments.
pub(super) async fn resolve(
    app: &App,
    sender: Sender<'_>,
    client_message_id: &str,
    valid: &ValidSend,
) -> Result<(&'static str, Option<NewAttachments>), ErrorBody> {
    let conn = sender.pool.get().await.map_err(|error| {
        tracing::warn!(%error, "no database connection for a send's attachments");
        unavailable()
    })?;
    let ids: Vec<uuid::Uuid> = valid.attachments.iter().map(|a| a.0).collect();
    let max_age = i64::try_from(app.uploads.attachable_for().as_secs()).unwrap_or(i64::MAX);
    let found = uploads::attachable(&conn, sender.user, &ids, client_message_id, max_age)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "looking up a send's attachments failed");
            unavailable()
        })?;
    let mut views = Vec::with_capacity(ids.len());
    for id in &valid.attachments {
        let Some(upload) = found.iter().find(|u| u.id == *id) else {
            return Err(invalid(
                "attachments",
                format!("{id} is not an upload of yours that can still be attached"),
            ));
        };
        views.push(AttachmentView::from(upload));
    }
    let all_images = views.iter().all(|v| v.kind == "image");
    let content_type = match (valid.content_type, valid.type_given) {
        ("image", _) if !all_images => {
            return Err(invalid(
                "contentType",
                "is image but not every attachment is one".into(),
            ));
        }
        (_, false) if all_images => "image",
        (given, _) => given,
    };
    let json = serde_json::to_string(&views).expect("views serialise infallibly");
    Ok((content_type, Some(NewAttachments { uploads: ids, json })))
}

fn invalid(field: &str, problem: String) -> ErrorBody {
    ErrorBody::new(ErrorCode::ValidationError, "Invalid message").with_detail(field, problem)
}

fn unavailable() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::DbError,
        "Database unavailable, retry with backoff",
    )
    .with_retry_after(1)
}
