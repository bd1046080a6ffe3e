//! Refresh tokens: 256 random bits, shown to the client once as `rt_<base64url>`, stored only as
//! their SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const PREFIX: &str = "rt_";
/// Longest string worth hashing; real tokens are 46 bytes.
const MAX_LEN: usize = 128;

/// A new token and its hash.
pub fn generate() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    super::random_bytes(&mut bytes);
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash(&token).expect("a generated token has the right shape");
    (token, hash)
}

/// The stored form of `token`, or `None` if it cannot be one of ours.
pub fn hash(token: &str) -> Option<[u8; 32]> {
    if !token.starts_with(PREFIX) || token.len() > MAX_LEN {
        return None;
    }
    Some(Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let (a, hash_a) = super::generate();
        let (b, _) = super::generate();
        assert_ne!(a, b);
        assert_eq!(super::hash(&a), Some(hash_a));
        assert_eq!(
            super::hash("eyJhbGciOi.x.y"),
            None,
            "a JWT is never a refresh token"
        );
        assert_eq!(super::hash(&format!("rt_{}", "a".repeat(200))), None);
    }
}
