//! `/api/auth/*`: sign-up, login, refresh-token rotation and logout.

use hyper::StatusCode;
use parley_persister::store::sessions::{self, NewToken, Origin, Rotation};
use parley_persister::store::users::{self, CreateUserError, NewUser, User};
use parley_shared::{SessionId, UserId};
use serde::Deserialize;

use super::error::{ApiError, Problems};
use super::request::Ctx;
use super::views::{self, AuthView, MeView, Reply, TokenView};
use crate::auth::password::MAX_PASSWORD_BYTES;
use crate::auth::refresh;
use crate::limits::Key;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RegisterRequest {
    username: String,
    password: String,
    display_name: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshRequest {
    refresh_token: String,
}

/// Whether `name` is 3 to 32 of `[a-z0-9_]`.
pub(crate) fn valid_username(name: &str) -> bool {
    (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    (3..=254).contains(&email.len())
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

/// `POST /api/auth/register`.
pub(crate) async fn register(ctx: &Ctx) -> Result<Reply, ApiError> {
    let request: RegisterRequest = ctx.json()?;
    let display_name = request
        .display_name
        .as_deref()
        .map(str::trim)
        .unwrap_or(&request.username)
        .to_owned();
    let email = request
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let mut problems = Problems::default();
    if !valid_username(&request.username) {
        problems.add("username", "must be 3 to 32 characters of a-z, 0-9 and _");
    }
    if request.password.chars().count() < 8 {
        problems.add("password", "must be at least 8 characters");
    } else if request.password.len() > MAX_PASSWORD_BYTES {
        problems.add(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        );
    }
    if !(1..=64).contains(&display_name.chars().count())
        || display_name.chars().any(char::is_control)
    {
        problems.add(
            "displayName",
            "must be 1 to 64 characters without control characters",
        );
    }
    if email.is_some_and(|e| !valid_email(e)) {
        problems.add("email", "must be an email address");
    }
    problems.into_result()?;

    let hash = ctx.state.app.hasher.hash(request.password).await?;
    let conn = ctx.conn().await?;
    let new = NewUser {
        id: UserId::generate(),
        username: &request.username,
        display_name: &display_name,
        email,
        password_hash: &hash,
    };
    let user = match users::create(&conn, &new).await {
        Ok(user) => user,
        Err(CreateUserError::UsernameTaken) => {
            return Err(ApiError::conflict("Username is taken"));
        }
        Err(CreateUserError::EmailTaken) => {
            return Err(ApiError::conflict("Email is already registered"));
        }
        Err(CreateUserError::Db(error)) => return Err(error.into()),
    };
    drop(conn);
    tracing::info!(user = %user.id, "account created");
    signed_in(ctx, &user, StatusCode::CREATED).await
}

/// `POST /api/auth/login`. Unknown user and wrong password take the same path and time.
pub(crate) async fn login(ctx: &Ctx) -> Result<Reply, ApiError> {
    let request: LoginRequest = ctx.json()?;
    if request.username.len() > 64 || request.password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::unauthorized("Invalid username or password"));
    }
    if let Some(limits) = &ctx.state.app.limits {
        ctx.limit(
            &limits.login,
            &Key::Username(request.username.to_lowercase()),
        )?;
    }
    let conn = ctx.conn().await?;
    let found = users::find_for_login(&conn, &request.username).await?;
    drop(conn);
    let (user, stored): (Option<User>, Option<String>) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let ok = ctx
        .state
        .app
        .hasher
        .verify(request.password, stored)
        .await?;
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!("login refused");
        return Err(ApiError::unauthorized("Invalid username or password"));
    };
    signed_in(ctx, &user, StatusCode::OK).await
}

/// `POST /api/auth/refresh`.
pub(crate) async fn refresh(ctx: &Ctx) -> Result<Reply, ApiError> {
    let request: RefreshRequest = ctx.json()?;
    let invalid = || ApiError::unauthorized("Invalid or expired refresh token");
    let presented = refresh::hash(&request.refresh_token).ok_or_else(invalid)?;
    let (token, hash) = refresh::generate();
    let next = NewToken {
        id: uuid::Uuid::now_v7(),
        hash: &hash,
        expires_at: refresh_expiry(ctx),
    };
    let mut conn = ctx.conn().await?;
    match sessions::rotate(&mut conn, &presented, next).await? {
        Rotation::Rotated { user, session } => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let (access_token, _) = ctx.state.app.jwt.issue(user, session, now);
            let view = TokenView {
                access_token,
                refresh_token: token,
                expires_in: ctx.state.app.jwt.ttl_secs(),
            };
            Ok(views::data(StatusCode::OK, &view))
        }
        Rotation::ReuseDetected { user, session } => {
            tracing::warn!(%user, %session, "refresh token reused; session revoked");
            ctx.state.app.bus.revoke(session);
            Err(ApiError::unauthorized(
                "Refresh token already used; the session is revoked, log in again",
            ))
        }
        Rotation::Invalid => Err(invalid()),
    }
}

/// `POST /api/auth/logout`: revokes the token's session. Answers 204 whether or not the token
/// was live, so it reveals nothing.
pub(crate) async fn logout(ctx: &Ctx) -> Result<Reply, ApiError> {
    let request: RefreshRequest = ctx.json()?;
    if let Some(presented) = refresh::hash(&request.refresh_token) {
        let conn = ctx.conn().await?;
        if let Some((user, session)) = sessions::revoke_by_token(&conn, &presented).await? {
            tracing::info!(%user, %session, "logged out");
            ctx.state.app.bus.revoke(session);
        }
    }
    Ok(Reply::no_content())
}

/// The answer to a successful sign-up or login: a new session for `user`.
async fn signed_in(ctx: &Ctx, user: &User, status: StatusCode) -> Result<Reply, ApiError> {
    let tokens = start_session(ctx, user.id).await?;
    Ok(views::data(
        status,
        &AuthView {
            user: MeView::from(user),
            tokens,
        },
    ))
}

/// Opens a session for `user`: a refresh-token family and an access token bound to it.
async fn start_session(ctx: &Ctx, user: UserId) -> Result<TokenView, ApiError> {
    let session = SessionId::generate();
    let (refresh_token, hash) = refresh::generate();
    let token = NewToken {
        id: uuid::Uuid::now_v7(),
        hash: &hash,
        expires_at: refresh_expiry(ctx),
    };
    let origin = Origin {
        user_agent: ctx.user_agent.as_deref(),
        client_ip: Some(ctx.ip),
    };
    let mut conn = ctx.conn().await?;
    sessions::create(&mut conn, user, session, token, origin).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (access_token, _) = ctx.state.app.jwt.issue(user, session, now);
    Ok(TokenView {
        access_token,
        refresh_token,
        expires_in: ctx.state.app.jwt.ttl_secs(),
    })
}

fn refresh_expiry(ctx: &Ctx) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + ctx.state.app.refresh_ttl
}

#[cfg(test)]
mod tests {
    #[test]
    fn username_and_email_rules() {
        for (name, ok) in [
            ("abc", true),
            ("a_b_9", true),
            ("ab", false),
            ("Abc", false),
            ("a-b", false),
            ("é12", false),
            (&"a".repeat(32), true),
            (&"a".repeat(33), false),
        ] {
            assert_eq!(super::valid_username(name), ok, "{name}");
        }
        for (email, ok) in [
            ("a@b.co", true),
            ("a@b", false),
            ("@b.co", false),
            ("a b@c.de", false),
            ("a@b@c.de", false),
            ("a@.de", false),
        ] {
            assert_eq!(super::valid_email(email), ok, "{email}");
        }
    }
}
