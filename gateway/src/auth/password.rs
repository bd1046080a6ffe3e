//! Password hashing with Argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane) on the blocking
//! pool, at most `auth.hash_concurrency` at once, so a login flood queues here instead of stalling
//! a shard. Hashes are stored as PHC strings; verifying an unknown user costs the same as a wrong
//! password.

use std::sync::Arc;
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use tokio::sync::Semaphore;

const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;
const OUTPUT_LEN: usize = 32;
const SALT_LEN: usize = 16;
/// Longest password accepted, in bytes: hashing cost must not depend on attacker-chosen sizes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a hash could not be computed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("no password-hashing slot within {0:?}")]
    Busy(Duration),
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The bounded hashing service, shared by every shard.
#[derive(Debug)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
    /// A hash of nothing in particular, checked when the user does not exist.
    decoy: String,
}

impl Hasher {
    /// `concurrency` hashes at once; callers wait at most `queue_timeout` for a slot.
    pub fn new(concurrency: usize, queue_timeout: Duration) -> Result<Self, HashError> {
        let mut salt = [0u8; SALT_LEN];
        super::random_bytes(&mut salt);
        let decoy = hash_blocking(b"parley decoy password", &salt)?;
        Ok(Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            queue_timeout,
            decoy,
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let mut salt = [0u8; SALT_LEN];
        super::random_bytes(&mut salt);
        self.run(move || hash_blocking(password.as_bytes(), &salt))
            .await
    }

    /// Checks `password` against `stored`; with `None` (no such user) checks a decoy so both
    /// answers take the same time, and returns false.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.decoy.clone());
        let matches = self
            .run(move || Ok(verify_blocking(password.as_bytes(), &stored)))
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let permit =
            tokio::time::timeout(self.queue_timeout, Arc::clone(&self.slots).acquire_owned())
                .await
                .map_err(|_| HashError::Busy(self.queue_timeout))?
                .map_err(|_| HashError::Failed("hashing service closed".to_owned()))?;
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))?
    }
}

fn argon2(memory_kib: u32, passes: u32, lanes: u32) -> Result<Argon2<'static>, HashError> {
    let params = Params::new(memory_kib, passes, lanes, Some(OUTPUT_LEN))
        .map_err(|e| HashError::Failed(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &[u8], salt: &[u8]) -> Result<String, HashError> {
    let mut out = [0u8; OUTPUT_LEN];
    argon2(MEMORY_KIB, PASSES, LANES)?
        .hash_password_into(password, salt, &mut out)
        .map_err(|e| HashError::Failed(e.to_string()))?;
    Ok(format!(
        "$argon2id$v=19$m={MEMORY_KIB},t={PASSES},p={LANES}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Verifies against a PHC string, honouring the parameters stored in it (so they can be raised
/// later without invalidating old hashes). Malformed strings never match.
fn verify_blocking(password: &[u8], stored: &str) -> bool {
    let Some((memory, passes, lanes, salt, expected)) = parse_phc(stored) else {
        return false;
    };
    // Refuse absurd stored parameters rather than spending unbounded memory.
    if memory > 1024 * 1024 || passes > 16 || lanes > 16 || expected.len() != OUTPUT_LEN {
        return false;
    }
    let Ok(hasher) = argon2(memory, passes, lanes) else {
        return false;
    };
    let mut out = [0u8; OUTPUT_LEN];
    if hasher
        .hash_password_into(password, &salt, &mut out)
        .is_err()
    {
        return false;
    }
    // Constant-time comparison.
    out.iter()
        .zip(&expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

type Phc = (u32, u32, u32, Vec<u8>, Vec<u8>);

fn parse_phc(stored: &str) -> Option<Phc> {
    let mut parts = stored.split('$');
    let (Some(""), Some("argon2id"), Some("v=19"), Some(params), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let mut memory = None;
    let mut passes = None;
    let mut lanes = None;
    for pair in params.split(',') {
        let (key, value) = pair.split_once('=')?;
        let value: u32 = value.parse().ok()?;
        match key {
            "m" => memory = Some(value),
            "t" => passes = Some(value),
            "p" => lanes = Some(value),
            _ => return None,
        }
    }
    Some((
        memory?,
        passes?,
        lanes?,
        STANDARD_NO_PAD.decode(salt).ok()?,
        STANDARD_NO_PAD.decode(hash).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_malformed_never_match() {
        let stored = hash_blocking(b"correct horse", b"0123456789abcdef").expect("hash");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify_blocking(b"correct horse", &stored));
        assert!(!verify_blocking(b"correct horsf", &stored));
        for bad in [
            "",
            "plain",
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
            &stored.replace("t=2", "t=2,x=1"),
            &format!("{stored}$extra"),
        ] {
            assert!(!verify_blocking(b"correct horse", bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn unknown_users_cost_a_hash_and_never_match() {
        let hasher = Hasher::new(1, Duration::from_secs(5)).expect("hasher");
        let stored = hasher.hash("password1".to_owned()).await.expect("hash");
        assert!(
            hasher
                .verify("password1".to_owned(), Some(stored))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("parley decoy password".to_owned(), None)
                .await
                .expect("verify")
        );
    }
}
