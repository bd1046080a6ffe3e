//! VAPID (RFC 8292): the application server's P-256 key and the `Authorization: vapid t=<JWT>,
//! k=<public key>` header of each Web Push request (an ES256 JWT for the push service's origin,
//! valid 12 hours, naming `notifications.vapid_subject`). The key is PKCS#8, base64url, from
//! `notifications.vapid_private_key` (`parley serve` keeps a generated one in the data dir).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};

/// How long a VAPID token is valid (RFC 8292 allows at most 24 hours).
const VALID_FOR: i64 = 12 * 3600;

/// Why a VAPID key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    #[error("notifications.vapid_private_key is not base64url PKCS#8 of a P-256 key")]
    Key,
    #[error("the system's random source failed")]
    Random,
}

/// A new private key, PKCS#8 base64url (what `vapid_private_key` holds).
pub fn generate() -> Result<String, VapidError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| VapidError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(pkcs8.as_ref()))
}

/// The server's VAPID identity.
pub struct Vapid {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    subject: String,
    /// The public key, uncompressed, base64url (what browsers subscribe with).
    public: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Vapid {
    pub fn new(private_key: &str, subject: &str) -> Result<Self, VapidError> {
        let rng = SystemRandom::new();
        let pkcs8 = URL_SAFE_NO_PAD
            .decode(private_key.trim())
            .map_err(|_| VapidError::Key)?;
        let key =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
                .map_err(|_| VapidError::Key)?;
        let public = URL_SAFE_NO_PAD.encode(key.public_key().as_ref());
        Ok(Self {
            key,
            rng,
            subject: subject.to_owned(),
            public,
        })
    }

    /// The public key, base64url (`applicationServerKey` in the browser).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a request to `origin` (`https://host[:port]`) at `now`.
    pub fn authorization(&self, origin: &str, now: i64) -> Result<String, VapidError> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims =
            serde_json::json!({"aud": origin, "exp": now + VALID_FOR, "sub": self.subject});
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
        let signed = format!("{header}.{claims}");
        let signature = self
            .key
            .sign(&self.rng, signed.as_bytes())
            .map_err(|_| VapidError::Random)?;
        Ok(format!(
            "vapid t={signed}.{}, k={}",
            URL_SAFE_NO_PAD.encode(signature.as_ref()),
            self.public
        ))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ring::signature;

    use super::{Vapid, generate};

    #[test]
    fn tokens_verify_with_the_public_key() {
        let vapid = Vapid::new(&generate().expect("key"), "mailto:ops@example.com").expect("key");
        let header = vapid
            .authorization("https://push.example.net", 1_700_000_000)
            .expect("signs");
        let (token, key) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .expect("shape");
        assert_eq!(key, vapid.public_key());
        let (signed, sig) = token.rsplit_once('.').expect("three parts");
        let public = URL_SAFE_NO_PAD.decode(key).expect("base64url");
        let sig = URL_SAFE_NO_PAD.decode(sig).expect("base64url");
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public)
            .verify(signed.as_bytes(), &sig)
            .expect("verifies");
        let claims = URL_SAFE_NO_PAD
            .decode(signed.split('.').nth(1).expect("claims"))
            .expect("base64url");
        let claims: serde_json::Value = serde_json::from_slice(&claims).expect("json");
        assert_eq!(claims["aud"], "https://push.example.net");
        assert_eq!(claims["exp"], 1_700_000_000 + 12 * 3600);
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        assert!(Vapid::new("not a key", "mailto:x@y").is_err());
    }
}
