//! Two-factor sign-in over REST against PostgreSQL: enrolment confirmed by a code the test
//! computes from the shared secret (RFC 6238), login in two steps, a replayed code refused,
//! recovery codes used once, challenges that expire after five codes, codes rate-limited like
//! passwords, and turning it off; every answer checked against the OpenAPI document.

use parley_gateway::auth::totp;
use parley_testkit::TestGateway;
use parley_testkit::api::{Api, TestUser, check_schema};
use serde_json::{Value, json};

const PASSWORD: &str = "password123";

fn step_now() -> i64 {
    totp::step_at(time::OffsetDateTime::now_utc().unix_timestamp())
}

/// Turns two-factor on for `user`; returns the secret, the confirming step and the recovery codes.
async fn enrol(
    api: &Api,
    doc: &Value,
    user: &TestUser,
) -> anyhow::Result<(Vec<u8>, i64, Vec<String>)> {
    let made = api
        .post(
            "/api/users/me/mfa",
            Some(user),
            &json!({"password": PASSWORD}),
        )
        .await?;
    anyhow::ensure!(made.status == 201, "enrol: {} {}", made.status, made.body);
    check_schema(doc, "MfaEnrolment", &made.body["data"]).map_err(anyhow::Error::msg)?;
    let text = made.body["data"]["secret"].as_str().unwrap_or_default();
    let secret = totp::from_base32(text).ok_or_else(|| anyhow::anyhow!("secret {text}"))?;
    anyhow::ensure!(secret.len() == totp::SECRET_BYTES);
    let uri = made.body["data"]["otpauthUri"].as_str().unwrap_or_default();
    anyhow::ensure!(
        uri.starts_with(&format!(
            "otpauth://totp/Parley:{}?secret={text}&",
            user.username
        )),
        "{uri}"
    );
    let step = step_now();
    let confirmed = api
        .post(
            "/api/users/me/mfa/confirm",
            Some(user),
            &json!({"code": totp::code(&secret, step)}),
        )
        .await?;
    anyhow::ensure!(confirmed.status == 200, "confirm: {}", confirmed.body);
    check_schema(doc, "MfaRecoveryCodes", &confirmed.body["data"]).map_err(anyhow::Error::msg)?;
    let codes: Vec<String> = confirmed.body["data"]["recoveryCodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    Ok((secret, step, codes))
}

/// The password step: the challenge token (and no tokens).
async fn challenge(api: &Api, doc: &Value, user: &TestUser) -> anyhow::Result<String> {
    let login = api
        .post(
            "/api/auth/login",
            None,
            &json!({"username": user.username, "password": PASSWORD}),
        )
        .await?;
    anyhow::ensure!(
        login.status == 200,
        "login: {} {}",
        login.status,
        login.body
    );
    check_schema(doc, "LoginResponse", &login.body["data"]).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(login.body["data"]["mfaRequired"] == true, "{}", login.body);
    anyhow::ensure!(login.body["data"].get("accessToken").is_none());
    Ok(login.body["data"]["challengeToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

async fn finish(
    api: &Api,
    token: &str,
    code: &str,
) -> anyhow::Result<parley_testkit::http::JsonResponse> {
    api.post(
        "/api/auth/login/mfa",
        None,
        &json!({"challengeToken": token, "code": code}),
    )
    .await
}

#[tokio::test]
async fn enrol_sign_in_with_a_code_or_a_recovery_code_and_turn_off() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc: Value = gw.get("/api/openapi.json").await?.body;
    let ann = api.register("mfa_ann").await?;

    let off = api.get("/api/users/me/mfa", Some(&ann)).await?;
    check_schema(&doc, "MfaStatus", &off.body["data"]).map_err(anyhow::Error::msg)?;
    assert_eq!(off.body["data"]["enabled"], false);
    // Enrolment needs the password, and a first code that is the current one.
    let wrong = api
        .post(
            "/api/users/me/mfa",
            Some(&ann),
            &json!({"password": "not it"}),
        )
        .await?;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body["error"]["details"]["password"].is_array());
    let started = api
        .post(
            "/api/users/me/mfa",
            Some(&ann),
            &json!({"password": PASSWORD}),
        )
        .await?;
    assert_eq!(started.status, 201);
    let pending = api.get("/api/users/me/mfa", Some(&ann)).await?;
    assert_eq!(pending.body["data"]["pending"], true);
    let bad = api
        .post(
            "/api/users/me/mfa/confirm",
            Some(&ann),
            &json!({"code": "000000"}),
        )
        .await?;
    assert_eq!(bad.status, 400, "{}", bad.body);
    // Until confirmed, login needs no code.
    let plain = api
        .post(
            "/api/auth/login",
            None,
            &json!({"username": "mfa_ann", "password": PASSWORD}),
        )
        .await?;
    assert!(
        plain.body["data"]["accessToken"].is_string(),
        "{}",
        plain.body
    );

    let (secret, step, codes) = enrol(&api, &doc, &ann).await?;
    assert_eq!(codes.len(), 10);
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10);
    let on = api.get("/api/users/me/mfa", Some(&ann)).await?;
    assert_eq!(
        (
            on.body["data"]["enabled"].clone(),
            on.body["data"]["recoveryCodesLeft"].clone()
        ),
        (json!(true), json!(10))
    );
    let again = api
        .post(
            "/api/users/me/mfa",
            Some(&ann),
            &json!({"password": PASSWORD}),
        )
        .await?;
    assert_eq!(again.status, 409);

    // Password, then code: the confirming code again is a replay; the next step's is fine.
    let token = challenge(&api, &doc, &ann).await?;
    let replay = finish(&api, &token, &totp::code(&secret, step)).await?;
    assert_eq!(replay.status, 400, "a used code: {}", replay.body);
    let signed = finish(&api, &token, &totp::code(&secret, step + 1)).await?;
    assert_eq!(signed.status, 200, "{}", signed.body);
    check_schema(&doc, "AuthResponse", &signed.body["data"]).map_err(anyhow::Error::msg)?;
    let access = signed.body["data"]["accessToken"]
        .as_str()
        .unwrap_or_default();
    let me = api.get_with_token("/api/users/me", access).await?;
    assert_eq!(me.status, 200);
    assert_eq!(
        finish(&api, &token, &totp::code(&secret, step + 1))
            .await?
            .status,
        401,
        "a used challenge"
    );

    // A recovery code works once (any case, with or without its dash).
    let token = challenge(&api, &doc, &ann).await?;
    let recovery = codes[0].to_uppercase().replace('-', " ");
    assert_eq!(finish(&api, &token, &recovery).await?.status, 200);
    let token = challenge(&api, &doc, &ann).await?;
    assert_eq!(finish(&api, &token, &codes[0]).await?.status, 400);
    let left = api.get("/api/users/me/mfa", Some(&ann)).await?;
    assert_eq!(left.body["data"]["recoveryCodesLeft"], 9);

    // New recovery codes replace the old ones.
    let fresh = api
        .post(
            "/api/users/me/mfa/recovery-codes",
            Some(&ann),
            &json!({"code": codes[1]}),
        )
        .await?;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    let token = challenge(&api, &doc, &ann).await?;
    assert_eq!(
        finish(&api, &token, &codes[2]).await?.status,
        400,
        "an old code"
    );
    let new_code = fresh.body["data"]["recoveryCodes"][0]
        .as_str()
        .unwrap_or_default();
    assert_eq!(finish(&api, &token, new_code).await?.status, 200);

    // Off: the password and a code; then login is one step again.
    let no_code = api
        .post(
            "/api/users/me/mfa/disable",
            Some(&ann),
            &json!({"password": PASSWORD, "code": "123456"}),
        )
        .await?;
    assert_eq!(no_code.status, 400);
    let disabled = api
        .post(
            "/api/users/me/mfa/disable",
            Some(&ann),
            &json!({"password": PASSWORD, "code": fresh.body["data"]["recoveryCodes"][1]}),
        )
        .await?;
    assert_eq!(disabled.status, 204, "{}", disabled.body);
    let plain = api
        .post(
            "/api/auth/login",
            None,
            &json!({"username": "mfa_ann", "password": PASSWORD}),
        )
        .await?;
    assert!(
        plain.body["data"]["accessToken"].is_string(),
        "{}",
        plain.body
    );
    Ok(())
}

#[tokio::test]
async fn a_challenge_takes_five_codes_and_wrong_codes_are_limited_like_passwords()
-> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.limits.login_failures = "5/15m".parse().expect("rate");
    })
    .await?;
    let api = gw.api();
    let doc: Value = gw.get("/api/openapi.json").await?.body;
    let bo = api.register("mfa_bo").await?;
    let (secret, step, _) = enrol(&api, &doc, &bo).await?;
    let token = challenge(&api, &doc, &bo).await?;
    for n in 0..5 {
        let wrong = finish(&api, &token, &format!("{:06}", n)).await?;
        assert_eq!(wrong.status, 400, "attempt {n}: {}", wrong.body);
    }
    // Spent: even the right code is refused, and the challenge is gone.
    let spent = finish(&api, &token, &totp::code(&secret, step + 1)).await?;
    assert_eq!(spent.status, 401, "{}", spent.body);
    // Five failures: this client is refused for the account, password first.
    let limited = api
        .post(
            "/api/auth/login",
            None,
            &json!({"username": "mfa_bo", "password": PASSWORD}),
        )
        .await?;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.body["error"]["code"], "RATE_LIMITED");
    // Junk challenge tokens say nothing more than "invalid".
    for junk in ["", "mfa_nope", "rt_x", &"m".repeat(300)] {
        assert_eq!(finish(&api, junk, "123456").await?.status, 401, "{junk}");
    }
    Ok(())
}
