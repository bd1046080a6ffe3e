//! `POST /api/uploads` and `GET /api/attachments/{id}[/thumbnails/{size}]`: a file streamed in
//! (bounded by `uploads.max_bytes`, the user's quota, `limits.uploads` and `uploads.concurrency`;
//! `files::intake` does the rest), and its bytes streamed back, with `Range`, only to its owner
//! before it is sent and then to the members of a conversation with a message that holds it (the
//! same 404 for anyone else as for a missing id).

use hyper::StatusCode;
use hyper::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, ETAG, HeaderValue};
use parley_persister::store::uploads::{self, Recorded, Upload};
use parley_shared::{AttachmentId, ErrorBody, ErrorCode, UserId};
use tokio::io::AsyncReadExt;

use super::error::ApiError;
use super::request::Ctx;
use super::views::{self, AttachmentView, Download, Reply};
use crate::app::App;
use crate::body::Body;
use crate::files::intake::{self, Bounds, IntakeError, Scratch};

/// `POST /api/uploads?name=…`: the raw bytes as the body; `201` with the attachment to name in a
/// send's `attachments`.
pub(crate) async fn upload(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let app = &ctx.state.app;
    let result = receive(ctx, me).await;
    match &result {
        Ok(_) => app.metrics.uploads.inc(),
        Err((reason, _)) => app.metrics.upload_refused(reason),
    }
    result.map_err(|(_, error)| error)
}

type Refused = (&'static str, ApiError);

async fn receive(ctx: &Ctx, me: UserId) -> Result<Reply, Refused> {
    let app = &ctx.state.app;
    let config = &app.uploads;
    let Some(body) = ctx.upload.borrow_mut().take() else {
        return Err(("error", ApiError::field("body", "is required")));
    };
    if let Some(limits) = &app.limits {
        ctx.limit(&*limits.uploads, &crate::limits::Key::User(me))
            .await
            .map_err(|error| ("rate_limited", error))?;
    }
    let name = parley_shared::sniff::clean_name(ctx.query.get("name").map_or("", String::as_str));
    let quota = i64::try_from(config.quota_bytes).unwrap_or(i64::MAX);
    let declared = ctx.content_length;
    let Ok(_permit) = app.receiving.try_acquire() else {
        let busy = ErrorBody::new(
            ErrorCode::Overloaded,
            "Too many uploads at once, retry shortly",
        )
        .with_retry_after(1);
        return Err(("busy", ApiError(busy)));
    };
    {
        let conn = ctx.conn().await.map_err(|error| ("error", error))?;
        let used = uploads::usage(&conn, me).await.map_err(db)?;
        let size = i64::try_from(declared.unwrap_or(0)).unwrap_or(i64::MAX);
        if used.saturating_add(size) > quota {
            return Err(("quota", over_quota(config.quota_bytes)));
        }
    }
    let bounds = Bounds {
        max_bytes: config.max_bytes,
        pause: app.body_read_timeout,
        min_rate: app.body_min_rate as u64,
        max_pixels: config.max_pixels,
        max_dimension: config.max_dimension,
        decode_memory: DECODE_MEMORY,
    };
    let mut scratch = Scratch::default();
    let scratch_dir = app.files.scratch().to_owned();
    let received = intake::receive(
        body,
        declared,
        bounds,
        &scratch_dir,
        &mut scratch,
        &app.decodes,
    )
    .await
    .map_err(refusal)?;
    let upload = Upload {
        id: AttachmentId::generate(),
        user_id: me,
        sha256: received.sha256.clone(),
        size: i64::try_from(received.size).unwrap_or(i64::MAX),
        mime_type: received.sniffed.mime.to_owned(),
        kind: if received.sniffed.image.is_some() {
            "image"
        } else {
            "file"
        }
        .to_owned(),
        name,
        width: received.dimensions.and_then(|(w, _)| i32::try_from(w).ok()),
        height: received.dimensions.and_then(|(_, h)| i32::try_from(h).ok()),
        thumbnails: received
            .thumbnails
            .files
            .iter()
            .filter_map(|(size, _)| i32::try_from(*size).ok())
            .collect(),
        thumbnail_mime: received.thumbnails.mime.map(str::to_owned),
        created_at: time::OffsetDateTime::now_utc(),
    };
    let put = async {
        app.files.put(&received.file, &received.sha256).await?;
        for (size, path) in &received.thumbnails.files {
            app.files
                .put(path, &format!("{}.t{size}", received.sha256))
                .await?;
        }
        Ok(())
    };
    let mut conn = ctx.conn().await.map_err(|error| ("error", error))?;
    match uploads::record(&mut conn, &upload, quota, put)
        .await
        .map_err(db)?
    {
        Recorded::Stored(stored) => {
            app.metrics.upload_bytes.add(received.size);
            tracing::info!(attachment = %stored.id, bytes = stored.size, kind = %stored.kind, "upload stored");
            Ok(views::data(
                StatusCode::CREATED,
                &AttachmentView::from(&*stored),
            ))
        }
        Recorded::OverQuota { .. } => Err(("quota", over_quota(config.quota_bytes))),
        Recorded::PutFailed(error) => {
            tracing::warn!(%error, "storing an upload failed");
            Err((
                "error",
                ApiError::new(ErrorCode::InternalError, "Could not store the upload"),
            ))
        }
    }
}

/// Bytes one thumbnail decode may hold (an image within `uploads.max_pixels` of 50 million
/// needs 200 MB as RGBA; `THUMBNAIL_DECODES` run at once).
const DECODE_MEMORY: u64 = 512 * 1024 * 1024;

fn db(error: parley_persister::DbError) -> Refused {
    ("error", ApiError::from(error))
}

fn over_quota(quota: u64) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("Your uploads would exceed your quota of {quota} bytes; delete some first"),
    )
}

fn refusal(error: IntakeError) -> Refused {
    match error {
        IntakeError::TooLarge { max } => (
            "too_large",
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("Upload exceeds {max} bytes"),
            ),
        ),
        IntakeError::TooSlow => (
            "slow",
            ApiError(
                ErrorBody::new(ErrorCode::RequestTimeout, "Upload arrived too slowly")
                    .with_retry_after(1),
            ),
        ),
        IntakeError::Empty => ("empty", ApiError::field("body", "is empty")),
        IntakeError::Aborted => ("aborted", ApiError::field("body", "could not be read")),
        error @ IntakeError::ImageTooLarge { .. } => (
            "image_too_large",
            ApiError::field("body", error.to_string()),
        ),
        error @ IntakeError::Malformed(_) => {
            ("malformed", ApiError::field("body", error.to_string()))
        }
        IntakeError::Io(error) => {
            tracing::warn!(%error, "receiving an upload failed");
            (
                "error",
                ApiError::new(ErrorCode::InternalError, "Could not store the upload"),
            )
        }
    }
}

/// `GET /api/attachments/{attachmentId}`: the bytes (images inline, anything else as a download).
pub(crate) async fn download(ctx: &Ctx) -> Result<Reply, ApiError> {
    let upload = readable(ctx).await?;
    let blob = Blob {
        key: upload.sha256.clone(),
        content_type: upload.mime_type.clone(),
        inline: upload.kind == "image",
        name: upload.name.clone(),
    };
    serve(ctx, blob).await
}

/// `GET /api/attachments/{attachmentId}/thumbnails/{size}`: one of an image's thumbnails.
pub(crate) async fn thumbnail(ctx: &Ctx) -> Result<Reply, ApiError> {
    let upload = readable(ctx).await?;
    let size: i32 = ctx
        .param("size")
        .parse()
        .map_err(|_| ApiError::not_found("Thumbnail"))?;
    let (true, Some(mime)) = (
        upload.thumbnails.contains(&size),
        upload.thumbnail_mime.clone(),
    ) else {
        return Err(ApiError::not_found("Thumbnail"));
    };
    let extension = if mime == "image/png" { "png" } else { "jpg" };
    let blob = Blob {
        key: format!("{}.t{size}", upload.sha256),
        content_type: mime,
        inline: true,
        name: format!("thumbnail-{size}.{extension}"),
    };
    serve(ctx, blob).await
}

async fn readable(ctx: &Ctx) -> Result<Upload, ApiError> {
    let me = ctx.caller()?.user;
    let id: AttachmentId = ctx
        .param("attachmentId")
        .parse()
        .map_err(|_| ApiError::not_found("Attachment"))?;
    let conn = ctx.conn().await?;
    uploads::readable(&conn, me, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Attachment"))
}

struct Blob {
    key: String,
    content_type: String,
    inline: bool,
    name: String,
}

/// Streams blob `blob.key` (or the asked range of it): 200, 206, 304 (its ETag matched) or 416.
async fn serve(ctx: &Ctx, blob: Blob) -> Result<Reply, ApiError> {
    let app: &App = &ctx.state.app;
    let etag = format!("\"{}\"", blob.key);
    let mut download = Download {
        body: Body::full(""),
        filename: blob.name,
        content_type: blob.content_type,
        inline: blob.inline,
        // Bytes under an id never change; who may read them can, so only the browser keeps them.
        cache: "private, max-age=3600",
        headers: vec![(ACCEPT_RANGES, HeaderValue::from_static("bytes"))],
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        download.headers.push((ETAG, value));
    }
    if ctx
        .if_none_match
        .as_deref()
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag))
    {
        return Ok(Reply::download_with(StatusCode::NOT_MODIFIED, download));
    }
    let stored = app.files.open(&blob.key, 0).await.map_err(io_error)?;
    let Some((len, reader)) = stored else {
        tracing::warn!(key = %blob.key, "an attachment's file is missing");
        return Err(ApiError::not_found("Attachment"));
    };
    let (status, start, count) = match ctx.range.as_deref().map(|r| parse_range(r, len)) {
        None | Some(Ok(None)) => (StatusCode::OK, 0, len),
        Some(Ok(Some((start, end)))) => {
            let range = format!("bytes {start}-{end}/{len}");
            if let Ok(value) = HeaderValue::from_str(&range) {
                download.headers.push((CONTENT_RANGE, value));
            }
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Some(Err(Unsatisfiable)) => {
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                download.headers.push((CONTENT_RANGE, value));
            }
            return Ok(Reply::download_with(
                StatusCode::RANGE_NOT_SATISFIABLE,
                download,
            ));
        }
    };
    let reader = if start > 0 {
        drop(reader);
        match app.files.open(&blob.key, start).await.map_err(io_error)? {
            Some((_, reader)) => reader,
            None => return Err(ApiError::not_found("Attachment")),
        }
    } else {
        reader
    };
    download
        .headers
        .push((CONTENT_LENGTH, HeaderValue::from(count)));
    let (sender, body) = Body::channel(STREAM_DEPTH);
    download.body = body;
    tokio::task::spawn_local(stream(reader, count, sender));
    Ok(Reply::download_with(status, download))
}

/// Chunks in flight per download (each up to `CHUNK` bytes): a slow reader holds back the file,
/// not memory.
const STREAM_DEPTH: usize = 4;
const CHUNK: usize = 64 * 1024;

async fn stream(
    mut reader: crate::files::BlobReader,
    mut left: u64,
    sender: tokio::sync::mpsc::Sender<bytes::Bytes>,
) {
    while left > 0 {
        let mut buf = vec![0u8; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
        match reader.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                left -= n as u64;
                if sender.send(bytes::Bytes::from(buf)).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "reading an attachment failed");
                return;
            }
        }
    }
}

fn io_error(error: std::io::Error) -> ApiError {
    tracing::warn!(%error, "the file store failed");
    ApiError::new(ErrorCode::InternalError, "Could not read the attachment")
}

/// A `Range` no byte of the file satisfies (416).
#[derive(Debug, PartialEq, Eq)]
struct Unsatisfiable;

/// One `bytes=` range against a file of `len` bytes: `Some((first, last))` inclusive, `None` to
/// send the whole file (a form not understood, or several ranges).
fn parse_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().map_err(|_| ());
    let range = match (first.is_empty(), last.is_empty()) {
        (true, true) => return Ok(None),
        (true, false) => match parse(last) {
            Ok(0) => return Err(Unsatisfiable),
            Ok(suffix) => (len.saturating_sub(suffix), len.saturating_sub(1)),
            Err(()) => return Ok(None),
        },
        (false, _) => {
            let Ok(start) = parse(first) else {
                return Ok(None);
            };
            let end = if last.is_empty() {
                len.saturating_sub(1)
            } else {
                match parse(last) {
                    Ok(end) if end >= start => end.min(len.saturating_sub(1)),
                    _ => return Ok(None),
                }
            };
            (start, end)
        }
    };
    if len == 0 || range.0 >= len {
        return Err(Unsatisfiable);
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_table() {
        type Want = Result<Option<(u64, u64)>, Unsatisfiable>;
        let cases: [(&str, u64, Want); 13] = [
            ("bytes=0-99", 1000, Ok(Some((0, 99)))),
            ("bytes=100-", 1000, Ok(Some((100, 999)))),
            ("bytes=-100", 1000, Ok(Some((900, 999)))),
            ("bytes=-5000", 1000, Ok(Some((0, 999)))),
            ("bytes=990-2000", 1000, Ok(Some((990, 999)))),
            ("bytes=1000-", 1000, Err(Unsatisfiable)),
            ("bytes=-0", 1000, Err(Unsatisfiable)),
            ("bytes=5-1", 1000, Ok(None)),
            ("bytes=0-1,5-6", 1000, Ok(None)),
            ("items=0-1", 1000, Ok(None)),
            ("bytes=x-1", 1000, Ok(None)),
            ("bytes=-", 1000, Ok(None)),
            ("bytes=0-", 0, Err(Unsatisfiable)),
        ];
        for (header, len, want) in cases {
            assert_eq!(parse_range(header, len), want, "{header} of {len}");
        }
    }
}
