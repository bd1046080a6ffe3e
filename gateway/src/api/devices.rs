//! The caller's push devices: `POST /api/users/me/push-subscriptions` registers one (a
//! `webhook` device: the token the operator's push gateway knows it by; a `webpush` browser: its
//! push service endpoint and keys), `GET` lists them with how delivery to each went, `DELETE
//! .../{deviceId}` removes one; `GET /api/push` says which channels the server has (and the VAPID
//! key browsers subscribe with). Devices receive pushes only while their user has no connected
//! device.

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
    /// `webhook`: the device token.
    #[serde(default)]
    token: Option<String>,
    /// `webpush`: the browser's `PushSubscription` (`endpoint`, `keys.p256dh`, `keys.auth`).
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    keys: Option<SubscriptionKeys>,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionKeys {
    p256dh: String,
    auth: String,
}

/// `GET /api/push`: the channels this server pushes through.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PushView<'a> {
    webhook: bool,
    /// The VAPID public key (base64url) browsers subscribe with; null: no Web Push.
    vapid_public_key: Option<&'a str>,
}

/// `GET /api/push`.
pub(crate) async fn channels(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.caller()?;
    let app = &ctx.state.app;
    let view = PushView {
        webhook: app.notifications.webhook_enabled(),
        vapid_public_key: app.vapid.as_deref().map(|v| v.public_key()),
    };
    Ok(views::data(StatusCode::OK, &view))
}

/// What a registration stores: kind, token (the endpoint for Web Push), keys.
type Checked = (String, String, Option<(Vec<u8>, Vec<u8>)>);

/// Checks a registration's fields for its kind.
fn check(ctx: &Ctx, request: &RegisterRequest, problems: &mut Problems) -> Checked {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let config = &ctx.state.app.notifications;
    let kind = request.kind.clone();
    match kind.as_str() {
        "webhook" => {
            if !config.webhook_enabled() {
                problems.add(
                    "kind",
                    "push to webhook devices is not configured on this server",
                );
            }
            let token = request.token.clone().unwrap_or_default();
            let chars = token.chars().count();
            if chars == 0 || chars > MAX_TOKEN_CHARS || token.chars().any(char::is_control) {
                problems.add(
                    "token",
                    format!("must be 1 to {MAX_TOKEN_CHARS} characters without control characters"),
                );
            }
            (kind, token, None)
        }
        "webpush" => {
            if !config.webpush_enabled() {
                problems.add("kind", "Web Push is not configured on this server");
            }
            let endpoint = request.endpoint.clone().unwrap_or_default();
            let allowed = endpoint.chars().count() <= MAX_TOKEN_CHARS
                && crate::push::endpoint(&endpoint).is_ok_and(|target| {
                    (target.is_tls() || config.webpush_allow_http)
                        && config.webpush_host_allowed(target.host())
                });
            if !allowed {
                problems.add(
                    "endpoint",
                    "must be an https:// URL at a push service this server allows",
                );
            }
            let decode = |text: &str| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok();
            let keys = request.keys.as_ref();
            let p256dh = keys
                .and_then(|k| decode(&k.p256dh))
                .filter(|k| k.len() == 65 && k[0] == 4);
            let auth = keys.and_then(|k| decode(&k.auth)).filter(|k| k.len() == 16);
            if p256dh.is_none() {
                problems.add(
                    "keys.p256dh",
                    "must be an uncompressed P-256 key, base64url",
                );
            }
            if auth.is_none() {
                problems.add("keys.auth", "must be 16 bytes, base64url");
            }
            (kind, endpoint, p256dh.zip(auth))
        }
        _ => {
            problems.add("kind", "must be \"webhook\" or \"webpush\"");
            (kind, String::new(), None)
        }
    }
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
    let (kind, token, keys) = check(ctx, &request, &mut problems);
    let label = request.label.unwrap_or_default();
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        problems.add(
            "label",
            format!("must be at most {MAX_LABEL_CHARS} characters without control characters"),
        );
    }
    problems.into_result()?;
    let mut conn = ctx.conn().await?;
    let keys = keys.as_ref().map(|(p, a)| (p.as_slice(), a.as_slice()));
    match push::register(&mut conn, caller.user, (&kind, &token, &label), keys).await? {
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
