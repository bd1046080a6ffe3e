//! `/api/auth/*`: sign-up, login (its two-factor step is `api::mfa`), refresh-token rotation and
//! logout.

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
use crate::limits::{ClientNet, Key};
use parley_shared::{ErrorBody, ErrorCode};

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

/// The rule for a new password: 8 characters to `MAX_PASSWORD_BYTES` bytes.
pub(crate) fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 8 {
        return Err("must be at least 8 characters".to_owned());
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
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
    let display_name = parley_shared::text::name(
        request.display_name.as_deref().unwrap_or(&request.username),
        64,
    );
    let email = request
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let mut problems = Problems::default();
    if !valid_username(&request.username) {
        problems.add("username", "must be 3 to 32 characters of a-z, 0-9 and _");
    } else if request.username == parley_shared::mentions::EVERYONE {
        // `@everyone` mentions a whole group; nobody may be called that.
        problems.add("username", "is reserved");
    }
    if let Err(problem) = check_new_password(&request.password) {
        problems.add("password", problem);
    }
    let display_name = display_name.unwrap_or_else(|error| {
        problems.add("displayName", error.to_string());
        String::new()
    });
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
/// Attempts are limited per client address (before this handler); failures per account and
/// client, so a guesser elsewhere cannot lock the owner out, with a per-account backstop that
/// only ever stops clients that have failed themselves.
pub(crate) async fn login(ctx: &Ctx) -> Result<Reply, ApiError> {
    let request: LoginRequest = ctx.json()?;
    if request.username.len() > 64 || request.password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::unauthorized("Invalid username or password"));
    }
    let guard = LoginGuard::new(ctx, request.username.to_lowercase());
    guard.admit().await?;
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
        guard.failed().await;
        tracing::info!("login refused");
        return Err(ApiError::unauthorized("Invalid username or password"));
    };
    guard.succeeded().await;
    let conn = ctx.conn().await?;
    let second_factor = parley_persister::store::mfa::enabled(&conn, user.id).await?;
    drop(conn);
    if second_factor {
        return super::mfa::challenge(ctx, user.id).await;
    }
    signed_in(ctx, &user, StatusCode::OK).await
}

/// The failed-login limits of one attempt: `account` from the request's client address.
pub(crate) struct LoginGuard<'a> {
    ctx: &'a Ctx,
    client: Key,
    account: Key,
}

impl<'a> LoginGuard<'a> {
    pub(crate) fn new(ctx: &'a Ctx, account: String) -> Self {
        Self {
            ctx,
            client: Key::Login(account.clone(), ClientNet::of(ctx.ip)),
            account: Key::Username(account),
        }
    }

    /// Refuses a client that failed too often for this account, and, once the account's backstop
    /// is spent, any client that has failed for it at all. Counts nothing.
    pub(crate) async fn admit(&self) -> Result<(), ApiError> {
        let Some(limits) = &self.ctx.state.app.limits else {
            return Ok(());
        };
        let mine = limits.login_failures.peek(&self.client).await;
        let refuse = |decision: parley_shared::rate::Decision| {
            ApiError(
                ErrorBody::new(
                    ErrorCode::RateLimited,
                    "Too many failed attempts; try again later",
                )
                .with_retry_after(decision.retry_after_secs()),
            )
        };
        if !mine.allowed {
            return Err(refuse(mine));
        }
        // A clean client's next attempt would leave all but one of its allowance.
        let has_failed = mine.remaining + 1 < mine.limit;
        let everyone = limits.login_account_failures.peek(&self.account).await;
        if has_failed && !everyone.allowed {
            return Err(refuse(everyone));
        }
        Ok(())
    }

    /// Counts a failure against this client and the account.
    pub(crate) async fn failed(&self) {
        if let Some(limits) = &self.ctx.state.app.limits {
            limits.login_failures.check(&self.client).await;
            limits.login_account_failures.check(&self.account).await;
        }
    }

    /// The right password: this client's failures for the account are forgiven.
    pub(crate) async fn succeeded(&self) {
        if let Some(limits) = &self.ctx.state.app.limits {
            limits.login_failures.reset(&self.client).await;
        }
    }
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
    let grace = ctx.state.app.refresh_grace;
    match sessions::rotate(&mut conn, &presented, next, grace).await? {
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
            ctx.state.app.bus.revoke(user, session);
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
            ctx.state.app.bus.revoke(user, session);
        }
    }
    Ok(Reply::no_content())
}

/// The answer to a successful sign-up or login: a new session for `user`.
pub(super) async fn signed_in(
    ctx: &Ctx,
    user: &User,
    status: StatusCode,
) -> Result<Reply, ApiError> {
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
    if !sessions::create(&mut conn, user, session, token, origin).await? {
        return Err(deactivated());
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (access_token, _) = ctx.state.app.jwt.issue(user, session, now);
    Ok(TokenView {
        access_token,
        refresh_token,
        expires_in: ctx.state.app.jwt.ttl_secs(),
    })
}

/// The answer to the right password for a deactivated account (told only to who knows it).
pub(super) fn deactivated() -> ApiError {
    ApiError::forbidden("This account is deactivated; ask the operator")
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
