//! What a handler sees of a request: the caller (from a verified token only), client IP, path and
//! query parameters, and the body, parsed strictly (size-capped before parsing, unknown fields
//! refused, every problem reported under the field's name).

use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;

use bytes::Bytes;
use parley_shared::rate::Decision;
use parley_shared::{ErrorBody, ErrorCode, UserId};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::limits::{Key, RateLimit};
use crate::shard::ShardState;

/// The authenticated caller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller {
    pub(crate) user: UserId,
    /// The login session of the token.
    pub(crate) session: parley_shared::SessionId,
}

/// One request, as handlers see it.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) state: Rc<ShardState>,
    pub(crate) caller: Option<Caller>,
    pub(crate) ip: IpAddr,
    pub(crate) user_agent: Option<String>,
    pub(crate) params: Vec<(&'static str, String)>,
    pub(crate) query: HashMap<String, String>,
    pub(crate) body: Bytes,
    /// The tightest rate-limit decision taken for this request, reported in the headers.
    pub(crate) rate: Cell<Option<Decision>>,
    /// An upload's body, left unread for its handler to stream (`POST /api/uploads` only).
    pub(crate) upload: std::cell::RefCell<Option<hyper::body::Incoming>>,
    /// `Content-Length`, `Range` and `If-None-Match`, for uploads and downloads.
    pub(crate) content_length: Option<u64>,
    pub(crate) range: Option<String>,
    pub(crate) if_none_match: Option<String>,
}

impl Ctx {
    /// The authenticated caller; routes that require auth never reach a handler without one.
    pub(crate) fn caller(&self) -> Result<Caller, ApiError> {
        self.caller
            .ok_or_else(|| ApiError::unauthorized("Missing or invalid access token"))
    }

    /// A pooled database connection of this shard.
    pub(crate) async fn conn(&self) -> Result<parley_persister::store::Conn, ApiError> {
        Ok(self
            .state
            .pool
            .get()
            .await
            .map_err(parley_persister::DbError::from)?)
    }

    /// An audit entry for `action` by the caller (if any), from this request's client address and
    /// user agent.
    pub(crate) fn audit(&self, action: &'static str) -> parley_persister::store::audit::Entry {
        parley_persister::store::audit::Entry {
            client_ip: Some(self.ip),
            user_agent: self.user_agent.clone(),
            ..parley_persister::store::audit::Entry::new(self.caller.map(|c| c.user), action)
        }
    }

    /// A path parameter by name (present by construction of the route).
    pub(crate) fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(key, _)| *key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// Parses the path parameter `name` as an id; a malformed id names nothing, so: not found.
    pub(crate) fn id_param<T: std::str::FromStr>(
        &self,
        name: &str,
        what: &str,
    ) -> Result<T, ApiError> {
        self.param(name)
            .parse()
            .map_err(|_| ApiError::not_found(what))
    }

    /// A query parameter parsed as an integer within `range`, or `default` when absent.
    pub(crate) fn int_query(
        &self,
        name: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ApiError> {
        match self.query.get(name) {
            None => Ok(default),
            Some(text) => match text.parse::<i64>() {
                Ok(value) if range.contains(&value) => Ok(value),
                _ => Err(ApiError::field(
                    name,
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )),
            },
        }
    }

    /// Parses the JSON body into `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.body)
    }

    /// Counts this request against `limiter` for `key`; refuses with RATE_LIMITED when over.
    pub(crate) async fn limit(&self, limiter: &dyn RateLimit, key: &Key) -> Result<(), ApiError> {
        let decision = limiter.check(key).await;
        let tighter = match self.rate.get() {
            Some(previous) if previous.remaining <= decision.remaining && decision.allowed => {
                previous
            }
            _ => decision,
        };
        self.rate.set(Some(tighter));
        if decision.allowed {
            return Ok(());
        }
        let seconds = decision.retry_after_secs();
        Err(ApiError(
            ErrorBody::new(ErrorCode::RateLimited, "Too many requests").with_retry_after(seconds),
        ))
    }
}

/// Strict JSON parsing with field-level errors.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde would also read a struct from an array, positionally; requests are objects only.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    // No text PostgreSQL cannot store gets past here, whatever field it is in.
    if let Some(field) = nul_field(body) {
        return Err(ApiError::field(&field, parley_shared::text::NUL_PROBLEM));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        let text = message.split(" at line ").next().unwrap_or(&message);
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::field("body", "is not valid JSON");
        }
        if let Some(field) = quoted(text, "missing field `") {
            return ApiError::field(&join(&path, field), "is required");
        }
        if let Some(field) = quoted(text, "unknown field `") {
            // The path already ends at the unknown field.
            let name = if path == "." { field.to_owned() } else { path };
            return ApiError::field(&name, "is not allowed");
        }
        ApiError::field(if path == "." { "body" } else { &path }, text.to_owned())
    })?;
    deserializer
        .end()
        .map_err(|_| ApiError::field("body", "has trailing characters after the JSON value"))?;
    Ok(value)
}

/// The first field of a JSON document whose key or string value holds a NUL (written `\u0000`,
/// the only way JSON text can carry one). The scan is cheap; the walk runs only after a hit.
fn nul_field(body: &[u8]) -> Option<String> {
    let escaped_nul = body.windows(6).enumerate().any(|(at, w)| {
        w == b"\\u0000" && body[..at].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    });
    if !escaped_nul {
        return None;
    }
    fn walk(value: &serde_json::Value, path: &str) -> Option<String> {
        let here = || {
            if path.is_empty() {
                "body".to_owned()
            } else {
                path.to_owned()
            }
        };
        match value {
            serde_json::Value::String(text) => text.contains('\0').then(here),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(n, item)| walk(item, &format!("{}[{n}]", here()))),
            serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
                let name = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if key.contains('\0') {
                    return Some(here());
                }
                walk(item, &name)
            }),
            _ => None,
        }
    }
    // Not valid JSON: the parser reports that instead.
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    walk(&value, "")
}

/// The first query parameter whose name or value holds a NUL (`%00`).
pub(crate) fn nul_param(query: &HashMap<String, String>) -> Option<&str> {
    query
        .iter()
        .find(|(key, value)| key.contains('\0') || value.contains('\0'))
        .map(|(key, _)| key.as_str())
}

fn quoted<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.strip_prefix(prefix)?.split('`').next()
}

fn join(path: &str, field: &str) -> String {
    if path == "." || path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// Decodes `a=1&b=two` (percent-decoding values; `+` is a space).
pub(crate) fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    fn hex(byte: u8) -> Option<u8> {
        match byte {
            b'0'..=b'9' => Some(byte - b'0'),
            b'a'..=b'f' => Some(byte - b'a' + 10),
            b'A'..=b'F' => Some(byte - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Sample {
        user_name: String,
        age: Option<u8>,
    }

    fn detail(result: Result<Sample, ApiError>) -> (String, String) {
        let body = result.expect_err("invalid").0;
        assert_eq!(body.code, ErrorCode::ValidationError);
        let details = body.details.expect("details");
        let (field, problems) = details.into_iter().next().expect("one field");
        (field, problems.join("; "))
    }

    #[test]
    fn json_errors_name_the_field() {
        let cases: [(&str, &str); 9] = [
            ("", "body"),
            ("{", "body"),
            ("[1]", "body"),
            (r#"["a", 3]"#, "body"),
            ("null", "body"),
            (r#"{"age": 3}"#, "userName"),
            (r#"{"userName": "a", "admin": true}"#, "admin"),
            (r#"{"userName": 5}"#, "userName"),
            (r#"{"userName": "a", "age": 300}"#, "age"),
        ];
        for (input, field) in cases {
            let (got, problem) = detail(parse_json::<Sample>(input.as_bytes()));
            assert_eq!(got, field, "{input}: {problem}");
        }
        assert!(parse_json::<Sample>(br#"{"userName": "a"} x"#).is_err());
        let nul = [
            (r#"{"userName": "a\u0000b"}"#, Some("userName")),
            (r#"{"userName": "a\\u0000b"}"#, None),
            (r#"{"userName": "a\\\u0000b"}"#, Some("userName")),
            (
                r#"{"userName": "a", "x": {"y": ["ok", "\u0000"]}}"#,
                Some("x.y[1]"),
            ),
        ];
        for (input, field) in nul {
            match (parse_json::<serde_json::Value>(input.as_bytes()), field) {
                (Err(error), Some(field)) => {
                    let details = error.0.details.expect("details");
                    assert!(details.contains_key(field), "{input}: {details:?}");
                }
                (Ok(_), None) => {}
                (other, _) => panic!("{input}: {other:?}"),
            }
        }
        assert!(parse_json::<Sample>(br#"{"userName": "a"}"#).is_ok());
    }

    #[test]
    fn query_strings_decode() {
        let query = parse_query(Some(
            "query=al%20b&limit=5&x=a+b&bad=%zz&flag&u=%C3%A9&cut=%4",
        ));
        assert_eq!(query["query"], "al b");
        assert_eq!(query["limit"], "5");
        assert_eq!(query["x"], "a b");
        assert_eq!(query["bad"], "%zz");
        assert_eq!(query["flag"], "");
        assert_eq!(query["u"], "é");
        assert_eq!(query["cut"], "%4");
        assert!(parse_query(None).is_empty());
    }
}
