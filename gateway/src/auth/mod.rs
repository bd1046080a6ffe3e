//! Authentication: access tokens (HS256 JWTs), password hashing (Argon2id off the event loop) and
//! opaque refresh tokens. Nothing here logs a token, a password or a hash.

pub mod jwt;
pub mod password;
pub mod refresh;

/// Fills `buf` from the operating system's random source.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random source is available (checked at start-up)");
}
