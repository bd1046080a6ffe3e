//! `/api/users/me/export*`: a user asks for an export of their data (prepared in the background),
//! sees how it goes, and downloads it once. Each request and download is in the audit log.

use hyper::StatusCode;
use parley_persister::store::export::{self, Export};
use parley_shared::ExportId;
use serde::Serialize;

use super::error::ApiError;
use super::request::Ctx;
use super::views::{self, Download, PageMeta, Reply};
use crate::privacy::export as archive;

/// An export, for its owner.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExportView {
    id: ExportId,
    status: String,
    bytes: i64,
    #[serde(with = "parley_shared::time::serde_ts")]
    created_at: time::OffsetDateTime,
    #[serde(with = "parley_shared::time::serde_ts::option")]
    ready_at: Option<time::OffsetDateTime>,
    #[serde(with = "parley_shared::time::serde_ts::option")]
    downloaded_at: Option<time::OffsetDateTime>,
    #[serde(with = "parley_shared::time::serde_ts")]
    expires_at: time::OffsetDateTime,
}

impl From<&Export> for ExportView {
    fn from(e: &Export) -> Self {
        Self {
            id: ExportId(e.id),
            status: e.status.clone(),
            bytes: e.bytes,
            created_at: e.created_at,
            ready_at: e.ready_at,
            downloaded_at: e.downloaded_at,
            expires_at: e.expires_at,
        }
    }
}

/// `POST /api/users/me/export`: `202` a new export being prepared, or `200` the one already
/// preparing or waiting for its download.
pub(crate) async fn request(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let mut conn = ctx.conn().await?;
    let expires = time::OffsetDateTime::now_utc() + ctx.state.app.privacy.export_expiry;
    let entry = ctx.audit("user.export_requested").user(me);
    let (found, new) = export::request(&mut conn, me, expires, &entry).await?;
    if new {
        tracing::info!(export = %ExportId(found.id), "export requested");
        archive::prepare(std::rc::Rc::clone(&ctx.state), me, found.id);
    }
    let status = if new {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(views::data(status, &ExportView::from(&found)))
}

/// `GET /api/users/me/exports`: mine, newest first.
pub(crate) async fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let conn = ctx.conn().await?;
    let found = export::list(&conn, me).await?;
    let items: Vec<ExportView> = found.iter().map(ExportView::from).collect();
    Ok(views::page(&items, PageMeta::new(None, false)))
}

/// `GET /api/users/me/exports/{exportId}/download`: the archive, once; afterwards (or for anyone
/// else's, or one not ready) 404.
pub(crate) async fn download(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let id: ExportId = ctx.id_param("exportId", "Export")?;
    let mut conn = ctx.conn().await?;
    let entry = ctx.audit("user.export_downloaded").user(me);
    let Some(taken) = export::take(&mut conn, me, id.0, &entry).await? else {
        // Yours but not ready yet: say so (found by schemathesis' stateful run, which downloads
        // what it just asked for); downloaded, expired, failed or another's: not found.
        let exports = export::list(&conn, me).await?;
        if exports
            .iter()
            .any(|e| e.id == id.0 && e.status == "preparing")
        {
            return Err(ApiError::conflict(
                "This export is still being prepared: download it once its status is ready",
            ));
        }
        return Err(ApiError::not_found("Export"));
    };
    drop(conn);
    let day = taken.created_at.date();
    Ok(Reply::download(Download::attachment(
        archive::download(std::rc::Rc::clone(&ctx.state), taken.id),
        format!("parley-export-{day}.json"),
        "application/json",
    )))
}
