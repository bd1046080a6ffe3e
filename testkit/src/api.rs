//! REST helpers: signed-up users with their tokens, authenticated requests, a history fixture, and
//! a check of real responses against the served OpenAPI document's schemas.

use std::net::SocketAddr;

use anyhow::Context;
use hyper::Method;
use serde_json::{Value, json};

use crate::http::{self, JsonResponse};

/// A user signed up through the API.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestUser {
    /// `Authorization: Bearer ...`.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.access_token)
    }
}

/// A client for one gateway.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    pub addr: SocketAddr,
}

impl Api {
    /// Signs up `username` with password `password123`.
    pub async fn register(&self, username: &str) -> anyhow::Result<TestUser> {
        let response = self
            .post(
                "/api/auth/register",
                None,
                &json!({"username": username, "password": "password123"}),
            )
            .await?;
        anyhow::ensure!(
            response.status == 201,
            "register {username}: {} {}",
            response.status,
            response.body
        );
        let data = &response.body["data"];
        Ok(TestUser {
            id: data["user"]["id"].as_str().context("user id")?.to_owned(),
            username: username.to_owned(),
            access_token: data["accessToken"]
                .as_str()
                .context("access token")?
                .to_owned(),
            refresh_token: data["refreshToken"]
                .as_str()
                .context("refresh token")?
                .to_owned(),
        })
    }

    /// `GET path` as `user` (or anonymously).
    pub async fn get(&self, path: &str, user: Option<&TestUser>) -> anyhow::Result<JsonResponse> {
        self.send(Method::GET, path, user, None).await
    }

    /// `GET path` with a raw access token (another session's, a revoked one...).
    pub async fn get_with_token(&self, path: &str, token: &str) -> anyhow::Result<JsonResponse> {
        let bearer = format!("Bearer {token}");
        http::request(
            self.addr,
            Method::GET,
            path,
            &[("authorization", &bearer)],
            None,
        )
        .await
    }

    /// `POST path` with a JSON body.
    pub async fn post(
        &self,
        path: &str,
        user: Option<&TestUser>,
        body: &Value,
    ) -> anyhow::Result<JsonResponse> {
        self.send(Method::POST, path, user, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(
        &self,
        path: &str,
        user: Option<&TestUser>,
        body: &Value,
    ) -> anyhow::Result<JsonResponse> {
        self.send(Method::PUT, path, user, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(
        &self,
        path: &str,
        user: Option<&TestUser>,
    ) -> anyhow::Result<JsonResponse> {
        self.send(Method::DELETE, path, user, None).await
    }

    /// Any request.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        user: Option<&TestUser>,
        body: Option<&Value>,
    ) -> anyhow::Result<JsonResponse> {
        let bearer = user.map(TestUser::bearer);
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| vec![("authorization", b)])
            .unwrap_or_default();
        http::request(self.addr, method, path, &headers, body).await
    }

    /// `POST /api/uploads?name=…` with `bytes` as the body.
    pub async fn upload(
        &self,
        user: &TestUser,
        name: &str,
        bytes: impl Into<bytes::Bytes>,
    ) -> anyhow::Result<JsonResponse> {
        let bearer = user.bearer();
        let path = format!("/api/uploads?name={}", percent(name));
        http::request_bytes(
            self.addr,
            Method::POST,
            &path,
            &[("authorization", &bearer)],
            bytes.into(),
        )
        .await
    }

    /// `GET path` as `user` with more headers (`Range`...).
    pub async fn get_with(
        &self,
        path: &str,
        user: &TestUser,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<JsonResponse> {
        let bearer = user.bearer();
        let mut all = vec![("authorization", bearer.as_str())];
        all.extend_from_slice(headers);
        http::request(self.addr, Method::GET, path, &all, None).await
    }

    /// Gives `user` a daily do-not-disturb window in UTC from 5 minutes ago to 10 from now.
    pub async fn quiet_now(&self, user: &TestUser) -> anyhow::Result<()> {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let minute = (since_epoch.as_secs() % 86_400 / 60) as i64;
        let hhmm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
        let schedule = json!({"dndSchedule": {
            "start": hhmm((minute + 1440 - 5) % 1440),
            "end": hhmm((minute + 10) % 1440),
            "timeZone": "UTC",
        }});
        let set = self
            .put("/api/users/me/notifications", Some(user), &schedule)
            .await?;
        anyhow::ensure!(set.status == 200, "schedule: {} {}", set.status, set.body);
        Ok(())
    }

    /// Registers a webhook push device for `user` (label "Ben's phone"); returns its id.
    pub async fn register_push(&self, user: &TestUser, token: &str) -> anyhow::Result<String> {
        let body = json!({"kind": "webhook", "token": token, "label": "Ben's phone"});
        let made = self
            .post("/api/users/me/push-subscriptions", Some(user), &body)
            .await?;
        anyhow::ensure!(
            made.status == 201,
            "register: {} {}",
            made.status,
            made.body
        );
        Ok(made.body["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// `user`'s push devices (`GET /api/users/me/push-subscriptions`).
    pub async fn push_devices(&self, user: &TestUser) -> anyhow::Result<Vec<Value>> {
        let listed = self
            .get("/api/users/me/push-subscriptions", Some(user))
            .await?;
        anyhow::ensure!(
            listed.status == 200,
            "devices: {} {}",
            listed.status,
            listed.body
        );
        Ok(listed.body["data"].as_array().cloned().unwrap_or_default())
    }

    /// Sends `text` over REST as `user` into `conversation` (client id `<username>-<n>`), answered
    /// after commit; returns the stored message's id.
    pub async fn say(
        &self,
        user: &TestUser,
        conversation: &str,
        n: usize,
        text: &str,
    ) -> anyhow::Result<String> {
        let body = json!({"clientMessageId": format!("{}-{n}", user.username), "content": text});
        let path = format!("/api/conversations/{conversation}/messages");
        let sent = self.post(&path, Some(user), &body).await?;
        anyhow::ensure!(
            sent.status.is_success(),
            "send: {} {}",
            sent.status,
            sent.body
        );
        Ok(sent.body["data"]["id"]
            .as_str()
            .context("message id")?
            .to_owned())
    }

    /// Opens (or finds) the DM between `a` and `b`; returns its id.
    pub async fn dm(&self, a: &TestUser, b: &TestUser) -> anyhow::Result<String> {
        self.create_conversation(a, &json!({"type": "dm", "userId": b.id}))
            .await
    }

    /// Creates a group owned by `owner` with `members`; returns its id.
    pub async fn group(
        &self,
        owner: &TestUser,
        name: &str,
        members: &[&TestUser],
    ) -> anyhow::Result<String> {
        let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
        let body = json!({"type": "group", "name": name, "memberIds": ids});
        self.create_conversation(owner, &body).await
    }

    /// `POST /api/conversations` as `user`; the new (or existing DM's) id.
    async fn create_conversation(&self, user: &TestUser, body: &Value) -> anyhow::Result<String> {
        let response = self.post("/api/conversations", Some(user), body).await?;
        anyhow::ensure!(
            response.status.is_success(),
            "create conversation: {} {}",
            response.status,
            response.body
        );
        Ok(response.body["data"]["id"]
            .as_str()
            .context("conversation id")?
            .to_owned())
    }
}

/// `text` percent-encoded for a query string.
pub fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Strips a wire prefix (`usr_`, `conv_`) to the UUID text PostgreSQL reads.
pub fn uuid_of(prefixed: &str) -> String {
    prefixed
        .split_once('_')
        .map_or(prefixed, |(_, hex)| hex)
        .to_owned()
}

/// Test fixture until the messaging core exists: appends `count` messages from `sender` to
/// `conversation` the way the persister will (seq allocated under the conversation row lock).
pub async fn seed_messages(
    client: &tokio_postgres::Client,
    conversation: &str,
    sender: &str,
    count: i64,
) -> anyhow::Result<()> {
    client
        .execute(
            "WITH conv AS (
                 UPDATE conversations SET last_seq = last_seq + $3, last_activity_at = now()
                 WHERE id = $1::text::uuid RETURNING last_seq - $3 AS base
             )
             INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, content)
             SELECT gen_random_uuid(), $1::text::uuid, conv.base + n, $2::text::uuid,
                    'seed-' || (conv.base + n), 'message ' || (conv.base + n)
             FROM conv, generate_series(1, $3) AS n",
            &[&uuid_of(conversation), &uuid_of(sender), &count],
        )
        .await?;
    Ok(())
}

/// Checks `value` against the component schema `name` of the OpenAPI `document` (types,
/// required properties, no undocumented properties, enums, nullability, arrays, `$ref`/`allOf`/
/// `oneOf`).
pub fn check_schema(document: &Value, name: &str, value: &Value) -> Result<(), String> {
    let schema = &document["components"]["schemas"][name];
    if schema.is_null() {
        return Err(format!("no schema {name}"));
    }
    check(document, schema, value, name)
}

fn check(document: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return check(
            document,
            &document["components"]["schemas"][name],
            value,
            at,
        );
    }
    if value.is_null() {
        return if schema["nullable"] == true {
            Ok(())
        } else {
            Err(format!("{at}: null is not allowed"))
        };
    }
    if let Some(all) = schema["allOf"].as_array() {
        return all.iter().try_for_each(|s| check(document, s, value, at));
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options
            .iter()
            .filter(|s| check(document, s, value, at).is_ok())
            .count();
        return if fits == 1 {
            Ok(())
        } else {
            Err(format!("{at}: fits {fits} of the oneOf schemas, not one"))
        };
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {options:?}"));
    }
    let ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !ok {
        return Err(format!("{at}: {value} is not of type {}", schema["type"]));
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object())
    {
        for required in schema["required"].as_array().into_iter().flatten() {
            let key = required.as_str().unwrap_or_default();
            if !object.contains_key(key) {
                return Err(format!("{at}: missing {key}"));
            }
        }
        for (key, item) in object {
            let sub = properties
                .get(key)
                .ok_or_else(|| format!("{at}: undocumented property {key}"))?;
            check(document, sub, item, &format!("{at}.{key}"))?;
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            check(document, items, item, &format!("{at}[{index}]"))?;
        }
    }
    Ok(())
}
