//! The caller's push devices: `POST /api/users/me/push-subscriptions` registers one (a
//! `webhook` device: the token the operator's push gateway knows it by), `GET` lists them with
//! how delivery to each went, `DELETE .../{deviceId}` removes one. Devices receive pushes only
//! while their user has no connected device.

use hyper::StatusCode;
use parley_persister::store::push::{self, Device, MAX_DEVICES, Registered};
use parley_shared::DeviceId;
use parley_shared::time::serde_ts;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::{ApiError, Problems};
use super::request::Ctx;
use super::views::{self, PageMeta, Reply};

/// Longest device token.
const MAX_TOKEN_CHARS: usize = 4096;
/// Longest label.
const MAX_LABEL_CHARS: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegisterRequest {
    kind: String,
    token: String,
    #[serde(default)]
    label: Option<String>,
}

/// A device, as its user sees it (the token is not shown again).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceView {
    id: DeviceId,
    kind: String,
    label: String,
    #[serde(with = "serde_ts")]
    created_at: OffsetDateTime,
    #[serde(with = "serde_ts::option")]
    last_success_at: Option<OffsetDateTime>,
    /// Failed attempts since the last delivery.
    failures: i32,
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        Self {
            id: DeviceId(d.id),
            kind: d.kind.clone(),
            label: d.label.clone(),
            created_at: d.created_at,
            last_success_at: d.last_success_at,
            failures: d.failures,
        }
    }
}

/// `POST /api/users/me/push-subscriptions`.
pub(crate) async fn register(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let request: RegisterRequest = ctx.json()?;
    let mut problems = Problems::default();
    if request.kind != "webhook" {
        problems.add("kind", "must be \"webhook\"");
    } else if !ctx.state.app.notifications.push_enabled() {
        problems.add("kind", "push is not configured on this server");
    }
    let token_chars = request.token.chars().count();
    if token_chars == 0
        || token_chars > MAX_TOKEN_CHARS
        || request.token.chars().any(char::is_control)
    {
        problems.add(
            "token",
            format!("must be 1 to {MAX_TOKEN_CHARS} characters without control characters"),
        );
    }
    let label = request.label.unwrap_or_default();
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        problems.add(
            "label",
            format!("must be at most {MAX_LABEL_CHARS} characters without control characters"),
        );
    }
    problems.into_result()?;
    let mut conn = ctx.conn().await?;
    match push::register(
        &mut conn,
        caller.user,
        &request.kind,
        &request.token,
        &label,
    )
    .await?
    {
        Registered::Device(device) => {
            tracing::info!(user = %caller.user, device = %DeviceId(device.id), "push device registered");
            Ok(views::data(StatusCode::CREATED, &DeviceView::from(&device)))
        }
        Registered::TooMany => Err(ApiError::field(
            "token",
            format!("at most {MAX_DEVICES} devices per user; remove one first"),
        )),
    }
}

/// `GET /api/users/me/push-subscriptions`.
pub(crate) async fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let conn = ctx.conn().await?;
    let devices = push::devices(&conn, caller.user).await?;
    let views: Vec<DeviceView> = devices.iter().map(DeviceView::from).collect();
    Ok(views::page(&views, PageMeta::new(None, false)))
}

/// `DELETE /api/users/me/push-subscriptions/{deviceId}`.
pub(crate) async fn remove(ctx: &Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let id: DeviceId = ctx.id_param("deviceId", "Device")?;
    let conn = ctx.conn().await?;
    if !push::remove(&conn, caller.user, id.0).await? {
        return Err(ApiError::not_found("Device"));
    }
    Ok(Reply::no_content())
}
