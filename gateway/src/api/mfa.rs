//! Two-factor sign-in (TOTP, RFC 6238): `/api/users/me/mfa*` to enrol (the password, then a secret
//! and an `otpauth://` URI, confirmed by a first code, which returns ten recovery codes), see the
//! state, get new recovery codes and turn it off (password and a code); `POST /api/auth/login/mfa`
//! finishes a login the password started (`auth::login` answers a challenge token instead of
//! tokens when two-factor is on). A code is accepted once; wrong codes and passwords count as
//! failed logins; a challenge lives five minutes and takes five attempts.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::StatusCode;
use parley_persister::store::mfa::{self, Mfa};
use parley_persister::store::users;
use parley_shared::UserId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::auth::LoginGuard;
use super::error::ApiError;
use super::request::Ctx;
use super::views::{self, Reply};
use crate::auth::password::MAX_PASSWORD_BYTES;
use crate::auth::{random_bytes, totp};

/// The issuer authenticator apps show.
const ISSUER: &str = "Parley";
/// How long the step between the password and the code may take.
const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// Codes tried per challenge.
const CHALLENGE_ATTEMPTS: i32 = 5;
const CHALLENGE_PREFIX: &str = "mfa_";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    code: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisableRequest {
    password: String,
    code: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LoginCodeRequest {
    challenge_token: String,
    code: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusView {
    enabled: bool,
    pending: bool,
    recovery_codes_left: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EnrolView {
    secret: String,
    otpauth_uri: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RecoveryCodesView {
    recovery_codes: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ChallengeView {
    mfa_required: bool,
    challenge_token: String,
    expires_in: u64,
}

/// `GET /api/users/me/mfa`.
pub(crate) async fn status(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let conn = ctx.conn().await?;
    let found = mfa::get(&conn, me).await?;
    let left = match &found {
        Some(m) if m.enabled => mfa::recovery_codes_left(&conn, me).await?,
        _ => 0,
    };
    let view = StatusView {
        enabled: found.as_ref().is_some_and(|m| m.enabled),
        pending: found.as_ref().is_some_and(|m| !m.enabled),
        recovery_codes_left: left,
    };
    Ok(views::data(StatusCode::OK, &view))
}

/// `POST /api/users/me/mfa {password}`: a new secret, pending until confirmed (again: a new one).
pub(crate) async fn begin(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let request: PasswordRequest = ctx.json()?;
    check_password(ctx, me, request.password).await?;
    let mut secret = [0u8; totp::SECRET_BYTES];
    random_bytes(&mut secret);
    let conn = ctx.conn().await?;
    if !mfa::begin(&conn, me, &secret).await? {
        return Err(ApiError::conflict("Two-factor sign-in is already on"));
    }
    let user = users::get(&conn, me)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    tracing::info!(user = %me, "two-factor enrolment started");
    let view = EnrolView {
        secret: totp::base32(&secret),
        otpauth_uri: totp::otpauth_uri(ISSUER, &user.username, &secret),
    };
    Ok(views::data(StatusCode::CREATED, &view))
}

/// `POST /api/users/me/mfa/confirm {code}`: the first code turns it on; the recovery codes are
/// shown this once.
pub(crate) async fn confirm(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let request: CodeRequest = ctx.json()?;
    let guard = LoginGuard::new(ctx, me.to_string());
    guard.admit().await?;
    let mut conn = ctx.conn().await?;
    let pending = mfa::get(&conn, me)
        .await?
        .filter(|m| !m.enabled)
        .ok_or_else(|| ApiError::conflict("No two-factor enrolment is waiting for a code"))?;
    let step = totp::verify(
        &pending.secret,
        &request.code,
        now_step(),
        pending.last_step,
    );
    let Some(step) = step else {
        guard.failed().await;
        return Err(ApiError::field("code", "is not the current code"));
    };
    let (codes, hashes) = recovery_codes();
    let audit = ctx.audit("mfa.enabled").user(me);
    if !mfa::confirm(&mut conn, me, step, &hashes, &audit).await? {
        return Err(ApiError::field("code", "was already used"));
    }
    guard.succeeded().await;
    tracing::info!(user = %me, "two-factor sign-in turned on");
    Ok(views::data(
        StatusCode::OK,
        &RecoveryCodesView {
            recovery_codes: codes,
        },
    ))
}

/// `POST /api/users/me/mfa/recovery-codes {code}`: ten new recovery codes; the old ones stop
/// working.
pub(crate) async fn regenerate(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let request: CodeRequest = ctx.json()?;
    let mut conn = ctx.conn().await?;
    let current = enabled(&conn, me).await?;
    check_code(ctx, &conn, me, &current, &request.code, me.to_string()).await?;
    let (codes, hashes) = recovery_codes();
    let audit = ctx.audit("mfa.recovery_codes_replaced").user(me);
    mfa::replace_recovery_codes(&mut conn, me, &hashes, &audit).await?;
    tracing::info!(user = %me, "two-factor recovery codes replaced");
    Ok(views::data(
        StatusCode::OK,
        &RecoveryCodesView {
            recovery_codes: codes,
        },
    ))
}

/// `POST /api/users/me/mfa/disable {password, code}`.
pub(crate) async fn disable(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let request: DisableRequest = ctx.json()?;
    check_password(ctx, me, request.password).await?;
    let mut conn = ctx.conn().await?;
    let current = enabled(&conn, me).await?;
    check_code(ctx, &conn, me, &current, &request.code, me.to_string()).await?;
    mfa::disable(&mut conn, me, &ctx.audit("mfa.disabled").user(me)).await?;
    tracing::info!(user = %me, "two-factor sign-in turned off");
    Ok(Reply::no_content())
}

/// The answer to a right password when two-factor is on: a challenge for the code, no tokens.
pub(crate) async fn challenge(ctx: &Ctx, user: UserId) -> Result<Reply, ApiError> {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes);
    let token = format!("{CHALLENGE_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let conn = ctx.conn().await?;
    mfa::create_challenge(&conn, user, &hash(&token), CHALLENGE_TTL).await?;
    let view = ChallengeView {
        mfa_required: true,
        challenge_token: token,
        expires_in: CHALLENGE_TTL.as_secs(),
    };
    Ok(views::data(StatusCode::OK, &view))
}

/// `POST /api/auth/login/mfa {challengeToken, code}`: the code (or a recovery code) finishes the
/// login: tokens as `POST /api/auth/login` gives them.
pub(crate) async fn login_code(ctx: &Ctx) -> Result<Reply, ApiError> {
    let request: LoginCodeRequest = ctx.json()?;
    let refused = || ApiError::unauthorized("Invalid or expired sign-in challenge");
    if !request.challenge_token.starts_with(CHALLENGE_PREFIX) || request.challenge_token.len() > 128
    {
        return Err(refused());
    }
    let token_hash = hash(&request.challenge_token);
    let conn = ctx.conn().await?;
    let user = mfa::attempt_challenge(&conn, &token_hash, CHALLENGE_ATTEMPTS)
        .await?
        .ok_or_else(refused)?;
    let account = users::get(&conn, user).await?.ok_or_else(refused)?;
    let current = enabled(&conn, user).await?;
    check_code(
        ctx,
        &conn,
        user,
        &current,
        &request.code,
        account.username.to_lowercase(),
    )
    .await?;
    mfa::end_challenge(&conn, &token_hash).await?;
    drop(conn);
    tracing::info!(%user, "two-factor login");
    super::auth::signed_in(ctx, &account, StatusCode::OK).await
}

/// `user`'s enabled two-factor state (a conflict when it is off).
pub(crate) async fn enabled(
    conn: &parley_persister::store::Conn,
    user: UserId,
) -> Result<Mfa, ApiError> {
    mfa::get(conn, user)
        .await?
        .filter(|m| m.enabled)
        .ok_or_else(|| ApiError::conflict("Two-factor sign-in is off"))
}

/// Accepts a current code not used before, or an unused recovery code (used up by this), as
/// `account`'s login attempt: a wrong one counts as a failed login.
pub(crate) async fn check_code(
    ctx: &Ctx,
    conn: &parley_persister::store::Conn,
    user: UserId,
    current: &Mfa,
    presented: &str,
    account: String,
) -> Result<(), ApiError> {
    let guard = LoginGuard::new(ctx, account);
    guard.admit().await?;
    let accepted = if presented.len() > 64 {
        false
    } else if let Some(step) =
        totp::verify(&current.secret, presented, now_step(), current.last_step)
    {
        mfa::use_step(conn, user, step).await?
    } else if let Some(code) = totp::normalize_recovery(presented) {
        mfa::use_recovery_code(conn, user, &hash(&code)).await?
    } else {
        false
    };
    if !accepted {
        guard.failed().await;
        tracing::info!(%user, "two-factor code refused");
        return Err(ApiError::field("code", "is not a valid code"));
    }
    guard.succeeded().await;
    Ok(())
}

/// The caller's password, checked like a login (failures count).
pub(crate) async fn check_password(
    ctx: &Ctx,
    user: UserId,
    password: String,
) -> Result<(), ApiError> {
    let guard = LoginGuard::new(ctx, user.to_string());
    guard.admit().await?;
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::field("password", "is incorrect"));
    }
    let conn = ctx.conn().await?;
    let stored = users::password_hash(&conn, user).await?;
    drop(conn);
    if !ctx.state.app.hasher.verify(password, stored).await? {
        guard.failed().await;
        return Err(ApiError::field("password", "is incorrect"));
    }
    guard.succeeded().await;
    Ok(())
}

/// Ten new recovery codes and their hashes.
fn recovery_codes() -> (Vec<String>, Vec<Vec<u8>>) {
    (0..totp::RECOVERY_CODES)
        .map(|_| {
            let mut random = [0u8; 8];
            random_bytes(&mut random);
            let code = totp::recovery_code(random);
            let stored = hash(&code.replace('-', ""));
            (code, stored)
        })
        .unzip()
}

fn hash(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

fn now_step() -> i64 {
    totp::step_at(time::OffsetDateTime::now_utc().unix_timestamp())
}
