//! Access tokens: compact JWTs signed with HMAC-SHA256. The algorithm is pinned here, never read
//! from the token: a header other than `{"alg":"HS256","typ":"JWT"}` is refused, as is any token
//! whose `typ` claim is not `access` (a refresh token is opaque and never a JWT anyway), whose
//! issuer differs, or whose `exp`/`iat` are outside a small leeway.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use parley_shared::{SessionId, UserId};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Clock skew tolerated on `exp` and `iat`, in seconds.
const LEEWAY_SECS: i64 = 5;
/// Longest token accepted; ours are about 250 bytes.
const MAX_TOKEN_BYTES: usize = 2048;
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
const TOKEN_TYPE: &str = "access";

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: UserId,
    /// The login session (refresh-token family) this token belongs to.
    pub sid: SessionId,
    pub iss: String,
    pub typ: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// Why a token was refused. All map to UNAUTHORIZED; the variant is for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token header")]
    Header,
    #[error("bad signature")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token issued in the future")]
    NotYetValid,
    #[error("wrong issuer")]
    Issuer,
    #[error("not an access token")]
    Type,
    /// Well formed and unexpired, but its login session was revoked (logout, password change).
    #[error("session revoked")]
    Revoked,
}

/// The signing key and the rules tokens are checked against.
pub struct JwtKeys {
    key: Vec<u8>,
    issuer: String,
    ttl_secs: i64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("key", &"***")
            .field("issuer", &self.issuer)
            .field("ttl_secs", &self.ttl_secs)
            .finish()
    }
}

impl JwtKeys {
    /// Keys for `secret` (at least 32 bytes, checked by configuration), issuing tokens that live
    /// `ttl`.
    pub fn new(secret: &[u8], issuer: &str, ttl: std::time::Duration) -> Self {
        Self {
            key: secret.to_vec(),
            issuer: issuer.to_owned(),
            ttl_secs: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// Lifetime of a new token, in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Signs a token for `user` in `session`, issued at `now` (Unix seconds).
    pub fn issue(&self, user: UserId, session: SessionId, now: i64) -> (String, AccessClaims) {
        let claims = AccessClaims {
            sub: user,
            sid: session,
            iss: self.issuer.clone(),
            typ: TOKEN_TYPE.to_owned(),
            iat: now,
            exp: now.saturating_add(self.ttl_secs),
        };
        let payload = serde_json::to_vec(&claims).expect("claims are plain strings and integers");
        let mut token = URL_SAFE_NO_PAD.encode(HEADER_JSON);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let signature = self.mac(token.as_bytes()).finalize().into_bytes();
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        (token, claims)
    }

    /// Checks `token` at `now` (Unix seconds) and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed)?;
        let header: serde_json::Value =
            serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
        let pinned = header.as_object().is_some_and(|h| {
            h.get("alg").and_then(|a| a.as_str()) == Some("HS256")
                && h.get("typ").is_none_or(|t| t.as_str() == Some("JWT"))
                && h.keys().all(|k| k == "alg" || k == "typ")
        });
        if !pinned {
            return Err(TokenError::Header);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let signed = &token[..token.len() - token.rsplit('.').next().map_or(0, str::len) - 1];
        self.mac(signed.as_bytes())
            .verify_slice(&signature)
            .map_err(|_| TokenError::Signature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: AccessClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if claims.typ != TOKEN_TYPE {
            return Err(TokenError::Type);
        }
        if claims.iss != self.issuer {
            return Err(TokenError::Issuer);
        }
        if claims.exp.saturating_add(LEEWAY_SECS) <= now {
            return Err(TokenError::Expired);
        }
        if claims.iat > now.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(data);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn keys() -> JwtKeys {
        JwtKeys::new(&[7u8; 32], "parley", std::time::Duration::from_secs(900))
    }

    fn forge(header: &str, claims: &serde_json::Value, key: &[u8]) -> String {
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut mac = HmacSha256::new_from_slice(key).expect("key");
        mac.update(token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        token
    }

    #[test]
    fn issued_tokens_verify() {
        let (user, session) = (UserId::generate(), SessionId::generate());
        let (token, claims) = keys().issue(user, session, NOW);
        assert_eq!(claims.exp, NOW + 900);
        let verified = keys().verify(&token, NOW + 10).expect("valid");
        assert_eq!((verified.sub, verified.sid), (user, session));
    }

    #[test]
    fn refuses_table() {
        let (user, session) = (UserId::generate(), SessionId::generate());
        let (good, _) = keys().issue(user, session, NOW);
        let claims = |typ: &str, iss: &str, iat: i64, exp: i64| serde_json::json!({"sub": user, "sid": session, "iss": iss, "typ": typ, "iat": iat, "exp": exp});
        let key = [7u8; 32];
        // Change the signature's first character: every one of its 6 bits is signature (the last
        // character's low bits must be zero, so changing it could make the base64 invalid).
        let at = good.rfind('.').expect("three parts") + 1;
        let mut tampered = good.clone();
        let first = if good[at..].starts_with('A') {
            "B"
        } else {
            "A"
        };
        tampered.replace_range(at..at + 1, first);
        let other_key = JwtKeys::new(&[8u8; 32], "parley", std::time::Duration::from_secs(900))
            .issue(user, session, NOW)
            .0;
        let cases: Vec<(String, i64, TokenError)> = vec![
            (String::new(), NOW, TokenError::Malformed),
            ("a.b".to_owned(), NOW, TokenError::Malformed),
            (format!("{good}.x"), NOW, TokenError::Malformed),
            (tampered, NOW, TokenError::Signature),
            (other_key, NOW, TokenError::Signature),
            (good.clone(), NOW + 900 + LEEWAY_SECS, TokenError::Expired),
            (
                forge(
                    r#"{"alg":"none","typ":"JWT"}"#,
                    &claims("access", "parley", NOW, NOW + 60),
                    &key,
                ),
                NOW,
                TokenError::Header,
            ),
            (
                forge(
                    r#"{"alg":"HS512","typ":"JWT"}"#,
                    &claims("access", "parley", NOW, NOW + 60),
                    &key,
                ),
                NOW,
                TokenError::Header,
            ),
            (
                forge(
                    r#"{"alg":"HS256","kid":"../../x"}"#,
                    &claims("access", "parley", NOW, NOW + 60),
                    &key,
                ),
                NOW,
                TokenError::Header,
            ),
            (
                forge(
                    HEADER_JSON,
                    &claims("refresh", "parley", NOW, NOW + 60),
                    &key,
                ),
                NOW,
                TokenError::Type,
            ),
            (
                forge(HEADER_JSON, &claims("access", "evil", NOW, NOW + 60), &key),
                NOW,
                TokenError::Issuer,
            ),
            (
                forge(
                    HEADER_JSON,
                    &claims("access", "parley", NOW + 60, NOW + 600),
                    &key,
                ),
                NOW,
                TokenError::NotYetValid,
            ),
            ("x".repeat(MAX_TOKEN_BYTES + 1), NOW, TokenError::Malformed),
        ];
        for (token, now, want) in cases {
            assert_eq!(keys().verify(&token, now), Err(want), "{token:.40}");
        }
        // Within the leeway still passes.
        assert!(keys().verify(&good, NOW + 900 + LEEWAY_SECS - 1).is_ok());
    }
}
